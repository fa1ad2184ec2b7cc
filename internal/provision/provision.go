// Package provision creates runcmd's shared AWS resources where no CloudFormation stack does: on a
// local emulator (moto or LocalStack) for `make run` and tests, or in a scratch account. It is
// idempotent: running it again finds what exists and converges queue attributes. Per-node queues are
// not shared resources and are created elsewhere, when a node registers.
package provision

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/runcmd/runcmd/internal/config"
	"github.com/runcmd/runcmd/internal/dynamo"
	"github.com/runcmd/runcmd/internal/s3out"
	"github.com/runcmd/runcmd/internal/snsnote"
	"github.com/runcmd/runcmd/internal/sqsq"
)

// Queue settings. They match what infra/ deploys.
const (
	// MaxReceiveCount is how often a message may be received before SQS moves it to the dead-letter
	// queue: a poison message is retried a few times, then parked for an operator.
	MaxReceiveCount = 5
	// VisibilityTimeout of the dispatch and results queues: longer than a handler's worst batch, so a
	// message being worked on is not handed to a second consumer.
	VisibilityTimeout = 60 * time.Second
	// DLQRetention keeps dead letters for SQS's maximum, 14 days.
	DLQRetention = 14 * 24 * time.Hour
)

// Outputs are the provisioned resources' addresses.
type Outputs struct {
	DispatchQueueURL string
	DispatchDLQURL   string
	ResultsQueueURL  string
	ResultsDLQURL    string
	EventsTopicARN   string
	OutputBucket     string
}

// Run creates, if missing, the dispatch FIFO queue and its FIFO dead-letter queue, the results queue
// and its dead-letter queue, the events topic, the output bucket and the DynamoDB tables named in res,
// using cfg (its BaseEndpoint, when set, points every client at an emulator; S3 then uses path-style
// addressing). Independent resources are created concurrently; all failures are reported together.
func Run(ctx context.Context, cfg aws.Config, res config.Resources) (Outputs, error) {
	sqsc := sqs.NewFromConfig(cfg)
	s3c := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = o.BaseEndpoint != nil })

	var out Outputs
	var mu sync.Mutex
	var errs []error
	var wg sync.WaitGroup
	step := func(f func() error) {
		wg.Go(func() {
			if err := f(); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		})
	}
	step(func() (err error) {
		out.DispatchQueueURL, out.DispatchDLQURL, err = queueWithDLQ(ctx, sqsc, res.DispatchQueue, res.DispatchDLQ, true)
		return err
	})
	step(func() (err error) {
		out.ResultsQueueURL, out.ResultsDLQURL, err = queueWithDLQ(ctx, sqsc, res.ResultsQueue, res.ResultsDLQ, false)
		return err
	})
	step(func() (err error) {
		out.EventsTopicARN, err = snsnote.EnsureTopic(ctx, sns.NewFromConfig(cfg), res.EventsTopic)
		return err
	})
	step(func() error {
		out.OutputBucket = res.OutputBucket
		return s3out.EnsureBucket(ctx, s3c, res.OutputBucket)
	})
	step(func() error { return dynamo.CreateTables(ctx, dynamodb.NewFromConfig(cfg), res) })
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return Outputs{}, fmt.Errorf("provision: %w", err)
	}
	return out, nil
}

// queueWithDLQ ensures the dead-letter queue, then the queue redriving to it after MaxReceiveCount
// receives. A FIFO queue's dead-letter queue must be FIFO too.
func queueWithDLQ(ctx context.Context, client *sqs.Client, name, dlqName string, fifo bool) (url, dlqURL string, err error) {
	secs := func(d time.Duration) string { return strconv.Itoa(int(d / time.Second)) }
	dlqAttrs := map[string]string{"MessageRetentionPeriod": secs(DLQRetention)}
	attrs := map[string]string{"VisibilityTimeout": secs(VisibilityTimeout)}
	if fifo {
		dlqAttrs["FifoQueue"] = "true"
		attrs["FifoQueue"] = "true"
		// Senders give every message its own deduplication id (see sqsq.DispatchQueue).
		attrs["ContentBasedDeduplication"] = "false"
	}
	dlqURL, err = sqsq.EnsureQueue(ctx, client, dlqName, dlqAttrs)
	if err != nil {
		return "", "", err
	}
	dlqARN, err := sqsq.QueueARN(ctx, client, dlqURL)
	if err != nil {
		return "", "", err
	}
	redrive, err := json.Marshal(map[string]any{"deadLetterTargetArn": dlqARN, "maxReceiveCount": MaxReceiveCount})
	if err != nil {
		return "", "", fmt.Errorf("encode redrive policy of %s: %w", name, err)
	}
	attrs["RedrivePolicy"] = string(redrive)
	url, err = sqsq.EnsureQueue(ctx, client, name, attrs)
	if err != nil {
		return "", "", err
	}
	return url, dlqURL, nil
}
