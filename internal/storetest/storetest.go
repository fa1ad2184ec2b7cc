// Package storetest holds conformance suites for runcmd's store ports. The same suite runs against the
// in-memory fakes and against the DynamoDB adapters on the emulator, which is how we know the fakes tell
// the truth. Each subtest asks for a fresh, empty store.
package storetest

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/runcmd/runcmd"
)

// base is the suite's clock; stores keep time to the nanosecond.
var base = time.Date(2025, 3, 4, 5, 6, 7, 123456789, time.UTC)

var equateEmpty = cmpopts.EquateEmpty()

// wantCode fails the test unless err carries code and, when name is set, the SSM error name name.
func wantCode(t *testing.T, err error, code, name string) {
	t.Helper()
	if got := runcmd.ErrorCode(err); got != code {
		t.Fatalf("error code = %q (err %v), want %q", got, err, code)
	}
	if name != "" && runcmd.ErrorName(err) != name {
		t.Fatalf("error name = %q (err %v), want %q", runcmd.ErrorName(err), err, name)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// newCommand returns a command with every field set, so round trips are checked field by field.
func newCommand(id string, at time.Time) *runcmd.Command {
	return &runcmd.Command{
		CommandID:          id,
		DocumentName:       "AWS-RunShellScript",
		DocumentVersion:    "1",
		DocumentHash:       "abc123",
		Comment:            "comment of " + id,
		Parameters:         map[string][]string{"commands": {"echo hi", "uname -a"}},
		InstanceIDs:        []string{"mi-a", "mi-b"},
		Targets:            []runcmd.Target{{Key: "tag:env", Values: []string{"prod", "dev"}}},
		RequestedAt:        at,
		ExpiresAt:          at.Add(2 * time.Hour),
		TimeoutSeconds:     3600,
		ExecTimeoutSeconds: 3600,
		Detail:             runcmd.CommandDetailPending,
		OutputS3Bucket:     "bucket",
		OutputS3KeyPrefix:  "prefix",
		MaxConcurrency:     "50",
		MaxErrors:          "0",
		ServiceRole:        "arn:aws:iam::123456789012:role/r",
		NotificationConfig: runcmd.NotificationConfig{
			NotificationArn:    "arn:aws:sns:us-east-1:123456789012:t",
			NotificationEvents: []string{"All"},
			NotificationType:   "Command",
		},
		DocumentContent: `{"schemaVersion":"2.2","mainSteps":[]}`,
		PluginNames:     []string{"runShellScript"},
		PlatformTypes:   []string{"Linux", "MacOS"},
		ClientToken:     "token-" + id,
		ExactMaxErrors:  true,
		TargetCount:     2,
		Resolved:        true,
	}
}

func newInvocation(cmdID, instanceID string, seq int, at time.Time) *runcmd.Invocation {
	return &runcmd.Invocation{
		CommandID:    cmdID,
		InstanceID:   instanceID,
		InstanceName: "name-" + instanceID,
		PlatformType: "Linux",
		Seq:          seq,
		QueueURL:     "https://sqs.example/q/" + instanceID,
		DocumentName: "AWS-RunShellScript",
		Comment:      "c",
		RequestedAt:  at,
		ExpiresAt:    at.Add(time.Hour),
		Detail:       runcmd.DetailPending,
		UpdatedAt:    at,
		Result:       runcmd.Result{ResponseCode: -1},
		// Longer than ExpiresAt allows, so only a reported start can bring the deadline forward.
		ExecTimeoutSeconds: 7200,
		NotificationConfig: runcmd.NotificationConfig{NotificationArn: "arn:aws:sns:us-east-1:123456789012:t",
			NotificationEvents: []string{"Success", "Failed"}, NotificationType: "Invocation"},
	}
}

// nodes returns n invocations of cmdID on nodes mi-000.. with Seq 1..n.
func nodes(cmdID string, n int, at time.Time) []*runcmd.Invocation {
	var out []*runcmd.Invocation
	for i := range n {
		out = append(out, newInvocation(cmdID, fmt.Sprintf("mi-%03d", i), i+1, at))
	}
	return out
}

func create(t *testing.T, s runcmd.CommandStore, cmd *runcmd.Command, invs []*runcmd.Invocation) {
	t.Helper()
	if err := s.CreateCommand(t.Context(), cmd, invs); err != nil {
		t.Fatalf("CreateCommand(%s): %v", cmd.CommandID, err)
	}
}

func getCommand(t *testing.T, s runcmd.CommandStore, id string) *runcmd.Command {
	t.Helper()
	c, err := s.GetCommand(t.Context(), id)
	if err != nil {
		t.Fatalf("GetCommand(%s): %v", id, err)
	}
	return c
}

func getInvocation(t *testing.T, s runcmd.CommandStore, cmdID, instanceID string) *runcmd.Invocation {
	t.Helper()
	inv, err := s.GetInvocation(t.Context(), cmdID, instanceID)
	if err != nil {
		t.Fatalf("GetInvocation(%s, %s): %v", cmdID, instanceID, err)
	}
	return inv
}

func transition(t *testing.T, s runcmd.CommandStore, cmdID, instanceID string, to runcmd.Detail, res *runcmd.Result) *runcmd.Invocation {
	t.Helper()
	inv, err := s.Transition(t.Context(), runcmd.Transition{CommandID: cmdID, InstanceID: instanceID, To: to, At: base.Add(time.Minute), Result: res})
	if err != nil {
		t.Fatalf("Transition(%s/%s -> %s): %v", cmdID, instanceID, to, err)
	}
	return inv
}

// counters is the part of a command the store maintains.
type counters struct {
	Detail     runcmd.CommandDetail
	Cursor     int
	Dispatched int
	SentDone   int
	Counts     map[runcmd.Detail]int
}

func countersOf(c *runcmd.Command) counters {
	return counters{Detail: c.Detail, Cursor: c.Cursor, Dispatched: c.Dispatched, SentDone: c.SentDone, Counts: c.Counts}
}

func wantCounters(t *testing.T, s runcmd.CommandStore, cmdID string, want counters) {
	t.Helper()
	got := countersOf(getCommand(t, s, cmdID))
	if diff := cmp.Diff(want, got, equateEmpty); diff != "" {
		t.Errorf("command %s counters (-want +got):\n%s", cmdID, diff)
	}
}

// TestCommandStore runs the CommandStore conformance suite. newStore returns an empty store; it is
// called once per subtest, possibly from parallel subtests.
func TestCommandStore(t *testing.T, newStore func(t *testing.T) runcmd.CommandStore) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s runcmd.CommandStore)
	}{
		{"CreateAndGet", testCreateAndGet},
		{"CreateLimits", testCreateLimits},
		{"NotFound", testNotFound},
		{"ListCommands", testListCommands},
		{"ListCommandsByInstance", testListCommandsByInstance},
		{"ListCommandsFilters", testListCommandsFilters},
		{"ListCommandsStatusMoves", testListCommandsStatusMoves},
		{"AddInvocations", testAddInvocations},
		{"ListInvocations", testListInvocations},
		{"SetResolved", testSetResolved},
		{"PendingInvocations", testPendingInvocations},
		{"MarkSent", testMarkSent},
		{"TransitionTable", testTransitionTable},
		{"DuplicateAndStaleReplies", testDuplicateReplies},
		{"Transitions", testTransitions},
		{"ResultMerge", testResultMerge},
		{"LargeResult", testLargeResult},
		{"SetCommandDetail", testSetCommandDetail},
		{"ConcurrentTransitions", testConcurrentTransitions},
		{"ConcurrentProgress", testConcurrentProgress},
		{"ExpiredInvocations", testExpiredInvocations},
		{"DeadlineFollowsStart", testDeadlineFollowsStart},
		{"FromNode", testFromNode},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.fn(t, newStore(t))
		})
	}
}

func testCreateAndGet(t *testing.T, s runcmd.CommandStore) {
	cmd := newCommand("c1", base)
	invs := nodes("c1", 3, base)
	invs[2].Detail = runcmd.DetailInvalidPlatform // known to fail at send time: counted at once
	create(t, s, cmd, invs)

	want := newCommand("c1", base)
	want.Counts = map[runcmd.Detail]int{runcmd.DetailInvalidPlatform: 1}
	if diff := cmp.Diff(want, getCommand(t, s, "c1"), equateEmpty); diff != "" {
		t.Errorf("GetCommand (-want +got):\n%s", diff)
	}
	for _, inv := range invs {
		if diff := cmp.Diff(inv, getInvocation(t, s, "c1", inv.InstanceID), equateEmpty); diff != "" {
			t.Errorf("GetInvocation(%s) (-want +got):\n%s", inv.InstanceID, diff)
		}
	}
	// The store keeps its own copies.
	cmd.Comment = "changed"
	invs[0].Detail = runcmd.DetailFailed
	if got := getCommand(t, s, "c1").Comment; got != want.Comment {
		t.Errorf("stored comment changed with the caller's value: %q", got)
	}
	if got := getInvocation(t, s, "c1", invs[0].InstanceID).Detail; got != runcmd.DetailPending {
		t.Errorf("stored detail changed with the caller's value: %q", got)
	}

	err := s.CreateCommand(t.Context(), newCommand("c1", base), nil)
	wantCode(t, err, runcmd.ECONFLICT, "")
	if got := getCommand(t, s, "c1").Counts[runcmd.DetailInvalidPlatform]; got != 1 {
		t.Errorf("conflicting create changed counts: %d", got)
	}

	create(t, s, newCommand("c2", base), nil)
	if got := getCommand(t, s, "c2"); got.CommandID != "c2" {
		t.Errorf("GetCommand(c2) = %s", got.CommandID)
	}
}

func testCreateLimits(t *testing.T, s runcmd.CommandStore) {
	create(t, s, newCommand("max", base), nodes("max", runcmd.MaxInstanceIDs, base))
	page, err := s.ListInvocations(t.Context(), runcmd.InvocationQuery{CommandID: "max", Limit: 50})
	must(t, err)
	if len(page.Invocations) != runcmd.MaxInstanceIDs || page.NextToken != "" {
		t.Errorf("got %d invocations, token %q; want %d and none", len(page.Invocations), page.NextToken, runcmd.MaxInstanceIDs)
	}
	err = s.CreateCommand(t.Context(), newCommand("over", base), nodes("over", runcmd.MaxInstanceIDs+1, base))
	wantCode(t, err, runcmd.EINVALID, "")
	_, err = s.GetCommand(t.Context(), "over")
	wantCode(t, err, runcmd.ENOTFOUND, "InvalidCommandId")
}

