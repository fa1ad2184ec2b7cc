package bench

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/runcmd/runcmd"
	"github.com/runcmd/runcmd/bench/internal/memstore"
	"github.com/runcmd/runcmd/internal/fake"
	"github.com/runcmd/runcmd/internal/lambdafn"
	"github.com/runcmd/runcmd/internal/service"
	"github.com/runcmd/runcmd/internal/ssmapi"
)

// LoadWindow is one timed window of a closed-loop load.
type LoadWindow struct {
	Requests int     `json:"requests"`
	Errors   int     `json:"errors"`
	RPS      float64 `json:"requests_per_s"`
	P50      float64 `json:"p50_ms"`
	P99      float64 `json:"p99_ms"`
}

// LoadResult is one operation under a closed loop of clients against one backend.
type LoadResult struct {
	Operation string       `json:"operation"`
	Backend   string       `json:"backend"` // "emulator" or "in-memory"
	Clients   int          `json:"clients"`
	WarmUp    float64      `json:"warm_up_s"`
	Window    float64      `json:"window_s"`
	Windows   []LoadWindow `json:"windows"`
	RPS       Spread       `json:"requests_per_s"`
	P99       Spread       `json:"p99_ms"`
}

// RunLoad drives operation with body on endpoint from clients goroutines, each sending its next request
// when the last one is answered, signed as the SDK signs them: a warm-up, then windows timed windows.
func RunLoad(ctx context.Context, endpoint, backend, operation string, body []byte, clients int, warm, window time.Duration, windows int) (LoadResult, error) {
	r := LoadResult{Operation: operation, Backend: backend, Clients: clients, WarmUp: warm.Seconds(), Window: window.Seconds()}
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients, MaxConnsPerHost: clients}, Timeout: 30 * time.Second}
	defer hc.CloseIdleConnections()
	sum := sha256.Sum256(body)
	payloadHash := hex.EncodeToString(sum[:])
	region := os.Getenv("AWS_REGION")
	if region == "" {
		region = "us-east-1"
	}
	creds := aws.Credentials{AccessKeyID: "test", SecretAccessKey: "test"}
	signer := v4.NewSigner()

	type sample struct {
		phase int32
		ms    float64
		err   bool
	}
	var phase atomic.Int32 // 0 warm-up, 1..windows timed, windows+1 done
	results := make([][]sample, clients)
	var wg sync.WaitGroup
	for c := range clients {
		wg.Go(func() {
			for {
				p := phase.Load()
				if p > int32(windows) || ctx.Err() != nil {
					return
				}
				req, _ := http.NewRequestWithContext(ctx, http.MethodPost, endpoint+"/", bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/x-amz-json-1.1")
				req.Header.Set("X-Amz-Target", "AmazonSSM."+operation)
				t0 := time.Now()
				failed := signer.SignHTTP(ctx, creds, req, payloadHash, "ssm", region, t0) != nil
				if !failed {
					resp, err := hc.Do(req)
					if err != nil {
						failed = true
					} else {
						_, _ = io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
						failed = resp.StatusCode != http.StatusOK
					}
				}
				results[c] = append(results[c], sample{phase: p, ms: ms(time.Since(t0)), err: failed})
			}
		})
	}
	if err := sleepCtx(ctx, warm); err != nil {
		return r, err
	}
	starts := make([]time.Time, windows+2)
	for w := 1; w <= windows+1; w++ {
		starts[w] = time.Now()
		phase.Store(int32(w))
		if w <= windows {
			if err := sleepCtx(ctx, window); err != nil {
				return r, err
			}
		}
	}
	wg.Wait()
	var rps, p99 []float64
	for w := 1; w <= windows; w++ {
		var lat []float64
		errs := 0
		for _, rs := range results {
			for _, s := range rs {
				if s.phase != int32(w) {
					continue
				}
				if s.err {
					errs++
				} else {
					lat = append(lat, s.ms)
				}
			}
		}
		d := NewDist(lat)
		lw := LoadWindow{Requests: len(lat), Errors: errs, RPS: float64(len(lat)) / starts[w+1].Sub(starts[w]).Seconds(), P50: d.P50, P99: d.P99}
		r.Windows = append(r.Windows, lw)
		rps = append(rps, lw.RPS)
		p99 = append(p99, lw.P99)
	}
	r.RPS, r.P99 = NewSpread(rps), NewSpread(p99)
	return r, nil
}

