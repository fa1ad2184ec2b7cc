package patchrun

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/runcmd/runcmd/agent/internal/apiclient"
	"github.com/runcmd/runcmd/agent/internal/platform"
	"github.com/runcmd/runcmd/agent/internal/state"
	"github.com/runcmd/runcmd/patch"
	"github.com/runcmd/runcmd/patch/apt"
	"github.com/runcmd/runcmd/patch/dnf"
	"github.com/runcmd/runcmd/patch/simulated"
)

// SourceEnv selects the package source: "apt", "dnf" or "yum" force one; "simulated" uses the
// inventory file simulated-inventory.json in the state directory and "simulated:PATH" the file at PATH.
// Unset picks apt, dnf or yum by what is installed — never the simulated source.
const SourceEnv = "RUNCMD_PATCH_SOURCE"

// NewOutbox connects to the results queue the node registered with.
type NewOutbox func(ctx context.Context, region, queueURL string) (Outbox, error)

// NewS3 returns an S3 reader for s3:// override files, in the region the node registered in. Command
// calls it only when an override parameter names an s3:// path.
type NewS3 func(ctx context.Context, region string) (ObjectGetter, error)

// Command runs `runcmd-agent patch` with its arguments and returns the exit code. The step runs it
// with the agent's environment: RUNCMD_STATE_DIR names the agent's state directory (identity, key,
// registration), SSM_COMMAND_ID the command. A nil newS3 makes s3:// override files fail the step.
func Command(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer, newOutbox NewOutbox, newS3 NewS3) int {
	log := slog.New(slog.NewTextHandler(stderr, nil))
	fs := flag.NewFlagSet("runcmd-agent patch", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o Options
	fs.StringVar(&o.Operation, "operation", "", "Scan or Install")
	fs.StringVar(&o.SnapshotID, "snapshot-id", "", "snapshot id (a GUID; empty: a new one)")
	fs.StringVar(&o.InstallOverrideList, "install-override-list", "", "https:// URL or s3://bucket/key of an install override list")
	fs.StringVar(&o.RebootOption, "reboot-option", string(patch.RebootIfNeeded), "RebootIfNeeded or NoReboot")
	fs.StringVar(&o.BaselineOverride, "baseline-override", "", "https:// URL or s3://bucket/key of a JSON array of baselines")
	stateDir := fs.String("state-dir", getenv("RUNCMD_STATE_DIR"), "the agent's state directory (env RUNCMD_STATE_DIR)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return ExitOK
		}
		return ExitError
	}
	if *stateDir == "" {
		*stateDir = "/var/lib/runcmd-agent"
	}
	st, err := state.Open(*stateDir)
	if err != nil {
		log.Error("patch_failed", "err", err)
		return ExitError
	}
	reg, err := st.Registration()
	if err != nil {
		log.Error("patch_failed", "err", err)
		return ExitError
	}
	key, err := st.ExistingKey()
	if err != nil {
		log.Error("patch_failed", "instance_id", reg.InstanceID, "err", err)
		return ExitError
	}
	src, err := pickSource(getenv(SourceEnv), *stateDir, exec.LookPath)
	if err != nil {
		log.Error("patch_failed", "instance_id", reg.InstanceID, "err", err)
		return ExitError
	}
	out, err := newOutbox(ctx, reg.Region, reg.ResultsQueueURL)
	if err != nil {
		log.Error("patch_failed", "instance_id", reg.InstanceID, "err", err)
		return ExitError
	}
	o.InstanceID, o.CommandID, o.StateDir, o.Key = reg.InstanceID, getenv("SSM_COMMAND_ID"), *stateDir, key
	o.API, o.Source, o.Outbox, o.Stdout, o.BootTime = apiclient.New(reg.Endpoint), src, out, stdout, bootTime()
	f := platform.Collect()
	if osys, ok := patch.OperatingSystemFor(f.PlatformType, f.PlatformName, f.PlatformVersion); ok {
		o.OperatingSystem = osys // as the api derives it from the same facts in the node's heartbeat
	}
	if newS3 != nil && (strings.HasPrefix(o.BaselineOverride, "s3://") || strings.HasPrefix(o.InstallOverrideList, "s3://")) {
		if o.S3, err = newS3(ctx, reg.Region); err != nil {
			log.Error("patch_failed", "instance_id", reg.InstanceID, "err", err)
			return ExitError
		}
	}
	if o.CommandID == "" {
		log.Error("patch_failed", "instance_id", reg.InstanceID, "err", "SSM_COMMAND_ID is not set: run this from AWS-RunPatchBaseline")
		return ExitError
	}
	code, err := Run(ctx, o)
	if err != nil {
		fmt.Fprintf(stdout, "Patch %s failed: %v\n", o.Operation, err)
		log.Error("patch_failed", "instance_id", reg.InstanceID, "command_id", o.CommandID, "err", err)
	}
	return code
}

// pickSource returns the package source named by sel, or the one the node has.
func pickSource(sel, stateDir string, lookPath func(string) (string, error)) (patch.Source, error) {
	switch {
	case sel == "simulated":
		return simulated.New(filepath.Join(stateDir, "simulated-inventory.json"), nil), nil
	case strings.HasPrefix(sel, "simulated:"):
		return simulated.New(strings.TrimPrefix(sel, "simulated:"), nil), nil
	case sel == "apt":
		return apt.New(apt.Options{Refresh: true}), nil
	case sel == "dnf":
		return dnf.New(dnf.Options{}), nil
	case sel == "yum":
		return dnf.New(dnf.Options{Yum: true}), nil
	case sel != "":
		return nil, fmt.Errorf("%s=%q: want apt, dnf, yum, simulated or simulated:PATH", SourceEnv, sel)
	}
	if _, err := lookPath("apt-get"); err == nil {
		return apt.New(apt.Options{Refresh: true}), nil
	}
	if _, err := lookPath("dnf"); err == nil {
		return dnf.New(dnf.Options{}), nil
	}
	if _, err := lookPath("yum"); err == nil {
		return dnf.New(dnf.Options{Yum: true}), nil
	}
	return nil, errors.New("no supported package manager (apt-get, dnf or yum) found")
}
