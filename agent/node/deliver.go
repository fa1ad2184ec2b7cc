package node

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/runcmd/runcmd"
	"github.com/runcmd/runcmd/agent/internal/runner"
	"github.com/runcmd/runcmd/agent/internal/state"
	"github.com/runcmd/runcmd/internal/sqsq"
)

// maxReplyBytes keeps every reply under SQS's 256 KiB message limit, with room to spare.
const maxReplyBytes = sqsq.MaxMessageBytes - 1024

// maxSendAttempts bounds one delivery of a final reply (0.5+1+2+4+8 s of backoff); a reply still unsent
// stays journaled and the next flush, every heartbeat, tries again.
const maxSendAttempts = 6

// shrunkNote opens the trace of a reply whose inline output was cut below SSM's limits.
const shrunkNote = "Inline output was shortened to keep this reply under the 256 KiB SQS message limit; " +
	"the full output is in S3 when the command named a bucket, and in the node's state directory."

// encodeReply returns the results-queue body for r, shrinking inline output as far as needed to stay
// under maxReplyBytes; shrunk says whether it had to. It never fails for size: in the worst case the
// reply keeps only the status of each step, or only its first steps.
func encodeReply(r runcmd.Reply, seal sealFunc) (body string, shrunk bool, err error) {
	b, err := marshalReply(r, seal)
	if err != nil || len(b) <= maxReplyBytes {
		return string(b), false, err
	}
	r.Result.Plugins = append([]runcmd.PluginResult(nil), r.Result.Plugins...)
	r.Result.TraceOutput = runner.Truncate(shrunkNote+"\n"+r.Result.TraceOutput, runcmd.MaxTraceOutput)
	// Halve every step's inline output until the reply fits.
	for outMax, errMax := runcmd.MaxStdout/2, runcmd.MaxStderr/2; outMax >= 64; outMax, errMax = outMax/2, errMax/2 {
		for i := range r.Result.Plugins {
			p := &r.Result.Plugins[i]
			p.Stdout = runner.Truncate(p.Stdout, outMax)
			p.Stderr = runner.Truncate(p.Stderr, max(errMax, 32))
		}
		if b, err = marshalReply(r, seal); err != nil || len(b) <= maxReplyBytes {
			return string(b), true, err
		}
	}
	for i := range r.Result.Plugins {
		r.Result.Plugins[i].Stdout, r.Result.Plugins[i].Stderr = "", ""
	}
	// Still too big: so many steps that even their statuses do not fit. Keep the first ones.
	total := len(r.Result.Plugins)
	for {
		if b, err = marshalReply(r, seal); err != nil || len(b) <= maxReplyBytes || len(r.Result.Plugins) == 0 {
			return string(b), true, err
		}
		r.Result.Plugins = r.Result.Plugins[:len(r.Result.Plugins)/2]
		r.Result.TraceOutput = runner.Truncate(fmt.Sprintf("%s\nOnly the first %d of %d step results fit in this reply.",
			shrunkNote, len(r.Result.Plugins), total), runcmd.MaxTraceOutput)
	}
}

// sealFunc signs a result message before it is encoded; nil sends it unsigned.
type sealFunc func(*runcmd.ResultMessage) error

func marshalReply(r runcmd.Reply, seal sealFunc) ([]byte, error) {
	m := runcmd.ResultMessage{Kind: runcmd.KindReply, Reply: &r}
	if seal != nil {
		if err := seal(&m); err != nil {
			return nil, err
		}
	}
	b, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encode reply %s: %w", r.CommandID, err)
	}
	return b, nil
}

// deliver sends a journaled final reply, retrying with capped exponential backoff, and marks it sent in
// the journal. It reports whether the reply is delivered. Only one delivery of a command runs at a time.
func (a *Agent) deliver(ctx context.Context, rec state.Record) bool {
	if rec.Final == nil || rec.Sent {
		return true
	}
	id := rec.CommandID
	a.mu.Lock()
	if a.sending[id] {
		a.mu.Unlock()
		return false
	}
	a.sending[id] = true
	a.mu.Unlock()
	defer func() {
		a.mu.Lock()
		delete(a.sending, id)
		a.mu.Unlock()
	}()

	// The journal is the truth: a caller's copy may predate a delivery that just finished.
	if cur, err := a.journal.Get(id); err == nil {
		if cur.Sent {
			return true
		}
		rec = cur
	}
	if rec.Final == nil {
		return true
	}
	log := a.log.With("command_id", id)
	wait := newBackoff(500*time.Millisecond, 30*time.Second)
	for attempt := 1; ; attempt++ {
		r := *rec.Final
		r.SentAt = a.now()
		body, shrunk, err := encodeReply(r, a.seal)
		if err != nil {
			log.Error("reply_encode_failed", "err", err)
			return false
		}
		if shrunk {
			log.Warn("reply_output_shrunk", "bytes", len(body))
		}
		if err = a.deps.Outbox.Send(ctx, body); err == nil {
			rec.Sent, rec.UpdatedAt = true, a.now()
			if err := a.journal.Put(rec); err != nil {
				// The reply may be sent again after a restart; the service applies it once.
				log.Error("journal_write_failed", "err", err)
			}
			log.Info("reply_sent", "status", string(r.Detail))
			return true
		}
		log.Warn("reply_send_failed", "attempt", attempt, "err", err)
		if attempt >= maxSendAttempts || !sleep(ctx, wait.next()) {
			log.Warn("reply_deferred")
			return false
		}
	}
}

