package memstore

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/runcmd/runcmd"
	"github.com/runcmd/runcmd/internal/lambdafn"
	"github.com/runcmd/runcmd/internal/service"
)

// TestCommandRunsToSuccess drives a tag-targeted command through the real services over these ports,
// as the overhead benchmark does, and checks that every node ran it exactly once.
func TestCommandRunsToSuccess(t *testing.T) {
	t.Parallel()
	for _, started := range []bool{false, true} {
		t.Run(fmt.Sprintf("started reply %v", started), func(t *testing.T) {
			t.Parallel()
			runToSuccess(t, started)
		})
	}
}

func runToSuccess(t *testing.T, startedReply bool) {
	const n = 1234
	ctx := context.Background()
	docs, err := service.NewBuiltins()
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	pub, key, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	cmds, fleet, dq, agents := NewCommands(), NewFleet(n, "Fleet", "bench", pub), &Dispatch{}, &Agents{Key: key, StartedReply: startedReply}
	api := service.NewAPI(cmds, fleet, dq, docs)
	disp := &service.Dispatcher{Commands: cmds, Instances: fleet, Nodes: agents, Now: time.Now, Log: log}
	ing := &service.Ingester{Commands: cmds, Instances: fleet, Dispatch: dq, Now: time.Now, Log: log, Keys: service.NewNodeKeys(fleet)}
	agents.Ingest = lambdafn.SQSHandler(lambdafn.Ingest(ing), false, log)
	handle := lambdafn.SQSHandler(lambdafn.Dispatch(disp), true, log)

	cmd, err := api.SendCommand(ctx, service.SendCommandInput{
		DocumentName: "AWS-RunShellScript", Targets: []runcmd.Target{{Key: "tag:Fleet", Values: []string{"bench"}}},
		Parameters: map[string][]string{"commands": {"true"}}, MaxConcurrency: "100%", MaxErrors: "0",
	})
	if err != nil {
		t.Fatal(err)
	}
	for {
		ev := dq.Take(10)
		if len(ev.Records) == 0 {
			if agents.Pending() == 0 {
				break
			}
			if err := agents.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			continue
		}
		resp, err := handle(ctx, ev)
		if err != nil || len(resp.BatchItemFailures) > 0 {
			t.Fatalf("dispatch batch: %v, %d failures", err, len(resp.BatchItemFailures))
		}
	}
	got, err := cmds.GetCommand(ctx, cmd.CommandID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Detail != runcmd.CommandDetailSuccess || got.Counts[runcmd.DetailSuccess] != n || got.TargetCount != n {
		t.Errorf("command: %s, %d successes of %d targets, want Success %d of %d", got.Detail, got.Counts[runcmd.DetailSuccess], got.TargetCount, n, n)
	}
	if agents.Received != n || agents.Failures != 0 {
		t.Errorf("agents received %d messages with %d failed replies, want %d and 0", agents.Received, agents.Failures, n)
	}
	if want := map[bool]int{false: n, true: 2 * n}[startedReply]; agents.seq != want {
		t.Errorf("agents sent %d replies, want %d", agents.seq, want)
	}
	if want := int64(n * 10); cmds.Bytes() < want {
		t.Errorf("store holds %d bytes for %d invocations, want at least %d", cmds.Bytes(), n, want)
	}
}

func TestFindByTagPages(t *testing.T) {
	t.Parallel()
	f := NewFleet(250, "K", "V", nil)
	var all []string
	next := ""
	for {
		ids, tok, err := f.FindByTag(context.Background(), "K", "V", false, 100, next)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, ids...)
		if tok == "" {
			break
		}
		next = tok
	}
	if len(all) != 250 || all[0] != NodeID(1) || all[249] != NodeID(250) {
		t.Errorf("paged %d ids from %v to %v, want 250 from %s to %s", len(all), all[0], all[len(all)-1], NodeID(1), NodeID(250))
	}
	if ids, _, _ := f.FindByTag(context.Background(), "K", "other", false, 100, ""); len(ids) != 0 {
		t.Errorf("FindByTag with another value found %d nodes", len(ids))
	}
}
