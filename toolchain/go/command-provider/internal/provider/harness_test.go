package provider

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/diag"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/plugin"
	"github.com/pulumi/pulumi/sdk/v3/go/common/tokens"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// fakeLog records what the provider would show in `pulumi up`.
type fakeLog struct {
	mu      sync.Mutex
	entries []string
}

func (f *fakeLog) Log(_ context.Context, sev diag.Severity, _ resource.URN, msg string) error {
	f.add(fmt.Sprintf("%s: %s", sev, msg))
	return nil
}

func (f *fakeLog) LogStatus(_ context.Context, sev diag.Severity, _ resource.URN, msg string) error {
	f.add(fmt.Sprintf("status %s: %s", sev, msg))
	return nil
}

func (f *fakeLog) add(s string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.entries = append(f.entries, s)
}

func (f *fakeLog) all() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return strings.Join(f.entries, "\n")
}

// engineHarness drives our gRPC server through the engine's own provider
// client (plugin.NewProviderWithClient): the same marshalling, secret
// stripping/re-annotation and preview handling `pulumi up` applies.
type engineHarness struct {
	prov plugin.Provider
	srv  *Server
	log  *fakeLog
}

func newEngineHarness(t *testing.T) *engineHarness {
	t.Helper()
	log := &fakeLog{}
	srv := New(log, "1.2.1")
	gs := grpc.NewServer()
	pulumirpc.RegisterResourceProviderServer(gs, srv)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = gs.Serve(ln) }()
	t.Cleanup(gs.Stop)
	conn, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	prov := plugin.NewProviderWithClient(nil, pulumirpc.NewResourceProviderClient(conn), false)
	typ := tokens.Type("pulumi:providers:command")
	if _, err := prov.Configure(context.Background(), plugin.ConfigureRequest{
		Type: &typ, Inputs: resource.PropertyMap{},
	}); err != nil {
		t.Fatal(err)
	}
	return &engineHarness{prov: prov, srv: srv, log: log}
}

func urnFor(typ, name string) resource.URN {
	return resource.URN("urn:pulumi:dev::proj::" + typ + "::" + name)
}

func (h *engineHarness) check(t *testing.T, urn resource.URN, news resource.PropertyMap) plugin.CheckResponse {
	t.Helper()
	r, err := h.prov.Check(context.Background(), plugin.CheckRequest{URN: urn, News: news, AllowUnknowns: true})
	if err != nil {
		t.Fatalf("check: %v", err)
	}
	return r
}

func (h *engineHarness) create(urn resource.URN, props resource.PropertyMap, preview bool,
) (plugin.CreateResponse, error) {
	return h.prov.Create(context.Background(), plugin.CreateRequest{URN: urn, Properties: props, Preview: preview})
}

func (h *engineHarness) diff(t *testing.T, urn resource.URN, oldIns, oldOuts, news resource.PropertyMap,
) plugin.DiffResult {
	t.Helper()
	r, err := h.prov.Diff(context.Background(), plugin.DiffRequest{
		URN: urn, ID: "id", OldInputs: oldIns, OldOutputs: oldOuts, NewInputs: news, AllowUnknowns: true,
	})
	if err != nil {
		t.Fatalf("diff: %v", err)
	}
	return r
}

func (h *engineHarness) update(urn resource.URN, oldIns, oldOuts, news resource.PropertyMap, preview bool,
) (plugin.UpdateResponse, error) {
	return h.prov.Update(context.Background(), plugin.UpdateRequest{
		URN: urn, ID: "id", OldInputs: oldIns, OldOutputs: oldOuts, NewInputs: news, Preview: preview,
	})
}

func (h *engineHarness) delete(urn resource.URN, ins, outs resource.PropertyMap) error {
	_, err := h.prov.Delete(context.Background(), plugin.DeleteRequest{URN: urn, ID: "id", Inputs: ins, Outputs: outs})
	return err
}

func secret(v any) resource.PropertyValue { return resource.MakeSecret(resource.NewPropertyValue(v)) }
