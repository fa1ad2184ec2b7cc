package service

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"github.com/runcmd/runcmd"
)

// Dispatcher makes every decision about one command: resolving tag targets into invocations, sending
// the next window under MaxConcurrency with SSM's slow start, stopping at the error threshold, cancel,
// and the final status. It is fed by the FIFO dispatch queue whose message group is the command id, so
// it never runs twice at once for the same command and needs no locks.
type Dispatcher struct {
	Commands  runcmd.CommandStore
	Instances runcmd.InstanceStore
	Nodes     runcmd.NodeQueue
	Notify    *Notifications
	Now       Clock
	Log       *slog.Logger
}

// Page sizes for dispatch. markBatch stays under DynamoDB's 100-item transaction limit with the
// command update included.
const (
	resolvePage = 100
	markBatch   = 99
)

// Handle applies one dispatch message.
func (d *Dispatcher) Handle(ctx context.Context, m runcmd.DispatchMessage) error {
	switch m.Kind {
	case runcmd.DispatchStart:
		if err := d.resolve(ctx, m.CommandID); err != nil {
			return err
		}
		return d.pump(ctx, m.CommandID)
	case runcmd.DispatchPump:
		return d.pump(ctx, m.CommandID)
	case runcmd.DispatchCancel:
		return d.cancel(ctx, m.CommandID, m.InstanceIDs)
	}
	return runcmd.Errorf(runcmd.EINVALID, "", "unknown dispatch message kind %q", m.Kind)
}

// resolve turns tag targets into invocations, page by page, so memory stays flat however large the
// fleet. It is idempotent: a retried resolution re-adds the same invocations with the same Seq.
func (d *Dispatcher) resolve(ctx context.Context, commandID string) error {
	cmd, err := d.Commands.GetCommand(ctx, commandID)
	if err != nil {
		return fmt.Errorf("resolve %s: %w", commandID, err)
	}
	if cmd.Resolved {
		return nil
	}
	first, rest := cmd.Targets[0], cmd.Targets[1:]
	seq := 0
	for _, value := range first.Values { // values are ORed: query each
		key, anyValue := targetKey(first, value)
		next := ""
		for {
			ids, token, err := d.Instances.FindByTag(ctx, key, value, anyValue, resolvePage, next)
			if err != nil {
				return fmt.Errorf("resolve %s: find %s: %w", commandID, first.Key, err)
			}
			nodes, err := d.Instances.GetInstances(ctx, ids)
			if err != nil {
				return fmt.Errorf("resolve %s: get instances: %w", commandID, err)
			}
			var invs []*runcmd.Invocation
			for _, id := range ids {
				node, ok := nodes[id]
				if !ok || !matchesAll(node, rest) || matchedEarlier(node, first, value) {
					continue
				}
				seq++
				invs = append(invs, newInvocation(cmd, node, seq))
			}
			if err := d.Commands.AddInvocations(ctx, invs); err != nil {
				return fmt.Errorf("resolve %s: add invocations: %w", commandID, err)
			}
			if token == "" {
				break
			}
			next = token
		}
	}
	if err := d.Commands.SetResolved(ctx, commandID, seq); err != nil {
		return fmt.Errorf("resolve %s: %w", commandID, err)
	}
	return nil
}

// targetKey turns a target and one of its values into a FindByTag query: tag:<key> with a value, or
// tag-key whose values are tag keys.
func targetKey(t runcmd.Target, value string) (key string, anyValue bool) {
	if t.Key == "tag-key" {
		return value, true
	}
	return strings.TrimPrefix(t.Key, "tag:"), false
}

// matchedEarlier reports whether node was already found through an earlier value of the same target,
// so a node matching two ORed values gets one invocation.
func matchedEarlier(node *runcmd.Instance, t runcmd.Target, value string) bool {
	for _, v := range t.Values {
		if v == value {
			return false
		}
		if matches(node, runcmd.Target{Key: t.Key, Values: []string{v}}) {
			return true
		}
	}
	return false
}

func matchesAll(node *runcmd.Instance, targets []runcmd.Target) bool {
	for _, t := range targets {
		if !matches(node, t) {
			return false
		}
	}
	return true
}

func matches(node *runcmd.Instance, t runcmd.Target) bool {
	for _, v := range t.Values {
		key, anyValue := targetKey(t, v)
		got, ok := node.Tags[key]
		if ok && (anyValue || got == v) {
			return true
		}
	}
	return false
}

