// Command pulumi-resource-command is pgha's own build of the Pulumi "command"
// provider, wire-compatible with the @pulumi/command 1.2.1 Node SDK
// (command:local:Command and command:remote:Command only). The upstream
// provider binary cannot be downloaded on pgha's build machines.
package main

import (
	"fmt"
	"os"

	sdkprovider "github.com/pulumi/pulumi/sdk/v3/go/pulumi/provider"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"

	"pgha.local/toolchain/command-provider/internal/provider"
)

// Version is reported to the engine; set it at build time with
// -ldflags "-X main.Version=1.2.1" so it matches the SDK's plugin version.
var Version = "0.0.0-dev"

func main() {
	if len(os.Args) == 2 && (os.Args[1] == "--version" || os.Args[1] == "-version") {
		fmt.Println(Version)
		return
	}
	// sdkprovider.Main connects to the engine address given as our argument,
	// serves gRPC and prints the chosen port on stdout, as the engine expects.
	err := sdkprovider.Main("command", func(host *sdkprovider.HostClient) (pulumirpc.ResourceProviderServer, error) {
		var log provider.EngineLog
		if host != nil { // nil in attach mode; avoid a typed-nil interface
			log = host
		}
		return provider.New(log, Version), nil
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
