package provider

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"golang.org/x/crypto/ssh"

	"pgha.local/toolchain/command-provider/internal/sshconn"
)

// Names of the variables that hand the previous run's outputs to the next
// command (update/delete), as documented for @pulumi/command.
const (
	envPrevStdout = "PULUMI_COMMAND_STDOUT"
	envPrevStderr = "PULUMI_COMMAND_STDERR"
)

// prevOutputs are the stdout/stderr from the last create/update.
type prevOutputs struct{ stdout, stderr string }

// run executes one command (create, update or delete text) for the resource
// and returns its trimmed stdout and stderr.
func (s spec) run(ctx context.Context, command string, prev prevOutputs, out sink) (string, string, error) {
	c := newCapture(out, s.logging)
	var err error
	if s.remote != nil {
		err = runRemote(ctx, s, command, prev, c, out)
	} else {
		err = runLocal(ctx, s, command, prev, c)
	}
	c.finish()
	if err != nil {
		return "", "", err
	}
	stdout, stderr := c.outputs()
	return stdout, stderr, nil
}

// runLocal runs `interpreter... command` on this machine. The command gets
// its own process group so cancellation also stops what the shell started.
func runLocal(ctx context.Context, s spec, command string, prev prevOutputs, c *capture) error {
	args := append(append([]string(nil), s.local.interpreter[1:]...), command)
	cmd := exec.CommandContext(ctx, s.local.interpreter[0], args...)
	cmd.Dir = s.local.dir
	cmd.Env = os.Environ()
	for _, k := range sortedKeys(s.environment) {
		cmd.Env = append(cmd.Env, k+"="+s.environment[k])
	}
	if s.addPreviousOutputInEnv {
		cmd.Env = append(cmd.Env, envPrevStdout+"="+prev.stdout, envPrevStderr+"="+prev.stderr)
	}
	if s.stdin != nil {
		cmd.Stdin = strings.NewReader(*s.stdin)
	}
	cmd.Stdout, cmd.Stderr = c.Stdout(), c.Stderr()
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM) }
	// Background children that keep stdout open must not hang us forever
	// after a cancel.
	cmd.WaitDelay = 10 * time.Second

	err := cmd.Run()
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		return c.failure(fmt.Errorf("command cancelled (%v)", context.Cause(ctx)), command)
	default:
		var exitErr *exec.ExitError
		if errors.As(err, &exitErr) {
			return c.failure(err, command)
		}
		return fmt.Errorf("starting local command %q with interpreter %q: %w", command, s.local.interpreter, err)
	}
}

// runRemote runs the command over SSH. `environment` goes through SSH setenv
// requests, which sshd only honours for names listed in its AcceptEnv.
func runRemote(ctx context.Context, s spec, command string, prev prevOutputs, c *capture, out sink) error {
	client, err := sshconn.Dial(ctx, *s.remote, out.status)
	if err != nil {
		return err
	}
	defer client.Close()
	session, err := client.NewSession()
	if err != nil {
		return fmt.Errorf("opening SSH session on %s: %w", s.remote.Addr(), err)
	}
	defer session.Close()

	for _, k := range sortedKeys(s.environment) {
		if err := session.Setenv(k, s.environment[k]); err != nil {
			return fmt.Errorf("%s: %w", setenvHint(k, s.remote.Addr()), err)
		}
	}
	if s.addPreviousOutputInEnv {
		// Best effort, as in the real provider: most sshd configs reject these,
		// which earns one warning rather than a failure.
		var rejected []string
		for _, kv := range [][2]string{{envPrevStdout, prev.stdout}, {envPrevStderr, prev.stderr}} {
			if err := session.Setenv(kv[0], kv[1]); err != nil {
				rejected = append(rejected, kv[0])
			}
		}
		if len(rejected) > 0 {
			out.warn(fmt.Sprintf("unable to set %s on %s: the SSH server must allow them via AcceptEnv "+
				"in sshd_config; set addPreviousOutputInEnv: false to silence this warning",
				strings.Join(rejected, " and "), s.remote.Addr()))
		}
	}
	if s.stdin != nil {
		session.Stdin = strings.NewReader(*s.stdin)
	}
	session.Stdout, session.Stderr = c.Stdout(), c.Stderr()
	if err := session.Start(command); err != nil {
		return fmt.Errorf("starting remote command on %s: %w", s.remote.Addr(), err)
	}
	done := make(chan error, 1)
	go func() { done <- session.Wait() }()
	select {
	case err = <-done:
	case <-ctx.Done():
		// Ask the remote side to stop, then drop the connection so Wait returns
		// even if the server ignores signals (OpenSSH does before 7.9).
		_ = session.Signal(ssh.SIGTERM)
		_ = client.Close()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
		}
		return c.failure(fmt.Errorf("command cancelled (%v)", context.Cause(ctx)), command)
	}
	if err != nil {
		return c.failure(err, command)
	}
	return nil
}

func setenvHint(name, addr string) string {
	return fmt.Sprintf("unable to set environment variable %q on %s: the SSH server must allow it via "+
		"AcceptEnv in sshd_config (alternatively prefix the command with %s=value)", name, addr, name)
}
