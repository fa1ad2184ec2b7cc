// Package infra holds runcmd's CloudFormation template (runcmd.yaml) and its tests: a lint with
// cfn-lint when it is installed, checks of the rules the code relies on (environment names, event
// source settings, visibility timeouts), and a stack created on the AWS emulator whose tables must
// match what dynamo.CreateTables makes.
package infra

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	cftypes "github.com/aws/aws-sdk-go-v2/service/cloudformation/types"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"
	"github.com/google/go-cmp/cmp"
	"go.yaml.in/yaml/v3"

	"github.com/runcmd/runcmd/internal/awstest"
	"github.com/runcmd/runcmd/internal/config"
	"github.com/runcmd/runcmd/internal/dynamo"
)

const templateFile = "runcmd.yaml"

var functions = []string{"api", "dispatch", "ingest", "sweep"}

// tables lists every table config.Resources names, as the field name (which is also the template's
// logical id: CommandsTable, AuditTable, ...) and the table's name in res. Deriving it from the struct
// means a table added to config (and to dynamo.CreateTables) fails these tests until the template has it.
func tables(res config.Resources) []struct{ logical, name string } {
	var out []struct{ logical, name string }
	v := reflect.ValueOf(res)
	for i := range v.NumField() {
		if f := v.Type().Field(i); strings.HasSuffix(f.Name, "Table") && f.Type.Kind() == reflect.String {
			out = append(out, struct{ logical, name string }{f.Name, v.Field(i).String()})
		}
	}
	return out
}

// deleteTables deletes the tables of res, ignoring errors (most are "not found"); the emulator is shared.
func deleteTables(ddb *dynamodb.Client, res config.Resources) {
	for _, tb := range tables(res) {
		_, _ = ddb.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: aws.String(tb.name)})
	}
}

// TestLint runs cfn-lint, when installed, and fails on its errors; warnings are only logged, since new
// cfn-lint releases add warnings faster than templates can follow.
func TestLint(t *testing.T) {
	t.Parallel()
	bin, err := exec.LookPath("cfn-lint")
	if err != nil {
		t.Skip("cfn-lint is not on PATH")
	}
	out, err := exec.Command(bin, "--format", "parseable", "--", templateFile).CombinedOutput()
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit):
		// cfn-lint's exit code is a bit mask: 2 errors, 4 warnings, 8 informational; anything but
		// warnings and informational findings (errors, a crash, a usage error) fails.
		if exit.ExitCode()&^(4|8) != 0 {
			t.Fatalf("cfn-lint %s: exit %d\n%s", templateFile, exit.ExitCode(), out)
		}
		t.Logf("cfn-lint warnings:\n%s", out)
	default:
		t.Fatalf("run cfn-lint: %v", err)
	}
}

