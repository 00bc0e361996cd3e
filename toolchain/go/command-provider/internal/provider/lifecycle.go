package provider

import (
	"context"
	"fmt"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/plugin"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/structpb"
)

// resourceType prefers the request's type field and falls back to the URN
// (older engines leave the field empty) and rejects types we don't implement.
func resourceType(typ, urn string) (string, error) {
	if typ == "" {
		typ = string(resource.URN(urn).Type())
	}
	switch typ {
	case localCommandType, remoteCommandType:
		return typ, nil
	}
	return "", fmt.Errorf("resource type %s is not supported by this build of pulumi-resource-command (pgha); "+
		"only command:local:Command and command:remote:Command are implemented", typ)
}

// unmarshal decodes properties with secrets unwrapped and nulls dropped;
// unknowns are kept where the engine may send them (preview, diff).
func unmarshal(s *structpb.Struct, label string, keepUnknowns bool) (resource.PropertyMap, error) {
	return plugin.UnmarshalProperties(s, plugin.MarshalOptions{
		Label: label, KeepUnknowns: keepUnknowns, SkipNulls: true, KeepSecrets: false,
	})
}

// withOutputs returns the inputs verbatim (a protobuf copy, so values such as
// assets in triggers round-trip untouched) plus stdout and stderr.
func withOutputs(inputs *structpb.Struct, stdout, stderr *structpb.Value) *structpb.Struct {
	out := &structpb.Struct{Fields: map[string]*structpb.Value{}}
	if inputs != nil {
		out = proto.Clone(inputs).(*structpb.Struct)
		if out.Fields == nil {
			out.Fields = map[string]*structpb.Value{}
		}
	}
	out.Fields["stdout"] = stdout
	out.Fields["stderr"] = stderr
	return out
}

// unknown is how the wire protocol spells "known only after apply".
func unknown() *structpb.Value { return structpb.NewStringValue(plugin.UnknownStringValue) }

func str(s string) *structpb.Value { return structpb.NewStringValue(s) }

func isUnknown(m resource.PropertyMap, key resource.PropertyKey) bool {
	v, ok := m[key]
	return ok && unwrap(v).ContainsUnknowns()
}

func stateString(m resource.PropertyMap, key resource.PropertyKey) string {
	if v := unwrap(m[key]); v.IsString() {
		return v.StringValue()
	}
	return ""
}

// Check validates inputs and returns them unchanged: defaults are applied
// when commands run, so state keeps exactly what the program said.
func (s *Server) Check(_ context.Context, req *pulumirpc.CheckRequest) (*pulumirpc.CheckResponse, error) {
	typ, err := resourceType(req.GetType(), req.GetUrn())
	if err != nil {
		return nil, err
	}
	news, err := unmarshal(req.GetNews(), "check", true)
	if err != nil {
		return nil, err
	}
	var errs fieldErrs
	parseSpec(typ, news, &errs)
	return &pulumirpc.CheckResponse{Inputs: req.GetNews(), Failures: errs}, nil
}

func (s *Server) Diff(_ context.Context, req *pulumirpc.DiffRequest) (*pulumirpc.DiffResponse, error) {
	if _, err := resourceType(req.GetType(), req.GetUrn()); err != nil {
		return nil, err
	}
	// Old inputs are what the program last said; fall back to the old state
	// (which echoes the inputs) for engines that don't send them.
	oldStruct := req.GetOldInputs()
	if oldStruct == nil {
		oldStruct = req.GetOlds()
	}
	olds, err := unmarshal(oldStruct, "diff.olds", true)
	if err != nil {
		return nil, err
	}
	news, err := unmarshal(req.GetNews(), "diff.news", true)
	if err != nil {
		return nil, err
	}
	return computeDiff(olds, news), nil
}

func (s *Server) Create(ctx context.Context, req *pulumirpc.CreateRequest) (*pulumirpc.CreateResponse, error) {
	typ, err := resourceType(req.GetType(), req.GetUrn())
	if err != nil {
		return nil, err
	}
	props, err := unmarshal(req.GetProperties(), "create", req.GetPreview())
	if err != nil {
		return nil, err
	}
	var errs fieldErrs
	sp := parseSpec(typ, props, &errs)
	if req.GetPreview() {
		// Never run anything during preview.
		if sp.create != "" || isUnknown(props, "create") {
			return &pulumirpc.CreateResponse{Properties: withOutputs(req.GetProperties(), unknown(), unknown())}, nil
		}
		return &pulumirpc.CreateResponse{Properties: withOutputs(req.GetProperties(), str(""), str(""))}, nil
	}
	if err := errs.err(typ); err != nil {
		return nil, err
	}
	id, err := resource.NewUniqueHex(resource.URN(req.GetUrn()).Name(), 8, 0)
	if err != nil {
		return nil, err
	}
	var stdout, stderr string
	if sp.create != "" {
		opCtx, done := s.opContext(ctx, req.GetTimeout())
		defer done()
		stdout, stderr, err = sp.run(opCtx, sp.create, prevOutputs{}, s.sink(ctx, req.GetUrn()))
		if err != nil {
			return nil, err
		}
	}
	return &pulumirpc.CreateResponse{Id: id, Properties: withOutputs(req.GetProperties(), str(stdout), str(stderr))}, nil
}

