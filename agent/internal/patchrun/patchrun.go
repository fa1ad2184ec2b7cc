// Package patchrun is `runcmd-agent patch`, what the PatchLinux step of AWS-RunPatchBaseline runs: it
// fetches the node's baseline snapshot from the api (GetDeployablePatchSnapshotForInstance, with the
// node's entry of a BaselineOverride file when one is given), picks the package source (apt, dnf/yum,
// or — only when RUNCMD_PATCH_SOURCE says so — a simulated inventory), runs the Scan or Install with
// package patch (an InstallOverrideList file choosing what Install installs), prints a summary for the
// step output, signs and sends the patch report to the results queue, keeps the pending-reboot state
// between runs, and asks the agent for a reboot with exit code 194 when RebootOption=RebootIfNeeded and
// something was installed. Override files come from https:// URLs or s3://bucket/key paths, as the
// document's parameter patterns allow.
package patchrun

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/runcmd/runcmd"
	"github.com/runcmd/runcmd/patch"
)

// Exit codes of the step. The BaselineOverride ones are the payload's, so scripts that look at the
// step's exit code behave as on SSM.
const (
	ExitOK     = 0
	ExitFailed = 1 // the operation ran, but some installs failed
	ExitError  = 2 // the operation could not run
	// ExitReboot asks the agent to reboot the node and run the step again (the payload's 194).
	ExitReboot = 194

	ExitBaselineOverrideInvalid       = 161 // not a JSON array of valid baselines
	ExitBaselineOverrideDownload      = 162 // could not be downloaded
	ExitBaselineOverrideMissingOS     = 163 // no entry for the node's operating system
	ExitBaselineOverrideMultipleForOS = 165 // several entries for it
	ExitBaselineOverrideUnsupportedOS = 166 // the node's operating system has no baselines
	ExitBothOverrides                 = 167 // BaselineOverride and InstallOverrideList together
)

// stateFile keeps the pending-reboot state between runs (the payload's patch-states-configuration.json).
const stateFile = "patch/patch-states-configuration.json"

// downloadTimeout bounds one override file download.
const downloadTimeout = time.Minute

// s3URL is the document's pattern for S3 paths: s3://bucket/key, the key ending in a file name.
var s3URL = regexp.MustCompile(`^s3://([^/]+)/(.*?([^/]+))$`)

// API calls the runcmd api (apiclient.Client).
type API interface {
	Call(ctx context.Context, op string, in, out any) error
}

// Outbox is the results queue.
type Outbox interface {
	Send(ctx context.Context, body string) error
}

// ObjectGetter reads an S3 object into w, failing when it is larger than maxBytes (upload.S3, the
// agent's S3 adapter, implements it).
type ObjectGetter interface {
	Download(ctx context.Context, bucket, key string, w io.Writer, maxBytes int64) error
}

// Rebooter is implemented by sources whose reboot is simulated (simulated.Source): the run reboots
// them itself instead of asking the agent to reboot the machine it runs on.
type Rebooter interface {
	Reboot(ctx context.Context) error
}

// Options is one run.
type Options struct {
	Operation           string
	SnapshotID          string
	InstallOverrideList string // https:// URL or s3://bucket/key of the patches Install installs
	RebootOption        string
	BaselineOverride    string // https:// URL or s3://bucket/key of a JSON array of baselines

	InstanceID string
	CommandID  string
	StateDir   string
	Key        ed25519.PrivateKey
	// OperatingSystem is the node's, which picks its entry of a BaselineOverride file ("" when Patch
	// Manager has no baselines for it).
	OperatingSystem patch.OperatingSystem

	API    API
	Source patch.Source
	Outbox Outbox
	// HTTP downloads https:// override files (nil: a client with a one-minute timeout); S3 reads
	// s3:// ones (nil: s3:// URLs fail the step).
	HTTP *http.Client
	S3   ObjectGetter
	// BootTime is when the node last booted (zero when unknown).
	BootTime time.Time
	Now      func() time.Time
	Stdout   io.Writer
}

// persisted is the state file's content.
type persisted struct {
	Reboot patch.RebootState
	// SimulatedBootTime is when a simulated source last "rebooted".
	SimulatedBootTime time.Time `json:",omitzero"`
}

