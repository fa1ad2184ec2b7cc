// Package node is the core of runcmd-agent, the program that runs on every managed node: it keeps the
// node's identity, heartbeats, long-polls the node's own queue, runs up to Config.Workers documents at
// once, and reports progress and results through the results queue. It is a public package so that
// `runcmd fleet` can run many agents in one process; runcmd-agent's main only parses flags and wires
// AWS clients.
//
// Crash safety rests on the journal in the state directory: a job is journaled before its message is
// deleted, a final reply is journaled before it is sent, and a restart reports a job that was running
// as Failed instead of running it again.
package node

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/runcmd/runcmd"
	"github.com/runcmd/runcmd/agent/internal/apiclient"
	"github.com/runcmd/runcmd/agent/internal/platform"
	"github.com/runcmd/runcmd/agent/internal/runner"
	"github.com/runcmd/runcmd/agent/internal/state"
)

// Version is the agent version reported in heartbeats, set at build time with
// -ldflags "-X github.com/runcmd/runcmd/agent/node.Version=1.2.3".
var Version = "0.1.0"

// Defaults for Config.
const (
	DefaultStateDir = "/var/lib/runcmd-agent"
	// DefaultWorkers is how many documents run at once, as in SSM (CommandWorkersLimit 5).
	DefaultWorkers = 5
	// DefaultGrace is how long running steps may go on after a shutdown signal.
	DefaultGrace = 30 * time.Second
	// DefaultProgressDelay is how long a document runs before the agent says it started (see
	// Config.ProgressDelay): most commands end sooner, and then their only reply is the final one.
	DefaultProgressDelay = time.Second
	// ProgressImmediate as Config.ProgressDelay sends the started reply before the first step runs.
	ProgressImmediate = time.Nanosecond
	// PollWait is the long-poll wait: SQS's maximum of 20 s, so an idle agent makes three calls a minute.
	PollWait = 20 * time.Second
	// PollMax is the most messages one receive returns (SQS's limit is 10).
	PollMax = 10
	// journalKeep is how long delivered jobs stay journaled. It exceeds SQS's longest retention
	// (14 days), so a redelivered message always finds its record and never runs twice.
	journalKeep = 15 * 24 * time.Hour
)

// Message is one message received from the node's queue.
type Message struct {
	ID            string
	Body          string
	ReceiptHandle string
	ReceiveCount  int
}

// Inbox is the node's own queue.
type Inbox interface {
	// Receive long-polls for up to max messages, waiting up to wait for the first.
	Receive(ctx context.Context, max int, wait time.Duration) ([]Message, error)
	// Delete acknowledges a received message.
	Delete(ctx context.Context, receiptHandle string) error
}

// Outbox is the results queue. Bodies are JSON runcmd.ResultMessage values under SQS's 256 KiB limit.
type Outbox interface {
	Send(ctx context.Context, body string) error
}

// Uploader stores a step's full output in S3 (reference 5.2 for the keys).
type Uploader interface {
	Upload(ctx context.Context, bucket, key string, body io.ReadSeeker, size int64) error
}

// Config configures one agent.
type Config struct {
	// StateDir holds the identity, the journal and step folders; default DefaultStateDir. Every agent
	// needs its own: agents of a fleet sharing one would share an identity and a journal.
	StateDir string
	// InstanceID overrides the id persisted in StateDir (fleets name their agents).
	InstanceID string
	// Region is passed to scripts as AWS_SSM_REGION_NAME and used in S3 output URLs.
	Region string
	// QueueURL is the node's own queue, reported in heartbeats so dispatch can reach it.
	QueueURL string
	// Tags are sent with heartbeats for information only: a registered node's tags come from its
	// activation and from AddTagsToResource.
	Tags map[string]string
	// Workers is how many documents run at once; default DefaultWorkers.
	Workers int
	// Backlog is how many accepted documents may wait for a worker; default Workers. Messages beyond
	// it are left on the queue and come back after its visibility timeout.
	Backlog int
	// Grace is how long running steps may go on after Run's context ends; default DefaultGrace.
	Grace time.Duration
	// ProgressDelay is how long a document must still be running before the agent sends its
	// InProgress ("started") reply; default DefaultProgressDelay. A document that ends sooner gets
	// only its final reply. ProgressImmediate (or any delay under a millisecond) sends the started
	// reply before the first step runs; a negative delay never sends it.
	ProgressDelay time.Duration
	// Env is the environment scripts inherit; nil means the agent's own (os.Environ).
	Env []string
	// Logger receives the agent's logs; default slog.Default(). It never gets parameter values,
	// output or environment values.
	Logger *slog.Logger
	// Endpoint is the runcmd api, where aws:runDocument and aws:downloadContent fetch SSM documents
	// (GetDocument); empty: those source types fail with a clear message.
	Endpoint string
	// RebootCommand runs when a step exits with 194 (3010 on Windows) asking for a reboot; default
	// DefaultRebootCommand. After the restart the agent runs the same step again. Tests use a command
	// that restarts the agent instead of the machine.
	RebootCommand []string
	// Key is the node's private key: every reply and heartbeat is signed with it. Nil sends unsigned
	// messages, which only a local-only ingest (InsecureAcceptUnsigned) accepts.
	Key ed25519.PrivateKey
}

