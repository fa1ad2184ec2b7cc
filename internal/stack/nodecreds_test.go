package stack_test

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/runcmd/runcmd"
	"github.com/runcmd/runcmd/agent/node"
	"github.com/runcmd/runcmd/internal/awstest"
	"github.com/runcmd/runcmd/internal/config"
	"github.com/runcmd/runcmd/internal/stack"
)

// startHostWithNodeRole is startHost for a deployment with a node role: the api issues node credentials
// through the emulator's STS. moto assumes any role ARN without checking that the role exists.
func startHostWithNodeRole(t *testing.T) *host {
	t.Helper()
	res := config.Names(awstest.Name("creds"))
	res.NodeRoleARN = "arn:aws:iam::123456789012:role/" + awstest.Name("node")
	return startHostWith(t, res)
}

// keyRecorder records the access key id that signed each request.
type keyRecorder struct {
	next aws.HTTPClient
	mu   sync.Mutex
	keys map[string]int
}

func (r *keyRecorder) Do(req *http.Request) (*http.Response, error) {
	// Authorization: AWS4-HMAC-SHA256 Credential=<key id>/<date>/<region>/<service>/aws4_request, ...
	_, cred, _ := strings.Cut(req.Header.Get("Authorization"), "Credential=")
	key, _, _ := strings.Cut(cred, "/")
	r.mu.Lock()
	r.keys[key]++
	r.mu.Unlock()
	return r.next.Do(req)
}

func (r *keyRecorder) seen() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]int{}
	for k, v := range r.keys {
		out[k] = v
	}
	return out
}

// credentialsRequest asks the api for a node's credentials as the agent does, signed with key at at.
func credentialsRequest(t *testing.T, endpoint, id string, keyPEM []byte, at time.Time) (*http.Response, map[string]any) {
	t.Helper()
	key, err := node.ParsePrivateKey(keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	at = at.UTC().Truncate(time.Millisecond)
	body, _ := json.Marshal(map[string]any{"InstanceId": id, "SignedAt": float64(at.UnixMilli()) / 1000,
		"Signature": ed25519.Sign(key, runcmd.CredentialsProof(id, at))})
	req, _ := http.NewRequest(http.MethodPost, endpoint+"/", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", "AmazonSSM.GetManagedInstanceCredentials")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return resp, out
}

// TestNodeCredentialsFromAPI: with a node role configured, a registered node gets STS credentials for
// its own id from the api, a replayed request gets nothing, and an agent started with
// --credentials api runs a command with SQS clients signed by those credentials, not the ambient ones.
func TestNodeCredentialsFromAPI(t *testing.T) {
	h := startHostWithNodeRole(t)
	ctx := h.ctx
	dir := t.TempDir()
	ids, err := stack.RegisterNodes(ctx, h.cfg, h.endpoint, nil, []string{dir})
	if err != nil {
		t.Fatal(err)
	}
	id := ids[0]
	keyPEM, err := os.ReadFile(filepath.Join(dir, "node.key"))
	if err != nil {
		t.Fatal(err)
	}

	at := time.Now()
	resp, got := credentialsRequest(t, h.endpoint, id, keyPEM, at)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GetManagedInstanceCredentials: %d %v", resp.StatusCode, got)
	}
	keyID, _ := got["AccessKeyId"].(string)
	secret, _ := got["SecretAccessKey"].(string)
	token, _ := got["SessionToken"].(string)
	if exp, _ := got["Expiration"].(float64); !strings.HasPrefix(keyID, "ASIA") || secret == "" || token == "" ||
		time.Unix(int64(exp), 0).Before(at.Add(50*time.Minute)) {
		t.Fatalf("credentials %q (secret %t, token %t, expiration %v): want an hour of ASIA credentials", keyID, secret != "", token != "", got["Expiration"])
	}
	nodeCfg := h.cfg.Copy()
	nodeCfg.Credentials = credentials.NewStaticCredentialsProvider(keyID, secret, token)
	who, err := sts.NewFromConfig(nodeCfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatal(err)
	}
	role := h.res.NodeRoleARN[strings.LastIndex(h.res.NodeRoleARN, "/")+1:]
	if arn := aws.ToString(who.Arn); !strings.HasSuffix(arn, ":assumed-role/"+role+"/"+id) {
		t.Errorf("the credentials are %s, want the node role's session named %s", arn, id)
	}
	if resp, got := credentialsRequest(t, h.endpoint, id, keyPEM, at); resp.StatusCode != http.StatusBadRequest ||
		got["__type"] != "AccessDeniedException" {
		t.Errorf("replayed request: %d %v, want AccessDeniedException", resp.StatusCode, got)
	}

	// The agent with api credentials: every request it makes to SQS and S3 is signed with an ASIA key.
	rec := &keyRecorder{next: h.cfg.HTTPClient, keys: map[string]int{}}
	agentCfg := h.cfg.Copy()
	agentCfg.HTTPClient = rec
	a, err := node.NewAWS(ctx, agentCfg, node.Config{StateDir: dir, Logger: h.log, Grace: time.Second},
		node.NamesFrom(h.res), node.WithCredentials(node.CredentialsAPI))
	if err != nil {
		t.Fatal(err)
	}
	h.wg.Go(func() { _ = a.Run(ctx) })
	sent, err := h.client.SendCommand(ctx, &ssm.SendCommandInput{DocumentName: aws.String("AWS-RunShellScript"),
		InstanceIds: []string{id}, Parameters: map[string][]string{"commands": {"echo scoped"}}})
	if err != nil {
		t.Fatal(err)
	}
	s := &trustSystem{st: h.st, endpoint: h.endpoint, client: h.client, res: h.res}
	out := s.waitInvocation(t, aws.ToString(sent.Command.CommandId), id, terminal)
	if out.Status != types.CommandInvocationStatusSuccess || strings.TrimSpace(aws.ToString(out.StandardOutputContent)) != "scoped" {
		t.Errorf("invocation %s: %q", out.Status, aws.ToString(out.StandardOutputContent))
	}
	keys := rec.seen()
	if len(keys) == 0 {
		t.Fatal("the agent made no AWS requests through its configuration")
	}
	for k, n := range keys {
		if !strings.HasPrefix(k, "ASIA") {
			t.Errorf("%d agent requests signed with %q, want only the node's ASIA credentials", n, k)
		}
	}

	// Every issue is on the audit trail, without the credentials.
	page, err := h.st.Audit.ListAudit(ctx, runcmd.AuditQuery{Day: time.Now(), Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	var allowed, denied int
	for _, e := range page.Events {
		if e.Action != "GetManagedInstanceCredentials" || e.Resource != id {
			continue
		}
		if strings.Contains(e.Reason, keyID) || strings.Contains(e.Reason, secret) {
			t.Errorf("audit holds credentials: %+v", e)
		}
		switch e.Outcome {
		case runcmd.AuditAllowed:
			allowed++
		case runcmd.AuditDenied:
			denied++
		}
	}
	if allowed < 2 || denied != 1 {
		t.Errorf("audit: %d allowed, %d denied; want the test's and the agent's issues and the one replay", allowed, denied)
	}
}
