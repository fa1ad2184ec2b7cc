//go:build unix

package node

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/runcmd/runcmd"
	"github.com/runcmd/runcmd/agent/internal/state"
	"github.com/runcmd/runcmd/internal/awstest"
	"github.com/runcmd/runcmd/internal/config"
	"github.com/runcmd/runcmd/internal/sqsq"
)

// TestNewAWSOnEmulator runs one registered agent against the emulator: it heartbeats, runs a command
// sent to its queue, uploads the output to S3 and replies on the results queue, signing every message.
func TestNewAWSOnEmulator(t *testing.T) {
	awsCfg := awstest.Config(t)
	ctx := t.Context()
	prefix := awstest.Name("agent")
	n := newEmulatorNode(t, awsCfg, prefix)
	sqsClient, resultsURL, key := n.sqs, n.resultsURL, n.key
	s3Client := s3.NewFromConfig(awsCfg, func(o *s3.Options) { o.UsePathStyle = true })
	bucket := prefix + "-output"
	if _, err := s3Client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx := context.Background()
		objs, err := s3Client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bucket)})
		if err == nil {
			for _, o := range objs.Contents {
				_, _ = s3Client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: o.Key})
			}
		}
		_, _ = s3Client.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String(bucket)})
	})
	a, err := NewAWS(ctx, awsCfg, Config{StateDir: n.dir, Logger: slog.New(slog.DiscardHandler),
		Env: []string{"PATH=/usr/bin:/bin"}, Tags: map[string]string{"Workload": "Dev"}}, n.names)
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- a.Run(runCtx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()

	body, _ := json.Marshal(runcmd.NodeMessage{Kind: runcmd.KindSend, CommandID: "cmd-emu", InstanceID: a.InstanceID(),
		DocumentContent: doc([]string{"echo hello from the emulator"}), OutputS3Bucket: bucket, OutputS3KeyPrefix: "out"})
	if err := sqsq.New(sqsClient, a.cfg.QueueURL).Send(ctx, string(body)); err != nil {
		t.Fatal(err)
	}

	results := sqsq.New(sqsClient, resultsURL)
	var final *runcmd.Reply
	heartbeat := false
	deadline := time.Now().Add(60 * time.Second)
	for final == nil || !heartbeat {
		if time.Now().After(deadline) {
			t.Fatalf("no final reply (heartbeat seen: %v)", heartbeat)
		}
		msgs, err := results.Receive(ctx, 10, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs {
			var rm runcmd.ResultMessage
			if err := json.Unmarshal([]byte(m.Body), &rm); err != nil {
				t.Fatal(err)
			}
			if err := rm.Verify(key.Public().(ed25519.PublicKey), time.Now()); err != nil {
				t.Errorf("%s message: %v, want it signed with the node's key", rm.Kind, err)
			}
			switch {
			case rm.Kind == runcmd.KindHeartbeat:
				heartbeat = rm.Heartbeat.InstanceID == a.InstanceID() && rm.Heartbeat.QueueURL == a.cfg.QueueURL &&
					rm.Heartbeat.Tags["Workload"] == "Dev"
			case rm.Kind == runcmd.KindReply && rm.Reply.Detail.Terminal():
				final = rm.Reply
			}
			_ = results.Delete(ctx, m.ReceiptHandle)
		}
	}
	if final.Detail != runcmd.DetailSuccess || final.Result.Plugins[0].Stdout != "hello from the emulator\n" {
		t.Fatalf("final = %+v", final)
	}
	objKey := "out/cmd-emu/" + a.InstanceID() + "/awsrunShellScript/step1/stdout"
	obj, err := s3Client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(objKey)})
	if err != nil {
		t.Fatalf("get %s: %v", objKey, err)
	}
	defer obj.Body.Close()
	b, _ := io.ReadAll(obj.Body)
	if string(b) != "hello from the emulator\n" {
		t.Errorf("S3 stdout = %q", b)
	}
}

// emulatorNode is what Register leaves in a state directory, made without an api: a key, the node's
// queue (the service creates it), the results queue and the registration. The queues are deleted when
// the test ends.
type emulatorNode struct {
	dir        string
	key        ed25519.PrivateKey
	names      AWSNames
	nodeURL    string
	resultsURL string
	sqs        *sqs.Client // straight to the emulator
}

func newEmulatorNode(t *testing.T, awsCfg aws.Config, prefix string) *emulatorNode {
	t.Helper()
	ctx := t.Context()
	n := &emulatorNode{dir: t.TempDir(), names: NamesFrom(config.Names(prefix)), sqs: sqs.NewFromConfig(awsCfg)}
	var err error
	if n.resultsURL, err = sqsq.EnsureQueue(ctx, n.sqs, n.names.ResultsQueue, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { deleteQueue(n.sqs, n.resultsURL) })
	st, err := state.Open(n.dir)
	if err != nil {
		t.Fatal(err)
	}
	if n.key, err = st.Key(); err != nil {
		t.Fatal(err)
	}
	id, err := state.NewInstanceID()
	if err != nil {
		t.Fatal(err)
	}
	if n.nodeURL, err = sqsq.EnsureQueue(ctx, n.sqs, n.names.NodeQueuePrefix+id, NodeQueueAttributes); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { deleteQueue(n.sqs, n.nodeURL) })
	reg := state.Registration{InstanceID: id, QueueURL: n.nodeURL, ResultsQueueURL: n.resultsURL, Region: "us-east-1"}
	if err := st.SaveRegistration(reg); err != nil {
		t.Fatal(err)
	}
	return n
}

func deleteQueue(c *sqs.Client, url string) {
	_, _ = c.DeleteQueue(context.Background(), &sqs.DeleteQueueInput{QueueUrl: aws.String(url)})
}