// InMemoryAPI serves the SSM api over the in-memory fakes with one finished command on 50 nodes, so
// that the api's own cost can be told from the emulator's. It returns the endpoint, the command, one
// of its nodes, and a stop function.
func InMemoryAPI(ctx context.Context) (endpoint, commandID, instanceID string, stop func(), err error) {
	docs, err := service.NewBuiltins()
	if err != nil {
		return "", "", "", nil, err
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	cmds, insts := fake.NewCommandStore(), fake.NewInstanceStore()
	var ids []string
	for i := 1; i <= runcmd.MaxInstanceIDs; i++ {
		id := memstore.NodeID(i)
		ids = append(ids, id)
		if err := insts.RecordHeartbeat(ctx, runcmd.Heartbeat{InstanceID: id, ComputerName: "host", PlatformType: "Linux",
			PlatformName: "Debian GNU/Linux", PlatformVersion: "12", AgentVersion: "0.1.0", QueueURL: "mem://" + id, At: time.Now().UTC()}); err != nil {
			return "", "", "", nil, err
		}
	}
	dq, agents := &memstore.Dispatch{}, &memstore.Agents{}
	api := service.NewAPI(cmds, insts, dq, docs)
	disp := &service.Dispatcher{Commands: cmds, Instances: insts, Nodes: agents, Now: time.Now, Log: log}
	// The fake's nodes registered by unsigned heartbeats, so their replies go unsigned (local-only mode).
	ing := &service.Ingester{Commands: cmds, Instances: insts, Dispatch: dq, Now: time.Now, Log: log, InsecureAcceptUnsigned: true}
	agents.Ingest = lambdafn.SQSHandler(lambdafn.Ingest(ing), false, log)
	cmd, err := api.SendCommand(ctx, service.SendCommandInput{DocumentName: "AWS-RunShellScript", InstanceIDs: ids,
		Parameters: map[string][]string{"commands": {"true"}}, MaxConcurrency: "100%"})
	if err != nil {
		return "", "", "", nil, err
	}
	if _, err := drive(ctx, dq, agents, lambdafn.SQSHandler(lambdafn.Dispatch(disp), true, log)); err != nil {
		return "", "", "", nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", "", "", nil, err
	}
	srv := &http.Server{Handler: ssmapi.NewHandler(api, log), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return "http://" + ln.Addr().String(), cmd.CommandID, ids[0], func() { _ = srv.Close() }, nil
}

// dispatchHandler is the dispatch function's SQS handler.
type dispatchHandler = func(context.Context, events.SQSEvent) (events.SQSEventResponse, error)

// drive hands dispatch messages to the dispatch handler, ten at a time (a Lambda batch), and the
// simulated agents' replies to ingest, until nothing is left. It returns how many dispatch messages
// were handled.
func drive(ctx context.Context, dq *memstore.Dispatch, agents *memstore.Agents, handle dispatchHandler) (int, error) {
	n := 0
	for {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		ev := dq.Take(10)
		if len(ev.Records) == 0 {
			if agents.Pending() == 0 {
				return n, nil
			}
			if err := agents.Flush(ctx); err != nil {
				return n, err
			}
			continue
		}
		n += len(ev.Records)
		resp, err := handle(ctx, ev)
		if err != nil {
			return n, err
		}
		if len(resp.BatchItemFailures) > 0 {
			return n, fmt.Errorf("dispatch: %d failed messages", len(resp.BatchItemFailures))
		}
	}
}

// loadBody encodes an SSM request.
func loadBody(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}
