// Package runner runs the steps of a rendered command document one after another, the way the SSM agent
// does: preconditions and platform support decide whether a step runs, plugins run it, exit codes 168,
// 169 and 194 and the onFailure/onSuccess/finallyStep modifiers decide what runs next, and each step
// becomes a runcmd.PluginResult with SSM's inline output limits and, when asked, its full output in S3.
package runner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/runcmd/runcmd"
	"github.com/runcmd/runcmd/agent/internal/state"
	"github.com/runcmd/runcmd/documents"
)

// ErrCancelled is the cause a job's context is cancelled with when a cancel message arrives. Any other
// cause (the agent shutting down) makes the interrupted step Failed rather than Cancelled.
var ErrCancelled = errors.New("command cancelled")

// Exit codes with a meaning to the agent (reference 10.6).
const (
	ExitSuccessAndStop = 168  // step succeeded; skip the remaining steps
	ExitFailAndStop    = 169  // step failed; skip the remaining steps
	ExitReboot         = 194  // reboot, then run the same step again (Linux, macOS)
	ExitRebootWindows  = 3010 // the same on Windows
)

// Uploader stores a step's full output in S3.
type Uploader interface {
	Upload(ctx context.Context, bucket, key string, body io.ReadSeeker, size int64) error
}

// Config is what the runner needs to know about the node.
type Config struct {
	State        *state.Dir
	InstanceID   string
	Region       string
	PlatformType string   // Linux, MacOS or Windows
	BaseEnv      []string // the agent's environment, passed on to scripts
	Uploader     Uploader // nil: OutputS3Bucket is ignored with a note in the trace
	// LookPath finds an interpreter (exec.LookPath); tests replace it to hide pwsh.
	LookPath func(file string) (string, error)
	Now      func() time.Time
	// Documents fetches SSM documents for aws:runDocument and aws:downloadContent (GetDocument
	// through the api); nil: those source types fail with a clear message.
	Documents DocumentFetcher
	// Downloader fetches S3 objects for aws:downloadContent; nil: the S3 source type fails clearly.
	Downloader Downloader
	// HTTPClient downloads aws:downloadContent's HTTP sources; nil means a client with a 10-minute
	// timeout.
	HTTPClient *http.Client
}

// DocumentFetcher returns the content of an SSM document by name and version ("" for the default).
type DocumentFetcher interface {
	GetDocument(ctx context.Context, name, version string) (content string, err error)
}

// Downloader copies an S3 object to w, refusing objects over maxBytes.
type Downloader interface {
	Download(ctx context.Context, bucket, key string, w io.Writer, maxBytes int64) error
}

// Job is one command to run on this node.
type Job struct {
	CommandID         string
	Steps             []documents.RenderedStep
	OutputS3Bucket    string
	OutputS3KeyPrefix string
	// StartAt resumes a job after a reboot: steps before it are not run again, Prior holds their
	// results from before the reboot, and step StartAt runs again from the start.
	StartAt int
	Prior   []runcmd.PluginResult
	// NoReboot refuses reboot exit codes (a document run by aws:runDocument may not reboot, as in
	// SSM): such a step fails with a note.
	NoReboot bool
	// Nest prefixes step folder names and Depth counts aws:runDocument levels, for nested documents.
	Nest  string
	Depth int
}

// Outcome is how a job ended: its detail and result, or a reboot request.
type Outcome struct {
	Detail runcmd.Detail
	Result runcmd.Result
	// Reboot is set when step RebootStep exited with a reboot code: Result then holds the steps before
	// it only, and the caller reboots and resumes the job at RebootStep.
	Reboot     bool
	RebootStep int
}

// Runner runs jobs. It is safe for concurrent use; each job uses its own step folders.
type Runner struct {
	cfg Config
}

// New returns a Runner.
func New(cfg Config) *Runner {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Runner{cfg: cfg}
}

// Run runs a job's steps one after another and returns the aggregated detail and the result (see
// RunJob; a reboot request comes back as InProgress).
func (r *Runner) Run(ctx context.Context, job Job) (runcmd.Detail, runcmd.Result) {
	o := r.RunJob(ctx, job)
	return o.Detail, o.Result
}