// Run performs the operation and returns the step's exit code. Errors are reported with ExitError.
func Run(ctx context.Context, o Options) (int, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Stdout == nil {
		o.Stdout = io.Discard
	}
	if o.BaselineOverride != "" && o.InstallOverrideList != "" {
		return ExitBothOverrides, errors.New("BaselineOverride and InstallOverrideList cannot be used together")
	}
	var override *patch.Baseline
	if o.BaselineOverride != "" {
		b, code, err := baselineOverride(ctx, o)
		if err != nil {
			return code, err
		}
		override = &b
	}
	if o.SnapshotID == "" {
		id, err := patch.NewSnapshotID()
		if err != nil {
			return ExitError, err
		}
		o.SnapshotID = id
	}
	snap, err := fetchSnapshot(ctx, o.API, o.InstanceID, o.SnapshotID, override)
	if err != nil {
		return ExitError, err
	}
	req := patch.Request{InstanceID: o.InstanceID, Snapshot: snap, Operation: patch.Operation(o.Operation),
		RebootOption: patch.RebootOption(o.RebootOption), BootTime: o.BootTime, Now: o.Now}
	if err := req.Validate(); err != nil {
		return ExitError, err
	}
	if o.InstallOverrideList != "" && req.Operation == patch.Install {
		b, err := download(ctx, o, "InstallOverrideList", o.InstallOverrideList, patch.MaxOverrideListSize)
		if err != nil {
			return ExitError, err
		}
		l, err := patch.ParseOverrideList(b)
		if err != nil {
			return ExitError, fmt.Errorf("InstallOverrideList %s: %w", o.InstallOverrideList, err)
		}
		req.InstallOverrideList, req.InstallOverrideListURL = l, o.InstallOverrideList
	}
	st, err := loadState(o.StateDir)
	if err != nil {
		return ExitError, err
	}
	_, simulated := o.Source.(Rebooter)
	if simulated {
		req.BootTime = st.SimulatedBootTime
	}
	req.Reboot = st.Reboot
	rep, err := patch.Run(ctx, o.Source, req)
	if err != nil {
		return ExitError, err
	}
	if rep.InstallOutput != "" {
		fmt.Fprint(o.Stdout, rep.InstallOutput)
	}
	if rep.RebootRequired && simulated {
		// A simulated node reboots in place: clear its pending flags and finish as the post-reboot re-run
		// of the step would. The agent never reboots the real machine for it.
		if err := o.Source.(Rebooter).Reboot(ctx); err != nil {
			return ExitError, err
		}
		st.SimulatedBootTime = o.Now().UTC()
		fmt.Fprintln(o.Stdout, "Simulated reboot of the node (simulated package source); finishing the operation.")
		req.Reboot, req.BootTime = rep.Reboot, st.SimulatedBootTime
		start := rep.Summary.OperationStartTime
		if rep, err = patch.Run(ctx, o.Source, req); err != nil {
			return ExitError, err
		}
		rep.Summary.OperationStartTime = start
	}
	st.Reboot = rep.Reboot
	if err := saveState(o.StateDir, st); err != nil {
		return ExitError, err
	}
	printSummary(o.Stdout, rep)
	if override != nil {
		// As on SSM, a run with a BaselineOverride does not overwrite the node's patch compliance: its
		// results are the step output only.
		fmt.Fprintln(o.Stdout, "BaselineOverride in use: the results above are not reported to Patch Manager or Compliance.")
	} else if err := sendReport(ctx, o, rep); err != nil {
		return ExitError, err
	}
	switch {
	case rep.RebootRequired:
		fmt.Fprintln(o.Stdout, "Reboot required: asking the agent to reboot the node (exit 194).")
		return ExitReboot, nil
	case len(rep.Failed) > 0:
		return ExitFailed, nil
	}
	return ExitOK, nil
}

// baselineOverride downloads the BaselineOverride file and returns the node's entry, or the payload's
// exit code for what went wrong.
func baselineOverride(ctx context.Context, o Options) (patch.Baseline, int, error) {
	if o.OperatingSystem == "" {
		return patch.Baseline{}, ExitBaselineOverrideUnsupportedOS,
			errors.New("BaselineOverride: Patch Manager has no baselines for this node's operating system")
	}
	data, err := download(ctx, o, "BaselineOverride", o.BaselineOverride, patch.MaxBaselineOverrideSize)
	if err != nil {
		return patch.Baseline{}, ExitBaselineOverrideDownload, err
	}
	list, err := patch.ParseBaselineOverride(data)
	if err != nil {
		return patch.Baseline{}, ExitBaselineOverrideInvalid, fmt.Errorf("BaselineOverride %s: %w", o.BaselineOverride, err)
	}
	b, err := patch.SelectBaselineOverride(list, o.OperatingSystem)
	var oe *patch.BaselineOverrideError
	switch {
	case errors.As(err, &oe) && oe.Matches == 0:
		return b, ExitBaselineOverrideMissingOS, fmt.Errorf("BaselineOverride %s: %w", o.BaselineOverride, err)
	case errors.As(err, &oe):
		return b, ExitBaselineOverrideMultipleForOS, fmt.Errorf("BaselineOverride %s: %w", o.BaselineOverride, err)
	case err != nil:
		return b, ExitBaselineOverrideInvalid, fmt.Errorf("BaselineOverride %s: %w", o.BaselineOverride, err)
	}
	return b, ExitOK, nil
}

