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
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
)

// Endpoint returns the emulator endpoint, or "" when none is configured or none answers. The check
// runs once per test binary and asks for moto's small config document, not its state dump (which grows
// with every resource the tests create).
func Endpoint() string {
	endpointOnce.Do(func() {
		ep := strings.TrimRight(os.Getenv("AWS_ENDPOINT_URL"), "/")
		if ep == "" {
			return
		}
		c := http.Client{Timeout: 5 * time.Second}
		for _, path := range []string{"/moto-api/config", "/_localstack/health"} {
			resp, err := c.Get(ep + path)
			if err != nil {
				continue
			}
			resp.Body.Close()
			if resp.StatusCode >= 200 && resp.StatusCode < 300 {
				endpoint = ep
				return
			}
		}
	})
	return endpoint
}

var (
	endpointOnce sync.Once
	endpoint     string
)

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
