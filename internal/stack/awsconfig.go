package stack

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"

	runcmdconfig "github.com/runcmd/runcmd/internal/config"
)

// LoadAWS loads the AWS configuration from the environment (AWS_REGION, AWS_ENDPOINT_URL, credentials).
// Checksums are computed only when required: the default "when supported" breaks third-party S3
// implementations and gains nothing for our small objects.
func LoadAWS(ctx context.Context) (aws.Config, error) {
	cfg, err := config.LoadDefaultConfig(ctx,
		config.WithRequestChecksumCalculation(aws.RequestChecksumCalculationWhenRequired),
		config.WithResponseChecksumValidation(aws.ResponseChecksumValidationWhenRequired),
	)
	if err != nil {
		return aws.Config{}, fmt.Errorf("load AWS config: %w", err)
	}
	if cfg.Region == "" {
		return aws.Config{}, fmt.Errorf("load AWS config: AWS_REGION is not set")
	}
	return cfg, nil
}

// FromEnv is what every function's main does at start-up: the AWS configuration and the resource
// names from the environment, then the stack.
func FromEnv(ctx context.Context, getenv func(string) string, log *slog.Logger) (*Stack, error) {
	cfg, err := LoadAWS(ctx)
	if err != nil {
		return nil, err
	}
	return New(ctx, cfg, runcmdconfig.FromEnv(getenv), log)
}