func testNotFound(t *testing.T, s runcmd.CommandStore) {
	ctx := t.Context()
	create(t, s, newCommand("c1", base), nodes("c1", 1, base))
	_, err := s.GetCommand(ctx, "nope")
	wantCode(t, err, runcmd.ENOTFOUND, "InvalidCommandId")
	_, err = s.GetInvocation(ctx, "c1", "mi-nope")
	wantCode(t, err, runcmd.ENOTFOUND, "InvocationDoesNotExist")
	_, err = s.GetInvocation(ctx, "nope", "mi-000")
	wantCode(t, err, runcmd.ENOTFOUND, "InvocationDoesNotExist")
	_, err = s.Transition(ctx, runcmd.Transition{CommandID: "c1", InstanceID: "mi-nope", To: runcmd.DetailSuccess, At: base})
	wantCode(t, err, runcmd.ENOTFOUND, "InvocationDoesNotExist")
	wantCode(t, s.SetResolved(ctx, "nope", 1), runcmd.ENOTFOUND, "InvalidCommandId")
	wantCode(t, s.SetCommandDetail(ctx, "nope", []runcmd.CommandDetail{runcmd.CommandDetailPending}, runcmd.CommandDetailInProgress),
		runcmd.ENOTFOUND, "InvalidCommandId")
	_, err = s.MarkSent(ctx, "nope", nil, 1, base)
	wantCode(t, err, runcmd.ENOTFOUND, "InvalidCommandId")
	wantCode(t, s.AddInvocations(ctx, nodes("nope", 1, base)), runcmd.ENOTFOUND, "InvalidCommandId")
	if _, err := s.GetCommand(ctx, "nope"); runcmd.ErrorCode(err) != runcmd.ENOTFOUND {
		t.Errorf("a failed call created command nope: %v", err)
	}
}

// listAllCommands pages through ListCommands and returns the ids in order.
func listAllCommands(t *testing.T, s runcmd.CommandStore, q runcmd.CommandQuery) (ids []string, pages int) {
	t.Helper()
	for {
		p, err := s.ListCommands(t.Context(), q)
		if err != nil {
			t.Fatalf("ListCommands(%+v): %v", q, err)
		}
		if len(p.Commands) > q.Limit || len(p.Commands) == 0 && p.NextToken != "" {
			t.Fatalf("page of %d commands with token %q for limit %d", len(p.Commands), p.NextToken, q.Limit)
		}
		for _, c := range p.Commands {
			ids = append(ids, c.CommandID)
		}
		pages++
		if p.NextToken == "" {
			return ids, pages
		}
		q.NextToken = p.NextToken
	}
}

func testListCommands(t *testing.T, s runcmd.CommandStore) {
	// c0 is the oldest; c3 and c4 share a time (ties go to the larger id first).
	offsets := []time.Duration{0, time.Minute, 2 * time.Minute, 3 * time.Minute, 3 * time.Minute, 5 * time.Minute, 6 * time.Minute}
	for i, off := range offsets {
		create(t, s, newCommand(fmt.Sprintf("c%d", i), base.Add(off)), nil)
	}
	tests := []struct {
		name      string
		q         runcmd.CommandQuery
		want      []string
		wantPages int
	}{
		{"all in pages", runcmd.CommandQuery{Limit: 3}, []string{"c6", "c5", "c4", "c3", "c2", "c1", "c0"}, 3},
		{"exact pages", runcmd.CommandQuery{Limit: 7}, []string{"c6", "c5", "c4", "c3", "c2", "c1", "c0"}, 1},
		{"one id", runcmd.CommandQuery{CommandID: "c2", Limit: 5}, []string{"c2"}, 1},
		{"unknown id", runcmd.CommandQuery{CommandID: "nope", Limit: 5}, nil, 1},
		{"after, inclusive", runcmd.CommandQuery{InvokedAfter: base.Add(3 * time.Minute), Limit: 2}, []string{"c6", "c5", "c4", "c3"}, 2},
		{"before, inclusive", runcmd.CommandQuery{InvokedBefore: base.Add(3 * time.Minute), Limit: 2}, []string{"c4", "c3", "c2", "c1", "c0"}, 3},
		{"between", runcmd.CommandQuery{InvokedAfter: base.Add(time.Minute), InvokedBefore: base.Add(5 * time.Minute), Limit: 50},
			[]string{"c5", "c4", "c3", "c2", "c1"}, 1},
		{"id outside range", runcmd.CommandQuery{CommandID: "c0", InvokedAfter: base.Add(time.Second), Limit: 5}, nil, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, pages := listAllCommands(t, s, tt.q)
			if diff := cmp.Diff(tt.want, got, equateEmpty); diff != "" {
				t.Errorf("ids (-want +got):\n%s", diff)
			}
			if pages != tt.wantPages {
				t.Errorf("pages = %d, want %d", pages, tt.wantPages)
			}
		})
	}
	p, err := s.ListCommands(t.Context(), runcmd.CommandQuery{Limit: 1})
	must(t, err)
	if diff := cmp.Diff(newCommand("c6", base.Add(6*time.Minute)), p.Commands[0], equateEmpty); diff != "" {
		t.Errorf("listed command (-want +got):\n%s", diff)
	}
	_, err = s.ListCommands(t.Context(), runcmd.CommandQuery{Limit: 2, NextToken: "not a token!"})
	wantCode(t, err, runcmd.EINVALID, "")
}

func testListCommandsByInstance(t *testing.T, s runcmd.CommandStore) {
	for i := range 5 {
		id := fmt.Sprintf("c%d", i)
		var invs []*runcmd.Invocation
		if i%2 == 0 { // c0, c2, c4 run on mi-x
			invs = append(invs, newInvocation(id, "mi-x", 1, base.Add(time.Duration(i)*time.Minute)))
		}
		invs = append(invs, newInvocation(id, "mi-y", 2, base.Add(time.Duration(i)*time.Minute)))
		create(t, s, newCommand(id, base.Add(time.Duration(i)*time.Minute)), invs)
	}
	tests := []struct {
		q    runcmd.CommandQuery
		want []string
	}{
		{runcmd.CommandQuery{InstanceID: "mi-x", Limit: 2}, []string{"c4", "c2", "c0"}},
		{runcmd.CommandQuery{InstanceID: "mi-y", Limit: 2}, []string{"c4", "c3", "c2", "c1", "c0"}},
		{runcmd.CommandQuery{InstanceID: "mi-x", InvokedBefore: base.Add(3 * time.Minute), Limit: 5}, []string{"c2", "c0"}},
		{runcmd.CommandQuery{InstanceID: "mi-x", InvokedAfter: base.Add(time.Minute), Limit: 5}, []string{"c4", "c2"}},
		{runcmd.CommandQuery{InstanceID: "mi-x", CommandID: "c1", Limit: 5}, nil},
		{runcmd.CommandQuery{InstanceID: "mi-x", CommandID: "c2", Limit: 5}, []string{"c2"}},
		{runcmd.CommandQuery{InstanceID: "mi-none", Limit: 5}, nil},
	}
	for _, tt := range tests {
		got, _ := listAllCommands(t, s, tt.q)
		if diff := cmp.Diff(tt.want, got, equateEmpty); diff != "" {
			t.Errorf("ListCommands(%+v) ids (-want +got):\n%s", tt.q, diff)
		}
	}
}

