package bench

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestRepeatTrimsToTheBudget(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		left     time.Duration // before the deadline
		reserve  time.Duration // minimum of the parts still to come
		run      time.Duration // what each run reports
		want     int
		trimmed  bool
		failedAt int // -1: no run fails
	}{
		{"room for every run", time.Hour, 0, time.Second, 4, false, -1},
		{"never fewer than minRuns", 0, 0, time.Second, minRuns, true, -1},
		{"the reserve counts", time.Hour, 2 * time.Hour, time.Second, minRuns, true, -1},
		{"one more fits", 130 * time.Second, 0, 40 * time.Second, 3, true, -1},
		{"an error ends the runs", time.Hour, 0, time.Second, 2, false, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
			r := &runner{rep: &Report{}, deadline: now.Add(tc.left), todo: []string{"later"}, now: func() time.Time { return now },
				plan: plan{minimum: map[string]time.Duration{"later": tc.reserve}}}
			runs := 0
			err := r.repeat("thing", 4, func(k int) (time.Duration, error) {
				if k != runs {
					t.Errorf("run %d called as %d", runs, k)
				}
				runs++
				now = now.Add(tc.run)
				if k == tc.failedAt {
					return 0, errors.New("boom")
				}
				return tc.run, nil
			})
			if (err != nil) != (tc.failedAt >= 0) {
				t.Errorf("err %v", err)
			}
			if runs != tc.want {
				t.Errorf("%d runs, want %d", runs, tc.want)
			}
			noted := len(r.rep.Notes) == 1 && strings.Contains(r.rep.Notes[0], "thing: ") && strings.Contains(r.rep.Notes[0], "not 4")
			if noted != tc.trimmed {
				t.Errorf("notes %q, want a trim noted: %v", r.rep.Notes, tc.trimmed)
			}
		})
	}
}

func TestPartsFollowTheSections(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		sections []string
		want     []string
	}{
		{nil, []string{"overhead", "footprint", "documents", "latency", "fleet 50", "api", "fleet 200", "requests", "ansible"}},
		{[]string{"fleet"}, []string{"fleet 50", "fleet 200"}},
		{[]string{"api"}, []string{"fleet 50", "api"}}, // the api needs a fleet command on the emulator
		{[]string{"requests", "overhead"}, []string{"overhead", "requests"}},
		{[]string{"requests", "fleet"}, []string{"fleet 50", "fleet 200", "requests"}},
	} {
		r := &runner{opt: Options{Sections: tc.sections}, plan: fullPlan()}
		if diff := cmp.Diff(tc.want, r.parts()); diff != "" {
			t.Errorf("sections %v (-want +got):\n%s", tc.sections, diff)
		}
	}
	// Every part of the full plan has a minimum, and the minimums fit the default budget.
	r := &runner{plan: fullPlan()}
	r.todo = r.parts()
	for _, p := range r.todo {
		if r.plan.minimum[p] == 0 {
			t.Errorf("part %q has no planned minimum", p)
		}
	}
	if got := r.reserve(); got > 14*time.Minute {
		t.Errorf("the full plan's minimum is %s, over the default budget of 14 min", got)
	}
}

func TestIdleCostPerHeartbeat(t *testing.T) {
	t.Parallel()
	tally := Tally{Ops: []OpCount{
		{Service: "SQS", Operation: "DeleteMessage", Resource: "results", Count: 2},
		{Service: "DynamoDB", Operation: "UpdateItem", Resource: "instances", Count: 2},
		{Service: "DynamoDB", Operation: "Query", Resource: "invocations", Count: 7}, // sweep's: left out
	}, HeartbeatsReceived: 2}
	// Two heartbeats handled in a 65 s window: per minute is per heartbeat (one a minute), not per 65 s.
	ic := NewIdleCost(tally, 65*time.Second, 2)
	if ic.ServiceRequestsPerMin != 2 || ic.WriteUnitsPerMin != 1 || ic.Heartbeats != 2 {
		t.Errorf("per heartbeat: %+v", ic)
	}
	tally.HeartbeatsReceived = 0
	ic = NewIdleCost(tally, 2*time.Minute, 2)
	if ic.ServiceRequestsPerMin != 2 || ic.WriteUnitsPerMin != 1 {
		t.Errorf("per window minute: %+v", ic)
	}
}

func TestRequestsWithoutHeartbeats(t *testing.T) {
	t.Parallel()
	rep := &Report{Idle: &IdleCost{WindowMinutes: 1, ServiceRequestsPerMin: 3.5},
		Requests: &RequestsResult{Fleet: []RequestsRun{{Nodes: 100, Total: 1090, Heartbeats: 20}, {Nodes: 100, Total: 1000, Heartbeats: 0}}}}
	// A heartbeat costs the agent's send plus the functions' 3.5 requests.
	if got := rep.perInvNoHeartbeats(); got.Median != 10 || got.Min != 10 || got.Max != 10 {
		t.Errorf("fleet runs without heartbeats: %+v, want 10 each", got)
	}
	single := rep.noHeartbeats([]RequestsRun{{Nodes: 1, Total: 169, Heartbeats: 32}})
	if single.Median != 25 {
		t.Errorf("one-node run without its 32 heartbeats: %v, want 25", single.Median)
	}
}