// RunJob runs a job's steps one after another, from job.StartAt. It never fails: every problem becomes
// a step's status and output or a line of trace. ctx ending stops the job: with cause ErrCancelled the
// running step and the rest are Cancelled, otherwise (shutdown) Failed. A step exiting with a reboot
// code stops the job with Outcome.Reboot set (unless job.NoReboot).
func (r *Runner) RunJob(ctx context.Context, job Job) Outcome {
	res := runcmd.Result{ResponseCode: -1, StartedAt: r.cfg.Now()}
	res.Plugins = append(res.Plugins, job.Prior...)
	var trace []string
	stopped := false // an exit code or modifier skipped the remaining steps
	ran := len(job.Prior) > 0
	for _, p := range job.Prior {
		if !p.Skipped {
			res.ResponseCode = p.ResponseCode
		}
	}
	for i, step := range job.Steps {
		if i < job.StartAt {
			continue
		}
		if ctx.Err() != nil {
			res.Plugins = append(res.Plugins, r.notRun(step, context.Cause(ctx)))
			continue
		}
		if stopped && !step.FinallyStep {
			pr := r.skipped(step, "")
			res.Plugins = append(res.Plugins, pr)
			continue
		}
		out := r.runStep(ctx, job, step)
		if out.reboot {
			res.TraceOutput = Truncate(strings.Join(append(trace, out.trace...), "\n"), runcmd.MaxTraceOutput)
			return Outcome{Detail: runcmd.DetailInProgress, Result: res, Reboot: true, RebootStep: i}
		}
		res.Plugins = append(res.Plugins, out.plugin)
		trace = append(trace, out.trace...)
		if !out.plugin.Skipped {
			ran = true
			res.ResponseCode = out.plugin.ResponseCode
		}
		if out.stop {
			stopped = true
		}
	}
	if !ran && len(res.Plugins) > 0 {
		res.ResponseCode = 0
	}
	res.EndedAt = r.cfg.Now()
	res.TraceOutput = Truncate(strings.Join(trace, "\n"), runcmd.MaxTraceOutput)
	return Outcome{Detail: Aggregate(res.Plugins), Result: res}
}

// Aggregate returns a job's detail from its steps: Failed > ExecutionTimedOut > Cancelled > Success,
// where Skipped steps count as Success (reference 10.4).
func Aggregate(plugins []runcmd.PluginResult) runcmd.Detail {
	has := map[runcmd.Detail]bool{}
	for _, p := range plugins {
		has[p.Detail] = true
	}
	for _, d := range []runcmd.Detail{runcmd.DetailFailed, runcmd.DetailExecutionTimedOut, runcmd.DetailCancelled} {
		if has[d] {
			return d
		}
	}
	return runcmd.DetailSuccess
}

type stepOutcome struct {
	plugin runcmd.PluginResult
	trace  []string
	stop   bool
	reboot bool // the step asked for a reboot: run it again after the restart
}

func (r *Runner) base(step documents.RenderedStep) runcmd.PluginResult {
	now := r.cfg.Now()
	return runcmd.PluginResult{Name: step.PluginName, Action: step.Action, StartedAt: now, EndedAt: now}
}

func setDetail(p *runcmd.PluginResult, d runcmd.Detail) {
	p.Detail = d
	p.Status = d.Status()
}

// skipped is a step that did not run and counts as Success: a false precondition, an action without a
// handler on this platform, or a step after an early stop. msg becomes its output, as in SSM.
func (r *Runner) skipped(step documents.RenderedStep, msg string) runcmd.PluginResult {
	p := r.base(step)
	setDetail(&p, runcmd.DetailSuccess)
	p.Skipped = true
	p.Stdout = Truncate(msg, runcmd.MaxStdout)
	return p
}

// notRun is a step never started because the job was cancelled or the agent is shutting down.
func (r *Runner) notRun(step documents.RenderedStep, cause error) runcmd.PluginResult {
	p := r.base(step)
	p.ResponseCode = -1
	if errors.Is(cause, ErrCancelled) {
		setDetail(&p, runcmd.DetailCancelled)
		return p
	}
	setDetail(&p, runcmd.DetailFailed)
	p.Stderr = "Step not run: the agent shut down before it could start."
	return p
}

func (r *Runner) runStep(ctx context.Context, job Job, step documents.RenderedStep) stepOutcome {
	out := r.startStep(ctx, job, step)
	if !out.plugin.Skipped {
		r.applyModifiers(step, &out)
	}
	return out
}

func (r *Runner) startStep(ctx context.Context, job Job, step documents.RenderedStep) stepOutcome {
	if step.Precondition != nil {
		ok, msg, err := step.Precondition.Applies(r.cfg.PlatformType)
		if err != nil {
			return r.failBeforeStart(step, fmt.Sprintf("Invalid precondition: %v", err))
		}
		if !ok {
			return stepOutcome{plugin: r.skipped(step, msg)}
		}
	}
	if platforms := documents.ActionPlatforms(step.Action); platforms != nil && !slices.Contains(platforms, r.cfg.PlatformType) {
		return stepOutcome{plugin: r.skipped(step, documents.UnsupportedPluginMessage(step.Action, step.Name))}
	}
	plugin, ok := plugins[step.Action]
	if !ok {
		if documents.KnownAction(step.Action) {
			return r.failBeforeStart(step, fmt.Sprintf("Step %s: action %s is not supported by runcmd-agent yet.", step.Name, step.Action))
		}
		return r.failBeforeStart(step, fmt.Sprintf("Step %s: unknown action %s.", step.Name, step.Action))
	}
	dir, err := r.cfg.State.StepDir(job.CommandID, job.Nest+step.Name)
	if err != nil {
		return r.failBeforeStart(step, "The agent could not prepare the step's folder on the node.")
	}
	out := plugin(ctx, r, job, step, dir)
	out.trace = append(out.trace, r.collectOutput(ctx, job, step, dir, &out.plugin)...)
	return out
}

