package sshconn

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// authMethods builds the client's auth methods. All public keys (the given
// private key first, then any agent keys) go into ONE publickey method because
// x/crypto tries each method name only once per connection.
//
// The returned closer releases the agent socket (if any); it must outlive all
// dial attempts because the agent is asked for signatures during each one.
func authMethods(c Config) ([]ssh.AuthMethod, io.Closer, error) {
	var signers []ssh.Signer
	if c.PrivateKey != "" {
		s, err := parsePrivateKey(c.PrivateKey, c.PrivateKeyPassword)
		if err != nil {
			return nil, nil, err
		}
		signers = append(signers, s)
	}

	var ag agent.ExtendedAgent
	var closer io.Closer = nopCloser{}
	sock := c.AgentSocketPath
	if sock == "" {
		// Same fallback as the real provider: an agent in the environment is used
		// when no explicit socket is configured.
		sock = os.Getenv("SSH_AUTH_SOCK")
	}
	if sock != "" {
		conn, err := net.Dial("unix", sock)
		switch {
		case err == nil:
			ag = agent.NewClient(conn)
			closer = conn
		case c.AgentSocketPath != "":
			return nil, nil, fmt.Errorf("connecting to SSH agent at %s: %w", c.AgentSocketPath, err)
		default:
			// A stale SSH_AUTH_SOCK is common and harmless when other auth exists.
		}
	}

	var methods []ssh.AuthMethod
	if len(signers) > 0 || ag != nil {
		methods = append(methods, ssh.PublicKeysCallback(func() ([]ssh.Signer, error) {
			out := append([]ssh.Signer(nil), signers...)
			if ag != nil {
				if more, err := ag.Signers(); err == nil {
					out = append(out, more...)
				}
			}
			return out, nil
		}))
	}
	if c.Password != "" {
		pw := c.Password
		methods = append(methods,
			ssh.Password(pw),
			// Many servers only offer keyboard-interactive for passwords (PAM).
			ssh.KeyboardInteractive(func(_, _ string, questions []string, _ []bool) ([]string, error) {
				answers := make([]string, len(questions))
				for i := range answers {
					answers[i] = pw
				}
				return answers, nil
			}))
	}
	if len(methods) == 0 {
		_ = closer.Close()
		return nil, nil, errors.New("no SSH authentication method: set connection.privateKey, " +
			"connection.password or connection.agentSocketPath (or SSH_AUTH_SOCK)")
	}
	return methods, closer, nil
}

// parsePrivateKey accepts OpenSSH and PEM keys. The passphrase is only used
// when the key is actually encrypted, so setting it on a plain key is harmless.
// Errors never quote the key material.
func parsePrivateKey(key, passphrase string) (ssh.Signer, error) {
	s, err := ssh.ParsePrivateKey([]byte(key))
	if err == nil {
		return s, nil
	}
	var missing *ssh.PassphraseMissingError
	if !errors.As(err, &missing) {
		return nil, fmt.Errorf("parsing connection.privateKey: %w", err)
	}
	if passphrase == "" {
		return nil, errors.New("connection.privateKey is encrypted: set connection.privateKeyPassword")
	}
	s, err = ssh.ParsePrivateKeyWithPassphrase([]byte(key), []byte(passphrase))
	if err != nil {
		return nil, fmt.Errorf("decrypting connection.privateKey with connection.privateKeyPassword: %w", err)
	}
	return s, nil
}

type nopCloser struct{}

func (nopCloser) Close() error { return nil }