// download fetches an override file named by param from an https:// URL or an s3://bucket/key path,
// refusing more than maxBytes. Other schemes (file paths included) are refused, as the document's
// parameter patterns and the payload refuse them.
func download(ctx context.Context, o Options, param, url string, maxBytes int64) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, downloadTimeout)
	defer cancel()
	var buf bytes.Buffer
	switch {
	case strings.HasPrefix(url, "https://"):
		c := o.HTTP
		if c == nil {
			c = &http.Client{Timeout: downloadTimeout}
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", param, url, err)
		}
		resp, err := c.Do(req)
		if err != nil {
			return nil, fmt.Errorf("download %s: %w", param, err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("download %s %s: HTTP %d", param, url, resp.StatusCode)
		}
		n, err := io.Copy(&buf, io.LimitReader(resp.Body, maxBytes+1))
		if err != nil {
			return nil, fmt.Errorf("download %s %s: %w", param, url, err)
		}
		if n > maxBytes {
			return nil, fmt.Errorf("download %s %s: larger than %d bytes", param, url, maxBytes)
		}
	case strings.HasPrefix(url, "s3://"):
		m := s3URL.FindStringSubmatch(url)
		if m == nil {
			return nil, fmt.Errorf("%s %s: not an s3://bucket/key path", param, url)
		}
		if o.S3 == nil {
			return nil, fmt.Errorf("%s %s: this agent has no S3 client", param, url)
		}
		if err := o.S3.Download(ctx, m[1], m[2], &buf, maxBytes); err != nil {
			return nil, fmt.Errorf("download %s: %w", param, err)
		}
	default:
		return nil, fmt.Errorf("%s %q: use an https:// URL or an s3://bucket/key path", param, url)
	}
	return buf.Bytes(), nil
}

// snapshotRequest is GetDeployablePatchSnapshotForInstance's input.
type snapshotRequest struct {
	InstanceID       string          `json:"InstanceId"`
	SnapshotID       string          `json:"SnapshotId"`
	BaselineOverride *patch.Baseline `json:"BaselineOverride,omitempty"`
}

// fetchSnapshot asks the api for the node's snapshot — of override when set, which the api checks
// against the node's operating system — and decodes it from its download URL (runcmd hands out data:
// URLs).
func fetchSnapshot(ctx context.Context, api API, instanceID, snapshotID string, override *patch.Baseline) (patch.Snapshot, error) {
	var out struct {
		SnapshotDownloadURL string `json:"SnapshotDownloadUrl"`
	}
	in := snapshotRequest{InstanceID: instanceID, SnapshotID: snapshotID, BaselineOverride: override}
	if err := api.Call(ctx, "GetDeployablePatchSnapshotForInstance", in, &out); err != nil {
		return patch.Snapshot{}, fmt.Errorf("get patch snapshot %s: %w", snapshotID, err)
	}
	const prefix = "data:application/json;base64,"
	body, ok := strings.CutPrefix(out.SnapshotDownloadURL, prefix)
	if !ok {
		return patch.Snapshot{}, fmt.Errorf("get patch snapshot %s: unsupported download URL scheme", snapshotID)
	}
	b, err := base64.StdEncoding.DecodeString(body)
	if err != nil {
		return patch.Snapshot{}, fmt.Errorf("decode patch snapshot %s: %w", snapshotID, err)
	}
	var snap patch.Snapshot
	if err := json.Unmarshal(b, &snap); err != nil {
		return patch.Snapshot{}, fmt.Errorf("decode patch snapshot %s: %w", snapshotID, err)
	}
	return snap, nil
}

func loadState(dir string) (persisted, error) {
	var st persisted
	b, err := os.ReadFile(filepath.Join(dir, stateFile))
	if errors.Is(err, fs.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return st, fmt.Errorf("read patch state: %w", err)
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return st, fmt.Errorf("decode patch state %s: %w", filepath.Join(dir, stateFile), err)
	}
	return st, nil
}

