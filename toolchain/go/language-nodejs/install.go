package main

import (
	"fmt"
	"os"
	"os/exec"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/pulumi/pulumi/sdk/v3/go/common/util/logging"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
)

// InstallDependencies backs `pulumi install` and `pulumi new`: it runs the project's package manager
// in the package root and streams its output back to the CLI.
func (h *nodeHost) InstallDependencies(
	req *pulumirpc.InstallDependenciesRequest,
	stream grpc.ServerStreamingServer[pulumirpc.InstallDependenciesResponse],
) error {
	opts, err := h.optionsFromInfo(req.GetInfo())
	if err != nil {
		return status.Error(codes.InvalidArgument, err.Error())
	}
	dir := packageRoot(programDirectory(req.GetInfo(), req.GetDirectory())) //nolint:staticcheck // legacy field
	pm := detectPackageManager(opts, dir)
	bin, err := exec.LookPath(pm)
	if err != nil {
		return status.Errorf(codes.FailedPrecondition,
			"could not find `%s` on PATH; install it or run `%s install` in %s yourself", pm, pm, dir)
	}

	out := &streamWriter{stream: stream}
	errOut := &streamWriter{stream: stream, stderr: true, shared: &out.mu}

	fmt.Fprintf(out, "Installing dependencies with %s in %s...\n\n", pm, dir)
	logging.V(5).Infof("running %s install in %s", bin, dir)
	cmd := exec.CommandContext(stream.Context(), bin, "install")
	cmd.Dir = dir
	cmd.Env = os.Environ()
	cmd.Stdout = out
	cmd.Stderr = errOut
	if err := cmd.Run(); err != nil {
		return status.Errorf(codes.Unknown, "`%s install` failed in %s: %v", pm, dir, err)
	}
	fmt.Fprintf(out, "Finished installing dependencies\n\n")
	return nil
}

// streamWriter forwards writes as InstallDependenciesResponse messages. stdout and stderr writers share
// one mutex because a gRPC stream must not be sent on concurrently.
type streamWriter struct {
	stream grpc.ServerStreamingServer[pulumirpc.InstallDependenciesResponse]
	stderr bool
	mu     sync.Mutex
	shared *sync.Mutex
}

func (w *streamWriter) lock() *sync.Mutex {
	if w.shared != nil {
		return w.shared
	}
	return &w.mu
}

func (w *streamWriter) Write(p []byte) (int, error) {
	mu := w.lock()
	mu.Lock()
	defer mu.Unlock()
	buf := append([]byte(nil), p...) // the caller may reuse p after we return
	msg := &pulumirpc.InstallDependenciesResponse{Stdout: buf}
	if w.stderr {
		msg = &pulumirpc.InstallDependenciesResponse{Stderr: buf}
	}
	if err := w.stream.Send(msg); err != nil {
		return 0, err
	}
	return len(p), nil
}
