package memstore

import (
	"context"

	"github.com/runcmd/runcmd"
)

// Transitions applies each transition in order, as Transition does.
func (s *Commands) Transitions(ctx context.Context, ts []runcmd.Transition) ([]*runcmd.Invocation, []error) {
	invs, errs := make([]*runcmd.Invocation, len(ts)), make([]error, len(ts))
	for i, t := range ts {
		invs[i], errs[i] = s.Transition(ctx, t)
	}
	return invs, errs
}