// limits returns the concurrency and error limits of a command as counts.
func limits(cmd *runcmd.Command) (maxConc, maxErr int) {
	maxConc, _ = runcmd.ParseRate(cmd.MaxConcurrency, cmd.TargetCount)
	maxConc = max(maxConc, 1)
	maxErr, _ = runcmd.ParseRate(cmd.MaxErrors, cmd.TargetCount)
	return maxConc, maxErr
}

// slowStart is SSM's ramp: one node first; each time a node acknowledges (its InProgress reply wakes
// dispatch) or finishes, the number allowed in flight grows to twice the number sent plus one, until
// MaxConcurrency (docs/compatibility.md). A fleet that does not answer never gets more than the first.
func slowStart(cmd *runcmd.Command, maxConc int) int {
	return min(maxConc, 2*cmd.Dispatched+1)
}

// pump sends the next window of invocations, stops at the error threshold, and finishes the command
// when every invocation has ended.
func (d *Dispatcher) pump(ctx context.Context, commandID string) error {
	cmd, err := d.Commands.GetCommand(ctx, commandID)
	if err != nil {
		return fmt.Errorf("pump %s: %w", commandID, err)
	}
	if cmd.Detail.Terminal() || !cmd.Resolved {
		return nil
	}
	maxConc, maxErr := limits(cmd)
	exceeded := cmd.ErrorCount() > maxErr
	switch {
	case exceeded || cmd.Detail == runcmd.CommandDetailCancelling:
		to := runcmd.DetailTerminated
		if !exceeded {
			to = runcmd.DetailCancelled
		}
		if err := d.endUnsent(ctx, cmd, to); err != nil {
			return err
		}
	default:
		limit := slowStart(cmd, maxConc)
		window := limit - cmd.InFlight()
		if cmd.ExactMaxErrors {
			// Even if everything in flight fails, the errors stop at MaxErrors+1.
			window = min(window, maxErr+1-cmd.ErrorCount()-cmd.InFlight())
		}
		sent, ended, err := d.sendWindow(ctx, cmd, window, limit < maxConc)
		switch {
		case err != nil || sent > 0:
			return err // what was just sent is in flight: the command cannot have ended
		case ended == 0:
			return d.finishAsRead(ctx, cmd) // nothing changed since it was read
		}
	}
	return d.finish(ctx, commandID)
}

// sendWindow sends up to n more invocations in Seq order and returns how many it sent and how many it
// ended instead (Invalid Platform); ramping asks their nodes to wake dispatch when they acknowledge. The
// InProgress notifications of a page go out together after its sends. A command cancelled meanwhile
// sends nothing more (its cancel message ends the rest).
func (d *Dispatcher) sendWindow(ctx context.Context, cmd *runcmd.Command, n int, ramping bool) (total, ended int, err error) {
	notes := d.Notify.Outbox()
	defer d.flush(ctx, notes, cmd.CommandID)
	// Seq runs 1..TargetCount, so a cursor at the end means every invocation has been looked at.
	cursor := cmd.Cursor
	for n > 0 && cursor < cmd.TargetCount {
		page, err := d.Commands.PendingInvocations(ctx, cmd.CommandID, cursor, min(n, markBatch))
		if err != nil {
			return total, ended, fmt.Errorf("pump %s: pending: %w", cmd.CommandID, err)
		}
		if len(page) == 0 {
			return total, ended, nil
		}
		var batch []*runcmd.Invocation
		for _, inv := range page {
			cursor = inv.Seq
			switch {
			case inv.Detail != runcmd.DetailPending:
			case !supports(cmd, inv):
				if err := d.transition(ctx, cmd.CommandID, inv.InstanceID, runcmd.DetailInvalidPlatform); err != nil {
					return total, ended, err
				}
				ended++
			default:
				batch = append(batch, inv)
			}
		}
		// Recording the send before sending means a reply can never arrive for an invocation the
		// store still thinks is Pending.
		sent, err := d.Commands.MarkSent(ctx, cmd.CommandID, batch, cursor, d.Now().UTC())
		switch runcmd.ErrorCode(err) {
		case "":
		case runcmd.ECONFLICT:
			return total, ended, nil
		default:
			return total, ended, fmt.Errorf("pump %s: mark sent: %w", cmd.CommandID, err)
		}
		now := d.Now().UTC()
		if len(sent) > 0 && cmd.Detail == runcmd.CommandDetailPending {
			cmd.Detail = runcmd.CommandDetailInProgress
			notes.Command(cmd, now)
		}
		for _, inv := range sent {
			inv.Detail = runcmd.DetailInProgress
			d.deliver(ctx, cmd, inv, ramping)
			notes.Invocation(inv, now)
		}
		d.flush(ctx, notes, cmd.CommandID)
		n -= len(sent)
		total += len(sent)
	}
	return total, ended, nil
}

