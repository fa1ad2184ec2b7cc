package dynamo_test

import (
	"context"
	"os"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/runcmd/runcmd"
	"github.com/runcmd/runcmd/internal/awstest"
	"github.com/runcmd/runcmd/internal/dynamo"
	"github.com/runcmd/runcmd/internal/storetest"
)

func newDocumentStore(t *testing.T, cfg aws.Config) *dynamo.DocumentStore {
	t.Helper()
	client, res := tables(t, cfg)
	t.Cleanup(func() {
		_, _ = client.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: aws.String(res.DocumentsTable)})
	})
	return dynamo.NewDocumentStore(client, res.DocumentsTable)
}

func TestDocumentStore(t *testing.T) {
	t.Parallel()
	cfg := awstest.Config(t)
	storetest.TestDocumentStore(t, func(t *testing.T) runcmd.DocumentStore { return newDocumentStore(t, cfg) })
}

// The full limit suite writes 1,500 items through moto's table-copying transactions (several minutes),
// so it runs only when RUNCMD_SLOW_TESTS is set; TestDocumentLimits covers the same conditions quickly.
func TestDocumentStoreLimits(t *testing.T) {
	t.Parallel()
	if os.Getenv("RUNCMD_SLOW_TESTS") == "" {
		t.Skip("set RUNCMD_SLOW_TESTS=1 to fill a document store to its limits on the emulator")
	}
	cfg := awstest.Config(t)
	storetest.TestDocumentStoreLimits(t, func(t *testing.T) runcmd.DocumentStore { return newDocumentStore(t, cfg) })
}

// TestDocumentLimits starts the counters just below the limits.
func TestDocumentLimits(t *testing.T) {
	t.Parallel()
	s := newDocumentStore(t, awstest.Config(t))
	ctx := t.Context()
	version := func(name, body string) *runcmd.DocumentVersion {
		return &runcmd.DocumentVersion{Name: name, Content: body, Hash: body, Format: "JSON", Owner: "123456789012"}
	}
	wantCode := func(err error, code, name string) {
		t.Helper()
		if runcmd.ErrorCode(err) != code || runcmd.ErrorName(err) != name {
			t.Fatalf("error %v, want %s %s", err, code, name)
		}
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}

	_, err := s.CreateDocument(ctx, version("doc", "a"), nil)
	must(err)
	must(dynamo.SetDocumentCounts(ctx, s, runcmd.MaxDocuments-1, "doc", runcmd.MaxDocumentVersions-1))

	_, err = s.CreateDocument(ctx, version("last", "a"), nil)
	must(err)
	_, err = s.CreateDocument(ctx, version("too-many", "a"), nil)
	wantCode(err, runcmd.ELIMIT, "DocumentLimitExceeded")
	must(s.DeleteDocument(ctx, "last"))
	_, err = s.CreateDocument(ctx, version("fits-again", "a"), nil)
	must(err)

	_, _, err = s.AddVersion(ctx, version("doc", "b"), 0)
	must(err)
	_, _, err = s.AddVersion(ctx, version("doc", "c"), 0)
	wantCode(err, runcmd.ELIMIT, "DocumentVersionLimitExceeded")
	must(s.DeleteVersion(ctx, "doc", 2))
	_, v, err := s.AddVersion(ctx, version("doc", "c"), 0)
	must(err)
	if v.Version != 3 {
		t.Errorf("version after the limit freed up: %d, want 3", v.Version)
	}
}
