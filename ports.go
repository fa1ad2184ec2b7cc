package runcmd

import (
	"context"
	"slices"
	"time"
)

// CommandQuery selects commands for ListCommands. Zero values mean "any"; every filter that is set must
// hold. Results are newest first.
type CommandQuery struct {
	CommandID    string
	InstanceID   string // commands that have an invocation on this node
	DocumentName string
	// Status is a ListCommands Status filter value: a CommandStatus (TimedOut covers both timeouts;
	// Failed covers Incomplete, NoInstancesInTag and AccessDenied, as Status() maps them) or one of the
	// detail tokens AccessDenied, DeliveryTimedOut, ExecutionTimedOut, Incomplete, NoInstancesInTag and
	// LimitExceeded (which matches nothing: runcmd has no pending-invocation quota). Others are EINVALID.
	Status string
	// ExecutionStage is Executing (a detail that is not Terminal) or Complete (one that is).
	ExecutionStage string
	InvokedAfter   time.Time // inclusive
	InvokedBefore  time.Time // inclusive
	Limit          int       // page size, 1..50
	NextToken      string    // opaque, from the previous page
}

// commandDetails lists every CommandDetail, in a fixed order.
var commandDetails = []CommandDetail{
	CommandDetailPending, CommandDetailInProgress, CommandDetailCancelling, CommandDetailSuccess,
	CommandDetailFailed, CommandDetailIncomplete, CommandDetailDeliveryTimedOut, CommandDetailExecutionTimedOut,
	CommandDetailCancelled, CommandDetailNoInstancesInTag, CommandDetailAccessDenied,
}

// Details returns the command details that q's Status and ExecutionStage allow, in a fixed order, so a
// store can select them by key. all is true when neither filter is set; otherwise an empty list means
// nothing can match. EINVALID (InvalidFilterValue) names a value SSM does not accept.
func (q CommandQuery) Details() (details []CommandDetail, all bool, err error) {
	if q.Status == "" && q.ExecutionStage == "" {
		return nil, true, nil
	}
	status := func(CommandDetail) bool { return true }
	switch {
	case q.Status == "":
	case q.Status == "LimitExceeded":
		status = func(CommandDetail) bool { return false }
	case validCommandStatus(CommandStatus(q.Status)):
		status = func(d CommandDetail) bool { return string(d.Status()) == q.Status }
	case slices.Contains(statusFilterDetails, CommandDetail(q.Status)):
		status = func(d CommandDetail) bool { return string(d) == q.Status }
	default:
		return nil, false, Errorf(EINVALID, "InvalidFilterValue", "Status filter value %q is not valid.", q.Status)
	}
	stage := func(CommandDetail) bool { return true }
	switch q.ExecutionStage {
	case "":
	case "Executing":
		stage = func(d CommandDetail) bool { return !d.Terminal() }
	case "Complete":
		stage = CommandDetail.Terminal
	default:
		return nil, false, Errorf(EINVALID, "InvalidFilterValue", "ExecutionStage must be Executing or Complete, not %q.", q.ExecutionStage)
	}
	details = []CommandDetail{} // not nil: a restriction, possibly to nothing
	for _, d := range commandDetails {
		if status(d) && stage(d) {
			details = append(details, d)
		}
	}
	return details, false, nil
}

// statusFilterDetails are the details a ListCommands Status filter may name besides the CommandStatus
// values.
var statusFilterDetails = []CommandDetail{
	CommandDetailAccessDenied, CommandDetailDeliveryTimedOut, CommandDetailExecutionTimedOut,
	CommandDetailIncomplete, CommandDetailNoInstancesInTag,
}

func validCommandStatus(s CommandStatus) bool {
	switch s {
	case CommandPending, CommandInProgress, CommandSuccess, CommandCancelled, CommandFailed, CommandTimedOut,
		CommandCancelling:
		return true
	}
	return false
}

// Match reports whether c passes every filter of q (CommandID, DocumentName, Status, ExecutionStage and
// the time range; InstanceID, which needs the invocations, is not checked). A query whose Details fail
// matches nothing.
func (q CommandQuery) Match(c *Command) bool {
	details, all, err := q.Details()
	switch {
	case err != nil:
		return false
	case q.CommandID != "" && c.CommandID != q.CommandID:
		return false
	case q.DocumentName != "" && c.DocumentName != q.DocumentName:
		return false
	case !all && !slices.Contains(details, c.Detail):
		return false
	}
	return inRange(c.RequestedAt, q.InvokedAfter, q.InvokedBefore)
}