// testListCommandsFilters checks every ListCommands filter alone and combined, each paged in pages of
// one and two: a store must return full pages, newest first, and a NextToken only when more follow.
func testListCommandsFilters(t *testing.T, s runcmd.CommandStore) {
	cmds := []struct {
		doc    string
		detail runcmd.CommandDetail
		onX    bool // has an invocation on mi-x
	}{
		{"A", runcmd.CommandDetailSuccess, false},           // c00
		{"B", runcmd.CommandDetailFailed, true},             // c01
		{"A", runcmd.CommandDetailIncomplete, false},        // c02
		{"A", runcmd.CommandDetailInProgress, true},         // c03
		{"B", runcmd.CommandDetailSuccess, true},            // c04
		{"A", runcmd.CommandDetailDeliveryTimedOut, false},  // c05
		{"B", runcmd.CommandDetailExecutionTimedOut, false}, // c06
		{"A", runcmd.CommandDetailPending, false},           // c07
		{"A", runcmd.CommandDetailCancelled, false},         // c08
		{"B", runcmd.CommandDetailCancelling, false},        // c09
		{"A", runcmd.CommandDetailNoInstancesInTag, false},  // c10
		{"B", runcmd.CommandDetailAccessDenied, false},      // c11
		{"A", runcmd.CommandDetailSuccess, true},            // c12
		{"B", runcmd.CommandDetailInProgress, false},        // c13
	}
	for i, c := range cmds {
		id, at := fmt.Sprintf("c%02d", i), base.Add(time.Duration(i)*time.Minute)
		cmd := newCommand(id, at)
		cmd.DocumentName, cmd.Detail = c.doc, c.detail
		var invs []*runcmd.Invocation
		if c.onX {
			invs = append(invs, newInvocation(id, "mi-x", 1, at))
		}
		create(t, s, cmd, append(invs, newInvocation(id, "mi-y", 2, at)))
	}
	ids := func(ns ...int) []string {
		var out []string
		for _, n := range ns {
			out = append(out, fmt.Sprintf("c%02d", n))
		}
		return out
	}
	at := func(min int) time.Time { return base.Add(time.Duration(min) * time.Minute) }
	tests := []struct {
		name string
		q    runcmd.CommandQuery
		want []string
	}{
		{"status Success", runcmd.CommandQuery{Status: "Success"}, ids(12, 4, 0)},
		{"status Failed covers its details", runcmd.CommandQuery{Status: "Failed"}, ids(11, 10, 2, 1)},
		{"status TimedOut covers both", runcmd.CommandQuery{Status: "TimedOut"}, ids(6, 5)},
		{"status Incomplete", runcmd.CommandQuery{Status: "Incomplete"}, ids(2)},
		{"status DeliveryTimedOut", runcmd.CommandQuery{Status: "DeliveryTimedOut"}, ids(5)},
		{"status ExecutionTimedOut", runcmd.CommandQuery{Status: "ExecutionTimedOut"}, ids(6)},
		{"status NoInstancesInTag", runcmd.CommandQuery{Status: "NoInstancesInTag"}, ids(10)},
		{"status AccessDenied", runcmd.CommandQuery{Status: "AccessDenied"}, ids(11)},
		{"status Pending", runcmd.CommandQuery{Status: "Pending"}, ids(7)},
		{"status InProgress", runcmd.CommandQuery{Status: "InProgress"}, ids(13, 3)},
		{"status Cancelling", runcmd.CommandQuery{Status: "Cancelling"}, ids(9)},
		{"status Cancelled", runcmd.CommandQuery{Status: "Cancelled"}, ids(8)},
		{"status LimitExceeded", runcmd.CommandQuery{Status: "LimitExceeded"}, nil},
		{"executing", runcmd.CommandQuery{ExecutionStage: "Executing"}, ids(13, 9, 7, 3)},
		{"complete", runcmd.CommandQuery{ExecutionStage: "Complete"}, ids(12, 11, 10, 8, 6, 5, 4, 2, 1, 0)},
		{"document", runcmd.CommandQuery{DocumentName: "B"}, ids(13, 11, 9, 6, 4, 1)},
		{"unknown document", runcmd.CommandQuery{DocumentName: "C"}, nil},
		{"document and status", runcmd.CommandQuery{DocumentName: "B", Status: "Success"}, ids(4)},
		{"document and rare status", runcmd.CommandQuery{DocumentName: "A", Status: "Failed"}, ids(10, 2)},
		{"document and executing", runcmd.CommandQuery{DocumentName: "A", ExecutionStage: "Executing"}, ids(7, 3)},
		{"document and complete", runcmd.CommandQuery{DocumentName: "B", ExecutionStage: "Complete"}, ids(11, 6, 4, 1)},
		{"status and stage", runcmd.CommandQuery{Status: "Failed", ExecutionStage: "Complete"}, ids(11, 10, 2, 1)},
		{"status outside stage", runcmd.CommandQuery{Status: "InProgress", ExecutionStage: "Complete"}, nil},
		{"stage and time range", runcmd.CommandQuery{ExecutionStage: "Complete", InvokedAfter: at(5), InvokedBefore: at(11)},
			ids(11, 10, 8, 6, 5)},
		{"status and before", runcmd.CommandQuery{Status: "Failed", InvokedBefore: at(2)}, ids(2, 1)},
		{"document and after", runcmd.CommandQuery{DocumentName: "A", InvokedAfter: at(8)}, ids(12, 10, 8)},
		{"empty range", runcmd.CommandQuery{Status: "Success", InvokedAfter: at(5), InvokedBefore: at(4)}, nil},
		{"node and status", runcmd.CommandQuery{InstanceID: "mi-x", Status: "Success"}, ids(12, 4)},
		{"node and document", runcmd.CommandQuery{InstanceID: "mi-x", DocumentName: "A"}, ids(12, 3)},
		{"node, stage and range", runcmd.CommandQuery{InstanceID: "mi-y", ExecutionStage: "Executing", InvokedBefore: at(9)},
			ids(9, 7, 3)},
		{"id and matching status", runcmd.CommandQuery{CommandID: "c04", Status: "Success"}, ids(4)},
		{"id and other status", runcmd.CommandQuery{CommandID: "c04", Status: "Failed"}, nil},
		{"id and other document", runcmd.CommandQuery{CommandID: "c04", DocumentName: "A"}, nil},
		{"id, node and stage", runcmd.CommandQuery{CommandID: "c03", InstanceID: "mi-x", ExecutionStage: "Executing"}, ids(3)},
	}
	for _, tt := range tests {
		for _, limit := range []int{1, 2} {
			t.Run(fmt.Sprintf("%s/limit %d", tt.name, limit), func(t *testing.T) {
				q := tt.q
				q.Limit = limit
				got, pages := listAllCommands(t, s, q)
				if diff := cmp.Diff(tt.want, got, equateEmpty); diff != "" {
					t.Errorf("ids (-want +got):\n%s", diff)
				}
				// Full pages, and a token only when more follow.
				if want := max(1, (len(tt.want)+limit-1)/limit); pages != want {
					t.Errorf("pages = %d, want %d", pages, want)
				}
			})
		}
	}
	for _, q := range []runcmd.CommandQuery{
		{Status: "Bogus", Limit: 5},
		{Status: "Delayed", Limit: 5}, // an invocation status, not a command one
		{ExecutionStage: "Done", Limit: 5},
		{CommandID: "c04", Status: "Bogus", Limit: 5},
	} {
		_, err := s.ListCommands(t.Context(), q)
		if runcmd.ErrorCode(err) != runcmd.EINVALID || runcmd.ErrorName(err) != "InvalidFilterValue" {
			t.Errorf("ListCommands(%+v): err %v, want EINVALID InvalidFilterValue", q, err)
		}
	}
}

// testListCommandsStatusMoves follows one command through its details: each write that changes the
// detail moves it between the Status and ExecutionStage selections, and counter updates do not.
func testListCommandsStatusMoves(t *testing.T, s runcmd.CommandStore) {
	ctx := t.Context()
	create(t, s, newCommand("old", base.Add(-time.Hour)), nil) // a Pending bystander, listed after c1
	create(t, s, newCommand("c1", base), nodes("c1", 2, base))
	listed := func(q runcmd.CommandQuery) []string {
		t.Helper()
		q.Limit = 50
		got, _ := listAllCommands(t, s, q)
		return got
	}
	want := func(step string, in map[string][]string) {
		t.Helper()
		for _, f := range []runcmd.CommandQuery{
			{Status: "Pending"}, {Status: "InProgress"}, {Status: "Cancelling"}, {Status: "Cancelled"}, {Status: "Failed"},
			{ExecutionStage: "Executing"}, {ExecutionStage: "Complete"},
		} {
			key := f.Status + f.ExecutionStage
			if diff := cmp.Diff(in[key], listed(f), equateEmpty); diff != "" {
				t.Errorf("%s: listed by %s (-want +got):\n%s", step, key, diff)
			}
		}
	}
	both := []string{"c1", "old"}
	want("created", map[string][]string{"Pending": both, "Executing": both})

	_, err := s.MarkSent(ctx, "c1", nodes("c1", 2, base), 2, base)
	must(t, err)
	want("sent", map[string][]string{"Pending": {"old"}, "InProgress": {"c1"}, "Executing": both})

	transition(t, s, "c1", "mi-000", runcmd.DetailSuccess, nil) // counters move, the detail does not
	want("one finished", map[string][]string{"Pending": {"old"}, "InProgress": {"c1"}, "Executing": both})

	// Paging through Executing while the newest command ends between pages neither repeats it nor
	// skips the rest.
	p, err := s.ListCommands(ctx, runcmd.CommandQuery{ExecutionStage: "Executing", Limit: 1})
	must(t, err)
	if len(p.Commands) != 1 || p.Commands[0].CommandID != "c1" || p.NextToken == "" {
		t.Fatalf("first page of Executing: %d commands, token %q", len(p.Commands), p.NextToken)
	}
	must(t, s.SetCommandDetail(ctx, "c1", []runcmd.CommandDetail{runcmd.CommandDetailInProgress}, runcmd.CommandDetailCancelling))
	want("cancelling", map[string][]string{"Pending": {"old"}, "Cancelling": {"c1"}, "Executing": both})
	must(t, s.SetCommandDetail(ctx, "c1", []runcmd.CommandDetail{runcmd.CommandDetailCancelling}, runcmd.CommandDetailCancelled))
	rest, _ := listAllCommands(t, s, runcmd.CommandQuery{ExecutionStage: "Executing", Limit: 1, NextToken: p.NextToken})
	if diff := cmp.Diff([]string{"old"}, rest); diff != "" {
		t.Errorf("second page of Executing after c1 ended (-want +got):\n%s", diff)
	}
	want("cancelled", map[string][]string{"Pending": {"old"}, "Cancelled": {"c1"}, "Executing": {"old"}, "Complete": {"c1"}})

	must(t, s.SetCommandDetail(ctx, "old", []runcmd.CommandDetail{runcmd.CommandDetailPending}, runcmd.CommandDetailNoInstancesInTag))
	want("old ended", map[string][]string{"Cancelled": {"c1"}, "Failed": {"old"}, "Complete": both})
}

// listAllInvocations pages through ListInvocations and returns "command/instance" names in order.
func listAllInvocations(t *testing.T, s runcmd.CommandStore, q runcmd.InvocationQuery) []string {
	t.Helper()
	var out []string
	for {
		p, err := s.ListInvocations(t.Context(), q)
		if err != nil {
			t.Fatalf("ListInvocations(%+v): %v", q, err)
		}
		if len(p.Invocations) > q.Limit || len(p.Invocations) == 0 && p.NextToken != "" {
			t.Fatalf("page of %d invocations with token %q for limit %d", len(p.Invocations), p.NextToken, q.Limit)
		}
		for _, inv := range p.Invocations {
			out = append(out, inv.CommandID+"/"+inv.InstanceID)
		}
		if p.NextToken == "" {
			return out
		}
		q.NextToken = p.NextToken
	}
}

func testAddInvocations(t *testing.T, s runcmd.CommandStore) {
	ctx := t.Context()
	cmd := newCommand("c1", base)
	cmd.Resolved, cmd.TargetCount = false, 0
	create(t, s, cmd, nodes("c1", 2, base))
	// More than one transaction's worth (99 puts), overlapping the two that exist, with repeats in the
	// input. Kept small: moto copies the whole table once per transaction item.
	invs := nodes("c1", 110, base)
	invs[0].InstanceName = "changed" // exists: must stay unchanged
	invs[5].Detail = runcmd.DetailUndeliverable
	invs = append(invs, newInvocation("c1", "mi-003", 99, base))
	must(t, s.AddInvocations(ctx, invs))
	must(t, s.AddInvocations(ctx, invs)) // a retried resolution is harmless
	must(t, s.AddInvocations(ctx, nil))

	if got := getInvocation(t, s, "c1", "mi-000").InstanceName; got != "name-mi-000" {
		t.Errorf("existing invocation overwritten: InstanceName %q", got)
	}
	if got := getInvocation(t, s, "c1", "mi-003").Seq; got != 4 {
		t.Errorf("repeated invocation: Seq %d, want the first one's 4", got)
	}
	if diff := cmp.Diff(invs[105], getInvocation(t, s, "c1", "mi-105"), equateEmpty); diff != "" {
		t.Errorf("added invocation (-want +got):\n%s", diff)
	}
	got := listAllInvocations(t, s, runcmd.InvocationQuery{CommandID: "c1", Limit: 50})
	var want []string
	for i := range 110 {
		want = append(want, fmt.Sprintf("c1/mi-%03d", i))
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("invocations (-want +got):\n%s", diff)
	}
	wantCounters(t, s, "c1", counters{Detail: runcmd.CommandDetailPending,
		Counts: map[runcmd.Detail]int{runcmd.DetailUndeliverable: 1}})
}

