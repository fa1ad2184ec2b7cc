package patchrun

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/runcmd/runcmd/agent/internal/upload"
	"github.com/runcmd/runcmd/internal/awstest"
	"github.com/runcmd/runcmd/patch"
)

// objects is an in-memory S3: "bucket/key" to content.
type objects map[string]string

func (o objects) Download(ctx context.Context, bucket, key string, w io.Writer, maxBytes int64) error {
	body, ok := o[bucket+"/"+key]
	if !ok {
		return fmt.Errorf("get object s3://%s/%s: NoSuchKey", bucket, key)
	}
	if int64(len(body)) > maxBytes {
		return fmt.Errorf("get object s3://%s/%s: larger than %d bytes", bucket, key, maxBytes)
	}
	_, err := io.WriteString(w, body)
	return err
}

// overrideFile approves, on Amazon Linux 2023, every update of curl (as HIGH) and nothing else; the
// WINDOWS entry is there to be passed over.
const overrideFile = `[
  {"OperatingSystem": "WINDOWS", "ApprovalRules": {"PatchRules": [{"PatchFilterGroup": {"PatchFilters": [
    {"Key": "CLASSIFICATION", "Values": ["SecurityUpdates"]}]}, "ApproveAfterDays": 7}]}},
  {"BaselineId": "pb-0123456789abcdef0", "Name": "saved-from-get-patch-baseline", "OperatingSystem": "AMAZON_LINUX_2023",
   "ApprovedPatches": ["curl"], "ApprovedPatchesComplianceLevel": "HIGH", "ApprovedPatchesEnableNonSecurity": true,
   "PatchGroups": ["prod"], "CreatedDate": 1740830400.0}
]`

// twoUpdates is an inventory with a critical security update of openssl and a bugfix of curl missing.
const twoUpdates = `{"product": "Demo", "packages": [
  {"name": "openssl", "arch": "x86_64", "installed": {"version": "3.0.1-1"},
   "updates": [{"version": "3.0.2-1", "classification": "Security", "severity": "Critical", "releaseDate": "2025-01-02T00:00:00Z"}]},
  {"name": "curl", "arch": "x86_64", "installed": {"version": "8.0.0-1"},
   "updates": [{"version": "8.0.1-1", "classification": "Bugfix", "releaseDate": "2025-01-02T00:00:00Z"}]}]}`

// overrideSetup is setup with the two-update inventory, the node's operating system set and a record
// of the snapshot requests.
func overrideSetup(t *testing.T) (Options, *outbox, *[]map[string]any) {
	t.Helper()
	o, out, _, inv := setup(t)
	if err := os.WriteFile(inv, []byte(twoUpdates), 0o600); err != nil {
		t.Fatal(err)
	}
	reqs := &[]map[string]any{}
	api := o.API.(snapshotAPI)
	api.requests, api.osys = reqs, patch.AmazonLinux2023
	o.API, o.OperatingSystem = api, patch.AmazonLinux2023
	return o, out, reqs
}

func stdout(o Options) string { return o.Stdout.(*bytes.Buffer).String() }

// With a BaselineOverride the node's entry replaces its baseline, and — as on SSM — the results are
// the step output only: nothing is reported to Patch Manager or Compliance.
func TestBaselineOverrideFromS3(t *testing.T) {
	t.Parallel()
	o, out, reqs := overrideSetup(t)
	o.S3 = objects{"patching/overrides/al2023.json": overrideFile}
	o.Operation, o.BaselineOverride = "Scan", "s3://patching/overrides/al2023.json"
	code, err := Run(t.Context(), o)
	if err != nil || code != ExitOK {
		t.Fatalf("Scan with BaselineOverride: exit %d, %v", code, err)
	}
	if len(*reqs) != 1 {
		t.Fatalf("%d snapshot requests, want 1", len(*reqs))
	}
	sent, _ := (*reqs)[0]["BaselineOverride"].(map[string]any)
	if sent["OperatingSystem"] != "AMAZON_LINUX_2023" || sent["ApprovedPatchesComplianceLevel"] != "HIGH" || sent["BaselineId"] != nil || sent["Name"] != nil {
		t.Errorf("BaselineOverride sent to the api: %v; want the AL2023 entry without id or name", sent)
	}
	// curl is approved by the override, openssl (approved by the node's own baseline) is not.
	text := stdout(o)
	if !strings.Contains(text, "Missing: 1") || !strings.Contains(text, "curl.x86_64") || strings.Contains(text, "openssl.x86_64") ||
		!strings.Contains(text, "BaselineOverride in use") {
		t.Errorf("output:\n%s", text)
	}
	if len(out.bodies) != 0 {
		t.Errorf("a run with a BaselineOverride sent %d patch reports, want none", len(out.bodies))
	}
}

