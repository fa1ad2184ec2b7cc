// Package memstore holds compact in-memory implementations of runcmd's ports for the overhead
// benchmark: a synthetic fleet that stores nothing per node, a command store that keeps ten bytes per
// invocation, simulated agents that answer at once, and a dispatch queue that stores repeated messages
// once. They exist so that a million-target run measures the services, not a test double: the
// internal/fake stores keep whole invocations and scan them per page, which is right for tests and
// quadratic here.
package memstore

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"maps"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/runcmd/runcmd"
)

var (
	_ runcmd.InstanceStore = (*Fleet)(nil)
	_ runcmd.CommandStore  = (*Commands)(nil)
	_ runcmd.NodeQueue     = (*Agents)(nil)
	_ runcmd.DispatchQueue = (*Dispatch)(nil)
)

// NodeID is the id of synthetic node i (1-based).
func NodeID(i int) string { return fmt.Sprintf("mi-%017d", i) }

// nodeIndex parses a synthetic node id.
func nodeIndex(id string) (int, error) {
	if len(id) != 20 || id[:3] != "mi-" {
		return 0, runcmd.Errorf(runcmd.EINVALID, "", "memstore: %q is not a synthetic node id", id)
	}
	i, err := strconv.Atoi(id[3:])
	if err != nil {
		return 0, runcmd.Errorf(runcmd.EINVALID, "", "memstore: %q is not a synthetic node id", id)
	}
	return i, nil
}

// Fleet is N nodes tagged Key=Value, made up on demand: nothing is stored per node. Every node has
// the same registered public key, PublicKey.
type Fleet struct {
	N          int
	Key, Value string
	Now        time.Time
	PublicKey  ed25519.PublicKey
	tags       map[string]string
}

// NewFleet returns a fleet of n nodes tagged key=value whose messages verify with pub.
func NewFleet(n int, key, value string, pub ed25519.PublicKey) *Fleet {
	return &Fleet{N: n, Key: key, Value: value, Now: time.Now().UTC(), PublicKey: pub, tags: map[string]string{key: value}}
}

func (f *Fleet) node(i int) *runcmd.Instance {
	id := NodeID(i)
	return &runcmd.Instance{InstanceID: id, ComputerName: "host" + id[3:], PlatformType: "Linux", PlatformName: "Debian GNU/Linux",
		PlatformVersion: "12", AgentVersion: "0.1.0", ResourceType: runcmd.ResourceTypeManagedInstance,
		QueueURL: "mem://" + id, RegisteredAt: f.Now, LastPingAt: f.Now, Tags: maps.Clone(f.tags), PublicKey: f.PublicKey}
}

// RecordHeartbeat accepts and forgets heartbeats.
func (f *Fleet) RecordHeartbeat(ctx context.Context, hb runcmd.Heartbeat) error { return nil }

// GetInstances makes up the nodes asked for.
func (f *Fleet) GetInstances(ctx context.Context, ids []string) (map[string]*runcmd.Instance, error) {
	out := make(map[string]*runcmd.Instance, len(ids))
	for _, id := range ids {
		if i, err := nodeIndex(id); err == nil && i >= 1 && i <= f.N {
			out[id] = f.node(i)
		}
	}
	return out, nil
}

// ListInstances is not needed by dispatch or ingest.
func (f *Fleet) ListInstances(ctx context.Context, q runcmd.InstanceQuery) (runcmd.InstancePage, error) {
	return runcmd.InstancePage{}, runcmd.Errorf(runcmd.EINVALID, "", "memstore: ListInstances is not supported")
}

// AddTags is not needed by dispatch or ingest.
func (f *Fleet) AddTags(ctx context.Context, instanceID string, tags map[string]string) error {
	return runcmd.Errorf(runcmd.EINVALID, "", "memstore: AddTags is not supported")
}

// RemoveTags is not needed by dispatch or ingest.
func (f *Fleet) RemoveTags(ctx context.Context, instanceID string, keys []string) error {
	return runcmd.Errorf(runcmd.EINVALID, "", "memstore: RemoveTags is not supported")
}