func testListInvocations(t *testing.T, s runcmd.CommandStore) {
	ctx := t.Context()
	for i := range 4 {
		id := fmt.Sprintf("c%d", i)
		at := base.Add(time.Duration(i) * time.Minute)
		create(t, s, newCommand(id, at), []*runcmd.Invocation{newInvocation(id, "mi-x", 1, at), newInvocation(id, "mi-y", 2, at)})
	}
	tests := []struct {
		name string
		q    runcmd.InvocationQuery
		want []string
	}{
		{"by command", runcmd.InvocationQuery{CommandID: "c1", Limit: 1}, []string{"c1/mi-x", "c1/mi-y"}},
		{"by node, newest first", runcmd.InvocationQuery{InstanceID: "mi-y", Limit: 3}, []string{"c3/mi-y", "c2/mi-y", "c1/mi-y", "c0/mi-y"}},
		{"pair", runcmd.InvocationQuery{CommandID: "c2", InstanceID: "mi-x", Limit: 10}, []string{"c2/mi-x"}},
		{"missing pair", runcmd.InvocationQuery{CommandID: "c2", InstanceID: "mi-z", Limit: 10}, nil},
		{"unknown command", runcmd.InvocationQuery{CommandID: "nope", Limit: 10}, nil},
		{"by node, after, inclusive", runcmd.InvocationQuery{InstanceID: "mi-y", InvokedAfter: base.Add(time.Minute), Limit: 2},
			[]string{"c3/mi-y", "c2/mi-y", "c1/mi-y"}},
		{"by node, before, inclusive", runcmd.InvocationQuery{InstanceID: "mi-y", InvokedBefore: base.Add(time.Minute), Limit: 1},
			[]string{"c1/mi-y", "c0/mi-y"}},
		{"by node, between", runcmd.InvocationQuery{InstanceID: "mi-x", InvokedAfter: base.Add(time.Minute),
			InvokedBefore: base.Add(2 * time.Minute), Limit: 1}, []string{"c2/mi-x", "c1/mi-x"}},
		{"by node, empty range", runcmd.InvocationQuery{InstanceID: "mi-x", InvokedAfter: base.Add(2 * time.Minute),
			InvokedBefore: base.Add(time.Minute), Limit: 5}, nil},
		{"by command, in range", runcmd.InvocationQuery{CommandID: "c1", InvokedAfter: base.Add(time.Minute),
			InvokedBefore: base.Add(time.Minute), Limit: 1}, []string{"c1/mi-x", "c1/mi-y"}},
		{"by command, out of range", runcmd.InvocationQuery{CommandID: "c1", InvokedAfter: base.Add(time.Minute + 1), Limit: 5}, nil},
		{"pair, out of range", runcmd.InvocationQuery{CommandID: "c1", InstanceID: "mi-x", InvokedBefore: base, Limit: 5}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, listAllInvocations(t, s, tt.q), equateEmpty); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	p, err := s.ListInvocations(ctx, runcmd.InvocationQuery{InstanceID: "mi-x", Limit: 1})
	must(t, err)
	if diff := cmp.Diff(newInvocation("c3", "mi-x", 1, base.Add(3*time.Minute)), p.Invocations[0], equateEmpty); diff != "" {
		t.Errorf("listed invocation (-want +got):\n%s", diff)
	}
	_, err = s.ListInvocations(ctx, runcmd.InvocationQuery{Limit: 10})
	wantCode(t, err, runcmd.EINVALID, "")
	_, err = s.ListInvocations(ctx, runcmd.InvocationQuery{CommandID: "c1", Limit: 10, NextToken: "%%%"})
	wantCode(t, err, runcmd.EINVALID, "")
}

func testSetResolved(t *testing.T, s runcmd.CommandStore) {
	cmd := newCommand("c1", base)
	cmd.Resolved, cmd.TargetCount = false, 0
	create(t, s, cmd, nil)
	must(t, s.SetResolved(t.Context(), "c1", 42))
	got := getCommand(t, s, "c1")
	if !got.Resolved || got.TargetCount != 42 {
		t.Errorf("Resolved, TargetCount = %v, %d; want true, 42", got.Resolved, got.TargetCount)
	}
}

func testPendingInvocations(t *testing.T, s runcmd.CommandStore) {
	ctx := t.Context()
	create(t, s, newCommand("c1", base), nil)
	// Seq order differs from instance id order.
	var invs []*runcmd.Invocation
	for i := range 12 {
		invs = append(invs, newInvocation("c1", fmt.Sprintf("mi-%02d", 11-i), i+1, base))
	}
	invs[6].Detail = runcmd.DetailInvalidPlatform // Seq 7: never Pending
	must(t, s.AddInvocations(ctx, invs))
	create(t, s, newCommand("c2", base), nodes("c2", 3, base))   // another command's invocations stay out
	transition(t, s, "c1", "mi-08", runcmd.DetailCancelled, nil) // Seq 4: no longer Pending
	transition(t, s, "c1", "mi-07", runcmd.DetailDelayed, nil)   // Seq 5: nor is a Delayed one

	seqs := func(invs []*runcmd.Invocation) []int {
		var out []int
		for _, inv := range invs {
			if inv.CommandID != "c1" || inv.Detail != runcmd.DetailPending {
				t.Errorf("invocation %s/%s (%s) returned", inv.CommandID, inv.InstanceID, inv.Detail)
			}
			out = append(out, inv.Seq)
		}
		return out
	}
	pending := func(after, limit int) []int {
		t.Helper()
		got, err := s.PendingInvocations(ctx, "c1", after, limit)
		must(t, err)
		return seqs(got)
	}
	if diff := cmp.Diff([]int{1, 2, 3, 6, 8}, pending(0, 5)); diff != "" {
		t.Errorf("first window (-want +got):\n%s", diff)
	}
	got, err := s.PendingInvocations(ctx, "c1", 0, 1)
	must(t, err)
	if diff := cmp.Diff(invs[:1], got, equateEmpty); diff != "" {
		t.Errorf("pending invocation (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]int{10, 11, 12}, pending(9, 5)); diff != "" {
		t.Errorf("last window (-want +got):\n%s", diff)
	}
	if got := pending(12, 5); len(got) != 0 {
		t.Errorf("after the last Seq: %v", got)
	}

	// Sending, and ending unsent, take invocations out.
	_, err = s.MarkSent(ctx, "c1", invs[:2], 2, base)
	must(t, err)
	transition(t, s, "c1", invs[7].InstanceID, runcmd.DetailTerminated, nil) // Seq 8
	if diff := cmp.Diff([]int{3, 6, 9, 10, 11, 12}, pending(0, 10)); diff != "" {
		t.Errorf("after sending 1, 2 and ending 8 (-want +got):\n%s", diff)
	}
	// An invocation added later, and the empty command.
	must(t, s.AddInvocations(ctx, []*runcmd.Invocation{newInvocation("c1", "mi-late", 13, base)}))
	if diff := cmp.Diff([]int{11, 12, 13}, pending(10, 10)); diff != "" {
		t.Errorf("with a late invocation (-want +got):\n%s", diff)
	}
	create(t, s, newCommand("empty", base), nil)
	gotEmpty, err := s.PendingInvocations(ctx, "empty", 0, 10)
	must(t, err)
	if len(gotEmpty) != 0 {
		t.Errorf("command without invocations: %d pending", len(gotEmpty))
	}
}

func testMarkSent(t *testing.T, s runcmd.CommandStore) {
	ctx := t.Context()
	create(t, s, newCommand("c1", base), nodes("c1", 5, base))
	transition(t, s, "c1", "mi-001", runcmd.DetailCancelled, nil)
	transition(t, s, "c1", "mi-002", runcmd.DetailDelayed, nil)
	sentAt := base.Add(time.Second)
	// As read before: mi-001 and mi-002 are no longer Pending; mi-009 does not exist.
	keys := append(nodes("c1", 4, base), newInvocation("c1", "mi-009", 10, base))
	moved, err := s.MarkSent(ctx, "c1", keys, 4, sentAt)
	must(t, err)
	var want []*runcmd.Invocation
	for _, id := range []string{"mi-000", "mi-003"} {
		inv := getInvocation(t, s, "c1", id)
		if inv.Detail != runcmd.DetailInProgress || !inv.Sent || !inv.UpdatedAt.Equal(sentAt) {
			t.Errorf("%s after MarkSent: %s sent=%v updated %v", id, inv.Detail, inv.Sent, inv.UpdatedAt)
		}
		want = append(want, inv)
	}
	if diff := cmp.Diff(want, moved, equateEmpty); diff != "" {
		t.Errorf("moved invocations (-want +got):\n%s", diff)
	}
	if got := getInvocation(t, s, "c1", "mi-002"); got.Detail != runcmd.DetailDelayed || got.Sent {
		t.Errorf("Delayed invocation marked: %s sent=%v", got.Detail, got.Sent)
	}
	wantCounters(t, s, "c1", counters{Detail: runcmd.CommandDetailInProgress, Cursor: 4, Dispatched: 2,
		Counts: map[runcmd.Detail]int{runcmd.DetailCancelled: 1}})

	// Marking again moves nothing but still records the cursor.
	moved, err = s.MarkSent(ctx, "c1", keys, 5, sentAt)
	must(t, err)
	if len(moved) != 0 {
		t.Errorf("second MarkSent moved %d", len(moved))
	}
	wantCounters(t, s, "c1", counters{Detail: runcmd.CommandDetailInProgress, Cursor: 5, Dispatched: 2,
		Counts: map[runcmd.Detail]int{runcmd.DetailCancelled: 1}})

	// A cancelling command sends nothing more.
	must(t, s.SetCommandDetail(ctx, "c1", []runcmd.CommandDetail{runcmd.CommandDetailInProgress}, runcmd.CommandDetailCancelling))
	moved, err = s.MarkSent(ctx, "c1", []*runcmd.Invocation{newInvocation("c1", "mi-004", 5, base)}, 6, sentAt)
	wantCode(t, err, runcmd.ECONFLICT, "")
	if len(moved) != 0 || getInvocation(t, s, "c1", "mi-004").Detail != runcmd.DetailPending {
		t.Errorf("MarkSent on a cancelling command moved %v", moved)
	}
	_, err = s.MarkSent(ctx, "c1", nil, 6, sentAt)
	wantCode(t, err, runcmd.ECONFLICT, "")
	wantCounters(t, s, "c1", counters{Detail: runcmd.CommandDetailCancelling, Cursor: 5, Dispatched: 2,
		Counts: map[runcmd.Detail]int{runcmd.DetailCancelled: 1}})

	_, err = s.MarkSent(ctx, "c1", nodes("c1", 100, base), 7, sentAt)
	wantCode(t, err, runcmd.EINVALID, "")

	// A full batch of 99 in one call.
	create(t, s, newCommand("big", base), nil)
	must(t, s.AddInvocations(ctx, nodes("big", 99, base)))
	moved, err = s.MarkSent(ctx, "big", nodes("big", 99, base), 99, sentAt)
	must(t, err)
	if len(moved) != 99 {
		t.Errorf("moved %d of 99", len(moved))
	}
	wantCounters(t, s, "big", counters{Detail: runcmd.CommandDetailInProgress, Cursor: 99, Dispatched: 99})
}

var allDetails = []runcmd.Detail{
	runcmd.DetailPending, runcmd.DetailInProgress, runcmd.DetailDelayed, runcmd.DetailCancelling,
	runcmd.DetailSuccess, runcmd.DetailFailed, runcmd.DetailDeliveryTimedOut, runcmd.DetailExecutionTimedOut,
	runcmd.DetailCancelled, runcmd.DetailTerminated, runcmd.DetailUndeliverable, runcmd.DetailInvalidPlatform,
	runcmd.DetailAccessDenied,
}

// testTransitionTable tries every (from, to) pair on its own invocation and checks the store follows
// CanTransition, changes nothing on a refusal, and counts exactly the applied terminal transitions.
func testTransitionTable(t *testing.T, s runcmd.CommandStore) {
	ctx := t.Context()
	froms := []runcmd.Detail{runcmd.DetailPending, runcmd.DetailInProgress, runcmd.DetailDelayed,
		runcmd.DetailCancelling, runcmd.DetailSuccess}
	create(t, s, newCommand("c1", base), nil)
	type pair struct{ from, to runcmd.Detail }
	var (
		pairs []pair
		invs  []*runcmd.Invocation
	)
	for _, from := range froms {
		for _, to := range allDetails {
			inv := newInvocation("c1", fmt.Sprintf("mi-%02d", len(pairs)), len(pairs)+1, base)
			pairs = append(pairs, pair{from, to})
			invs = append(invs, inv)
		}
	}
	must(t, s.AddInvocations(ctx, invs))

	// Bring each invocation to its from state.
	var sent []*runcmd.Invocation
	for i, p := range pairs {
		if p.from != runcmd.DetailPending && p.from != runcmd.DetailDelayed {
			sent = append(sent, invs[i])
		}
	}
	moved, err := s.MarkSent(ctx, "c1", sent, len(invs), base)
	must(t, err)
	if len(moved) != len(sent) {
		t.Fatalf("MarkSent moved %d of %d", len(moved), len(sent))
	}
	want := counters{Detail: runcmd.CommandDetailInProgress, Cursor: len(invs), Dispatched: len(sent), Counts: map[runcmd.Detail]int{}}
	for i, p := range pairs {
		switch p.from {
		case runcmd.DetailDelayed, runcmd.DetailCancelling:
			transition(t, s, "c1", invs[i].InstanceID, p.from, nil)
		case runcmd.DetailSuccess:
			transition(t, s, "c1", invs[i].InstanceID, p.from, nil)
			want.Counts[runcmd.DetailSuccess]++
			want.SentDone++
		}
	}
	wantCounters(t, s, "c1", want)

	for i, p := range pairs {
		id := invs[i].InstanceID
		before := getInvocation(t, s, "c1", id)
		at := base.Add(time.Hour)
		res := &runcmd.Result{ResponseCode: 7, TraceOutput: "trace"}
		got, err := s.Transition(ctx, runcmd.Transition{CommandID: "c1", InstanceID: id, To: p.to, At: at, Result: res})
		if !runcmd.CanTransition(p.from, p.to) {
			if runcmd.ErrorCode(err) != runcmd.ECONFLICT {
				t.Errorf("%s -> %s: err %v, want ECONFLICT", p.from, p.to, err)
			}
			if diff := cmp.Diff(before, getInvocation(t, s, "c1", id), equateEmpty); diff != "" {
				t.Errorf("%s -> %s refused but changed the invocation (-before +after):\n%s", p.from, p.to, diff)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s -> %s: %v", p.from, p.to, err)
			continue
		}
		wantInv := *before
		wantInv.Detail, wantInv.UpdatedAt = p.to, at
		wantInv.Result.ResponseCode, wantInv.Result.TraceOutput = 7, "trace"
		if diff := cmp.Diff(&wantInv, got, equateEmpty); diff != "" {
			t.Errorf("%s -> %s returned (-want +got):\n%s", p.from, p.to, diff)
		}
		if diff := cmp.Diff(&wantInv, getInvocation(t, s, "c1", id), equateEmpty); diff != "" {
			t.Errorf("%s -> %s stored (-want +got):\n%s", p.from, p.to, diff)
		}
		if p.to.Terminal() {
			want.Counts[p.to]++
			if before.Sent {
				want.SentDone++
			}
		}
	}
	wantCounters(t, s, "c1", want)
}

// testTransitions checks that a batch of transitions ends exactly as the same transitions applied one
// by one would: repeats of an invocation in order, refusals per transition, counters summed per command,
// across more transitions than a store might write at once.
func testTransitions(t *testing.T, s runcmd.CommandStore) {
	ctx := t.Context()
	c1, c2 := nodes("c1", 14, base), nodes("c2", 2, base)
	create(t, s, newCommand("c1", base), c1)
	create(t, s, newCommand("c2", base), c2)
	_, err := s.MarkSent(ctx, "c1", c1[:12], 12, base)
	must(t, err)
	_, err = s.MarkSent(ctx, "c2", c2[:1], 1, base)
	must(t, err)

	at := base.Add(time.Minute)
	step := func(name string) *runcmd.Result {
		return &runcmd.Result{StartedAt: base, Plugins: []runcmd.PluginResult{{Name: name, Status: runcmd.InvocationSuccess, Stdout: name}}}
	}
	tr := func(cmd, node string, to runcmd.Detail, fromNode bool, res *runcmd.Result) runcmd.Transition {
		return runcmd.Transition{CommandID: cmd, InstanceID: node, To: to, At: at, Result: res, FromNode: fromNode}
	}
	ts := []runcmd.Transition{
		tr("c1", "mi-000", runcmd.DetailInProgress, true, step("a")),
		tr("c1", "mi-000", runcmd.DetailSuccess, true, step("b")), // the same invocation, after the first
	}
	for i := 1; i <= 10; i++ {
		ts = append(ts, tr("c1", fmt.Sprintf("mi-%03d", i), runcmd.DetailSuccess, true, step("run")))
	}
	ts = append(ts,
		tr("c1", "mi-011", runcmd.DetailFailed, true, step("run")),
		tr("c1", "mi-012", runcmd.DetailSuccess, true, nil),    // never sent: EUNAUTHORIZED
		tr("c1", "mi-099", runcmd.DetailSuccess, true, nil),    // no such invocation: ENOTFOUND
		tr("c2", "mi-000", runcmd.DetailSuccess, true, nil),    // another command
		tr("c2", "mi-000", runcmd.DetailSuccess, true, nil),    // duplicate: ECONFLICT
		tr("c1", "mi-013", runcmd.DetailCancelled, false, nil), // unsent, service-side
		tr("c1", "mi-001", runcmd.DetailInProgress, true, nil), // stale after its Success: ECONFLICT
	)
	wantErr := map[int]string{13: runcmd.EUNAUTHORIZED, 14: runcmd.ENOTFOUND, 16: runcmd.ECONFLICT, 18: runcmd.ECONFLICT}

	invs, errs := s.Transitions(ctx, ts)
	if len(invs) != len(ts) || len(errs) != len(ts) {
		t.Fatalf("Transitions returned %d invocations and %d errors for %d transitions", len(invs), len(errs), len(ts))
	}
	for i, tt := range ts {
		if got := runcmd.ErrorCode(errs[i]); got != wantErr[i] {
			t.Errorf("transition %d (%s/%s -> %s): code %q (%v), want %q", i, tt.CommandID, tt.InstanceID, tt.To, got, errs[i], wantErr[i])
			continue
		}
		if errs[i] != nil {
			if invs[i] != nil {
				t.Errorf("transition %d failed but returned an invocation", i)
			}
			continue
		}
		if invs[i] == nil || invs[i].Detail != tt.To || invs[i].InstanceID != tt.InstanceID {
			t.Errorf("transition %d returned %+v, want %s/%s at %s", i, invs[i], tt.CommandID, tt.InstanceID, tt.To)
		}
	}
	first := getInvocation(t, s, "c1", "mi-000")
	if first.Detail != runcmd.DetailSuccess || len(first.Result.Plugins) != 2 || first.Result.ResponseCode != 0 {
		t.Errorf("c1/mi-000 = %s with %d plugins (code %d); want Success with both steps merged",
			first.Detail, len(first.Result.Plugins), first.Result.ResponseCode)
	}
	if diff := cmp.Diff(invs[1], first, equateEmpty); diff != "" {
		t.Errorf("c1/mi-000 returned vs stored (-returned +stored):\n%s", diff)
	}
	wantCounters(t, s, "c1", counters{Detail: runcmd.CommandDetailInProgress, Cursor: 12, Dispatched: 12, SentDone: 12,
		Counts: map[runcmd.Detail]int{runcmd.DetailSuccess: 11, runcmd.DetailFailed: 1, runcmd.DetailCancelled: 1}})
	wantCounters(t, s, "c2", counters{Detail: runcmd.CommandDetailInProgress, Cursor: 1, Dispatched: 1, SentDone: 1,
		Counts: map[runcmd.Detail]int{runcmd.DetailSuccess: 1}})
	if inv := getInvocation(t, s, "c1", "mi-012"); inv.Detail != runcmd.DetailPending {
		t.Errorf("c1/mi-012 = %s after a refused transition, want Pending", inv.Detail)
	}

	if invs, errs := s.Transitions(ctx, nil); len(invs) != 0 || len(errs) != 0 {
		t.Errorf("Transitions(nil) = %v, %v; want nothing", invs, errs)
	}
}

func testDuplicateReplies(t *testing.T, s runcmd.CommandStore) {
	ctx := t.Context()
	create(t, s, newCommand("c1", base), nodes("c1", 2, base))
	_, err := s.MarkSent(ctx, "c1", nodes("c1", 1, base), 1, base)
	must(t, err)
	final := &runcmd.Result{ResponseCode: 0, EndedAt: base.Add(time.Minute),
		Plugins: []runcmd.PluginResult{{Name: "run", Status: runcmd.InvocationSuccess, Detail: runcmd.DetailSuccess, Stdout: "ok"}}}
	done := transition(t, s, "c1", "mi-000", runcmd.DetailSuccess, final)

	tests := []struct {
		name string
		to   runcmd.Detail
	}{
		{"duplicate final reply", runcmd.DetailSuccess},
		{"late progress reply", runcmd.DetailInProgress},
		{"late different result", runcmd.DetailFailed},
		{"late timeout", runcmd.DetailDeliveryTimedOut},
	}
	for _, tt := range tests {
		_, err := s.Transition(ctx, runcmd.Transition{CommandID: "c1", InstanceID: "mi-000", To: tt.to, At: base.Add(time.Hour),
			Result: &runcmd.Result{ResponseCode: 9, Plugins: []runcmd.PluginResult{{Name: "run", Stdout: "stale"}}}})
		if runcmd.ErrorCode(err) != runcmd.ECONFLICT {
			t.Errorf("%s: err %v, want ECONFLICT", tt.name, err)
		}
	}
	if diff := cmp.Diff(done, getInvocation(t, s, "c1", "mi-000"), equateEmpty); diff != "" {
		t.Errorf("invocation changed by late replies (-want +got):\n%s", diff)
	}
	// A reply that overtakes the send record finishes an unsent invocation: counted, but not SentDone.
	transition(t, s, "c1", "mi-001", runcmd.DetailFailed, nil)
	wantCounters(t, s, "c1", counters{Detail: runcmd.CommandDetailInProgress, Cursor: 1, Dispatched: 1, SentDone: 1,
		Counts: map[runcmd.Detail]int{runcmd.DetailSuccess: 1, runcmd.DetailFailed: 1}})
}

func testResultMerge(t *testing.T, s runcmd.CommandStore) {
	ctx := t.Context()
	create(t, s, newCommand("c1", base), nodes("c1", 1, base))
	_, err := s.MarkSent(ctx, "c1", nodes("c1", 1, base), 1, base)
	must(t, err)
	started := base.Add(time.Second)
	ended := base.Add(time.Minute)
	a := runcmd.PluginResult{Name: "a", Action: "aws:runShellScript", Status: runcmd.InvocationInProgress,
		Detail: runcmd.DetailInProgress, ResponseCode: -1, StartedAt: started}
	b := runcmd.PluginResult{Name: "b", Action: "aws:runShellScript", Status: runcmd.InvocationSuccess,
		Detail: runcmd.DetailSuccess, StartedAt: started, EndedAt: ended, Stdout: "b out", Stderr: "b err",
		StdoutURL: "https://s3/b/stdout", OutputS3Bucket: "bk", OutputS3Prefix: "p"}
	a2 := a
	a2.Status, a2.Detail, a2.ResponseCode, a2.EndedAt, a2.Stdout = runcmd.InvocationSuccess, runcmd.DetailSuccess, 0, ended, "a out"
	c := runcmd.PluginResult{Name: "c", Skipped: true, Status: runcmd.InvocationSuccess, Detail: runcmd.DetailSuccess}

	transition(t, s, "c1", "mi-000", runcmd.DetailInProgress, &runcmd.Result{StartedAt: started, Plugins: []runcmd.PluginResult{a}})
	transition(t, s, "c1", "mi-000", runcmd.DetailInProgress, &runcmd.Result{Plugins: []runcmd.PluginResult{b}})
	transition(t, s, "c1", "mi-000", runcmd.DetailInProgress, nil) // progress without a result
	got := transition(t, s, "c1", "mi-000", runcmd.DetailSuccess,
		&runcmd.Result{ResponseCode: 0, EndedAt: ended, TraceOutput: "done", Plugins: []runcmd.PluginResult{a2, c}})
	want := runcmd.Result{ResponseCode: 0, StartedAt: started, EndedAt: ended, TraceOutput: "done",
		Plugins: []runcmd.PluginResult{a2, b, c}}
	if diff := cmp.Diff(want, got.Result, equateEmpty); diff != "" {
		t.Errorf("merged result (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(want, getInvocation(t, s, "c1", "mi-000").Result, equateEmpty); diff != "" {
		t.Errorf("stored result (-want +got):\n%s", diff)
	}
}

// testLargeResult stores a result at SSM's inline output limits for many steps: more than a DynamoDB
// item holds as plain text.
func testLargeResult(t *testing.T, s runcmd.CommandStore) {
	create(t, s, newCommand("c1", base), nodes("c1", 1, base))
	var plugins []runcmd.PluginResult
	for i := range 16 {
		plugins = append(plugins, runcmd.PluginResult{
			Name:   fmt.Sprintf("step%02d", i),
			Stdout: filler(i, runcmd.MaxStdout),
			Stderr: filler(i+100, runcmd.MaxStderr),
		})
	}
	res := &runcmd.Result{ResponseCode: 1, TraceOutput: filler(7, runcmd.MaxTraceOutput), Plugins: plugins}
	got := transition(t, s, "c1", "mi-000", runcmd.DetailFailed, res)
	if diff := cmp.Diff(*res, got.Result, equateEmpty); diff != "" {
		t.Errorf("returned result differs (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(*res, getInvocation(t, s, "c1", "mi-000").Result, equateEmpty); diff != "" {
		t.Errorf("stored result differs (-want +got):\n%s", diff)
	}
}

// filler returns n characters of log-like text.
func filler(seed, n int) string {
	var b strings.Builder
	for i := 0; b.Len() < n; i++ {
		fmt.Fprintf(&b, "line %d of step %d: value=%x\n", i, seed, (i*2654435761+seed)%1000003)
	}
	return b.String()[:n]
}

func testSetCommandDetail(t *testing.T, s runcmd.CommandStore) {
	ctx := t.Context()
	create(t, s, newCommand("c1", base), nil)
	tests := []struct {
		from     []runcmd.CommandDetail
		to       runcmd.CommandDetail
		wantCode string
		want     runcmd.CommandDetail
	}{
		{[]runcmd.CommandDetail{runcmd.CommandDetailPending, runcmd.CommandDetailInProgress}, runcmd.CommandDetailCancelling, "", runcmd.CommandDetailCancelling},
		{[]runcmd.CommandDetail{runcmd.CommandDetailPending, runcmd.CommandDetailInProgress}, runcmd.CommandDetailCancelled, runcmd.ECONFLICT, runcmd.CommandDetailCancelling},
		{nil, runcmd.CommandDetailSuccess, runcmd.ECONFLICT, runcmd.CommandDetailCancelling},
		{[]runcmd.CommandDetail{runcmd.CommandDetailCancelling}, runcmd.CommandDetailCancelled, "", runcmd.CommandDetailCancelled},
	}
	for _, tt := range tests {
		err := s.SetCommandDetail(ctx, "c1", tt.from, tt.to)
		if runcmd.ErrorCode(err) != tt.wantCode {
			t.Errorf("SetCommandDetail(%v, %s): err %v, want code %q", tt.from, tt.to, err, tt.wantCode)
		}
		if got := getCommand(t, s, "c1").Detail; got != tt.want {
			t.Errorf("after SetCommandDetail(%v, %s): detail %s, want %s", tt.from, tt.to, got, tt.want)
		}
	}
}

// testConcurrentTransitions races different final replies for the same invocations: exactly one wins
// per invocation and the counters count each invocation once.
func testConcurrentTransitions(t *testing.T, s runcmd.CommandStore) {
	ctx := t.Context()
	const n = 8
	create(t, s, newCommand("c1", base), nodes("c1", n, base))
	_, err := s.MarkSent(ctx, "c1", nodes("c1", n, base), n, base)
	must(t, err)
	racers := []runcmd.Detail{runcmd.DetailSuccess, runcmd.DetailFailed, runcmd.DetailExecutionTimedOut, runcmd.DetailCancelled}
	type outcome struct {
		instanceID string
		to         runcmd.Detail
		err        error
	}
	results := make(chan outcome, n*len(racers))
	for i := range n {
		id := fmt.Sprintf("mi-%03d", i)
		for _, to := range racers {
			go func() {
				_, err := s.Transition(ctx, runcmd.Transition{CommandID: "c1", InstanceID: id, To: to, At: base})
				results <- outcome{id, to, err}
			}()
		}
	}
	winners := map[string]runcmd.Detail{}
	counts := map[runcmd.Detail]int{}
	for range n * len(racers) {
		o := <-results
		switch runcmd.ErrorCode(o.err) {
		case "":
			if w, ok := winners[o.instanceID]; ok {
				t.Errorf("%s: both %s and %s applied", o.instanceID, w, o.to)
			}
			winners[o.instanceID] = o.to
			counts[o.to]++
		case runcmd.ECONFLICT:
		default:
			t.Errorf("%s -> %s: %v", o.instanceID, o.to, o.err)
		}
	}
	if len(winners) != n {
		t.Errorf("%d invocations had a winner, want %d", len(winners), n)
	}
	for id, to := range winners {
		if got := getInvocation(t, s, "c1", id).Detail; got != to {
			t.Errorf("%s: stored %s, winner %s", id, got, to)
		}
	}
	wantCounters(t, s, "c1", counters{Detail: runcmd.CommandDetailInProgress, Cursor: n, Dispatched: n, SentDone: n, Counts: counts})
}

// testConcurrentProgress races progress replies that each carry a different step: none is lost.
func testConcurrentProgress(t *testing.T, s runcmd.CommandStore) {
	ctx := t.Context()
	create(t, s, newCommand("c1", base), nodes("c1", 1, base))
	_, err := s.MarkSent(ctx, "c1", nodes("c1", 1, base), 1, base)
	must(t, err)
	const steps = 5
	errs := make(chan error, steps)
	for i := range steps {
		go func() {
			_, err := s.Transition(ctx, runcmd.Transition{CommandID: "c1", InstanceID: "mi-000", To: runcmd.DetailInProgress, At: base,
				Result: &runcmd.Result{Plugins: []runcmd.PluginResult{{Name: fmt.Sprintf("step%d", i)}}}})
			errs <- err
		}()
	}
	for range steps {
		if err := <-errs; err != nil {
			t.Errorf("progress: %v", err)
		}
	}
	var names []string
	for _, p := range getInvocation(t, s, "c1", "mi-000").Result.Plugins {
		names = append(names, p.Name)
	}
	slices.Sort(names)
	if diff := cmp.Diff([]string{"step0", "step1", "step2", "step3", "step4"}, names); diff != "" {
		t.Errorf("plugins after concurrent progress (-want +got):\n%s", diff)
	}
}

func testExpiredInvocations(t *testing.T, s runcmd.CommandStore) {
	ctx := t.Context()
	create(t, s, newCommand("c1", base), nil)
	var invs []*runcmd.Invocation
	for i, off := range []time.Duration{5, 1, 3, 2, 4, 9} { // minutes after base
		inv := newInvocation("c1", fmt.Sprintf("mi-%d", i), i+1, base)
		inv.ExpiresAt = base.Add(off * time.Minute)
		invs = append(invs, inv)
	}
	must(t, s.AddInvocations(ctx, invs))
	_, err := s.MarkSent(ctx, "c1", invs[2:5], 1, base)
	must(t, err)
	transition(t, s, "c1", "mi-3", runcmd.DetailSuccess, nil)    // expires at +2, but finished
	transition(t, s, "c1", "mi-4", runcmd.DetailCancelling, nil) // still open

	keys := func(ids ...string) []runcmd.InvocationKey {
		var out []runcmd.InvocationKey
		for _, id := range ids {
			out = append(out, runcmd.InvocationKey{CommandID: "c1", InstanceID: id})
		}
		return out
	}
	tests := []struct {
		before time.Time
		limit  int
		want   []runcmd.InvocationKey
	}{
		{base.Add(5 * time.Minute), 10, keys("mi-1", "mi-2", "mi-4")}, // mi-0 expires exactly then: not before
		{base.Add(5*time.Minute + 1), 10, keys("mi-1", "mi-2", "mi-4", "mi-0")},
		{base.Add(time.Hour), 2, keys("mi-1", "mi-2")},
		{base, 10, nil},
	}
	for _, tt := range tests {
		got, err := s.ExpiredInvocations(ctx, tt.before, tt.limit)
		must(t, err)
		if diff := cmp.Diff(tt.want, got, equateEmpty); diff != "" {
			t.Errorf("ExpiredInvocations(%v, %d) (-want +got):\n%s", tt.before.Sub(base), tt.limit, diff)
		}
	}
	// Timing out removes it from the index.
	transition(t, s, "c1", "mi-1", runcmd.DetailDeliveryTimedOut, nil)
	got, err := s.ExpiredInvocations(ctx, base.Add(time.Hour), 10)
	must(t, err)
	if diff := cmp.Diff(keys("mi-2", "mi-4", "mi-0", "mi-5"), got, equateEmpty); diff != "" {
		t.Errorf("after timing out mi-1 (-want +got):\n%s", diff)
	}
}

// testDeadlineFollowsStart checks that the index of open invocations follows Deadline(): a reported
// start brings an invocation's deadline forward to start + execution timeout + ExecGrace.
func testDeadlineFollowsStart(t *testing.T, s runcmd.CommandStore) {
	ctx := t.Context()
	invs := nodes("c1", 2, base) // ExpiresAt base+1h
	for _, inv := range invs {
		inv.ExecTimeoutSeconds = 600
	}
	create(t, s, newCommand("c1", base), invs)
	_, err := s.MarkSent(ctx, "c1", invs, 2, base)
	must(t, err)
	started := base.Add(time.Minute)
	got := transition(t, s, "c1", "mi-000", runcmd.DetailInProgress, &runcmd.Result{StartedAt: started})
	deadline := started.Add(10*time.Minute + runcmd.ExecGrace)
	if !got.Deadline().Equal(deadline) {
		t.Fatalf("Deadline = %v after base, want %v", got.Deadline().Sub(base), deadline.Sub(base))
	}
	keys := func(ids ...string) []runcmd.InvocationKey {
		var out []runcmd.InvocationKey
		for _, id := range ids {
			out = append(out, runcmd.InvocationKey{CommandID: "c1", InstanceID: id})
		}
		return out
	}
	for _, tt := range []struct {
		before time.Time
		want   []runcmd.InvocationKey
	}{
		{deadline, nil},
		{deadline.Add(time.Nanosecond), keys("mi-000")},
		{base.Add(2 * time.Hour), keys("mi-000", "mi-001")},
	} {
		got, err := s.ExpiredInvocations(ctx, tt.before, 10)
		must(t, err)
		if diff := cmp.Diff(tt.want, got, equateEmpty); diff != "" {
			t.Errorf("ExpiredInvocations(base+%v) (-want +got):\n%s", tt.before.Sub(base), diff)
		}
	}
	// Progress without a new start keeps the deadline.
	transition(t, s, "c1", "mi-000", runcmd.DetailInProgress, &runcmd.Result{Plugins: []runcmd.PluginResult{{Name: "a"}}})
	got2, err := s.ExpiredInvocations(ctx, deadline.Add(time.Nanosecond), 10)
	must(t, err)
	if diff := cmp.Diff(keys("mi-000"), got2, equateEmpty); diff != "" {
		t.Errorf("after progress (-want +got):\n%s", diff)
	}
}

// testFromNode checks that a node cannot report on an invocation that was never sent to it.
func testFromNode(t *testing.T, s runcmd.CommandStore) {
	ctx := t.Context()
	create(t, s, newCommand("c1", base), nodes("c1", 2, base))
	before := getInvocation(t, s, "c1", "mi-001")
	_, err := s.Transition(ctx, runcmd.Transition{CommandID: "c1", InstanceID: "mi-001", To: runcmd.DetailSuccess,
		At: base, FromNode: true, Result: &runcmd.Result{ResponseCode: 0}})
	wantCode(t, err, runcmd.EUNAUTHORIZED, "")
	if diff := cmp.Diff(before, getInvocation(t, s, "c1", "mi-001"), equateEmpty); diff != "" {
		t.Errorf("refused report changed the invocation (-before +after):\n%s", diff)
	}
	wantCounters(t, s, "c1", counters{Detail: runcmd.CommandDetailPending})

	_, err = s.MarkSent(ctx, "c1", nodes("c1", 1, base), 1, base)
	must(t, err)
	got, err := s.Transition(ctx, runcmd.Transition{CommandID: "c1", InstanceID: "mi-000", To: runcmd.DetailSuccess,
		At: base, FromNode: true})
	must(t, err)
	if got.Detail != runcmd.DetailSuccess {
		t.Errorf("detail = %s, want Success", got.Detail)
	}
	// The service itself may still finish the unsent one.
	transition(t, s, "c1", "mi-001", runcmd.DetailUndeliverable, nil)
	wantCounters(t, s, "c1", counters{Detail: runcmd.CommandDetailInProgress, Cursor: 1, Dispatched: 1, SentDone: 1,
		Counts: map[runcmd.Detail]int{runcmd.DetailSuccess: 1, runcmd.DetailUndeliverable: 1}})
}

// TestInstanceStore runs the InstanceStore conformance suite. newStore returns an empty store; it is
// called once per subtest, possibly from parallel subtests.
func TestInstanceStore(t *testing.T, newStore func(t *testing.T) runcmd.InstanceStore) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s runcmd.InstanceStore)
	}{
		{"Heartbeat", testHeartbeat},
		{"GetInstances", testGetInstances},
		{"ListInstances", testListInstances},
		{"Tags", testTags},
		{"FindByTag", testFindByTag},
		{"ConcurrentRegistration", testConcurrentRegistration},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.fn(t, newStore(t))
		})
	}
}

