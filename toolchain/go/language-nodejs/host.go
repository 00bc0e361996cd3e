package main

import (
	"context"
	"os"
	"path/filepath"
	"sync"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/pulumi/pulumi/sdk/v3/go/common/util/logging"
	"github.com/pulumi/pulumi/sdk/v3/go/common/version"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
)

// nodeHost implements the LanguageRuntime RPCs the CLI uses for preview/up/destroy/about/plugin ls/
// install. Everything else (codegen, packing, linking, RunPlugin, ...) falls through to the embedded
// Unimplemented server, which the CLI either tolerates or reports as "not supported".
type nodeHost struct {
	pulumirpc.UnimplementedLanguageRuntimeServer

	mu            sync.Mutex
	engineAddress string // passed to the Node.js runner as --engine
	tracing       string // forwarded as --tracing
	flagOptions   runtimeOptions
}

func newNodeHost(engineAddress, tracing string, flags runtimeOptionFlags) *nodeHost {
	return &nodeHost{engineAddress: engineAddress, tracing: tracing, flagOptions: flags.toOptions()}
}

func (h *nodeHost) engine() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.engineAddress
}

// Handshake is only sent when the CLI attaches to an already running host (PULUMI_DEBUG_LANGUAGES);
// a launched host gets the engine address as its positional argument instead.
func (h *nodeHost) Handshake(
	_ context.Context, req *pulumirpc.LanguageHandshakeRequest,
) (*pulumirpc.LanguageHandshakeResponse, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if req.GetEngineAddress() != "" {
		h.engineAddress = req.GetEngineAddress()
	}
	return &pulumirpc.LanguageHandshakeResponse{}, nil
}

// GetPluginInfo reports the version injected at build time via -ldflags (the SDK's version.Version), so
// `pulumi plugin ls` / `pulumi about` show the language plugin at the same version as the CLI.
func (h *nodeHost) GetPluginInfo(context.Context, *emptypb.Empty) (*pulumirpc.PluginInfo, error) {
	return &pulumirpc.PluginInfo{Version: version.Version}, nil
}

// RuntimeOptionsPrompts: `pulumi new` may ask language-specific questions; we have none.
func (h *nodeHost) RuntimeOptionsPrompts(
	context.Context, *pulumirpc.RuntimeOptionsRequest,
) (*pulumirpc.RuntimeOptionsResponse, error) {
	return &pulumirpc.RuntimeOptionsResponse{}, nil
}

// About describes the Node.js executable for `pulumi about` and the update metadata.
func (h *nodeHost) About(ctx context.Context, req *pulumirpc.AboutRequest) (*pulumirpc.AboutResponse, error) {
	node, err := findNode()
	if err != nil {
		return nil, status.Error(codes.FailedPrecondition, err.Error())
	}
	ver, err := nodeVersion(ctx, node)
	if err != nil {
		return nil, status.Errorf(codes.Internal, "could not determine node version: %v", err)
	}
	opts, _ := h.optionsFromInfo(req.GetInfo())
	meta := map[string]string{"typescript": boolString(opts.typescript)}
	if dir := programDirectory(req.GetInfo(), ""); dir != "" {
		meta["packagemanager"] = detectPackageManager(opts, packageRoot(dir))
	}
	return &pulumirpc.AboutResponse{Executable: node, Version: ver, Metadata: meta}, nil
}

// programDirectory picks the directory a request is about, preferring the structured ProgramInfo over
// the deprecated flat fields, and finally our own working directory (the CLI starts us in the project).
func programDirectory(info *pulumirpc.ProgramInfo, legacy string) string {
	dir := info.GetProgramDirectory()
	if dir == "" {
		dir = legacy
	}
	if dir == "" {
		dir = info.GetRootDirectory()
	}
	if dir == "" {
		wd, err := os.Getwd()
		if err != nil {
			logging.V(3).Infof("getwd failed: %v", err)
			return ""
		}
		dir = wd
	}
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	return dir
}

func boolString(b bool) string {
	if b {
		return "true"
	}
	return "false"
}
