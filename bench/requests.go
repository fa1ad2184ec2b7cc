package bench

import (
	"context"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
)

// RequestsRun is the AWS traffic of one command, after the bench's own completion polls are taken out.
type RequestsRun struct {
	Nodes       int                  `json:"nodes"`
	Total       int                  `json:"requests"`
	PerInv      float64              `json:"requests_per_invocation"`
	Ops         []OpCount            `json:"ops"`
	EmptyPolls  map[string]int       `json:"empty_long_polls"`
	Heartbeats  int                  `json:"heartbeats_in_window"`
	PollsTaken  int                  `json:"bench_polls_subtracted"`
	WriteUnits  float64              `json:"dynamodb_write_units"`
	WriteByKind map[string]WriteKind `json:"dynamodb_write_units_by_kind"`
	ReadUnits   float64              `json:"dynamodb_read_units"`
	MaxSQSBody  int                  `json:"max_sqs_body_bytes"`
	Status      string               `json:"status"`
}

// RequestsResult is measurement 3.
type RequestsResult struct {
	Fleet        []RequestsRun `json:"fleet_runs"`  // the 100-node command, repeated
	Single       []RequestsRun `json:"single_runs"` // one-node commands, for comparison
	PerInv       Spread        `json:"requests_per_invocation"`
	SinglePerInv Spread        `json:"single_node_requests_per_invocation"`
	WCUPerInv    Spread        `json:"dynamodb_write_units_per_invocation"`
	RCUPerInv    Spread        `json:"dynamodb_read_units_per_invocation"`
	Cost         CostModel     `json:"cost"`
	Idle         *IdleCost     `json:"idle,omitempty"`
	// OnFleet is the size of the fleet whose system and agents the measurement used, after that
	// fleet's runs and with its other agents stopped; 0 for a system and fleet of its own.
	OnFleet int `json:"on_fleet_of,omitempty"`
}

// pollCost is what one of the bench's ListCommands completion polls costs: AWS requests by op key,
// and DynamoDB read units under the key "read units".
func pollCost(ctx context.Context, s *System, commandID string) (map[string]float64, error) {
	const calls = 5
	s.Counter.Start()
	for range calls {
		if _, err := s.SSM.ListCommands(ctx, &ssm.ListCommandsInput{CommandId: aws.String(commandID)}); err != nil {
			s.Counter.Stop()
			return nil, fmt.Errorf("calibrate: %w", err)
		}
	}
	t := s.Counter.Stop()
	per := map[string]float64{}
	for _, o := range t.Ops {
		per[o.Service+" "+o.Operation+" "+o.Resource] = float64(o.Count) / calls
	}
	per[readUnitsKey] = t.ReadUnits / calls
	return per, nil
}

const readUnitsKey = "read units"

// CountCommand counts the AWS requests of one command sent to targets (n nodes), polling for its end
// every 500 ms and subtracting the cost of those polls.
func CountCommand(ctx context.Context, s *System, in *ssm.SendCommandInput, n int, perPoll map[string]float64) (RequestsRun, error) {
	r := RequestsRun{Nodes: n}
	s.Counter.Start()
	out, err := s.SSM.SendCommand(ctx, in)
	if err != nil {
		s.Counter.Stop()
		return r, fmt.Errorf("send: %w", err)
	}
	_, cmd, polls, err := s.WaitCommand(ctx, aws.ToString(out.Command.CommandId), n, 500*time.Millisecond, 8*time.Minute)
	if err != nil {
		s.Counter.Stop()
		return r, err
	}
	// The pollers delete their messages after the handler returns: let the last ones land.
	if err := sleepCtx(ctx, 2*time.Second); err != nil {
		s.Counter.Stop()
		return r, err
	}
	t := s.Counter.Stop()
	r.Status = string(cmd.Status)
	r.PollsTaken = polls
	for _, o := range t.Ops {
		sub := int(math.Round(perPoll[o.Service+" "+o.Operation+" "+o.Resource] * float64(polls)))
		o.Count -= sub
		if o.Count > 0 {
			r.Ops = append(r.Ops, o)
			r.Total += o.Count
		}
	}
	slices.SortFunc(r.Ops, func(a, b OpCount) int { return b.Count - a.Count })
	r.PerInv = float64(r.Total) / float64(n)
	r.EmptyPolls, r.Heartbeats, r.MaxSQSBody = t.EmptyPolls, t.Heartbeats, t.MaxSQSBody
	r.ReadUnits = max(t.ReadUnits-float64(polls)*perPoll[readUnitsKey], 0)
	r.WriteUnits, r.WriteByKind, err = t.WriteUnits(ctx, s.itemSize)
	if err != nil {
		return r, err
	}
	return r, nil
}

