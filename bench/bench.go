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
	"slices"
	"strings"
	"time"
)

// Options tune a run.
type Options struct {
	Root   string        // the repository (go.mod)
	OutDir string        // where REPORT.md and report.json are written
	Budget time.Duration // the run trims repetitions beyond the minimum to end within it
	Quick  bool          // small sizes and short waits, for working on the bench itself
	// Sections limits the run to these sections (see Sections); empty runs them all.
	Sections []string
	// SharedEmulator runs every section on the emulator at AWS_ENDPOINT_URL instead of a fresh
	// emulator of the bench's own for each group of sections (see Emulator).
	SharedEmulator bool
	Log            io.Writer // progress lines
}

// Sections are the parts of a run, in the order they run. The api's emulator half runs on the first
// fleet size's system after its runs, requests on the last fleet size's system after its runs.
var Sections = []string{"overhead", "footprint", "documents", "latency", "fleet", "api", "requests", "ansible"}

// Report is everything a run measured; report.json is its encoding and REPORT.md its rendering.
type Report struct {
	Machine      Machine           `json:"machine"`
	Quick        bool              `json:"quick"`
	Seconds      float64           `json:"seconds"`
	Sections     []SectionTime     `json:"sections,omitempty"`
	Emulators    []EmulatorUse     `json:"emulators,omitempty"`
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

// SectionTime is where a run's time went: one section's wall time against the time the plan
// reserves for its minimum (the budget's reserve).
type SectionTime struct {
	Name       string  `json:"name"`
	Seconds    float64 `json:"seconds"`
	PlannedMin float64 `json:"planned_minimum_s"`
	Note       string  `json:"note,omitempty"`
}

// EmulatorUse is one emulator the run used, for one group of sections.
type EmulatorUse struct {
	For      string  `json:"for"`
	Endpoint string  `json:"endpoint"`
	Fresh    bool    `json:"fresh"`   // a moto_server of the bench's own, started empty
	Patched  bool    `json:"patched"` // run with the bench's fix for moto's request routing (motoPatch)
	RSSStart int64   `json:"rss_bytes_start,omitempty"`
	RSSEnd   int64   `json:"rss_bytes_end,omitempty"`
	CPU      float64 `json:"cpu_s,omitempty"`
}

// plan holds the sizes of a run.
type plan struct {
	latencyWarm, latencySends int
	fleetSizes                []int
	fleetRuns                 int // timed runs per size when the budget allows; never fewer than minRuns
	ansibleRuns               map[int]int
	requestNodes, requestRuns int
	singleRuns                int
	overheadSigned            []int // signed replies: the production path
	overheadUnsigned          []int // unsigned replies (ingest's local-only mode): the rest of the services
	overheadRuns              int
	fakeSize                  int
	minute, settle            time.Duration
	loadWarm, loadWindow      time.Duration
	loadWindows, loadClients  int
	docCount                  int
	// minimum is what each part needs at least (warm-up plus minRuns timed runs), by the names
	// SectionTime uses: the time the budget keeps in reserve for the parts still to come. From
	// runs on the 2-core reference machine (2026-11-27, lightly loaded, moto patched, Ansible pipelined).
	minimum map[string]time.Duration
}

// minRuns is the fewest timed runs of anything repeated: a median and a spread, never one run.
const minRuns = 2

func fullPlan() plan {
	return plan{latencyWarm: 5, latencySends: 50, fleetSizes: []int{50, 200}, fleetRuns: 3,
		ansibleRuns: map[int]int{50: 3, 200: 3}, requestNodes: 100, requestRuns: 2, singleRuns: 2,
		overheadSigned: []int{10_000, 100_000}, overheadUnsigned: []int{100_000, 1_000_000}, overheadRuns: 3, fakeSize: 10_000,
		minute: time.Minute, settle: 5 * time.Second,
		loadWarm: 2 * time.Second, loadWindow: 3 * time.Second, loadWindows: 3, loadClients: 16, docCount: 5,
		minimum: map[string]time.Duration{
			"overhead": 120 * time.Second, "footprint": 30 * time.Second, "documents": 20 * time.Second,
			"latency": 25 * time.Second, "fleet 50": 35 * time.Second, "api": 50 * time.Second,
			"fleet 200": 230 * time.Second, "requests": 75 * time.Second, "ansible": 250 * time.Second,
		}}
}

func quickPlan() plan {
	return plan{latencyWarm: 2, latencySends: 10, fleetSizes: []int{5, 10}, fleetRuns: 2,
		ansibleRuns: map[int]int{5: 2, 10: 2}, requestNodes: 5, requestRuns: 2, singleRuns: 2,
		overheadSigned: []int{1_000, 10_000}, overheadUnsigned: []int{10_000}, overheadRuns: 2, fakeSize: 1_000,
		minute: 5 * time.Second, settle: time.Second,
		loadWarm: 500 * time.Millisecond, loadWindow: time.Second, loadWindows: 2, loadClients: 16, docCount: 2,
		minimum: map[string]time.Duration{
			"overhead": 10 * time.Second, "footprint": 30 * time.Second, "documents": 20 * time.Second,
			"latency": 10 * time.Second, "fleet 5": 20 * time.Second, "api": 10 * time.Second,
			"requests": 20 * time.Second, "fleet 10": 20 * time.Second, "ansible": 20 * time.Second,
		}}
}

// runner carries a run's state: the report, the deadline, the log.
type runner struct {
	opt      Options
	plan     plan
	rep      *Report
	start    time.Time
	deadline time.Time
	tmp      string
	todo     []string // parts not started yet, whose minimum the budget keeps in reserve
	now      func() time.Time
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

// want reports whether section is part of this run.
func (r *runner) want(section string) bool {
	return len(r.opt.Sections) == 0 || slices.Contains(r.opt.Sections, section)
}

// begin starts part name (a SectionTime name): its minimum leaves the reserve. Call the returned
// function when it ends.
func (r *runner) begin(name string) (end func(note string)) {
	r.todo = slices.DeleteFunc(r.todo, func(s string) bool { return s == name })
	t0 := time.Now()
	r.logf("%s: start (%.0fs left in the budget, %.0fs of it reserved for what follows)", name, time.Until(r.deadline).Seconds(), r.reserve().Seconds())
	return func(note string) {
		r.rep.Sections = append(r.rep.Sections, SectionTime{Name: name, Seconds: time.Since(t0).Seconds(),
			PlannedMin: r.plan.minimum[name].Seconds(), Note: note})
		r.logf("%s: done in %.1fs", name, time.Since(t0).Seconds())
	}
}

// section is the index of part name in the report's sections, -1 if it has not ended.
func (r *runner) section(name string) int {
	return slices.IndexFunc(r.rep.Sections, func(s SectionTime) bool { return s.Name == name })
}

// reserve is the time the parts not started yet need at least.
func (r *runner) reserve() time.Duration {
	var d time.Duration
	for _, s := range r.todo {
		d += r.plan.minimum[s]
	}
	return d
}

// room reports whether est more still fits before the deadline with the reserve left over.
func (r *runner) room(est time.Duration) bool {
	return r.now().Add(est + r.reserve()).Before(r.deadline)
}

// repeat runs run (k = 0, 1, ...) at least minRuns and at most max times. A run beyond minRuns
// starts only when the longest run so far still fits the budget; trimmed runs are noted under what.
func (r *runner) repeat(what string, most int, run func(k int) (time.Duration, error)) error {
	var longest time.Duration
	for k := range most {
		if k >= minRuns && !r.room(longest+time.Second) {
			r.note("%s: %d timed runs, not %d, to stay within the time budget", what, k, most)
			return nil
		}
		d, err := run(k)
		if err != nil {
			return err
		}
		longest = max(longest, d)
	}
	return nil
}

// Run runs every measurement (or opt.Sections) and writes the report. A measurement that fails is
// recorded in the report and the others still run. It writes REPORT.md and report.json only for a
// complete run; a run of some sections writes report-sections.json beside them.
func Run(ctx context.Context, opt Options) (*Report, error) {
	r := &runner{opt: opt, plan: fullPlan(), start: time.Now(), deadline: time.Now().Add(opt.Budget),
		rep: &Report{Quick: opt.Quick, Errors: map[string]string{}}, now: time.Now}
	if opt.Quick {
		r.plan = quickPlan()
	}
	for _, s := range opt.Sections {
		if !slices.Contains(Sections, s) {
			return nil, fmt.Errorf("unknown section %q (sections: %s)", s, strings.Join(Sections, ", "))
		}
	}
	r.todo = r.parts()
	if min := r.reserve(); min > opt.Budget {
		r.note("the plan's minimum (%.1f min) exceeds the budget (%.1f min): only repetitions beyond the minimum are trimmed", min.Minutes(), opt.Budget.Minutes())
	}
	r.rep.Machine = DescribeMachine(ctx, opt.Root)
	r.rep.Machine.BudgetMinute = opt.Budget.Minutes()
	tmp, err := os.MkdirTemp("", "runcmd-bench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	r.tmp = tmp

	// Footprint and latency share a system; the footprint's idle minute runs beside the overhead
	// section (an idle agent uses no CPU, and the overhead section uses no emulator).
	var sys *System
	if r.want("footprint") || r.want("latency") {
		sys = r.system(ctx, "footprint and latency")
	}
	var proc *AgentProcess
	idleDone := make(chan error, 1)
	fp := &FootprintResult{BuildFlags: "CGO_ENABLED=0 -ldflags '-s -w'"}
	var endFootprint func(string)
	if sys != nil && r.want("footprint") {
		endFootprint = r.begin("footprint")
		proc = r.startAgentProcess(ctx, sys, tmp, fp, idleDone)
	}
	if r.want("overhead") {
		r.overhead(ctx, proc != nil)
	}
	if proc != nil {
		r.logf("agent footprint: waiting for the idle minute to end")
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
	if endFootprint != nil {
		endFootprint("its idle minute ran beside the overhead section, whose time is not counted here")
		if i, j := r.section("footprint"), r.section("overhead"); i >= 0 && j >= 0 {
			r.rep.Sections[i].Seconds -= r.rep.Sections[j].Seconds
		}
	}
	if r.want("documents") {
		end := r.begin("documents")
		r.documents(ctx)
		end("")
	}
	if sys != nil && r.want("latency") {
		end := r.begin("latency")
		r.latency(ctx, sys)
		end("")
	}
	r.closeSystem(sys)
	for i, n := range r.plan.fleetSizes {
		api := i == 0 && r.want("api")
		if !r.want("fleet") && !api {
			continue
		}
		fs := r.fleetSize(ctx, n, r.requestsOn(i))
		if api {
			end := r.begin("api")
			if fs.sys != nil && fs.commandID != "" {
				r.apiEmulator(ctx, fs.sys, fs.commandID, fs.node)
			}
			if !r.requestsOn(i) {
				r.closeSystem(fs.sys)
			}
			r.apiInMemory(ctx) // with no agents left polling the emulator
			end("")
		}
		if r.requestsOn(i) {
			r.requests(ctx, fs)
		}
		r.closeSystem(fs.sys)
	}
	if r.want("requests") && r.requestsOn(-1) {
		r.requests(ctx, fleetSystem{})
	}
	if r.want("ansible") {
		r.ansible(ctx, tmp)
	}
	r.rep.Machine.LoadEnd = loadAverage()
	r.rep.Seconds = time.Since(r.start).Seconds()
	if time.Now().After(r.deadline) {
		r.note("the run took %.1f min, over its budget of %.1f min", time.Since(r.start).Minutes(), opt.Budget.Minutes())
	}
	if len(opt.Sections) > 0 {
		path := filepath.Join(opt.OutDir, "report-sections.json")
		r.logf("a run of some sections: writing %s only (REPORT.md and report.json are for whole runs)", path)
		return r.rep, r.rep.WriteJSON(path)
	}
	if err := r.rep.Write(opt.OutDir); err != nil {
		return r.rep, err
	}
	r.logf("wrote %s and %s", filepath.Join(opt.OutDir, "REPORT.md"), filepath.Join(opt.OutDir, "report.json"))
	return r.rep, nil
}

// parts are the SectionTime names of the sections this run has, in order.
func (r *runner) parts() []string {
	var out []string
	for _, s := range []string{"overhead", "footprint", "documents", "latency"} {
		if r.want(s) {
			out = append(out, s)
		}
	}
	for i, n := range r.plan.fleetSizes {
		if r.want("fleet") || i == 0 && r.want("api") {
			out = append(out, fmt.Sprintf("fleet %d", n))
		}
		if i == 0 && r.want("api") {
			out = append(out, "api")
		}
		if r.requestsOn(i) {
			out = append(out, "requests")
		}
	}
	if r.want("requests") && r.requestsOn(-1) {
		out = append(out, "requests")
	}
	if r.want("ansible") {
		out = append(out, "ansible")
	}
	return out
}

// system starts a System for purpose on a fresh emulator of its own (or the shared one); nil when
// it could not start (the failure is recorded).
func (r *runner) system(ctx context.Context, purpose string) *System {
	var emu *Emulator
	if !r.opt.SharedEmulator {
		var err error
		if emu, err = StartEmulator(ctx, r.tmp); err != nil {
			r.note("%s: no fresh emulator (%v); using the shared one at %s", purpose, err, os.Getenv("AWS_ENDPOINT_URL"))
		}
	}
	if emu == nil {
		emu = SharedEmulator(os.Getenv("AWS_ENDPOINT_URL"))
	}
	r.logf("%s: provisioning and starting the functions on %s (moto_server pids %v)", purpose, emu.Endpoint, emu.PIDs())
	use := EmulatorUse{For: purpose, Endpoint: emu.Endpoint, Fresh: emu.Own, Patched: emu.Patched, RSSStart: emu.RSS()}
	cpu0, _ := emu.CPU()
	sys, err := StartSystem(ctx, r.tmp, emu)
	if err != nil {
		r.fail("system: "+purpose, err)
		emu.Stop()
		return nil
	}
	sys.stopEmulator = func() {
		use.RSSEnd = emu.RSS()
		if cpu1, err := emu.CPU(); err == nil {
			use.CPU = (cpu1 - cpu0).Seconds()
		}
		r.rep.Emulators = append(r.rep.Emulators, use)
		emu.Stop()
	}
	return sys
}

// closeSystem stops sys, notes the registration retries it needed and stops its emulator if the
// bench started it.
func (r *runner) closeSystem(sys *System) {
	if sys == nil || sys.closed {
		return
	}
	sys.closed = true
	sys.Close()
	if n := sys.Retries.Load(); n > 0 {
		r.note("agent registration (%s): %d RegisterManagedInstance calls failed and were retried (up to 8 attempts, 4 agents registering at once; a failed registration keeps the activation slot it claimed, so activations allow 2n+10); the dev host's last warnings: %s",
			sys.Emulator.Endpoint, n, strings.Join(sys.Log.Lines(), " | "))
	}
	sys.stopEmulator()
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
	r.logf("agent footprint: %s online (pid %d); idle window of %s starts", proc.ID, proc.Pid(), r.plan.minute)
	go func() { idleDone <- MeasureIdle(ctx, sys, proc, r.plan.minute, r.plan.settle, fp) }()
	return proc
}

// overhead is measurement 4: the production path (signed replies) and, to see past signature
// verification, the local-only unsigned mode up to a million targets.
func (r *runner) overhead(ctx context.Context, besideIdle bool) {
	end := r.begin("overhead")
	defer func() {
		note := ""
		if besideIdle {
			note = "beside the footprint's idle minute"
		}
		end(note)
	}()
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
			err := r.repeat(fmt.Sprintf("overhead: %s targets (%s)", thousands(float64(n)), v.mode), r.plan.overheadRuns, func(int) (time.Duration, error) {
				run, err := RunOverhead(ctx, n, v.ports)
				if err != nil {
					return 0, err
				}
				r.logf("overhead: %d targets, %s, in %.2fs: %.0f invocations/s, peak heap %.1f MB, working set %.1f MB",
					n, v.mode, run.Seconds, run.PerSecond, float64(run.PeakHeap)/1e6, float64(run.WorkingSet)/1e6)
				size.Runs = append(size.Runs, run)
				return time.Duration(run.Seconds * float64(time.Second)), nil
			})
			if err != nil {
				r.fail("overhead", err)
				return
			}
			size.summarise()
			r.rep.Overhead = append(r.rep.Overhead, size)
		}
	}
	fk := OverheadSize{Targets: r.plan.fakeSize, Store: "internal/fake, unsigned replies"}
	for range minRuns {
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

// requestsOn reports whether measurement 3 runs on the system of fleet size i (-1: on a system of
// its own). It runs on the largest fleet's, after that fleet's runs, when that fleet runs and has
// more agents than it needs: the fleet is started as two groups, the other group is stopped, and
// the fleet runs before serve as its warm-up.
func (r *runner) requestsOn(i int) bool {
	if !r.want("requests") {
		return false
	}
	last := len(r.plan.fleetSizes) - 1
	shared := r.want("fleet") && r.plan.fleetSizes[last] > r.plan.requestNodes
	if i < 0 {
		return !shared
	}
	return shared && i == last
}

// fleetSystem is a fleet size's system, left running for what follows on it.
type fleetSystem struct {
	sys       *System
	commandID string   // the last fleet command
	node      string   // one of its nodes
	groups    []*Fleet // with a requests group: that group, then the others
}

// fleetSize is measurement 2's runcmd part at one size, on a fresh system: a warm-up, then timed
// runs, each on an invocations table pruned of the runs before. With split > 0 the agents start as
// two groups, the first of split agents tagged BenchGroup=requests. It returns the system, still
// running, for measurement 6's emulator half (a run of the api section alone does the warm-up
// only) or measurement 3; the caller closes it.
func (r *runner) fleetSize(ctx context.Context, n int, withRequests bool) (fs fleetSystem) {
	end := r.begin(fmt.Sprintf("fleet %d", n))
	defer end("")
	if fs.sys = r.system(ctx, fmt.Sprintf("fleet of %d", n)); fs.sys == nil {
		return fs
	}
	sizes, groups := []int{n}, []string{"fleet"}
	if withRequests {
		sizes, groups = []int{r.plan.requestNodes, n - r.plan.requestNodes}, []string{"requests", "other"}
	}
	r.logf("fleet: starting %d agents", n)
	for k, size := range sizes {
		f, err := fs.sys.StartFleet(ctx, size, map[string]string{"BenchRole": "fleet", "BenchGroup": groups[k]})
		if f != nil {
			fs.groups = append(fs.groups, f)
		}
		if err != nil {
			r.fail("fleet", err)
			return fs
		}
	}
	warm, err := RunFleet(ctx, fs.sys, "BenchRole", "fleet", n)
	if err != nil {
		r.fail("fleet", err)
		return fs
	}
	r.logf("fleet: %d nodes, warm-up ended after %.0f ms", n, warm.ToLastMS)
	fs.commandID, fs.node = warm.CommandID, fs.groups[0].IDs[0]
	if !r.want("fleet") {
		return fs
	}
	size := FleetSize{Nodes: n, WarmUp: warm}
	err = r.repeat(fmt.Sprintf("fleet: %d nodes", n), r.plan.fleetRuns, func(int) (time.Duration, error) {
		pruned, err := fs.sys.Prune(ctx)
		if err != nil {
			return 0, err
		}
		size.Pruned += pruned
		run, err := RunFleet(ctx, fs.sys, "BenchRole", "fleet", n)
		if err != nil {
			return 0, err
		}
		r.logf("fleet: %d nodes, last invocation ended after %.0f ms (%.1f/s), %s", n, run.ToLastMS, run.PerSecond, run.Status)
		size.Runs = append(size.Runs, run)
		fs.commandID = run.CommandID
		return time.Duration(run.ToCommandMS * float64(time.Millisecond)), nil
	})
	if err != nil {
		r.fail("fleet", err)
	}
	size.summarise()
	r.rep.Fleet = append(r.rep.Fleet, size)
	return fs
}

// ansible is measurement 2's peer, run last, with no agents running: the most expensive part, and the
// one the time budget trims first (never below two runs a size).
func (r *runner) ansible(ctx context.Context, tmp string) {
	end := r.begin("ansible")
	defer end("")
	r.rep.Ansible = EnsureAnsible(ctx)
	if !r.rep.Ansible.Available {
		r.logf("ansible: %s", r.rep.Ansible.Note)
		return
	}
	dir := filepath.Join(tmp, "ansible")
	_ = os.MkdirAll(filepath.Join(dir, "tmp"), 0o755)
	// A one-host run: Ansible's fixed start-up, and the warm-up (its Python modules in the page cache).
	if d, err := RunAnsible(ctx, dir, 1); err != nil {
		r.rep.Ansible.Note = err.Error()
	} else {
		r.rep.Ansible.OverheadMS = ms(d)
	}
	for _, n := range r.plan.fleetSizes {
		a := &AnsibleSize{Hosts: n}
		_ = r.repeat(fmt.Sprintf("ansible: %d hosts", n), r.plan.ansibleRuns[n], func(int) (time.Duration, error) {
			d, err := RunAnsible(ctx, dir, n)
			if err != nil {
				a.Error = err.Error()
				r.logf("ansible %d hosts: %v", n, err)
				return 0, err
			}
			r.logf("ansible: %d hosts in %.1fs", n, d.Seconds())
			a.Runs = append(a.Runs, ms(d))
			return d, nil
		})
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

// requests is measurement 3: on fs, the largest fleet's system after its runs, with its requests
// group alone left running; or, when fs has no system, on a fresh system and fleet of its own with a
// warm-up of its own.
func (r *runner) requests(ctx context.Context, fs fleetSystem) {
	end := r.begin("requests")
	defer end("")
	n := r.plan.requestNodes
	sys, warmed := fs.sys, fs.commandID
	var ids []string
	switch {
	case sys != nil && len(fs.groups) == 2 && warmed != "":
		r.logf("requests: stopping the %d agents outside the requests group", len(fs.groups[1].IDs))
		fs.groups[1].Stop()
		ids = fs.groups[0].IDs
	case sys != nil:
		return // the fleet failed; recorded there
	default:
		if sys = r.system(ctx, "requests"); sys == nil {
			return
		}
		defer r.closeSystem(sys)
		r.logf("requests: starting %d agents", n)
		f, err := sys.StartFleet(ctx, n, map[string]string{"BenchRole": "requests", "BenchGroup": "requests"})
		if err != nil {
			r.fail("requests", err)
			return
		}
		ids = f.IDs
	}
	res, err := MeasureRequests(ctx, sys, "BenchGroup", "requests", ids, r.plan.requestRuns, r.plan.singleRuns, warmed)
	if err != nil {
		r.fail("requests", err)
		return
	}
	if fs.sys != nil {
		res.OnFleet = len(fs.groups[0].IDs) + len(fs.groups[1].IDs)
	}
	r.logf("requests: %.2f per invocation (%d-node command), %.2f (1-node command)", res.PerInv.Median, n, res.SinglePerInv.Median)
	r.rep.Requests = &res
}

// apiEmulator is measurement 6 on the emulator: GetCommandInvocation of one finished invocation and
// ListCommandInvocations of the fleet command commandID.
func (r *runner) apiEmulator(ctx context.Context, sys *System, commandID, node string) {
	p := r.plan
	for _, t := range []struct {
		op   string
		body []byte
	}{
		{"GetCommandInvocation", loadBody(map[string]string{"CommandId": commandID, "InstanceId": node})},
		{"ListCommandInvocations", loadBody(map[string]string{"CommandId": commandID})},
	} {
		r.logf("api: %s on the emulator", t.op)
		res, err := RunLoad(ctx, sys.Endpoint, "emulator", t.op, t.body, p.loadClients, p.loadWarm, p.loadWindow, p.loadWindows)
		if err != nil {
			r.fail("api", err)
			return
		}
		r.rep.API = append(r.rep.API, res)
	}
}

// apiInMemory is measurement 6 over the in-memory fakes, to show the api's own cost.
func (r *runner) apiInMemory(ctx context.Context) {
	p := r.plan
	endpoint, cmdID, node, stop, err := InMemoryAPI(ctx)
	if err != nil {
		r.fail("api", err)
		return
	}
	defer stop()
	for _, t := range []struct {
		op   string
		body []byte
	}{
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
