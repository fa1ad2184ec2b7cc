package stack

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/runcmd/runcmd/agent/node"
)

// RegisterNodes registers one node per state directory the way an operator does it: it creates an
// activation for them through the api at endpoint (SSM's CreateActivation, tags applied to every node)
// and registers each with it through node.Register, the code path of `runcmd-agent register`. It
// returns the instance ids in the order of stateDirs. In-process fleets, the demo, benchmarks and
// end-to-end tests use it; their agents then start with node.NewAWS.
func RegisterNodes(ctx context.Context, cfg aws.Config, endpoint string, tags map[string]string, stateDirs []string) ([]string, error) {
	if len(stateDirs) == 0 {
		return nil, nil
	}
	client := ssm.NewFromConfig(cfg, func(o *ssm.Options) { o.BaseEndpoint = aws.String(endpoint) })
	var ids []string
	// One activation registers at most MaxRegistrationLimit (1,000) nodes.
	for chunk := range slices.Chunk(stateDirs, 1000) {
		in := &ssm.CreateActivationInput{
			IamRole:           aws.String("runcmd-local-node"),
			RegistrationLimit: aws.Int32(int32(len(chunk))),
			Description:       aws.String("runcmd in-process fleet"),
		}
		for _, k := range slices.Sorted(maps.Keys(tags)) {
			in.Tags = append(in.Tags, types.Tag{Key: aws.String(k), Value: aws.String(tags[k])})
		}
		act, err := client.CreateActivation(ctx, in)
		if err != nil {
			return ids, fmt.Errorf("register nodes: create activation: %w", err)
		}
		for _, dir := range chunk {
			reg, err := node.Register(ctx, node.RegisterOptions{StateDir: dir, Endpoint: endpoint, Region: cfg.Region,
				ActivationCode: aws.ToString(act.ActivationCode), ActivationID: aws.ToString(act.ActivationId)})
			if err != nil {
				return ids, fmt.Errorf("register nodes: %w", err)
			}
			ids = append(ids, reg.InstanceID)
		}
	}
	return ids, nil
}