// TestTemplateRules checks, without AWS, what the code relies on and a lint cannot know.
func TestTemplateRules(t *testing.T) {
	t.Parallel()
	tpl := loadTemplate(t)
	resources := tpl["Resources"].(map[string]any)
	res := func(name string) map[string]any {
		t.Helper()
		r, ok := resources[name].(map[string]any)
		if !ok {
			t.Fatalf("resource %s missing", name)
		}
		return r
	}
	props := func(name string) map[string]any {
		t.Helper()
		p, _ := res(name)["Properties"].(map[string]any)
		return p
	}

	t.Run("environment", func(t *testing.T) {
		// Every function gets RUNCMD_PREFIX and every override that config.FromEnv reads, no more.
		var want []string
		config.FromEnv(func(k string) string { want = append(want, k); return "" })
		slices.Sort(want)
		for name, r := range resources {
			r := r.(map[string]any)
			if r["Type"] != "AWS::Lambda::Function" {
				continue
			}
			vars, _ := dig(r, "Properties", "Environment", "Variables").(map[string]any)
			var got []string
			for k := range vars {
				got = append(got, k)
			}
			slices.Sort(got)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("%s environment (-want +got):\n%s", name, diff)
			}
		}
	})

	t.Run("functions", func(t *testing.T) {
		for _, fn := range functions {
			p := props(logical(fn) + "Function")
			got := map[string]any{
				"Runtime": p["Runtime"], "Handler": p["Handler"], "Architectures": p["Architectures"],
				"S3Key": dig(p, "Code", "S3Key"),
			}
			want := map[string]any{
				"Runtime": "provided.al2023", "Handler": "bootstrap", "Architectures": []any{"arm64"},
				"S3Key": map[string]any{"Fn::Sub": "${CodeKeyPrefix}/" + fn + ".zip"},
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("%s function (-want +got):\n%s", fn, diff)
			}
		}
	})

	t.Run("event sources", func(t *testing.T) {
		// Queue -> function, as the design has it; each queue hides a batch for at least 6x the
		// function's timeout (AWS's advice for Lambda event sources) and sends poison to its DLQ.
		want := map[string]string{"DispatchQueue": "DispatchFunction", "ResultsQueue": "IngestFunction"}
		got := map[string]string{}
		for name, r := range resources {
			r := r.(map[string]any)
			if r["Type"] != "AWS::Lambda::EventSourceMapping" {
				continue
			}
			p := r["Properties"].(map[string]any)
			queue := dig(p, "EventSourceArn", "Fn::GetAtt").([]any)[0].(string)
			fn := dig(p, "FunctionName", "Ref").(string)
			got[queue] = fn
			if diff := cmp.Diff([]any{"ReportBatchItemFailures"}, p["FunctionResponseTypes"]); diff != "" {
				t.Errorf("%s FunctionResponseTypes (-want +got):\n%s", name, diff)
			}
			if p["BatchSize"] != 10 {
				t.Errorf("%s BatchSize = %v, want 10", name, p["BatchSize"])
			}
			q, f := props(queue), props(fn)
			vis, _ := q["VisibilityTimeout"].(int)
			timeout, _ := f["Timeout"].(int)
			if timeout == 0 || vis < 6*timeout {
				t.Errorf("%s: VisibilityTimeout %d < 6 x %s Timeout %d", queue, vis, fn, timeout)
			}
			if n := dig(q, "RedrivePolicy", "maxReceiveCount"); n != 5 {
				t.Errorf("%s maxReceiveCount = %v, want 5", queue, n)
			}
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("event source mappings (-want +got):\n%s", diff)
		}
	})

	t.Run("data", func(t *testing.T) {
		// What moto's CloudFormation ignores (PITR, lifecycle, public access block) is checked here.
		all := tables(config.Names("x"))
		if len(all) < 9 {
			t.Fatalf("found %d tables in config.Resources, want at least 9: %v", len(all), all)
		}
		for _, tb := range all {
			name := tb.logical
			p := props(name)
			if p["BillingMode"] != "PAY_PER_REQUEST" || dig(p, "PointInTimeRecoverySpecification", "PointInTimeRecoveryEnabled") != true {
				t.Errorf("%s: want PAY_PER_REQUEST and point-in-time recovery, got %v", name, p)
			}
			if res(name)["DeletionPolicy"] != "Retain" {
				t.Errorf("%s: DeletionPolicy %v, want Retain", name, res(name)["DeletionPolicy"])
			}
		}
		b := props("OutputBucket")
		rules := asList(dig(b, "LifecycleConfiguration", "Rules"))
		if len(rules) != 1 || dig(rules[0], "ExpirationInDays") != 30 || dig(rules[0], "Status") != "Enabled" {
			t.Errorf("OutputBucket lifecycle: want one enabled rule expiring after 30 days, got %v", rules)
		}
		want := map[string]any{"BlockPublicAcls": true, "BlockPublicPolicy": true, "IgnorePublicAcls": true, "RestrictPublicBuckets": true}
		if diff := cmp.Diff(want, b["PublicAccessBlockConfiguration"]); diff != "" {
			t.Errorf("OutputBucket public access block (-want +got):\n%s", diff)
		}
		if dig(b, "BucketEncryption", "ServerSideEncryptionConfiguration") == nil {
			t.Error("OutputBucket has no default encryption")
		}
	})

	t.Run("least privilege", func(t *testing.T) {
		// No function may scan or administer tables, nor use a wildcard action; only the api may create,
		// configure or delete a queue, and only a node's (it does so at registration and deregistration).
		// No role may use IAM or STS, except that the api assumes NodeRole, with a session tag, to issue
		// node credentials.
		nodeQueues := map[string]any{"Fn::Sub": "arn:${AWS::Partition}:sqs:${AWS::Region}:${AWS::AccountId}:${Prefix}-node-*"}
		nodeRole := map[string]any{"Fn::GetAtt": []any{"NodeRole", "Arn"}}
		var assumes []string
		for name, r := range resources {
			r := r.(map[string]any)
			if r["Type"] != "AWS::IAM::Role" && r["Type"] != "AWS::IAM::ManagedPolicy" {
				continue
			}
			for _, st := range statements(r) {
				for _, a := range asList(dig(st, "Action")) {
					a := fmt.Sprint(a)
					queueAdmin := a == "sqs:CreateQueue" || a == "sqs:SetQueueAttributes" || a == "sqs:DeleteQueue"
					if queueAdmin && (name != "ApiRole" || !cmp.Equal(dig(st, "Resource"), nodeQueues)) {
						t.Errorf("%s allows %s on %v", name, a, dig(st, "Resource"))
					}
					brokersNodeCredentials := (a == "sts:AssumeRole" || a == "sts:TagSession") && name == "ApiRole" &&
						cmp.Equal(dig(st, "Resource"), nodeRole)
					if brokersNodeCredentials {
						assumes = append(assumes, a)
					}
					if strings.Contains(a, "*") || a == "dynamodb:Scan" || strings.HasPrefix(a, "dynamodb:Create") ||
						strings.HasPrefix(a, "dynamodb:Delete") && a != "dynamodb:DeleteItem" ||
						strings.HasPrefix(a, "iam:") || strings.HasPrefix(a, "sts:") && !brokersNodeCredentials {
						t.Errorf("%s allows %s on %v", name, a, dig(st, "Resource"))
					}
				}
			}
		}
		slices.Sort(assumes)
		if diff := cmp.Diff([]string{"sts:AssumeRole", "sts:TagSession"}, assumes); diff != "" {
			t.Errorf("ApiRole's actions on NodeRole (GetManagedInstanceCredentials) (-want +got):\n%s", diff)
		}
		// The documents, activations, audit, patch baselines and compliance tables are the api's;
		// ingest may only read activations, append to the audit trail and store patch reports; dispatch
		// and sweep touch none of them.
		patching := []string{"dynamodb:DeleteItem", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query", "dynamodb:UpdateItem"}
		want := map[string][]string{
			"ApiRole DocumentsTable":      {"dynamodb:BatchGetItem", "dynamodb:BatchWriteItem", "dynamodb:ConditionCheckItem", "dynamodb:DeleteItem", "dynamodb:DescribeTable", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query", "dynamodb:UpdateItem"},
			"ApiRole ActivationsTable":    {"dynamodb:BatchGetItem", "dynamodb:BatchWriteItem", "dynamodb:ConditionCheckItem", "dynamodb:DeleteItem", "dynamodb:DescribeTable", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query", "dynamodb:UpdateItem"},
			"ApiRole AuditTable":          {"dynamodb:BatchGetItem", "dynamodb:BatchWriteItem", "dynamodb:ConditionCheckItem", "dynamodb:DeleteItem", "dynamodb:DescribeTable", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query", "dynamodb:UpdateItem"},
			"IngestRole ActivationsTable": {"dynamodb:GetItem", "dynamodb:Query"},
			"IngestRole AuditTable":       {"dynamodb:PutItem"},
			"ApiRole PatchBaselinesTable": patching,
			"ApiRole ComplianceTable":     patching,
			"IngestRole ComplianceTable":  patching,
		}
		got := map[string][]string{}
		for name, r := range resources {
			r := r.(map[string]any)
			if r["Type"] != "AWS::IAM::Role" && r["Type"] != "AWS::IAM::ManagedPolicy" {
				continue
			}
			for _, st := range statements(r) {
				for _, tb := range []string{"DocumentsTable", "ActivationsTable", "AuditTable", "PatchBaselinesTable", "ComplianceTable"} {
					if !strings.Contains(fmt.Sprint(dig(st, "Resource")), tb) {
						continue
					}
					for _, a := range asList(dig(st, "Action")) {
						if k := name + " " + tb; !slices.Contains(got[k], fmt.Sprint(a)) {
							got[k] = append(got[k], fmt.Sprint(a))
						}
					}
				}
			}
		}
		for k := range got {
			slices.Sort(got[k])
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("access to documents, activations, audit, patching (-want +got):\n%s", diff)
		}
		// Every node statement is conditioned on the node's id tag, and its queue and output resources
		// name that tag.
		for _, st := range asList(dig(props("NodePolicy"), "PolicyDocument", "Statement")) {
			sid := dig(st, "Sid")
			if dig(st, "Condition", "StringLike", "aws:PrincipalTag/runcmd-instance-id") == nil {
				t.Errorf("NodePolicy %v: no condition on aws:PrincipalTag/runcmd-instance-id", sid)
			}
			res := fmt.Sprint(dig(st, "Resource"))
			if (sid == "OwnQueue" || sid == "OwnOutput") && !strings.Contains(res, "${!aws:PrincipalTag/runcmd-instance-id}") {
				t.Errorf("NodePolicy %v: resource %s is not confined to the node's own id", sid, res)
			}
		}
	})
}

// TestStack creates the stack on the emulator and checks what it made: tables equal to
// dynamo.CreateTables's, queues with their redrive, the topic and the bucket; then deletes it.
func TestStack(t *testing.T) {
	t.Parallel() // with TestLint: cfn-lint alone takes seconds
	cfg := awstest.Config(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cfc := cloudformation.NewFromConfig(cfg)
	ddb := dynamodb.NewFromConfig(cfg)
	sqsc := sqs.NewFromConfig(cfg)
	snsc := sns.NewFromConfig(cfg)
	s3c := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = o.BaseEndpoint != nil })

	// The emulator's Lambda reads code from S3 when the function is created: a placeholder bundle.
	codeBucket := awstest.Name("cf-code")
	if _, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &codeBucket}); err != nil {
		t.Fatalf("create code bucket: %v", err)
	}
	t.Cleanup(func() { emptyAndDeleteBucket(t, s3c, codeBucket) })
	bundle := placeholderZip(t)
	for _, fn := range functions {
		if _, err := s3c.PutObject(ctx, &s3.PutObjectInput{
			Bucket: &codeBucket, Key: aws.String("test/" + fn + ".zip"), Body: bytes.NewReader(bundle),
		}); err != nil {
			t.Fatalf("upload %s bundle: %v", fn, err)
		}
	}

	body, err := os.ReadFile(templateFile)
	if err != nil {
		t.Fatal(err)
	}
	prefix := awstest.Name("cf")
	names := config.Names(prefix)
	stack := prefix + "-stack"
	_, err = cfc.CreateStack(ctx, &cloudformation.CreateStackInput{
		StackName:    &stack,
		TemplateBody: aws.String(string(body)),
		Capabilities: []cftypes.Capability{cftypes.CapabilityCapabilityIam},
		Parameters: []cftypes.Parameter{
			{ParameterKey: aws.String("Prefix"), ParameterValue: &prefix},
			{ParameterKey: aws.String("CodeBucket"), ParameterValue: &codeBucket},
			{ParameterKey: aws.String("CodeKeyPrefix"), ParameterValue: aws.String("test")},
		},
	})
	if err != nil {
		t.Fatalf("create stack: %v", err)
	}
	deleted := false
	t.Cleanup(func() {
		if !deleted {
			_, _ = cfc.DeleteStack(context.Background(), &cloudformation.DeleteStackInput{StackName: &stack})
		}
		// Tables and the bucket are retained on stack deletion (DeletionPolicy Retain). The bucket's
		// name carries the account and region: find it by its (unique) prefix.
		deleteTables(ddb, names)
		if list, err := s3c.ListBuckets(context.Background(), &s3.ListBucketsInput{}); err == nil {
			for _, b := range list.Buckets {
				if strings.HasPrefix(aws.ToString(b.Name), names.OutputBucket+"-") {
					emptyAndDeleteBucket(t, s3c, aws.ToString(b.Name))
				}
			}
		}
	})
	waitCreate := cloudformation.NewStackCreateCompleteWaiter(cfc, func(o *cloudformation.StackCreateCompleteWaiterOptions) {
		o.MinDelay, o.MaxDelay = 500*time.Millisecond, 2*time.Second
	})
	described, err := waitCreate.WaitForOutput(ctx, &cloudformation.DescribeStacksInput{StackName: &stack}, 60*time.Second)
	if err != nil {
		t.Fatalf("stack %s did not reach CREATE_COMPLETE: %v\n%s", stack, err, stackEvents(ctx, cfc, stack))
	}
	outputs := map[string]string{}
	for _, o := range described.Stacks[0].Outputs {
		outputs[aws.ToString(o.OutputKey)] = aws.ToString(o.OutputValue)
	}
	reportSkipped(ctx, t, cfc, stack, body)

	t.Run("tables", func(t *testing.T) {
		ref := config.Names(awstest.Name("cfref"))
		t.Cleanup(func() { deleteTables(ddb, ref) })
		if err := dynamo.CreateTables(ctx, ddb, ref); err != nil {
			t.Fatalf("dynamo.CreateTables: %v", err)
		}
		resources := parseTemplate(t, body)["Resources"].(map[string]any)
		refs, gots := tables(ref), tables(names)
		for i := range refs {
			tc := struct{ logical, ref, got string }{refs[i].logical, refs[i].name, gots[i].name}
			want := describeTable(ctx, t, ddb, tc.ref)
			got := describeTable(ctx, t, ddb, tc.got)
			if got.TTL == "" {
				// moto's CloudFormation ignores TimeToLiveSpecification (and PITR): hold the template's
				// own setting to what CreateTables turned on instead.
				spec, _ := dig(resources[tc.logical], "Properties", "TimeToLiveSpecification").(map[string]any)
				if spec["Enabled"] == true {
					got.TTL, _ = spec["AttributeName"].(string)
				}
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("table %s differs from dynamo.CreateTables's %s (-want +got):\n%s", tc.got, tc.ref, diff)
			}
		}
	})

	t.Run("queues", func(t *testing.T) {
		dlqARN := map[string]string{}
		for _, q := range []struct {
			name, output, dlq string
			fifo              bool
			visibility        string
		}{
			{names.DispatchDLQ, "DispatchDLQUrl", "", true, "30"},
			{names.ResultsDLQ, "ResultsDLQUrl", "", false, "30"},
			{names.DispatchQueue, "DispatchQueueUrl", names.DispatchDLQ, true, "360"},
			{names.ResultsQueue, "ResultsQueueUrl", names.ResultsDLQ, false, "360"},
		} {
			url, err := sqsc.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String(q.name)})
			if err != nil {
				t.Errorf("queue %s: %v", q.name, err)
				continue
			}
			// moto spells CloudFormation's queue URLs with AWS's host, not the endpoint's: compare paths.
			if got := outputs[q.output]; !strings.HasSuffix(got, "/"+q.name) {
				t.Errorf("output %s = %q, want the URL of %s", q.output, got, q.name)
			}
			attrs, err := sqsc.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
				QueueUrl: url.QueueUrl, AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameAll},
			})
			if err != nil {
				t.Fatalf("attributes of %s: %v", q.name, err)
			}
			a := attrs.Attributes
			dlqARN[q.name] = a["QueueArn"]
			if got := a["FifoQueue"] == "true"; got != q.fifo {
				t.Errorf("%s FifoQueue = %q, want %v", q.name, a["FifoQueue"], q.fifo)
			}
			if a["VisibilityTimeout"] != q.visibility {
				t.Errorf("%s VisibilityTimeout = %q, want %s", q.name, a["VisibilityTimeout"], q.visibility)
			}
			if q.dlq == "" {
				continue
			}
			var redrive struct {
				DeadLetterTargetARN string `json:"deadLetterTargetArn"`
				MaxReceiveCount     any    `json:"maxReceiveCount"` // a number in AWS, a string in some emulators
			}
			if err := json.Unmarshal([]byte(a["RedrivePolicy"]), &redrive); err != nil {
				t.Errorf("%s RedrivePolicy %q: %v", q.name, a["RedrivePolicy"], err)
				continue
			}
			if redrive.DeadLetterTargetARN != dlqARN[q.dlq] || fmt.Sprint(redrive.MaxReceiveCount) != "5" {
				t.Errorf("%s RedrivePolicy = %+v, want target %s, maxReceiveCount 5", q.name, redrive, dlqARN[q.dlq])
			}
		}
	})

	t.Run("topic", func(t *testing.T) {
		arn := outputs["EventsTopicArn"]
		if !strings.HasSuffix(arn, ":"+names.EventsTopic) {
			t.Errorf("EventsTopicArn = %q, want a topic named %s", arn, names.EventsTopic)
		}
		if _, err := snsc.GetTopicAttributes(ctx, &sns.GetTopicAttributesInput{TopicArn: &arn}); err != nil {
			t.Errorf("topic %s: %v", arn, err)
		}
	})

	t.Run("bucket", func(t *testing.T) {
		bucket := outputs["OutputBucketName"]
		if !strings.HasPrefix(bucket, names.OutputBucket+"-") {
			t.Fatalf("OutputBucketName = %q, want %s-<account>-<region>", bucket, names.OutputBucket)
		}
		t.Cleanup(func() { emptyAndDeleteBucket(t, s3c, bucket) })
		if _, err := s3c.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: &bucket}); err != nil {
			t.Fatalf("bucket %s: %v", bucket, err)
		}
		enc, err := s3c.GetBucketEncryption(ctx, &s3.GetBucketEncryptionInput{Bucket: &bucket})
		if err != nil || enc.ServerSideEncryptionConfiguration == nil || len(enc.ServerSideEncryptionConfiguration.Rules) == 0 {
			t.Errorf("encryption of %s: %v", bucket, err)
		}
		// moto's CloudFormation applies only BucketEncryption and Tags to a bucket; where the emulator
		// has no lifecycle or public access block, TestTemplateRules has checked the template instead.
		lc, err := s3c.GetBucketLifecycleConfiguration(ctx, &s3.GetBucketLifecycleConfigurationInput{Bucket: &bucket})
		switch {
		case apiCode(err) == "NoSuchLifecycleConfiguration":
			t.Logf("the emulator did not apply LifecycleConfiguration to %s", bucket)
		case err != nil:
			t.Errorf("lifecycle of %s: %v", bucket, err)
		case len(lc.Rules) != 1 || lc.Rules[0].Expiration == nil || aws.ToInt32(lc.Rules[0].Expiration.Days) != 30:
			t.Errorf("lifecycle of %s: want one rule expiring after 30 days, got %+v", bucket, lc.Rules)
		}
		pab, err := s3c.GetPublicAccessBlock(ctx, &s3.GetPublicAccessBlockInput{Bucket: &bucket})
		switch {
		case apiCode(err) == "NoSuchPublicAccessBlockConfiguration":
			t.Logf("the emulator did not apply PublicAccessBlockConfiguration to %s", bucket)
		case err != nil:
			t.Errorf("public access block of %s: %v", bucket, err)
		default:
			if c := pab.PublicAccessBlockConfiguration; !aws.ToBool(c.BlockPublicAcls) || !aws.ToBool(c.BlockPublicPolicy) ||
				!aws.ToBool(c.IgnorePublicAcls) || !aws.ToBool(c.RestrictPublicBuckets) {
				t.Errorf("public access block of %s: %+v", bucket, c)
			}
		}
	})

	if _, err := cfc.DeleteStack(ctx, &cloudformation.DeleteStackInput{StackName: &stack}); err != nil {
		t.Fatalf("delete stack: %v", err)
	}
	deleted = true
	waitDelete := cloudformation.NewStackDeleteCompleteWaiter(cfc, func(o *cloudformation.StackDeleteCompleteWaiterOptions) {
		o.MinDelay, o.MaxDelay = 500*time.Millisecond, 2*time.Second
	})
	if err := waitDelete.Wait(ctx, &cloudformation.DescribeStacksInput{StackName: &stack}, 60*time.Second); err != nil {
		t.Errorf("stack %s did not reach DELETE_COMPLETE: %v\n%s", stack, err, stackEvents(ctx, cfc, stack))
	}
	if _, err := sqsc.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: &names.DispatchQueue}); err == nil {
		t.Errorf("queue %s still exists after the stack was deleted", names.DispatchQueue)
	}
}