// MeasureRequests runs measurement 3: runs commands to the n agents tagged key=value and single-node
// commands to one of them. warmed is a finished command of a warm-up the system already ran over
// these agents (the fleet runs before), or "" to run one here; the calibration polls it.
func MeasureRequests(ctx context.Context, s *System, key, value string, ids []string, runs, singleRuns int, warmed string) (RequestsResult, error) {
	var res RequestsResult
	n := len(ids)
	fleetIn := func() *ssm.SendCommandInput {
		return &ssm.SendCommandInput{
			DocumentName:   aws.String("AWS-RunShellScript"),
			Targets:        []ssmtypes.Target{{Key: aws.String("tag:" + key), Values: []string{value}}},
			Parameters:     map[string][]string{"commands": {"true"}},
			MaxConcurrency: aws.String("100%"), MaxErrors: aws.String("0"),
		}
	}
	if warmed == "" {
		// Warm-up, uncounted; its command is what the calibration polls.
		out, err := s.SSM.SendCommand(ctx, fleetIn())
		if err != nil {
			return res, fmt.Errorf("warm-up: %w", err)
		}
		warmed = aws.ToString(out.Command.CommandId)
		if _, _, _, err := s.WaitCommand(ctx, warmed, n, 100*time.Millisecond, 8*time.Minute); err != nil {
			return res, fmt.Errorf("warm-up: %w", err)
		}
	}
	perPoll, err := pollCost(ctx, s, warmed)
	if err != nil {
		return res, err
	}
	var per, wcu, rcu, single []float64
	for range runs {
		if _, err := s.Prune(ctx); err != nil {
			return res, err
		}
		r, err := CountCommand(ctx, s, fleetIn(), n, perPoll)
		if err != nil {
			return res, err
		}
		res.Fleet = append(res.Fleet, r)
		per = append(per, r.PerInv)
		wcu = append(wcu, r.WriteUnits/float64(n))
		rcu = append(rcu, r.ReadUnits/float64(n))
	}
	for range singleRuns {
		r, err := CountCommand(ctx, s, &ssm.SendCommandInput{
			DocumentName: aws.String("AWS-RunShellScript"), InstanceIds: ids[:1],
			Parameters: map[string][]string{"commands": {"true"}},
		}, 1, perPoll)
		if err != nil {
			return res, err
		}
		res.Single = append(res.Single, r)
		single = append(single, r.PerInv)
	}
	res.PerInv, res.WCUPerInv, res.RCUPerInv, res.SinglePerInv = NewSpread(per), NewSpread(wcu), NewSpread(rcu), NewSpread(single)
	res.Cost = NewCostModel(res.Fleet[medianIndex(per)])
	return res, nil
}

// medianIndex is the index of the median value (the lower one for an even count).
func medianIndex(v []float64) int {
	idx := make([]int, len(v))
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(a, b int) int {
		switch {
		case v[a] < v[b]:
			return -1
		case v[a] > v[b]:
			return 1
		}
		return 0
	})
	return idx[(len(idx)-1)/2]
}
