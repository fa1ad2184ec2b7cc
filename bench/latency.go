package bench

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
)

// LatencyResult is measurement 1: sends to one idle agent.
type LatencyResult struct {
	Sends    int `json:"sends"`
	WarmUp   int `json:"warm_up"`
	Failures int `json:"failures"`
	// SendCall is how long SendCommand itself took (client view).
	SendCall Dist `json:"send_call_ms"`
	// ToStepStart is SendCommand's return → the step's first instruction (`date +%s%N` in the script,
	// same clock: the agent runs in this process's host).
	ToStepStart Dist `json:"to_step_start_ms"`
	// ToResult is SendCommand's return → the first GetCommandInvocation that shows a final status.
	ToResult Dist `json:"to_result_ms"`
	// PollRoundTrip is one GetCommandInvocation call; with the 5 ms pause it bounds ToResult's resolution.
	PollRoundTrip Dist   `json:"poll_round_trip_ms"`
	InstanceID    string `json:"instance_id"`
	// LastCommandID is kept for the API throughput measurement.
	LastCommandID string `json:"last_command_id"`
}

// MeasureLatency sends `date +%s%N` warm+n times, one at a time, to the fleet's single agent, waiting
// for the command to end and the agent to be idle in its long poll between sends.
func MeasureLatency(ctx context.Context, s *System, agent string, warm, n int) (LatencyResult, error) {
	r := LatencyResult{Sends: n, WarmUp: warm, InstanceID: agent}
	var sendCall, toStart, toResult, poll []float64
	for i := range warm + n {
		t0 := time.Now()
		out, err := s.SSM.SendCommand(ctx, &ssm.SendCommandInput{
			DocumentName: aws.String("AWS-RunShellScript"),
			InstanceIds:  []string{agent},
			Parameters:   map[string][]string{"commands": {"date +%s%N"}},
		})
		sent := time.Now()
		if err != nil {
			return r, fmt.Errorf("send %d: %w", i, err)
		}
		id := aws.ToString(out.Command.CommandId)
		var inv *ssm.GetCommandInvocationOutput
		for {
			p0 := time.Now()
			inv, err = s.SSM.GetCommandInvocation(ctx, &ssm.GetCommandInvocationInput{CommandId: aws.String(id), InstanceId: aws.String(agent)})
			poll = append(poll, ms(time.Since(p0)))
			if err != nil {
				return r, fmt.Errorf("get invocation %s: %w", id, err)
			}
			if finalInvocation(inv.Status) {
				break
			}
			if time.Since(sent) > 30*time.Second {
				return r, fmt.Errorf("invocation %s still %s after 30 s", id, inv.Status)
			}
			if err := sleepCtx(ctx, 5*time.Millisecond); err != nil {
				return r, err
			}
		}
		done := time.Now()
		stepNS, perr := strconv.ParseInt(strings.TrimSpace(aws.ToString(inv.StandardOutputContent)), 10, 64)
		if inv.Status != ssmtypes.CommandInvocationStatusSuccess || perr != nil {
			r.Failures++
		} else if i >= warm {
			sendCall = append(sendCall, ms(sent.Sub(t0)))
			toStart = append(toStart, ms(time.Unix(0, stepNS).Sub(sent)))
			toResult = append(toResult, ms(done.Sub(sent)))
		}
		r.LastCommandID = id
		// Let dispatch close the command and the agent go back to its long poll.
		if _, _, _, err := s.WaitCommand(ctx, id, 1, 20*time.Millisecond, 30*time.Second); err != nil {
			return r, err
		}
		if err := sleepCtx(ctx, 100*time.Millisecond); err != nil {
			return r, err
		}
	}
	if len(toResult) == 0 {
		return r, errors.New("no successful send")
	}
	r.SendCall, r.ToStepStart, r.ToResult, r.PollRoundTrip = NewDist(sendCall), NewDist(toStart), NewDist(toResult), NewDist(poll)
	return r, nil
}

func finalInvocation(s ssmtypes.CommandInvocationStatus) bool {
	switch s {
	case ssmtypes.CommandInvocationStatusPending, ssmtypes.CommandInvocationStatusInProgress,
		ssmtypes.CommandInvocationStatusDelayed, ssmtypes.CommandInvocationStatusCancelling:
		return false
	}
	return true
}