// FindByTag pages through the fleet in id order; the token is the last index returned.
func (f *Fleet) FindByTag(ctx context.Context, key, value string, anyValue bool, limit int, next string) ([]string, string, error) {
	if key != f.Key || (!anyValue && value != f.Value) {
		return nil, "", nil
	}
	start := 0
	if next != "" {
		var err error
		if start, err = strconv.Atoi(next); err != nil {
			return nil, "", runcmd.Errorf(runcmd.EINVALID, "", "memstore: bad token %q", next)
		}
	}
	if limit <= 0 {
		limit = 100
	}
	end := min(start+limit, f.N)
	ids := make([]string, 0, end-start)
	for i := start + 1; i <= end; i++ {
		ids = append(ids, NodeID(i))
	}
	if end < f.N {
		return ids, strconv.Itoa(end), nil
	}
	return ids, "", nil
}

// Commands keeps commands whole and their invocations as ten bytes each: node index, detail and the
// sent flag by Seq, and Seq by node index. The fields every invocation of a command shares come from
// a template.
type Commands struct {
	mu      sync.Mutex
	cmds    map[string]*entry
	details []runcmd.Detail // code -> detail
	codes   map[runcmd.Detail]uint8
}

type entry struct {
	cmd       runcmd.Command
	tmpl      runcmd.Invocation
	node      []int32 // by Seq-1
	detail    []uint8 // by Seq-1
	sent      []bool  // by Seq-1
	seqOfNode []int32 // by node index; 0 = none
}

// NewCommands returns an empty store.
func NewCommands() *Commands {
	return &Commands{cmds: map[string]*entry{}, codes: map[runcmd.Detail]uint8{}}
}

// Bytes is the memory the store holds for invocations (the slices' capacity), so that the benchmark
// can tell its own storage from the services' working set.
func (s *Commands) Bytes() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	var n int64
	for _, e := range s.cmds {
		n += int64(cap(e.node))*4 + int64(cap(e.detail)) + int64(cap(e.sent)) + int64(cap(e.seqOfNode))*4
	}
	return n
}

func (s *Commands) code(d runcmd.Detail) uint8 {
	c, ok := s.codes[d]
	if !ok {
		c = uint8(len(s.details))
		s.details = append(s.details, d)
		s.codes[d] = c
	}
	return c
}

func cloneCommand(c *runcmd.Command) *runcmd.Command {
	out := *c
	out.Counts = maps.Clone(c.Counts)
	return &out
}

func notFound(id string) error {
	return runcmd.Errorf(runcmd.ENOTFOUND, "InvalidCommandId", "command %s does not exist", id)
}

// CreateCommand stores cmd and its first invocations.
func (s *Commands) CreateCommand(ctx context.Context, cmd *runcmd.Command, invs []*runcmd.Invocation) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.cmds[cmd.CommandID]; ok {
		return runcmd.Errorf(runcmd.ECONFLICT, "", "command %s already exists", cmd.CommandID)
	}
	e := &entry{cmd: *cloneCommand(cmd)}
	if e.cmd.Counts == nil {
		e.cmd.Counts = map[runcmd.Detail]int{}
	}
	s.cmds[cmd.CommandID] = e
	return s.add(e, invs)
}

// add stores invocations that do not exist yet. s.mu is held.
func (s *Commands) add(e *entry, invs []*runcmd.Invocation) error {
	for _, inv := range invs {
		i, err := nodeIndex(inv.InstanceID)
		if err != nil {
			return err
		}
		if i < len(e.seqOfNode) && e.seqOfNode[i] != 0 {
			continue
		}
		if len(e.node) == 0 {
			e.tmpl = *inv
		}
		for len(e.seqOfNode) <= i {
			e.seqOfNode = append(e.seqOfNode, 0)
		}
		e.node = append(e.node, int32(i))
		e.detail = append(e.detail, s.code(inv.Detail))
		e.sent = append(e.sent, inv.Sent)
		e.seqOfNode[i] = int32(len(e.node))
		if inv.Detail.Terminal() {
			e.cmd.Counts[inv.Detail]++
		}
	}
	return nil
}

