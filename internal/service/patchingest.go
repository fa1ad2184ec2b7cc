package service

import (
	"context"
	"fmt"

	"github.com/runcmd/runcmd"
)

// patchReport stores a node's patch report: its patch state (with the per-group counts) and then its
// Patch compliance items (with the per-resource and per-type summaries). A report older than the
// stored state changes nothing; a retry after a failure between the two writes redoes both, which is
// harmless because replacing a state or items with themselves moves no count.
func (g *Ingester) patchReport(ctx context.Context, m runcmd.ResultMessage) error {
	r := m.PatchReport
	if g.Compliance == nil {
		return runcmd.Errorf(runcmd.EINVALID, "", "this ingest function does not store patch reports")
	}
	if !validInstanceID(r.InstanceID) || r.State.InstanceID != r.InstanceID || r.CommandID == "" {
		return runcmd.Errorf(runcmd.EINVALID, "", "patch report with an invalid instance or command id")
	}
	switch r.State.Operation {
	case "Scan", "Install":
	default:
		return runcmd.Errorf(runcmd.EINVALID, "", "patch report with invalid operation %q", r.State.Operation)
	}
	// Only a node that was sent a command may report on it (the report may arrive before or after the
	// command's final reply, so any detail counts).
	inv, err := g.Commands.GetInvocation(ctx, r.CommandID, r.InstanceID)
	switch runcmd.ErrorCode(err) {
	case "":
		if !inv.Sent && !(g.InsecureAcceptUnsigned && len(m.Signature) == 0) {
			return g.reject(ctx, m, "command "+r.CommandID+" was never sent to node "+r.InstanceID)
		}
	case runcmd.ENOTFOUND:
		return g.reject(ctx, m, "no command "+r.CommandID+" for node "+r.InstanceID)
	default:
		return fmt.Errorf("patch report %s/%s: %w", r.CommandID, r.InstanceID, err)
	}
	items, err := r.Items()
	if err != nil {
		return err
	}
	for i := range items {
		if items[i].Status != runcmd.ComplianceCompliant && items[i].Status != runcmd.ComplianceNonCompliant {
			return runcmd.Errorf(runcmd.EINVALID, "", "patch report of %s: item %q has status %q", r.InstanceID, items[i].ID, items[i].Status)
		}
	}
	changed, err := g.Compliance.PutInstancePatchState(ctx, r.State)
	if err != nil {
		return fmt.Errorf("patch report %s/%s: store state: %w", r.CommandID, r.InstanceID, err)
	}
	if !changed {
		return nil // an older report than the one stored
	}
	_, err = g.Compliance.PutComplianceItems(ctx, runcmd.ComplianceUpload{
		ResourceID: r.InstanceID, ResourceType: runcmd.ResourceTypeManagedInstance, ComplianceType: runcmd.ComplianceTypePatch,
		Execution: r.Execution, Items: items,
	})
	if err != nil {
		return fmt.Errorf("patch report %s/%s: store compliance items: %w", r.CommandID, r.InstanceID, err)
	}
	return nil
}
