package bench

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"runtime/metrics"
	"sync"
	"time"

	"github.com/runcmd/runcmd"
	"github.com/runcmd/runcmd/bench/internal/memstore"
	"github.com/runcmd/runcmd/internal/fake"
	"github.com/runcmd/runcmd/internal/lambdafn"
	"github.com/runcmd/runcmd/internal/service"
)

// OverheadRun is one command to a synthetic fleet through the real api, dispatch and ingest services
// and their Lambda handlers (JSON in and out), with in-memory ports and agents that answer at once.
type OverheadRun struct {
	Targets   int     `json:"targets"`
	Seconds   float64 `json:"seconds"`
	PerSecond float64 `json:"invocations_per_s"`
	// ServicesPerSecond leaves out the simulated agents' reply encoding.
	ServicesPerSecond float64 `json:"services_invocations_per_s"`
	// PeakHeap is the most heap in use at any sample (live objects plus garbage not yet collected).
	PeakHeap int64 `json:"peak_heap_bytes"`
	// PeakLive is the largest live heap measured after a GC cycle, minus the baseline before the run.
	PeakLive int64 `json:"peak_live_heap_bytes"`
	// Store is what the store holds for invocations at the end (10 bytes each in memstore); the
	// services' working set is PeakLive minus Store.
	Store      int64  `json:"store_bytes"`
	WorkingSet int64  `json:"services_working_set_bytes"`
	Pumps      int    `json:"dispatch_messages"`
	Replies    int    `json:"replies"` // what the simulated agents sent ingest
	GCs        uint64 `json:"gc_cycles"`
	Status     string `json:"status"`
}

// OverheadSize is the repeated runs at one fleet size.
type OverheadSize struct {
	Targets      int           `json:"targets"`
	Store        string        `json:"store"`
	Runs         []OverheadRun `json:"runs"`
	Rate         Spread        `json:"invocations_per_s"`
	ServicesRate Spread        `json:"services_invocations_per_s"`
	PeakHeapMB   Spread        `json:"peak_heap_mb"`
	WorkingSetMB Spread        `json:"services_working_set_mb"`
	StoreMB      Spread        `json:"store_mb"`
}

func (o *OverheadSize) summarise() {
	var rate, srate, heap, ws, store []float64
	for _, r := range o.Runs {
		rate = append(rate, r.PerSecond)
		srate = append(srate, r.ServicesPerSecond)
		heap = append(heap, float64(r.PeakHeap)/1e6)
		ws = append(ws, float64(r.WorkingSet)/1e6)
		store = append(store, float64(r.Store)/1e6)
	}
	o.Rate, o.ServicesRate, o.PeakHeapMB, o.WorkingSetMB, o.StoreMB = NewSpread(rate), NewSpread(srate), NewSpread(heap), NewSpread(ws), NewSpread(store)
}

// ports are the stores one overhead run uses.
type ports struct {
	commands  runcmd.CommandStore
	instances runcmd.InstanceStore
	storeSize func() int64
	key       ed25519.PrivateKey // nil: unsigned replies, accepted in ingest's local-only mode
}

// memPorts is the compact store and the synthetic fleet; with signed, its nodes sign their replies
// (the production path), else they send them unsigned and ingest runs in its local-only mode.
func memPorts(signed bool) func(context.Context, int) (ports, error) {
	return func(ctx context.Context, n int) (ports, error) {
		pub, key, err := ed25519.GenerateKey(nil)
		if err != nil {
			return ports{}, err
		}
		if !signed {
			key = nil
		}
		c := memstore.NewCommands()
		return ports{commands: c, instances: memstore.NewFleet(n, "Fleet", "bench", pub), storeSize: c.Bytes, key: key}, nil
	}
}

// fakePorts is internal/fake with n nodes registered by unsigned heartbeats (so their replies go
// unsigned too); its size is not known.
func fakePorts(ctx context.Context, n int) (ports, error) {
	insts := fake.NewInstanceStore()
	for i := 1; i <= n; i++ {
		id := memstore.NodeID(i)
		err := insts.RecordHeartbeat(ctx, runcmd.Heartbeat{InstanceID: id, ComputerName: "h", PlatformType: "Linux",
			PlatformName: "Debian GNU/Linux", PlatformVersion: "12", AgentVersion: "0.1.0", QueueURL: "mem://" + id,
			Tags: map[string]string{"Fleet": "bench"}, At: time.Now().UTC()})
		if err != nil {
			return ports{}, err
		}
	}
	return ports{commands: fake.NewCommandStore(), instances: insts, storeSize: func() int64 { return 0 }}, nil
}

