package main

import (
	"context"
	"fmt"
	"io"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/runcmd/runcmd/agent/internal/patchrun"
	"github.com/runcmd/runcmd/internal/sqsq"
)

// patchCommand runs `runcmd-agent patch` (the PatchLinux step of AWS-RunPatchBaseline) with an SQS
// client for the results queue built from the environment, as the agent's own is.
func patchCommand(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	return patchrun.Command(ctx, args, getenv, stdout, stderr, func(ctx context.Context, region, queueURL string) (patchrun.Outbox, error) {
		opts := []func(*awsconfig.LoadOptions) error{awsconfig.WithRegion(region)}
		if ep := getenv("AWS_ENDPOINT_URL"); ep != "" {
			opts = append(opts, awsconfig.WithBaseEndpoint(ep))
		}
		cfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
		if err != nil {
			return nil, fmt.Errorf("aws config: %w", err)
		}
		return sqsq.New(sqs.NewFromConfig(cfg), queueURL), nil
	})
}
