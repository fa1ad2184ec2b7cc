package stack_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/runcmd/runcmd/agent/node"
	"github.com/runcmd/runcmd/internal/awstest"
	"github.com/runcmd/runcmd/internal/config"
	"github.com/runcmd/runcmd/internal/provision"
	"github.com/runcmd/runcmd/internal/stack"
)

// system is the whole of runcmd on the emulator: provisioned resources under a unique prefix, the four
// functions hosted as `runcmd dev` hosts them, real agents, and aws-sdk-go-v2's own ssm client.
type system struct {
	endpoint string
	client   *ssm.Client
	agents   []string
}

// host is the local stack on the emulator under a unique prefix: provisioned resources and the four
// functions hosted as `runcmd dev` hosts them. Everything started on wg stops when the test ends.
type host struct {
	ctx      context.Context
	cfg      aws.Config
	res      config.Resources
	st       *stack.Stack
	endpoint string
	client   *ssm.Client
	log      *slog.Logger
	wg       sync.WaitGroup
}

func startHost(t *testing.T, name string) *host {
	t.Helper()
	return startHostWith(t, config.Names(awstest.Name(name)))
}

// startHostWith is startHost for resources the caller has named and configured.
func startHostWith(t *testing.T, res config.Resources) *host {
	t.Helper()
	cfg := awstest.Config(t)
	ctx, cancel := context.WithCancel(context.Background())
	h := &host{ctx: ctx, cfg: cfg, res: res, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	t.Cleanup(func() { cancel(); h.wg.Wait() })
	if _, err := provision.Run(ctx, cfg, h.res); err != nil {
		t.Fatalf("provision: %v", err)
	}
	st, err := stack.New(ctx, cfg, h.res, h.log)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h.wg.Go(func() {
		if err := st.RunDev(ctx, stack.DevOptions{Listener: ln, SweepInterval: time.Second, Pollers: 2}, h.log); err != nil {
			t.Errorf("dev host: %v", err)
		}
	})
	h.st, h.endpoint = st, "http://"+ln.Addr().String()
	h.client = ssm.NewFromConfig(cfg, func(o *ssm.Options) { o.BaseEndpoint = aws.String(h.endpoint) })
	return h
}

func startSystem(t *testing.T, agents int) *system {
	t.Helper()
	h := startHost(t, "e2e")
	s := &system{endpoint: h.endpoint, client: h.client}
	// Agents register the way operators register nodes: an activation through the api, then
	// runcmd-agent register's code path.
	dirs := make([]string, agents)
	for i := range dirs {
		dirs[i] = filepath.Join(t.TempDir(), fmt.Sprint(i))
	}
	if _, err := stack.RegisterNodes(h.ctx, h.cfg, s.endpoint, nil, dirs); err != nil {
		t.Fatal(err)
	}
	for i := range agents {
		a, err := node.NewAWS(h.ctx, h.cfg, node.Config{StateDir: dirs[i], Logger: h.log, Grace: time.Second},
			node.NamesFrom(h.res))
		if err != nil {
			t.Fatal(err)
		}
		s.agents = append(s.agents, a.InstanceID())
		h.wg.Go(func() { _ = a.Run(h.ctx) })
	}
	s.waitOnline(t)
	return s
}

func (s *system) waitOnline(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, err := s.client.DescribeInstanceInformation(context.Background(), &ssm.DescribeInstanceInformationInput{
			Filters: []types.InstanceInformationStringFilter{{Key: aws.String("InstanceIds"), Values: s.agents}},
		})
		// Registration lists a node at once; its first heartbeat makes it Online with its platform.
		online := 0
		if err == nil {
			for _, info := range out.InstanceInformationList {
				if info.PingStatus == types.PingStatusOnline && info.PlatformType == types.PlatformTypeLinux {
					online++
				}
			}
		}
		if online == len(s.agents) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("agents did not come Online as Linux nodes: %d of %d (err %v)", online, len(s.agents), err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// wait polls GetCommandInvocation until the invocation has finished.
func (s *system) wait(t *testing.T, commandID, instanceID string) *ssm.GetCommandInvocationOutput {
	t.Helper()
	return s.waitWithin(t, commandID, instanceID, time.Minute)
}

// waitWithin is wait with a deadline of its own.
func (s *system) waitWithin(t *testing.T, commandID, instanceID string, within time.Duration) *ssm.GetCommandInvocationOutput {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		out, err := s.client.GetCommandInvocation(context.Background(), &ssm.GetCommandInvocationInput{
			CommandId: aws.String(commandID), InstanceId: aws.String(instanceID),
		})
		if err != nil {
			t.Fatalf("GetCommandInvocation %s/%s: %v", commandID, instanceID, err)
		}
		switch out.Status {
		case types.CommandInvocationStatusPending, types.CommandInvocationStatusInProgress, types.CommandInvocationStatusDelayed,
			types.CommandInvocationStatusCancelling:
		default:
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("invocation %s/%s still %s", commandID, instanceID, out.Status)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (s *system) waitCommand(t *testing.T, commandID string) types.Command {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		out, err := s.client.ListCommands(context.Background(), &ssm.ListCommandsInput{CommandId: aws.String(commandID)})
		if err != nil {
			t.Fatalf("ListCommands %s: %v", commandID, err)
		}
		if len(out.Commands) != 1 {
			t.Fatalf("ListCommands %s: %d commands, want 1", commandID, len(out.Commands))
		}
		c := out.Commands[0]
		if c.Status != types.CommandStatusPending && c.Status != types.CommandStatusInProgress && c.Status != types.CommandStatusCancelling {
			return c
		}
		if time.Now().After(deadline) {
			t.Fatalf("command %s still %s", commandID, c.Status)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestEndToEndWithSDK(t *testing.T) {
	s := startSystem(t, 2)
	ctx := context.Background()

	t.Run("success on two nodes", func(t *testing.T) {
		sent, err := s.client.SendCommand(ctx, &ssm.SendCommandInput{
			DocumentName: aws.String("AWS-RunShellScript"),
			InstanceIds:  s.agents,
			Parameters:   map[string][]string{"commands": {"echo hi", "echo oops >&2"}},
		})
		if err != nil {
			t.Fatal(err)
		}
		id := aws.ToString(sent.Command.CommandId)
		if sent.Command.Status != types.CommandStatusPending || sent.Command.TargetCount != 2 {
			t.Errorf("SendCommand: status %s target count %d, want Pending 2", sent.Command.Status, sent.Command.TargetCount)
		}
		for _, n := range s.agents {
			out := s.wait(t, id, n)
			if out.Status != types.CommandInvocationStatusSuccess || out.ResponseCode != 0 {
				t.Errorf("%s: status %s code %d, want Success 0", n, out.Status, out.ResponseCode)
			}
			if got := aws.ToString(out.StandardOutputContent); got != "hi\n" {
				t.Errorf("%s: stdout %q, want %q", n, got, "hi\n")
			}
			if got := aws.ToString(out.StandardErrorContent); got != "oops\n" {
				t.Errorf("%s: stderr %q, want %q", n, got, "oops\n")
			}
			if aws.ToString(out.ExecutionStartDateTime) == "" || aws.ToString(out.ExecutionElapsedTime) == "" {
				t.Errorf("%s: execution times missing: %+v", n, out)
			}
		}
		c := s.waitCommand(t, id)
		if c.Status != types.CommandStatusSuccess || c.CompletedCount != 2 || c.ErrorCount != 0 {
			t.Errorf("command: status %s completed %d errors %d, want Success 2 0", c.Status, c.CompletedCount, c.ErrorCount)
		}
		inv, err := s.client.ListCommandInvocations(ctx, &ssm.ListCommandInvocationsInput{CommandId: aws.String(id), Details: true})
		if err != nil {
			t.Fatal(err)
		}
		if len(inv.CommandInvocations) != 2 {
			t.Fatalf("ListCommandInvocations: %d invocations, want 2", len(inv.CommandInvocations))
		}
		for _, i := range inv.CommandInvocations {
			if len(i.CommandPlugins) != 1 || aws.ToString(i.CommandPlugins[0].Output) != "hi\n\n----------ERROR-------\noops\n" {
				t.Errorf("plugins of %s: %+v", aws.ToString(i.InstanceId), i.CommandPlugins)
			}
		}
	})

	t.Run("failing script", func(t *testing.T) {
		sent, err := s.client.SendCommand(ctx, &ssm.SendCommandInput{
			DocumentName: aws.String("AWS-RunShellScript"),
			Targets:      []types.Target{{Key: aws.String("InstanceIds"), Values: s.agents[:1]}},
			Parameters:   map[string][]string{"commands": {"exit 3"}},
		})
		if err != nil {
			t.Fatal(err)
		}
		out := s.wait(t, aws.ToString(sent.Command.CommandId), s.agents[0])
		if out.Status != types.CommandInvocationStatusFailed || out.ResponseCode != 3 {
			t.Errorf("status %s code %d, want Failed 3", out.Status, out.ResponseCode)
		}
		if c := s.waitCommand(t, aws.ToString(sent.Command.CommandId)); c.Status != types.CommandStatusFailed || c.ErrorCount != 1 {
			t.Errorf("command: %s with %d errors, want Failed with 1", c.Status, c.ErrorCount)
		}
	})

	t.Run("unknown instance", func(t *testing.T) {
		_, err := s.client.SendCommand(ctx, &ssm.SendCommandInput{
			DocumentName: aws.String("AWS-RunShellScript"),
			InstanceIds:  []string{"mi-0123456789abcdef0"},
			Parameters:   map[string][]string{"commands": {"true"}},
		})
		var invalid *types.InvalidInstanceId
		if !errors.As(err, &invalid) {
			t.Errorf("SendCommand to an unknown node: %v, want InvalidInstanceId", err)
		}
	})

	t.Run("no such invocation", func(t *testing.T) {
		_, err := s.client.GetCommandInvocation(ctx, &ssm.GetCommandInvocationInput{
			CommandId: aws.String("00000000-0000-4000-8000-000000000000"), InstanceId: aws.String(s.agents[0]),
		})
		var invalid *types.InvalidCommandId
		var missing *types.InvocationDoesNotExist
		if !errors.As(err, &invalid) && !errors.As(err, &missing) {
			t.Errorf("GetCommandInvocation of an unknown command: %v", err)
		}
	})
}

// TestEndToEndWithAWSCLI drives the api with the AWS CLI, a client nobody here wrote.
// cli returns a function that runs `aws ssm <args>` against endpoint and decodes its JSON output,
// failing the test when the command fails. It skips the test when the AWS CLI is not installed.
func cli(t *testing.T, endpoint string) func(args ...string) map[string]any {
	t.Helper()
	if _, err := exec.LookPath("aws"); err != nil {
		t.Skip("aws CLI not installed")
	}
	return func(args ...string) map[string]any {
		t.Helper()
		cmd := exec.Command("aws", append([]string{"ssm", "--endpoint-url", endpoint, "--region", "us-east-1", "--output", "json"}, args...)...)
		cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test", "AWS_MAX_ATTEMPTS=1")
		out, err := cmd.Output()
		if err != nil {
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				t.Fatalf("aws %s: %v\n%s", strings.Join(args, " "), err, ee.Stderr)
			}
			t.Fatalf("aws %s: %v", strings.Join(args, " "), err)
		}
		if len(bytes.TrimSpace(out)) == 0 {
			return nil // commands such as add-tags-to-resource print nothing
		}
		var v map[string]any
		if err := json.Unmarshal(out, &v); err != nil {
			t.Fatalf("aws %s printed non-JSON: %v\n%s", strings.Join(args, " "), err, out)
		}
		return v
	}
}

func TestEndToEndWithAWSCLI(t *testing.T) {
	s := startSystem(t, 1)
	node := s.agents[0]
	aws := cli(t, s.endpoint)
	sent := aws("send-command", "--document-name", "AWS-RunShellScript", "--instance-ids", node, "--parameters", "commands=echo hi")
	id, _ := sent["Command"].(map[string]any)["CommandId"].(string)
	if id == "" {
		t.Fatalf("send-command returned no CommandId: %v", sent)
	}
	s.wait(t, id, node)
	got := aws("get-command-invocation", "--command-id", id, "--instance-id", node)
	if got["Status"] != "Success" || got["StandardOutputContent"] != "hi\n" {
		t.Errorf("get-command-invocation: Status %v StandardOutputContent %q, want Success \"hi\\n\"", got["Status"], got["StandardOutputContent"])
	}
	list := aws("list-commands")
	if cmds, _ := list["Commands"].([]any); len(cmds) == 0 {
		t.Errorf("list-commands: %v", list)
	}
	info := aws("describe-instance-information")
	if l, _ := info["InstanceInformationList"].([]any); len(l) != 1 {
		t.Errorf("describe-instance-information: %v", info)
	}
}

// TestNotificationsReachSubscribedQueue subscribes an SQS queue to an SNS topic and checks that a
// command's NotificationConfig brings SSM-shaped Command and Invocation messages there.
func TestNotificationsReachSubscribedQueue(t *testing.T) {
	s := startSystem(t, 1)
	cfg := awstest.Config(t)
	ctx := context.Background()
	snsc := sns.NewFromConfig(cfg)
	sqsc := sqs.NewFromConfig(cfg)
	topic, err := snsc.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String(awstest.Name("notify"))})
	if err != nil {
		t.Fatal(err)
	}
	q, err := sqsc.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(awstest.Name("notified"))})
	if err != nil {
		t.Fatal(err)
	}
	attrs, err := sqsc.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: q.QueueUrl, AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := snsc.Subscribe(ctx, &sns.SubscribeInput{TopicArn: topic.TopicArn, Protocol: aws.String("sqs"),
		Endpoint: aws.String(attrs.Attributes["QueueArn"]), Attributes: map[string]string{"RawMessageDelivery": "true"}}); err != nil {
		t.Fatal(err)
	}

	got := map[string]bool{}
	for _, typ := range []types.NotificationType{types.NotificationTypeCommand, types.NotificationTypeInvocation} {
		sent, err := s.client.SendCommand(ctx, &ssm.SendCommandInput{
			DocumentName: aws.String("AWS-RunShellScript"), InstanceIds: s.agents,
			Parameters: map[string][]string{"commands": {"true"}},
			NotificationConfig: &types.NotificationConfig{NotificationArn: topic.TopicArn, NotificationType: typ,
				NotificationEvents: []types.NotificationEvent{types.NotificationEventAll}},
		})
		if err != nil {
			t.Fatal(err)
		}
		s.waitCommand(t, aws.ToString(sent.Command.CommandId))
	}
	deadline := time.Now().Add(20 * time.Second)
	for len(got) < 4 && time.Now().Before(deadline) {
		out, err := sqsc.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: q.QueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range out.Messages {
			var body map[string]any
			if err := json.Unmarshal([]byte(aws.ToString(m.Body)), &body); err != nil {
				t.Fatalf("notification is not JSON: %v: %s", err, aws.ToString(m.Body))
			}
			for _, field := range []string{"commandId", "documentName", "requestedDateTime", "status", "eventTime"} {
				if body[field] == nil || body[field] == "" {
					t.Errorf("notification lacks %s: %v", field, body)
				}
			}
			kind := "Command"
			if _, ok := body["instanceId"]; ok {
				kind = "Invocation"
			} else if _, ok := body["expiresAfter"]; !ok {
				t.Errorf("command notification lacks expiresAfter: %v", body)
			}
			got[kind+" "+fmt.Sprint(body["status"])] = true
		}
	}
	for _, want := range []string{"Command InProgress", "Command Success", "Invocation InProgress", "Invocation Success"} {
		if !got[want] {
			t.Errorf("no %s notification; got %v", want, got)
		}
	}
}

// TestLargeOutputGoesToS3 prints 100 KB: the inline output is cut at SSM's 24,000 characters and the
// full text lands in S3 under SSM's key layout.
func TestLargeOutputGoesToS3(t *testing.T) {
	s := startSystem(t, 1)
	cfg := awstest.Config(t)
	ctx := context.Background()
	s3c := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })
	bucket := awstest.Name("out")
	if _, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}
	node := s.agents[0]
	sent, err := s.client.SendCommand(ctx, &ssm.SendCommandInput{
		DocumentName: aws.String("AWS-RunShellScript"), InstanceIds: []string{node},
		Parameters:         map[string][]string{"commands": {"head -c 102400 /dev/zero | tr '\\0' x"}},
		OutputS3BucketName: aws.String(bucket), OutputS3KeyPrefix: aws.String("runs"),
	})
	if err != nil {
		t.Fatal(err)
	}
	id := aws.ToString(sent.Command.CommandId)
	out := s.wait(t, id, node)
	inline := aws.ToString(out.StandardOutputContent)
	if out.Status != types.CommandInvocationStatusSuccess || len(inline) > 24000 || !strings.HasPrefix(inline, "xxxx") {
		t.Errorf("status %s, inline output %d characters; want Success and at most 24000", out.Status, len(inline))
	}
	key := "runs/" + id + "/" + node + "/awsrunShellScript/0.awsrunShellScript/stdout"
	obj, err := s3c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatalf("full output not at s3://%s/%s: %v", bucket, key, err)
	}
	defer obj.Body.Close()
	full, err := io.ReadAll(obj.Body)
	if err != nil {
		t.Fatal(err)
	}
	if len(full) != 102400 || strings.Trim(string(full), "x") != "" {
		t.Errorf("S3 object has %d bytes, want 102400 x's", len(full))
	}
	if url := aws.ToString(out.StandardOutputUrl); !strings.HasSuffix(url, "/"+bucket+"/"+key) {
		t.Errorf("StandardOutputUrl = %q, want it to point at %s/%s", url, bucket, key)
	}
}

