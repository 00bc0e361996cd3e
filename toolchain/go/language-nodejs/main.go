// Command pulumi-language-nodejs is a small, self-written Pulumi language host for Node.js / TypeScript
// programs. It exists because this project builds its Pulumi toolchain from source and the upstream
// language host module is not obtainable here; it speaks the same pulumirpc.LanguageRuntime protocol
// and delegates the actual program execution to @pulumi/pulumi's own Node.js runner (cmd/run).
//
// The Pulumi CLI starts it as:
//
//	pulumi-language-nodejs [--logtostderr] [-v=N] [--tracing URL] ENGINE_ADDRESS
//
// and expects the first line written to stdout to be the TCP port of our gRPC server. Anything printed
// to stdout/stderr afterwards (including the Node.js program's own output) is shown by the CLI as
// diagnostics, which is why the child process simply inherits our stdout/stderr.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"google.golang.org/grpc"

	"github.com/pulumi/pulumi/sdk/v3/go/common/util/logging"
	"github.com/pulumi/pulumi/sdk/v3/go/common/util/rpcutil"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
)

// engineHealthInterval is how often we check that the engine that launched us is still alive, so an
// orphaned language host does not linger forever when the CLI is killed hard.
const engineHealthInterval = 5 * time.Minute

func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "pulumi-language-nodejs: %v\n", err)
		os.Exit(1)
	}
}

func run() error {
	// Flags the CLI may pass (see buildPluginArguments in the Pulumi SDK). -logtostderr and -v are
	// registered by glog, which the SDK links in; logging.InitLogging reads them from flag.CommandLine.
	if flag.Lookup("logtostderr") == nil {
		flag.Bool("logtostderr", false, "write logs to stderr instead of a log file")
	}
	if flag.Lookup("v") == nil {
		flag.Int("v", 0, "log verbosity level")
	}
	tracing := flag.String("tracing", "", "Zipkin-compatible tracing endpoint, forwarded to the Node.js runner")
	// Flags that older CLIs derived from Pulumi.yaml runtime options. Current CLIs send the options inside
	// ProgramInfo instead; accepting them keeps such invocations from failing on an unknown flag.
	flagOpts := runtimeOptionFlags{}
	flag.BoolVar(&flagOpts.typescript, "typescript", true, "run the program through ts-node (legacy flag)")
	flag.StringVar(&flagOpts.tsconfig, "tsconfig", "", "path to tsconfig.json (legacy flag)")
	flag.StringVar(&flagOpts.nodeargs, "nodeargs", "", "extra arguments for node (legacy flag)")
	flag.StringVar(&flagOpts.packagemanager, "packagemanager", "", "package manager for installs (legacy flag)")
	_ = flag.String("root", "", "ignored; kept for command-line compatibility")
	flag.Parse()

	logging.InitLogging(false, 0, true)
	defer logging.Flush()

	engineAddress := ""
	if args := flag.Args(); len(args) > 0 {
		engineAddress = args[0]
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	if engineAddress != "" {
		// Exit on our own if the engine disappears (e.g. the CLI was SIGKILLed).
		if err := rpcutil.Healthcheck(ctx, engineAddress, engineHealthInterval, stop); err != nil {
			return fmt.Errorf("could not start health check against engine %s: %w", engineAddress, err)
		}
	}

	host := newNodeHost(engineAddress, *tracing, flagOpts)

	cancel := make(chan bool)
	handle, err := rpcutil.ServeWithOptions(rpcutil.ServeOptions{
		Cancel: cancel,
		Init: func(srv *grpc.Server) error {
			pulumirpc.RegisterLanguageRuntimeServer(srv, host)
			return nil
		},
	})
	if err != nil {
		return fmt.Errorf("could not start language host RPC server: %w", err)
	}

	// The CLI reads exactly one line from stdout to learn our port.
	fmt.Printf("%d\n", handle.Port)

	go func() {
		<-ctx.Done()
		close(cancel)
	}()

	if err := <-handle.Done; err != nil {
		return fmt.Errorf("language host RPC server stopped: %w", err)
	}
	return nil
}
