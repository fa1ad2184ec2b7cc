package main

import (
	"context"
	"fmt"
	"io"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/runcmd/runcmd/agent/internal/patchrun"
	"github.com/runcmd/runcmd/agent/internal/upload"
	"github.com/runcmd/runcmd/internal/sqsq"
)

// patchCommand runs `runcmd-agent patch` (the PatchLinux step of AWS-RunPatchBaseline) with an SQS
// client for the results queue and an S3 client for s3:// override files, built from the environment
// as the agent's own are.
func patchCommand(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	newOutbox := func(ctx context.Context, region, queueURL string) (patchrun.Outbox, error) {
		cfg, err := patchAWSConfig(ctx, getenv, region)
		if err != nil {
			return nil, err
		}
		return sqsq.New(sqs.NewFromConfig(cfg), queueURL), nil
	}
	newS3 := func(ctx context.Context, region string) (patchrun.ObjectGetter, error) {
		cfg, err := patchAWSConfig(ctx, getenv, region)
		if err != nil {
			return nil, err
		}
		return upload.New(s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = cfg.BaseEndpoint != nil })), nil
	}
	return patchrun.Command(ctx, args, getenv, stdout, stderr, newOutbox, newS3)
}

func patchAWSConfig(ctx context.Context, getenv func(string) string, region string) (aws.Config, error) {
	opts := []func(*awsconfig.LoadOptions) error{awsconfig.WithRegion(region),
		awsconfig.WithRequestChecksumCalculation(aws.RequestChecksumCalculationWhenRequired),
		awsconfig.WithResponseChecksumValidation(aws.ResponseChecksumValidationWhenRequired)}
	if ep := getenv("AWS_ENDPOINT_URL"); ep != "" {
		opts = append(opts, awsconfig.WithBaseEndpoint(ep))
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return aws.Config{}, fmt.Errorf("aws config: %w", err)
	}
	return cfg, nil
}
