// Package provider implements the gRPC resource provider for the
// command:local:Command and command:remote:Command types of the
// @pulumi/command 1.2.1 SDK.
package provider

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	sdkprovider "github.com/pulumi/pulumi/sdk/v3/go/pulumi/provider"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/protobuf/types/known/emptypb"
)

// Type tokens, as in node_modules/@pulumi/command/{local,remote}/command.js.
const (
	localCommandType  = "command:local:Command"
	remoteCommandType = "command:remote:Command"
)

// Server is the ResourceProviderServer. It holds no per-resource state: all
// it needs travels in the requests (inputs, old state), as the engine intends.
type Server struct {
	pulumirpc.UnimplementedResourceProviderServer

	version string

	mu  sync.Mutex
	log EngineLog // nil until we know the engine (attach mode)

	// cancelCtx ends when the engine calls Cancel; every running command
	// derives from it so Cancel stops them all.
	cancelCtx context.Context
	cancel    context.CancelCauseFunc
}

// New returns a provider reporting the given version. log may be nil.
func New(log EngineLog, version string) *Server {
	ctx, cancel := context.WithCancelCause(context.Background())
	return &Server{version: version, log: log, cancelCtx: ctx, cancel: cancel}
}

func (s *Server) engineLog() EngineLog {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.log
}

func (s *Server) sink(ctx context.Context, urn string) sink {
	return sink{ctx: ctx, log: s.engineLog(), urn: resource.URN(urn)}
}

// opContext scopes one create/update/delete: it ends on the engine's Cancel,
// on the request's own end, or after the resource's customTimeouts value.
func (s *Server) opContext(ctx context.Context, timeoutSeconds float64) (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(ctx)
	stop := context.AfterFunc(s.cancelCtx, func() { cancel(context.Cause(s.cancelCtx)) })
	done := func() { stop(); cancel(nil) }
	if timeoutSeconds > 0 {
		tctx, tcancel := context.WithTimeoutCause(ctx, secondsToDuration(timeoutSeconds),
			fmt.Errorf("timed out after %gs (customTimeouts)", timeoutSeconds))
		return tctx, func() { tcancel(); done() }
	}
	return ctx, done
}

// Secrets: we answer AcceptSecrets=false. The engine then sends plain values
// and re-marks every output whose same-named input was secret (recursing into
// objects). Because our outputs echo the inputs verbatim, secretness of stdin,
// connection (whole object, the SDK wraps it) and environment values survives
// exactly, with no secret handling here that could get it wrong.

func (s *Server) Handshake(_ context.Context, _ *pulumirpc.ProviderHandshakeRequest,
) (*pulumirpc.ProviderHandshakeResponse, error) {
	return &pulumirpc.ProviderHandshakeResponse{AcceptSecrets: false, AcceptResources: false}, nil
}

func (s *Server) Configure(_ context.Context, _ *pulumirpc.ConfigureRequest) (*pulumirpc.ConfigureResponse, error) {
	// SupportsPreview: the engine must call Create/Update during preview so we
	// can report stdout/stderr as unknown rather than absent.
	return &pulumirpc.ConfigureResponse{AcceptSecrets: false, SupportsPreview: true}, nil
}

// CheckConfig accepts any provider configuration: there is none to speak of.
func (s *Server) CheckConfig(_ context.Context, req *pulumirpc.CheckRequest) (*pulumirpc.CheckResponse, error) {
	return &pulumirpc.CheckResponse{Inputs: req.GetNews()}, nil
}

func (s *Server) DiffConfig(_ context.Context, _ *pulumirpc.DiffRequest) (*pulumirpc.DiffResponse, error) {
	return &pulumirpc.DiffResponse{Changes: pulumirpc.DiffResponse_DIFF_NONE}, nil
}

func (s *Server) GetPluginInfo(context.Context, *emptypb.Empty) (*pulumirpc.PluginInfo, error) {
	return &pulumirpc.PluginInfo{Version: s.version}, nil
}

// GetSchema returns a minimal valid schema; the Node SDK is pre-generated, so
// nothing in a `pulumi up` needs more.
func (s *Server) GetSchema(context.Context, *pulumirpc.GetSchemaRequest) (*pulumirpc.GetSchemaResponse, error) {
	return &pulumirpc.GetSchemaResponse{
		Schema: fmt.Sprintf(`{"name":"command","version":%q}`, s.version),
	}, nil
}

// Cancel stops every running command; the engine sends it on Ctrl-C and
// before shutting the plugin down.
func (s *Server) Cancel(context.Context, *emptypb.Empty) (*emptypb.Empty, error) {
	s.cancel(errors.New("cancelled by the Pulumi engine"))
	return &emptypb.Empty{}, nil
}

// Attach is used when the engine connects to an already running provider
// (PULUMI_DEBUG_PROVIDERS); it tells us where the engine is for logging.
func (s *Server) Attach(_ context.Context, req *pulumirpc.PluginAttach) (*emptypb.Empty, error) {
	host, err := sdkprovider.NewHostClient(req.GetAddress())
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.log = host
	s.mu.Unlock()
	return &emptypb.Empty{}, nil
}

// GetMapping(s): no mappings, as the SDK's default provider server answers.
func (s *Server) GetMapping(context.Context, *pulumirpc.GetMappingRequest) (*pulumirpc.GetMappingResponse, error) {
	return &pulumirpc.GetMappingResponse{}, nil
}

func (s *Server) GetMappings(context.Context, *pulumirpc.GetMappingsRequest,
) (*pulumirpc.GetMappingsResponse, error) {
	return &pulumirpc.GetMappingsResponse{}, nil
}

// Invoke: functions such as command:local:run are not part of this build.
func (s *Server) Invoke(_ context.Context, req *pulumirpc.InvokeRequest) (*pulumirpc.InvokeResponse, error) {
	return nil, fmt.Errorf("function %s is not supported by this build of pulumi-resource-command (pgha); "+
		"only the command:local:Command and command:remote:Command resources are implemented", req.GetTok())
}