// flush sends every journaled final reply not yet sent, oldest first, and stops at the first one that
// cannot be delivered (the queue is probably unreachable; the next flush tries again).
func (a *Agent) flush(ctx context.Context) {
	recs, err := a.journal.List()
	if err != nil {
		a.log.Error("journal_read_failed", "err", err)
	}
	for _, r := range recs {
		if r.Phase != state.PhaseFinished || r.Sent || r.Final == nil {
			continue
		}
		if ctx.Err() != nil || !a.deliver(ctx, r) {
			return
		}
	}
}

// heartbeatLoop announces the node at once and every runcmd.HeartbeatInterval, flushes unsent replies
// after each heartbeat and whenever poll finds SQS reachable again after an outage (a reply that gave
// up during the outage would otherwise wait up to a heartbeat interval), and prunes the journal once a
// day.
func (a *Agent) heartbeatLoop(ctx context.Context) {
	t := time.NewTicker(runcmd.HeartbeatInterval)
	defer t.Stop()
	lastPrune := a.now()
	beat := true
	for {
		if beat {
			a.heartbeat(ctx)
		}
		a.flush(ctx)
		if a.now().Sub(lastPrune) >= 24*time.Hour {
			a.prune()
			lastPrune = a.now()
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			beat = true
		case <-a.reachable:
			beat = false
		}
	}
}

func (a *Agent) heartbeat(ctx context.Context) {
	f := a.facts()
	hb := runcmd.Heartbeat{
		InstanceID:      a.id,
		ComputerName:    f.ComputerName,
		IPAddress:       f.IPAddress,
		PlatformType:    f.PlatformType,
		PlatformName:    f.PlatformName,
		PlatformVersion: f.PlatformVersion,
		AgentVersion:    Version,
		QueueURL:        a.cfg.QueueURL,
		Tags:            a.cfg.Tags,
		At:              a.now(),
	}
	m := runcmd.ResultMessage{Kind: runcmd.KindHeartbeat, Heartbeat: &hb}
	if err := a.seal(&m); err != nil {
		a.log.Error("heartbeat_sign_failed", "err", err)
		return
	}
	b, err := json.Marshal(m)
	if err != nil {
		a.log.Error("heartbeat_encode_failed", "err", err)
		return
	}
	if err := a.deps.Outbox.Send(ctx, string(b)); err != nil && ctx.Err() == nil {
		a.log.Warn("heartbeat_failed", "err", err)
	}
}

// prune forgets delivered jobs older than journalKeep and deletes their step folders.
func (a *Agent) prune() {
	pruned, err := a.journal.Prune(a.now().Add(-journalKeep))
	if err != nil {
		a.log.Error("journal_prune_failed", "err", err)
	}
	for _, id := range pruned {
		if err := a.state.RemoveOrchestration(id); err != nil {
			a.log.Warn("orchestration_cleanup_failed", "command_id", id, "err", err)
		}
	}
}

// recover settles the journal after a start: jobs that were running when the agent died are reported
// Failed (never run again), and jobs received but never started are handed back to the workers. Unsent
// replies are left for the first flush.
func (a *Agent) recover() []*job {
	now := a.now()
	a.prune()
	recs, err := a.journal.List()
	if err != nil {
		a.log.Error("journal_read_failed", "err", err)
	}
	var pending []*job
	for _, rec := range recs {
		switch rec.Phase {
		case state.PhaseRunning:
			rec.Phase, rec.UpdatedAt = state.PhaseFinished, now
			rec.Final = &runcmd.Reply{CommandID: rec.CommandID, InstanceID: a.id, Detail: runcmd.DetailFailed,
				Result: runcmd.Result{ResponseCode: -1, StartedAt: rec.StartedAt, EndedAt: now,
					TraceOutput: "The agent restarted while this command was running (it was stopped or crashed " +
						"mid-step), so the result of the running step is unknown. The command was not run again."}}
			if err := a.journal.Put(rec); err != nil {
				a.log.Error("journal_write_failed", "command_id", rec.CommandID, "err", err)
			}
			a.log.Warn("command_interrupted_by_restart", "command_id", rec.CommandID)
		case state.PhaseReceived, state.PhaseRebooting:
			// Received: never started. Rebooting: a step asked for a reboot; it runs again now.
			pending = append(pending, a.register(rec)) // a cancel message finds it at once
		}
	}
	return pending
}

// requeue hands jobs received before a restart to the workers, as slots free up. Jobs it does not get
// to before shutdown stay journaled for the next start.
func (a *Agent) requeue(ctx context.Context, jobs []*job) {
	for _, j := range jobs {
		select {
		case a.slots <- struct{}{}:
		case <-ctx.Done():
			return
		}
		if ctx.Err() != nil {
			<-a.slots
			return
		}
		a.log.Info("command_resumed", "command_id", j.rec.CommandID)
		a.queue <- j
	}
}
