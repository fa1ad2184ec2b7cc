package patch

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/runcmd/runcmd"
)

// Operation is AWS-RunPatchBaseline's Operation parameter.
type Operation string

// Operations.
const (
	Scan    Operation = "Scan"
	Install Operation = "Install"
)

// RebootOption is AWS-RunPatchBaseline's RebootOption parameter.
type RebootOption string

// Reboot options.
const (
	RebootIfNeeded RebootOption = "RebootIfNeeded"
	NoReboot       RebootOption = "NoReboot"
)

// RebootState is what the agent keeps between runs (the payload's patch-states-configuration.json):
// the packages Patch Manager installed that still wait for a reboot.
type RebootState struct {
	// PendingReboot holds name.arch of packages installed by Patch Manager with no reboot since.
	PendingReboot []string `json:",omitempty"`
	// LastInstallTime is when the last Install that added to PendingReboot started.
	LastInstallTime time.Time `json:",omitzero"`
	// LastNoRebootInstallOperationTime is when the last Install with NoReboot started.
	LastNoRebootInstallOperationTime time.Time `json:",omitzero"`
}

// Request is one AWS-RunPatchBaseline run on a node.
type Request struct {
	InstanceID   string
	Snapshot     Snapshot
	Operation    Operation
	RebootOption RebootOption // empty means RebootIfNeeded
	// InstallOverrideList, when set, replaces the baseline's choice of what to install (Install only;
	// Scan ignores it). InstallOverrideListURL is recorded in the summary.
	InstallOverrideList    *OverrideList
	InstallOverrideListURL string
	// Reboot is the state the previous run returned; BootTime is when the node last booted (zero when
	// unknown). A boot after the last install clears the pending-reboot set.
	Reboot   RebootState
	BootTime time.Time
	// Now gives the time; nil means time.Now.
	Now func() time.Time
}

// Report is the outcome of a run: what the agent uploads and what it must do next.
type Report struct {
	Summary InstancePatchState
	Patches []Patch
	// Attempted lists the targets Install tried, Installed those now at the requested version, Failed
	// the others (blocked by a rejected dependency included).
	Attempted []Target `json:",omitempty"`
	Installed []Target `json:",omitempty"`
	Failed    []Target `json:",omitempty"`
	// InstallOutput is the package manager's output, for the step output.
	InstallOutput string `json:",omitempty"`
	// RebootRequired tells the agent to reboot the node now: Install with RebootIfNeeded that
	// installed something or left a patch pending reboot. After the reboot the agent runs a Scan to
	// report the final states, as the payload's post-reboot re-run does.
	RebootRequired bool
	// Reboot is the state to keep for the next run.
	Reboot RebootState
}

// Validate checks the request's enums and pairing before anything runs.
func (r Request) Validate() error {
	switch r.Operation {
	case Scan, Install:
	default:
		return runcmd.Errorf(runcmd.EINVALID, ErrValidation, "Operation must be Scan or Install, not %q", r.Operation)
	}
	switch r.RebootOption {
	case "", RebootIfNeeded, NoReboot:
	default:
		return runcmd.Errorf(runcmd.EINVALID, ErrValidation, "RebootOption must be RebootIfNeeded or NoReboot, not %q", r.RebootOption)
	}
	if r.Snapshot.SnapshotID != "" && !snapshotIDRE.MatchString(r.Snapshot.SnapshotID) {
		return runcmd.Errorf(runcmd.EINVALID, ErrValidation, "SnapshotId %q is not a GUID", r.Snapshot.SnapshotID)
	}
	return nil
}