func saveState(dir string, st persisted) error {
	p := filepath.Join(dir, stateFile)
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return fmt.Errorf("write patch state: %w", err)
	}
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return fmt.Errorf("encode patch state: %w", err)
	}
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("write patch state: %w", err)
	}
	if err := os.Rename(tmp, p); err != nil {
		return fmt.Errorf("write patch state: %w", err)
	}
	return nil
}

func printSummary(w io.Writer, rep patch.Report) {
	s := rep.Summary
	fmt.Fprintf(w, "Patch %s with baseline %s (patch group %q), snapshot %s\n", s.Operation, s.BaselineID, s.PatchGroup, s.SnapshotID)
	fmt.Fprintf(w, "Installed: %d, InstalledOther: %d, InstalledPendingReboot: %d, InstalledRejected: %d, Missing: %d, Failed: %d, NotApplicable: %d\n",
		s.InstalledCount, s.InstalledOtherCount, s.InstalledPendingRebootCount, s.InstalledRejectedCount, s.MissingCount, s.FailedCount, s.NotApplicableCount)
	fmt.Fprintf(w, "Non-compliant: critical %d, security %d, other %d\n", s.CriticalNonCompliantCount, s.SecurityNonCompliantCount, s.OtherNonCompliantCount)
	for _, p := range rep.Patches {
		if !p.State.Compliant() {
			fmt.Fprintf(w, "  %-24s %-40s %s %s\n", p.State, p.Title, p.Classification, p.Severity)
		}
	}
}

// Report converts a run's report to the wire message (before signing).
func Report(commandID string, rep patch.Report) (runcmd.PatchReport, error) {
	var items []runcmd.ComplianceItem
	for _, it := range patch.ComplianceItems(rep) {
		items = append(items, runcmd.ComplianceItem{ID: it.ID, Title: it.Title, Severity: string(it.Severity), Status: it.Status, Details: it.Details})
	}
	gz, err := runcmd.EncodeComplianceItems(items)
	if err != nil {
		return runcmd.PatchReport{}, err
	}
	s := rep.Summary
	ex := rep.Execution()
	return runcmd.PatchReport{
		CommandID: commandID, InstanceID: s.InstanceID,
		State: runcmd.InstancePatchState{
			InstanceID: s.InstanceID, PatchGroup: s.PatchGroup, BaselineID: s.BaselineID, SnapshotID: s.SnapshotID,
			InstallOverrideList: s.InstallOverrideList, OwnerInformation: s.OwnerInformation,
			InstalledCount: s.InstalledCount, InstalledOtherCount: s.InstalledOtherCount,
			InstalledPendingRebootCount: s.InstalledPendingRebootCount, InstalledRejectedCount: s.InstalledRejectedCount,
			MissingCount: s.MissingCount, FailedCount: s.FailedCount, UnreportedNotApplicableCount: s.UnreportedNotApplicableCount,
			NotApplicableCount: s.NotApplicableCount, CriticalNonCompliantCount: s.CriticalNonCompliantCount,
			SecurityNonCompliantCount: s.SecurityNonCompliantCount, OtherNonCompliantCount: s.OtherNonCompliantCount,
			Operation: string(s.Operation), OperationStartTime: s.OperationStartTime, OperationEndTime: s.OperationEndTime,
			RebootOption: string(s.RebootOption), LastNoRebootInstallOperationTime: s.LastNoRebootInstallOperationTime,
		},
		Execution: runcmd.ComplianceExecution{ExecutionTime: ex.ExecutionTime, ExecutionID: ex.ExecutionID, ExecutionType: ex.ExecutionType},
		ItemsGzip: gz,
	}, nil
}

// maxMessageBytes keeps the report under SQS's 256 KiB message limit with room for the envelope.
const maxMessageBytes = 250 << 10

func sendReport(ctx context.Context, o Options, rep patch.Report) error {
	r, err := Report(o.CommandID, rep)
	if err != nil {
		return err
	}
	m := runcmd.ResultMessage{Kind: runcmd.KindPatchReport, PatchReport: &r}
	if o.Key != nil {
		if err := m.Sign(o.InstanceID, o.Key, o.Now()); err != nil {
			return err
		}
	}
	b, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("encode patch report: %w", err)
	}
	if len(b) > maxMessageBytes {
		return fmt.Errorf("patch report of %d patches is %d bytes, over SQS's message limit", len(rep.Patches), len(b))
	}
	if err := o.Outbox.Send(ctx, string(b)); err != nil {
		return fmt.Errorf("send patch report: %w", err)
	}
	return nil
}
