package stsnode_test

import (
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/runcmd/runcmd"
	"github.com/runcmd/runcmd/internal/awstest"
	"github.com/runcmd/runcmd/internal/stsnode"
)

// TestIssueNodeCredentials assumes a node role on the emulator's STS and checks that the credentials
// are a session of that role named for the node.
func TestIssueNodeCredentials(t *testing.T) {
	t.Parallel()
	cfg := awstest.Config(t)
	const id = "mi-0123456789abcdef0"
	role := "arn:aws:iam::123456789012:role/" + awstest.Name("node")
	start := time.Now()
	got, err := stsnode.New(sts.NewFromConfig(cfg), role).IssueNodeCredentials(t.Context(), id, runcmd.NodeCredentialsLifetime)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(got.AccessKeyID, "ASIA") || got.SecretAccessKey == "" || got.SessionToken == "" {
		t.Errorf("credentials %q/%t/%t: want a temporary ASIA key with secret and token", got.AccessKeyID,
			got.SecretAccessKey != "", got.SessionToken != "")
	}
	if d := got.Expiration.Sub(start); d < 59*time.Minute || d > 61*time.Minute {
		t.Errorf("credentials expire in %v, want an hour", d)
	}

	// The credentials are the role's session named for the node.
	node := cfg.Copy()
	node.Credentials = credentials.NewStaticCredentialsProvider(got.AccessKeyID, got.SecretAccessKey, got.SessionToken)
	who, err := sts.NewFromConfig(node).GetCallerIdentity(t.Context(), &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatal(err)
	}
	roleName := role[strings.LastIndex(role, "/")+1:]
	if arn := aws.ToString(who.Arn); !strings.HasSuffix(arn, ":assumed-role/"+roleName+"/"+id) {
		t.Errorf("caller %s, want the assumed role %s with session %s", arn, roleName, id)
	}
}
