//go:build unix

package node

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/url"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/runcmd/runcmd"
	"github.com/runcmd/runcmd/agent/internal/state"
	"github.com/runcmd/runcmd/internal/awstest"
	"github.com/runcmd/runcmd/internal/sqsq"
)

// outage is how long the emulator is away in TestAgentSurvivesEmulatorOutage: the issue says a minute.
const outage = 60 * time.Second

// TestAgentSurvivesEmulatorOutage: the emulator going away for a minute and coming back loses nothing.
// A real agent (NewAWS, with the SDK's default retries as runcmd-agent has them) talks to the emulator
// through a TCP proxy. While a step runs, the proxy cuts every connection and refuses new ones for a
// minute; the step ends during the outage, so its final reply is journaled and retried. After the
// proxy comes back the reply reaches the results queue exactly once, and the agent still long-polls:
// a second command sent afterwards runs.
func TestAgentSurvivesEmulatorOutage(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("takes about 70 s: the emulator is away for a minute")
	}
	emuCfg := awstest.Config(t)
	ctx, cancel := context.WithTimeout(t.Context(), outage+90*time.Second) // never hang
	defer cancel()
	n := newEmulatorNode(t, emuCfg, awstest.Name("outage"))
	proxy := newOutageProxy(t, *emuCfg.BaseEndpoint)

	agentCfg := emuCfg.Copy()
	agentCfg.BaseEndpoint = aws.String(proxy.url())
	agentCfg.RetryMaxAttempts = 0 // the SDK's default retries, as runcmd-agent's LoadDefaultConfig gives
	a, err := NewAWS(ctx, agentCfg, Config{StateDir: n.dir, Grace: 2 * time.Second,
		Logger: slog.New(slog.NewTextHandler(t.Output(), nil)), Env: []string{"PATH=/usr/bin:/bin"}}, n.names)
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- a.Run(runCtx) }()
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()

	nodeQ, results := sqsq.New(n.sqs, n.nodeURL), newResultsReader(n.sqs, n.resultsURL)
	send := func(id string, lines ...string) {
		t.Helper()
		body, _ := json.Marshal(runcmd.NodeMessage{Kind: runcmd.KindSend, CommandID: id, InstanceID: a.InstanceID(),
			DocumentContent: doc(lines)})
		if err := nodeQ.Send(ctx, string(body)); err != nil {
			t.Fatal(err)
		}
	}

	// The step outlasts ProgressDelay, so the started reply goes out before the outage.
	send("cmd-outage", "sleep 5", "echo survived")
	results.waitFor(ctx, t, "started reply", func(r runcmd.Reply) bool {
		return r.CommandID == "cmd-outage" && r.Detail == runcmd.DetailInProgress
	})
	if proxy.connections() == 0 {
		t.Fatal("the agent did not go through the proxy")
	}
	proxy.down()
	downAt := time.Now()
	t.Logf("emulator unreachable for %v", outage)

	// The step ends during the outage: its reply is journaled and retried, and cannot arrive.
	waitUntil(ctx, t, "final reply journaled", func() bool {
		rec, err := a.journal.Get("cmd-outage")
		return err == nil && rec.Phase == state.PhaseFinished && rec.Final != nil
	})
	if rec, _ := a.journal.Get("cmd-outage"); rec.Sent {
		t.Fatal("the final reply counts as sent while the emulator is unreachable")
	}
	if !sleep(ctx, time.Until(downAt.Add(outage))) {
		t.Fatal("test deadline during the outage")
	}
	if got := results.finals("cmd-outage"); len(got) != 0 {
		t.Fatalf("final replies during the outage: %+v", got)
	}
	proxy.up()
	upAt := time.Now()

	// Back: the reply is delivered (the agent's first successful receive triggers a flush).
	final := results.waitFor(ctx, t, "final reply after the outage", func(r runcmd.Reply) bool {
		return r.CommandID == "cmd-outage" && r.Detail.Terminal()
	})
	t.Logf("final reply arrived %v after the emulator came back", time.Since(upAt).Round(time.Second))
	if final.Detail != runcmd.DetailSuccess || len(final.Result.Plugins) != 1 || final.Result.Plugins[0].Stdout != "survived\n" {
		t.Errorf("final reply = %s %+v", final.Detail, final.Result.Plugins)
	}

	// Still long-polling: a command sent now runs.
	send("cmd-after", "echo after the outage")
	after := results.waitFor(ctx, t, "second command's reply", func(r runcmd.Reply) bool {
		return r.CommandID == "cmd-after" && r.Detail.Terminal()
	})
	if after.Detail != runcmd.DetailSuccess || after.Result.Plugins[0].Stdout != "after the outage\n" {
		t.Errorf("second command = %s %+v", after.Detail, after.Result.Plugins)
	}
	waitUntil(ctx, t, "first reply marked sent", func() bool {
		rec, err := a.journal.Get("cmd-outage")
		return err == nil && rec.Sent
	})

	// Exactly once: whatever else is still on the way arrives within a few receives.
	results.drain(ctx, t, 3*time.Second)
	if got := results.finals("cmd-outage"); len(got) != 1 {
		t.Errorf("%d final replies for the command that ended during the outage, want 1", len(got))
	}
	if got := results.finals("cmd-after"); len(got) != 1 {
		t.Errorf("%d final replies for the command after the outage, want 1", len(got))
	}
}

