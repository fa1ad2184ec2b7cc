package node

import (
	"os/exec"
	"strings"
	"testing"
)

// TestAgentImports enforces that the agent never links DynamoDB, SNS or Lambda code: it runs on every
// node, and those belong to the service (DESIGN.md, the agent issue).
func TestAgentImports(t *testing.T) {
	t.Parallel()
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go command not on PATH")
	}
	out, err := exec.Command(gobin, "list", "-deps", "github.com/runcmd/runcmd/agent/...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	forbidden := []string{
		"github.com/aws/aws-sdk-go-v2/service/dynamodb",
		"github.com/aws/aws-sdk-go-v2/service/sns",
		"github.com/aws/aws-lambda-go",
		"github.com/runcmd/runcmd/internal/dynamo",
		"github.com/runcmd/runcmd/internal/snsnote",
	}
	deps := strings.Fields(string(out))
	if len(deps) < 10 {
		t.Fatalf("go list -deps returned only %q", deps)
	}
	for _, d := range deps {
		for _, f := range forbidden {
			if d == f || strings.HasPrefix(d, f+"/") {
				t.Errorf("the agent depends on %s", d)
			}
		}
	}
}
