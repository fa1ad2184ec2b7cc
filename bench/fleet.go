package bench

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
)

// FleetRun is one run of `true` on every node of a fleet, MaxConcurrency 100%.
type FleetRun struct {
	Nodes int `json:"nodes"`
	// ToLastMS is SendCommand's start → the first ListCommands showing every invocation ended
	// (polled every 20 ms).
	ToLastMS float64 `json:"send_to_last_terminal_ms"`
	// ToCommandMS is SendCommand's start → the command's own final status.
	ToCommandMS float64 `json:"send_to_command_final_ms"`
	PerSecond   float64 `json:"invocations_per_s"`
	Status      string  `json:"status"`
	// CPU spent during the run: this process (functions, agents, their shells, the bench's polls)
	// and the emulator process.
	SelfCPUSeconds     float64 `json:"self_cpu_s"`
	EmulatorCPUSeconds float64 `json:"emulator_cpu_s"`
	CommandID          string  `json:"command_id"`
}

// FleetSize is every run at one fleet size and the Ansible peer at the same size.
type FleetSize struct {
	Nodes    int        `json:"nodes"`
	WarmUp   FleetRun   `json:"warm_up"`
	Runs     []FleetRun `json:"runs"`
	Duration Spread     `json:"duration_ms"`
	Rate     Spread     `json:"invocations_per_s"`
	// EmulatorShare is the emulator's part of the CPU spent in the runs (median).
	EmulatorShare Spread       `json:"emulator_cpu_share"`
	Ansible       *AnsibleSize `json:"ansible,omitempty"`
	// Ratio is runcmd's median time over Ansible's (below 1: runcmd is faster).
	Ratio float64 `json:"runcmd_over_ansible"`
	// Pruned is how many invocation items were deleted between runs (System.Prune).
	Pruned int `json:"items_pruned"`
}

// RunFleet sends `true` to every agent tagged key=value (there must be n) and times it.
func RunFleet(ctx context.Context, s *System, key, value string, n int) (FleetRun, error) {
	r := FleetRun{Nodes: n}
	cpu := startCPU(s.Emulator)
	t0 := time.Now()
	out, err := s.SSM.SendCommand(ctx, &ssm.SendCommandInput{
		DocumentName:   aws.String("AWS-RunShellScript"),
		Targets:        []ssmtypes.Target{{Key: aws.String("tag:" + key), Values: []string{value}}},
		Parameters:     map[string][]string{"commands": {"true"}},
		MaxConcurrency: aws.String("100%"),
		MaxErrors:      aws.String("0"),
	})
	if err != nil {
		return r, fmt.Errorf("send to %d nodes: %w", n, err)
	}
	r.CommandID = aws.ToString(out.Command.CommandId)
	last, cmd, _, err := s.WaitCommand(ctx, r.CommandID, n, 20*time.Millisecond, 8*time.Minute)
	cpu.stop()
	if err != nil {
		return r, err
	}
	r.ToLastMS = ms(last.Sub(t0))
	r.ToCommandMS = ms(cpu.Wall)
	r.PerSecond = float64(n) / last.Sub(t0).Seconds()
	r.Status = string(cmd.Status)
	r.SelfCPUSeconds, r.EmulatorCPUSeconds = cpu.Self.Seconds(), cpu.Emulator.Seconds()
	return r, nil
}

// summarise fills the spreads of a fleet size from its runs.
func (f *FleetSize) summarise() {
	var d, rate, share []float64
	for _, r := range f.Runs {
		d = append(d, r.ToLastMS)
		rate = append(rate, r.PerSecond)
		if r.EmulatorCPUSeconds > 0 {
			share = append(share, r.EmulatorCPUSeconds/(r.EmulatorCPUSeconds+r.SelfCPUSeconds))
		}
	}
	f.Duration, f.Rate, f.EmulatorShare = NewSpread(d), NewSpread(rate), NewSpread(share)
	if f.Ansible != nil && f.Ansible.Duration.Median > 0 {
		f.Ratio = f.Duration.Median / f.Ansible.Duration.Median
	}
}