// invocation materialises the invocation with Seq seq. s.mu is held.
func (s *Commands) invocation(e *entry, seq int) *runcmd.Invocation {
	inv := e.tmpl
	id := NodeID(int(e.node[seq-1]))
	inv.InstanceID, inv.InstanceName, inv.QueueURL = id, "", "mem://"+id
	inv.Seq, inv.Detail, inv.Sent = seq, s.details[e.detail[seq-1]], e.sent[seq-1]
	inv.Result = runcmd.Result{ResponseCode: -1}
	return &inv
}

// seqOf finds an invocation's Seq. s.mu is held.
func (s *Commands) seqOf(commandID, instanceID string) (*entry, int, error) {
	e, ok := s.cmds[commandID]
	if !ok {
		return nil, 0, notFound(commandID)
	}
	i, err := nodeIndex(instanceID)
	if err != nil || i >= len(e.seqOfNode) || e.seqOfNode[i] == 0 {
		return nil, 0, runcmd.Errorf(runcmd.ENOTFOUND, "InvocationDoesNotExist", "invocation %s/%s does not exist", commandID, instanceID)
	}
	return e, int(e.seqOfNode[i]), nil
}

// GetCommand returns a copy of a command.
func (s *Commands) GetCommand(ctx context.Context, commandID string) (*runcmd.Command, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.cmds[commandID]
	if !ok {
		return nil, notFound(commandID)
	}
	return cloneCommand(&e.cmd), nil
}

// ListCommands returns the one command asked for by id.
func (s *Commands) ListCommands(ctx context.Context, q runcmd.CommandQuery) (runcmd.CommandPage, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.cmds[q.CommandID]; ok {
		return runcmd.CommandPage{Commands: []*runcmd.Command{cloneCommand(&e.cmd)}}, nil
	}
	return runcmd.CommandPage{}, nil
}

// AddInvocations stores invocations found while resolving targets.
func (s *Commands) AddInvocations(ctx context.Context, invs []*runcmd.Invocation) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, inv := range invs {
		e, ok := s.cmds[inv.CommandID]
		if !ok {
			return notFound(inv.CommandID)
		}
		if err := s.add(e, []*runcmd.Invocation{inv}); err != nil {
			return err
		}
	}
	return nil
}

// SetResolved records the final target count.
func (s *Commands) SetResolved(ctx context.Context, commandID string, targetCount int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.cmds[commandID]
	if !ok {
		return notFound(commandID)
	}
	e.cmd.TargetCount, e.cmd.Resolved = targetCount, true
	return nil
}

// GetInvocation materialises one invocation.
func (s *Commands) GetInvocation(ctx context.Context, commandID, instanceID string) (*runcmd.Invocation, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, seq, err := s.seqOf(commandID, instanceID)
	if err != nil {
		return nil, err
	}
	return s.invocation(e, seq), nil
}

// ListInvocations is not needed by dispatch or ingest.
func (s *Commands) ListInvocations(ctx context.Context, q runcmd.InvocationQuery) (runcmd.InvocationPage, error) {
	return runcmd.InvocationPage{}, runcmd.Errorf(runcmd.EINVALID, "", "memstore: ListInvocations is not supported")
}

// PendingInvocations returns the invocations after afterSeq, in Seq order: a slice walk, as a
// DynamoDB Query on a Seq sort key is one request per page.
func (s *Commands) PendingInvocations(ctx context.Context, commandID string, afterSeq, limit int) ([]*runcmd.Invocation, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.cmds[commandID]
	if !ok {
		return nil, notFound(commandID)
	}
	if limit <= 0 {
		limit = 100
	}
	end := min(afterSeq+limit, len(e.node))
	var out []*runcmd.Invocation
	for seq := afterSeq + 1; seq <= end; seq++ {
		out = append(out, s.invocation(e, seq))
	}
	return out, nil
}