// failBeforeStart is a step that failed before anything ran; msg is its error output.
func (r *Runner) failBeforeStart(step documents.RenderedStep, msg string) stepOutcome {
	p := r.base(step)
	setDetail(&p, runcmd.DetailFailed)
	p.ResponseCode = 1
	p.Stderr = Truncate(msg, runcmd.MaxStderr)
	return stepOutcome{plugin: p}
}

// applyModifiers honours onFailure ("exit", "successAndExit") and onSuccess ("exit").
func (r *Runner) applyModifiers(step documents.RenderedStep, out *stepOutcome) {
	p := &out.plugin
	failed := p.Detail == runcmd.DetailFailed || p.Detail == runcmd.DetailExecutionTimedOut
	switch {
	case failed && step.OnFailure == "exit":
		out.stop = true
	case failed && step.OnFailure == "successAndExit":
		setDetail(p, runcmd.DetailSuccess)
		out.stop = true
	case p.Detail == runcmd.DetailSuccess && step.OnSuccess == "exit":
		out.stop = true
	}
}

// collectOutput reads the inline prefixes of the step's output files and uploads the full files when the
// command names a bucket. Upload problems go to the trace; they never change the step's status.
func (r *Runner) collectOutput(ctx context.Context, job Job, step documents.RenderedStep, dir string, p *runcmd.PluginResult) []string {
	var trace []string
	files := []struct {
		name  string
		max   int
		field *string
		url   *string
	}{
		{"stdout", runcmd.MaxStdout, &p.Stdout, &p.StdoutURL},
		{"stderr", runcmd.MaxStderr, &p.Stderr, &p.StderrURL},
	}
	for _, f := range files {
		fp := dir + string(os.PathSeparator) + f.name
		if *f.field != "" {
			// A message from the agent itself (the script never started): keep it on disk too, so the
			// S3 copy says the same as the reply.
			if err := appendFile(fp, *f.field); err != nil {
				trace = append(trace, fmt.Sprintf("Step %s: could not record %s on the node.", step.Name, f.name))
			}
		}
		text, err := ReadPrefix(fp, f.max)
		if err != nil {
			trace = append(trace, fmt.Sprintf("Step %s: could not read %s.", step.Name, f.name))
		}
		*f.field = text
	}
	if job.OutputS3Bucket == "" {
		return trace
	}
	if r.cfg.Uploader == nil {
		return append(trace, "Output was not uploaded to S3: this agent has no S3 client.")
	}
	// <prefix>/<commandId>/<instanceId>/<plugin without ':'>/<step without ':'>/stdout|stderr (5.2).
	pluginPrefix := path.Join(job.OutputS3KeyPrefix, job.CommandID, r.cfg.InstanceID, noColon(step.Action))
	p.OutputS3Bucket = job.OutputS3Bucket
	p.OutputS3Prefix = pluginPrefix
	// ctx may already be cancelled (the step was cancelled); the upload still belongs to the result.
	upCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Minute)
	defer cancel()
	for _, f := range files {
		fp := dir + string(os.PathSeparator) + f.name
		key := path.Join(pluginPrefix, noColon(step.Name), f.name)
		uploaded, err := r.upload(upCtx, job.OutputS3Bucket, key, fp)
		if err != nil {
			trace = append(trace, fmt.Sprintf("Step %s: upload of %s to s3://%s/%s failed: %v", step.Name, f.name, job.OutputS3Bucket, key, err))
			continue
		}
		if uploaded {
			*f.url = fmt.Sprintf("https://s3.%s.amazonaws.com/%s/%s", r.cfg.Region, job.OutputS3Bucket, key)
		}
	}
	return trace
}

// upload sends a non-empty file; empty or missing files are not uploaded (as in SSM).
func (r *Runner) upload(ctx context.Context, bucket, key, file string) (bool, error) {
	f, err := os.Open(file)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("open %s: %w", file, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return false, fmt.Errorf("stat %s: %w", file, err)
	}
	if fi.Size() == 0 {
		return false, nil
	}
	if err := r.cfg.Uploader.Upload(ctx, bucket, key, f, fi.Size()); err != nil {
		return false, err
	}
	return true, nil
}

func noColon(s string) string { return strings.ReplaceAll(s, ":", "") }

func appendFile(p, text string) error {
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_APPEND, state.FileMode)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(text); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// stepEnv is the agent's environment, then the step's SSM_* parameter variables, then the variables SSM
// documents for every script; later entries win, so a parameter cannot fake the command id.
func (r *Runner) stepEnv(job Job, step documents.RenderedStep) []string {
	env := slices.Clone(r.cfg.BaseEnv)
	for _, k := range slices.Sorted(maps.Keys(step.Env)) {
		env = append(env, k+"="+step.Env[k])
	}
	return append(env,
		"SSM_COMMAND_ID="+job.CommandID,
		"AWS_SSM_INSTANCE_ID="+r.cfg.InstanceID,
		"AWS_SSM_REGION_NAME="+r.cfg.Region,
	)
}