// Deps are the agent's connections to AWS. Uploader may be nil: output then stays on the node.
// Downloader may be nil: aws:downloadContent from S3 then fails with a clear message.
type Deps struct {
	Inbox      Inbox
	Outbox     Outbox
	Uploader   Uploader
	Downloader Downloader
}

// Downloader fetches an S3 object for aws:downloadContent, with the node's own credentials.
type Downloader interface {
	Download(ctx context.Context, bucket, key string, w io.Writer, maxBytes int64) error
}

// Agent is one running node agent.
type Agent struct {
	cfg     Config
	id      string
	deps    Deps
	state   *state.Dir
	journal *state.Journal
	runner  *runner.Runner
	log     *slog.Logger
	now     func() time.Time
	facts   func() platform.Facts

	slots     chan struct{} // accepted jobs not yet finished (running or waiting)
	queue     chan *job     // accepted jobs waiting for a worker
	reachable chan struct{} // poll signals that SQS answers again after receive errors

	mu      sync.Mutex
	jobs    map[string]*job // accepted and not finished, by command id
	sending map[string]bool // command ids whose final reply is being sent

	stopRun  context.CancelFunc // ends Run's polling as a shutdown signal would (after a reboot request)
	bg       sync.WaitGroup     // reply deliveries started outside workers
	started  atomic.Bool
	stopping atomic.Bool
	workCtx  context.Context // parent of every job; cancelled with errShutdown after the grace period
	sendCtx  context.Context // bounds reply delivery; ends shortly after the grace period
}

// errShutdown is the cause of job contexts cancelled because the agent stops.
var errShutdown = errors.New("agent shutting down")

// New opens the state directory, settles the node's identity and returns an agent ready to Run.
func New(cfg Config, deps Deps) (*Agent, error) {
	if deps.Inbox == nil || deps.Outbox == nil {
		return nil, errors.New("new agent: inbox and outbox are required")
	}
	if cfg.StateDir == "" {
		cfg.StateDir = DefaultStateDir
	}
	if cfg.Workers <= 0 {
		cfg.Workers = DefaultWorkers
	}
	if cfg.Backlog <= 0 {
		cfg.Backlog = cfg.Workers
	}
	if cfg.Grace <= 0 {
		cfg.Grace = DefaultGrace
	}
	if cfg.ProgressDelay == 0 {
		cfg.ProgressDelay = DefaultProgressDelay
	}
	if cfg.Env == nil {
		cfg.Env = os.Environ()
	}
	// Steps that call back into the agent (`runcmd-agent patch`) find its identity through this, also
	// when several agents of a fleet share one process environment.
	cfg.Env = append(slices.Clip(cfg.Env), "RUNCMD_STATE_DIR="+cfg.StateDir)
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	st, err := state.Open(cfg.StateDir)
	if err != nil {
		return nil, fmt.Errorf("new agent: %w", err)
	}
	id, err := identity(st, cfg.InstanceID)
	if err != nil {
		return nil, fmt.Errorf("new agent: %w", err)
	}
	a := &Agent{
		cfg:       cfg,
		id:        id,
		deps:      deps,
		state:     st,
		journal:   st.Journal(),
		log:       cfg.Logger.With("instance_id", id),
		now:       time.Now,
		facts:     platform.Collect,
		slots:     make(chan struct{}, cfg.Workers+cfg.Backlog),
		queue:     make(chan *job, cfg.Workers+cfg.Backlog),
		reachable: make(chan struct{}, 1),
		jobs:      map[string]*job{},
		sending:   map[string]bool{},
	}
	var up runner.Uploader
	if deps.Uploader != nil {
		up = deps.Uploader
	}
	var docs runner.DocumentFetcher
	if cfg.Endpoint != "" {
		docs = apiDocuments{c: apiclient.New(cfg.Endpoint)}
	}
	var down runner.Downloader
	if deps.Downloader != nil {
		down = deps.Downloader
	}
	a.runner = runner.New(runner.Config{
		State:        st,
		InstanceID:   id,
		Region:       cfg.Region,
		PlatformType: platform.Type(),
		BaseEnv:      cfg.Env,
		Uploader:     up,
		LookPath:     exec.LookPath,
		Now:          func() time.Time { return a.now() },
		Documents:    docs,
		Downloader:   down,
	})
	return a, nil
}

