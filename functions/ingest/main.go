// Command ingest is the ingest function, fed by the results queue through an SQS event source
// mapping with ReportBatchItemFailures.
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/runcmd/runcmd/internal/lambdafn"
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
	lambda.Start(lambdafn.SQSHandler(lambdafn.Ingest(st.Ingester), false, log))
}
