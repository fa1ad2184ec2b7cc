package bench

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/runcmd/runcmd/agent/node"
)

// FootprintResult is measurement 5: runcmd-agent as a real process.
type FootprintResult struct {
	BinaryBytes int64  `json:"binary_bytes"`
	BuildFlags  string `json:"build_flags"`
	IdleRSS     int64  `json:"idle_rss_bytes_after_60s"`
	// StartCPU is the agent process's CPU until it was listed Online: start-up and its first
	// heartbeat (registration is the separate `runcmd-agent register` process, not counted).
	StartCPU float64 `json:"cpu_s_start_up"`
	// IdleCPUPerMin is its CPU over the idle minute after it came online.
	IdleCPUPerMin float64 `json:"idle_cpu_s_per_minute"`
	// IdleSeconds is how long the agent idled before IdleRSS and IdleCPUPerMin were taken.
	IdleSeconds float64 `json:"idle_window_s"`
	// Busy is five `sleep 5` documents sent at once.
	BusyPeakRSS         int64     `json:"busy_peak_rss_bytes"`
	BusyPeakRSSChildren int64     `json:"busy_peak_rss_with_children_bytes"`
	BusyWallSeconds     float64   `json:"busy_wall_s"`
	BusySucceeded       int       `json:"busy_succeeded"`
	InstanceID          string    `json:"instance_id"`
	CPUResolution       string    `json:"cpu_resolution"`
	Idle                *IdleCost `json:"-"`
}

// AgentProcess is runcmd-agent running as a child process against the emulator.
type AgentProcess struct {
	cmd *exec.Cmd
	ID  string
	log *os.File
}

// BuildAgent builds runcmd-agent as `make build` does (CGO off, -s -w) into dir.
func BuildAgent(ctx context.Context, root, dir string) (string, error) {
	bin := filepath.Join(dir, "runcmd-agent")
	cmd := exec.CommandContext(ctx, "go", "build", "-ldflags", "-s -w", "-o", bin, "./agent")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build runcmd-agent: %w: %s", err, out)
	}
	return bin, nil
}

// StartAgentProcess registers bin with an activation (`runcmd-agent register`), starts it under the
// system's resource prefix and waits until it is Online.
func StartAgentProcess(ctx context.Context, s *System, bin, dir string) (*AgentProcess, error) {
	state := filepath.Join(dir, "agent-state")
	actID, actCode, err := s.Activate(ctx, 1, map[string]string{"BenchRole": "footprint"})
	if err != nil {
		return nil, err
	}
	env := append(os.Environ(), "AWS_ENDPOINT_URL="+s.Emulator.Endpoint) // the last value wins
	reg := exec.CommandContext(ctx, bin, "register", "--code", actCode, "--id", actID, "--region", s.base.Region,
		"--endpoint", s.Endpoint, "--state-dir", state)
	reg.Env = env
	if out, err := reg.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("runcmd-agent register: %w: %s", err, out)
	}
	id, err := node.Identity(state, "") // the id registration saved
	if err != nil {
		return nil, err
	}
	logf, err := os.Create(filepath.Join(dir, "agent.log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "--state-dir", state, "--prefix", s.Prefix, "--grace", "5s")
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start runcmd-agent: %w", err)
	}
	p := &AgentProcess{cmd: cmd, ID: id, log: logf}
	if err := s.WaitOnline(ctx, []string{id}, 60*time.Second); err != nil {
		p.Stop()
		return nil, fmt.Errorf("runcmd-agent process: %w (log %s)", err, logf.Name())
	}
	return p, nil
}

// Pid is the agent's process id.
func (p *AgentProcess) Pid() int { return p.cmd.Process.Pid }

// Stop sends SIGTERM and waits (SIGKILL after 15 s).
func (p *AgentProcess) Stop() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		_ = p.cmd.Process.Kill()
		<-done
	}
	p.log.Close()
}

// MeasureIdle lets the agent idle for one "minute" (a minute except in quick runs) from when it came
// online, long-polling its queue: its CPU until then (start-up), its RSS and CPU at the end of the
// minute. One minute serves both idle numbers, as the agent does the same every minute (three 20 s
// long polls, one heartbeat). The counter runs over the minute plus settle, so the functions' work
// for the heartbeat the agent sends about a minute after it started is counted whole: the service
// side of an idle node's cost.
func MeasureIdle(ctx context.Context, s *System, p *AgentProcess, minute, settle time.Duration, r *FootprintResult) error {
	s.Counter.Start()
	t0 := time.Now()
	cpu0, err := procCPU(p.Pid())
	if err != nil {
		s.Counter.Stop()
		return err
	}
	if err := sleepCtx(ctx, minute); err != nil {
		s.Counter.Stop()
		return err
	}
	rss, err := procRSS(p.Pid())
	if err != nil {
		s.Counter.Stop()
		return err
	}
	cpu1, err := procCPU(p.Pid())
	if err != nil {
		s.Counter.Stop()
		return err
	}
	r.IdleSeconds = time.Since(t0).Seconds()
	if err := sleepCtx(ctx, settle); err != nil {
		s.Counter.Stop()
		return err
	}
	t := s.Counter.Stop()
	window := time.Since(t0)
	r.IdleRSS, r.StartCPU, r.IdleCPUPerMin = rss, cpu0.Seconds(), (cpu1-cpu0).Seconds()*time.Minute.Seconds()/minute.Seconds()
	r.CPUResolution = fmt.Sprintf("%d ms (/proc clock ticks)", 1000/clockTick)
	wu, _, err := t.WriteUnits(ctx, s.itemSize)
	if err != nil {
		return err
	}
	r.Idle = NewIdleCost(t, window, wu)
	return nil
}

// MeasureBusy sends five `sleep 5` commands at once and samples the agent's RSS (and its children's)
// every 50 ms until all five have ended.
func MeasureBusy(ctx context.Context, s *System, p *AgentProcess, r *FootprintResult) error {
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			if rss, err := procRSS(p.Pid()); err == nil {
				total := rss
				for _, c := range descendants(p.Pid()) {
					if cr, err := procRSS(c); err == nil {
						total += cr
					}
				}
				r.BusyPeakRSS = max(r.BusyPeakRSS, rss)
				r.BusyPeakRSSChildren = max(r.BusyPeakRSSChildren, total)
			}
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	})
	defer func() { close(stop); wg.Wait() }()
	t0 := time.Now()
	var ids []string
	for range 5 {
		out, err := s.SSM.SendCommand(ctx, &ssm.SendCommandInput{
			DocumentName: aws.String("AWS-RunShellScript"), InstanceIds: []string{p.ID},
			Parameters: map[string][]string{"commands": {"sleep 5"}},
		})
		if err != nil {
			return fmt.Errorf("send sleep 5: %w", err)
		}
		ids = append(ids, aws.ToString(out.Command.CommandId))
	}
	for _, id := range ids {
		for {
			inv, err := s.SSM.GetCommandInvocation(ctx, &ssm.GetCommandInvocationInput{CommandId: aws.String(id), InstanceId: aws.String(p.ID)})
			if err != nil {
				return fmt.Errorf("get invocation %s: %w", id, err)
			}
			if finalInvocation(inv.Status) {
				if inv.Status == "Success" {
					r.BusySucceeded++
				}
				break
			}
			if time.Since(t0) > 90*time.Second {
				return fmt.Errorf("sleep 5 command %s still %s after 90 s", id, inv.Status)
			}
			if err := sleepCtx(ctx, 100*time.Millisecond); err != nil {
				return err
			}
		}
	}
	r.BusyWallSeconds = time.Since(t0).Seconds()
	return nil
}
