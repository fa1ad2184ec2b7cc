package node

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/runcmd/runcmd"
	"github.com/runcmd/runcmd/agent/internal/runner"
	"github.com/runcmd/runcmd/agent/internal/state"
	"github.com/runcmd/runcmd/documents"
)

// job is an accepted command: journaled, waiting for or held by a worker.
type job struct {
	rec    state.Record
	ctx    context.Context // cancelled with runner.ErrCancelled on a cancel message
	cancel context.CancelCauseFunc
}

// runJob runs one accepted job to its final, journaled and (if the queue allows) sent reply.
func (a *Agent) runJob(j *job) {
	id := j.rec.CommandID
	log := a.log.With("command_id", id)
	defer func() {
		a.mu.Lock()
		delete(a.jobs, id)
		a.mu.Unlock()
		j.cancel(nil)
		<-a.slots
	}()
	msg := j.rec.Message
	now := a.now()
	rec := j.rec
	resuming := rec.Phase == state.PhaseRebooting
	// A cancel wins over everything: after it the command must never run, not even after a restart.
	switch {
	case errors.Is(context.Cause(j.ctx), runner.ErrCancelled):
		a.finish(rec, runcmd.DetailCancelled, runcmd.Result{ResponseCode: -1, StartedAt: cmp.Or(rec.StartedAt, now), EndedAt: now,
			Plugins: rec.Done, TraceOutput: "The command was cancelled before it started (or before it resumed after a reboot)."})
		return
	case a.stopping.Load():
		log.Info("command_deferred_to_restart") // still journaled as received (or rebooting)
		return
	case msg == nil:
		a.finish(rec, runcmd.DetailFailed, runcmd.Result{ResponseCode: -1, StartedAt: now, EndedAt: now,
			TraceOutput: "The agent lost this command's message before it could start; nothing ran."})
		return
	case !resuming && expired(*msg, now):
		rec.Phase, rec.Message, rec.Note, rec.UpdatedAt = state.PhaseDropped, nil, "expired before it could start", now
		if err := a.journal.Put(rec); err != nil {
			log.Error("journal_write_failed", "err", err)
		}
		log.Warn("command_expired", "expires_at", msg.ExpiresAt)
		return
	}
	startedAt := now
	if resuming {
		startedAt = rec.StartedAt
	}

	// Running from here on: a restart must report this job, never run it again. Parameter values
	// leave the disk with the message (a reboot request puts it back, see reboot).
	rec.Phase, rec.Message, rec.StartedAt, rec.UpdatedAt = state.PhaseRunning, nil, startedAt, now
	if err := a.journal.Put(rec); err != nil {
		log.Error("journal_write_failed", "err", err)
		a.finish(rec, runcmd.DetailFailed, runcmd.Result{ResponseCode: -1, StartedAt: startedAt, EndedAt: a.now(),
			Plugins: rec.Done, TraceOutput: "The agent could not record the command in its state directory, so it did not run it."})
		return
	}
	if resuming {
		log.Info("command_resumed_after_reboot", "document", msg.DocumentName, "step", rec.ResumeStep)
	} else {
		log.Info("command_started", "document", msg.DocumentName)
	}
	progress := a.startProgress(id, startedAt, rec.Done, msg.Wake)
	defer progress.stop() // for the paths below that do not stop it before their reply

	steps, err := prepare(*msg)
	if err != nil {
		log.Warn("document_rejected", "document", msg.DocumentName, "err_code", runcmd.ErrorCode(err))
		progress.stop()
		a.finish(rec, runcmd.DetailFailed, runcmd.Result{ResponseCode: -1, StartedAt: startedAt, EndedAt: a.now(),
			TraceOutput: runner.Truncate("The node rejected the document: "+runcmd.ErrorMessage(err), runcmd.MaxTraceOutput)})
		return
	}
	out := a.runner.RunJob(j.ctx, runner.Job{
		CommandID:         id,
		Steps:             steps,
		OutputS3Bucket:    msg.OutputS3Bucket,
		OutputS3KeyPrefix: msg.OutputS3KeyPrefix,
		StartAt:           rec.ResumeStep,
		Prior:             rec.Done,
	})
	// The outcome exists: no started reply may be decided from here on.
	progress.end()
	out.Result.StartedAt = startedAt
	if out.Reboot {
		progress.wait()
		a.reboot(rec, msg, out) // sends its own InProgress reply, with the steps done so far
		return
	}
	// Journal first, so that a started reply still being sent never delays the record that survives
	// a crash; then let that reply return, so that the final reply is the last one sent.
	rec = a.journalFinal(rec, out.Detail, out.Result)
	progress.wait()
	a.deliver(a.sendCtx, rec)
}

// prepare parses, validates and renders the document again on the node: allowedPattern and
// allowedValues are enforced here as well as at send time.
func prepare(msg runcmd.NodeMessage) ([]documents.RenderedStep, error) {
	doc, err := documents.Parse([]byte(msg.DocumentContent), "")
	if err != nil {
		return nil, fmt.Errorf("parse document of %s: %w", msg.CommandID, err)
	}
	vals, err := doc.ResolveParameters(msg.Parameters)
	if err != nil {
		return nil, fmt.Errorf("resolve parameters of %s: %w", msg.CommandID, err)
	}
	steps, err := doc.Render(vals, noParamStore)
	if err != nil {
		return nil, fmt.Errorf("render document of %s: %w", msg.CommandID, err)
	}
	return steps, nil
}