// TestCancelRunningSleep cancels a long sleep on three nodes: every invocation ends Cancelled and the
// processes are gone.
func TestCancelRunningSleep(t *testing.T) {
	s := startSystem(t, 3)
	ctx := context.Background()
	marker := fmt.Sprintf("sleep 6%d.5", time.Now().UnixNano()%9) // a command line only this test runs
	sent, err := s.client.SendCommand(ctx, &ssm.SendCommandInput{
		DocumentName: aws.String("AWS-RunShellScript"), InstanceIds: s.agents,
		Parameters: map[string][]string{"commands": {marker}},
	})
	if err != nil {
		t.Fatal(err)
	}
	id := aws.ToString(sent.Command.CommandId)
	deadline := time.Now().Add(30 * time.Second)
	for running := 0; running < len(s.agents); {
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d nodes started the sleep", running, len(s.agents))
		}
		time.Sleep(100 * time.Millisecond)
		out, err := exec.Command("pgrep", "-f", marker).Output()
		if err == nil {
			running = len(strings.Fields(string(out)))
		}
	}
	if _, err := s.client.CancelCommand(ctx, &ssm.CancelCommandInput{CommandId: aws.String(id)}); err != nil {
		t.Fatal(err)
	}
	for _, n := range s.agents {
		if out := s.wait(t, id, n); out.Status != types.CommandInvocationStatusCancelled {
			t.Errorf("%s: %s, want Cancelled", n, out.Status)
		}
	}
	if c := s.waitCommand(t, id); c.Status != types.CommandStatusCancelled {
		t.Errorf("command: %s, want Cancelled", c.Status)
	}
	if out, err := exec.Command("pgrep", "-f", marker).Output(); err == nil {
		t.Errorf("sleep processes still running after cancel: %s", out)
	}
}