func apiCode(err error) string {
	var api smithy.APIError
	if errors.As(err, &api) {
		return api.ErrorCode()
	}
	return ""
}

// table is the part of DescribeTable that must agree between the template and dynamo.CreateTables.
type table struct {
	KeySchema   []string
	Attributes  []string
	BillingMode string
	Indexes     []string // "GSI|LSI name: key schema, projection"
	TTL         string   // attribute when enabled
}

func describeTable(ctx context.Context, t *testing.T, c *dynamodb.Client, name string) table {
	t.Helper()
	out, err := c.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: &name})
	if err != nil {
		t.Fatalf("describe table %s: %v", name, err)
	}
	d := out.Table
	keys := func(ks []ddbtypes.KeySchemaElement) []string {
		var s []string
		for _, k := range ks {
			s = append(s, aws.ToString(k.AttributeName)+" "+string(k.KeyType))
		}
		return s
	}
	proj := func(p *ddbtypes.Projection) string {
		if p == nil {
			return ""
		}
		return string(p.ProjectionType) + fmt.Sprint(p.NonKeyAttributes)
	}
	var tb table
	tb.KeySchema = keys(d.KeySchema)
	for _, a := range d.AttributeDefinitions {
		tb.Attributes = append(tb.Attributes, aws.ToString(a.AttributeName)+" "+string(a.AttributeType))
	}
	sort.Strings(tb.Attributes)
	if d.BillingModeSummary != nil {
		tb.BillingMode = string(d.BillingModeSummary.BillingMode)
	}
	for _, g := range d.GlobalSecondaryIndexes {
		tb.Indexes = append(tb.Indexes, fmt.Sprintf("GSI %s: %v, %s", aws.ToString(g.IndexName), keys(g.KeySchema), proj(g.Projection)))
	}
	for _, l := range d.LocalSecondaryIndexes {
		tb.Indexes = append(tb.Indexes, fmt.Sprintf("LSI %s: %v, %s", aws.ToString(l.IndexName), keys(l.KeySchema), proj(l.Projection)))
	}
	sort.Strings(tb.Indexes)
	ttl, err := c.DescribeTimeToLive(ctx, &dynamodb.DescribeTimeToLiveInput{TableName: &name})
	if err != nil {
		t.Fatalf("describe ttl of %s: %v", name, err)
	}
	if td := ttl.TimeToLiveDescription; td != nil && td.TimeToLiveStatus == ddbtypes.TimeToLiveStatusEnabled {
		tb.TTL = aws.ToString(td.AttributeName)
	}
	return tb
}