// MarkSent moves the Pending ones of invs to InProgress and records the dispatch.
func (s *Commands) MarkSent(ctx context.Context, commandID string, invs []*runcmd.Invocation, cursor int, at time.Time) ([]*runcmd.Invocation, error) {
	if len(invs) > 99 {
		return nil, runcmd.Errorf(runcmd.EINVALID, "", "mark sent: at most 99 invocations per call, got %d", len(invs))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.cmds[commandID]
	if !ok {
		return nil, notFound(commandID)
	}
	pending, progress := s.code(runcmd.DetailPending), s.code(runcmd.DetailInProgress)
	var moved []*runcmd.Invocation
	for _, in := range invs {
		_, seq, err := s.seqOf(commandID, in.InstanceID)
		if err != nil || e.detail[seq-1] != pending {
			continue
		}
		e.detail[seq-1], e.sent[seq-1] = progress, true
		inv := s.invocation(e, seq)
		inv.UpdatedAt = at
		moved = append(moved, inv)
	}
	e.cmd.Dispatched += len(moved)
	e.cmd.Cursor = cursor
	if e.cmd.Detail == runcmd.CommandDetailPending {
		e.cmd.Detail = runcmd.CommandDetailInProgress
	}
	return moved, nil
}

// Transition applies t exactly once; results are not kept (the benchmark never reads them).
func (s *Commands) Transition(ctx context.Context, t runcmd.Transition) (*runcmd.Invocation, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, seq, err := s.seqOf(t.CommandID, t.InstanceID)
	if err != nil {
		return nil, err
	}
	from := s.details[e.detail[seq-1]]
	if !runcmd.CanTransition(from, t.To) {
		return nil, runcmd.Errorf(runcmd.ECONFLICT, "", "invocation %s/%s cannot move from %s to %s", t.CommandID, t.InstanceID, from, t.To)
	}
	e.detail[seq-1] = s.code(t.To)
	if t.To.Terminal() {
		e.cmd.Counts[t.To]++
		if e.sent[seq-1] {
			e.cmd.SentDone++
		}
	}
	inv := s.invocation(e, seq)
	inv.UpdatedAt = t.At
	if t.Result != nil {
		inv.Result = *t.Result
	}
	return inv, nil
}

// SetCommandDetail moves a command to detail to when its detail is one of from.
func (s *Commands) SetCommandDetail(ctx context.Context, commandID string, from []runcmd.CommandDetail, to runcmd.CommandDetail) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.cmds[commandID]
	if !ok {
		return notFound(commandID)
	}
	for _, f := range from {
		if e.cmd.Detail == f {
			e.cmd.Detail = to
			return nil
		}
	}
	return runcmd.Errorf(runcmd.ECONFLICT, "", "command %s is %s", commandID, e.cmd.Detail)
}

// ExpiredInvocations finds none: the benchmark runs no sweep.
func (s *Commands) ExpiredInvocations(ctx context.Context, before time.Time, limit int) ([]runcmd.InvocationKey, error) {
	return nil, nil
}

// Agents plays every node: each message sent to a node is answered at once with a Success reply,
// signed and encoded as the agent does it, and handed to the ingest handler in batches of ten, as
// Lambda's event source mapping hands over the results queue. runcmd-agent sends its InProgress
// ("started") reply only for a document still running after its ProgressDelay (a second), so a
// command that ends at once, as these do, costs one reply; StartedReply sends it anyway.
type Agents struct {
	// Ingest is the ingest function's SQS handler.
	Ingest func(context.Context, events.SQSEvent) (events.SQSEventResponse, error)
	// Key signs every reply (every node shares it); nil sends unsigned replies.
	Key ed25519.PrivateKey
	// StartedReply sends an InProgress reply before each Success, as for a long document.
	StartedReply bool
	// Encoding is the time spent signing and encoding replies: the agents' work, not the services'.
	Encoding time.Duration
	Received int
	Failures int

	batch []events.SQSMessage
	seq   int
}

