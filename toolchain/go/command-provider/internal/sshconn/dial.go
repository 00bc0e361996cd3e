// Package sshconn opens SSH connections the way @pulumi/command's
// `connection` input describes them: auth by key, password or agent, optional
// host key pinning, an optional jump host, and retried dialing.
package sshconn

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
)

// Config mirrors the `connection` (and nested `proxy`) input object.
type Config struct {
	Host               string
	Port               int
	User               string
	Password           string
	PrivateKey         string
	PrivateKeyPassword string
	AgentSocketPath    string
	HostKey            string
	// DialErrorLimit is the number of failed dials tolerated; -1 means unlimited.
	DialErrorLimit int
	// PerDialTimeout bounds each attempt (TCP connect + SSH handshake + auth); 0 means none.
	PerDialTimeout time.Duration
	Proxy          *Config
}

// Addr is host:port, bracketing IPv6 literals.
func (c Config) Addr() string { return net.JoinHostPort(c.Host, strconv.Itoa(c.Port)) }

// Client is an SSH client plus the jump-host client it tunnels through, if any.
type Client struct {
	*ssh.Client
	proxy *ssh.Client
}

// Close closes the target connection and then the jump host.
func (c *Client) Close() error {
	err := c.Client.Close()
	if c.proxy != nil {
		_ = c.proxy.Close()
	}
	return err
}

// Notifier receives progress messages (failed attempts) for the engine log.
type Notifier func(msg string)

// retry pacing: quick first retry, then back off to a few seconds so a host
// that is still booting is polled without hammering it.
var (
	firstRetryDelay = 500 * time.Millisecond
	maxRetryDelay   = 5 * time.Second
)

// Dial connects to c (through c.Proxy if set), retrying per c.DialErrorLimit.
func Dial(ctx context.Context, c Config, notify Notifier) (*Client, error) {
	if notify == nil {
		notify = func(string) {}
	}
	var via *ssh.Client
	if c.Proxy != nil {
		p, err := dialWithRetry(ctx, *c.Proxy, nil, notify, "proxy ")
		if err != nil {
			return nil, err
		}
		via = p
	}
	client, err := dialWithRetry(ctx, c, via, notify, "")
	if err != nil {
		if via != nil {
			_ = via.Close()
		}
		return nil, err
	}
	return &Client{Client: client, proxy: via}, nil
}

func dialWithRetry(ctx context.Context, c Config, via *ssh.Client, notify Notifier, role string) (*ssh.Client, error) {
	if c.Host == "" {
		return nil, fmt.Errorf("%sconnection.host is required", role)
	}
	cfg := &ssh.ClientConfig{User: c.User}
	var expected ssh.PublicKey
	if c.HostKey != "" {
		k, err := ParseHostKey(c.HostKey)
		if err != nil {
			return nil, fmt.Errorf("%sconnection: %w", role, err)
		}
		expected = k
		cfg.HostKeyAlgorithms = hostKeyAlgorithms(k)
	}
	cfg.HostKeyCallback = hostKeyCallback(c.Addr(), expected)
	methods, closer, err := authMethods(c)
	if err != nil {
		return nil, fmt.Errorf("%sconnection to %s: %w", role, c.Addr(), err)
	}
	defer closer.Close()
	cfg.Auth = methods

	delay := firstRetryDelay
	for attempt := 1; ; attempt++ {
		client, err := dialOnce(ctx, c, cfg, via, expected)
		if err == nil {
			return client, nil
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("SSH connection to %s%s cancelled: %w", role, c.Addr(), ctx.Err())
		}
		var mismatch *HostKeyMismatchError
		if errors.As(err, &mismatch) {
			return nil, mismatch
		}
		if c.DialErrorLimit >= 0 && attempt >= max(c.DialErrorLimit, 1) {
			return nil, fmt.Errorf("unable to connect to %s%s as %q over SSH after %d attempt(s) "+
				"(dialErrorLimit=%d, perDialTimeout=%s): %w",
				role, c.Addr(), c.User, attempt, c.DialErrorLimit, timeoutText(c.PerDialTimeout), err)
		}
		notify(fmt.Sprintf("SSH dial %s%s attempt %d failed: %v; retrying in %s",
			role, c.Addr(), attempt, err, delay.Round(time.Millisecond)))
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("SSH connection to %s%s cancelled: %w", role, c.Addr(), ctx.Err())
		case <-time.After(delay):
		}
		delay = min(delay*3/2, maxRetryDelay)
	}
}

func timeoutText(d time.Duration) string {
	if d <= 0 {
		return "none"
	}
	return d.String()
}

// dialOnce makes one attempt. The SSH handshake takes no context, so the
// connection is closed when the attempt's deadline or the caller's context
// ends, which unblocks it.
func dialOnce(ctx context.Context, c Config, cfg *ssh.ClientConfig, via *ssh.Client,
	expected ssh.PublicKey,
) (*ssh.Client, error) {
	attemptCtx := ctx
	if c.PerDialTimeout > 0 {
		var cancel context.CancelFunc
		attemptCtx, cancel = context.WithTimeout(ctx, c.PerDialTimeout)
		defer cancel()
	}
	var conn net.Conn
	var err error
	if via != nil {
		conn, err = via.DialContext(attemptCtx, "tcp", c.Addr())
	} else {
		var d net.Dialer
		conn, err = d.DialContext(attemptCtx, "tcp", c.Addr())
	}
	if err != nil {
		return nil, timeoutOr(attemptCtx, ctx, c, err)
	}
	stop := context.AfterFunc(attemptCtx, func() { _ = conn.Close() })
	sc, chans, reqs, err := ssh.NewClientConn(conn, c.Addr(), cfg)
	if !stop() {
		if err == nil {
			_ = sc.Close()
		}
		return nil, timeoutOr(attemptCtx, ctx, c, context.DeadlineExceeded)
	}
	if err != nil {
		_ = conn.Close()
		if expected != nil && strings.Contains(err.Error(), "no common algorithm for host key") {
			return nil, &HostKeyMismatchError{Addr: c.Addr(), Expected: expected, Cause: err}
		}
		return nil, err
	}
	return ssh.NewClient(sc, chans, reqs), nil
}

// timeoutOr reports a per-attempt timeout as such (rather than a bare
// "context deadline exceeded") while letting caller cancellation through.
func timeoutOr(attemptCtx, ctx context.Context, c Config, err error) error {
	if ctx.Err() == nil && attemptCtx.Err() != nil {
		return fmt.Errorf("timed out after %s (perDialTimeout)", c.PerDialTimeout)
	}
	return err
}