func heartbeat(id string, at time.Time, tags map[string]string) runcmd.Heartbeat {
	return runcmd.Heartbeat{
		InstanceID: id, Name: "name-" + id, ComputerName: id + ".local", IPAddress: "10.0.0.1",
		PlatformType: "Linux", PlatformName: "Ubuntu", PlatformVersion: "24.04", AgentVersion: "1.0.0",
		QueueURL: "https://sqs.example/q/" + id, Tags: tags, At: at,
	}
}

func record(t *testing.T, s runcmd.InstanceStore, hb runcmd.Heartbeat) {
	t.Helper()
	if err := s.RecordHeartbeat(t.Context(), hb); err != nil {
		t.Fatalf("RecordHeartbeat(%s): %v", hb.InstanceID, err)
	}
}

func getInstance(t *testing.T, s runcmd.InstanceStore, id string) *runcmd.Instance {
	t.Helper()
	m, err := s.GetInstances(t.Context(), []string{id})
	if err != nil {
		t.Fatalf("GetInstances(%s): %v", id, err)
	}
	n, ok := m[id]
	if !ok {
		t.Fatalf("GetInstances(%s): missing", id)
	}
	return n
}

func testHeartbeat(t *testing.T, s runcmd.InstanceStore) {
	record(t, s, heartbeat("mi-1", base, map[string]string{"env": "prod", "role": ""}))
	want := &runcmd.Instance{
		InstanceID: "mi-1", Name: "name-mi-1", ComputerName: "mi-1.local", IPAddress: "10.0.0.1",
		PlatformType: "Linux", PlatformName: "Ubuntu", PlatformVersion: "24.04", AgentVersion: "1.0.0",
		ResourceType: runcmd.ResourceTypeManagedInstance, QueueURL: "https://sqs.example/q/mi-1",
		RegisteredAt: base, LastPingAt: base, Tags: map[string]string{"env": "prod", "role": ""},
	}
	if diff := cmp.Diff(want, getInstance(t, s, "mi-1"), equateEmpty); diff != "" {
		t.Errorf("registered node (-want +got):\n%s", diff)
	}

	// A later heartbeat updates the facts and keeps tags and the registration time.
	hb := heartbeat("mi-1", base.Add(time.Minute), map[string]string{"env": "dev"})
	hb.AgentVersion, hb.IPAddress, hb.QueueURL, hb.Name = "1.1.0", "10.0.0.2", "https://sqs.example/q/new", ""
	record(t, s, hb)
	want.AgentVersion, want.IPAddress, want.QueueURL, want.Name = "1.1.0", "10.0.0.2", "https://sqs.example/q/new", ""
	want.LastPingAt = base.Add(time.Minute)
	if diff := cmp.Diff(want, getInstance(t, s, "mi-1"), equateEmpty); diff != "" {
		t.Errorf("after second heartbeat (-want +got):\n%s", diff)
	}

	// A heartbeat that arrives late changes nothing.
	old := heartbeat("mi-1", base.Add(30*time.Second), nil)
	record(t, s, old)
	if diff := cmp.Diff(want, getInstance(t, s, "mi-1"), equateEmpty); diff != "" {
		t.Errorf("after a stale heartbeat (-want +got):\n%s", diff)
	}
	ids, _, err := s.FindByTag(t.Context(), "env", "prod", false, 10, "")
	must(t, err)
	if diff := cmp.Diff([]string{"mi-1"}, ids); diff != "" {
		t.Errorf("FindByTag(env=prod) after heartbeats (-want +got):\n%s", diff)
	}
	wantCode(t, s.RecordHeartbeat(t.Context(), runcmd.Heartbeat{At: base}), runcmd.EINVALID, "")
}

