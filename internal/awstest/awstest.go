// Package awstest gives emulator-backed tests an AWS configuration and unique resource names. Tests that
// call Config are skipped unless AWS_ENDPOINT_URL points at a live emulator; `make test` always starts
// one, so in CI they always run.
package awstest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
)

// Endpoint returns the emulator endpoint, or "" when none is configured or none answers.
func Endpoint() string {
	ep := os.Getenv("AWS_ENDPOINT_URL")
	if ep == "" {
		return ""
	}
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(strings.TrimRight(ep, "/") + "/moto-api/data.json")
	if err != nil {
		resp, err = c.Get(strings.TrimRight(ep, "/") + "/_localstack/health")
		if err != nil {
			return ""
		}
	}
	resp.Body.Close()
	return ep
}

// Config returns an AWS configuration for the emulator, or skips the test when there is none.
func Config(t testing.TB) aws.Config {
	t.Helper()
	ep := Endpoint()
	if ep == "" {
		t.Skip("no AWS emulator at AWS_ENDPOINT_URL; run `make test` to start one")
	}
	region := os.Getenv("AWS_REGION")
	if region == "" {
		region = "us-east-1"
	}
	cfg, err := config.LoadDefaultConfig(context.Background(),
		config.WithRegion(region),
		config.WithBaseEndpoint(ep),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("test", "test", "")),
		config.WithRetryMaxAttempts(1),
		config.WithRequestChecksumCalculation(aws.RequestChecksumCalculationWhenRequired),
		config.WithResponseChecksumValidation(aws.ResponseChecksumValidationWhenRequired),
	)
	if err != nil {
		t.Fatalf("load AWS config: %v", err)
	}
	return cfg
}

// Name returns a unique, lowercase resource name starting with prefix, so tests never collide.
func Name(prefix string) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return prefix + "-" + hex.EncodeToString(b)
}
