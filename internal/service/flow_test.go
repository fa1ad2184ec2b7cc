package service

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/runcmd/runcmd"
	"github.com/runcmd/runcmd/internal/fake"
)

// harness runs the api, dispatch, ingest and sweep services over the in-memory fakes, with a
// controllable clock, and plays the agents' part by answering node messages.
type harness struct {
	t     *testing.T
	api   *API
	disp  *Dispatcher
	ing   *Ingester
	sweep *Sweeper
	cmds  *fake.CommandStore
	nodes *fake.NodeQueue
	dq    *fake.DispatchQueue
	sns   *fake.Notifier

	mu  sync.Mutex
	now time.Time
}

const eventsTopic = "arn:aws:sns:us-east-1:123456789012:runcmd-events"

func newHarness(t *testing.T) *harness {
	t.Helper()
	docs, err := NewBuiltins()
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, cmds: fake.NewCommandStore(), nodes: fake.NewNodeQueue(), dq: fake.NewDispatchQueue(),
		now: time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)}
	insts := fake.NewInstanceStore()
	h.sns = &fake.Notifier{}
	notify := &Notifications{Notifier: h.sns, EventsTopic: eventsTopic}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	n := 0
	h.api = &API{Commands: h.cmds, Instances: insts, Dispatch: h.dq, Documents: docs, Now: h.clock,
		NewID: func() string { n++; return fmt.Sprintf("00000000-0000-4000-8000-%012d", n) }}
	h.disp = &Dispatcher{Commands: h.cmds, Instances: insts, Nodes: h.nodes, Notify: notify, Now: h.clock, Log: log}
	// These tests play unsigned agents; signatures are tested in trust_test.go.
	h.ing = &Ingester{Commands: h.cmds, Instances: insts, Dispatch: h.dq, Notify: notify, Now: h.clock, Log: log,
		InsecureAcceptUnsigned: true}
	h.sweep = &Sweeper{Commands: h.cmds, Dispatch: h.dq, Notify: notify, Now: h.clock}
	return h
}

func (h *harness) clock() time.Time {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.now
}

func (h *harness) advance(d time.Duration) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.now = h.now.Add(d)
}

// node registers a managed node with tags and returns its id.
func (h *harness) node(i int, tags map[string]string) string {
	h.t.Helper()
	id := fmt.Sprintf("mi-%017d", i)
	hb := runcmd.Heartbeat{InstanceID: id, ComputerName: fmt.Sprintf("host%d", i), PlatformType: "Linux",
		PlatformName: "Debian GNU/Linux", PlatformVersion: "12", AgentVersion: "0.1.0", QueueURL: "q/" + id, Tags: tags}
	h.ingest(runcmd.ResultMessage{Kind: runcmd.KindHeartbeat, Heartbeat: &hb})
	return id
}

func (h *harness) ingest(msgs ...runcmd.ResultMessage) {
	h.t.Helper()
	for i, err := range h.ing.Handle(context.Background(), msgs) {
		if err != nil {
			h.t.Fatalf("ingest message %d: %v", i, err)
		}
	}
}

// dispatch handles every queued dispatch message, in order, as the FIFO queue delivers them.
func (h *harness) dispatch() {
	h.t.Helper()
	ctx := context.Background()
	for {
		msgs, err := h.dq.Queue().Receive(ctx, 10, 0)
		if err != nil {
			h.t.Fatal(err)
		}
		if len(msgs) == 0 {
			return
		}
		for _, m := range msgs {
			var dm runcmd.DispatchMessage
			if err := json.Unmarshal([]byte(m.Body), &dm); err != nil {
				h.t.Fatal(err)
			}
			if err := h.disp.Handle(ctx, dm); err != nil {
				h.t.Fatalf("dispatch %+v: %v", dm, err)
			}
			if err := h.dq.Queue().Delete(ctx, m.ReceiptHandle); err != nil {
				h.t.Fatal(err)
			}
		}
	}
}