// inRange reports whether t lies in the inclusive range [after, before]; a zero bound is open.
func inRange(t, after, before time.Time) bool {
	return (after.IsZero() || !t.Before(after)) && (before.IsZero() || !t.After(before))
}

// CommandPage is one page of commands.
type CommandPage struct {
	Commands  []*Command
	NextToken string
}

// InvocationQuery selects invocations: those of one command (ordered by instance id), or those of one
// node (newest first), or the single pair when both are set. InvokedAfter and InvokedBefore bound
// RequestedAt, inclusively: for the invocations of a node they are bounds of the index key, so a time
// window never reads the node's older or newer invocations.
type InvocationQuery struct {
	CommandID     string
	InstanceID    string
	InvokedAfter  time.Time
	InvokedBefore time.Time
	Limit         int
	NextToken     string
}

// Match reports whether inv passes q's ids and time range.
func (q InvocationQuery) Match(inv *Invocation) bool {
	return (q.CommandID == "" || inv.CommandID == q.CommandID) && (q.InstanceID == "" || inv.InstanceID == q.InstanceID) &&
		inRange(inv.RequestedAt, q.InvokedAfter, q.InvokedBefore)
}

// InvocationPage is one page of invocations.
type InvocationPage struct {
	Invocations []*Invocation
	NextToken   string
}

// Transition moves one invocation to a new detail, exactly once. The store applies it only if
// CanTransition(current, To) holds, and in the same atomic write updates the command's counters:
// Counts[To]++ when To is terminal, and SentDone++ when the invocation had been sent. A transition that
// is not allowed from the current state (a duplicate or stale reply) fails with ECONFLICT and changes
// nothing. InProgress -> InProgress is allowed and only merges the result.
type Transition struct {
	CommandID  string
	InstanceID string
	To         Detail
	At         time.Time
	// Result, when set, is merged into the stored result: plugins replace stored plugins of the same
	// Name, other plugins are kept; non-zero ResponseCode/StartedAt/EndedAt/TraceOutput overwrite, and
	// a terminal transition always sets ResponseCode (0 is the final code of a success).
	Result *Result
	// FromNode marks a transition reported by the node itself: it applies only to an invocation that
	// was sent to that node (Sent), and fails with EUNAUTHORIZED, changing nothing, otherwise. A node
	// cannot report on work it was never given.
	FromNode bool
}

// InvocationKey names one invocation.
type InvocationKey struct {
	CommandID  string
	InstanceID string
}

