package sshconn

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"encoding/pem"
	"errors"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"pgha.local/toolchain/command-provider/internal/sshtest"
)

// clientKey makes an ed25519 key and returns it as OpenSSH PEM text,
// optionally encrypted with passphrase.
func clientKey(t *testing.T, passphrase string) (string, ssh.PublicKey) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	var block *pem.Block
	if passphrase == "" {
		block, err = ssh.MarshalPrivateKey(priv, "")
	} else {
		block, err = ssh.MarshalPrivateKeyWithPassphrase(priv, "", []byte(passphrase))
	}
	if err != nil {
		t.Fatal(err)
	}
	sshPub, _ := ssh.NewPublicKey(pub)
	return string(pem.EncodeToMemory(block)), sshPub
}

func baseConfig(s *sshtest.Server, key string) Config {
	return Config{Host: s.Host, Port: s.Port, User: "root", PrivateKey: key,
		DialErrorLimit: 3, PerDialTimeout: 5 * time.Second}
}

func run(t *testing.T, c *Client, cmd string) string {
	t.Helper()
	sess, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	out, err := sess.CombinedOutput(cmd)
	if err != nil {
		t.Fatalf("%s: %v (%s)", cmd, err, out)
	}
	return string(out)
}

func TestPinnedEd25519KeyMatchesEvenThoughServerAlsoHasECDSA(t *testing.T) {
	t.Setenv("SSH_AUTH_SOCK", "")
	key, pub := clientKey(t, "")
	s := sshtest.Start(t, sshtest.Options{AuthorizedKey: pub})
	c := baseConfig(s, key)
	c.HostKey = s.AuthorizedKeyLine(0) // ed25519, with a comment
	client, err := Dial(context.Background(), c, nil)
	if err != nil {
		t.Fatalf("dial with correct pinned key failed: %v", err)
	}
	defer client.Close()
	if got := run(t, client, "echo hi"); got != "hi\n" {
		t.Fatalf("got %q", got)
	}
}

func TestHostKeyMismatchIsClearAndNotRetried(t *testing.T) {
	t.Setenv("SSH_AUTH_SOCK", "")
	key, pub := clientKey(t, "")
	s := sshtest.Start(t, sshtest.Options{AuthorizedKey: pub})
	other := sshtest.Start(t, sshtest.Options{}) // supplies a different ed25519 key
	c := baseConfig(s, key)
	c.DialErrorLimit = 10
	c.HostKey = other.AuthorizedKeyLine(0)

	start := time.Now()
	_, err := Dial(context.Background(), c, nil)
	if err == nil {
		t.Fatal("expected host key mismatch")
	}
	want := "host key mismatch for " + s.Addr + ": expected ssh-ed25519 " +
		ssh.FingerprintSHA256(other.HostKeys[0].PublicKey()) + ", server presented ssh-ed25519 " +
		ssh.FingerprintSHA256(s.HostKeys[0].PublicKey())
	if err.Error() != want {
		t.Fatalf("error\n got: %s\nwant: %s", err, want)
	}
	if n := s.Connections.Load(); n != 1 {
		t.Fatalf("mismatch was retried: %d connections", n)
	}
	if time.Since(start) > 3*time.Second {
		t.Fatalf("mismatch took %s", time.Since(start))
	}
}

func TestPinnedKeyTypeNotOfferedByServer(t *testing.T) {
	t.Setenv("SSH_AUTH_SOCK", "")
	key, pub := clientKey(t, "")
	s := sshtest.Start(t, sshtest.Options{AuthorizedKey: pub})
	c := baseConfig(s, key)
	// An RSA pin against a server with only ed25519/ecdsa host keys.
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	rpub, _ := ssh.NewPublicKey(&rk.PublicKey)
	c.HostKey = string(ssh.MarshalAuthorizedKey(rpub))
	_, err = Dial(context.Background(), c, nil)
	var mm *HostKeyMismatchError
	if !errors.As(err, &mm) || !strings.Contains(err.Error(), "server presented no ssh-rsa host key") {
		t.Fatalf("want mismatch (no key of type), got %v", err)
	}
	t.Log(err)
}

func TestNoHostKeyAcceptsAnyKey(t *testing.T) {
	t.Setenv("SSH_AUTH_SOCK", "")
	key, pub := clientKey(t, "")
	s := sshtest.Start(t, sshtest.Options{AuthorizedKey: pub})
	client, err := Dial(context.Background(), baseConfig(s, key), nil)
	if err != nil {
		t.Fatal(err)
	}
	client.Close()
}