// received takes the messages waiting on a node's queue.
func (h *harness) received(id string) []runcmd.NodeMessage {
	h.t.Helper()
	msgs, err := h.nodes.Queue("q/"+id).Receive(context.Background(), 10, 0)
	if err != nil {
		h.t.Fatal(err)
	}
	var out []runcmd.NodeMessage
	for _, m := range msgs {
		var nm runcmd.NodeMessage
		if err := json.Unmarshal([]byte(m.Body), &nm); err != nil {
			h.t.Fatal(err)
		}
		out = append(out, nm)
		_ = h.nodes.Queue("q/"+id).Delete(context.Background(), m.ReceiptHandle)
	}
	return out
}

func reply(cmdID, node string, d runcmd.Detail, code int, stdout string) runcmd.ResultMessage {
	return runcmd.ResultMessage{Kind: runcmd.KindReply, Reply: &runcmd.Reply{
		CommandID: cmdID, InstanceID: node, Detail: d,
		Result: runcmd.Result{ResponseCode: code, Plugins: []runcmd.PluginResult{{
			Name: "aws:runShellScript", Action: "aws:runShellScript", Status: d.Status(), Detail: d, ResponseCode: code, Stdout: stdout,
		}}},
	}}
}

func (h *harness) send(in SendCommandInput) *runcmd.Command {
	h.t.Helper()
	if in.DocumentName == "" {
		in.DocumentName = "AWS-RunShellScript"
	}
	if in.Parameters == nil {
		in.Parameters = map[string][]string{"commands": {"echo hi"}}
	}
	cmd, err := h.api.SendCommand(context.Background(), in)
	if err != nil {
		h.t.Fatalf("SendCommand: %v", err)
	}
	return cmd
}

func (h *harness) command(id string) *runcmd.Command {
	h.t.Helper()
	c, err := h.cmds.GetCommand(context.Background(), id)
	if err != nil {
		h.t.Fatal(err)
	}
	return c
}

func (h *harness) detail(cmdID, node string) runcmd.Detail {
	h.t.Helper()
	inv, err := h.cmds.GetInvocation(context.Background(), cmdID, node)
	if err != nil {
		h.t.Fatal(err)
	}
	return inv.Detail
}

// run answers every node message with the node's outcome until nothing moves, and returns the order
// in which nodes received their command.
func (h *harness) run(cmdID string, nodes []string, outcome func(node string) (runcmd.Detail, int)) []string {
	h.t.Helper()
	var order []string
	for {
		h.dispatch()
		moved := false
		for _, n := range nodes {
			for _, m := range h.received(n) {
				if m.CommandID != cmdID || m.Kind != runcmd.KindSend {
					continue
				}
				order = append(order, n)
				d, code := outcome(n)
				ack := reply(cmdID, n, runcmd.DetailInProgress, -1, "")
				ack.Reply.Wake = m.Wake
				h.ingest(ack, reply(cmdID, n, d, code, "out "+n))
				moved = true
			}
		}
		if !moved {
			return order
		}
	}
}

func TestSendCommandRunsOnEveryNode(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	a, b := h.node(1, nil), h.node(2, nil)
	cmd := h.send(SendCommandInput{InstanceIDs: []string{a, b}})
	if cmd.Status() != runcmd.CommandPending || cmd.TargetCount != 2 {
		t.Fatalf("SendCommand returned status %s, target count %d; want Pending, 2", cmd.Status(), cmd.TargetCount)
	}
	// Read-your-writes: both invocations exist before any dispatch happened.
	for _, n := range []string{a, b} {
		if d := h.detail(cmd.CommandID, n); d != runcmd.DetailPending {
			t.Errorf("invocation %s right after send: %s, want Pending", n, d)
		}
	}
	order := h.run(cmd.CommandID, []string{a, b}, func(string) (runcmd.Detail, int) { return runcmd.DetailSuccess, 0 })
	if diff := cmp.Diff([]string{a, b}, order); diff != "" {
		t.Errorf("send order (-want +got):\n%s", diff)
	}
	got := h.command(cmd.CommandID)
	if got.Detail != runcmd.CommandDetailSuccess || got.CompletedCount() != 2 || got.ErrorCount() != 0 {
		t.Errorf("final command: detail %s completed %d errors %d; want Success 2 0", got.Detail, got.CompletedCount(), got.ErrorCount())
	}
	out, err := h.api.GetCommandInvocation(context.Background(), cmd.CommandID, a, "")
	if err != nil {
		t.Fatal(err)
	}
	if out.Plugin == nil || out.Plugin.Stdout != "out "+a || out.PluginName != "aws:runShellScript" {
		t.Errorf("GetCommandInvocation plugin = %+v (name %q)", out.Plugin, out.PluginName)
	}
}