// noParamStore answers {{ssm:...}} references: the service resolves them at send time, and a node has
// no access to Parameter Store.
var noParamStore = documents.ParamStoreFunc(func(ref string) (string, error) {
	return "", runcmd.Errorf(runcmd.EINVALID, "InvalidParameters",
		"{{ssm:%s}} is resolved by the service at send time, not on the node", ref)
})

// progress is a job's started reply, pending or sent (startProgress).
type progress struct {
	timer *time.Timer   // nil when no started reply is pending
	ended atomic.Bool   // the job has an outcome: no started reply may be decided any more
	turn  chan struct{} // held while a started reply is decided and sent
}

// end makes sure no started reply is decided from now on (one already being sent goes on).
func (p *progress) end() {
	if p.timer != nil {
		p.timer.Stop()
	}
	p.ended.Store(true)
}

// wait returns once a started reply being sent, if any, has returned.
func (p *progress) wait() {
	if p.turn != nil {
		p.turn <- struct{}{}
		<-p.turn
	}
}

// stop is end, then wait. It may be called more than once.
func (p *progress) stop() {
	p.end()
	p.wait()
}

// startProgress arranges the InProgress ("started") reply of a job that starts running now. The job
// ends it once its outcome exists, and waits for it before its final reply is sent.
//
// Why the reply waits for Config.ProgressDelay: every reply costs an SQS send here and a write in
// ingest, and the target is at most 6 AWS requests per invocation. The service already shows an
// invocation InProgress when dispatch sends it; the started reply only records ExecutionStartDateTime
// early and, when the message asks (Wake), lets dispatch's slow start grow the window. Most commands
// end within a second, and their final reply carries StartedAt and wakes dispatch too, so the started
// reply is sent only for a document still running after the delay. The price: while a command ramps
// up, a long document acknowledges that much later.
//
// No stale started reply: the timer decides while holding turn and only before end, and wait takes
// turn. A started reply is therefore either decided before the job's outcome existed, and has
// returned by the time wait returns (the final reply comes after it), or never sent. turn is a
// channel, not a sync.Mutex, so that testing/synctest counts waiting for it as durably blocked.
func (a *Agent) startProgress(commandID string, startedAt time.Time, done []runcmd.PluginResult, wake bool) *progress {
	p := &progress{}
	d := a.cfg.ProgressDelay
	switch {
	case d < 0:
		return p
	case d < time.Millisecond:
		a.sendProgress(commandID, startedAt, done, wake)
		return p
	}
	p.turn = make(chan struct{}, 1)
	p.timer = time.AfterFunc(d, func() {
		p.turn <- struct{}{}
		defer func() { <-p.turn }()
		if !p.ended.Load() {
			a.sendProgress(commandID, startedAt, done, wake)
		}
	})
	return p
}

// sendProgress sends the InProgress reply. It is best effort (one retry): the final reply is what
// counts, and it is journaled and retried. wake echoes the send message's request to wake dispatch
// (slow start grows the window as nodes acknowledge).
func (a *Agent) sendProgress(commandID string, startedAt time.Time, done []runcmd.PluginResult, wake bool) {
	r := runcmd.Reply{CommandID: commandID, InstanceID: a.id, Detail: runcmd.DetailInProgress, Wake: wake,
		Result: runcmd.Result{ResponseCode: -1, StartedAt: startedAt, Plugins: done}}
	for attempt := range 2 {
		r.SentAt = a.now()
		body, _, err := encodeReply(r, a.seal)
		if err == nil {
			err = a.deps.Outbox.Send(a.sendCtx, body)
		}
		if err == nil {
			return
		}
		a.log.Warn("progress_send_failed", "command_id", commandID, "attempt", attempt+1, "err", err)
		if !sleep(a.sendCtx, time.Second) {
			return
		}
	}
}

// finish journals the final reply, then sends it.
func (a *Agent) finish(rec state.Record, detail runcmd.Detail, res runcmd.Result) {
	a.deliver(a.sendCtx, a.journalFinal(rec, detail, res))
}

// journalFinal records a job's final reply in the journal and returns the record to deliver.
func (a *Agent) journalFinal(rec state.Record, detail runcmd.Detail, res runcmd.Result) state.Record {
	now := a.now()
	if res.EndedAt.IsZero() {
		res.EndedAt = now
	}
	rec.Phase, rec.Message, rec.UpdatedAt = state.PhaseFinished, nil, now
	rec.Final = &runcmd.Reply{CommandID: rec.CommandID, InstanceID: a.id, Detail: detail, Result: res}
	if err := a.journal.Put(rec); err != nil {
		// Still send: a result the service gets is worth more than the journal entry.
		a.log.Error("journal_write_failed", "command_id", rec.CommandID, "err", err)
	}
	a.log.Info("command_finished", "command_id", rec.CommandID, "status", string(detail), "exit_code", res.ResponseCode)
	return rec
}