func TestEncryptedKeyAndPasswordAuth(t *testing.T) {
	t.Setenv("SSH_AUTH_SOCK", "")
	key, pub := clientKey(t, "s3cret")
	s := sshtest.Start(t, sshtest.Options{AuthorizedKey: pub, Password: "pw", User: "deploy"})

	c := baseConfig(s, key)
	c.User = "deploy"
	if _, err := Dial(context.Background(), c, nil); err == nil ||
		!strings.Contains(err.Error(), "privateKeyPassword") {
		t.Fatalf("want missing passphrase error, got %v", err)
	}
	c.PrivateKeyPassword = "s3cret"
	client, err := Dial(context.Background(), c, nil)
	if err != nil {
		t.Fatalf("encrypted key: %v", err)
	}
	client.Close()

	pw := Config{Host: s.Host, Port: s.Port, User: "deploy", Password: "pw", DialErrorLimit: 1}
	client, err = Dial(context.Background(), pw, nil)
	if err != nil {
		t.Fatalf("password: %v", err)
	}
	client.Close()
}

func TestDialRetriesThenGivesClearError(t *testing.T) {
	t.Setenv("SSH_AUTH_SOCK", "")
	firstRetryDelay, maxRetryDelay = 10*time.Millisecond, 20*time.Millisecond
	defer func() { firstRetryDelay, maxRetryDelay = 500*time.Millisecond, 5*time.Second }()

	// A port that was just free: connection refused.
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	var notes []string
	c := Config{Host: "127.0.0.1", Port: port, User: "root", Password: "x", DialErrorLimit: 3,
		PerDialTimeout: time.Second}
	_, err := Dial(context.Background(), c, func(m string) { notes = append(notes, m) })
	if err == nil || !strings.Contains(err.Error(), "after 3 attempt(s)") ||
		!strings.Contains(err.Error(), "127.0.0.1:"+strconv.Itoa(port)) {
		t.Fatalf("got %v", err)
	}
	if len(notes) != 2 {
		t.Fatalf("want 2 retry notes, got %q", notes)
	}
}

func TestPerDialTimeoutOnSilentServer(t *testing.T) {
	t.Setenv("SSH_AUTH_SOCK", "")
	// Accepts TCP but never speaks SSH.
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	c := Config{Host: "127.0.0.1", Port: ln.Addr().(*net.TCPAddr).Port, User: "root", Password: "x",
		DialErrorLimit: 1, PerDialTimeout: 300 * time.Millisecond}
	start := time.Now()
	_, err := Dial(context.Background(), c, nil)
	if err == nil || !strings.Contains(err.Error(), "timed out after 300ms") {
		t.Fatalf("got %v", err)
	}
	if time.Since(start) > 3*time.Second {
		t.Fatal("timeout not honoured")
	}
}

func TestCancelStopsRetrying(t *testing.T) {
	t.Setenv("SSH_AUTH_SOCK", "")
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	c := Config{Host: "127.0.0.1", Port: port, User: "root", Password: "x", DialErrorLimit: -1,
		PerDialTimeout: time.Second}
	_, err := Dial(ctx, c, nil)
	if err == nil || !strings.Contains(err.Error(), "cancelled") {
		t.Fatalf("got %v", err)
	}
}

func TestProxyJump(t *testing.T) {
	t.Setenv("SSH_AUTH_SOCK", "")
	key, pub := clientKey(t, "")
	jump := sshtest.Start(t, sshtest.Options{AuthorizedKey: pub})
	target := sshtest.Start(t, sshtest.Options{Password: "tpw"})
	c := Config{Host: target.Host, Port: target.Port, User: "root", Password: "tpw",
		HostKey: target.AuthorizedKeyLine(0), DialErrorLimit: 1, PerDialTimeout: 5 * time.Second}
	p := baseConfig(jump, key)
	p.HostKey = jump.AuthorizedKeyLine(0)
	c.Proxy = &p
	client, err := Dial(context.Background(), c, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	if got := run(t, client, "echo via-jump"); got != "via-jump\n" {
		t.Fatalf("got %q", got)
	}
	if jump.Connections.Load() != 1 || target.Connections.Load() != 1 {
		t.Fatalf("connections jump=%d target=%d", jump.Connections.Load(), target.Connections.Load())
	}
}

func TestParseHostKeyForms(t *testing.T) {
	s := sshtest.Start(t, sshtest.Options{})
	line := s.AuthorizedKeyLine(0)
	for _, in := range []string{line, strings.TrimSuffix(line, " root@testhost"), "myhost " + line, "  " + line + "\n"} {
		k, err := ParseHostKey(in)
		if err != nil || k.Type() != "ssh-ed25519" {
			t.Fatalf("%q: %v", in, err)
		}
	}
	if _, err := ParseHostKey("not a key"); err == nil || !strings.Contains(err.Error(), "authorized_keys form") {
		t.Fatalf("garbage accepted: %v", err)
	}
}

func TestNoAuthMethodFailsFast(t *testing.T) {
	t.Setenv("SSH_AUTH_SOCK", "")
	_, err := Dial(context.Background(), Config{Host: "127.0.0.1", Port: 1, User: "root", DialErrorLimit: 10}, nil)
	if err == nil || !strings.Contains(err.Error(), "no SSH authentication method") {
		t.Fatalf("got %v", err)
	}
}