// Update runs `update`, or `create` again when no update command is given,
// against the NEW inputs (new connection, new environment).
func (s *Server) Update(ctx context.Context, req *pulumirpc.UpdateRequest) (*pulumirpc.UpdateResponse, error) {
	typ, err := resourceType(req.GetType(), req.GetUrn())
	if err != nil {
		return nil, err
	}
	news, err := unmarshal(req.GetNews(), "update.news", req.GetPreview())
	if err != nil {
		return nil, err
	}
	olds, err := unmarshal(req.GetOlds(), "update.olds", false)
	if err != nil {
		return nil, err
	}
	var errs fieldErrs
	sp := parseSpec(typ, news, &errs)
	prev := prevOutputs{stdout: stateString(olds, "stdout"), stderr: stateString(olds, "stderr")}

	command, key := sp.update, resource.PropertyKey("update")
	if command == "" && !isUnknown(news, key) {
		command, key = sp.create, "create"
	}
	if req.GetPreview() {
		if command != "" || isUnknown(news, key) {
			return &pulumirpc.UpdateResponse{Properties: withOutputs(req.GetNews(), unknown(), unknown())}, nil
		}
		return &pulumirpc.UpdateResponse{Properties: withOutputs(req.GetNews(), str(prev.stdout), str(prev.stderr))}, nil
	}
	if err := errs.err(typ); err != nil {
		return nil, err
	}
	if command == "" {
		return &pulumirpc.UpdateResponse{Properties: withOutputs(req.GetNews(), str(prev.stdout), str(prev.stderr))}, nil
	}
	opCtx, done := s.opContext(ctx, req.GetTimeout())
	defer done()
	stdout, stderr, err := sp.run(opCtx, command, prev, s.sink(ctx, req.GetUrn()))
	if err != nil {
		return nil, err
	}
	return &pulumirpc.UpdateResponse{Properties: withOutputs(req.GetNews(), str(stdout), str(stderr))}, nil
}

// Delete runs the stored `delete` command with the stored (old) connection
// and environment; with no delete command there is nothing to do.
func (s *Server) Delete(ctx context.Context, req *pulumirpc.DeleteRequest) (*emptypb.Empty, error) {
	typ, err := resourceType(req.GetType(), req.GetUrn())
	if err != nil {
		return nil, err
	}
	olds, err := unmarshal(req.GetProperties(), "delete.olds", false)
	if err != nil {
		return nil, err
	}
	if oldInputs, err := unmarshal(req.GetOldInputs(), "delete.oldInputs", false); err == nil {
		// State written by other tools may lack inputs; old inputs fill gaps.
		for k, v := range oldInputs {
			if _, has := olds[k]; !has {
				olds[k] = v
			}
		}
	}
	var errs fieldErrs
	sp := parseSpec(typ, olds, &errs)
	if sp.delete == "" {
		return &emptypb.Empty{}, nil
	}
	if err := errs.err(typ); err != nil {
		return nil, err
	}
	opCtx, done := s.opContext(ctx, req.GetTimeout())
	defer done()
	prev := prevOutputs{stdout: stateString(olds, "stdout"), stderr: stateString(olds, "stderr")}
	if _, _, err := sp.run(opCtx, sp.delete, prev, s.sink(ctx, req.GetUrn())); err != nil {
		return nil, err
	}
	return &emptypb.Empty{}, nil
}

// Read returns the stored state unchanged: a command has no remote object to
// look at, so refresh is a no-op, as with the real provider.
func (s *Server) Read(_ context.Context, req *pulumirpc.ReadRequest) (*pulumirpc.ReadResponse, error) {
	if _, err := resourceType(req.GetType(), req.GetUrn()); err != nil {
		return nil, err
	}
	return &pulumirpc.ReadResponse{Id: req.GetId(), Properties: req.GetProperties(), Inputs: req.GetInputs()}, nil
}

func secondsToDuration(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }
