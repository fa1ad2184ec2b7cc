//go:build unix

package node

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/runcmd/runcmd"
	"github.com/runcmd/runcmd/agent/internal/state"
	"github.com/runcmd/runcmd/internal/sqsq"
)

func TestAgentRunsCommand(t *testing.T) {
	t.Parallel()
	// A minute: the command surely ends before, however loaded the machine.
	h := newHarness(t, "", Config{Tags: map[string]string{"Workload": "Prod"}, QueueURL: "http://q/node", ProgressDelay: time.Minute})
	h.start(t)
	rh := h.inbox.Push(sendBody(t, runcmd.NodeMessage{CommandID: "cmd-1", DocumentName: "AWS-RunShellScript",
		DocumentContent: doc([]string{"echo hello", "echo oops >&2"}, []string{"exit 0"})}))
	waitFor(t, "final reply", func() bool { return len(h.outbox.final(t, "cmd-1")) == 1 })

	// A command that ends within Config.ProgressDelay gets one reply: the final one, with its start.
	// (TestAgentStartedReply covers the started reply of a longer one.)
	rs := h.outbox.replies(t, "cmd-1")
	if len(rs) != 1 {
		t.Fatalf("replies = %+v, want only the final reply", rs)
	}
	final := rs[0]
	if final.Detail != runcmd.DetailSuccess || final.InstanceID != testID || final.Result.ResponseCode != 0 {
		t.Errorf("final = %s code %d instance %s", final.Detail, final.Result.ResponseCode, final.InstanceID)
	}
	if final.Result.StartedAt.IsZero() || final.Result.EndedAt.Before(final.Result.StartedAt) {
		t.Errorf("final StartedAt %v, EndedAt %v; want the start recorded", final.Result.StartedAt, final.Result.EndedAt)
	}
	if len(final.Result.Plugins) != 2 || final.Result.Plugins[0].Stdout != "hello\n" || final.Result.Plugins[0].Stderr != "oops\n" ||
		final.Result.Plugins[0].Name != "step1" || final.Result.Plugins[0].Action != "aws:runShellScript" {
		t.Errorf("plugins = %+v", final.Result.Plugins)
	}
	waitFor(t, "message deleted", func() bool { return slices.Contains(h.inbox.Deleted(), rh) })
	rec, err := h.agent.journal.Get("cmd-1")
	if err != nil || rec.Phase != state.PhaseFinished || !rec.Sent || rec.Message != nil {
		t.Errorf("journal = %+v, %v; want finished, sent, message dropped", rec, err)
	}

	hbs := h.outbox.heartbeats(t)
	if len(hbs) == 0 {
		t.Fatal("no heartbeat")
	}
	want := runcmd.Heartbeat{InstanceID: testID, ComputerName: "host-1", IPAddress: "10.0.0.7", PlatformType: "Linux",
		PlatformName: "Ubuntu", PlatformVersion: "24.04", AgentVersion: Version, QueueURL: "http://q/node",
		Tags: map[string]string{"Workload": "Prod"}}
	got := hbs[0]
	got.At = time.Time{}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("heartbeat (-want +got):\n%s", diff)
	}
}

// TestAgentStartedReply checks when the InProgress ("started") reply is sent: only for a document
// still running after Config.ProgressDelay, so a quick command costs one reply, not two.
func TestAgentStartedReply(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		delay   time.Duration
		script  string
		wake    bool
		started bool // want the started reply before the final one
	}{
		{"job shorter than the delay: final reply only", time.Minute, "echo quick", true, false},
		{"job longer than the delay: started, then final", 200 * time.Millisecond, "sleep 1", true, true},
		{"immediate: started before the first step", ProgressImmediate, "echo quick", false, true},
		{"disabled: final reply only", -1, "sleep 0.5", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, "", Config{ProgressDelay: tt.delay})
			h.start(t)
			h.inbox.Push(sendBody(t, runcmd.NodeMessage{CommandID: "cmd-p", Wake: tt.wake, DocumentContent: doc([]string{tt.script})}))
			waitFor(t, "final reply", func() bool { return len(h.outbox.final(t, "cmd-p")) == 1 })
			waitFor(t, "reply marked sent", func() bool {
				r, err := h.agent.journal.Get("cmd-p")
				return err == nil && r.Sent
			})
			rs := h.outbox.replies(t, "cmd-p")
			var got []runcmd.Detail
			for _, r := range rs {
				got = append(got, r.Detail)
			}
			want := []runcmd.Detail{runcmd.DetailSuccess}
			if tt.started {
				want = []runcmd.Detail{runcmd.DetailInProgress, runcmd.DetailSuccess}
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Fatalf("replies (-want +got):\n%s", diff)
			}
			final := rs[len(rs)-1]
			if final.Result.StartedAt.IsZero() {
				t.Error("final reply without StartedAt")
			}
			if tt.started {
				started := rs[0]
				if !started.Result.StartedAt.Equal(final.Result.StartedAt) || started.Wake != tt.wake || final.Wake {
					t.Errorf("started reply at %v wake %v, final at %v wake %v; want the same start, wake only on the started reply",
						started.Result.StartedAt, started.Wake, final.Result.StartedAt, final.Wake)
				}
			}
		})
	}
}

func TestAgentNeverRunsACommandTwice(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "", Config{})
	h.start(t)
	count := filepath.Join(t.TempDir(), "runs")
	body := sendBody(t, runcmd.NodeMessage{CommandID: "cmd-dup", DocumentContent: doc([]string{"echo run >> " + count, "sleep 0.2"})})
	h1 := h.inbox.Push(body)
	h2 := h.inbox.Push(body) // redelivered while the first runs
	waitFor(t, "final reply", func() bool { return len(h.outbox.final(t, "cmd-dup")) == 1 })
	h3 := h.inbox.Push(body) // redelivered after it finished
	waitFor(t, "all copies deleted", func() bool {
		d := h.inbox.Deleted()
		return slices.Contains(d, h1) && slices.Contains(d, h2) && slices.Contains(d, h3)
	})
	b, err := os.ReadFile(count)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Count(string(b), "run\n"); got != 1 {
		t.Errorf("command ran %d times, want 1", got)
	}
	if n := len(h.outbox.final(t, "cmd-dup")); n != 1 {
		t.Errorf("%d final replies, want 1", n)
	}
}

func TestAgentCancel(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "", Config{Workers: 1})
	h.start(t)
	h.inbox.Push(sendBody(t, runcmd.NodeMessage{CommandID: "cmd-long", DocumentContent: doc([]string{"sleep 300"}, []string{"echo after"})}))
	h.inbox.Push(sendBody(t, runcmd.NodeMessage{CommandID: "cmd-queued", DocumentContent: doc([]string{"echo queued"})}))
	waitRunning(t, h, "cmd-long")

	// The queued job is cancelled before it starts; the running one is killed. Both are seen while
	// the only worker is busy, because polling never waits for work.
	h.inbox.Push(sendBody(t, runcmd.NodeMessage{Kind: runcmd.KindCancel, CommandID: "cmd-queued"}))
	h.inbox.Push(sendBody(t, runcmd.NodeMessage{Kind: runcmd.KindCancel, CommandID: "cmd-long"}))
	waitFor(t, "both cancelled", func() bool {
		return len(h.outbox.final(t, "cmd-long")) == 1 && len(h.outbox.final(t, "cmd-queued")) == 1
	})
	long := h.outbox.final(t, "cmd-long")[0]
	if long.Detail != runcmd.DetailCancelled || len(long.Result.Plugins) != 2 ||
		long.Result.Plugins[0].Detail != runcmd.DetailCancelled || long.Result.Plugins[1].Detail != runcmd.DetailCancelled {
		t.Errorf("cmd-long final = %s %+v", long.Detail, long.Result.Plugins)
	}
	queued := h.outbox.final(t, "cmd-queued")[0]
	if queued.Detail != runcmd.DetailCancelled || len(queued.Result.Plugins) != 0 {
		t.Errorf("cmd-queued final = %s %+v, want Cancelled without running", queued.Detail, queued.Result.Plugins)
	}
	if n := len(h.outbox.replies(t, "cmd-queued")); n != 1 {
		t.Errorf("cmd-queued got %d replies, want only the final one", n)
	}
}

func TestAgentCancelBeforeSend(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "", Config{})
	h.start(t)
	marker := filepath.Join(t.TempDir(), "ran")
	h.inbox.Push(sendBody(t, runcmd.NodeMessage{Kind: runcmd.KindCancel, CommandID: "cmd-x"}))
	waitFor(t, "Cancelled", func() bool { return len(h.outbox.final(t, "cmd-x")) == 1 })
	sendHandle := h.inbox.Push(sendBody(t, runcmd.NodeMessage{CommandID: "cmd-x", DocumentContent: doc([]string{"touch " + marker})}))
	waitFor(t, "send deleted", func() bool { return slices.Contains(h.inbox.Deleted(), sendHandle) })
	if _, err := os.Stat(marker); err == nil {
		t.Error("a command cancelled before it arrived ran")
	}
	if got := h.outbox.final(t, "cmd-x"); len(got) != 1 || got[0].Detail != runcmd.DetailCancelled {
		t.Errorf("final replies = %+v", got)
	}
}

func TestAgentSkipsExpiredAndBadMessages(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "", Config{})
	h.start(t)
	marker := filepath.Join(t.TempDir(), "ran")
	handles := []string{
		h.inbox.Push(sendBody(t, runcmd.NodeMessage{CommandID: "cmd-old", ExpiresAt: time.Now().Add(-time.Minute),
			DocumentContent: doc([]string{"touch " + marker})})),
		h.inbox.Push("not json"),
		h.inbox.Push(sendBody(t, runcmd.NodeMessage{CommandID: "cmd-other", InstanceID: "mi-00000000000000000",
			DocumentContent: doc([]string{"touch " + marker})})),
		h.inbox.Push(sendBody(t, runcmd.NodeMessage{CommandID: "../../etc", DocumentContent: doc([]string{"touch " + marker})})),
	}
	waitFor(t, "all deleted", func() bool {
		d := h.inbox.Deleted()
		for _, x := range handles {
			if !slices.Contains(d, x) {
				return false
			}
		}
		return true
	})
	if _, err := os.Stat(marker); err == nil {
		t.Error("an expired or foreign command ran")
	}
	for _, id := range []string{"cmd-old", "cmd-other"} {
		if rs := h.outbox.replies(t, id); len(rs) != 0 {
			t.Errorf("%s: replies %+v, want none", id, rs)
		}
	}
}

func TestAgentRejectsBadParametersOnNode(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "", Config{})
	h.start(t)
	content := `{"schemaVersion":"2.2","description":"t","parameters":{"n":{"type":"String","allowedPattern":"^[0-9]+$"}},` +
		`"mainSteps":[{"action":"aws:runShellScript","name":"a","inputs":{"runCommand":["echo {{n}}"]}}]}`
	h.inbox.Push(sendBody(t, runcmd.NodeMessage{CommandID: "cmd-bad", DocumentContent: content,
		Parameters: map[string][]string{"n": {"1; touch /tmp/pwned"}}}))
	waitFor(t, "final", func() bool { return len(h.outbox.final(t, "cmd-bad")) == 1 })
	f := h.outbox.final(t, "cmd-bad")[0]
	if f.Detail != runcmd.DetailFailed || len(f.Result.Plugins) != 0 || !strings.Contains(f.Result.TraceOutput, "rejected") {
		t.Errorf("final = %s %q %+v", f.Detail, f.Result.TraceOutput, f.Result.Plugins)
	}
}

// TestAgentRestartAfterCrash builds the journal a crash leaves behind (a job running, a final reply
// journaled but not sent, a job received but not started) and starts an agent on it.
func TestAgentRestartAfterCrash(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	st, err := state.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	j := st.Journal()
	now := time.Now()
	ranAgain := filepath.Join(t.TempDir(), "ran-again")
	recs := []state.Record{
		{CommandID: "cmd-running", Phase: state.PhaseRunning, StartedAt: now.Add(-time.Minute), ReceivedAt: now, UpdatedAt: now},
		{CommandID: "cmd-unsent", Phase: state.PhaseFinished, ReceivedAt: now, UpdatedAt: now,
			Final: &runcmd.Reply{CommandID: "cmd-unsent", InstanceID: testID, Detail: runcmd.DetailSuccess,
				Result: runcmd.Result{Plugins: []runcmd.PluginResult{{Name: "step1", Stdout: "kept\n"}}}}},
		{CommandID: "cmd-waiting", Phase: state.PhaseReceived, ReceivedAt: now, UpdatedAt: now,
			Message: &runcmd.NodeMessage{Kind: runcmd.KindSend, CommandID: "cmd-waiting", InstanceID: testID,
				DocumentContent: doc([]string{"echo waited"})}},
	}
	for _, r := range recs {
		if err := j.Create(r); err != nil {
			t.Fatal(err)
		}
	}
	h := newHarness(t, dir, Config{})
	h.start(t)
	// The running job's message is redelivered too (its delete may not have happened): never rerun.
	h.inbox.Push(sendBody(t, runcmd.NodeMessage{CommandID: "cmd-running", DocumentContent: doc([]string{"touch " + ranAgain})}))
	waitFor(t, "three final replies", func() bool {
		return len(h.outbox.final(t, "cmd-running")) == 1 && len(h.outbox.final(t, "cmd-unsent")) == 1 &&
			len(h.outbox.final(t, "cmd-waiting")) == 1
	})
	crashed := h.outbox.final(t, "cmd-running")[0]
	if crashed.Detail != runcmd.DetailFailed || !strings.Contains(crashed.Result.TraceOutput, "restarted") {
		t.Errorf("crashed job = %s %q", crashed.Detail, crashed.Result.TraceOutput)
	}
	if u := h.outbox.final(t, "cmd-unsent")[0]; u.Detail != runcmd.DetailSuccess || u.Result.Plugins[0].Stdout != "kept\n" {
		t.Errorf("re-sent reply = %+v", u)
	}
	if w := h.outbox.final(t, "cmd-waiting")[0]; w.Detail != runcmd.DetailSuccess || w.Result.Plugins[0].Stdout != "waited\n" {
		t.Errorf("resumed job = %+v", w)
	}
	time.Sleep(100 * time.Millisecond) // give a wrong rerun the chance to show
	if _, err := os.Stat(ranAgain); err == nil {
		t.Error("a job that was running at the crash ran again")
	}
	for _, id := range []string{"cmd-running", "cmd-unsent", "cmd-waiting"} {
		waitFor(t, id+" marked sent", func() bool {
			r, err := j.Get(id)
			return err == nil && r.Sent
		})
	}
}

func TestAgentShutdown(t *testing.T) {
	t.Parallel()
	t.Run("running steps finish within the grace period", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, "", Config{Grace: 20 * time.Second})
		stop := h.start(t)
		h.inbox.Push(sendBody(t, runcmd.NodeMessage{CommandID: "cmd-g", DocumentContent: doc([]string{"sleep 0.5", "echo done"})}))
		waitRunning(t, h, "cmd-g")
		stop()
		f := h.outbox.final(t, "cmd-g")
		if len(f) != 1 || f[0].Detail != runcmd.DetailSuccess || f[0].Result.Plugins[0].Stdout != "done\n" {
			t.Errorf("final = %+v", f)
		}
	})
	t.Run("steps still running after the grace period are killed and reported", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, "", Config{Grace: 300 * time.Millisecond, Workers: 1})
		stop := h.start(t)
		h.inbox.Push(sendBody(t, runcmd.NodeMessage{CommandID: "cmd-k", DocumentContent: doc([]string{"sleep 300"})}))
		waitRunning(t, h, "cmd-k")
		h.inbox.Push(sendBody(t, runcmd.NodeMessage{CommandID: "cmd-next", DocumentContent: doc([]string{"echo next"})}))
		waitFor(t, "cmd-next journaled", func() bool { _, err := h.agent.journal.Get("cmd-next"); return err == nil })
		start := time.Now()
		stop()
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("shutdown took %v", d)
		}
		f := h.outbox.final(t, "cmd-k")
		if len(f) != 1 || f[0].Detail != runcmd.DetailFailed || !strings.Contains(f[0].Result.TraceOutput, "shut down") {
			t.Errorf("final = %+v", f)
		}
		// The job that never started stays journaled and runs on the next start.
		if r, err := h.agent.journal.Get("cmd-next"); err != nil || r.Phase != state.PhaseReceived {
			t.Fatalf("cmd-next = %+v, %v; want still received", r, err)
		}
		h2 := newHarness(t, h.dir, Config{})
		h2.start(t)
		waitFor(t, "cmd-next after restart", func() bool { return len(h2.outbox.final(t, "cmd-next")) == 1 })
		if f := h2.outbox.final(t, "cmd-next")[0]; f.Detail != runcmd.DetailSuccess {
			t.Errorf("cmd-next = %+v", f)
		}
	})
}