// CommandStore keeps commands and their invocations.
type CommandStore interface {
	// CreateCommand stores a new command together with the invocations known at send time (at most
	// MaxInstanceIDs), atomically, so they are readable as soon as it returns. ECONFLICT if the
	// command id exists.
	CreateCommand(ctx context.Context, cmd *Command, invs []*Invocation) error
	// GetCommand returns a command; ENOTFOUND (InvalidCommandId) if there is none.
	GetCommand(ctx context.Context, commandID string) (*Command, error)
	// ListCommands returns a page of up to Limit commands that match every filter of q, newest first,
	// and a NextToken only when more follow. Stores select by key or index (by id, node, document,
	// detail or time; the time range bounds the key of whichever is used) and check the filters that
	// index does not key on against what it returns, never scanning all commands for a selective
	// filter. EINVALID for a Status or ExecutionStage value CommandQuery.Details refuses, or a foreign
	// token.
	ListCommands(ctx context.Context, q CommandQuery) (CommandPage, error)
	// AddInvocations stores invocations found while resolving targets. Invocations that already exist
	// are left unchanged, so a retried resolution is harmless. Any number; the store batches.
	AddInvocations(ctx context.Context, invs []*Invocation) error
	// SetResolved records that target resolution is complete with targetCount invocations.
	SetResolved(ctx context.Context, commandID string, targetCount int) error
	// GetInvocation returns one invocation; ENOTFOUND (InvocationDoesNotExist) if there is none.
	GetInvocation(ctx context.Context, commandID, instanceID string) (*Invocation, error)
	// ListInvocations returns a page of invocations that match q (see InvocationQuery), and a NextToken
	// only when more follow.
	ListInvocations(ctx context.Context, q InvocationQuery) (InvocationPage, error)
	// PendingInvocations returns up to limit Pending invocations of a command with Seq > afterSeq, in
	// Seq order, from an index that holds an invocation only while it is Pending (kept in step with
	// every write), so dispatch never reads the ones already sent or ended. The read is strongly
	// consistent: what MarkSent or Transition just moved out of Pending is not returned.
	PendingInvocations(ctx context.Context, commandID string, afterSeq, limit int) ([]*Invocation, error)
	// MarkSent moves the given invocations (as read from PendingInvocations) from Pending to
	// InProgress with Sent set, adds the number moved to the command's Dispatched counter, sets the
	// command's Cursor to cursor, and moves the command from Pending to InProgress, atomically.
	// Invocations no longer Pending (or missing) are skipped; the ones moved are returned, updated. A
	// command that is no longer Pending or InProgress (cancelling, or ended) sends nothing more: ECONFLICT,
	// nothing changed. At most 99 invocations per call.
	MarkSent(ctx context.Context, commandID string, invs []*Invocation, cursor int, at time.Time) ([]*Invocation, error)
	// Transition applies t exactly once (see Transition) and returns the invocation after the change.
	Transition(ctx context.Context, t Transition) (*Invocation, error)
	// Transitions applies several transitions as if Transition were called for each in order, and
	// returns, per transition, the invocation after the change or the error Transition would have
	// returned. It lets the store read and write a batch of replies together (one read and one write
	// request for many invocations) instead of two requests per reply.
	Transitions(ctx context.Context, ts []Transition) ([]*Invocation, []error)
	// SetCommandDetail moves a command to detail to, if its current detail is one of from; ECONFLICT
	// otherwise.
	SetCommandDetail(ctx context.Context, commandID string, from []CommandDetail, to CommandDetail) error
	// ExpiredInvocations returns up to limit non-terminal invocations whose Deadline() is before t,
	// from an index of open invocations (never a scan) kept in step with every write.
	ExpiredInvocations(ctx context.Context, before time.Time, limit int) ([]InvocationKey, error)
}

// InstanceQuery selects managed nodes for DescribeInstanceInformation.
type InstanceQuery struct {
	InstanceIDs []string // when set, only these (missing ones are left out)
	Limit       int
	NextToken   string
}

// InstancePage is one page of managed nodes.
type InstancePage struct {
	Instances []*Instance
	NextToken string
}

// InstanceStore keeps managed nodes and their tags.
type InstanceStore interface {
	// RecordHeartbeat creates the node on its first heartbeat (with the heartbeat's tags) and
	// afterwards updates its platform facts, queue and LastPingAt; tags of a known node are kept.
	RecordHeartbeat(ctx context.Context, hb Heartbeat) error
	// GetInstances returns the nodes with the given ids; unknown ids are absent from the map.
	GetInstances(ctx context.Context, ids []string) (map[string]*Instance, error)
	// ListInstances returns a page of nodes ordered by id.
	ListInstances(ctx context.Context, q InstanceQuery) (InstancePage, error)
	// AddTags sets tags on a node (ENOTFOUND if unknown); RemoveTags removes keys.
	AddTags(ctx context.Context, instanceID string, tags map[string]string) error
	RemoveTags(ctx context.Context, instanceID string, keys []string) error
	// FindByTag pages through the ids of nodes that carry tag key (with value value, or any value
	// when anyValue is set), in id order, through an index.
	FindByTag(ctx context.Context, key, value string, anyValue bool, limit int, next string) (ids []string, nextToken string, err error)
}

// NodeQueue delivers messages to managed nodes' own queues.
type NodeQueue interface {
	Send(ctx context.Context, queueURL string, m NodeMessage) error
}

// DispatchQueue feeds the dispatch function. Implementations use the command id as the FIFO message
// group.
type DispatchQueue interface {
	Enqueue(ctx context.Context, m DispatchMessage) error
}

// Notification is one message for an SNS topic: a subject (e-mail display text, may be empty), a
// body, and string attributes that subscription filter policies match on.
type Notification struct {
	Subject string
	Body    []byte
	Attrs   map[string]string
}

// Notifier publishes messages to SNS topics.
type Notifier interface {
	// Publish sends msgs to the topic in as few requests as the service allows (SNS takes ten per
	// PublishBatch). An error names the messages that were not published; the others were.
	Publish(ctx context.Context, topicARN string, msgs ...Notification) error
}