// reportSkipped logs the template's resources the emulator did not create (moto skips some types
// silently and still reports CREATE_COMPLETE), and fails if a type the design depends on is among them.
func reportSkipped(ctx context.Context, t *testing.T, c *cloudformation.Client, stack string, body []byte) {
	t.Helper()
	created := map[string]bool{}
	p := cloudformation.NewListStackResourcesPaginator(c, &cloudformation.ListStackResourcesInput{StackName: &stack})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatalf("list stack resources: %v", err)
		}
		for _, r := range page.StackResourceSummaries {
			created[aws.ToString(r.LogicalResourceId)] = true
		}
	}
	var skipped []string
	for name, r := range parseTemplate(t, body)["Resources"].(map[string]any) {
		if created[name] {
			continue
		}
		typ := r.(map[string]any)["Type"].(string)
		skipped = append(skipped, name+" ("+typ+")")
		switch typ {
		case "AWS::DynamoDB::Table", "AWS::SQS::Queue", "AWS::SNS::Topic", "AWS::S3::Bucket",
			"AWS::Lambda::Function", "AWS::Lambda::EventSourceMapping", "AWS::Events::Rule", "AWS::IAM::Role":
			t.Errorf("the emulator did not create %s (%s)", name, typ)
		}
	}
	sort.Strings(skipped)
	if len(skipped) > 0 {
		t.Logf("not created by the emulator: %s", strings.Join(skipped, ", "))
	}
}