func testGetInstances(t *testing.T, s runcmd.InstanceStore) {
	var ids []string
	for i := range 120 { // more than one BatchGetItem
		id := fmt.Sprintf("mi-%03d", i)
		ids = append(ids, id)
		if i%3 != 0 {
			record(t, s, heartbeat(id, base, nil))
		}
	}
	got, err := s.GetInstances(t.Context(), append(ids, "mi-001", "mi-nope"))
	must(t, err)
	if len(got) != 80 {
		t.Errorf("got %d nodes, want 80", len(got))
	}
	for _, id := range ids {
		n, ok := got[id]
		var i int
		if _, err := fmt.Sscanf(id, "mi-%d", &i); err != nil {
			t.Fatal(err)
		}
		if ok != (i%3 != 0) {
			t.Errorf("%s present = %v", id, ok)
		}
		if ok && n.InstanceID != id {
			t.Errorf("%s returned as %s", id, n.InstanceID)
		}
	}
	got, err = s.GetInstances(t.Context(), nil)
	must(t, err)
	if len(got) != 0 {
		t.Errorf("no ids: %d nodes", len(got))
	}
}

func listAllInstances(t *testing.T, s runcmd.InstanceStore, q runcmd.InstanceQuery) []string {
	t.Helper()
	var out []string
	for {
		p, err := s.ListInstances(t.Context(), q)
		if err != nil {
			t.Fatalf("ListInstances(%+v): %v", q, err)
		}
		if len(p.Instances) > q.Limit || len(p.Instances) == 0 && p.NextToken != "" {
			t.Fatalf("page of %d nodes with token %q for limit %d", len(p.Instances), p.NextToken, q.Limit)
		}
		for _, n := range p.Instances {
			out = append(out, n.InstanceID)
		}
		if p.NextToken == "" {
			return out
		}
		q.NextToken = p.NextToken
	}
}

