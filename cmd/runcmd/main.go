// Command runcmd is the operator's command line and the local host:
//
//	runcmd provision          create every table, queue, topic and bucket (idempotent)
//	runcmd dev                run the four functions in one process (api on --addr)
//	runcmd fleet --count N    run N real agents in one process
//	runcmd demo               provision, dev, a tagged fleet of three and a first command (make run)
//	runcmd version
//
// Configuration comes from the environment: AWS_REGION, AWS_ENDPOINT_URL and credentials for AWS;
// RUNCMD_PREFIX (and RUNCMD_* overrides) for resource names.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
)

// version is set with -ldflags "-X main.version=...".
var version = "0.1.0"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	if err := run(ctx, os.Args[1:], log); err != nil {
		fmt.Fprintln(os.Stderr, "runcmd:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, log *slog.Logger) error {
	if len(args) == 0 {
		return fmt.Errorf("usage: runcmd provision|dev|fleet|demo|version [flags]")
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "provision":
		return provisionCmd(ctx, rest)
	case "dev":
		return devCmd(ctx, rest, log)
	case "fleet":
		return fleetCmd(ctx, rest, log)
	case "demo":
		return demoCmd(ctx, rest, log)
	case "version":
		fmt.Println("runcmd", version)
		return nil
	}
	return fmt.Errorf("unknown command %q: use provision, dev, fleet, demo or version", cmd)
}