// Run performs one Scan or Install on src with the snapshot's baseline:
//
//   - Scan: inventory, evaluate, report (InstallOverrideList is ignored: compliance always reflects the
//     baseline).
//   - Install: inventory, evaluate, install the approved missing updates (or the override list's
//     packages), inventory again, and report: a target not at its requested version afterwards is
//     Failed; under RejectedPatchesAction BLOCK a target whose install would pull in a rejected package
//     is not installed and reports Failed (when src is a Resolver).
//
// Packages installed in the run join the pending-reboot set (both reboot options: the node has not
// rebooted yet); with RebootIfNeeded the report asks for a reboot. Errors are failures to run the
// package manager; failed packages are data in the report.
func Run(ctx context.Context, src Source, req Request) (Report, error) {
	if err := req.Validate(); err != nil {
		return Report{}, err
	}
	now := req.Now
	if now == nil {
		now = time.Now
	}
	if req.RebootOption == "" {
		req.RebootOption = RebootIfNeeded
	}
	start := now().UTC()
	b := req.Snapshot.Baseline

	state := req.Reboot
	if !req.BootTime.IsZero() && req.BootTime.After(state.LastInstallTime) {
		state.PendingReboot = nil
	}
	pending := map[string]bool{}
	for _, k := range state.PendingReboot {
		pending[k] = true
	}

	inv, err := src.Inventory(ctx)
	if err != nil {
		return Report{}, fmt.Errorf("patch %s: inventory: %w", req.Operation, err)
	}
	opt := EvalOptions{Now: start, PendingReboot: pending}
	ev := Evaluate(b, inv, opt)

	var rep Report
	if req.Operation == Install {
		targets := ev.Missing
		if req.InstallOverrideList != nil {
			targets = req.InstallOverrideList.Select(b, inv)
		}
		failed := map[string]Target{}
		targets, err = blockRejectedDependencies(ctx, src, b, targets, failed)
		if err != nil {
			return Report{}, fmt.Errorf("patch Install: resolve dependencies: %w", err)
		}
		rep.Attempted = targets
		if len(targets) > 0 {
			res, err := src.Install(ctx, targets)
			if err != nil {
				return Report{}, fmt.Errorf("patch Install %d packages: %w", len(targets), err)
			}
			rep.InstallOutput = res.Output
			if inv, err = src.Inventory(ctx); err != nil {
				return Report{}, fmt.Errorf("patch Install: inventory after install: %w", err)
			}
			installed := installedVersions(inv)
			for _, t := range targets {
				if installed[t.Key()] == t.Version {
					rep.Installed = append(rep.Installed, t)
					pending[t.Key()] = true
				} else {
					failed[t.Key()] = t
				}
			}
		}
		for _, t := range failed {
			rep.Failed = append(rep.Failed, t)
		}
		sort.Slice(rep.Failed, func(i, j int) bool { return rep.Failed[i].Key() < rep.Failed[j].Key() })
		if len(rep.Installed) > 0 {
			state.LastInstallTime = start
			if req.RebootOption == NoReboot {
				state.LastNoRebootInstallOperationTime = start
			}
		}
		opt.Failed = failed
		ev = Evaluate(b, inv, opt)
	}

	state.PendingReboot = nil // a fresh slice: the request's may be shared with the caller
	for k := range pending {
		state.PendingReboot = append(state.PendingReboot, k)
	}
	slices.Sort(state.PendingReboot)
	rep.Reboot = state
	rep.Patches = ev.Patches
	rep.Summary = Summarize(ev.Patches)
	rep.Summary.InstanceID = req.InstanceID
	rep.Summary.PatchGroup = req.Snapshot.PatchGroup
	rep.Summary.BaselineID = b.BaselineID
	rep.Summary.SnapshotID = req.Snapshot.SnapshotID
	rep.Summary.Operation = req.Operation
	rep.Summary.RebootOption = req.RebootOption
	rep.Summary.OperationStartTime = start
	rep.Summary.OperationEndTime = now().UTC()
	rep.Summary.LastNoRebootInstallOperationTime = state.LastNoRebootInstallOperationTime
	if req.Operation == Install {
		rep.Summary.InstallOverrideList = req.InstallOverrideListURL
		rep.RebootRequired = req.RebootOption == RebootIfNeeded &&
			(len(rep.Installed) > 0 || rep.Summary.InstalledPendingRebootCount > 0)
	}
	return rep, nil
}

// blockRejectedDependencies drops (into failed) the targets whose install would bring in a rejected
// package, when the baseline BLOCKs rejected packages and src can resolve dependencies.
func blockRejectedDependencies(ctx context.Context, src Source, b Baseline, targets []Target, failed map[string]Target) ([]Target, error) {
	r, ok := src.(Resolver)
	if !ok || b.RejectedPatchesAction.OrDefault() != Block || len(b.RejectedPatches) == 0 {
		return targets, nil
	}
	e := evaluator{b: b.WithDefaults()}
	e.prepare()
	var keep []Target
	for _, t := range targets {
		deps, err := r.Resolve(ctx, []Target{t})
		if err != nil {
			var ce *runcmd.Error
			if errors.As(err, &ce) && ce.Code == runcmd.EINVALID {
				failed[t.Key()] = t // the package manager cannot install it at all
				continue
			}
			return nil, fmt.Errorf("resolve %s: %w", t.Key(), err)
		}
		blocked := false
		for _, d := range deps {
			if e.rejected(Package{Name: d.Name, Arch: d.Arch}, Version{Version: d.Version}) {
				blocked = true
				break
			}
		}
		if blocked {
			failed[t.Key()] = t
			continue
		}
		keep = append(keep, t)
	}
	return keep, nil
}

func installedVersions(inv Inventory) map[string]string {
	m := make(map[string]string, len(inv.Packages))
	for _, p := range inv.Packages {
		if p.Installed != nil {
			m[p.Key()] = p.Installed.Version.Version
		}
	}
	return m
}