// heapSampler records the peak of the heap while a run goes on.
type heapSampler struct {
	stop     chan struct{}
	done     sync.WaitGroup
	peakHeap uint64
	peakLive uint64
}

func startHeapSampler() *heapSampler {
	h := &heapSampler{stop: make(chan struct{})}
	samples := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/gc/heap/live:bytes"}}
	h.done.Go(func() {
		t := time.NewTicker(2 * time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(samples)
			h.peakHeap = max(h.peakHeap, samples[0].Value.Uint64())
			h.peakLive = max(h.peakLive, samples[1].Value.Uint64())
			select {
			case <-h.stop:
				return
			case <-t.C:
			}
		}
	})
	return h
}

func (h *heapSampler) finish() {
	close(h.stop)
	h.done.Wait()
}

func readMetric(name string) uint64 {
	s := []metrics.Sample{{Name: name}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// RunOverhead sends one command to a fleet of n through the services and runs it to the end.
func RunOverhead(ctx context.Context, n int, mk func(context.Context, int) (ports, error)) (OverheadRun, error) {
	r := OverheadRun{Targets: n}
	p, err := mk(ctx, n)
	if err != nil {
		return r, err
	}
	docs, err := service.NewBuiltins()
	if err != nil {
		return r, err
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	dq := &memstore.Dispatch{}
	agents := &memstore.Agents{Key: p.key}
	api := service.NewAPI(p.commands, p.instances, dq, docs)
	disp := &service.Dispatcher{Commands: p.commands, Instances: p.instances, Nodes: agents, Now: time.Now, Log: log}
	ing := &service.Ingester{Commands: p.commands, Instances: p.instances, Dispatch: dq, Now: time.Now, Log: log,
		Keys: service.NewNodeKeys(p.instances), InsecureAcceptUnsigned: p.key == nil}
	agents.Ingest = lambdafn.SQSHandler(lambdafn.Ingest(ing), false, log)
	handle := lambdafn.SQSHandler(lambdafn.Dispatch(disp), true, log)

	runtime.GC()
	baseLive := readMetric("/gc/heap/live:bytes")
	gc0 := readMetric("/gc/cycles/total:gc-cycles")
	heap := startHeapSampler()
	t0 := time.Now()
	cmd, err := api.SendCommand(ctx, service.SendCommandInput{
		DocumentName:   "AWS-RunShellScript",
		Targets:        []runcmd.Target{{Key: "tag:Fleet", Values: []string{"bench"}}},
		Parameters:     map[string][]string{"commands": {"true"}},
		MaxConcurrency: "100%", MaxErrors: "0",
	})
	if err != nil {
		heap.finish()
		return r, fmt.Errorf("send: %w", err)
	}
	pumps, err := drive(ctx, dq, agents, handle)
	r.Pumps, r.Replies = pumps, agents.Replies()
	if err != nil {
		heap.finish()
		return r, err
	}
	took := time.Since(t0)
	heap.finish()
	r.Store = p.storeSize()
	r.GCs = readMetric("/gc/cycles/total:gc-cycles") - gc0
	r.Seconds = took.Seconds()
	r.PerSecond = float64(n) / took.Seconds()
	r.ServicesPerSecond = float64(n) / (took - agents.Encoding).Seconds()
	r.PeakHeap = int64(heap.peakHeap)
	r.PeakLive = max(int64(heap.peakLive)-int64(baseLive), 0)
	r.WorkingSet = r.PeakLive - r.Store
	got, err := p.commands.GetCommand(ctx, cmd.CommandID)
	if err != nil {
		return r, err
	}
	r.Status = string(got.Detail)
	if got.Detail != runcmd.CommandDetailSuccess || got.Counts[runcmd.DetailSuccess] != n || agents.Failures > 0 {
		return r, fmt.Errorf("command to %d ended %s with %d successes, %d failed replies", n, got.Detail, got.Counts[runcmd.DetailSuccess], agents.Failures)
	}
	return r, nil
}
