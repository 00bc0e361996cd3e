package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/common/util/logging"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
)

// exitCodeErrorAlreadyReported is what @pulumi/pulumi/cmd/run exits with after it has already shown the
// user an actionable error (via the engine's log RPC). Reporting anything further would duplicate it,
// so it maps to RunResponse.Bail.
const exitCodeErrorAlreadyReported = 32

// runnerModule is the Node.js entry point shipped inside @pulumi/pulumi that connects to the resource
// monitor, sets up ts-node and requires the user's program.
const runnerModule = "@pulumi/pulumi/cmd/run"

// childStopGrace is how long node gets to exit after SIGTERM when the Run RPC is cancelled.
const childStopGrace = 10 * time.Second

// Run executes the program by launching `node <runner> <flags> <entry point> <args...>`.
func (h *nodeHost) Run(ctx context.Context, req *pulumirpc.RunRequest) (*pulumirpc.RunResponse, error) {
	if req.GetAttachDebugger() {
		return &pulumirpc.RunResponse{Error: "this pulumi-language-nodejs build does not support --attach-debugger"}, nil
	}
	opts, err := h.optionsFromInfo(req.GetInfo())
	if err != nil {
		return &pulumirpc.RunResponse{Error: err.Error()}, nil
	}
	node, err := findNode()
	if err != nil {
		return &pulumirpc.RunResponse{Error: err.Error()}, nil
	}

	programDir := programDirectory(req.GetInfo(), req.GetPwd())
	pwd := req.GetPwd()
	if pwd == "" {
		pwd = programDir
	}

	runner, err := resolveModule(ctx, node, programDir, runnerModule)
	if err != nil {
		return &pulumirpc.RunResponse{Error: fmt.Sprintf(
			"it looks like the Pulumi SDK has not been installed: could not resolve %s from %s (%v); "+
				"run `npm install` (or `pulumi install`) in the project directory", runnerModule, programDir, err)}, nil
	}

	nodeArgs, err := splitArgs(opts.nodeargs)
	if err != nil {
		return &pulumirpc.RunResponse{Error: fmt.Sprintf("invalid runtime option 'nodeargs': %v", err)}, nil
	}
	args := append(nodeArgs, runnerArgs(req, runner, h.engine(), h.tracing, programDir)...)

	env, err := runnerEnv(os.Environ(), req, opts)
	if err != nil {
		return &pulumirpc.RunResponse{Error: err.Error()}, nil
	}

	logging.V(5).Infof("launching %s %s", node, strings.Join(args, " "))
	cmd := exec.CommandContext(ctx, node, args...)
	cmd.Dir = pwd
	cmd.Env = env
	// Inherit our stdout/stderr: the CLI turns them into the program's diagnostic output.
	cmd.Stdout = os.Stdout
	cmd.Stderr = os.Stderr
	// If the CLI abandons the call, let node shut down its gRPC connections before killing it.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = childStopGrace

	return runResponse(cmd.Run()), nil
}

// runnerArgs builds the flags understood by @pulumi/pulumi/cmd/run (see its minimist spec), followed by
// the entry point and the program's own arguments.
func runnerArgs(req *pulumirpc.RunRequest, runner, engine, tracing, programDir string) []string {
	args := []string{runner}
	add := func(flag, value string) {
		if value != "" {
			args = append(args, "--"+flag, value)
		}
	}
	add("monitor", req.GetMonitorAddress())
	add("engine", engine)
	add("organization", req.GetOrganization())
	add("project", req.GetProject())
	add("root-directory", req.GetInfo().GetRootDirectory())
	add("stack", req.GetStack())
	add("pwd", req.GetPwd())
	if req.GetDryRun() {
		args = append(args, "--dry-run")
	}
	if req.GetParallel() > 1 {
		add("parallel", strconv.Itoa(int(req.GetParallel())))
	}
	add("tracing", tracing)
	args = append(args, entryPoint(req, programDir))
	return append(args, req.GetArgs()...)
}

// entryPoint is the program argument for the runner. "." means "the program directory, honouring
// package.json main/exports", and must be passed through literally; the runner resolves relative paths
// against --pwd, so anything else is made absolute when --pwd differs from the program directory.
func entryPoint(req *pulumirpc.RunRequest, programDir string) string {
	ep := req.GetInfo().GetEntryPoint()
	if ep == "" {
		ep = req.GetProgram() //nolint:staticcheck // older CLIs only set the deprecated field
	}
	if ep == "" {
		return "."
	}
	if ep == "." || filepath.IsAbs(ep) {
		return ep
	}
	if pwd := req.GetPwd(); pwd != "" && filepath.Clean(pwd) != filepath.Clean(programDir) {
		return filepath.Join(programDir, ep)
	}
	return ep
}

// runnerEnv adds what the Node.js SDK reads from the environment rather than from flags: the stack
// configuration (PULUMI_CONFIG, a JSON object keyed "project:key"), the secret keys
// (PULUMI_CONFIG_SECRET_KEYS, a JSON array) and the TypeScript switches. PULUMI_NODEJS_TRANSPILE_ONLY
// and other user-set variables pass through untouched.
func runnerEnv(base []string, req *pulumirpc.RunRequest, opts runtimeOptions) ([]string, error) {
	config := req.GetConfig()
	if config == nil {
		config = map[string]string{}
	}
	configJSON, err := json.Marshal(config)
	if err != nil {
		return nil, fmt.Errorf("encoding config: %w", err)
	}
	secretKeys := req.GetConfigSecretKeys()
	if secretKeys == nil {
		secretKeys = []string{}
	}
	secretJSON, err := json.Marshal(secretKeys)
	if err != nil {
		return nil, fmt.Errorf("encoding secret config keys: %w", err)
	}

	env := setEnv(base, "PULUMI_CONFIG", string(configJSON))
	env = setEnv(env, "PULUMI_CONFIG_SECRET_KEYS", string(secretJSON))
	env = setEnv(env, "PULUMI_NODEJS_TYPESCRIPT", boolString(opts.typescript))
	if opts.tsconfig != "" {
		env = setEnv(env, "PULUMI_NODEJS_TSCONFIG_PATH", opts.tsconfig)
	}
	return env, nil
}

// setEnv replaces (or appends) key in a KEY=VALUE list.
func setEnv(env []string, key, value string) []string {
	out := make([]string, 0, len(env)+1)
	for _, kv := range env {
		if strings.HasPrefix(kv, key+"=") {
			continue
		}
		out = append(out, kv)
	}
	return append(out, key+"="+value)
}

// runResponse maps the runner's exit status onto the protocol: success, "already reported" (bail), or
// an error message for the CLI to show.
func runResponse(err error) *pulumirpc.RunResponse {
	if err == nil {
		return &pulumirpc.RunResponse{}
	}
	var exitErr *exec.ExitError
	if !errors.As(err, &exitErr) {
		return &pulumirpc.RunResponse{
			Error: fmt.Sprintf("problem executing program (could not run node): %v", err),
		}
	}
	if ws, ok := exitErr.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return &pulumirpc.RunResponse{Error: fmt.Sprintf("program was terminated by signal: %v", ws.Signal())}
	}
	switch code := exitErr.ExitCode(); code {
	case exitCodeErrorAlreadyReported:
		return &pulumirpc.RunResponse{Bail: true}
	default:
		return &pulumirpc.RunResponse{Error: fmt.Sprintf("program exited with non-zero exit code: %d", code)}
	}
}
