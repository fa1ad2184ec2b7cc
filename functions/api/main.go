// Command api is the api function: SSM's JSON 1.1 protocol behind API Gateway (HTTP API). Without the
// Lambda runtime it serves plain HTTP on $PORT (default 8080).
package main

import (
	"context"
	"log/slog"
	"net/http"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/runcmd/runcmd/internal/lambdafn"
	"github.com/runcmd/runcmd/internal/ssmapi"
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
	h := ssmapi.NewHandler(st.API, log)
	if os.Getenv("AWS_LAMBDA_RUNTIME_API") != "" {
		lambda.Start(lambdafn.HTTPAPI(h))
		return
	}
	addr := ":" + cmpOr(os.Getenv("PORT"), "8080")
	log.Info("listening", "addr", addr)
	if err := http.ListenAndServe(addr, h); err != nil {
		log.Error("serve", "err", err)
		os.Exit(1)
	}
}

func cmpOr(v, def string) string {
	if v == "" {
		return def
	}
	return v
}
