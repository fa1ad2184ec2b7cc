package fake

import (
	"cmp"
	"context"
	"encoding/base64"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/runcmd/runcmd"
)

var (
	_ runcmd.CommandStore  = (*CommandStore)(nil)
	_ runcmd.InstanceStore = (*InstanceStore)(nil)
)

// Page-size defaults, the same as the DynamoDB adapter's.
const (
	defaultPage     = 50  // ListCommands, ListInvocations, ListInstances (SSM's maximum MaxResults)
	defaultInternal = 100 // PendingInvocations, ExpiredInvocations, FindByTag
)

// CommandStore is an in-memory runcmd.CommandStore. Values are copied in and out, so callers never
// share memory with the store.
type CommandStore struct {
	mu   sync.Mutex
	cmds map[string]*runcmd.Command
	invs map[string]map[string]*runcmd.Invocation // command id -> instance id -> invocation
}

// NewCommandStore returns an empty CommandStore.
func NewCommandStore() *CommandStore {
	return &CommandStore{
		cmds: map[string]*runcmd.Command{},
		invs: map[string]map[string]*runcmd.Invocation{},
	}
}

// CreateCommand stores cmd and invs atomically. The counters start from cmd's values; terminal
// invocations stored with it are counted, so counters always agree with the invocations.
func (s *CommandStore) CreateCommand(ctx context.Context, cmd *runcmd.Command, invs []*runcmd.Invocation) error {
	if cmd.CommandID == "" {
		return runcmd.Errorf(runcmd.EINVALID, "", "command id is empty")
	}
	if len(invs) > runcmd.MaxInstanceIDs {
		return runcmd.Errorf(runcmd.EINVALID, "", "at most %d invocations can be created with a command, got %d",
			runcmd.MaxInstanceIDs, len(invs))
	}
	seen := map[string]bool{}
	for _, inv := range invs {
		if inv.CommandID != cmd.CommandID || inv.InstanceID == "" || seen[inv.InstanceID] {
			return runcmd.Errorf(runcmd.EINVALID, "", "invocation %s/%s does not belong to command %s or is repeated",
				inv.CommandID, inv.InstanceID, cmd.CommandID)
		}
		seen[inv.InstanceID] = true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.cmds[cmd.CommandID]; ok {
		return runcmd.Errorf(runcmd.ECONFLICT, "", "command %s already exists", cmd.CommandID)
	}
	c := cloneCommand(cmd)
	byNode := map[string]*runcmd.Invocation{}
	for _, inv := range invs {
		byNode[inv.InstanceID] = cloneInvocation(inv)
		if inv.Detail.Terminal() {
			c.Counts[inv.Detail]++
		}
	}
	s.cmds[c.CommandID] = c
	s.invs[c.CommandID] = byNode
	return nil
}

// GetCommand returns a copy of a command.
func (s *CommandStore) GetCommand(ctx context.Context, commandID string) (*runcmd.Command, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.cmds[commandID]
	if !ok {
		return nil, runcmd.Errorf(runcmd.ENOTFOUND, "InvalidCommandId", "command %s does not exist", commandID)
	}
	return cloneCommand(c), nil
}

// ListCommands returns a page of the commands that match q, newest first (ties broken by command id,
// descending).
func (s *CommandStore) ListCommands(ctx context.Context, q runcmd.CommandQuery) (runcmd.CommandPage, error) {
	if _, _, err := q.Details(); err != nil {
		return runcmd.CommandPage{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var all []*runcmd.Command
	for _, c := range s.cmds {
		if !q.Match(c) {
			continue
		}
		if q.InstanceID != "" {
			if _, ok := s.invs[c.CommandID][q.InstanceID]; !ok {
				continue
			}
		}
		all = append(all, c)
	}
	key := func(c *runcmd.Command) string { return timeKey(c.RequestedAt) + "#" + c.CommandID }
	got, next, err := page(all, key, true, pageSize(q.Limit, defaultPage, defaultPage), q.NextToken)
	if err != nil {
		return runcmd.CommandPage{}, err
	}
	p := runcmd.CommandPage{NextToken: next}
	for _, c := range got {
		p.Commands = append(p.Commands, cloneCommand(c))
	}
	return p, nil
}

// AddInvocations stores the invocations that do not exist yet. ENOTFOUND if a command is unknown.
func (s *CommandStore) AddInvocations(ctx context.Context, invs []*runcmd.Invocation) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, inv := range invs {
		if _, ok := s.cmds[inv.CommandID]; !ok {
			return runcmd.Errorf(runcmd.ENOTFOUND, "InvalidCommandId", "command %s does not exist", inv.CommandID)
		}
		if inv.InstanceID == "" {
			return runcmd.Errorf(runcmd.EINVALID, "", "invocation of command %s has no instance id", inv.CommandID)
		}
	}
	for _, inv := range invs {
		byNode := s.invs[inv.CommandID]
		if _, ok := byNode[inv.InstanceID]; ok {
			continue
		}
		byNode[inv.InstanceID] = cloneInvocation(inv)
		if inv.Detail.Terminal() {
			s.cmds[inv.CommandID].Counts[inv.Detail]++
		}
	}
	return nil
}

// SetResolved records the final target count.
func (s *CommandStore) SetResolved(ctx context.Context, commandID string, targetCount int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.cmds[commandID]
	if !ok {
		return runcmd.Errorf(runcmd.ENOTFOUND, "InvalidCommandId", "command %s does not exist", commandID)
	}
	c.TargetCount = targetCount
	c.Resolved = true
	return nil
}

// GetInvocation returns a copy of one invocation.
func (s *CommandStore) GetInvocation(ctx context.Context, commandID, instanceID string) (*runcmd.Invocation, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	inv, ok := s.invs[commandID][instanceID]
	if !ok {
		return nil, invocationNotFound(commandID, instanceID)
	}
	return cloneInvocation(inv), nil
}

// ListInvocations returns a page of the invocations of one command (by instance id), of one node
// (newest first) or the single pair, within q's time range. EINVALID when neither id is set: there is no
// index over all invocations.
func (s *CommandStore) ListInvocations(ctx context.Context, q runcmd.InvocationQuery) (runcmd.InvocationPage, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	limit := pageSize(q.Limit, defaultPage, defaultPage)
	var (
		got  []*runcmd.Invocation
		next string
		err  error
	)
	switch {
	case q.CommandID != "" && q.InstanceID != "":
		if inv, ok := s.invs[q.CommandID][q.InstanceID]; ok && q.Match(inv) {
			got = []*runcmd.Invocation{inv}
		}
	case q.CommandID != "":
		var all []*runcmd.Invocation
		for _, inv := range s.invs[q.CommandID] {
			if q.Match(inv) {
				all = append(all, inv)
			}
		}
		got, next, err = page(all, func(i *runcmd.Invocation) string { return i.InstanceID }, false, limit, q.NextToken)
	case q.InstanceID != "":
		var all []*runcmd.Invocation
		for _, byNode := range s.invs {
			if inv, ok := byNode[q.InstanceID]; ok && q.Match(inv) {
				all = append(all, inv)
			}
		}
		key := func(i *runcmd.Invocation) string { return timeKey(i.RequestedAt) + "#" + i.CommandID }
		got, next, err = page(all, key, true, limit, q.NextToken)
	default:
		return runcmd.InvocationPage{}, runcmd.Errorf(runcmd.EINVALID, "", "list invocations needs a command id or an instance id")
	}
	if err != nil {
		return runcmd.InvocationPage{}, err
	}
	p := runcmd.InvocationPage{NextToken: next}
	for _, inv := range got {
		p.Invocations = append(p.Invocations, cloneInvocation(inv))
	}
	return p, nil
}

// PendingInvocations returns up to limit Pending invocations of a command with Seq > afterSeq, in Seq
// order.
func (s *CommandStore) PendingInvocations(ctx context.Context, commandID string, afterSeq, limit int) ([]*runcmd.Invocation, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*runcmd.Invocation
	for _, inv := range s.invs[commandID] {
		if inv.Seq > afterSeq && inv.Detail == runcmd.DetailPending {
			out = append(out, inv)
		}
	}
	slices.SortFunc(out, func(a, b *runcmd.Invocation) int {
		return cmp.Or(cmp.Compare(a.Seq, b.Seq), cmp.Compare(a.InstanceID, b.InstanceID))
	})
	out = out[:min(len(out), pageSize(limit, defaultInternal, 0))]
	for i, inv := range out {
		out[i] = cloneInvocation(inv)
	}
	return out, nil
}

// MarkSent moves the Pending ones of invs to InProgress and records the dispatch on the command.
func (s *CommandStore) MarkSent(ctx context.Context, commandID string, invs []*runcmd.Invocation, cursor int, at time.Time) ([]*runcmd.Invocation, error) {
	if len(invs) > 99 {
		return nil, runcmd.Errorf(runcmd.EINVALID, "", "mark sent: at most 99 invocations per call, got %d", len(invs))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.cmds[commandID]
	if !ok {
		return nil, runcmd.Errorf(runcmd.ENOTFOUND, "InvalidCommandId", "command %s does not exist", commandID)
	}
	if c.Detail != runcmd.CommandDetailPending && c.Detail != runcmd.CommandDetailInProgress {
		return nil, runcmd.Errorf(runcmd.ECONFLICT, "", "command %s is %s: nothing more is sent", commandID, c.Detail)
	}
	var moved []*runcmd.Invocation
	for _, in := range invs {
		inv, ok := s.invs[commandID][in.InstanceID]
		if !ok || inv.Detail != runcmd.DetailPending || in.Detail != runcmd.DetailPending {
			continue
		}
		inv.Detail = runcmd.DetailInProgress
		inv.Sent = true
		inv.UpdatedAt = at
		moved = append(moved, cloneInvocation(inv))
	}
	c.Dispatched += len(moved)
	c.Cursor = cursor
	if c.Detail == runcmd.CommandDetailPending {
		c.Detail = runcmd.CommandDetailInProgress
	}
	return moved, nil
}

// Transition applies t exactly once and returns the invocation after the change.
func (s *CommandStore) Transition(ctx context.Context, t runcmd.Transition) (*runcmd.Invocation, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	inv, ok := s.invs[t.CommandID][t.InstanceID]
	if !ok {
		return nil, invocationNotFound(t.CommandID, t.InstanceID)
	}
	if t.FromNode && !inv.Sent {
		return nil, notSent(t.CommandID, t.InstanceID)
	}
	if !runcmd.CanTransition(inv.Detail, t.To) {
		return nil, runcmd.Errorf(runcmd.ECONFLICT, "", "invocation %s/%s cannot move from %s to %s",
			t.CommandID, t.InstanceID, inv.Detail, t.To)
	}
	c, ok := s.cmds[t.CommandID]
	if !ok {
		return nil, runcmd.Errorf(runcmd.ENOTFOUND, "InvalidCommandId", "command %s does not exist", t.CommandID)
	}
	inv.Detail = t.To
	inv.UpdatedAt = t.At
	if t.Result != nil {
		inv.Result = inv.Result.Merge(*t.Result, t.To.Terminal())
	}
	if t.To.Terminal() {
		c.Counts[t.To]++
		if inv.Sent {
			c.SentDone++
		}
	}
	return cloneInvocation(inv), nil
}

// Transitions applies each transition in order, as Transition does.
func (s *CommandStore) Transitions(ctx context.Context, ts []runcmd.Transition) ([]*runcmd.Invocation, []error) {
	invs, errs := make([]*runcmd.Invocation, len(ts)), make([]error, len(ts))
	for i, t := range ts {
		invs[i], errs[i] = s.Transition(ctx, t)
	}
	return invs, errs
}

// SetCommandDetail moves a command to detail to when its detail is one of from.
func (s *CommandStore) SetCommandDetail(ctx context.Context, commandID string, from []runcmd.CommandDetail, to runcmd.CommandDetail) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.cmds[commandID]
	if !ok {
		return runcmd.Errorf(runcmd.ENOTFOUND, "InvalidCommandId", "command %s does not exist", commandID)
	}
	if !slices.Contains(from, c.Detail) {
		return runcmd.Errorf(runcmd.ECONFLICT, "", "command %s is %s, not one of %v", commandID, c.Detail, from)
	}
	c.Detail = to
	return nil
}

// ExpiredInvocations returns up to limit non-terminal invocations whose Deadline is before before,
// oldest expiry first.
func (s *CommandStore) ExpiredInvocations(ctx context.Context, before time.Time, limit int) ([]runcmd.InvocationKey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var open []*runcmd.Invocation
	for _, byNode := range s.invs {
		for _, inv := range byNode {
			if !inv.Detail.Terminal() && inv.Deadline().Before(before) {
				open = append(open, inv)
			}
		}
	}
	key := func(i *runcmd.Invocation) string {
		return timeKey(i.Deadline()) + "#" + i.CommandID + "#" + i.InstanceID
	}
	slices.SortFunc(open, func(a, b *runcmd.Invocation) int { return cmp.Compare(key(a), key(b)) })
	var out []runcmd.InvocationKey
	for _, inv := range open[:min(len(open), pageSize(limit, defaultInternal, 0))] {
		out = append(out, runcmd.InvocationKey{CommandID: inv.CommandID, InstanceID: inv.InstanceID})
	}
	return out, nil
}

// InstanceStore is an in-memory runcmd.InstanceStore.
type InstanceStore struct {
	mu    sync.Mutex
	nodes map[string]*runcmd.Instance
}

// NewInstanceStore returns an empty InstanceStore.
func NewInstanceStore() *InstanceStore {
	return &InstanceStore{nodes: map[string]*runcmd.Instance{}}
}

// RecordHeartbeat registers a node or refreshes its facts. A heartbeat older than the last one seen is
// ignored, so LastPingAt never moves backwards when heartbeats arrive out of order.
func (s *InstanceStore) RecordHeartbeat(ctx context.Context, hb runcmd.Heartbeat) error {
	if hb.InstanceID == "" {
		return runcmd.Errorf(runcmd.EINVALID, "", "heartbeat without instance id")
	}
	for k := range hb.Tags {
		if k == "" {
			return runcmd.Errorf(runcmd.EINVALID, "", "heartbeat of %s has an empty tag key", hb.InstanceID)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	n, ok := s.nodes[hb.InstanceID]
	if !ok {
		n = &runcmd.Instance{
			InstanceID:   hb.InstanceID,
			ResourceType: runcmd.ResourceTypeManagedInstance,
			RegisteredAt: hb.At,
			Tags:         maps.Clone(hb.Tags),
		}
		if n.Tags == nil {
			n.Tags = map[string]string{}
		}
		s.nodes[hb.InstanceID] = n
	} else if hb.At.Before(n.LastPingAt) {
		return nil
	}
	n.Name = hb.Name
	n.ComputerName = hb.ComputerName
	n.IPAddress = hb.IPAddress
	n.PlatformType = hb.PlatformType
	n.PlatformName = hb.PlatformName
	n.PlatformVersion = hb.PlatformVersion
	n.AgentVersion = hb.AgentVersion
	n.QueueURL = hb.QueueURL
	n.LastPingAt = hb.At
	return nil
}

// GetInstances returns copies of the known nodes among ids.
func (s *InstanceStore) GetInstances(ctx context.Context, ids []string) (map[string]*runcmd.Instance, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]*runcmd.Instance{}
	for _, id := range ids {
		if n, ok := s.nodes[id]; ok {
			out[id] = cloneInstance(n)
		}
	}
	return out, nil
}

// ListInstances returns a page of nodes ordered by id.
func (s *InstanceStore) ListInstances(ctx context.Context, q runcmd.InstanceQuery) (runcmd.InstancePage, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var all []*runcmd.Instance
	if len(q.InstanceIDs) > 0 {
		for _, id := range q.InstanceIDs {
			if n, ok := s.nodes[id]; ok && !slices.Contains(all, n) {
				all = append(all, n)
			}
		}
	} else {
		all = slices.Collect(maps.Values(s.nodes))
	}
	got, next, err := page(all, func(n *runcmd.Instance) string { return n.InstanceID }, false,
		pageSize(q.Limit, defaultPage, defaultPage), q.NextToken)
	if err != nil {
		return runcmd.InstancePage{}, err
	}
	p := runcmd.InstancePage{NextToken: next}
	for _, n := range got {
		p.Instances = append(p.Instances, cloneInstance(n))
	}
	return p, nil
}

// AddTags sets tags on a known node.
func (s *InstanceStore) AddTags(ctx context.Context, instanceID string, tags map[string]string) error {
	for k := range tags {
		if k == "" {
			return runcmd.Errorf(runcmd.EINVALID, "", "empty tag key for %s", instanceID)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	n, ok := s.nodes[instanceID]
	if !ok {
		return instanceNotFound(instanceID)
	}
	maps.Copy(n.Tags, tags)
	return nil
}

// RemoveTags removes tag keys from a known node; absent keys are ignored.
func (s *InstanceStore) RemoveTags(ctx context.Context, instanceID string, keys []string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, ok := s.nodes[instanceID]
	if !ok {
		return instanceNotFound(instanceID)
	}
	for _, k := range keys {
		delete(n.Tags, k)
	}
	return nil
}

// FindByTag pages through the ids of nodes with tag key (and value unless anyValue), in id order.
func (s *InstanceStore) FindByTag(ctx context.Context, key, value string, anyValue bool, limit int, next string) ([]string, string, error) {
	if key == "" {
		return nil, "", runcmd.Errorf(runcmd.EINVALID, "", "empty tag key")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var ids []string
	for id, n := range s.nodes {
		if v, ok := n.Tags[key]; ok && (anyValue || v == value) {
			ids = append(ids, id)
		}
	}
	return page(ids, func(id string) string { return id }, false, pageSize(limit, defaultInternal, 0), next)
}

// page sorts items by key (descending when desc) and returns the limit items after the token's key, and
// a token when more follow. Tokens are opaque to callers: the last key returned, base64-encoded.
func page[T any](items []T, key func(T) string, desc bool, limit int, token string) ([]T, string, error) {
	after, err := decodeToken(token)
	if err != nil {
		return nil, "", err
	}
	slices.SortFunc(items, func(a, b T) int {
		if desc {
			return cmp.Compare(key(b), key(a))
		}
		return cmp.Compare(key(a), key(b))
	})
	if token != "" {
		i := 0
		for i < len(items) && (!desc && key(items[i]) <= after || desc && key(items[i]) >= after) {
			i++
		}
		items = items[i:]
	}
	if len(items) <= limit {
		return items, "", nil
	}
	items = items[:limit]
	return items, base64.RawURLEncoding.EncodeToString([]byte("k:" + key(items[limit-1]))), nil
}

func decodeToken(token string) (string, error) {
	if token == "" {
		return "", nil
	}
	b, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || len(b) < 2 || string(b[:2]) != "k:" {
		return "", runcmd.Errorf(runcmd.EINVALID, "InvalidNextToken", "the next token is not valid")
	}
	return string(b[2:]), nil
}

// pageSize applies a default to a non-positive limit and caps it at max (no cap when max is 0).
func pageSize(limit, def, max int) int {
	if limit <= 0 {
		return def
	}
	if max > 0 && limit > max {
		return max
	}
	return limit
}

// timeKey formats t fixed-width in UTC so that keys sort in time order, as the DynamoDB adapter's
// index keys do.
func timeKey(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000000000Z") }

func invocationNotFound(commandID, instanceID string) error {
	return runcmd.Errorf(runcmd.ENOTFOUND, "InvocationDoesNotExist", "invocation %s/%s does not exist", commandID, instanceID)
}

func instanceNotFound(instanceID string) error {
	return runcmd.Errorf(runcmd.ENOTFOUND, "InvalidResourceId", "managed node %s does not exist", instanceID)
}

func cloneCommand(c *runcmd.Command) *runcmd.Command {
	out := *c
	out.Parameters = map[string][]string{}
	for k, v := range c.Parameters {
		out.Parameters[k] = slices.Clone(v)
	}
	out.InstanceIDs = slices.Clone(c.InstanceIDs)
	out.Targets = nil
	for _, t := range c.Targets {
		out.Targets = append(out.Targets, runcmd.Target{Key: t.Key, Values: slices.Clone(t.Values)})
	}
	out.NotificationConfig.NotificationEvents = slices.Clone(c.NotificationConfig.NotificationEvents)
	out.PluginNames = slices.Clone(c.PluginNames)
	out.Counts = map[runcmd.Detail]int{}
	for d, n := range c.Counts {
		if n != 0 {
			out.Counts[d] = n
		}
	}
	return &out
}

func cloneInvocation(i *runcmd.Invocation) *runcmd.Invocation {
	out := *i
	out.Result.Plugins = slices.Clone(i.Result.Plugins)
	return &out
}

func cloneInstance(n *runcmd.Instance) *runcmd.Instance {
	out := *n
	out.PublicKey = slices.Clone(n.PublicKey)
	out.Tags = maps.Clone(n.Tags)
	if out.Tags == nil {
		out.Tags = map[string]string{}
	}
	return &out
}
