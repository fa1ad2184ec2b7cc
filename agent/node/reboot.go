package node

import (
	"context"
	"os"
	"os/exec"
	"strconv"
	"time"

	"github.com/runcmd/runcmd"
	"github.com/runcmd/runcmd/agent/internal/runner"
	"github.com/runcmd/runcmd/agent/internal/state"
)

// DefaultRebootCommand reboots a Linux node through systemd.
var DefaultRebootCommand = []string{"systemctl", "reboot"}

// maxReboots bounds how often one command may reboot the node, so a script that always exits 194 does
// not reboot it forever.
const maxReboots = 10

// rebootCommandTimeout bounds the reboot command itself (systemctl reboot returns at once).
const rebootCommandTimeout = time.Minute

// reboot handles a step that exited with a reboot code (reference 10.6): it journals the job as
// rebooting at that step (keeping its message, so the step and the rest run after the restart), tells
// the service the command is still InProgress, runs the reboot command, and stops the agent, as the
// reboot would. The restarted agent resumes the job (recover). If the reboot command fails, the job
// fails with a clear reason instead.
func (a *Agent) reboot(rec state.Record, msg *runcmd.NodeMessage, out runner.Outcome) {
	log := a.log.With("command_id", rec.CommandID)
	now := a.now()
	if rec.Reboots >= maxReboots {
		res := out.Result
		res.EndedAt = now
		res.TraceOutput = runner.Truncate(res.TraceOutput+"\nThe command asked for more than "+strconv.Itoa(maxReboots)+
			" reboots; the agent stopped it instead of rebooting again.", runcmd.MaxTraceOutput)
		a.finish(rec, runcmd.DetailFailed, res)
		return
	}
	rec.Phase, rec.Message, rec.ResumeStep, rec.Done, rec.UpdatedAt = state.PhaseRebooting, msg, out.RebootStep, out.Result.Plugins, now
	rec.Reboots++
	if err := a.journal.Put(rec); err != nil {
		log.Error("journal_write_failed", "err", err)
		res := out.Result
		res.EndedAt = now
		res.TraceOutput = runner.Truncate(res.TraceOutput+"\nThe agent could not record the reboot in its state directory, so it did not reboot.", runcmd.MaxTraceOutput)
		a.finish(rec, runcmd.DetailFailed, res)
		return
	}
	a.sendProgress(rec.CommandID, rec.StartedAt, rec.Done, false)
	cmd := a.cfg.RebootCommand
	if len(cmd) == 0 {
		cmd = DefaultRebootCommand
	}
	log.Warn("reboot_requested", "step", out.RebootStep, "command", cmd[0])
	ctx, cancel := context.WithTimeout(context.WithoutCancel(a.workCtx), rebootCommandTimeout)
	defer cancel()
	c := exec.CommandContext(ctx, cmd[0], cmd[1:]...)
	c.Env = append(os.Environ(), "RUNCMD_AGENT_PID="+strconv.Itoa(os.Getpid()), "RUNCMD_STATE_DIR="+a.state.Root())
	if err := c.Run(); err != nil {
		log.Error("reboot_failed", "err", err)
		rec.Message = nil
		res := out.Result
		res.EndedAt = a.now()
		res.TraceOutput = runner.Truncate(res.TraceOutput+"\nThe reboot command failed ("+err.Error()+"), so the step was not run again.", runcmd.MaxTraceOutput)
		a.finish(rec, runcmd.DetailFailed, res)
		return
	}
	// The machine is going down: stop taking work, as SIGTERM would. Whatever restarts the agent
	// (systemd after the reboot, or a test) resumes the job.
	a.requestStop()
}