// TestAgentReplySizeGuard runs steps that print 10 MB each of a character JSON must escape (six bytes
// per character): at SSM's inline limits the reply would pass 256 KiB.
func TestAgentReplySizeGuard(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "", Config{})
	h.start(t)
	big := []string{`head -c 10000000 /dev/zero | tr '\000' '\001'`}
	h.inbox.Push(sendBody(t, runcmd.NodeMessage{CommandID: "cmd-big", DocumentContent: doc(big, big, big)}))
	waitFor(t, "final", func() bool { return len(h.outbox.final(t, "cmd-big")) == 1 })
	h.outbox.mu.Lock()
	for _, b := range h.outbox.bodies {
		if len(b) > sqsq.MaxMessageBytes {
			t.Errorf("a %d-byte message was sent; SQS takes %d", len(b), sqsq.MaxMessageBytes)
		}
	}
	h.outbox.mu.Unlock()
	f := h.outbox.final(t, "cmd-big")[0]
	if f.Detail != runcmd.DetailSuccess || len(f.Result.Plugins) != 3 {
		t.Fatalf("final = %s with %d plugins", f.Detail, len(f.Result.Plugins))
	}
	for _, p := range f.Result.Plugins {
		if p.Stdout == "" || !strings.HasSuffix(p.Stdout, "--output truncated--") {
			t.Errorf("plugin %s stdout: %d chars, want a shortened prefix", p.Name, len(p.Stdout))
		}
	}
	if !strings.Contains(f.Result.TraceOutput, "256 KiB") {
		t.Errorf("TraceOutput = %q, want the shrink explained", f.Result.TraceOutput)
	}
	// The full output stays on the node.
	fi, err := os.Stat(filepath.Join(h.dir, "orchestration", "cmd-big", "step1", "stdout"))
	if err != nil || fi.Size() != 10000000 {
		t.Errorf("full stdout on disk: %v, %v", fi, err)
	}
}

// TestAgentCancelRecoveredJob cancels a job that was received before a restart and still waits for a
// free slot: it must be cancelled, not run once a slot frees up.
func TestAgentCancelRecoveredJob(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	st, err := state.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	marker := filepath.Join(t.TempDir(), "ran")
	now := time.Now()
	for i, cmds := range [][]string{{"sleep 300"}, {"sleep 300"}, {"touch " + marker}} {
		id := []string{"cmd-a", "cmd-b", "cmd-c"}[i]
		err := st.Journal().Create(state.Record{CommandID: id, Phase: state.PhaseReceived, ReceivedAt: now.Add(time.Duration(i)),
			UpdatedAt: now, Message: &runcmd.NodeMessage{Kind: runcmd.KindSend, CommandID: id, InstanceID: testID, DocumentContent: doc(cmds)}})
		if err != nil {
			t.Fatal(err)
		}
	}
	h := newHarness(t, dir, Config{Workers: 1, Backlog: 1})
	h.start(t)
	waitRunning(t, h, "cmd-a")
	for _, id := range []string{"cmd-c", "cmd-b", "cmd-a"} {
		h.inbox.Push(sendBody(t, runcmd.NodeMessage{Kind: runcmd.KindCancel, CommandID: id}))
	}
	waitFor(t, "all cancelled", func() bool {
		return len(h.outbox.final(t, "cmd-a")) == 1 && len(h.outbox.final(t, "cmd-b")) == 1 && len(h.outbox.final(t, "cmd-c")) == 1
	})
	for _, id := range []string{"cmd-a", "cmd-b", "cmd-c"} {
		if f := h.outbox.final(t, id)[0]; f.Detail != runcmd.DetailCancelled {
			t.Errorf("%s = %s, want Cancelled", id, f.Detail)
		}
	}
	if _, err := os.Stat(marker); err == nil {
		t.Error("a cancelled job ran")
	}
}
