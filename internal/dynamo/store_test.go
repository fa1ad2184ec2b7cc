package dynamo_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/runcmd/runcmd"
	"github.com/runcmd/runcmd/internal/awstest"
	"github.com/runcmd/runcmd/internal/config"
	"github.com/runcmd/runcmd/internal/dynamo"
	"github.com/runcmd/runcmd/internal/storetest"
)

// serialClient adapts the HTTP client to moto (5.2.1) in two ways.
//
// It sends one request at a time. moto does not isolate concurrent writes: UpdateItem reads the item,
// parses the condition and only then checks it, and TransactWriteItems snapshots whole tables and
// restores them on failure, all without a lock, so two racing conditional writes can both succeed (seen
// here: two final replies to one invocation both applied). DynamoDB makes every single request atomic,
// which is all the stores rely on; serialising requests gives the emulator that property while the
// test's goroutines still race between their reads and writes.
//
// It reads each response body before returning. Against moto (werkzeug answers every request with
// "Connection: close") roughly one request in a few hundred otherwise failed with "deserialization
// failed, read tcp ...: use of closed network connection" on a 200 response, the symptom of
// aws/aws-sdk-go-v2#1825 and #2737; with the body read here it has not happened since.
type serialClient struct {
	mu   sync.Mutex
	next aws.HTTPClient
}

func (c *serialClient) Do(r *http.Request) (*http.Response, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	resp, err := c.next.Do(r) // moto answers only once the operation is complete
	if err != nil {
		return nil, err
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(b))
	return resp, nil
}

// tables creates a fresh set of tables and deletes them when the test ends. Each set has its own client,
// so parallel tests still run in parallel. cfg comes from one awstest.Config call per top-level test.
func tables(t *testing.T, cfg aws.Config) (*dynamodb.Client, config.Resources) {
	t.Helper()
	cfg = cfg.Copy()
	cfg.HTTPClient = &serialClient{next: awshttp.NewBuildableClient()}
	client := dynamodb.NewFromConfig(cfg)
	prefix := awstest.Name("t")
	res := config.Names(prefix)
	// Delete whatever CreateTables made under the prefix, however many tables that is by now. Cleanup
	// runs even when CreateTables fails half-way.
	t.Cleanup(func() {
		ctx := context.Background()
		p := dynamodb.NewListTablesPaginator(client, &dynamodb.ListTablesInput{ExclusiveStartTableName: aws.String(prefix)})
		for p.HasMorePages() {
			out, err := p.NextPage(ctx)
			if err != nil {
				t.Logf("list tables to delete: %v", err)
				return
			}
			for _, name := range out.TableNames {
				if !strings.HasPrefix(name, prefix+"-") {
					return // names are listed in order: past the prefix
				}
				if _, err := client.DeleteTable(ctx, &dynamodb.DeleteTableInput{TableName: aws.String(name)}); err != nil {
					t.Logf("delete table %s: %v", name, err)
				}
			}
		}
	})
	if err := dynamo.CreateTables(t.Context(), client, res); err != nil {
		t.Fatalf("CreateTables: %v", err)
	}
	return client, res
}

func TestCommandStore(t *testing.T) {
	t.Parallel()
	cfg := awstest.Config(t)
	storetest.TestCommandStore(t, func(t *testing.T) runcmd.CommandStore {
		client, res := tables(t, cfg)
		return dynamo.NewCommandStore(client, res.CommandsTable, res.InvocationsTable)
	})
}

func TestInstanceStore(t *testing.T) {
	t.Parallel()
	cfg := awstest.Config(t)
	storetest.TestInstanceStore(t, func(t *testing.T) runcmd.InstanceStore {
		client, res := tables(t, cfg)
		return dynamo.NewInstanceStore(client, res.InstancesTable, res.TagsTable)
	})
}

func TestCreateTablesIdempotent(t *testing.T) {
	t.Parallel()
	client, res := tables(t, awstest.Config(t))
	if err := dynamo.CreateTables(t.Context(), client, res); err != nil {
		t.Fatalf("second CreateTables: %v", err)
	}
	for _, name := range []string{res.CommandsTable, res.InvocationsTable} {
		out, err := client.DescribeTimeToLive(t.Context(), &dynamodb.DescribeTimeToLiveInput{TableName: aws.String(name)})
		if err != nil {
			t.Fatal(err)
		}
		if d := out.TimeToLiveDescription; d == nil || aws.ToString(d.AttributeName) != "ExpireAt" {
			t.Errorf("%s: TTL %+v, want on ExpireAt", name, d)
		}
	}
}