func TestBaselineOverrideFromHTTPSInstalls(t *testing.T) {
	t.Parallel()
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/override.json" {
			http.NotFound(w, r)
			return
		}
		io.WriteString(w, overrideFile)
	}))
	t.Cleanup(srv.Close)
	o, out, _ := overrideSetup(t)
	o.HTTP = srv.Client()
	o.Operation, o.RebootOption, o.BaselineOverride = "Install", "NoReboot", srv.URL+"/override.json"
	code, err := Run(t.Context(), o)
	if err != nil || code != ExitOK {
		t.Fatalf("Install with BaselineOverride: exit %d, %v", code, err)
	}
	if text := stdout(o); !strings.Contains(text, "InstalledPendingReboot: 1") || !strings.Contains(text, "Missing: 0") {
		t.Errorf("output:\n%s", text)
	}
	if len(out.bodies) != 0 {
		t.Errorf("sent %d patch reports, want none", len(out.bodies))
	}
}

// Each way an override can fail stops the step before it patches, with the payload's exit code and a
// message that says what to fix.
func TestOverrideFailures(t *testing.T) {
	t.Parallel()
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/big.json":
			io.WriteString(w, "["+strings.Repeat(" ", patch.MaxBaselineOverrideSize)+"]")
		case "/object.json":
			io.WriteString(w, `{"OperatingSystem": "AMAZON_LINUX_2023"}`)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	bucket := objects{
		"b/none.json":    `[{"OperatingSystem": "UBUNTU"}]`,
		"b/two.json":     `[{"OperatingSystem": "AMAZON_LINUX_2023"}, {"OperatingSystem": "AMAZON_LINUX_2023"}]`,
		"b/invalid.json": `[{"OperatingSystem": "AMAZON_LINUX_2023", "ApprovalRules": {"PatchRules": [{"PatchFilterGroup": {"PatchFilters": [{"Key": "PRIORITY", "Values": ["Required"]}]}, "ApproveAfterDays": 0}]}}]`,
		"b/yaml.json":    "- OperatingSystem: AMAZON_LINUX_2023\n",
		"b/list.yaml":    "patches:\n  - title: no id\n",
	}
	tests := []struct {
		name    string
		change  func(o *Options)
		code    int
		message string
	}{
		{"both overrides", func(o *Options) { o.BaselineOverride, o.InstallOverrideList = "s3://b/two.json", "s3://b/list.yaml" },
			ExitBothOverrides, "cannot be used together"},
		{"node OS without baselines", func(o *Options) { o.BaselineOverride, o.OperatingSystem = "s3://b/none.json", "" },
			ExitBaselineOverrideUnsupportedOS, "no baselines for this node's operating system"},
		{"missing object", func(o *Options) { o.BaselineOverride = "s3://b/absent.json" }, ExitBaselineOverrideDownload, "NoSuchKey"},
		{"no S3 client", func(o *Options) { o.BaselineOverride, o.S3 = "s3://b/none.json", nil }, ExitBaselineOverrideDownload, "no S3 client"},
		{"bucket only", func(o *Options) { o.BaselineOverride = "s3://b/" }, ExitBaselineOverrideDownload, "not an s3://bucket/key path"},
		{"local path", func(o *Options) { o.BaselineOverride = "/etc/passwd" }, ExitBaselineOverrideDownload, "use an https:// URL or an s3://bucket/key path"},
		{"plain http", func(o *Options) { o.BaselineOverride = "http://example.com/o.json" }, ExitBaselineOverrideDownload, "use an https://"},
		{"HTTP 404", func(o *Options) { o.BaselineOverride = srv.URL + "/absent.json" }, ExitBaselineOverrideDownload, "HTTP 404"},
		{"too big", func(o *Options) { o.BaselineOverride = srv.URL + "/big.json" }, ExitBaselineOverrideDownload, "larger than"},
		{"an object, not a list", func(o *Options) { o.BaselineOverride = srv.URL + "/object.json" }, ExitBaselineOverrideInvalid, "not a JSON array"},
		{"not JSON", func(o *Options) { o.BaselineOverride = "s3://b/yaml.json" }, ExitBaselineOverrideInvalid, "not a JSON array of baselines"},
		{"no entry for the node", func(o *Options) { o.BaselineOverride = "s3://b/none.json" }, ExitBaselineOverrideMissingOS, "no baseline for operating system AMAZON_LINUX_2023"},
		{"two entries for the node", func(o *Options) { o.BaselineOverride = "s3://b/two.json" }, ExitBaselineOverrideMultipleForOS, "2 baselines"},
		{"invalid entry", func(o *Options) { o.BaselineOverride = "s3://b/invalid.json" }, ExitBaselineOverrideInvalid, "PRIORITY"},
		{"install list missing", func(o *Options) { o.InstallOverrideList = "s3://b/absent.yaml" }, ExitError, "download InstallOverrideList"},
		{"install list invalid", func(o *Options) { o.InstallOverrideList = "s3://b/list.yaml" }, ExitError, "has no id"},
		{"install list local path", func(o *Options) { o.InstallOverrideList = "file:///tmp/list.yaml" }, ExitError, "use an https:// URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			o, out, reqs := overrideSetup(t)
			o.HTTP, o.S3, o.Operation = srv.Client(), bucket, "Install"
			tt.change(&o)
			code, err := Run(t.Context(), o)
			if code != tt.code || err == nil || !strings.Contains(err.Error(), tt.message) {
				t.Fatalf("exit %d, %v; want exit %d and an error containing %q", code, err, tt.code, tt.message)
			}
			if len(out.bodies) != 0 || strings.Contains(stdout(o), "Installed:") {
				t.Errorf("the step patched or reported anyway (%d requests, %d reports):\n%s", len(*reqs), len(out.bodies), stdout(o))
			}
		})
	}
}