func TestFailedScriptFailsCommand(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	a := h.node(1, nil)
	cmd := h.send(SendCommandInput{InstanceIDs: []string{a}})
	h.run(cmd.CommandID, []string{a}, func(string) (runcmd.Detail, int) { return runcmd.DetailFailed, 3 })
	got := h.command(cmd.CommandID)
	if got.Detail != runcmd.CommandDetailFailed || got.Status() != runcmd.CommandFailed || got.ErrorCount() != 1 {
		t.Errorf("command: detail %s errors %d; want Failed 1", got.Detail, got.ErrorCount())
	}
	inv, err := h.cmds.GetInvocation(context.Background(), cmd.CommandID, a)
	if err != nil {
		t.Fatal(err)
	}
	if inv.Result.ResponseCode != 3 {
		t.Errorf("ResponseCode = %d, want 3", inv.Result.ResponseCode)
	}
}

func TestSendCommandRejectsBadInput(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	known := h.node(1, nil)
	tests := []struct {
		name string
		in   SendCommandInput
		want string
	}{
		{"unknown instance", SendCommandInput{InstanceIDs: []string{"mi-0123456789abcdef0"}}, "InvalidInstanceId"},
		{"malformed instance", SendCommandInput{InstanceIDs: []string{"server1"}}, "InvalidInstanceId"},
		{"duplicate instance", SendCommandInput{InstanceIDs: []string{known, known}}, "DuplicateInstanceId"},
		{"unknown document", SendCommandInput{DocumentName: "No-Such-Doc", InstanceIDs: []string{known}}, "InvalidDocument"},
		{"unknown version", SendCommandInput{DocumentVersion: "7", InstanceIDs: []string{known}}, "InvalidDocumentVersion"},
		{"missing parameter", SendCommandInput{InstanceIDs: []string{known}, Parameters: map[string][]string{}}, "InvalidParameters"},
		{"unknown parameter", SendCommandInput{InstanceIDs: []string{known}, Parameters: map[string][]string{"commands": {"x"}, "nope": {"1"}}}, "InvalidParameters"},
		{"bad hash", SendCommandInput{InstanceIDs: []string{known}, DocumentHash: "abc"}, "InvalidDocument"},
		{"no targets", SendCommandInput{}, "ValidationException"},
		{"bad target key", SendCommandInput{Targets: []runcmd.Target{{Key: "color", Values: []string{"x"}}}}, "InvalidTarget"},
		{"bad concurrency", SendCommandInput{InstanceIDs: []string{known}, MaxConcurrency: "0"}, "ValidationException"},
		{"bad timeout", SendCommandInput{InstanceIDs: []string{known}, TimeoutSeconds: ptr(10)}, "ValidationException"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.in.DocumentName == "" {
				tt.in.DocumentName = "AWS-RunShellScript"
			}
			if tt.in.Parameters == nil {
				tt.in.Parameters = map[string][]string{"commands": {"echo hi"}}
			}
			_, err := h.api.SendCommand(context.Background(), tt.in)
			if got := runcmd.ErrorName(err); got != tt.want {
				t.Errorf("SendCommand error = %v (name %q), want %s", err, got, tt.want)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

func TestRepliesAppliedExactlyOnce(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	a, b := h.node(1, nil), h.node(2, nil)
	cmd := h.send(SendCommandInput{InstanceIDs: []string{a, b}, MaxConcurrency: "2"})
	h.dispatch()
	h.received(a)
	// The final reply three times, and a stale InProgress after it.
	final := reply(cmd.CommandID, a, runcmd.DetailSuccess, 0, "once")
	h.ingest(final, final, reply(cmd.CommandID, a, runcmd.DetailInProgress, -1, ""), final)
	h.dispatch()
	if got := h.received(b); len(got) != 1 {
		t.Fatalf("node b got %d messages after a finished, want 1", len(got))
	}
	// b's final reply, then a contradicting one out of order.
	h.ingest(reply(cmd.CommandID, b, runcmd.DetailFailed, 1, ""), reply(cmd.CommandID, b, runcmd.DetailSuccess, 0, ""))
	h.dispatch()
	got := h.command(cmd.CommandID)
	want := map[runcmd.Detail]int{runcmd.DetailSuccess: 1, runcmd.DetailFailed: 1}
	if diff := cmp.Diff(want, nonZero(got.Counts)); diff != "" {
		t.Errorf("counts (-want +got):\n%s", diff)
	}
	if got.CompletedCount() != 2 || got.SentDone != 2 || got.Detail != runcmd.CommandDetailFailed {
		t.Errorf("completed %d sentDone %d detail %s; want 2 2 Failed", got.CompletedCount(), got.SentDone, got.Detail)
	}
	if d := h.detail(cmd.CommandID, a); d != runcmd.DetailSuccess {
		t.Errorf("invocation a = %s, want Success", d)
	}
}

func nonZero(m map[runcmd.Detail]int) map[runcmd.Detail]int {
	out := map[runcmd.Detail]int{}
	for k, v := range m {
		if v != 0 {
			out[k] = v
		}
	}
	return out
}

func TestMaxErrorsStopsAndTerminates(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	var nodes []string
	for i := range 5 {
		nodes = append(nodes, h.node(i+1, map[string]string{"Workload": "Prod"}))
	}
	cmd := h.send(SendCommandInput{Targets: []runcmd.Target{{Key: "tag:Workload", Values: []string{"Prod"}}}, MaxConcurrency: "1", MaxErrors: "1"})
	failing := map[string]bool{nodes[1]: true, nodes[2]: true}
	order := h.run(cmd.CommandID, nodes, func(n string) (runcmd.Detail, int) {
		if failing[n] {
			return runcmd.DetailFailed, 1
		}
		return runcmd.DetailSuccess, 0
	})
	if diff := cmp.Diff(nodes[:3], order); diff != "" {
		t.Errorf("nodes that ran (-want +got):\n%s", diff)
	}
	for _, n := range nodes[3:] {
		if d := h.detail(cmd.CommandID, n); d != runcmd.DetailTerminated {
			t.Errorf("invocation %s = %s, want Terminated", n, d)
		}
	}
	got := h.command(cmd.CommandID)
	if got.Detail != runcmd.CommandDetailFailed || got.ErrorCount() != 2 || got.CompletedCount() != 5 || got.TargetCount != 5 {
		t.Errorf("command: detail %s errors %d completed %d targets %d; want Failed 2 5 5", got.Detail, got.ErrorCount(), got.CompletedCount(), got.TargetCount)
	}
}

func TestTagTargetsAndNoMatch(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	prod1 := h.node(1, map[string]string{"Workload": "Prod", "Team": "a"})
	h.node(2, map[string]string{"Workload": "Dev", "Team": "a"})
	prod3 := h.node(3, map[string]string{"Workload": "Prod"})
	staging := h.node(4, map[string]string{"Workload": "Staging", "Team": "b"})

	tests := []struct {
		name    string
		targets []runcmd.Target
		want    []string
	}{
		{"one value", []runcmd.Target{{Key: "tag:Workload", Values: []string{"Prod"}}}, []string{prod1, prod3}},
		{"values ORed", []runcmd.Target{{Key: "tag:Workload", Values: []string{"Prod", "Staging"}}}, []string{prod1, prod3, staging}},
		{"targets ANDed", []runcmd.Target{{Key: "tag:Workload", Values: []string{"Prod"}}, {Key: "tag-key", Values: []string{"Team"}}}, []string{prod1}},
		{"no match", []runcmd.Target{{Key: "tag:Workload", Values: []string{"Nope"}}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := h.send(SendCommandInput{Targets: tt.targets})
			h.dispatch()
			page, err := h.cmds.ListInvocations(context.Background(), runcmd.InvocationQuery{CommandID: cmd.CommandID, Limit: 50})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, inv := range page.Invocations {
				got = append(got, inv.InstanceID)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("invocations (-want +got):\n%s", diff)
			}
			if tt.want == nil {
				if c := h.command(cmd.CommandID); c.Detail != runcmd.CommandDetailNoInstancesInTag {
					t.Errorf("command detail = %s, want NoInstancesInTag", c.Detail)
				}
			}
		})
	}
}

func TestSweepTimesOutUndelivered(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	a := h.node(1, nil)
	cmd := h.send(SendCommandInput{InstanceIDs: []string{a}, TimeoutSeconds: ptr(30)})
	h.dispatch()
	h.received(a) // the node never answers
	h.advance(30*time.Second + 3600*time.Second - time.Second)
	if n, err := h.sweep.Sweep(context.Background()); err != nil || n != 0 {
		t.Fatalf("sweep before expiry: %d, %v; want 0, nil", n, err)
	}
	h.advance(2 * time.Second)
	if n, err := h.sweep.Sweep(context.Background()); err != nil || n != 1 {
		t.Fatalf("sweep after expiry: %d, %v; want 1, nil", n, err)
	}
	h.dispatch()
	if d := h.detail(cmd.CommandID, a); d != runcmd.DetailDeliveryTimedOut {
		t.Errorf("invocation = %s, want DeliveryTimedOut", d)
	}
	if c := h.command(cmd.CommandID); c.Detail != runcmd.CommandDetailDeliveryTimedOut || c.Status() != runcmd.CommandTimedOut {
		t.Errorf("command = %s/%s, want TimedOut/DeliveryTimedOut", c.Status(), c.Detail)
	}
	// A late reply from the node changes nothing.
	h.ingest(reply(cmd.CommandID, a, runcmd.DetailSuccess, 0, "late"))
	if d := h.detail(cmd.CommandID, a); d != runcmd.DetailDeliveryTimedOut {
		t.Errorf("after late reply invocation = %s, want DeliveryTimedOut", d)
	}
}

func TestCancelPendingAndRunning(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	a, b := h.node(1, nil), h.node(2, nil)
	cmd := h.send(SendCommandInput{InstanceIDs: []string{a, b}, MaxConcurrency: "1"})
	h.dispatch()
	if got := h.received(a); len(got) != 1 {
		t.Fatalf("node a got %d messages, want 1", len(got))
	}
	if err := h.api.CancelCommand(context.Background(), CancelCommandInput{CommandID: cmd.CommandID}); err != nil {
		t.Fatal(err)
	}
	if c := h.command(cmd.CommandID); c.Status() != runcmd.CommandCancelling {
		t.Errorf("command right after cancel = %s, want Cancelling", c.Status())
	}
	h.dispatch()
	if d := h.detail(cmd.CommandID, b); d != runcmd.DetailCancelled {
		t.Errorf("unsent invocation = %s, want Cancelled", d)
	}
	if d := h.detail(cmd.CommandID, a); d != runcmd.DetailCancelling {
		t.Errorf("running invocation = %s, want Cancelling", d)
	}
	msgs := h.received(a)
	if len(msgs) != 1 || msgs[0].Kind != runcmd.KindCancel {
		t.Fatalf("node a got %+v, want one cancel message", msgs)
	}
	h.ingest(reply(cmd.CommandID, a, runcmd.DetailCancelled, 137, ""))
	h.dispatch()
	if c := h.command(cmd.CommandID); c.Detail != runcmd.CommandDetailCancelled {
		t.Errorf("command = %s, want Cancelled", c.Detail)
	}
}

// TestConcurrencyCapUnderConcurrentReplies delivers replies from many goroutines at once while the
// dispatch queue is drained serially, as the FIFO group does, and checks that no more than
// MaxConcurrency invocations are ever in flight.
func TestConcurrencyCapUnderConcurrentReplies(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	const fleet, maxConc = 40, 4
	var nodes []string
	for i := range fleet {
		nodes = append(nodes, h.node(i+1, map[string]string{"Role": "web"}))
	}
	cmd := h.send(SendCommandInput{Targets: []runcmd.Target{{Key: "tag:Role", Values: []string{"web"}}}, MaxConcurrency: fmt.Sprint(maxConc)})
	ctx := context.Background()
	done := 0
	for done < fleet {
		h.dispatch()
		inFlight := 0
		var running []string
		for _, n := range nodes {
			if d := h.detail(cmd.CommandID, n); d == runcmd.DetailInProgress {
				inFlight++
				running = append(running, n)
			}
		}
		if inFlight > maxConc {
			t.Fatalf("%d invocations in flight, MaxConcurrency %d", inFlight, maxConc)
		}
		if len(running) == 0 {
			t.Fatalf("nothing in flight with %d of %d done", done, fleet)
		}
		var wg sync.WaitGroup
		for _, n := range running {
			wg.Go(func() {
				for i, err := range h.ing.Handle(ctx, []runcmd.ResultMessage{reply(cmd.CommandID, n, runcmd.DetailSuccess, 0, "")}) {
					if err != nil {
						t.Errorf("ingest %d: %v", i, err)
					}
				}
			})
		}
		wg.Wait()
		done += len(running)
	}
	h.dispatch()
	if c := h.command(cmd.CommandID); c.Detail != runcmd.CommandDetailSuccess || c.CompletedCount() != fleet {
		t.Errorf("command = %s with %d completed, want Success with %d", c.Detail, c.CompletedCount(), fleet)
	}
}

func TestClientTokenIsIdempotent(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	a := h.node(1, nil)
	first := h.send(SendCommandInput{InstanceIDs: []string{a}, ClientToken: "deploy-42"})
	again := h.send(SendCommandInput{InstanceIDs: []string{a}, ClientToken: "deploy-42"})
	other := h.send(SendCommandInput{InstanceIDs: []string{a}, ClientToken: "deploy-43"})
	if first.CommandID != again.CommandID || first.CommandID == other.CommandID {
		t.Errorf("command ids %s, %s, %s: want the first two equal and the third different", first.CommandID, again.CommandID, other.CommandID)
	}
}

func TestNotifications(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	a, b := h.node(1, nil), h.node(2, nil)
	const topic = "arn:aws:sns:us-east-1:123456789012:ops"
	tests := []struct {
		name   string
		config runcmd.NotificationConfig
		want   []string // "type status" of the messages on the command's topic
	}{
		{"command, all events", runcmd.NotificationConfig{NotificationArn: topic, NotificationEvents: []string{"All"}, NotificationType: "Command"},
			[]string{"commandId InProgress", "commandId Success"}},
		{"invocation, success only", runcmd.NotificationConfig{NotificationArn: topic, NotificationEvents: []string{"Success"}, NotificationType: "Invocation"},
			[]string{"instanceId Success", "instanceId Success"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(h.sns.Published(topic))
			eventsBefore := len(h.sns.Published(eventsTopic))
			cmd := h.send(SendCommandInput{InstanceIDs: []string{a, b}, MaxConcurrency: "2", NotificationConfig: &tt.config})
			h.run(cmd.CommandID, []string{a, b}, func(string) (runcmd.Detail, int) { return runcmd.DetailSuccess, 0 })
			var got []string
			for _, m := range h.sns.Published(topic)[before:] {
				var body map[string]any
				if err := json.Unmarshal([]byte(m.Body), &body); err != nil {
					t.Fatal(err)
				}
				kind := "commandId"
				if _, ok := body["instanceId"]; ok {
					kind = "instanceId"
				}
				if body["commandId"] != cmd.CommandID || body["eventTime"] == "" || body["requestedDateTime"] == "" {
					t.Errorf("message lacks SSM fields: %s", m.Body)
				}
				got = append(got, fmt.Sprint(kind, " ", body["status"]))
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("messages (-want +got):\n%s", diff)
			}
			// The events topic gets every change: command InProgress and Success, and each
			// invocation's InProgress and Success.
			if n := len(h.sns.Published(eventsTopic)) - eventsBefore; n != 6 {
				t.Errorf("events topic got %d messages, want 6", n)
			}
		})
	}
}

// TestExactMaxErrorsNeverOvershoots runs a fleet whose later nodes fail, once with SSM's semantics
// (in-flight invocations may add errors past the threshold) and once in exact mode.
func TestExactMaxErrorsNeverOvershoots(t *testing.T) {
	t.Parallel()
	for _, exact := range []bool{false, true} {
		t.Run(fmt.Sprint("exact=", exact), func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			var nodes []string
			for i := range 10 {
				nodes = append(nodes, h.node(i+1, map[string]string{"Role": "db"}))
			}
			cmd := h.send(SendCommandInput{Targets: []runcmd.Target{{Key: "tag:Role", Values: []string{"db"}}},
				MaxConcurrency: "10", MaxErrors: "2", ExactMaxErrors: exact})
			good := map[string]bool{nodes[0]: true, nodes[1]: true, nodes[2]: true}
			h.run(cmd.CommandID, nodes, func(n string) (runcmd.Detail, int) {
				if good[n] {
					return runcmd.DetailSuccess, 0
				}
				return runcmd.DetailFailed, 1
			})
			got := h.command(cmd.CommandID)
			if got.Detail != runcmd.CommandDetailFailed || got.CompletedCount() != 10 {
				t.Fatalf("command %s with %d completed, want Failed with 10", got.Detail, got.CompletedCount())
			}
			// Slow start sends node 1, then nodes 2-4 (one fails), then the remaining six at once,
			// which all fail: SSM lets them overshoot MaxErrors.
			want := 7
			if exact {
				want = 3 // MaxErrors + 1
			}
			if got.ErrorCount() != want {
				t.Errorf("errors = %d, want %d", got.ErrorCount(), want)
			}
		})
	}
}

func TestInvalidPlatform(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	linux := h.node(1, nil)
	win := "mi-00000000000000009"
	hb := runcmd.Heartbeat{InstanceID: win, ComputerName: "win", PlatformType: "Windows", QueueURL: "q/" + win}
	h.ingest(runcmd.ResultMessage{Kind: runcmd.KindHeartbeat, Heartbeat: &hb})
	cmd := h.send(SendCommandInput{InstanceIDs: []string{win, linux}, MaxConcurrency: "2"})
	h.run(cmd.CommandID, []string{linux, win}, func(string) (runcmd.Detail, int) { return runcmd.DetailSuccess, 0 })
	if d := h.detail(cmd.CommandID, win); d != runcmd.DetailInvalidPlatform || d.Status() != runcmd.InvocationFailed {
		t.Errorf("Windows node: %s, want InvalidPlatform (Failed)", d)
	}
	if msgs := h.nodes.Messages("q/" + win); len(msgs) != 0 {
		t.Errorf("AWS-RunShellScript was sent to a Windows node: %+v", msgs)
	}
	// InvalidPlatform is left out of the final status, like Undeliverable.
	if c := h.command(cmd.CommandID); c.Detail != runcmd.CommandDetailSuccess {
		t.Errorf("command = %s, want Success", c.Detail)
	}
}

func TestSweepExecutionTimeout(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	a := h.node(1, nil)
	cmd := h.send(SendCommandInput{InstanceIDs: []string{a}}) // delivery 3600 s + execution 3600 s
	h.dispatch()
	h.received(a)
	h.advance(10 * time.Second)
	started := reply(cmd.CommandID, a, runcmd.DetailInProgress, -1, "")
	started.Reply.Result.StartedAt = h.clock()
	h.ingest(started) // the node starts, then goes silent
	h.advance(3600*time.Second + runcmd.ExecGrace + time.Second)
	if n, err := h.sweep.Sweep(context.Background()); err != nil || n != 1 {
		t.Fatalf("sweep: %d, %v; want 1 timed out", n, err)
	}
	h.dispatch()
	if d := h.detail(cmd.CommandID, a); d != runcmd.DetailExecutionTimedOut {
		t.Errorf("invocation = %s, want ExecutionTimedOut", d)
	}
	if c := h.command(cmd.CommandID); c.Detail != runcmd.CommandDetailExecutionTimedOut || c.ErrorCount() != 1 {
		t.Errorf("command = %s with %d errors, want ExecutionTimedOut with 1", c.Detail, c.ErrorCount())
	}
}

func TestSplitTargets(t *testing.T) {
	t.Parallel()
	ids, tags, err := splitTargets(nil, []runcmd.Target{{Key: "instanceids", Values: []string{"mi-0123456789abcdef0"}}})
	if err != nil || len(ids) != 1 || tags != nil {
		t.Errorf("lower-case instanceids: ids %v tags %v err %v", ids, tags, err)
	}
}
