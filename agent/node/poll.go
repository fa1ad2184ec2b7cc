package node

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/runcmd/runcmd"
	"github.com/runcmd/runcmd/agent/internal/runner"
	"github.com/runcmd/runcmd/agent/internal/state"
)

// opTimeout bounds a single queue or journal operation done on behalf of a message, even while the agent
// shuts down (a received message should still be recorded and acknowledged).
const opTimeout = 20 * time.Second

// probeWait is the wait of the first receive after errors. Not 0: the SDK leaves a zero
// WaitTimeSeconds out of the request, and the node queue's own ReceiveMessageWaitTimeSeconds (20 s)
// then applies.
const probeWait = time.Second

// poll long-polls the inbox until ctx ends. It never blocks on running jobs, so a cancel message is seen
// within one receive call. After receive errors the next receive waits only probeWait (a long poll
// that succeeds says so only when it ends, up to PollWait later); when it succeeds SQS is reachable
// again, and poll asks heartbeatLoop to deliver the replies journaled meanwhile at once instead of at
// the next heartbeat.
func (a *Agent) poll(ctx context.Context) {
	backoff := newBackoff(time.Second, 30*time.Second)
	failing := false
	for ctx.Err() == nil {
		wait := PollWait
		if failing {
			wait = probeWait
		}
		msgs, err := a.deps.Inbox.Receive(ctx, PollMax, wait)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			a.log.Warn("receive_failed", "err", err)
			failing = true
			if !sleep(ctx, backoff.next()) {
				return
			}
			continue
		}
		backoff.reset()
		if failing {
			failing = false
			a.log.Info("receive_recovered")
			select {
			case a.reachable <- struct{}{}:
			default: // a flush is already asked for
			}
		}
		for _, m := range msgs {
			a.handle(ctx, m)
		}
	}
}

// handle decides what one message means. Malformed or foreign messages are logged and deleted: they
// would fail the same way on every delivery.
func (a *Agent) handle(ctx context.Context, m Message) {
	opCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), opTimeout)
	defer cancel()
	var nm runcmd.NodeMessage
	if err := json.Unmarshal([]byte(m.Body), &nm); err != nil {
		a.log.Error("message_malformed", "message_id", m.ID, "err", err)
		a.ack(opCtx, m, "")
		return
	}
	log := a.log.With("command_id", nm.CommandID)
	switch {
	case nm.InstanceID != "" && nm.InstanceID != a.id:
		log.Error("message_for_other_node", "message_id", m.ID, "target", nm.InstanceID)
		a.ack(opCtx, m, nm.CommandID)
		return
	case !state.ValidCommandID(nm.CommandID):
		log.Error("message_bad_command_id", "message_id", m.ID)
		a.ack(opCtx, m, nm.CommandID)
		return
	}
	switch nm.Kind {
	case runcmd.KindSend:
		a.accept(opCtx, m, nm)
	case runcmd.KindCancel:
		a.cancelJob(opCtx, m, nm)
	default:
		log.Error("message_unknown_kind", "message_id", m.ID, "kind", nm.Kind)
		a.ack(opCtx, m, nm.CommandID)
	}
}

// ack deletes a handled message. A failed delete is only logged: the message comes back and is then
// recognised as a duplicate through the journal.
func (a *Agent) ack(ctx context.Context, m Message, commandID string) {
	if err := a.deps.Inbox.Delete(ctx, m.ReceiptHandle); err != nil {
		a.log.Warn("delete_failed", "command_id", commandID, "message_id", m.ID, "err", err)
	}
}

// accept journals a send and hands it to a worker, or recognises a duplicate. The message is deleted
// only after the journal has the job.
func (a *Agent) accept(ctx context.Context, m Message, nm runcmd.NodeMessage) {
	log := a.log.With("command_id", nm.CommandID)
	_, err := a.journal.Get(nm.CommandID)
	switch {
	case err == nil:
		log.Info("duplicate_message", "message_id", m.ID)
		a.ack(ctx, m, nm.CommandID)
		return
	case !errors.Is(err, state.ErrNotFound):
		log.Error("journal_read_failed", "err", err) // the message comes back; try again then
		return
	}
	now := a.now()
	if expired(nm, now) {
		rec := state.Record{CommandID: nm.CommandID, Phase: state.PhaseDropped, Note: "expired before it could start",
			ReceivedAt: now, UpdatedAt: now}
		if err := a.journal.Create(rec); err != nil && !errors.Is(err, state.ErrExists) {
			log.Error("journal_write_failed", "err", err)
			return
		}
		log.Warn("command_expired", "expires_at", nm.ExpiresAt)
		a.ack(ctx, m, nm.CommandID)
		return
	}
	select {
	case a.slots <- struct{}{}:
	default:
		// Every worker is busy and the backlog is full: leave the message on the queue; it becomes
		// visible again after the queue's visibility timeout.
		log.Warn("backlog_full", "message_id", m.ID)
		return
	}
	rec := state.Record{CommandID: nm.CommandID, Phase: state.PhaseReceived, Message: &nm, ReceivedAt: now, UpdatedAt: now}
	if err := a.journal.Create(rec); err != nil {
		<-a.slots
		if errors.Is(err, state.ErrExists) {
			log.Info("duplicate_message", "message_id", m.ID)
			a.ack(ctx, m, nm.CommandID)
			return
		}
		log.Error("journal_write_failed", "err", err)
		return
	}
	a.queue <- a.register(rec) // never blocks: the queue holds as many jobs as there are slots
	log.Info("command_received", "document", nm.DocumentName)
	a.ack(ctx, m, nm.CommandID)
}

