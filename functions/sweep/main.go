// Command sweep is the sweep function, run every minute by an EventBridge schedule: it times out
// invocations whose delivery and execution time has passed.
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/runcmd/runcmd/internal/stack"
)

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stdout, nil))
	ctx := context.Background()
	st, err := stack.FromEnv(ctx, os.Getenv, log)
	if err != nil {
		log.Error("start", "err", err)
		os.Exit(1)
	}
	lambda.Start(func(ctx context.Context) error {
		n, err := st.Sweeper.Sweep(ctx)
		if err != nil {
			log.Error("sweep_failed", "err", err)
			return err
		}
		log.Info("sweep", "timed_out", n)
		return nil
	})
}
