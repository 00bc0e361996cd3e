package provider

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/pulumi/pulumi/sdk/v3/go/common/diag"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
)

// EngineLog is the part of the SDK's *provider.HostClient we use; an interface
// so tests can capture what would reach `pulumi up`.
type EngineLog interface {
	Log(ctx context.Context, sev diag.Severity, urn resource.URN, msg string) error
	LogStatus(ctx context.Context, sev diag.Severity, urn resource.URN, msg string) error
}

// sink sends messages for one resource to the engine; a nil log drops them
// (e.g. attach mode before Attach, or unit tests).
type sink struct {
	ctx context.Context
	log EngineLog
	urn resource.URN
}

// status shows a transient line in the resource's Info column while it runs,
// the way the real provider streams command output.
func (s sink) status(msg string) {
	if s.log != nil {
		_ = s.log.LogStatus(s.ctx, diag.Info, s.urn, msg)
	}
}

// warn leaves a lasting warning in the update's diagnostics.
func (s sink) warn(msg string) {
	if s.log != nil {
		_ = s.log.Log(s.ctx, diag.Warning, s.urn, msg)
	}
}

// capture collects a command's stdout and stderr separately (they become
// outputs), interleaved (for error messages), and streams lines to the engine.
type capture struct {
	stdout, stderr bytes.Buffer
	mu             sync.Mutex
	combined       bytes.Buffer
	outLines       *lineWriter
	errLines       *lineWriter
}

func newCapture(s sink, logging string) *capture {
	c := &capture{}
	if logging == logStdout || logging == logStdoutAndStderr {
		c.outLines = &lineWriter{emit: s.status}
	}
	if logging == logStderr || logging == logStdoutAndStderr {
		c.errLines = &lineWriter{emit: s.status}
	}
	return c
}

// Stdout and Stderr are the writers to hand to the process. Each is written
// by a single goroutine; only the shared combined buffer needs the lock.
func (c *capture) Stdout() io.Writer { return streamWriter{c, &c.stdout, c.outLines} }
func (c *capture) Stderr() io.Writer { return streamWriter{c, &c.stderr, c.errLines} }

type streamWriter struct {
	c     *capture
	own   *bytes.Buffer
	lines *lineWriter
}

func (w streamWriter) Write(p []byte) (int, error) {
	w.own.Write(p)
	w.c.mu.Lock()
	w.c.combined.Write(p)
	w.c.mu.Unlock()
	if w.lines != nil {
		w.lines.Write(p)
	}
	return len(p), nil
}

// finish flushes partial last lines to the log.
func (c *capture) finish() {
	for _, l := range []*lineWriter{c.outLines, c.errLines} {
		if l != nil {
			l.flush()
		}
	}
}

// outputs returns stdout/stderr as the real provider stores them: one
// trailing newline trimmed, and made valid UTF-8 because protobuf strings
// must be.
func (c *capture) outputs() (string, string) {
	return cleanOutput(c.stdout.String()), cleanOutput(c.stderr.String())
}

func cleanOutput(s string) string {
	return strings.ToValidUTF8(strings.TrimSuffix(s, "\n"), "\uFFFD")
}

// maxErrorOutput caps how much output goes into an error message; the tail
// is kept because that is where failures explain themselves.
const maxErrorOutput = 256 << 10

// failure builds the error for a failed command: the exit status, the command
// text and the interleaved stdout/stderr. stdin is deliberately never
// included: it is where secrets are meant to be passed.
func (c *capture) failure(err error, command string) error {
	c.mu.Lock()
	out := c.combined.String()
	c.mu.Unlock()
	if len(out) > maxErrorOutput {
		out = fmt.Sprintf("[... %d bytes of output omitted ...]\n", len(out)-maxErrorOutput) +
			out[len(out)-maxErrorOutput:]
	}
	return fmt.Errorf("%w: running %q:\n%s", err, command, strings.ToValidUTF8(out, "\uFFFD"))
}

// lineWriter splits a byte stream into lines for the engine log.
type lineWriter struct {
	emit    func(string)
	partial []byte
}

func (l *lineWriter) Write(p []byte) {
	l.partial = append(l.partial, p...)
	for {
		i := bytes.IndexByte(l.partial, '\n')
		if i < 0 {
			break
		}
		if line := strings.TrimSuffix(string(l.partial[:i]), "\r"); line != "" {
			l.emit(line)
		}
		l.partial = l.partial[i+1:]
	}
}

func (l *lineWriter) flush() {
	if len(l.partial) > 0 {
		l.emit(string(l.partial))
		l.partial = nil
	}
}
