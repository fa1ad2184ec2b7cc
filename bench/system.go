package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/runcmd/runcmd/agent/node"
	"github.com/runcmd/runcmd/internal/config"
	"github.com/runcmd/runcmd/internal/provision"
	"github.com/runcmd/runcmd/internal/stack"
)

// System is runcmd on the emulator, as `runcmd dev` and `runcmd fleet` run it: resources provisioned
// under a unique prefix, the four functions hosted by stack.RunDev, in-process agents, and
// aws-sdk-go-v2's own ssm client pointed at the api. Every AWS client of the functions and agents
// reports to Counter.
type System struct {
	Prefix   string
	Res      config.Resources
	Endpoint string // the api
	SSM      *ssm.Client
	Counter  *Counter
	Emulator *Emulator

	base    aws.Config // without the counter: the bench's own reads
	counted aws.Config
	ddb     *dynamodb.Client // uncounted, for reading items back
	log     *slog.Logger
	stop    context.CancelFunc
	done    chan struct{}
	tmp     string

	// Retries counts registrations that failed and were tried again; Log keeps the dev host's last
	// warnings and errors (its log is otherwise discarded) to explain them.
	Retries atomic.Int64
	Log     *TailLog

	mu     sync.Mutex
	fleets []*Fleet
	// stopEmulator records the emulator's use and stops it if the bench started it (runner.system).
	stopEmulator func()
	closed       bool
}

// TailLog keeps the last lines written to it.
type TailLog struct {
	mu    sync.Mutex
	lines []string
}

func (t *TailLog) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for line := range strings.SplitSeq(strings.TrimRight(string(p), "\n"), "\n") {
		t.lines = append(t.lines, line)
	}
	if len(t.lines) > 20 {
		t.lines = t.lines[len(t.lines)-20:]
	}
	return len(p), nil
}

// Lines returns the kept lines, oldest first.
func (t *TailLog) Lines() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return slices.Clone(t.lines)
}

// StartSystem provisions and starts the functions on emu. The caller must Close it (which leaves
// the emulator running).
func StartSystem(ctx context.Context, tmp string, emu *Emulator) (*System, error) {
	base, err := stack.LoadAWS(ctx)
	if err != nil {
		return nil, err
	}
	base.BaseEndpoint = aws.String(emu.Endpoint)
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	prefix := "bench-" + hex.EncodeToString(b)
	res := config.Names(prefix)
	if _, err := provision.Run(ctx, base, res); err != nil {
		return nil, fmt.Errorf("provision %s: %w", prefix, err)
	}
	counter := NewCounter(res)
	tail := &TailLog{}
	s := &System{Emulator: emu, Log: tail, Prefix: prefix, Res: res, Counter: counter, base: base, counted: counter.Install(base), ddb: dynamodb.NewFromConfig(base),
		log: slog.New(slog.NewTextHandler(tail, &slog.HandlerOptions{Level: slog.LevelWarn})), done: make(chan struct{}), tmp: tmp}
	st, err := stack.New(ctx, s.counted, res, s.log)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	runCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	s.stop = stop
	go func() {
		defer close(s.done)
		if err := st.RunDev(runCtx, stack.DevOptions{Listener: ln, SweepInterval: 30 * time.Second, Pollers: 2}, s.log); err != nil {
			fmt.Fprintf(os.Stderr, "bench: dev host: %v\n", err)
		}
	}()
	s.Endpoint = "http://" + ln.Addr().String()
	s.SSM = ssm.NewFromConfig(base, func(o *ssm.Options) { o.BaseEndpoint = aws.String(s.Endpoint) })
	return s, nil
}

// Close stops every fleet and the functions.
func (s *System) Close() {
	s.mu.Lock()
	fleets := s.fleets
	s.fleets = nil
	s.mu.Unlock()
	for _, f := range fleets {
		f.Stop()
	}
	s.stop()
	<-s.done
}

// Fleet is a set of in-process agents, as `runcmd fleet` runs them.
type Fleet struct {
	IDs  []string
	stop context.CancelFunc
	wg   sync.WaitGroup
}

// Stop ends the fleet's agents and waits for them.
func (f *Fleet) Stop() {
	f.stop()
	f.wg.Wait()
}

// Activate creates an activation for n nodes whose registrations get tags, as an operator does
// before installing agents.
func (s *System) Activate(ctx context.Context, n int, tags map[string]string) (id, code string, err error) {
	var tt []ssmtypes.Tag
	for k, v := range tags {
		tt = append(tt, ssmtypes.Tag{Key: aws.String(k), Value: aws.String(v)})
	}
	out, err := s.SSM.CreateActivation(ctx, &ssm.CreateActivationInput{
		IamRole: aws.String("runcmd-bench-node"), RegistrationLimit: aws.Int32(int32(n)), Tags: tt,
		Description: aws.String("runcmd bench"),
	})
	if err != nil {
		return "", "", fmt.Errorf("create activation: %w", err)
	}
	return aws.ToString(out.ActivationId), aws.ToString(out.ActivationCode), nil
}