// flush publishes collected status changes. They are already stored, so a failed publication is
// logged, not retried.
func (d *Dispatcher) flush(ctx context.Context, notes *Outbox, commandID string) {
	if err := notes.Flush(ctx); err != nil {
		d.Log.Warn("notify_failed", "command_id", commandID, "err", err)
	}
}

// supports reports whether the command's document runs on the invocation's node.
func supports(cmd *runcmd.Command, inv *runcmd.Invocation) bool {
	return inv.PlatformType == "" || len(cmd.PlatformTypes) == 0 || slices.Contains(cmd.PlatformTypes, inv.PlatformType)
}

// deliver puts one invocation on its node's queue. A node whose queue cannot take the message is
// Undeliverable: the send is not retried, as SSM does not redeliver to a node that is gone.
func (d *Dispatcher) deliver(ctx context.Context, cmd *runcmd.Command, inv *runcmd.Invocation, wake bool) {
	msg := runcmd.NodeMessage{
		Kind:              runcmd.KindSend,
		CommandID:         cmd.CommandID,
		InstanceID:        inv.InstanceID,
		DocumentName:      cmd.DocumentName,
		DocumentVersion:   cmd.DocumentVersion,
		DocumentContent:   cmd.DocumentContent,
		Parameters:        cmd.Parameters,
		OutputS3Bucket:    cmd.OutputS3Bucket,
		OutputS3KeyPrefix: cmd.OutputS3KeyPrefix,
		ExpiresAt:         inv.ExpiresAt,
		Wake:              wake,
	}
	err := d.Nodes.Send(ctx, inv.QueueURL, msg)
	if err == nil {
		return
	}
	d.Log.Warn("deliver_failed", "command_id", cmd.CommandID, "instance_id", inv.InstanceID, "err", err)
	err = d.apply(ctx, runcmd.Transition{
		CommandID: cmd.CommandID, InstanceID: inv.InstanceID, To: runcmd.DetailUndeliverable, At: d.Now().UTC(),
		Result: &runcmd.Result{TraceOutput: "The node's queue could not be reached."},
	})
	if err != nil {
		d.Log.Error("mark_undeliverable_failed", "command_id", cmd.CommandID, "instance_id", inv.InstanceID, "err", err)
	}
}

// endUnsent moves every invocation not yet sent to a terminal detail: Terminated after MaxErrors,
// Cancelled after CancelCommand.
func (d *Dispatcher) endUnsent(ctx context.Context, cmd *runcmd.Command, to runcmd.Detail) error {
	after := cmd.Cursor
	for {
		page, err := d.Commands.PendingInvocations(ctx, cmd.CommandID, after, resolvePage)
		if err != nil {
			return fmt.Errorf("end unsent %s: %w", cmd.CommandID, err)
		}
		if len(page) == 0 {
			return nil
		}
		for _, inv := range page {
			after = inv.Seq
			if inv.Detail != runcmd.DetailPending {
				continue
			}
			if err := d.transition(ctx, cmd.CommandID, inv.InstanceID, to); err != nil {
				return err
			}
		}
	}
}

// transition applies one service-side transition; losing a race to a reply is not an error.
func (d *Dispatcher) transition(ctx context.Context, commandID, instanceID string, to runcmd.Detail) error {
	return d.apply(ctx, runcmd.Transition{CommandID: commandID, InstanceID: instanceID, To: to, At: d.Now().UTC()})
}

// apply stores a transition and publishes it. Losing a race to a reply is not an error.
func (d *Dispatcher) apply(ctx context.Context, t runcmd.Transition) error {
	inv, err := d.Commands.Transition(ctx, t)
	switch runcmd.ErrorCode(err) {
	case "":
		d.notifyInvocation(ctx, inv)
		return nil
	case runcmd.ECONFLICT:
		return nil
	}
	return fmt.Errorf("transition %s/%s to %s: %w", t.CommandID, t.InstanceID, t.To, err)
}

