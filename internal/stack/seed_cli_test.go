package stack_test

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/runcmd/runcmd/internal/awstest"
	"github.com/runcmd/runcmd/internal/stack"
)

// TestSeedScenarioWithAWSCLI is the Run Command issue's check, with the AWS CLI: five nodes tagged
// Workload=Prod, a script that fails on two of them, rate control from the command line.
func TestSeedScenarioWithAWSCLI(t *testing.T) {
	s := startSystem(t, 5)
	aws := cli(t, s.endpoint)
	nodes := slices.Sorted(slices.Values(s.agents)) // the tag index hands nodes to dispatch in id order
	for _, id := range nodes {
		aws("add-tags-to-resource", "--resource-type", "ManagedInstance", "--resource-id", id, "--tags", "Key=Workload,Value=Prod")
	}
	script := fmt.Sprintf(`case "$AWS_SSM_INSTANCE_ID" in %s|%s) echo failing >&2; exit 1;; esac; echo ok`, nodes[0], nodes[1])
	params, err := json.Marshal(map[string][]string{"commands": {script}})
	if err != nil {
		t.Fatal(err)
	}

	run := func(maxConcurrency string) (command map[string]any, details map[string]string) {
		t.Helper()
		sent := aws("send-command", "--document-name", "AWS-RunShellScript", "--targets", "Key=tag:Workload,Values=Prod",
			"--parameters", string(params), "--max-concurrency", maxConcurrency, "--max-errors", "1")
		id, _ := sent["Command"].(map[string]any)["CommandId"].(string)
		if id == "" {
			t.Fatalf("send-command returned no CommandId: %v", sent)
		}
		s.waitCommand(t, id)
		command = aws("list-commands", "--command-id", id)["Commands"].([]any)[0].(map[string]any)
		details = map[string]string{}
		list := aws("list-command-invocations", "--command-id", id)
		for _, v := range list["CommandInvocations"].([]any) {
			inv := v.(map[string]any)
			details[inv["InstanceId"].(string)] = inv["StatusDetails"].(string)
		}
		return command, details
	}
	check := func(name string, command map[string]any, details map[string]string, want map[string]string) {
		t.Helper()
		if command["Status"] != "Failed" || command["StatusDetails"] != "Failed" {
			t.Errorf("%s: command %v/%v, want Failed/Failed", name, command["Status"], command["StatusDetails"])
		}
		if command["ErrorCount"] != float64(2) || command["CompletedCount"] != float64(5) || command["TargetCount"] != float64(5) {
			t.Errorf("%s: counts error %v completed %v target %v, want 2, 5, 5", name,
				command["ErrorCount"], command["CompletedCount"], command["TargetCount"])
		}
		for i, id := range nodes {
			if details[id] != want[id] {
				t.Errorf("%s: node %d (%s) %q, want %q", name, i, id, details[id], want[id])
			}
		}
	}

	// One at a time: the second failure passes MaxErrors 1, so the three nodes never sent to end
	// Terminated.
	command, details := run("1")
	check("max-concurrency 1", command, details, map[string]string{
		nodes[0]: "Failed", nodes[1]: "Failed", nodes[2]: "Terminated", nodes[3]: "Terminated", nodes[4]: "Terminated"})

	// 50% of 5 is 3 (rounded up). Slow start sends the first node alone; after its failure (1 error,
	// not past the threshold) the window opens to 3, so nodes 2-4 run together: node 2's failure
	// passes the threshold while 3 and 4 are already running, and they finish; only node 5 was unsent.
	command, details = run("50%")
	check("max-concurrency 50%", command, details, map[string]string{
		nodes[0]: "Failed", nodes[1]: "Failed", nodes[2]: "Success", nodes[3]: "Success", nodes[4]: "Terminated"})
}

// TestDeliveryTimeoutWithAWSCLI sends to a node that registered but whose agent never runs: once the
// total timeout has passed (--timeout-seconds plus the document's execution timeout, as SSM's
// ExpiresAfter) the sweep ends the invocation Delivery Timed Out, and the command with it.
func TestDeliveryTimeoutWithAWSCLI(t *testing.T) {
	s := startSystem(t, 0)
	aws := cli(t, s.endpoint)
	ids, err := stack.RegisterNodes(t.Context(), awstest.Config(t), s.endpoint, nil, []string{filepath.Join(t.TempDir(), "stopped")})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	sent := aws("send-command", "--document-name", "AWS-RunShellScript", "--instance-ids", ids[0],
		"--parameters", `{"commands":["echo never"],"executionTimeout":["5"]}`, "--timeout-seconds", "30")
	id := sent["Command"].(map[string]any)["CommandId"].(string)
	got := s.waitWithin(t, id, ids[0], 90*time.Second)
	s.waitCommand(t, id)
	if got.StatusDetails == nil || *got.StatusDetails != "DeliveryTimedOut" || string(got.Status) != "TimedOut" {
		t.Errorf("invocation %s/%v, want TimedOut/DeliveryTimedOut", got.Status, got.StatusDetails)
	}
	if waited := time.Since(start); waited < 35*time.Second {
		t.Errorf("timed out after %v, before --timeout-seconds 30 plus executionTimeout 5", waited)
	}
	command := aws("list-commands", "--command-id", id)["Commands"].([]any)[0].(map[string]any)
	if command["Status"] != "TimedOut" || command["StatusDetails"] != "DeliveryTimedOut" || command["DeliveryTimedOutCount"] != float64(1) {
		t.Errorf("command %v/%v (delivery timed out %v), want TimedOut/DeliveryTimedOut (1)",
			command["Status"], command["StatusDetails"], command["DeliveryTimedOutCount"])
	}
}