// Send answers m.
func (a *Agents) Send(ctx context.Context, queueURL string, m runcmd.NodeMessage) error {
	if _, err := json.Marshal(m); err != nil { // what sqsq.NodeQueue does before sending
		return fmt.Errorf("encode %s: %w", m.CommandID, err)
	}
	a.Received++
	t0 := time.Now()
	now := t0.UTC()
	replies := []runcmd.Reply{{CommandID: m.CommandID, InstanceID: m.InstanceID, Detail: runcmd.DetailSuccess, SentAt: now,
		Result: runcmd.Result{ResponseCode: 0, StartedAt: now, EndedAt: now, Plugins: []runcmd.PluginResult{{
			Name: "aws:runShellScript", Action: "aws:runShellScript", Status: runcmd.DetailSuccess.Status(),
			Detail: runcmd.DetailSuccess, ResponseCode: 0, StartedAt: now, EndedAt: now}}}}}
	if a.StartedReply {
		replies = append([]runcmd.Reply{{CommandID: m.CommandID, InstanceID: m.InstanceID, Detail: runcmd.DetailInProgress,
			Result: runcmd.Result{ResponseCode: -1, StartedAt: now}, SentAt: now, Wake: m.Wake}}, replies...)
	}
	for _, r := range replies {
		msg := runcmd.ResultMessage{Kind: runcmd.KindReply, Reply: &r}
		if a.Key != nil {
			if err := msg.Sign(m.InstanceID, a.Key, now); err != nil {
				return err
			}
		}
		body, err := json.Marshal(msg)
		if err != nil {
			return err
		}
		a.seq++
		a.batch = append(a.batch, events.SQSMessage{MessageId: strconv.Itoa(a.seq), Body: string(body)})
	}
	a.Encoding += time.Since(t0)
	if len(a.batch) >= 10 {
		return a.Flush(ctx)
	}
	return nil
}

// Flush hands the replies waiting to ingest and reports whether there were any.
func (a *Agents) Flush(ctx context.Context) error {
	for len(a.batch) > 0 {
		n := min(len(a.batch), 10)
		ev := events.SQSEvent{Records: a.batch[:n]}
		resp, err := a.Ingest(ctx, ev)
		if err != nil {
			return err
		}
		a.Failures += len(resp.BatchItemFailures)
		a.batch = append(a.batch[:0], a.batch[n:]...)
	}
	return nil
}

// Replies is the number of replies sent so far.
func (a *Agents) Replies() int { return a.seq }

// Pending is the number of replies not yet handed to ingest.
func (a *Agents) Pending() int { return len(a.batch) }

// Dispatch is the FIFO dispatch queue of one process: messages in order, a run of identical ones
// (the many "pump" messages ingest sends) stored once with a count.
type Dispatch struct {
	mu   sync.Mutex
	runs []run
	Sent int
}

type run struct {
	body string
	n    int
}

// Enqueue encodes m as sqsq.DispatchQueue does and queues it.
func (d *Dispatch) Enqueue(ctx context.Context, m runcmd.DispatchMessage) error {
	b, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("encode dispatch %s: %w", m.CommandID, err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.Sent++
	if k := len(d.runs); k > 0 && d.runs[k-1].body == string(b) {
		d.runs[k-1].n++
		return nil
	}
	d.runs = append(d.runs, run{body: string(b), n: 1})
	return nil
}

// Take removes up to max messages, oldest first, as one SQS event.
func (d *Dispatch) Take(max int) events.SQSEvent {
	d.mu.Lock()
	defer d.mu.Unlock()
	var ev events.SQSEvent
	for len(ev.Records) < max && len(d.runs) > 0 {
		ev.Records = append(ev.Records, events.SQSMessage{MessageId: strconv.Itoa(d.Sent - len(ev.Records)), Body: d.runs[0].body})
		d.runs[0].n--
		if d.runs[0].n == 0 {
			d.runs = d.runs[1:]
		}
	}
	return ev
}
