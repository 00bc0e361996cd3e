package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// findNode resolves `node` from PATH, like the upstream host. We never fall back to a bundled runtime:
// the project's toolchain is expected to provide Node.js >= 20.
func findNode() (string, error) {
	p, err := exec.LookPath("node")
	if err != nil {
		return "", errors.New("could not find `node` on PATH; install Node.js (>= 20) and make sure " +
			"`node` is on the PATH of the shell running `pulumi`")
	}
	if abs, err := filepath.Abs(p); err == nil {
		p = abs
	}
	return p, nil
}

// nodeVersion returns `node --version` without the leading "v".
func nodeVersion(ctx context.Context, node string) (string, error) {
	out, err := exec.CommandContext(ctx, node, "--version").Output()
	if err != nil {
		return "", err
	}
	return strings.TrimPrefix(strings.TrimSpace(string(out)), "v"), nil
}

// resolveModule asks node itself where a module specifier resolves from dir, so hoisting, workspaces,
// NODE_PATH and symlinked node_modules behave exactly as they will for the program.
func resolveModule(ctx context.Context, node, dir, specifier string) (string, error) {
	script := fmt.Sprintf("process.stdout.write(require.resolve(%q))", specifier)
	cmd := exec.CommandContext(ctx, node, "-e", script)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", errors.New(summarizeNodeError(stderr.String(), err))
	}
	return strings.TrimSpace(string(out)), nil
}

// summarizeNodeError reduces node's multi-line stack dump to the one line that says what went wrong
// (e.g. "Error: Cannot find module '@pulumi/pulumi/cmd/run'").
func summarizeNodeError(stderr string, err error) string {
	var last string
	for _, line := range strings.Split(stderr, "\n") {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "Error") || strings.Contains(line, "Cannot find module") {
			return line
		}
		if line != "" && !strings.HasPrefix(line, "at ") {
			last = line
		}
	}
	if last != "" {
		return last
	}
	return err.Error()
}

// searchUp returns the first directory at or above dir that contains name.
func searchUp(dir, name string) (string, bool) {
	for {
		if _, err := os.Stat(filepath.Join(dir, name)); err == nil {
			return dir, true
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", false
		}
		dir = parent
	}
}

// packageRoot is the directory of the nearest package.json at or above the program directory; that is
// where `npm install` runs and where node_modules lives. Falls back to the program directory.
func packageRoot(programDir string) string {
	if dir, ok := searchUp(programDir, "package.json"); ok {
		return dir
	}
	return programDir
}

// detectPackageManager honours the packagemanager option and otherwise guesses from lock files, the way
// the upstream host does, defaulting to npm.
func detectPackageManager(opts runtimeOptions, root string) string {
	if opts.packagemanager != "" {
		return opts.packagemanager
	}
	for _, c := range []struct{ file, pm string }{
		{"package-lock.json", "npm"},
		{"pnpm-lock.yaml", "pnpm"},
		{"yarn.lock", "yarn"},
		{"bun.lock", "bun"},
		{"bun.lockb", "bun"},
	} {
		if _, err := os.Stat(filepath.Join(root, c.file)); err == nil {
			return c.pm
		}
	}
	return "npm"
}