// identity returns the override when given (validated), else the id persisted in st.
func identity(st *state.Dir, override string) (string, error) {
	if override != "" {
		if !state.ValidInstanceID(override) {
			return "", fmt.Errorf("instance id %q: want mi- and 17 lowercase hex characters", override)
		}
		return override, nil
	}
	return st.InstanceID()
}

// Identity returns the instance id an agent with this state directory and override would use,
// creating and persisting one on first use. NewAWS calls it to name the node's queue before the agent
// exists.
func Identity(stateDir, override string) (string, error) {
	if stateDir == "" {
		stateDir = DefaultStateDir
	}
	st, err := state.Open(stateDir)
	if err != nil {
		return "", err
	}
	return identity(st, override)
}

// InstanceID is the node's managed-instance id.
func (a *Agent) InstanceID() string { return a.id }

// requestStop makes Run shut down as if its context had ended.
func (a *Agent) requestStop() {
	a.mu.Lock()
	stop := a.stopRun
	a.mu.Unlock()
	if stop != nil {
		stop()
	}
}

// seal signs a result message with the node's key (sign.go in the root package); without a key the
// message goes unsigned.
func (a *Agent) seal(m *runcmd.ResultMessage) error {
	if a.cfg.Key == nil {
		return nil
	}
	return m.Sign(a.id, a.cfg.Key, a.now())
}

// Run recovers unfinished work from the journal, then heartbeats and polls until ctx ends. On the end
// of ctx it stops polling, lets running jobs go on for the grace period (then kills their steps and
// reports them Failed), sends what it can, and returns nil. Jobs accepted but not started stay in the
// journal and run on the next start. Run may be called once per Agent.
func (a *Agent) Run(ctx context.Context) error {
	if !a.started.CompareAndSwap(false, true) {
		return fmt.Errorf("run agent %s: already running or finished", a.id)
	}
	ctx, stopRun := context.WithCancel(ctx)
	defer stopRun()
	a.mu.Lock()
	a.stopRun = stopRun
	a.mu.Unlock()
	workCtx, stopWork := context.WithCancelCause(context.WithoutCancel(ctx))
	defer stopWork(nil)
	sendCtx, stopSend := context.WithCancel(context.WithoutCancel(ctx))
	defer stopSend()
	a.workCtx, a.sendCtx = workCtx, sendCtx

	var workers sync.WaitGroup
	for range a.cfg.Workers {
		workers.Go(func() {
			for j := range a.queue {
				a.runJob(j)
			}
		})
	}
	a.log.Info("agent_started", "version", Version, "workers", a.cfg.Workers)
	pending := a.recover()

	// Every goroutine that may enqueue is in loops, which ends before the queue is closed.
	var loops sync.WaitGroup
	loops.Go(func() { a.heartbeatLoop(ctx) })
	loops.Go(func() { a.requeue(ctx, pending) })
	a.poll(ctx)
	loops.Wait()

	// Shutdown: nothing new starts; running jobs get the grace period.
	a.stopping.Store(true)
	close(a.queue)
	done := make(chan struct{})
	go func() { workers.Wait(); a.bg.Wait(); close(done) }()
	grace := time.NewTimer(a.cfg.Grace)
	defer grace.Stop()
	select {
	case <-done:
	case <-grace.C:
		a.log.Warn("grace_period_over", "grace", a.cfg.Grace.String())
		stopWork(errShutdown)
		last := time.NewTimer(shutdownSendTime)
		defer last.Stop()
		select {
		case <-done:
		case <-last.C:
			stopSend() // a reply still retrying stays journaled and is sent on the next start
			<-done
		}
	}
	// Jobs recovered at start that never got a slot: one cancelled meanwhile must not run next time.
	a.mu.Lock()
	var left []*job
	for _, j := range a.jobs {
		left = append(left, j)
	}
	a.mu.Unlock()
	for _, j := range left {
		if errors.Is(context.Cause(j.ctx), runner.ErrCancelled) {
			now := a.now()
			a.finish(j.rec, runcmd.DetailCancelled, runcmd.Result{ResponseCode: -1, StartedAt: now, EndedAt: now,
				TraceOutput: "The command was cancelled before it started; nothing ran."})
		}
	}
	flushCtx, cancel := context.WithTimeout(sendCtx, shutdownSendTime)
	defer cancel()
	a.flush(flushCtx)
	a.log.Info("agent_stopped")
	return nil
}

// shutdownSendTime bounds reply delivery during shutdown.
const shutdownSendTime = 10 * time.Second