// notifyInvocation and notifyCommand publish a status change. The change is already stored, so a
// failed publication is logged, not retried.
func (d *Dispatcher) notifyInvocation(ctx context.Context, inv *runcmd.Invocation) {
	if err := d.Notify.Invocation(ctx, inv, d.Now().UTC()); err != nil {
		d.Log.Warn("notify_failed", "command_id", inv.CommandID, "instance_id", inv.InstanceID, "err", err)
	}
}

func (d *Dispatcher) notifyCommand(ctx context.Context, cmd *runcmd.Command) {
	if err := d.Notify.Command(ctx, cmd, d.Now().UTC()); err != nil {
		d.Log.Warn("notify_failed", "command_id", cmd.CommandID, "err", err)
	}
}

// finish sets the final status once every invocation has ended.
func (d *Dispatcher) finish(ctx context.Context, commandID string) error {
	cmd, err := d.Commands.GetCommand(ctx, commandID)
	if err != nil {
		return fmt.Errorf("finish %s: %w", commandID, err)
	}
	return d.finishAsRead(ctx, cmd)
}

// finishAsRead is finish for a command just read.
func (d *Dispatcher) finishAsRead(ctx context.Context, cmd *runcmd.Command) error {
	commandID := cmd.CommandID
	if cmd.Detail.Terminal() || !cmd.Resolved || cmd.CompletedCount() < cmd.TargetCount {
		return nil
	}
	_, maxErr := limits(cmd)
	final := runcmd.FinalDetail(cmd.Counts, cmd.ErrorCount() > maxErr)
	if cmd.Detail == runcmd.CommandDetailCancelling && final != runcmd.CommandDetailSuccess {
		final = runcmd.CommandDetailCancelled
	}
	err := d.Commands.SetCommandDetail(ctx, commandID,
		[]runcmd.CommandDetail{runcmd.CommandDetailPending, runcmd.CommandDetailInProgress, runcmd.CommandDetailCancelling}, final)
	switch runcmd.ErrorCode(err) {
	case "":
		cmd.Detail = final
		d.notifyCommand(ctx, cmd)
		return nil
	case runcmd.ECONFLICT:
		return nil
	}
	return fmt.Errorf("finish %s: %w", commandID, err)
}

// cancel ends unsent invocations at once and asks the nodes running the others to stop them.
func (d *Dispatcher) cancel(ctx context.Context, commandID string, instanceIDs []string) error {
	cmd, err := d.Commands.GetCommand(ctx, commandID)
	if err != nil {
		return fmt.Errorf("cancel %s: %w", commandID, err)
	}
	if cmd.Detail.Terminal() {
		return nil
	}
	if len(instanceIDs) == 0 {
		if err := d.endUnsent(ctx, cmd, runcmd.DetailCancelled); err != nil {
			return err
		}
	}
	each := func(inv *runcmd.Invocation) error {
		switch inv.Detail {
		case runcmd.DetailPending, runcmd.DetailDelayed:
			return d.transition(ctx, commandID, inv.InstanceID, runcmd.DetailCancelled)
		case runcmd.DetailInProgress:
			if err := d.transition(ctx, commandID, inv.InstanceID, runcmd.DetailCancelling); err != nil {
				return err
			}
			msg := runcmd.NodeMessage{Kind: runcmd.KindCancel, CommandID: commandID, InstanceID: inv.InstanceID}
			if err := d.Nodes.Send(ctx, inv.QueueURL, msg); err != nil {
				return fmt.Errorf("cancel %s/%s: send: %w", commandID, inv.InstanceID, err)
			}
		}
		return nil
	}
	if len(instanceIDs) > 0 {
		for _, id := range instanceIDs {
			inv, err := d.Commands.GetInvocation(ctx, commandID, id)
			if err != nil {
				return fmt.Errorf("cancel %s/%s: %w", commandID, id, err)
			}
			if err := each(inv); err != nil {
				return err
			}
		}
		return d.finish(ctx, commandID)
	}
	q := runcmd.InvocationQuery{CommandID: commandID, Limit: resolvePage}
	for {
		page, err := d.Commands.ListInvocations(ctx, q)
		if err != nil {
			return fmt.Errorf("cancel %s: list: %w", commandID, err)
		}
		for _, inv := range page.Invocations {
			if err := each(inv); err != nil {
				return err
			}
		}
		if page.NextToken == "" {
			return d.finish(ctx, commandID)
		}
		q.NextToken = page.NextToken
	}
}

