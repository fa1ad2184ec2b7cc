package runner

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/runcmd/runcmd"
	"github.com/runcmd/runcmd/agent/internal/shell"
	"github.com/runcmd/runcmd/documents"
)

// plugin runs one step whose folder is dir. It fills the step's status, code and times; the runner then
// reads the output files in dir. Text it puts in Stdout/Stderr is appended to those files first.
type plugin func(ctx context.Context, r *Runner, job Job, step documents.RenderedStep, dir string) stepOutcome

var plugins map[string]plugin

func init() {
	// Set in init: runDocument runs the runner, which looks plugins up in this map.
	plugins = map[string]plugin{
		documents.ActionRunShellScript:      runShellScript,
		documents.ActionRunPowerShellScript: runPowerShellScript,
		"aws:runDocument":                   runDocument,
		"aws:downloadContent":               downloadContent,
	}
}

func runShellScript(ctx context.Context, r *Runner, job Job, step documents.RenderedStep, dir string) stepOutcome {
	return r.runScript(ctx, job, step, dir, []string{"/bin/sh"}, "_script.sh")
}

func runPowerShellScript(ctx context.Context, r *Runner, job Job, step documents.RenderedStep, dir string) stepOutcome {
	lookPath := r.cfg.LookPath
	if lookPath == nil {
		return r.failBeforeStart(step, "aws:runPowerShellScript needs PowerShell (pwsh), and the agent cannot look for it.")
	}
	pwsh, err := lookPath("pwsh")
	if err != nil {
		return r.failBeforeStart(step, "aws:runPowerShellScript needs PowerShell (pwsh), which is not installed on this node (not found on PATH).")
	}
	return r.runScript(ctx, job, step, dir,
		[]string{pwsh, "-NoLogo", "-NoProfile", "-NonInteractive", "-ExecutionPolicy", "Bypass", "-File"}, "_script.ps1")
}

func (r *Runner) runScript(ctx context.Context, job Job, step documents.RenderedStep, dir string, command []string, scriptName string) stepOutcome {
	timeout := step.TimeoutSeconds
	if timeout < 5 || timeout > 172800 {
		timeout = documents.DefaultTimeoutSeconds // the agent's own fallback (reference 7.1)
	}
	res, err := shell.Run(ctx, shell.Spec{
		Dir:              dir,
		ScriptName:       scriptName,
		Script:           strings.Join(step.Commands, "\n"),
		Command:          command,
		WorkingDirectory: step.WorkingDirectory,
		Env:              r.stepEnv(job, step),
		Timeout:          time.Duration(timeout) * time.Second,
	})
	if err != nil {
		return r.failBeforeStart(step, fmt.Sprintf("Step %s failed to start: %v", step.Name, err))
	}
	p := r.base(step)
	p.StartedAt, p.EndedAt = res.StartedAt, res.EndedAt
	p.ResponseCode = res.ExitCode
	out := stepOutcome{}
	switch {
	case res.TimedOut:
		setDetail(&p, runcmd.DetailExecutionTimedOut)
		out.trace = append(out.trace, fmt.Sprintf("Step %s timed out after %d seconds; its process group was killed.", step.Name, timeout))
	case res.Killed && errors.Is(context.Cause(ctx), ErrCancelled):
		// The SSM agent reports a cancelled plugin with code 1 (reference 4.3).
		setDetail(&p, runcmd.DetailCancelled)
		p.ResponseCode = 1
	case res.Killed:
		setDetail(&p, runcmd.DetailFailed)
		out.trace = append(out.trace, fmt.Sprintf("Step %s was killed: the agent shut down before it finished.", step.Name))
	case res.ExitCode == 0:
		setDetail(&p, runcmd.DetailSuccess)
	case res.ExitCode == ExitSuccessAndStop:
		setDetail(&p, runcmd.DetailSuccess)
		out.stop = true
	case res.ExitCode == ExitFailAndStop:
		setDetail(&p, runcmd.DetailFailed)
		out.stop = true
	case r.rebootCode(res.ExitCode) && job.NoReboot:
		setDetail(&p, runcmd.DetailFailed)
		out.stop = true
		out.trace = append(out.trace, fmt.Sprintf("Step %s asked for a reboot (exit code %d), which is not allowed inside aws:runDocument; the remaining steps were skipped.", step.Name, res.ExitCode))
	case r.rebootCode(res.ExitCode):
		setDetail(&p, runcmd.DetailInProgress)
		out.reboot = true
		out.trace = append(out.trace, fmt.Sprintf("Step %s asked for a reboot (exit code %d); it runs again after the restart.", step.Name, res.ExitCode))
	default:
		setDetail(&p, runcmd.DetailFailed)
	}
	out.plugin = p
	return out
}

// rebootCode reports whether an exit code asks for a reboot on this node's platform: 194, and 3010 on
// Windows (reference 10.6).
func (r *Runner) rebootCode(code int) bool {
	return code == ExitReboot || code == ExitRebootWindows && r.cfg.PlatformType == "Windows"
}