// InstallOverrideList from S3 decides what Install installs; the summary names the list.
func TestInstallOverrideListFromS3(t *testing.T) {
	t.Parallel()
	o, out, pub, _ := setup(t)
	inv := filepath.Join(o.StateDir, "inventory.json")
	if err := os.WriteFile(inv, []byte(twoUpdates), 0o600); err != nil {
		t.Fatal(err)
	}
	const url = "s3://patching/lists/curl-only.yaml"
	o.S3 = objects{"patching/lists/curl-only.yaml": "patches:\n  - id: 'curl.x86_64'\n    title: 'curl.x86_64:8.0.1-1'\n"}
	o.Operation, o.RebootOption, o.InstallOverrideList = "Install", "NoReboot", url
	if code, err := Run(t.Context(), o); err != nil || code != ExitOK {
		t.Fatalf("Install: exit %d, %v", code, err)
	}
	rep, items := lastReport(t, out, pub)
	if rep.State.InstallOverrideList != url || rep.State.MissingCount != 1 {
		t.Errorf("state = %+v, want openssl still missing and the list recorded", rep.State)
	}
	states := map[string]string{}
	for _, it := range items {
		states[it.ID] = it.Details["PatchState"]
	}
	// With NoReboot what the run installed waits for a reboot, whether or not the baseline approves it.
	if want := map[string]string{"curl.x86_64": "InstalledPendingReboot", "openssl.x86_64": "Missing"}; !maps.Equal(want, states) {
		t.Errorf("patch states after installing the override list: %v, want %v", states, want)
	}
	// Scan ignores the list: a bad one does not fail it.
	o.Operation, o.InstallOverrideList = "Scan", "s3://patching/lists/absent.yaml"
	if code, err := Run(t.Context(), o); err != nil || code != ExitOK {
		t.Errorf("Scan with an InstallOverrideList that cannot be fetched: exit %d, %v", code, err)
	}
}

// The agent's S3 adapter against the emulator: a BaselineOverride in a real bucket.
func TestBaselineOverrideFromEmulatorS3(t *testing.T) {
	cfg := awstest.Config(t)
	ctx := t.Context()
	client := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })
	bucket := awstest.Name("pbo")
	if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}
	const key = "overrides/prod/baselines.json"
	t.Cleanup(func() {
		_, _ = client.DeleteObject(context.Background(), &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
		_, _ = client.DeleteBucket(context.Background(), &s3.DeleteBucketInput{Bucket: aws.String(bucket)})
	})
	if _, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key),
		Body: strings.NewReader(overrideFile)}); err != nil {
		t.Fatal(err)
	}
	o, out, reqs := overrideSetup(t)
	o.S3 = upload.New(client)
	o.Operation, o.BaselineOverride = "Scan", "s3://"+bucket+"/"+key
	code, err := Run(ctx, o)
	if err != nil || code != ExitOK {
		t.Fatalf("Scan with a BaselineOverride in S3: exit %d, %v", code, err)
	}
	if len(*reqs) != 1 || (*reqs)[0]["BaselineOverride"] == nil || len(out.bodies) != 0 || !strings.Contains(stdout(o), "curl.x86_64") {
		t.Errorf("requests %v, %d reports, output:\n%s", *reqs, len(out.bodies), stdout(o))
	}
	o.BaselineOverride = "s3://" + bucket + "/overrides/absent.json"
	if code, err := Run(ctx, o); code != ExitBaselineOverrideDownload || err == nil {
		t.Errorf("missing object: exit %d, %v; want %d", code, err, ExitBaselineOverrideDownload)
	}
}