// register makes an accepted job known to cancel messages, before it is handed to a worker.
func (a *Agent) register(rec state.Record) *job {
	ctx, cancel := context.WithCancelCause(a.workCtx)
	j := &job{rec: rec, ctx: ctx, cancel: cancel}
	a.mu.Lock()
	a.jobs[rec.CommandID] = j
	a.mu.Unlock()
	return j
}

// cancelJob handles a cancel message: a running or waiting job is cancelled (its worker reports
// Cancelled); a finished one is left alone; an unknown one is journaled as cancelled so that a send
// arriving later (SQS does not keep order) is never run.
func (a *Agent) cancelJob(ctx context.Context, m Message, nm runcmd.NodeMessage) {
	log := a.log.With("command_id", nm.CommandID)
	a.mu.Lock()
	j := a.jobs[nm.CommandID]
	a.mu.Unlock()
	if j != nil {
		j.cancel(runner.ErrCancelled)
		log.Info("command_cancel_requested")
		a.ack(ctx, m, nm.CommandID)
		return
	}
	rec, err := a.journal.Get(nm.CommandID)
	switch {
	case err == nil && rec.Phase == state.PhaseRebooting:
		// Waiting for the reboot to resume it: it must not resume.
		now := a.now()
		log.Info("command_cancelled_during_reboot")
		a.ack(ctx, m, nm.CommandID)
		a.bg.Go(func() {
			a.finish(rec, runcmd.DetailCancelled, runcmd.Result{ResponseCode: -1, StartedAt: rec.StartedAt, EndedAt: now,
				Plugins: rec.Done, TraceOutput: "The command was cancelled while the node rebooted; the rest of it did not run."})
		})
		return
	case err == nil:
		log.Info("cancel_for_finished_command")
		a.ack(ctx, m, nm.CommandID)
		return
	case !errors.Is(err, state.ErrNotFound):
		log.Error("journal_read_failed", "err", err)
		return
	}
	now := a.now()
	rec = state.Record{CommandID: nm.CommandID, Phase: state.PhaseFinished, ReceivedAt: now, UpdatedAt: now,
		Note: "cancelled before it was received",
		Final: &runcmd.Reply{CommandID: nm.CommandID, InstanceID: a.id, Detail: runcmd.DetailCancelled,
			Result: runcmd.Result{ResponseCode: -1, StartedAt: now, EndedAt: now,
				TraceOutput: "The command was cancelled before the node received it; nothing ran."}}}
	if err := a.journal.Create(rec); err != nil {
		if errors.Is(err, state.ErrExists) {
			a.ack(ctx, m, nm.CommandID)
			return
		}
		log.Error("journal_write_failed", "err", err)
		return
	}
	log.Info("command_cancelled_before_receipt")
	a.ack(ctx, m, nm.CommandID)
	a.bg.Go(func() { a.deliver(a.sendCtx, rec) })
}

func expired(nm runcmd.NodeMessage, now time.Time) bool {
	return !nm.ExpiresAt.IsZero() && now.After(nm.ExpiresAt)
}

// sleep waits d or until ctx ends; it reports whether the wait completed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// backoff doubles a delay from min up to max.
type backoff struct {
	min, max, cur time.Duration
}

func newBackoff(min, max time.Duration) *backoff { return &backoff{min: min, max: max} }

func (b *backoff) next() time.Duration {
	if b.cur == 0 {
		b.cur = b.min
	} else {
		b.cur = min(2*b.cur, b.max)
	}
	return b.cur
}

func (b *backoff) reset() { b.cur = 0 }