func stackEvents(ctx context.Context, c *cloudformation.Client, stack string) string {
	out, err := c.DescribeStackEvents(ctx, &cloudformation.DescribeStackEventsInput{StackName: &stack})
	if err != nil {
		return "stack events: " + err.Error()
	}
	var b strings.Builder
	for _, e := range out.StackEvents {
		fmt.Fprintf(&b, "%s %s %s\n", aws.ToString(e.LogicalResourceId), e.ResourceStatus, aws.ToString(e.ResourceStatusReason))
	}
	return b.String()
}

func placeholderZip(t *testing.T) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	h := &zip.FileHeader{Name: "bootstrap", Method: zip.Deflate}
	h.SetMode(0o755)
	w, err := zw.CreateHeader(h)
	if err == nil {
		_, err = w.Write([]byte("#!/bin/sh\nexit 1\n"))
	}
	if err == nil {
		err = zw.Close()
	}
	if err != nil {
		t.Fatalf("placeholder zip: %v", err)
	}
	return buf.Bytes()
}

func emptyAndDeleteBucket(t *testing.T, c *s3.Client, bucket string) {
	t.Helper()
	ctx := context.Background()
	list, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: &bucket})
	if err == nil {
		for _, o := range list.Contents {
			_, _ = c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &bucket, Key: o.Key})
		}
	}
	_, _ = c.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: &bucket})
}