// Sweeper ends invocations whose total timeout (delivery + execution) has passed, even when their node
// never answers again, and asks dispatch to decide what follows.
type Sweeper struct {
	Commands runcmd.CommandStore
	Dispatch runcmd.DispatchQueue
	Notify   *Notifications
	Now      Clock
}

// sweepPage bounds the work of one sweep pass; the next pass (a minute later) takes the rest.
const sweepPage = 500

// Sweep runs one pass and returns how many invocations it timed out.
func (s *Sweeper) Sweep(ctx context.Context) (int, error) {
	now := s.Now().UTC()
	keys, err := s.Commands.ExpiredInvocations(ctx, now, sweepPage)
	if err != nil {
		return 0, fmt.Errorf("sweep: %w", err)
	}
	touched := map[string]bool{}
	n := 0
	notes := s.Notify.Outbox()
	for _, k := range keys {
		to, err := s.timeout(ctx, k)
		if err != nil {
			return n, err
		}
		inv, err := s.Commands.Transition(ctx, runcmd.Transition{CommandID: k.CommandID, InstanceID: k.InstanceID, To: to, At: now})
		switch runcmd.ErrorCode(err) {
		case "":
			n++
			touched[k.CommandID] = true
			notes.Invocation(inv, now)
		case runcmd.ECONFLICT:
		default:
			return n, fmt.Errorf("sweep %s/%s: %w", k.CommandID, k.InstanceID, err)
		}
	}
	notifyErr := notes.Flush(ctx)
	for id := range touched {
		if err := s.Dispatch.Enqueue(ctx, runcmd.DispatchMessage{Kind: runcmd.DispatchPump, CommandID: id}); err != nil {
			return n, fmt.Errorf("sweep: enqueue pump %s: %w", id, err)
		}
	}
	return n, notifyErr
}

// timeout decides how an expired invocation ends: Execution Timed Out when its node reported the start
// (the run outlived its execution timeout, even if the node never answers again), else Delivery Timed Out.
func (s *Sweeper) timeout(ctx context.Context, k runcmd.InvocationKey) (runcmd.Detail, error) {
	inv, err := s.Commands.GetInvocation(ctx, k.CommandID, k.InstanceID)
	if err != nil {
		return "", fmt.Errorf("sweep %s/%s: %w", k.CommandID, k.InstanceID, err)
	}
	if !inv.Result.StartedAt.IsZero() && (inv.Detail == runcmd.DetailInProgress || inv.Detail == runcmd.DetailCancelling) {
		return runcmd.DetailExecutionTimedOut, nil
	}
	return runcmd.DetailDeliveryTimedOut, nil
}

// Ingester applies what agents report: heartbeats refresh registered nodes; replies move
// invocations, exactly once, and wake dispatch when an invocation ends. Every message must be signed by
// the node it speaks for (trust.go); a reply must be for an invocation sent to that node. Rejected
// messages are audited and acknowledged.
type Ingester struct {
	Commands  runcmd.CommandStore
	Instances runcmd.InstanceStore
	Dispatch  runcmd.DispatchQueue
	Notify    *Notifications
	Now       Clock
	Log       *slog.Logger
	// Keys verifies signatures; Registry records heartbeats of registered nodes; Audit records
	// rejections.
	Keys     *NodeKeys
	Registry runcmd.NodeRegistry
	Audit    runcmd.AuditStore
	// Compliance stores patch reports (patchingest.go); nil rejects them.
	Compliance runcmd.ComplianceStore
	// InsecureAcceptUnsigned is a local-only switch for tests and tools that predate activations:
	// unsigned messages are accepted and an unsigned heartbeat registers its node, as before. Never set
	// it in the functions.
	InsecureAcceptUnsigned bool
}

