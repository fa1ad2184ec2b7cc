// Package bench runs runcmd's benchmarks (issue 7) and writes the report: dispatch latency, fleet runs
// beside Ansible, AWS requests and cost per invocation, the services' own overhead without the
// emulator, the agent's footprint, and api throughput. Nothing here asserts: slow numbers are
// reported, never failed. `make bench` runs it through cmd/benchrun against the local emulator.
package bench

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Options tune a run.
type Options struct {
	Root   string        // the repository (go.mod)
	OutDir string        // where REPORT.md and report.json are written
	Budget time.Duration // the run trims repetitions beyond the minimum to end within it
	Quick  bool          // small sizes and short waits, for working on the bench itself
	Log    io.Writer     // progress lines
}

// Report is everything a run measured; report.json is its encoding and REPORT.md its rendering.
type Report struct {
	Machine      Machine           `json:"machine"`
	Quick        bool              `json:"quick"`
	Seconds      float64           `json:"seconds"`
	Latency      *LatencyResult    `json:"dispatch_latency,omitempty"`
	Fleet        []FleetSize       `json:"fleet,omitempty"`
	Ansible      AnsibleInfo       `json:"ansible"`
	Requests     *RequestsResult   `json:"requests,omitempty"`
	Overhead     []OverheadSize    `json:"overhead,omitempty"`
	OverheadFake *OverheadSize     `json:"overhead_internal_fake,omitempty"`
	Footprint    *FootprintResult  `json:"agent_footprint,omitempty"`
	Idle         *IdleCost         `json:"idle_node_cost,omitempty"`
	API          []LoadResult      `json:"api_throughput,omitempty"`
	Documents    *DocBench         `json:"documents_benchmark,omitempty"`
	Errors       map[string]string `json:"errors,omitempty"`
	Notes        []string          `json:"notes,omitempty"`
}

// plan holds the sizes of a run.
type plan struct {
	latencyWarm, latencySends int
	fleetSizes                []int
	fleetRuns                 int
	ansibleRuns               map[int]int
	requestNodes, requestRuns int
	singleRuns                int
	overheadSigned            []int // signed replies: the production path
	overheadUnsigned          []int // unsigned replies (ingest's local-only mode): the rest of the services
	overheadRuns              int
	fakeSize                  int
	minute                    time.Duration
	loadWarm, loadWindow      time.Duration
	loadWindows, loadClients  int
	docCount                  int
}

func fullPlan() plan {
	return plan{latencyWarm: 5, latencySends: 50, fleetSizes: []int{50, 200}, fleetRuns: 3,
		ansibleRuns: map[int]int{50: 3, 200: 3}, requestNodes: 100, requestRuns: 2, singleRuns: 2,
		overheadSigned: []int{10_000, 100_000}, overheadUnsigned: []int{100_000, 1_000_000}, overheadRuns: 3, fakeSize: 10_000, minute: time.Minute,
		loadWarm: 2 * time.Second, loadWindow: 4 * time.Second, loadWindows: 3, loadClients: 16, docCount: 5}
}

func quickPlan() plan {
	return plan{latencyWarm: 2, latencySends: 10, fleetSizes: []int{5, 10}, fleetRuns: 2,
		ansibleRuns: map[int]int{5: 2, 10: 2}, requestNodes: 10, requestRuns: 2, singleRuns: 2,
		overheadSigned: []int{1_000, 10_000}, overheadUnsigned: []int{10_000}, overheadRuns: 2, fakeSize: 1_000, minute: 5 * time.Second,
		loadWarm: 500 * time.Millisecond, loadWindow: time.Second, loadWindows: 2, loadClients: 16, docCount: 2}
}

// runner carries a run's state: the report, the deadline, the log.
type runner struct {
	opt      Options
	plan     plan
	rep      *Report
	start    time.Time
	deadline time.Time
}

func (r *runner) logf(format string, args ...any) {
	if r.opt.Log != nil {
		fmt.Fprintf(r.opt.Log, "bench %6.1fs  %s\n", time.Since(r.start).Seconds(), fmt.Sprintf(format, args...))
	}
}

func (r *runner) fail(name string, err error) {
	r.rep.Errors[name] = err.Error()
	r.logf("%s failed: %v", name, err)
}

func (r *runner) note(format string, args ...any) {
	r.rep.Notes = append(r.rep.Notes, fmt.Sprintf(format, args...))
	r.logf("note: "+format, args...)
}

// room reports whether est still fits before the deadline with reserve left for what follows.
func (r *runner) room(est, reserve time.Duration) bool {
	return time.Now().Add(est + reserve).Before(r.deadline)
}

