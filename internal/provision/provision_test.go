package provision_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/google/go-cmp/cmp"

	"github.com/runcmd/runcmd/internal/awstest"
	"github.com/runcmd/runcmd/internal/config"
	"github.com/runcmd/runcmd/internal/provision"
	"github.com/runcmd/runcmd/internal/s3out"
	"github.com/runcmd/runcmd/internal/sqsq"
)

// TestRunTwice provisions a fresh set of resources twice and checks that the second run is harmless
// and returns the same outputs, then inspects what was created.
func TestRunTwice(t *testing.T) {
	cfg := awstest.Config(t)
	ctx := t.Context()
	res := config.Names(awstest.Name("rc-prov"))
	t.Cleanup(func() { cleanup(t, cfg, res) })

	first, err := provision.Run(ctx, cfg, res)
	if err != nil {
		t.Fatalf("first Run: %v", err)
	}
	second, err := provision.Run(ctx, cfg, res)
	if err != nil {
		t.Fatalf("second Run: %v", err)
	}
	if diff := cmp.Diff(first, second); diff != "" {
		t.Errorf("outputs of the second run (-first +second):\n%s", diff)
	}
	for name, v := range map[string]string{
		"DispatchQueueURL": first.DispatchQueueURL, "DispatchDLQURL": first.DispatchDLQURL,
		"ResultsQueueURL": first.ResultsQueueURL, "ResultsDLQURL": first.ResultsDLQURL,
		"EventsTopicARN": first.EventsTopicARN,
	} {
		if v == "" {
			t.Errorf("%s is empty", name)
		}
	}
	if first.OutputBucket != res.OutputBucket {
		t.Errorf("OutputBucket = %q, want %q", first.OutputBucket, res.OutputBucket)
	}

	sqsc := sqs.NewFromConfig(cfg)
	for _, q := range []struct {
		url, dlqURL string
		fifo        bool
	}{
		{first.DispatchQueueURL, first.DispatchDLQURL, true},
		{first.ResultsQueueURL, first.ResultsDLQURL, false},
	} {
		out, err := sqsc.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
			QueueUrl: &q.url, AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameAll},
		})
		if err != nil {
			t.Fatalf("GetQueueAttributes(%s): %v", q.url, err)
		}
		if got := out.Attributes["FifoQueue"] == "true"; got != q.fifo {
			t.Errorf("%s: FIFO %v, want %v", q.url, got, q.fifo)
		}
		var rp struct {
			DeadLetterTargetArn string
			MaxReceiveCount     json.Number
		}
		if err := json.Unmarshal([]byte(out.Attributes["RedrivePolicy"]), &rp); err != nil {
			t.Fatalf("%s: RedrivePolicy %q: %v", q.url, out.Attributes["RedrivePolicy"], err)
		}
		dlqARN, err := sqsq.QueueARN(ctx, sqsc, q.dlqURL)
		if err != nil {
			t.Fatal(err)
		}
		if rp.DeadLetterTargetArn != dlqARN || rp.MaxReceiveCount.String() != "5" {
			t.Errorf("%s: redrive %+v, want target %s after 5 receives", q.url, rp, dlqARN)
		}
	}
	if _, err := sns.NewFromConfig(cfg).GetTopicAttributes(ctx, &sns.GetTopicAttributesInput{TopicArn: &first.EventsTopicARN}); err != nil {
		t.Errorf("events topic: %v", err)
	}
	s3c := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = o.BaseEndpoint != nil })
	if ok, err := s3out.New(s3c).BucketExists(ctx, res.OutputBucket); !ok || err != nil {
		t.Errorf("BucketExists(%s) = %v, %v", res.OutputBucket, ok, err)
	}
	ddb := dynamodb.NewFromConfig(cfg)
	for _, table := range []string{res.CommandsTable, res.InvocationsTable, res.InstancesTable, res.TagsTable} {
		if _, err := ddb.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: &table}); err != nil {
			t.Errorf("table %s: %v", table, err)
		}
	}
}

// cleanup deletes what Run created, best effort.
func cleanup(t *testing.T, cfg aws.Config, res config.Resources) {
	ctx := context.Background()
	sqsc := sqs.NewFromConfig(cfg)
	for _, q := range []string{res.DispatchQueue, res.DispatchDLQ, res.ResultsQueue, res.ResultsDLQ} {
		if out, err := sqsc.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: &q}); err == nil {
			_, _ = sqsc.DeleteQueue(ctx, &sqs.DeleteQueueInput{QueueUrl: out.QueueUrl})
		}
	}
	snsc := sns.NewFromConfig(cfg)
	if out, err := snsc.CreateTopic(ctx, &sns.CreateTopicInput{Name: &res.EventsTopic}); err == nil {
		_, _ = snsc.DeleteTopic(ctx, &sns.DeleteTopicInput{TopicArn: out.TopicArn})
	}
	s3c := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = o.BaseEndpoint != nil })
	_, _ = s3c.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: &res.OutputBucket})
	ddb := dynamodb.NewFromConfig(cfg)
	for _, table := range []string{res.CommandsTable, res.InvocationsTable, res.InstancesTable, res.TagsTable} {
		if _, err := ddb.DeleteTable(ctx, &dynamodb.DeleteTableInput{TableName: &table}); err != nil && !strings.Contains(err.Error(), "ResourceNotFound") {
			t.Logf("delete table %s: %v", table, err)
		}
	}
}