// resultsReader reads and deletes everything on the results queue, straight from the emulator, and
// keeps the replies.
type resultsReader struct {
	q       *sqsq.Queue
	replies []runcmd.Reply
}

func newResultsReader(c *sqs.Client, url string) *resultsReader {
	return &resultsReader{q: sqsq.New(c, url)}
}

// receive reads one batch, waiting up to wait.
func (r *resultsReader) receive(ctx context.Context, t *testing.T, wait time.Duration) {
	t.Helper()
	msgs, err := r.q.Receive(ctx, sqsq.MaxBatch, wait)
	if err != nil {
		t.Fatalf("read results queue: %v", err)
	}
	for _, m := range msgs {
		var rm runcmd.ResultMessage
		if err := json.Unmarshal([]byte(m.Body), &rm); err != nil {
			t.Fatalf("results queue message %q: %v", m.Body, err)
		}
		if rm.Kind == runcmd.KindReply && rm.Reply != nil {
			r.replies = append(r.replies, *rm.Reply)
		}
		if err := r.q.Delete(ctx, m.ReceiptHandle); err != nil {
			t.Fatalf("delete from results queue: %v", err)
		}
	}
}

// waitFor reads until a reply matching ok has arrived (also earlier) and returns it.
func (r *resultsReader) waitFor(ctx context.Context, t *testing.T, what string, ok func(runcmd.Reply) bool) runcmd.Reply {
	t.Helper()
	for {
		for _, rep := range r.replies {
			if ok(rep) {
				return rep
			}
		}
		if ctx.Err() != nil {
			t.Fatalf("timed out waiting for the %s", what)
		}
		r.receive(ctx, t, time.Second)
	}
}

// drain reads for d more.
func (r *resultsReader) drain(ctx context.Context, t *testing.T, d time.Duration) {
	t.Helper()
	for end := time.Now().Add(d); time.Now().Before(end) && ctx.Err() == nil; {
		r.receive(ctx, t, time.Second)
	}
}

func (r *resultsReader) finals(commandID string) []runcmd.Reply {
	var out []runcmd.Reply
	for _, rep := range r.replies {
		if rep.CommandID == commandID && rep.Detail.Terminal() {
			out = append(out, rep)
		}
	}
	return out
}

// waitUntil polls cond until it holds or ctx ends.
func waitUntil(ctx context.Context, t *testing.T, what string, cond func() bool) {
	t.Helper()
	for !cond() {
		if !sleep(ctx, 50*time.Millisecond) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// outageProxy forwards TCP connections from a local port to the emulator. down cuts every connection
// and closes the port, so new connections are refused, as when the emulator is gone; up listens on the
// same port again.
type outageProxy struct {
	t      *testing.T
	target string
	addr   string

	mu    sync.Mutex
	ln    net.Listener
	open  map[net.Conn]struct{}
	total int
	wg    sync.WaitGroup
}

func newOutageProxy(t *testing.T, endpoint string) *outageProxy {
	t.Helper()
	u, err := url.Parse(endpoint)
	if err != nil || u.Host == "" {
		t.Fatalf("emulator endpoint %q: %v", endpoint, err)
	}
	p := &outageProxy{t: t, target: u.Host, open: map[net.Conn]struct{}{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.addr = ln.Addr().String()
	p.serve(ln)
	t.Cleanup(func() {
		p.down()
		p.wg.Wait()
	})
	return p
}

func (p *outageProxy) url() string { return "http://" + p.addr }

// connections is how many connections the proxy has accepted.
func (p *outageProxy) connections() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.total
}

func (p *outageProxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	p.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return // closed by down
			}
			p.wg.Go(func() { p.forward(c) })
		}
	})
}

func (p *outageProxy) forward(client net.Conn) {
	server, err := net.DialTimeout("tcp", p.target, 5*time.Second)
	if err != nil {
		client.Close()
		return
	}
	p.mu.Lock()
	if p.ln == nil { // went down meanwhile
		p.mu.Unlock()
		client.Close()
		server.Close()
		return
	}
	p.open[client], p.open[server] = struct{}{}, struct{}{}
	p.total++
	p.mu.Unlock()
	var both sync.WaitGroup
	pipe := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		// One direction ended: end the other too, as a closing peer would.
		dst.Close()
		src.Close()
	}
	both.Go(func() { pipe(server, client) })
	both.Go(func() { pipe(client, server) })
	both.Wait()
	p.mu.Lock()
	delete(p.open, client)
	delete(p.open, server)
	p.mu.Unlock()
}

// down closes the port and every open connection.
func (p *outageProxy) down() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.open {
		c.Close()
	}
}

// up listens on the proxy's port again.
func (p *outageProxy) up() {
	p.t.Helper()
	var ln net.Listener
	var err error
	for range 50 { // the port may linger for a moment after the close
		if ln, err = net.Listen("tcp", p.addr); err == nil || !errors.Is(err, syscall.EADDRINUSE) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		p.t.Fatalf("proxy up again on %s: %v", p.addr, err)
	}
	p.serve(ln)
}
