package sqsq_test

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/google/go-cmp/cmp"

	"github.com/runcmd/runcmd"
	"github.com/runcmd/runcmd/internal/awstest"
	"github.com/runcmd/runcmd/internal/sqsq"
	"github.com/runcmd/runcmd/internal/storetest"
)

// newQueue creates a uniquely named queue on the emulator and deletes it when the test ends.
func newQueue(t *testing.T, client *sqs.Client, fifo bool, attrs map[string]string) *sqsq.Queue {
	t.Helper()
	name := awstest.Name("rc-test")
	if attrs == nil {
		attrs = map[string]string{}
	}
	if fifo {
		name += ".fifo"
		attrs["FifoQueue"] = "true"
	}
	url, err := sqsq.EnsureQueue(t.Context(), client, name, attrs)
	if err != nil {
		t.Fatalf("EnsureQueue(%s): %v", name, err)
	}
	t.Cleanup(func() {
		if _, err := client.DeleteQueue(context.Background(), &sqs.DeleteQueueInput{QueueUrl: &url}); err != nil {
			t.Logf("delete queue %s: %v", url, err)
		}
	})
	return sqsq.New(client, url)
}

func TestQueueConformance(t *testing.T) {
	client := sqs.NewFromConfig(awstest.Config(t))
	storetest.TestQueue(t, storetest.QueueHarness{
		New: func(t *testing.T, o storetest.QueueOptions) storetest.Queue {
			return newQueue(t, client, o.FIFO, map[string]string{
				"VisibilityTimeout": strconv.Itoa(int(o.Visibility / time.Second)),
			})
		},
	})
}

func TestEnsureQueue(t *testing.T) {
	t.Parallel()
	client := sqs.NewFromConfig(awstest.Config(t))
	ctx := t.Context()
	name := awstest.Name("rc-ensure")
	url1, err := sqsq.EnsureQueue(ctx, client, name, map[string]string{"VisibilityTimeout": "30"})
	if err != nil {
		t.Fatalf("EnsureQueue: %v", err)
	}
	t.Cleanup(func() { _, _ = client.DeleteQueue(context.Background(), &sqs.DeleteQueueInput{QueueUrl: &url1}) })
	// Same attributes: CreateQueue's own idempotency. Different: the lookup-and-update path.
	for _, vis := range []string{"30", "45"} {
		url2, err := sqsq.EnsureQueue(ctx, client, name, map[string]string{"VisibilityTimeout": vis})
		if err != nil {
			t.Fatalf("EnsureQueue again with VisibilityTimeout %s: %v", vis, err)
		}
		if url2 != url1 {
			t.Errorf("EnsureQueue again = %q, want %q", url2, url1)
		}
	}
	out, err := client.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: &url1, AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameVisibilityTimeout}})
	if err != nil {
		t.Fatalf("GetQueueAttributes: %v", err)
	}
	if got := out.Attributes["VisibilityTimeout"]; got != "45" {
		t.Errorf("VisibilityTimeout after EnsureQueue with new attributes = %q, want 45", got)
	}
	arn, err := sqsq.QueueARN(ctx, client, url1)
	if err != nil || !strings.HasPrefix(arn, "arn:aws:sqs:") || !strings.HasSuffix(arn, ":"+name) {
		t.Errorf("QueueARN = %q, %v; want an SQS ARN ending in %q", arn, err, name)
	}
}

func TestMissingQueueIsNotFound(t *testing.T) {
	t.Parallel()
	client := sqs.NewFromConfig(awstest.Config(t))
	q := newQueue(t, client, false, nil)
	missing := q.URL() + "-missing"
	nq := sqsq.NewNodeQueue(client)
	err := nq.Send(t.Context(), missing, runcmd.NodeMessage{Kind: runcmd.KindSend, CommandID: "c", InstanceID: "mi-1"})
	if got := runcmd.ErrorCode(err); got != runcmd.ENOTFOUND {
		t.Errorf("Send to a missing queue: code %q (%v), want %q", got, err, runcmd.ENOTFOUND)
	}
}

func TestNodeQueue(t *testing.T) {
	t.Parallel()
	client := sqs.NewFromConfig(awstest.Config(t))
	q := newQueue(t, client, false, nil)
	want := runcmd.NodeMessage{
		Kind: runcmd.KindSend, CommandID: "cmd-1", InstanceID: "mi-1", DocumentName: "AWS-RunShellScript",
		Parameters: map[string][]string{"commands": {"echo hi"}},
		ExpiresAt:  time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
	}
	if err := sqsq.NewNodeQueue(client).Send(t.Context(), q.URL(), want); err != nil {
		t.Fatalf("Send: %v", err)
	}
	msgs, err := q.Receive(t.Context(), 10, time.Second)
	if err != nil || len(msgs) != 1 {
		t.Fatalf("Receive = %+v, %v; want one message", msgs, err)
	}
	var got runcmd.NodeMessage
	if err := json.Unmarshal([]byte(msgs[0].Body), &got); err != nil {
		t.Fatalf("decode %q: %v", msgs[0].Body, err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("node message (-want +got):\n%s", diff)
	}
}

// TestDispatchQueue checks that two identical requests both arrive (fresh deduplication ids), in
// order, and in the command's message group.
func TestDispatchQueue(t *testing.T) {
	t.Parallel()
	client := sqs.NewFromConfig(awstest.Config(t))
	q := newQueue(t, client, true, nil)
	d := sqsq.NewDispatchQueue(client, q.URL())
	sent := []runcmd.DispatchMessage{
		{Kind: runcmd.DispatchStart, CommandID: "cmd-1"},
		{Kind: runcmd.DispatchPump, CommandID: "cmd-1"},
		{Kind: runcmd.DispatchPump, CommandID: "cmd-1"},
	}
	for _, m := range sent {
		if err := d.Enqueue(t.Context(), m); err != nil {
			t.Fatalf("Enqueue(%+v): %v", m, err)
		}
	}
	msgs, err := q.Receive(t.Context(), 10, time.Second)
	if err != nil {
		t.Fatalf("Receive: %v", err)
	}
	var got []runcmd.DispatchMessage
	for _, m := range msgs {
		var dm runcmd.DispatchMessage
		if err := json.Unmarshal([]byte(m.Body), &dm); err != nil {
			t.Fatalf("decode %q: %v", m.Body, err)
		}
		got = append(got, dm)
	}
	if diff := cmp.Diff(sent, got); diff != "" {
		t.Errorf("dispatch messages (-want +got):\n%s", diff)
	}
}
