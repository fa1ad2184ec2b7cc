package bench

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Targets from issue 7.
const (
	targetLatencyMS   = 200
	targetRequests    = 6
	targetOverheadIPS = 20_000
)

// SSMLatencySource is what we could find about SSM's send-to-start time (see the report's text).
const SSMLatencySource = "https://github.com/DataDog/stratus-red-team/issues/108"

// Write writes report.json and REPORT.md into dir.
func (rep *Report) Write(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := rep.WriteJSON(filepath.Join(dir, "report.json")); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "REPORT.md"), []byte(rep.Markdown()), 0o644)
}

// WriteJSON writes the report's JSON encoding to path.
func (rep *Report) WriteJSON(path string) error {
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return fmt.Errorf("encode report: %w", err)
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// Render writes REPORT.md into dir again from a report.json.
func Render(jsonPath, dir string) error {
	b, err := os.ReadFile(jsonPath)
	if err != nil {
		return err
	}
	var rep Report
	if err := json.Unmarshal(b, &rep); err != nil {
		return fmt.Errorf("decode %s: %w", jsonPath, err)
	}
	return os.WriteFile(filepath.Join(dir, "REPORT.md"), []byte(rep.Markdown()), 0o644)
}

type md struct{ strings.Builder }

func (m *md) p(format string, args ...any) { fmt.Fprintf(m, format+"\n", args...) }

func (m *md) table(head []string, rows [][]string) {
	m.p("| %s |", strings.Join(head, " | "))
	seps := make([]string, len(head))
	for i := range seps {
		seps[i] = "---"
		if i > 0 {
			seps[i] = "---:"
		}
	}
	m.p("|%s|", strings.Join(seps, "|"))
	for _, r := range rows {
		m.p("| %s |", strings.Join(r, " | "))
	}
	m.p("")
}

func f0(v float64) string { return fmt.Sprintf("%.0f", v) }
func f1(v float64) string { return fmt.Sprintf("%.1f", v) }
func f2(v float64) string { return fmt.Sprintf("%.2f", v) }
func mb(v int64) string   { return fmt.Sprintf("%.1f MB", float64(v)/1e6) }
func thousands(v float64) string {
	s := fmt.Sprintf("%.0f", v)
	var out []byte
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 && s[i-1] != '-' {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	return string(out)
}

// spread renders "median (min–max)".
func spread(s Spread, f func(float64) string) string {
	if len(s.Runs) == 0 {
		return "–"
	}
	return fmt.Sprintf("%s (%s–%s)", f(s.Median), f(s.Min), f(s.Max))
}

func yesNo(ok bool) string {
	if ok {
		return "**met**"
	}
	return "**not met**"
}

func short(commit string) string {
	if len(commit) > 12 {
		return commit[:12]
	}
	return commit
}

// Markdown renders the report.
func (rep *Report) Markdown() string {
	var m md
	mc := rep.Machine
	m.p("# runcmd benchmarks")
	m.p("")
	m.p("Written by `make bench` (bench/cmd/benchrun); machine-readable copy in `report.json`. Benchmarks never")
	m.p("fail the build: every number is reported, slow or not. Compare only numbers from the same run.")
	m.p("")
	dirty := ""
	if mc.DirtyFiles > 0 {
		dirty = fmt.Sprintf(" plus %d uncommitted files in the working tree", mc.DirtyFiles)
	}
	m.table([]string{"", ""}, [][]string{
		{"commit", "`" + mc.Commit + "`" + dirty},
		{"date (UTC)", mc.Date},
		{"machine", fmt.Sprintf("%d cores (%s), %.1f GiB memory, %s", mc.Cores, mc.CPUModel, float64(mc.MemoryBytes)/(1<<30), mc.OSArch)},
		{"Go", mc.GoVersion},
		{"emulator", rep.emulatorLine()},
		{"load average (1/5/15 min)", fmt.Sprintf("start %s, end %s", mc.LoadStart, mc.LoadEnd)},
		{"run time", fmt.Sprintf("%.1f min (budget %.0f min)%s", rep.Seconds/60, mc.BudgetMinute, map[bool]string{true: ", QUICK MODE: small sizes, not for quoting", false: ""}[rep.Quick])},
	})
	if len(rep.Errors) > 0 {
		m.p("**Measurements that failed** (the others ran):")
		m.p("")
		for _, k := range slices.Sorted(mapKeys(rep.Errors)) {
			m.p("- %s: `%s`", k, rep.Errors[k])
		}
		m.p("")
	}
	rep.headline(&m)
	rep.latencySection(&m)
	rep.fleetSection(&m)
	rep.requestsSection(&m)
	rep.overheadSection(&m)
	rep.footprintSection(&m)
	rep.apiSection(&m)
	rep.documentsSection(&m)
	rep.timeSection(&m)
	if len(rep.Notes) > 0 {
		m.p("## Notes from this run")
		m.p("")
		for _, n := range rep.Notes {
			m.p("- %s", n)
		}
		m.p("")
	}
	m.p("## How to reproduce")
	m.p("")
	m.p("```sh")
	m.p("make bench                                    # a fresh moto_server per group of sections (moto_server on PATH)")
	m.p("localstack/with-emulator.sh go run ./bench/cmd/benchrun -quick                 # small sizes, to work on the bench")
	m.p("localstack/with-emulator.sh go run ./bench/cmd/benchrun -sections fleet,ansible # some sections: report-sections.json")
	m.p("```")
	return m.String()
}

// countList renders counts by key ("results queue 3, dispatch queue 2"), or "none".
func countList(c map[string]int, unit string) string {
	var parts []string
	for _, k := range slices.Sorted(mapKeys(c)) {
		parts = append(parts, fmt.Sprintf("%s %s %d", k, unit, c[k]))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

func mapKeys[V any](mp map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range mp {
			if !yield(k) {
				return
			}
		}
	}
}

func (rep *Report) headline(m *md) {
	m.p("## Headline")
	m.p("")
	var rows [][]string
	if l := rep.Latency; l != nil {
		rows = append(rows,
			[]string{"1. dispatch latency, SendCommand return → step starts, p50", f0(l.ToStepStart.P50) + " ms", "≤ 200 ms", yesNo(l.ToStepStart.P50 <= targetLatencyMS)},
			[]string{"1. dispatch latency, SendCommand return → result readable, p50", f0(l.ToResult.P50) + " ms", "≤ 200 ms", yesNo(l.ToResult.P50 <= targetLatencyMS)})
	}
	for _, f := range rep.Fleet {
		peer := "no peer"
		if f.Ansible != nil && len(f.Ansible.Runs) > 0 {
			peer = fmt.Sprintf("Ansible %s s; runcmd/Ansible %.2f", f1(f.Ansible.Duration.Median/1000), f.Ratio)
		}
		rows = append(rows, []string{fmt.Sprintf("2. fleet of %d, send → last invocation ended (median)", f.Nodes),
			fmt.Sprintf("%s s (%s invocations/s)", f1(f.Duration.Median/1000), f1(f.Rate.Median)), peer, ""})
	}
	if r := rep.Requests; r != nil {
		rows = append(rows,
			[]string{fmt.Sprintf("3. AWS requests per invocation (%d-node command, empty long polls and heartbeats excluded)", r.Fleet[0].Nodes), f2(rep.perInvNoHeartbeats().Median), "≤ 6", yesNo(rep.perInvNoHeartbeats().Median <= targetRequests)},
			[]string{"3. cost of 1 million such invocations (modelled, list prices)", "$" + f2(r.Cost.PerMillionUSD), "", ""})
	}
	for _, o := range rep.Overhead {
		rows = append(rows, []string{fmt.Sprintf("4. services without the emulator, %s targets, %s", thousands(float64(o.Targets)), o.Store),
			fmt.Sprintf("%s invocations/s; working set %s MB", thousands(o.Rate.Median), f1(o.WorkingSetMB.Median)), "≥ 20,000/s; flat", yesNo(o.Rate.Median >= targetOverheadIPS)})
	}
	if fp := rep.Footprint; fp != nil {
		rows = append(rows, []string{"5. runcmd-agent: binary / idle RSS / idle CPU", fmt.Sprintf("%s / %s / %.2f s per min", mb(fp.BinaryBytes), mb(fp.IdleRSS), fp.IdleCPUPerMin), "", ""})
	}
	for _, a := range rep.API {
		rows = append(rows, []string{fmt.Sprintf("6. %s, 16 clients, %s", a.Operation, a.Backend), fmt.Sprintf("%s req/s, p99 %s ms", f0(a.RPS.Median), f1(a.P99.Median)), "", ""})
	}
	m.table([]string{"measurement", "this run", "target / peer", ""}, rows)
}

func distRow(name string, d Dist) []string {
	return []string{name, f0(d.P50), f0(d.P90), f0(d.P99), f0(d.Max), f0(d.Min), fmt.Sprint(d.N)}
}

func (rep *Report) latencySection(m *md) {
	l := rep.Latency
	if l == nil {
		return
	}
	m.p("## 1. Dispatch latency")
	m.p("")
	m.p("%d sends of `AWS-RunShellScript` (`date +%%s%%N`) to one idle in-process agent, one at a time, after %d", l.Sends, l.WarmUp)
	m.p("warm-up sends; the agent is back in its 20 s long poll before each send. *Step start* is the nanosecond")
	m.p("timestamp the script printed (same clock: the agent runs in the bench's process); *result readable* is the")
	m.p("first `GetCommandInvocation` showing a final status, polled every 5 ms (one poll round trip: p50 %s ms,", f1(l.PollRoundTrip.P50))
	m.p("which bounds that column's resolution). %d sends failed.", l.Failures)
	m.p("")
	m.table([]string{"ms", "p50", "p90", "p99", "max", "min", "n"}, [][]string{
		distRow("SendCommand call", l.SendCall),
		distRow("SendCommand return → step starts", l.ToStepStart),
		distRow("SendCommand return → result readable", l.ToResult),
	})
	m.p("Path: api (DynamoDB transaction, SQS FIFO send) → dispatch poller (long poll wakes at once) → dispatch")
	m.p("(read command, page pending invocations, mark sent in a transaction, SendMessage to the node's queue) →")
	m.p("agent long poll → journal → InProgress reply → script. Every hop is a request to moto, whose SQS calls")
	m.p("are the slow part of the local stack (reference/local-aws.md: ~72 ms per SendMessageBatch).")
	m.p("")
	m.p("**SSM for comparison.** DESIGN.md says SSM users report 30–45 s from send to start. We could not find")
	m.p("a public source for that figure (searched amazon-ssm-agent and boto3 issues and web pages). The one")
	m.p("public timing we found is a log in %s: send at 09:19:55, result at 09:20:00, i.e.", SSMLatencySource)
	m.p("about 5 s on real SSM; amazon-ssm-agent's ec2messages poll is held about 20 s by the service")
	m.p("(https://github.com/aws/amazon-ssm-agent/issues/80, as summarised in reference/runcommand-semantics.md).")
	m.p("Treat the 30–45 s claim as unsourced until someone cites it.")
	m.p("")
}

func (rep *Report) fleetSection(m *md) {
	if len(rep.Fleet) == 0 && !rep.Ansible.Available {
		return
	}
	m.p("## 2. Fleet run beside Ansible")
	m.p("")
	m.p("runcmd: N real agents in the bench's process (as `runcmd fleet` runs them), `AWS-RunShellScript` with `true`,")
	m.p("tag target, `MaxConcurrency` 100%%, `MaxErrors` 0; time from calling SendCommand to the first `ListCommands`")
	m.p("(polled every 20 ms) showing every invocation ended. Each size runs on a fresh emulator of its own")
	m.p("with its own agents; one warm-up run, then the timed runs, each on an invocations table pruned of the")
	m.p("runs before once the queues are quiet (moto's transactions copy whole tables, see below; DynamoDB does not).")
	m.p("SSM's slow start applies (one node first, then the window doubles with every finished invocation), so")
	m.p("the first invocations pay several sequential round trips before the fleet runs at full width.")
	m.p("")
	a := rep.Ansible
	if a.Available {
		m.p("Ansible: %s, `ansible all -i <N hosts, ansible_connection=local> -f N -m command -a true`, interpreter", a.Version)
		m.p("fixed to /usr/bin/python3 (no discovery), wall time of the whole `ansible` process, so its start-up")
		m.p("(a one-host run: %s ms) is included. It ran last, after every agent had stopped.", f0(a.OverheadMS))
	} else {
		m.p("Ansible: not available (%s).", a.Note)
	}
	m.p("")
	var rows [][]string
	for _, f := range rep.Fleet {
		row := []string{fmt.Sprint(f.Nodes), spread(NewSpread(msToS(f.Duration.Runs)), f2), spread(f.Rate, f1)}
		if f.Ansible != nil && len(f.Ansible.Runs) > 0 {
			row = append(row, spread(NewSpread(msToS(f.Ansible.Runs)), f2), spread(f.Ansible.Rate, f1), f2(f.Ratio))
		} else {
			na := "not available"
			if f.Ansible != nil && f.Ansible.Error != "" {
				na = "failed: " + f.Ansible.Error
			}
			row = append(row, na, "", "")
		}
		row = append(row, spread(f.EmulatorShare, func(v float64) string { return f0(100*v) + "%" }))
		rows = append(rows, row)
	}
	m.table([]string{"nodes", "runcmd s, median (min–max)", "runcmd invocations/s", "Ansible s", "Ansible hosts/s", "runcmd/Ansible", "emulator's CPU share"}, rows)
	for _, f := range rep.Fleet {
		var runs []string
		for _, r := range f.Runs {
			runs = append(runs, fmt.Sprintf("%s ms (%s, command final at %s ms; CPU: ours %s s, emulator %s s)", f0(r.ToLastMS), r.Status, f0(r.ToCommandMS), f2(r.SelfCPUSeconds), f2(r.EmulatorCPUSeconds)))
		}
		m.p("- %d nodes, warm-up %s ms; runs: %s", f.Nodes, f0(f.WarmUp.ToLastMS), strings.Join(runs, "; "))
	}
	m.p("")
	m.p("**The emulator's limits show here.** moto 5.2's TransactWriteItems deep-copies the tables it touches for")
	m.p("rollback, once per item of the transaction and without holding a lock (moto/dynamodb/models/__init__.py:616-623).")
	m.p("So a transaction costs moto time in proportion to the table's size, which is why each size runs on a")
	m.p("fresh emulator and pruned tables; and concurrent transactions now and then fail with")
	m.p("`RuntimeError: dictionary changed size during iteration`, an HTTP 500. Our functions")
	m.p("write every invocation transition and registration in a transaction; a failed ingest batch comes back")
	m.p("after the results queue's 60 s visibility timeout, so one such failure can add a minute to a run. We")
	m.p("did not attribute each run's time to these failures; the runs' spread is partly theirs. Real DynamoDB")
	m.p("does not fail concurrent transactions on different items this way.")
	m.p("")
	if len(rep.Fleet) > 0 && len(rep.Overhead) > 0 && rep.Overhead[0].Rate.Median > 0 {
		last := rep.Fleet[len(rep.Fleet)-1]
		ours := float64(last.Nodes) / rep.Overhead[0].Rate.Median
		m.p("**Where our time goes.** The emulator's CPU share column is moto's CPU time (both processes) over moto's plus the bench")
		m.p("process's (functions, agents, their shells, the bench's polls) during the runs. Measurement 4 puts the")
		m.p("services' own work for %d invocations at about %s ms of one core (%s invocations/s without the", last.Nodes, f0(1000*ours), thousands(rep.Overhead[0].Rate.Median))
		m.p("emulator), against %s s of wall time here: nearly all of the fleet time is spent waiting on", f1(last.Duration.Median/1000))
		m.p("emulated AWS requests (each moto process serialises on Python's GIL) and running the agents' shells, not in runcmd's code.")
		m.p("")
	}
}

func msToS(v []float64) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = x / 1000
	}
	return out
}

func opName(o OpCount) string {
	s := o.Service + " " + o.Operation
	if o.Resource != "" {
		s += " (" + o.Resource + ")"
	}
	return s
}

func (rep *Report) requestsSection(m *md) {
	r := rep.Requests
	if r == nil || len(r.Fleet) == 0 {
		return
	}
	med := r.Fleet[medianIndex(func() []float64 {
		var v []float64
		for _, x := range r.Fleet {
			v = append(v, x.PerInv)
		}
		return v
	}())]
	m.p("## 3. AWS requests and cost per invocation")
	m.p("")
	m.p("Every AWS request of the functions and the agents passes an SDK middleware (initialize step keeps the")
	m.p("input, deserialize step counts one per HTTP attempt and inspects the output). %d-node command (`true`,", med.Nodes)
	if r.OnFleet > 0 {
		m.p("tag target, MaxConcurrency 100%%) to one group of %d agents of the %d-node fleet, on that fleet's system", med.Nodes, r.OnFleet)
		m.p("after its runs (they are the warm-up) with its other agents stopped; the invocations table is")
		m.p("pruned of earlier commands before each counted run; the nodes' heartbeats in the window")
	} else {
		m.p("tag target, MaxConcurrency 100%%) to a fleet started just before on a fresh emulator, after a warm-up")
		m.p("command; the invocations table is pruned of earlier commands before each counted run; its nodes' heartbeats in the window")
	}
	m.p("(%d) are counted and taken out below. The bench's own completion polls (`ListCommands` every 500 ms) were calibrated and", med.Heartbeats)
	m.p("subtracted (%d polls in the median run). Empty long polls are excluded and listed separately.", med.PollsTaken)
	m.p("")
	var per []string
	for _, x := range r.Fleet {
		per = append(per, f2(x.PerInv))
	}
	noHB, singleNoHB := rep.perInvNoHeartbeats(), rep.noHeartbeats(r.Single)
	var single []string
	for i, x := range r.Single {
		single = append(single, fmt.Sprintf("%s, %s with its window's %d heartbeats", f2(singleNoHB.Runs[i]), f2(x.PerInv), x.Heartbeats))
	}
	if hb := rep.heartbeatCost(); hb > 0 && med.Heartbeats > 0 {
		m.p("The command ran long enough for %d heartbeats of its nodes to fall in the median run's window. Each", med.Heartbeats)
		m.p("costs about %s requests (the agent's send plus the functions' %s a heartbeat, measured in the idle", f1(hb), f1(hb-1))
		m.p("window of measurement 5); they are taken out below, and the raw counts stay in the table.")
		m.p("")
	}
	m.p("**Requests per invocation: %s** without heartbeats (runs: %s; %s with them) — target ≤ 6: %s. A one-node command costs %s per invocation", f2(noHB.Median), spread(noHB, f2), f2(r.PerInv.Median), yesNo(noHB.Median <= targetRequests), f2(singleNoHB.Median))
	m.p("without heartbeats (runs: %s): fleet commands amortise SendCommand, target resolution and the command's bookkeeping.", strings.Join(single, "; "))
	m.p("")
	var rows [][]string
	for _, o := range med.Ops {
		who := "functions"
		if agentOp(o) {
			who = "agents"
		}
		rows = append(rows, []string{opName(o), who, fmt.Sprint(o.Count), f2(float64(o.Count) / float64(med.Nodes)), f1(o.TotalMS / float64(max(o.Count, 1)))})
	}
	failed := 0
	for _, o := range med.Ops {
		failed += o.Errors
	}
	rows = append(rows, []string{"**total**", "", fmt.Sprint(med.Total), "**" + f2(med.PerInv) + "**", ""})
	m.table([]string{"operation (median run)", "by", "requests", "per invocation", "mean ms on moto (receives include the long-poll wait)"}, rows)
	if failed > 0 {
		m.p("%d of these requests failed (the emulator answers some concurrent transactions with HTTP 500, see the notes); the", failed)
		m.p("failed messages come back after the queue's visibility timeout and are counted again.")
		m.p("")
	}
	m.p("Empty long polls in the window (excluded above): %s. An idle node costs long polls and heartbeats", countList(med.EmptyPolls, "queue"))
	m.p("whatever it runs; see the idle cost below.")
	m.p("")
	m.p("**DynamoDB write units per invocation: %s** (runs: %s); read units %s. moto's ConsumedCapacity is a", f2(r.WCUPerInv.Median), spread(r.WCUPerInv, f2), f2(r.RCUPerInv.Median))
	m.p("constant per call, not size-based, so units are computed from DynamoDB's published rules: each written")
	m.p("item is read back after the run and costs one unit per started KB (the item as it ended, which for our")
	m.p("growing items is the larger of before and after), twice that inside TransactWriteItems (condition checks")
	m.p("included); reads are priced from the items returned, one unit per 4 KB strongly consistent, half")
	m.p("eventually consistent. Write units in the median run by kind and table:")
	m.p("")
	var wrows [][]string
	for _, k := range slices.Sorted(mapKeys(med.WriteByKind)) {
		w := med.WriteByKind[k]
		wrows = append(wrows, []string{k, fmt.Sprint(w.Items), f0(w.MeanBytes), f1(w.Units), f2(w.Units / float64(med.Nodes))})
	}
	m.table([]string{"write", "items written", "mean item bytes", "write units", "per invocation"}, wrows)
	c := r.Cost
	m.p("### Cost of one million invocations a month")
	m.p("")
	m.p("us-east-1 list prices, %s — stated from memory of the public price pages, not fetched: SQS $0.40", c.PricesDate)
	m.p("per million requests (standard; FIFO $0.50; each 64 KB chunk is a request), DynamoDB on-demand $0.625 per")
	m.p("million write units and $0.125 per million read units (after the November 2024 cut), Lambda $0.20 per")
	m.p("million requests plus $0.0000133334 per GB-s (arm64), API Gateway HTTP API $1.00 per million, SNS $0.50")
	m.p("per million publishes, S3 $0.005 per 1,000 PUTs and $0.0004 per 1,000 GETs.")
	m.p("")
	var crow [][]string
	for _, l := range c.Lines {
		if l.PerInvocation == 0 {
			continue
		}
		crow = append(crow, []string{l.Item, fmt.Sprintf("%.4g %s", l.PerInvocation, l.Unit), fmt.Sprintf("$%.4g", l.UnitPriceUSD*1e6) + " /M", "$" + f2(l.PerMillionUSD)})
	}
	crow = append(crow, []string{"**total**", "", "", "**$" + f2(c.PerMillionUSD) + "**"})
	m.table([]string{"item", "per invocation", "price", "per million invocations"}, crow)
	m.p("Assumptions: %s.", strings.Join(c.Assumptions, "; "))
	if hb := rep.heartbeatCost(); hb > 0 && med.Heartbeats > 0 {
		m.p("")
		m.p("These counts still include the %d heartbeats of the window (about %s requests, %s per invocation:", med.Heartbeats, f0(hb*float64(med.Heartbeats)), f2(hb*float64(med.Heartbeats)/float64(med.Nodes)))
		m.p("the agents' heartbeat sends, ingest's deletes and its `UpdateItem (instances)` pings), so the SQS and")
		m.p("instance-write lines overstate a command's own cost; a heartbeat's own cost is in the idle line below.")
	}
	m.p("")
	if ic := rep.Idle; ic != nil {
		per := "averaged over the window"
		if ic.Heartbeats > 0 {
			per = fmt.Sprintf("%d heartbeat(s) handled in it, scaled to one a minute", ic.Heartbeats)
		}
		m.p("**An idle node** (measured on the service side while the real agent process of measurement 5 idled")
		m.p("for %s min, %s; node side from the agent's constants: three 20 s long polls and one heartbeat a minute): the", f1(ic.WindowMinutes), per)
		m.p("agent makes %s requests a minute, the functions %s for its heartbeats (%s write units), about", f1(ic.AgentRequestsPerMin), f1(ic.ServiceRequestsPerMin), f2(ic.WriteUnitsPerMin))
		m.p("**$%s per node per month**. The function pollers' own empty polls (%s in the window) are a fixed", fmt.Sprintf("%.3f", ic.USDPerNodeMonth), countList(ic.PollerEmptyPolls, "queue"))
		m.p("cost per deployment, as Lambda's event source mappings poll too.")
		m.p("")
	}
}

func (rep *Report) overheadSection(m *md) {
	if len(rep.Overhead) == 0 {
		return
	}
	m.p("## 4. Our own overhead, without the emulator")
	m.p("")
	m.p("The real api, dispatch and ingest services and their Lambda handlers (JSON decode and encode, signature")
	m.p("verification included), one")
	m.p("goroutine, over in-memory ports (bench/internal/memstore): a synthetic fleet that makes nodes up page by")
	replies := "InProgress + Success" // runs before 2026-11-27 recorded no reply count
	if len(rep.Overhead) > 0 && len(rep.Overhead[0].Runs) > 0 && rep.Overhead[0].Runs[0].Replies > 0 {
		if r := rep.Overhead[0].Runs[0]; r.Replies == r.Targets {
			replies = "one Success reply each, as runcmd-agent sends for a document that ends within its 1 s ProgressDelay"
		}
	}
	m.p("page (tag target resolved 100 at a time), a command store keeping 10 bytes per invocation, agents that")
	m.p("answer every node message at once (%s; handed to ingest in batches of 10), and a FIFO", replies)
	m.p("dispatch queue. `MaxConcurrency` 100%%, so slow start doubles the window up to the whole fleet. *Services*")
	m.p("rate leaves out the simulated agents' reply encoding. Heap: *peak heap* is the most heap in use at any 2 ms")
	m.p("sample (live plus uncollected garbage); *working set* is the largest live heap after a GC cycle, minus the")
	m.p("live heap before the run, minus the store's own bytes.")
	m.p("")
	m.p("*Signed replies* is the production path: every simulated node signs its replies with ed25519 as the agent")
	m.p("does (the signing is the agents' cost and is left out of the *services* rate) and ingest verifies each")
	m.p("one, keeping nodes' keys in its cache (service.NodeKeys). *Unsigned replies* runs ingest in its local-only")
	m.p("`InsecureAcceptUnsigned` mode, to show the rest of the services without verification, up to a million.")
	m.p("")
	var rows [][]string
	for _, o := range append(slices.Clone(rep.Overhead), derefs(rep.OverheadFake)...) {
		rows = append(rows, []string{thousands(float64(o.Targets)), o.Store, fmt.Sprint(len(o.Runs)), spread(o.Rate, thousands), spread(o.ServicesRate, thousands),
			spread(o.PeakHeapMB, f1), spread(o.WorkingSetMB, f1), spread(o.StoreMB, f1)})
	}
	m.table([]string{"targets", "store", "runs", "invocations/s", "services only /s", "peak heap MB", "working set MB", "store MB"}, rows)
	growth := map[string][]OverheadSize{}
	var modes []string
	for _, o := range rep.Overhead {
		if _, ok := growth[o.Store]; !ok {
			modes = append(modes, o.Store)
		}
		growth[o.Store] = append(growth[o.Store], o)
	}
	for _, mode := range modes {
		g := growth[mode]
		if len(g) < 2 {
			continue
		}
		first, last := g[0], g[len(g)-1]
		m.p("- %s: working set %s MB at %s targets, %s MB at %s (×%s for ×%s targets); store %s → %s MB.", mode,
			f1(first.WorkingSetMB.Median), thousands(float64(first.Targets)), f1(last.WorkingSetMB.Median), thousands(float64(last.Targets)),
			f1(last.WorkingSetMB.Median/max(first.WorkingSetMB.Median, 0.1)), f0(float64(last.Targets)/float64(first.Targets)),
			f1(first.StoreMB.Median), f1(last.StoreMB.Median))
	}
	m.p("")
	m.p("Per-node state the services keep: ingest's key cache (service.NodeKeys) holds the keys of the signers")
	m.p("seen within its one-minute TTL, at most 10,000 of them (least recently used first out, about 160 bytes")
	m.p("each), so on the signed path the working set stops growing at that many replying nodes; the unsigned")
	m.p("path has no such cache. Signature verification (ed25519, about 50 µs a reply on the reference machine)")
	m.p("is most of the signed path's time: compare the signed and unsigned rows at 100,000.")
	m.p("")
	if len(rep.Overhead) > 0 && len(rep.Overhead[0].Runs) > 0 {
		r := rep.Overhead[0].Runs[0]
		m.p("Dispatch messages handled for %s targets: %s, about N/%s for N nodes (ingest wakes dispatch at most once", thousands(float64(r.Targets)), thousands(float64(r.Pumps)), f0(float64(r.Targets)/float64(max(r.Pumps, 1))))
		m.p("per batch of replies; each pump reads the command).")
		m.p("")
	}
	if rep.OverheadFake != nil {
		m.p("internal/fake, for contrast: it keeps every invocation whole and scans and sorts a command's")
		m.p("invocations on every `PendingInvocations` page and every node on every `FindByTag` page, so a run is")
		m.p("quadratic in the fleet. That is fine for tests and is why this measurement uses its own store.")
		m.p("")
	}
}

// heartbeatCost is the AWS requests one heartbeat costs: the agent's SendMessage plus what the
// functions did for each heartbeat while measurement 5's single agent idled (one a minute). 0 when
// that was not measured.
func (rep *Report) heartbeatCost() float64 {
	if rep.Idle == nil || rep.Idle.WindowMinutes == 0 {
		return 0
	}
	return 1 + rep.Idle.ServiceRequestsPerMin
}

// perInvNoHeartbeats is measurement 3's requests per invocation of the fleet command with its
// nodes' heartbeats taken out.
func (rep *Report) perInvNoHeartbeats() Spread {
	return rep.noHeartbeats(rep.Requests.Fleet)
}

// noHeartbeats is requests per invocation of runs with the heartbeats in their windows taken out.
// Agents started together heartbeat together, so a short one-node run can catch dozens of them.
func (rep *Report) noHeartbeats(runs []RequestsRun) Spread {
	hb := rep.heartbeatCost()
	var v []float64
	for _, r := range runs {
		v = append(v, (float64(r.Total)-float64(r.Heartbeats)*hb)/float64(r.Nodes))
	}
	return NewSpread(v)
}

func derefs(o *OverheadSize) []OverheadSize {
	if o == nil {
		return nil
	}
	return []OverheadSize{*o}
}

func (rep *Report) footprintSection(m *md) {
	fp := rep.Footprint
	if fp == nil {
		return
	}
	m.p("## 5. Agent footprint")
	m.p("")
	m.p("`runcmd-agent` built as `make build` builds it (%s), started as a real process against the emulator;", fp.BuildFlags)
	m.p("it registers with an activation (`runcmd-agent register`), then heartbeats every minute and long-polls its")
	m.p("own queue (20 s). One idle minute from the moment it is listed Online gives both idle numbers (an idle")
	m.p("agent does the same every minute: three long polls, one heartbeat). RSS from /proc/<pid>/status (VmRSS),")
	m.p("CPU from /proc/<pid>/stat (utime+stime, resolution %s).", fp.CPUResolution)
	m.p("")
	m.table([]string{"", "runcmd-agent"}, [][]string{
		{"binary size", mb(fp.BinaryBytes)},
		{fmt.Sprintf("idle RSS after %s s online, long-polling", f0(fp.IdleSeconds)), mb(fp.IdleRSS)},
		{"CPU until online (start-up, first heartbeat)", f2(fp.StartCPU) + " s"},
		{"CPU per idle minute (the same minute)", f2(fp.IdleCPUPerMin) + " s"},
		{"peak RSS running 5 documents at once (`sleep 5` ×5)", mb(fp.BusyPeakRSS)},
		{"same, with the documents' shells and sleeps", mb(fp.BusyPeakRSSChildren)},
		{"5 × `sleep 5`: first send → last result", fmt.Sprintf("%s s (%d of 5 succeeded)", f1(fp.BusyWallSeconds), fp.BusySucceeded)},
	})
	m.p("amazon-ssm-agent: we found no published figures from AWS for its memory or CPU use (searched the")
	m.p("amazon-ssm-agent issues and documentation pages), so there is nothing to put beside these. Its issues")
	m.p("show only incidents, e.g. an agent at 6 GB RSS triggering the OOM killer")
	m.p("(https://github.com/aws/amazon-ssm-agent/issues/204) and t3.nano instances running out of memory during a")
	m.p("patch scan (https://github.com/aws/amazon-ssm-agent/issues/615); its snap package is listed at 26 MB")
	m.p("(https://github.com/aws/amazon-ssm-agent/issues/353). None of these is a like-for-like measurement.")
	m.p("")
}

func (rep *Report) apiSection(m *md) {
	if len(rep.API) == 0 {
		return
	}
	m.p("## 6. API throughput")
	m.p("")
	m.p("A closed loop of %d clients (a small Go driver: each sends its next SigV4-signed request when the last", rep.API[0].Clients)
	m.p("is answered) against the api as `runcmd dev` serves it, on the emulator and, to show the api's own cost,")
	m.p("over the in-memory fakes. %s s warm-up, then %d windows of %s s; medians and range over the windows.", f1(rep.API[0].WarmUp), len(rep.API[0].Windows), f1(rep.API[0].Window))
	m.p("On the emulator the api runs on the first fleet size's system, after its runs: GetCommandInvocation")
	m.p("reads one finished invocation of the last fleet command, ListCommandInvocations lists that command")
	m.p("(%d nodes). In memory, the command has 50 nodes.", firstFleet(rep))
	m.p("")
	var rows [][]string
	for _, a := range rep.API {
		errs := 0
		for _, w := range a.Windows {
			errs += w.Errors
		}
		rows = append(rows, []string{a.Operation, a.Backend, spread(a.RPS, f0), spread(a.P99, f1), fmt.Sprint(errs)})
	}
	m.table([]string{"operation", "backend", "requests/s", "p99 ms", "errors"}, rows)
}

func (rep *Report) documentsSection(m *md) {
	d := rep.Documents
	if d == nil {
		return
	}
	m.p("## Documents benchmark")
	m.p("")
	m.p("`%s` (parse, validate and render a 20-step document):", d.Command)
	m.p("")
	m.table([]string{"benchmark", "ns/op", "B/op", "allocs/op"}, [][]string{{d.Name, spread(d.NsPerOp, thousands), spread(d.BytesPerOp, thousands), spread(d.AllocsPerOp, f0)}})
}

func firstFleet(rep *Report) int {
	if len(rep.Fleet) > 0 {
		return rep.Fleet[0].Nodes
	}
	return 0
}

// emulatorLine describes the emulators of the run for the header.
func (rep *Report) emulatorLine() string {
	mc := rep.Machine
	if len(rep.Emulators) == 0 {
		return fmt.Sprintf("%s (moto_server pid %d, RSS %s at start)", mc.Emulator, mc.EmulatorPID, mb(mc.EmulatorRSS))
	}
	var parts []string
	fresh := 0
	for _, e := range rep.Emulators {
		if e.Fresh {
			fresh++
		}
		parts = append(parts, fmt.Sprintf("%s: RSS %s → %s, CPU %s s", e.For, mb(e.RSSStart), mb(e.RSSEnd), f0(e.CPU)))
	}
	how := "the shared moto_server at " + mc.Emulator
	patched := 0
	for _, e := range rep.Emulators {
		if e.Patched {
			patched++
		}
	}
	if fresh == len(rep.Emulators) {
		how = fmt.Sprintf("for each of %d groups of sections a fresh emulator of the bench's own: two moto_server processes (DynamoDB; SQS, SNS, S3) behind a routing proxy (bench/emulator.go)", fresh)
	} else if fresh > 0 {
		how = fmt.Sprintf("a fresh emulator of the bench's own (two moto_server processes behind a routing proxy) for %d of %d groups of sections, the shared one at %s for the others", fresh, len(rep.Emulators), mc.Emulator)
	}
	if patched > 0 {
		how += fmt.Sprintf(", %d of them with the bench's fix for moto's request routing (a list moto rebuilt from the file system under a global lock on every request, computed once)", patched)
	}
	return how + " (" + strings.Join(parts, "; ") + ")"
}

// timeSection is where the run's time went, against the budget's reserve for each part.
func (rep *Report) timeSection(m *md) {
	if len(rep.Sections) == 0 {
		return
	}
	m.p("## Where the run's time went")
	m.p("")
	m.p("Budget %.0f min. Each part always runs its minimum (a warm-up and %d timed runs of anything repeated);", rep.Machine.BudgetMinute, minRuns)
	m.p("a further run starts only if the longest run so far still fits with the minimums of the parts after it")
	m.p("held in reserve (*planned minimum*). Trimmed runs are listed in the notes.")
	m.p("")
	var rows [][]string
	total := 0.0
	for _, s := range rep.Sections {
		total += s.Seconds
		rows = append(rows, []string{s.Name, f0(s.Seconds), f0(s.PlannedMin), s.Note})
	}
	rows = append(rows, []string{"**sum of parts** (whole run: " + f0(rep.Seconds) + " s)", f0(total), "", ""})
	m.table([]string{"part", "s", "planned minimum s", ""}, rows)
}
