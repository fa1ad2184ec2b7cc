package stack_test

import (
	"fmt"
	"strings"
	"testing"
)

// TestPatchWalkthroughWithAWSCLI is the check, typed as an operator types it: scan the Prod
// nodes with the AWS CLI one at a time with an error threshold of 1, find the missing critical patch in
// Compliance and Patch Manager's views, install, and find the node compliant with the patch Installed.
func TestPatchWalkthroughWithAWSCLI(t *testing.T) {
	f := startPatchFleet(t, "pcli")
	aws := cli(t, f.endpoint)
	critical, clean := f.ids[0], f.ids[1]
	run := func(op string) string {
		t.Helper()
		sent := aws("send-command", "--document-name", "AWS-RunPatchBaseline", "--targets", "Key=tag:Workload,Values=Prod",
			"--parameters", "Operation="+op, "--max-concurrency", "1", "--max-errors", "1")
		cmd, _ := sent["Command"].(map[string]any)
		id, _ := cmd["CommandId"].(string)
		if id == "" || cmd["MaxConcurrency"] != "1" || cmd["MaxErrors"] != "1" {
			t.Fatalf("send-command %s: %v", op, sent)
		}
		f.waitSuccess(t, id)
		return id
	}
	// field digs a value out of the CLI's JSON: keys for objects, ints for lists.
	field := func(v any, path ...any) any {
		t.Helper()
		for _, p := range path {
			switch k := p.(type) {
			case string:
				m, _ := v.(map[string]any)
				v = m[k]
			case int:
				l, _ := v.([]any)
				if k >= len(l) {
					return nil
				}
				v = l[k]
			}
		}
		return v
	}
	patchFilter := "Key=ComplianceType,Values=Patch,Type=EQUAL"
	// summaries returns "<compliant> <non-compliant> <critical non-compliant>" of the Patch type.
	summaries := func() string {
		t.Helper()
		out := aws("list-compliance-summaries", "--filters", patchFilter)
		items, _ := out["ComplianceSummaryItems"].([]any)
		if len(items) != 1 || field(items, 0, "ComplianceType") != "Patch" {
			t.Fatalf("list-compliance-summaries: %v", out)
		}
		return fmt.Sprint(field(items, 0, "CompliantSummary", "CompliantCount"), " ",
			field(items, 0, "NonCompliantSummary", "NonCompliantCount"), " ",
			field(items, 0, "NonCompliantSummary", "SeveritySummary", "CriticalCount"))
	}
	// resources returns each node's Patch status and overall severity.
	resources := func() map[string]string {
		t.Helper()
		out := aws("list-resource-compliance-summaries", "--filters", patchFilter)
		got := map[string]string{}
		items, _ := out["ResourceComplianceSummaryItems"].([]any)
		for i := range items {
			id, _ := field(items, i, "ResourceId").(string)
			got[id] = fmt.Sprint(field(items, i, "Status"), " ", field(items, i, "OverallSeverity"))
		}
		return got
	}
	// states returns each node's "<operation> installed=<n> missing=<n> critical=<n>".
	states := func() map[string]string {
		t.Helper()
		out := aws("describe-instance-patch-states", "--instance-ids", critical, clean)
		got := map[string]string{}
		list, _ := out["InstancePatchStates"].([]any)
		for i := range list {
			id, _ := field(list, i, "InstanceId").(string)
			got[id] = fmt.Sprint(field(list, i, "Operation"), " installed=", field(list, i, "InstalledCount"), " missing=",
				field(list, i, "MissingCount"), " critical=", field(list, i, "CriticalNonCompliantCount"), " baseline=",
				field(list, i, "BaselineId") == f.baseline)
		}
		return got
	}
	// openssl returns the state of the node's openssl patch, as describe-instance-patches filters it.
	openssl := func(filter string) string {
		t.Helper()
		out := aws("describe-instance-patches", "--instance-id", critical, "--filters", filter)
		list, _ := out["Patches"].([]any)
		if len(list) != 1 || field(list, 0, "KBId") != "openssl.x86_64" {
			t.Fatalf("describe-instance-patches --filters %s: %v", filter, out)
		}
		return fmt.Sprint(field(list, 0, "State"), " ", field(list, 0, "Severity"), " ", field(list, 0, "Classification"))
	}
	check := func(what string, want, got any) {
		t.Helper()
		if fmt.Sprint(want) != fmt.Sprint(got) {
			t.Errorf("%s: got %v, want %v", what, got, want)
		}
	}

	scan := run("Scan")
	// The Windows and macOS steps are skipped on Linux with SSM's message.
	for _, step := range []string{"PatchWindows", "PatchMacOS"} {
		inv := aws("get-command-invocation", "--command-id", scan, "--instance-id", critical, "--plugin-name", step)
		if out, _ := inv["StandardOutputContent"].(string); !strings.Contains(out, skipMessage(step)) {
			t.Errorf("get-command-invocation --plugin-name %s: output %q, want %q", step, out, skipMessage(step))
		}
	}
	if inv := aws("get-command-invocation", "--command-id", scan, "--instance-id", critical, "--plugin-name", "PatchLinux"); inv["Status"] != "Success" {
		t.Errorf("PatchLinux step of the Scan: %v", inv)
	}
	f.waitCompliance(t, 1, 1, 1) // the reports reach the api asynchronously
	check("list-compliance-summaries after Scan", "1 1 1", summaries())
	check("list-resource-compliance-summaries after Scan",
		map[string]string{critical: "NON_COMPLIANT CRITICAL", clean: "COMPLIANT UNSPECIFIED"}, resources())
	check("describe-instance-patch-states after Scan", map[string]string{
		critical: "Scan installed=0 missing=1 critical=1 baseline=true", clean: "Scan installed=0 missing=0 critical=0 baseline=true"}, states())
	check("describe-instance-patches State=Missing", "MISSING Critical Security", openssl("Key=State,Values=Missing"))

	run("Install")
	f.waitCompliance(t, 2, 0, 0)
	check("list-compliance-summaries after Install", "2 0 0", summaries())
	check("list-resource-compliance-summaries after Install",
		map[string]string{critical: "COMPLIANT CRITICAL", clean: "COMPLIANT UNSPECIFIED"}, resources())
	check("describe-instance-patch-states after Install", map[string]string{
		critical: "Install installed=1 missing=0 critical=0 baseline=true", clean: "Install installed=0 missing=0 critical=0 baseline=true"}, states())
	check("describe-instance-patches KBId=openssl.x86_64", "INSTALLED Critical Security", openssl("Key=KBId,Values=openssl.x86_64"))
}
