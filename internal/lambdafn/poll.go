package lambdafn

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/runcmd/runcmd/internal/sqsq"
)

// Poller stands in for a Lambda SQS event source mapping: it long-polls a queue, hands each batch to
// the handler as an SQS event, and deletes only the messages the handler did not report as failed.
// Failed messages become visible again after the queue's visibility timeout, as under Lambda.
type Poller struct {
	Queue   sqsq.Consumer
	Handler func(context.Context, events.SQSEvent) (events.SQSEventResponse, error)
	Batch   int           // 1..10
	Wait    time.Duration // long-poll wait, at most 20 s
	Log     *slog.Logger
}

// Run polls until ctx ends.
func (p *Poller) Run(ctx context.Context) {
	backoff := time.Duration(0)
	for ctx.Err() == nil {
		if backoff > 0 {
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
		}
		msgs, err := p.Queue.Receive(ctx, p.Batch, p.Wait)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, context.Canceled) {
				return
			}
			backoff = min(max(2*backoff, 100*time.Millisecond), 5*time.Second)
			p.Log.Warn("receive_failed", "err", err, "retry_in", backoff)
			continue
		}
		backoff = 0
		if len(msgs) == 0 {
			continue
		}
		p.deliver(ctx, msgs)
	}
}

func (p *Poller) deliver(ctx context.Context, msgs []sqsq.Message) {
	ev := events.SQSEvent{Records: make([]events.SQSMessage, len(msgs))}
	for i, m := range msgs {
		ev.Records[i] = events.SQSMessage{MessageId: m.ID, ReceiptHandle: m.ReceiptHandle, Body: m.Body}
	}
	resp, err := p.Handler(ctx, ev)
	if err != nil {
		p.Log.Error("batch_failed", "err", err) // the whole batch is retried after the visibility timeout
		return
	}
	failed := map[string]bool{}
	for _, f := range resp.BatchItemFailures {
		failed[f.ItemIdentifier] = true
	}
	var done []string
	for _, m := range msgs {
		if !failed[m.ID] {
			done = append(done, m.ReceiptHandle)
		}
	}
	if len(done) == 0 {
		return
	}
	// One DeleteMessageBatch per batch, as an event source mapping does. A message whose delete failed
	// comes back after the visibility timeout; handlers are idempotent.
	if err := p.Queue.DeleteBatch(context.WithoutCancel(ctx), done); err != nil {
		p.Log.Warn("delete_failed", "messages", len(done), "err", err)
	}
}