// Run runs every measurement and writes the report. A measurement that fails is recorded in the
// report and the others still run.
func Run(ctx context.Context, opt Options) (*Report, error) {
	r := &runner{opt: opt, plan: fullPlan(), start: time.Now(), deadline: time.Now().Add(opt.Budget),
		rep: &Report{Quick: opt.Quick, Errors: map[string]string{}}}
	if opt.Quick {
		r.plan = quickPlan()
	}
	r.rep.Machine = DescribeMachine(ctx, opt.Root)
	r.rep.Machine.BudgetMinute = opt.Budget.Minutes()
	tmp, err := os.MkdirTemp("", "runcmd-bench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)

	r.logf("provisioning and starting the functions on %s", r.rep.Machine.Emulator)
	sys, err := StartSystem(ctx, tmp)
	if err != nil {
		r.fail("system", err)
	} else {
		defer sys.Close()
	}

	// 5 (idle part) runs beside 4: an idle agent uses no CPU, and 4 uses no emulator.
	var proc *AgentProcess
	idleDone := make(chan error, 1)
	fp := &FootprintResult{BuildFlags: "CGO_ENABLED=0 -ldflags '-s -w'"}
	if sys != nil {
		proc = r.startAgentProcess(ctx, sys, tmp, fp, idleDone)
	}
	r.overhead(ctx)
	if proc != nil {
		r.logf("agent footprint: waiting for the idle window to end")
		if err := <-idleDone; err != nil {
			r.fail("agent_footprint", err)
		} else {
			r.rep.Idle = fp.Idle
			r.logf("agent footprint: five documents at once")
			if err := MeasureBusy(ctx, sys, proc, fp); err != nil {
				r.fail("agent_footprint", err)
			}
			r.rep.Footprint = fp
		}
		proc.Stop()
	}
	r.documents(ctx)
	if sys != nil {
		emu := r.rep.Machine.EmulatorPID
		r.latency(ctx, sys)
		r.fleet(ctx, sys, emu)
		r.requests(ctx, sys)
		r.api(ctx, sys)
		r.ansible(ctx, tmp)
	}
	if sys != nil {
		if n := sys.Retries.Load(); n > 0 {
			r.note("agent registration: %d RegisterManagedInstance calls failed and were retried (up to 8 attempts, 4 agents registering at once; a failed registration keeps the activation slot it claimed, so activations allow 2n+10); the dev host's last warnings: %s",
				n, strings.Join(sys.Log.Lines(), " | "))
		}
	}
	r.rep.Machine.LoadEnd = loadAverage()
	r.rep.Seconds = time.Since(r.start).Seconds()
	if err := r.rep.Write(opt.OutDir); err != nil {
		return r.rep, err
	}
	r.logf("wrote %s and %s", filepath.Join(opt.OutDir, "REPORT.md"), filepath.Join(opt.OutDir, "report.json"))
	return r.rep, nil
}

func (r *runner) startAgentProcess(ctx context.Context, sys *System, tmp string, fp *FootprintResult, idleDone chan<- error) *AgentProcess {
	r.logf("agent footprint: building runcmd-agent")
	bin, err := BuildAgent(ctx, r.opt.Root, tmp)
	if err != nil {
		r.fail("agent_footprint", err)
		return nil
	}
	if st, err := os.Stat(bin); err == nil {
		fp.BinaryBytes = st.Size()
	}
	proc, err := StartAgentProcess(ctx, sys, bin, tmp)
	if err != nil {
		r.fail("agent_footprint", err)
		return nil
	}
	fp.InstanceID = proc.ID
	r.logf("agent footprint: %s online (pid %d); idle window of 2×%s starts", proc.ID, proc.Pid(), r.plan.minute)
	go func() { idleDone <- MeasureIdle(ctx, sys, proc, r.plan.minute, fp) }()
	return proc
}

// overhead is measurement 4: the production path (signed replies) and, to see past signature
// verification, the local-only unsigned mode up to a million targets.
func (r *runner) overhead(ctx context.Context) {
	r.logf("overhead: warm-up")
	if _, err := RunOverhead(ctx, r.plan.overheadSigned[0], memPorts(true)); err != nil {
		r.fail("overhead", err)
		return
	}
	type variant struct {
		sizes []int
		mode  string
		ports func(context.Context, int) (ports, error)
	}
	for _, v := range []variant{
		{r.plan.overheadSigned, "memstore, signed replies", memPorts(true)},
		{r.plan.overheadUnsigned, "memstore, unsigned replies", memPorts(false)},
	} {
		for _, n := range v.sizes {
			size := OverheadSize{Targets: n, Store: v.mode}
			for k := range r.plan.overheadRuns {
				if k >= 2 && len(size.Runs) > 0 {
					est := time.Duration(size.Runs[0].Seconds*float64(time.Second)) + time.Second
					if !r.room(est, 10*time.Minute) {
						r.note("overhead: %d targets (%s) ran %d times, not %d, to stay within the time budget", n, v.mode, k, r.plan.overheadRuns)
						break
					}
				}
				run, err := RunOverhead(ctx, n, v.ports)
				if err != nil {
					r.fail("overhead", err)
					return
				}
				r.logf("overhead: %d targets, %s, in %.2fs: %.0f invocations/s, peak heap %.1f MB, working set %.1f MB",
					n, v.mode, run.Seconds, run.PerSecond, float64(run.PeakHeap)/1e6, float64(run.WorkingSet)/1e6)
				size.Runs = append(size.Runs, run)
			}
			size.summarise()
			r.rep.Overhead = append(r.rep.Overhead, size)
		}
	}
	fk := OverheadSize{Targets: r.plan.fakeSize, Store: "internal/fake, unsigned replies"}
	for range 2 {
		run, err := RunOverhead(ctx, r.plan.fakeSize, fakePorts)
		if err != nil {
			r.fail("overhead_fake", err)
			return
		}
		r.logf("overhead over internal/fake: %d targets in %.2fs", r.plan.fakeSize, run.Seconds)
		fk.Runs = append(fk.Runs, run)
	}
	fk.summarise()
	r.rep.OverheadFake = &fk
}

// documents runs the documents package's benchmark.
func (r *runner) documents(ctx context.Context) {
	r.logf("documents benchmark")
	d, err := RunDocBench(ctx, r.opt.Root, r.plan.docCount)
	if err != nil {
		r.fail("documents", err)
		return
	}
	r.rep.Documents = &d
}

// latency is measurement 1.
func (r *runner) latency(ctx context.Context, sys *System) {
	r.logf("dispatch latency: one agent, %d sends after %d warm-up", r.plan.latencySends, r.plan.latencyWarm)
	f, err := sys.StartFleet(ctx, 1, map[string]string{"BenchRole": "latency"})
	if err != nil {
		r.fail("dispatch_latency", err)
		return
	}
	defer f.Stop()
	l, err := MeasureLatency(ctx, sys, f.IDs[0], r.plan.latencyWarm, r.plan.latencySends)
	if err != nil {
		r.fail("dispatch_latency", err)
		return
	}
	r.logf("dispatch latency: to step start p50 %.0f ms, to result p50 %.0f ms", l.ToStepStart.P50, l.ToResult.P50)
	r.rep.Latency = &l
}

// fleet is measurement 2's runcmd part: the fleet grows from one size to the next.
func (r *runner) fleet(ctx context.Context, sys *System, emu int) {
	var fleets []*Fleet
	defer func() {
		for _, f := range fleets {
			f.Stop()
		}
	}()
	have := 0
	for _, n := range r.plan.fleetSizes {
		size := FleetSize{Nodes: n}
		r.logf("fleet: starting %d agents", n-have)
		f, err := sys.StartFleet(ctx, n-have, map[string]string{"BenchRole": "fleet"})
		if f != nil {
			fleets = append(fleets, f)
		}
		if err != nil {
			r.fail("fleet", err)
			return
		}
		have = n
		warm, err := RunFleet(ctx, sys, "BenchRole", "fleet", n, emu)
		if err != nil {
			r.fail("fleet", err)
			return
		}
		size.WarmUp = warm
		for k := range r.plan.fleetRuns {
			if k >= 2 && !r.room(time.Duration(warm.ToCommandMS*float64(time.Millisecond))+time.Second, 4*time.Minute) {
				r.note("fleet: %d nodes ran %d times, not %d, to stay within the time budget", n, k, r.plan.fleetRuns)
				break
			}
			run, err := RunFleet(ctx, sys, "BenchRole", "fleet", n, emu)
			if err != nil {
				r.fail("fleet", err)
				return
			}
			r.logf("fleet: %d nodes, last invocation ended after %.0f ms (%.1f/s), %s", n, run.ToLastMS, run.PerSecond, run.Status)
			size.Runs = append(size.Runs, run)
		}
		size.summarise()
		r.rep.Fleet = append(r.rep.Fleet, size)
	}
}

// ansible is measurement 2's peer, run last, with no agents running: the most expensive part, and the
// one the time budget trims first (never below two runs a size).
func (r *runner) ansible(ctx context.Context, tmp string) {
	r.logf("fleet: ansible")
	r.rep.Ansible = EnsureAnsible(ctx)
	if !r.rep.Ansible.Available {
		r.logf("ansible: %s", r.rep.Ansible.Note)
		return
	}
	dir := filepath.Join(tmp, "ansible")
	_ = os.MkdirAll(filepath.Join(dir, "tmp"), 0o755)
	if d, err := RunAnsible(ctx, dir, 1); err != nil {
		r.rep.Ansible.Note = err.Error()
	} else {
		r.rep.Ansible.OverheadMS = ms(d)
	}
	for _, n := range r.plan.fleetSizes {
		a := &AnsibleSize{Hosts: n}
		for k := range r.plan.ansibleRuns[n] {
			if k >= 2 && !r.room(time.Duration(a.Runs[0]*float64(time.Millisecond)), 0) {
				r.note("ansible: %d hosts ran %d times, not %d, to stay within the time budget", n, k, r.plan.ansibleRuns[n])
				break
			}
			d, err := RunAnsible(ctx, dir, n)
			if err != nil {
				a.Error = err.Error()
				r.logf("ansible %d hosts: %v", n, err)
				break
			}
			r.logf("ansible: %d hosts in %.1fs", n, d.Seconds())
			a.Runs = append(a.Runs, ms(d))
		}
		a.Duration = NewSpread(a.Runs)
		var rates []float64
		for _, v := range a.Runs {
			rates = append(rates, float64(n)/(v/1000))
		}
		a.Rate = NewSpread(rates)
		for i := range r.rep.Fleet {
			if r.rep.Fleet[i].Nodes == n {
				r.rep.Fleet[i].Ansible = a
				r.rep.Fleet[i].summarise()
			}
		}
	}
}

// requests is measurement 3, with a fresh fleet so that no heartbeat falls in the counted windows.
func (r *runner) requests(ctx context.Context, sys *System) {
	r.logf("requests: starting %d agents", r.plan.requestNodes)
	f, err := sys.StartFleet(ctx, r.plan.requestNodes, map[string]string{"BenchRole": "requests"})
	if f != nil {
		defer f.Stop()
	}
	if err != nil {
		r.fail("requests", err)
		return
	}
	res, err := MeasureRequests(ctx, sys, "BenchRole", "requests", f.IDs, r.plan.requestRuns, r.plan.singleRuns)
	if err != nil {
		r.fail("requests", err)
		return
	}
	r.logf("requests: %.2f per invocation (100-node command), %.2f (1-node command)", res.PerInv.Median, res.SinglePerInv.Median)
	r.rep.Requests = &res
}

// api is measurement 6, on the emulator and in memory.
func (r *runner) api(ctx context.Context, sys *System) {
	type target struct {
		op   string
		body []byte
	}
	var emuTargets []target
	if l := r.rep.Latency; l != nil {
		emuTargets = append(emuTargets, target{"GetCommandInvocation", loadBody(map[string]string{"CommandId": l.LastCommandID, "InstanceId": l.InstanceID})})
	}
	if len(r.rep.Fleet) > 0 && len(r.rep.Fleet[0].Runs) > 0 {
		emuTargets = append(emuTargets, target{"ListCommandInvocations", loadBody(map[string]string{"CommandId": r.rep.Fleet[0].Runs[0].CommandID})})
	}
	p := r.plan
	for _, t := range emuTargets {
		r.logf("api: %s on the emulator", t.op)
		res, err := RunLoad(ctx, sys.Endpoint, "emulator", t.op, t.body, p.loadClients, p.loadWarm, p.loadWindow, p.loadWindows)
		if err != nil {
			r.fail("api", err)
			return
		}
		r.rep.API = append(r.rep.API, res)
	}
	endpoint, cmdID, node, stop, err := InMemoryAPI(ctx)
	if err != nil {
		r.fail("api", err)
		return
	}
	defer stop()
	for _, t := range []target{
		{"GetCommandInvocation", loadBody(map[string]string{"CommandId": cmdID, "InstanceId": node})},
		{"ListCommandInvocations", loadBody(map[string]string{"CommandId": cmdID})},
	} {
		r.logf("api: %s in memory", t.op)
		res, err := RunLoad(ctx, endpoint, "in-memory", t.op, t.body, p.loadClients, p.loadWarm, p.loadWindow, p.loadWindows)
		if err != nil {
			r.fail("api", err)
			return
		}
		r.rep.API = append(r.rep.API, res)
	}
}