func testListInstances(t *testing.T, s runcmd.InstanceStore) {
	for _, id := range []string{"mi-5", "mi-2", "mi-7", "mi-1", "mi-3", "mi-6", "mi-4"} {
		record(t, s, heartbeat(id, base, map[string]string{"k": id}))
	}
	tests := []struct {
		name string
		q    runcmd.InstanceQuery
		want []string
	}{
		{"all", runcmd.InstanceQuery{Limit: 3}, []string{"mi-1", "mi-2", "mi-3", "mi-4", "mi-5", "mi-6", "mi-7"}},
		{"exact page", runcmd.InstanceQuery{Limit: 7}, []string{"mi-1", "mi-2", "mi-3", "mi-4", "mi-5", "mi-6", "mi-7"}},
		{"some ids", runcmd.InstanceQuery{InstanceIDs: []string{"mi-6", "mi-x", "mi-2", "mi-4", "mi-y", "mi-1", "mi-2"}, Limit: 2},
			[]string{"mi-1", "mi-2", "mi-4", "mi-6"}},
		{"missing ids", runcmd.InstanceQuery{InstanceIDs: []string{"mi-x"}, Limit: 2}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, listAllInstances(t, s, tt.q), equateEmpty); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	p, err := s.ListInstances(t.Context(), runcmd.InstanceQuery{Limit: 1})
	must(t, err)
	if got := p.Instances[0]; got.Tags["k"] != "mi-1" || got.QueueURL == "" {
		t.Errorf("listed node lacks its tags or facts: %+v", got)
	}
	_, err = s.ListInstances(t.Context(), runcmd.InstanceQuery{Limit: 1, NextToken: "!!"})
	wantCode(t, err, runcmd.EINVALID, "")
}

func testTags(t *testing.T, s runcmd.InstanceStore) {
	ctx := t.Context()
	record(t, s, heartbeat("mi-1", base, map[string]string{"env": "prod"}))
	wantCode(t, s.AddTags(ctx, "mi-nope", map[string]string{"a": "b"}), runcmd.ENOTFOUND, "")
	wantCode(t, s.RemoveTags(ctx, "mi-nope", []string{"a"}), runcmd.ENOTFOUND, "")
	wantCode(t, s.AddTags(ctx, "mi-1", map[string]string{"": "b"}), runcmd.EINVALID, "")
	if _, err := s.GetInstances(ctx, []string{"mi-nope"}); err != nil {
		t.Fatal(err)
	}

	must(t, s.AddTags(ctx, "mi-1", map[string]string{"env": "dev", "team": "a", "odd key=": "v=1"}))
	must(t, s.RemoveTags(ctx, "mi-1", []string{"team", "absent"}))
	want := map[string]string{"env": "dev", "odd key=": "v=1"}
	if diff := cmp.Diff(want, getInstance(t, s, "mi-1").Tags); diff != "" {
		t.Errorf("tags (-want +got):\n%s", diff)
	}
	for _, q := range []struct {
		key, value string
		any        bool
		want       []string
	}{
		{"env", "dev", false, []string{"mi-1"}},
		{"env", "prod", false, nil},
		{"team", "", true, nil},
		{"odd key=", "v=1", false, []string{"mi-1"}},
		{"odd key", "=v=1", false, nil}, // key and value are not confused
	} {
		ids, _, err := s.FindByTag(ctx, q.key, q.value, q.any, 10, "")
		must(t, err)
		if diff := cmp.Diff(q.want, ids, equateEmpty); diff != "" {
			t.Errorf("FindByTag(%q, %q, %v) (-want +got):\n%s", q.key, q.value, q.any, diff)
		}
	}
}

func testFindByTag(t *testing.T, s runcmd.InstanceStore) {
	ctx := t.Context()
	for i := range 9 {
		tags := map[string]string{"role": "web"}
		if i%2 == 0 {
			tags["env"] = "prod"
		} else {
			tags["env"] = "dev"
		}
		if i == 4 {
			tags = map[string]string{"env": "prod"}
		}
		record(t, s, heartbeat(fmt.Sprintf("mi-%d", 8-i), base, tags))
	}
	// mi-8, mi-6, mi-4(i=4: no role), mi-2, mi-0 are prod.
	page := func(key, value string, anyValue bool, limit int) []string {
		var out []string
		next := ""
		for {
			ids, tok, err := s.FindByTag(ctx, key, value, anyValue, limit, next)
			must(t, err)
			if len(ids) > limit || len(ids) == 0 && tok != "" {
				t.Fatalf("page of %d ids with token %q for limit %d", len(ids), tok, limit)
			}
			out = append(out, ids...)
			if tok == "" {
				return out
			}
			next = tok
		}
	}
	tests := []struct {
		key, value string
		any        bool
		limit      int
		want       []string
	}{
		{"env", "prod", false, 2, []string{"mi-0", "mi-2", "mi-4", "mi-6", "mi-8"}},
		{"env", "dev", false, 4, []string{"mi-1", "mi-3", "mi-5", "mi-7"}},
		{"env", "", true, 3, []string{"mi-0", "mi-1", "mi-2", "mi-3", "mi-4", "mi-5", "mi-6", "mi-7", "mi-8"}},
		{"role", "", true, 8, []string{"mi-0", "mi-1", "mi-2", "mi-3", "mi-5", "mi-6", "mi-7", "mi-8"}},
		{"env", "staging", false, 2, nil},
		{"nope", "", true, 2, nil},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, page(tt.key, tt.value, tt.any, tt.limit), equateEmpty); diff != "" {
			t.Errorf("FindByTag(%q, %q, %v) (-want +got):\n%s", tt.key, tt.value, tt.any, diff)
		}
	}
	// Retagging moves a node between values.
	must(t, s.AddTags(ctx, "mi-0", map[string]string{"env": "dev"}))
	must(t, s.RemoveTags(ctx, "mi-2", []string{"env"}))
	if diff := cmp.Diff([]string{"mi-4", "mi-6", "mi-8"}, page("env", "prod", false, 10)); diff != "" {
		t.Errorf("prod after retagging (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"mi-0", "mi-1", "mi-3", "mi-5", "mi-7"}, page("env", "dev", false, 10)); diff != "" {
		t.Errorf("dev after retagging (-want +got):\n%s", diff)
	}
	_, _, err := s.FindByTag(ctx, "env", "prod", false, 2, "garbage token")
	wantCode(t, err, runcmd.EINVALID, "")
}

// testConcurrentRegistration races first heartbeats of one node: it is registered once, with the tags
// of one of them, and none fails.
func testConcurrentRegistration(t *testing.T, s runcmd.InstanceStore) {
	const n = 6
	errs := make(chan error, n)
	for i := range n {
		go func() {
			errs <- s.RecordHeartbeat(context.WithoutCancel(t.Context()),
				heartbeat("mi-1", base.Add(time.Duration(i)*time.Second), map[string]string{"n": fmt.Sprint(i)}))
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Errorf("concurrent heartbeat: %v", err)
		}
	}
	got := getInstance(t, s, "mi-1")
	if !got.LastPingAt.Equal(base.Add((n - 1) * time.Second)) {
		t.Errorf("LastPingAt = %v, want the newest heartbeat's", got.LastPingAt.Sub(base))
	}
	if len(got.Tags) != 1 {
		t.Fatalf("tags = %v, want one registration's", got.Tags)
	}
	ids, _, err := s.FindByTag(t.Context(), "n", got.Tags["n"], false, 10, "")
	must(t, err)
	if diff := cmp.Diff([]string{"mi-1"}, ids); diff != "" {
		t.Errorf("tag index disagrees with the node's tags (-want +got):\n%s", diff)
	}
	ids, _, err = s.FindByTag(t.Context(), "n", "", true, 10, "")
	must(t, err)
	if len(ids) != 1 {
		t.Errorf("tag-key index has %v, want one entry", ids)
	}
}