// loadTemplate parses runcmd.yaml with CloudFormation's short-form tags expanded (!Ref X becomes
// {"Ref": "X"}, !GetAtt A.B becomes {"Fn::GetAtt": ["A", "B"]}, !Sub s becomes {"Fn::Sub": s}).
func loadTemplate(t *testing.T) map[string]any {
	t.Helper()
	body, err := os.ReadFile(templateFile)
	if err != nil {
		t.Fatal(err)
	}
	return parseTemplate(t, body)
}

func parseTemplate(t *testing.T, body []byte) map[string]any {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal(body, &doc); err != nil {
		t.Fatalf("parse %s: %v", templateFile, err)
	}
	v, err := expand(doc.Content[0])
	if err != nil {
		t.Fatalf("parse %s: %v", templateFile, err)
	}
	return v.(map[string]any)
}

func expand(n *yaml.Node) (any, error) {
	var v any
	switch n.Kind {
	case yaml.MappingNode:
		m := map[string]any{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			val, err := expand(n.Content[i+1])
			if err != nil {
				return nil, err
			}
			m[n.Content[i].Value] = val
		}
		v = m
	case yaml.SequenceNode:
		s := []any{}
		for _, c := range n.Content {
			val, err := expand(c)
			if err != nil {
				return nil, err
			}
			s = append(s, val)
		}
		v = s
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!int":
			i, err := strconv.Atoi(n.Value)
			if err != nil {
				return nil, fmt.Errorf("line %d: %w", n.Line, err)
			}
			v = i
		case "!!bool":
			v = n.Value == "true"
		default:
			v = n.Value
		}
	default:
		return nil, fmt.Errorf("line %d: unsupported YAML node kind %v", n.Line, n.Kind)
	}
	tag := n.Tag
	if !strings.HasPrefix(tag, "!") || strings.HasPrefix(tag, "!!") {
		return v, nil
	}
	name := strings.TrimPrefix(tag, "!")
	switch {
	case name == "Ref" || name == "Condition":
		return map[string]any{name: v}, nil
	case name == "GetAtt":
		if s, ok := v.(string); ok {
			res, attr, _ := strings.Cut(s, ".")
			v = []any{res, attr}
		}
	}
	return map[string]any{"Fn::" + name: v}, nil
}

// dig follows keys through nested maps; nil when a key is missing.
func dig(v any, keys ...string) any {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

// statements lists the policy statements of a role (its inline policies) or of a managed policy.
func statements(r map[string]any) []any {
	var docs []any
	p := r["Properties"].(map[string]any)
	if d, ok := p["PolicyDocument"]; ok {
		docs = append(docs, d)
	}
	for _, pol := range asList(p["Policies"]) {
		docs = append(docs, dig(pol, "PolicyDocument"))
	}
	var out []any
	for _, d := range docs {
		out = append(out, asList(dig(d, "Statement"))...)
	}
	return out
}

func asList(v any) []any {
	switch v := v.(type) {
	case nil:
		return nil
	case []any:
		return v
	default:
		return []any{v}
	}
}

// logical maps a function name to its logical-id stem: "api" -> "Api".
func logical(fn string) string { return strings.ToUpper(fn[:1]) + fn[1:] }