// Registration of a fleet: how many agents register at once, and how often one is tried. Concurrent
// registrations fail now and then with an internal error (see the report's notes), hence the retries.
const (
	registerConcurrency = 4
	registerAttempts    = 8
)

// StartFleet registers n agents with one activation carrying tags (as `runcmd-agent register` does),
// starts them eight at a time, and waits until the api lists every one of them Online. The
// activation allows more registrations than n: a registration that fails after claiming its slot
// keeps the slot, so retries need headroom.
func (s *System) StartFleet(ctx context.Context, n int, tags map[string]string) (*Fleet, error) {
	actID, actCode, err := s.Activate(ctx, min(2*n+10, 1000), tags)
	if err != nil {
		return nil, err
	}
	runCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	f := &Fleet{stop: stop, IDs: make([]string, n)}
	root, err := os.MkdirTemp(s.tmp, "fleet-")
	if err != nil {
		stop()
		return nil, err
	}
	sem := make(chan struct{}, registerConcurrency)
	errs := make([]error, n)
	var starting sync.WaitGroup
	for i := range n {
		starting.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			dir := filepath.Join(root, fmt.Sprint(i))
			for attempt := 1; ; attempt++ {
				_, err := node.Register(ctx, node.RegisterOptions{StateDir: dir, Endpoint: s.Endpoint, Region: s.base.Region,
					ActivationCode: actCode, ActivationID: actID})
				if err == nil {
					break
				}
				if attempt == registerAttempts {
					errs[i] = err
					return
				}
				s.Retries.Add(1)
				jitter := time.Duration(mrand.Int64N(int64(200 * time.Millisecond)))
				if err := sleepCtx(ctx, time.Duration(attempt)*200*time.Millisecond+jitter); err != nil {
					errs[i] = err
					return
				}
			}
			a, err := node.NewAWS(ctx, s.counted, node.Config{StateDir: dir, Logger: s.log, Grace: time.Second, Endpoint: s.Endpoint},
				node.NamesFrom(s.Res))
			if err != nil {
				errs[i] = err
				return
			}
			f.IDs[i] = a.InstanceID()
			f.wg.Go(func() { _ = a.Run(runCtx) })
		})
	}
	starting.Wait()
	s.mu.Lock()
	s.fleets = append(s.fleets, f)
	s.mu.Unlock()
	for _, err := range errs {
		if err != nil {
			return f, fmt.Errorf("start agent: %w", err)
		}
	}
	return f, s.WaitOnline(ctx, f.IDs, 90*time.Second)
}

// WaitOnline waits until every id is listed Online.
func (s *System) WaitOnline(ctx context.Context, ids []string, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		online := 0
		for chunk := range chunks(ids, 50) {
			out, err := s.SSM.DescribeInstanceInformation(ctx, &ssm.DescribeInstanceInformationInput{
				Filters:    []ssmtypes.InstanceInformationStringFilter{{Key: aws.String("InstanceIds"), Values: chunk}},
				MaxResults: aws.Int32(50),
			})
			if err != nil {
				return fmt.Errorf("describe instances: %w", err)
			}
			for _, i := range out.InstanceInformationList {
				if i.PingStatus == ssmtypes.PingStatusOnline {
					online++
				}
			}
		}
		if online == len(ids) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d of %d agents online after %s", online, len(ids), limit)
		}
		if err := sleepCtx(ctx, 200*time.Millisecond); err != nil {
			return err
		}
	}
}

// WaitCommand polls ListCommands every interval until the command's TargetCount is want and every
// invocation has ended, and returns the time that was first seen, then waits for the command's own
// final status (dispatch sets it just after).
func (s *System) WaitCommand(ctx context.Context, id string, want int, interval, limit time.Duration) (allDone time.Time, cmd ssmtypes.Command, polls int, err error) {
	deadline := time.Now().Add(limit)
	for {
		out, err := s.SSM.ListCommands(ctx, &ssm.ListCommandsInput{CommandId: aws.String(id)})
		polls++
		if err != nil {
			return allDone, cmd, polls, fmt.Errorf("list command %s: %w", id, err)
		}
		if len(out.Commands) == 1 {
			cmd = out.Commands[0]
			if allDone.IsZero() && cmd.TargetCount == int32(want) && cmd.CompletedCount == int32(want) {
				allDone = time.Now()
			}
			if !allDone.IsZero() && terminalCommand(cmd.Status) {
				return allDone, cmd, polls, nil
			}
		}
		if time.Now().After(deadline) {
			return allDone, cmd, polls, fmt.Errorf("command %s: %s, %d of %d done after %s", id, cmd.Status, cmd.CompletedCount, want, limit)
		}
		if err := sleepCtx(ctx, interval); err != nil {
			return allDone, cmd, polls, err
		}
	}
}

