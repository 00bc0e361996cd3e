package provider

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"golang.org/x/crypto/ssh"

	"pgha.local/toolchain/command-provider/internal/sshtest"
)

func testKey(t *testing.T) (string, ssh.PublicKey) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	sshPub, _ := ssh.NewPublicKey(pub)
	return string(pem.EncodeToMemory(block)), sshPub
}

// connection builds the input the Node SDK sends: the whole object secret
// (remote/command.js wraps it in pulumi.secret) with defaults applied.
func connection(s *sshtest.Server, key, hostKey string) resource.PropertyValue {
	return resource.MakeSecret(resource.NewPropertyValue(map[string]any{
		"host": s.Host, "port": float64(s.Port), "user": "root", "privateKey": key,
		"hostKey": hostKey, "dialErrorLimit": 2.0, "perDialTimeout": 5.0,
	}))
}

func TestRemoteCommandOverSSH(t *testing.T) {
	t.Setenv("SSH_AUTH_SOCK", "")
	key, pub := testKey(t)
	srv := sshtest.Start(t, sshtest.Options{AuthorizedKey: pub, AcceptEnv: []string{"FOO"}})
	h := newEngineHarness(t)
	urn := urnFor(remoteCommandType, "r1")
	ins := resource.PropertyMap{
		"connection":  connection(srv, key, srv.AuthorizedKeyLine(0)),
		"create":      resource.NewStringProperty(`printf '%s|%s\n\n' "$FOO" "$(cat)"; echo warn >&2`),
		"environment": resource.NewPropertyValue(map[string]any{"FOO": "bar"}),
		"stdin":       secret("piped-secret"),
	}
	if chk := h.check(t, urn, ins); len(chk.Failures) != 0 {
		t.Fatalf("check: %v", chk.Failures)
	}
	cr, err := h.create(urn, ins, false)
	if err != nil {
		t.Fatal(err)
	}
	outs := cr.Properties
	if got := outs["stdout"].StringValue(); got != "bar|piped-secret\n" {
		t.Fatalf("stdout %q (only one trailing newline is trimmed)", got)
	}
	if got := outs["stderr"].StringValue(); got != "warn" {
		t.Fatalf("stderr %q", got)
	}
	if !outs["connection"].IsSecret() || !outs["stdin"].IsSecret() {
		t.Fatalf("connection/stdin must stay secret: %v", outs)
	}
	// addPreviousOutputInEnv defaults to true; this server (like a stock sshd)
	// rejects PULUMI_COMMAND_*, which is a warning, not a failure.
	if log := h.log.all(); !strings.Contains(log, "warning: unable to set PULUMI_COMMAND_STDOUT and PULUMI_COMMAND_STDERR on "+srv.Addr) {
		t.Fatalf("expected AcceptEnv warning, log:\n%s", log)
	}

	// Delete runs with the stored connection.
	outs["delete"] = resource.NewStringProperty("exit 0")
	if err := h.delete(urn, ins, outs); err != nil {
		t.Fatal(err)
	}
}

func TestRemoteRejectedEnvironmentFails(t *testing.T) {
	t.Setenv("SSH_AUTH_SOCK", "")
	key, pub := testKey(t)
	srv := sshtest.Start(t, sshtest.Options{AuthorizedKey: pub})
	h := newEngineHarness(t)
	_, err := h.create(urnFor(remoteCommandType, "r"), resource.PropertyMap{
		"connection":             connection(srv, key, ""),
		"create":                 resource.NewStringProperty("true"),
		"environment":            resource.NewPropertyValue(map[string]any{"NOPE": "x"}),
		"addPreviousOutputInEnv": resource.NewBoolProperty(false),
	}, false)
	if err == nil || !strings.Contains(err.Error(), `"NOPE"`) || !strings.Contains(err.Error(), "AcceptEnv") {
		t.Fatalf("got %v", err)
	}
}

func TestRemoteWrongHostKey(t *testing.T) {
	t.Setenv("SSH_AUTH_SOCK", "")
	key, pub := testKey(t)
	srv := sshtest.Start(t, sshtest.Options{AuthorizedKey: pub})
	other := sshtest.Start(t, sshtest.Options{})
	h := newEngineHarness(t)
	_, err := h.create(urnFor(remoteCommandType, "r"), resource.PropertyMap{
		"connection": connection(srv, key, other.AuthorizedKeyLine(0)),
		"create":     resource.NewStringProperty("touch /tmp/should-not-run"),
	}, false)
	if err == nil || !strings.Contains(err.Error(), "host key mismatch for "+srv.Addr+": expected ssh-ed25519 SHA256:") ||
		!strings.Contains(err.Error(), ", server presented ssh-ed25519 SHA256:") {
		t.Fatalf("got %v", err)
	}
	if strings.Contains(err.Error(), "PRIVATE KEY") {
		t.Fatal("error leaks the private key")
	}
}

func TestRemoteFailureMessage(t *testing.T) {
	t.Setenv("SSH_AUTH_SOCK", "")
	key, pub := testKey(t)
	srv := sshtest.Start(t, sshtest.Options{AuthorizedKey: pub})
	h := newEngineHarness(t)
	cmd := `echo partial-out; echo partial-err >&2; cat >/dev/null; exit 4`
	_, err := h.create(urnFor(remoteCommandType, "r"), resource.PropertyMap{
		"connection":             connection(srv, key, srv.AuthorizedKeyLine(1)), // ecdsa pin works too
		"create":                 resource.NewStringProperty(cmd),
		"stdin":                  secret("REMOTE-STDIN-SECRET"),
		"addPreviousOutputInEnv": resource.NewBoolProperty(false),
	}, false)
	if err == nil {
		t.Fatal("expected failure")
	}
	msg := err.Error()
	for _, want := range []string{"Process exited with status 4", cmd, "partial-out", "partial-err"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q:\n%s", want, msg)
		}
	}
	if strings.Contains(msg, "REMOTE-STDIN-SECRET") {
		t.Errorf("error leaks stdin:\n%s", msg)
	}
}
