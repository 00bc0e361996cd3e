package sshconn

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"strings"

	"golang.org/x/crypto/ssh"
)

// HostKeyMismatchError is returned when the server's host key differs from the
// pinned `hostKey`. It is never retried: a wrong key will not fix itself, and
// retrying would only hide a possible man-in-the-middle behind a long wait.
type HostKeyMismatchError struct {
	Addr      string // host:port as configured
	Expected  ssh.PublicKey
	Presented ssh.PublicKey // nil when the server offered no key of the pinned type
	Cause     error         // handshake error when Presented is nil
}

func (e *HostKeyMismatchError) Error() string {
	if e.Presented == nil {
		return fmt.Sprintf("host key mismatch for %s: expected %s, server presented no %s host key (%v)",
			e.Addr, describeKey(e.Expected), e.Expected.Type(), e.Cause)
	}
	return fmt.Sprintf("host key mismatch for %s: expected %s, server presented %s",
		e.Addr, describeKey(e.Expected), describeKey(e.Presented))
}

// describeKey renders a key as "<type> <SHA256 fingerprint>", the form
// `ssh-keygen -lf` prints, so users can compare it with what they pinned.
func describeKey(k ssh.PublicKey) string {
	return k.Type() + " " + ssh.FingerprintSHA256(k)
}

// ParseHostKey accepts the authorized_keys form ("ssh-ed25519 AAAA... comment")
// that the real provider documents, and also a known_hosts line
// ("host ssh-ed25519 AAAA...") because that is what ssh-keyscan prints.
func ParseHostKey(s string) (ssh.PublicKey, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, errors.New("hostKey is empty")
	}
	if k, _, _, _, err := ssh.ParseAuthorizedKey([]byte(s)); err == nil {
		return k, nil
	}
	if _, _, k, _, _, err := ssh.ParseKnownHosts([]byte(s)); err == nil {
		return k, nil
	}
	return nil, fmt.Errorf("hostKey %q is not a public key in authorized_keys form (e.g. \"ssh-ed25519 AAAA...\")",
		abbreviate(s))
}

func abbreviate(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

// hostKeyAlgorithms restricts negotiation to the pinned key's type. Without
// this, x/crypto prefers ECDSA over Ed25519 and a server holding both would
// present the ECDSA key, failing a perfectly correct Ed25519 pin.
func hostKeyAlgorithms(k ssh.PublicKey) []string {
	switch k.Type() {
	case ssh.KeyAlgoRSA:
		return []string{ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA}
	default:
		return []string{k.Type()}
	}
}

// hostKeyCallback pins the expected key when one is given; with no pin any key
// is accepted, exactly like the real provider.
func hostKeyCallback(addr string, expected ssh.PublicKey) ssh.HostKeyCallback {
	if expected == nil {
		return ssh.InsecureIgnoreHostKey()
	}
	want := expected.Marshal()
	return func(_ string, _ net.Addr, got ssh.PublicKey) error {
		if bytes.Equal(got.Marshal(), want) {
			return nil
		}
		return &HostKeyMismatchError{Addr: addr, Expected: expected, Presented: got}
	}
}