// Handle applies one batch of results. Replies that are duplicates or stale are acknowledged and
// change nothing. It returns, per message, nil or the error that should make it retry. The batch's
// replies are stored together (CommandStore.Transitions), their notifications published together, and
// the commands that need a dispatch pump are woken once per batch.
func (g *Ingester) Handle(ctx context.Context, batch []runcmd.ResultMessage) []error {
	errs := make([]error, len(batch))
	keys, err := g.signerKeys(ctx, batch)
	if err != nil {
		for i := range errs {
			errs[i] = err
		}
		return errs
	}
	var replies []int
	for i, m := range batch {
		if errs[i] = g.authenticate(ctx, m, keys); errs[i] != nil {
			continue
		}
		if m.Kind == runcmd.KindReply && m.Reply != nil {
			if d := m.Reply.Detail; !d.Valid() || d == runcmd.DetailPending {
				errs[i] = runcmd.Errorf(runcmd.EINVALID, "", "reply with invalid detail %q", d)
				continue
			}
			replies = append(replies, i)
			continue
		}
		errs[i] = g.apply(ctx, m)
	}
	wake := g.applyReplies(ctx, batch, replies, errs)
	for _, id := range wake {
		if err := g.Dispatch.Enqueue(ctx, runcmd.DispatchMessage{Kind: runcmd.DispatchPump, CommandID: id}); err != nil {
			// The transition is stored; the next reply or the sweep wakes dispatch again. Report the
			// failure on the messages of this command so they are retried (harmlessly).
			for i, m := range batch {
				if m.Reply != nil && m.Reply.CommandID == id && errs[i] == nil {
					errs[i] = fmt.Errorf("enqueue pump %s: %w", id, err)
				}
			}
		}
	}
	return errs
}

// applyReplies stores the authenticated replies batch[at[...]] in one Transitions call, sets their
// errors, publishes the resulting status changes, and returns the commands to wake, in order.
func (g *Ingester) applyReplies(ctx context.Context, batch []runcmd.ResultMessage, at []int, errs []error) []string {
	if len(at) == 0 {
		return nil
	}
	now := g.Now().UTC()
	ts := make([]runcmd.Transition, len(at))
	for j, i := range at {
		m := batch[i]
		res := m.Reply.Result
		ts[j] = runcmd.Transition{
			CommandID: m.Reply.CommandID, InstanceID: m.Reply.InstanceID, To: m.Reply.Detail, At: now, Result: &res,
			FromNode: len(m.Signature) > 0 || !g.InsecureAcceptUnsigned,
		}
	}
	invs, terrs := g.Commands.Transitions(ctx, ts)
	notes := g.Notify.Outbox()
	var wake []string
	for j, i := range at {
		m, r := batch[i], batch[i].Reply
		switch runcmd.ErrorCode(terrs[j]) {
		case "":
			if r.Detail.Terminal() || r.Wake && r.Detail == runcmd.DetailInProgress {
				// It ended, or a node acknowledged while the window ramps up.
				if !slices.Contains(wake, r.CommandID) {
					wake = append(wake, r.CommandID)
				}
			}
			if r.Detail.Terminal() {
				// InProgress was published when dispatch sent the invocation; progress replies
				// change no status.
				notes.Invocation(invs[j], now)
			}
		case runcmd.ECONFLICT:
			// a duplicate or stale reply changes nothing
		case runcmd.ENOTFOUND, runcmd.EUNAUTHORIZED:
			if g.InsecureAcceptUnsigned && len(m.Signature) == 0 {
				continue
			}
			// A node reporting on an invocation that does not exist for it, or was never sent to it.
			errs[i] = g.reject(ctx, m, "no invocation "+r.CommandID+" was sent to node "+r.InstanceID)
		default:
			errs[i] = fmt.Errorf("reply %s/%s: %w", r.CommandID, r.InstanceID, terrs[j])
		}
	}
	if err := notes.Flush(ctx); err != nil {
		g.Log.Warn("notify_failed", "err", err)
	}
	return wake
}

// apply handles a message that is not a reply: a heartbeat or a patch report.
func (g *Ingester) apply(ctx context.Context, m runcmd.ResultMessage) error {
	switch {
	case m.Kind == runcmd.KindHeartbeat && m.Heartbeat != nil:
		hb := *m.Heartbeat
		if !validInstanceID(hb.InstanceID) || hb.QueueURL == "" && len(m.Signature) == 0 {
			return runcmd.Errorf(runcmd.EINVALID, "", "heartbeat with invalid instance id or no queue")
		}
		hb.At = g.Now().UTC() // the service's clock decides ping status, not the node's
		return g.ping(ctx, m, hb)
	case m.Kind == runcmd.KindPatchReport && m.PatchReport != nil:
		return g.patchReport(ctx, m)
	}
	return runcmd.Errorf(runcmd.EINVALID, "", "unknown result message kind %q", m.Kind)
}