func terminalCommand(s ssmtypes.CommandStatus) bool {
	switch s {
	case ssmtypes.CommandStatusPending, ssmtypes.CommandStatusInProgress, ssmtypes.CommandStatusCancelling:
		return false
	}
	return true
}

// Prune deletes every invocation from the table, with the bench's own uncounted clients, so that
// the next run starts from a table as small as the first run's. The emulator needs it: moto's
// transactions copy whole tables (see Emulator), so without pruning each run of a size is slower
// than the one before, for moto's sake only. Commands stay (one item a run): a late message about
// one finds it finished. It first waits (up to 10 s) for the dispatch and results queues to empty,
// so that no message of the last run is still being handled. It returns how many items it deleted.
func (s *System) Prune(ctx context.Context) (int, error) {
	if err := s.waitQuiet(ctx, 10*time.Second); err != nil {
		return 0, err
	}
	n := 0
	for _, table := range []string{s.Res.InvocationsTable} {
		d, err := s.ddb.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)})
		if err != nil {
			return n, fmt.Errorf("prune %s: %w", table, err)
		}
		names := map[string]string{}
		var proj []string
		for i, k := range d.Table.KeySchema {
			ref := fmt.Sprintf("#k%d", i)
			names[ref] = aws.ToString(k.AttributeName)
			proj = append(proj, ref)
		}
		var deletes []ddbtypes.WriteRequest
		p := dynamodb.NewScanPaginator(s.ddb, &dynamodb.ScanInput{TableName: aws.String(table),
			ProjectionExpression: aws.String(strings.Join(proj, ", ")), ExpressionAttributeNames: names})
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				return n, fmt.Errorf("prune %s: scan: %w", table, err)
			}
			for _, it := range page.Items {
				deletes = append(deletes, ddbtypes.WriteRequest{DeleteRequest: &ddbtypes.DeleteRequest{Key: it}})
			}
		}
		for batch := range chunks(deletes, 25) { // BatchWriteItem's limit
			pending := map[string][]ddbtypes.WriteRequest{table: batch}
			for attempt := 0; len(pending) > 0; attempt++ {
				if attempt == 5 {
					return n, fmt.Errorf("prune %s: items left unprocessed", table)
				}
				out, err := s.ddb.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: pending})
				if err != nil {
					return n, fmt.Errorf("prune %s: delete: %w", table, err)
				}
				pending = out.UnprocessedItems
			}
			n += len(batch)
		}
	}
	return n, nil
}

// waitQuiet waits until the dispatch and results queues hold no message, visible or in flight, or
// limit passes.
func (s *System) waitQuiet(ctx context.Context, limit time.Duration) error {
	client := sqs.NewFromConfig(s.base)
	var urls []string
	for _, q := range []string{s.Res.DispatchQueue, s.Res.ResultsQueue} {
		out, err := client.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String(q)})
		if err != nil {
			return fmt.Errorf("queue %s: %w", q, err)
		}
		urls = append(urls, aws.ToString(out.QueueUrl))
	}
	deadline := time.Now().Add(limit)
	for {
		busy := 0
		for _, u := range urls {
			out, err := client.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(u),
				AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameApproximateNumberOfMessages,
					sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible}})
			if err != nil {
				return fmt.Errorf("queue attributes of %s: %w", u, err)
			}
			for _, v := range out.Attributes {
				n, _ := strconv.Atoi(v)
				busy += n
			}
		}
		if busy == 0 || time.Now().After(deadline) {
			return nil
		}
		if err := sleepCtx(ctx, 200*time.Millisecond); err != nil {
			return err
		}
	}
}

// itemSize reads an item back (strongly consistent) with the bench's own, uncounted client and
// returns its size; 0 when it is gone.
func (s *System) itemSize(ctx context.Context, table string, key map[string]ddbtypes.AttributeValue) (int, error) {
	out, err := s.ddb.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(table), Key: key, ConsistentRead: aws.Bool(true)})
	if err != nil {
		return 0, err
	}
	return ItemSize(out.Item), nil
}

func chunks[T any](s []T, n int) func(func([]T) bool) {
	return func(yield func([]T) bool) {
		for i := 0; i < len(s); i += n {
			if !yield(s[i:min(i+n, len(s))]) {
				return
			}
		}
	}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
