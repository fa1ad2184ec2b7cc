package ssmapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestValidation drives each operation with requests that break one model constraint and checks the
// exact error SSM would return, and that the backend is never called.
func TestValidation(t *testing.T) {
	t.Parallel()
	const cid = `"CommandId":"` + testCommandID + `"`
	ids51 := `"i-12345678"` + strings.Repeat(`,"i-12345678"`, 50)
	tests := []struct {
		op, body, errType, message string
	}{
		{"GetCommandInvocation", `{"CommandId":"abc","InstanceId":"i-12345678"}`, "ValidationException",
			"1 validation error detected: Value 'abc' at 'commandId' failed to satisfy constraint: Member must have length greater than or equal to 36"},
		{"GetCommandInvocation", `{"InstanceId":"i-12345678"}`, "ValidationException",
			"1 validation error detected: Value null at 'commandId' failed to satisfy constraint: Member must not be null"},
		{"GetCommandInvocation", `{` + cid + `,"InstanceId":"i-083e1601960282cd"}`, "ValidationException",
			`1 validation error detected: Value 'i-083e1601960282cd' at 'instanceId' failed to satisfy constraint: Member must satisfy regular expression pattern: (^i-(\w{8}|\w{17})$)|(^mi-\w{17}$)`},
		{"GetCommandInvocation", `{` + cid + `,"InstanceId":"i-12345678","PluginName":"aws"}`, "ValidationException",
			"1 validation error detected: Value 'aws' at 'pluginName' failed to satisfy constraint: Member must have length greater than or equal to 4"},
		{"GetCommandInvocation", `{"CommandId":"x"}`, "ValidationException",
			"2 validation errors detected: Value 'x' at 'commandId' failed to satisfy constraint: Member must have length greater than or equal to 36; " +
				"Value null at 'instanceId' failed to satisfy constraint: Member must not be null"},
		{"SendCommand", `{}`, "ValidationException",
			"1 validation error detected: Value null at 'documentName' failed to satisfy constraint: Member must not be null"},
		{"SendCommand", `{"DocumentName":"a b"}`, "ValidationException",
			`1 validation error detected: Value 'a b' at 'documentName' failed to satisfy constraint: Member must satisfy regular expression pattern: ^[a-zA-Z0-9_\-.:/]{3,128}$`},
		{"SendCommand", `{"DocumentName":"AWS-RunShellScript","InstanceIds":["i-1","mi-0123456789abcdef0"]}`, "ValidationException",
			`1 validation error detected: Value '[i-1, mi-0123456789abcdef0]' at 'instanceIds' failed to satisfy constraint: Member must satisfy constraint: [Member must satisfy regular expression pattern: (^i-(\w{8}|\w{17})$)|(^mi-\w{17}$)]`},
		{"SendCommand", `{"DocumentName":"AWS-RunShellScript","InstanceIds":[` + ids51 + `]}`, "ValidationException",
			"Member must have length less than or equal to 50"},
		{"SendCommand", `{"DocumentName":"AWS-RunShellScript","TimeoutSeconds":29}`, "ValidationException",
			"1 validation error detected: Value '29' at 'timeoutSeconds' failed to satisfy constraint: Member must have value greater than or equal to 30"},
		{"SendCommand", `{"DocumentName":"AWS-RunShellScript","TimeoutSeconds":2592001}`, "ValidationException",
			"1 validation error detected: Value '2592001' at 'timeoutSeconds' failed to satisfy constraint: Member must have value less than or equal to 2592000"},
		{"SendCommand", `{"DocumentName":"AWS-RunShellScript","Comment":"` + strings.Repeat("é", 101) + `"}`, "ValidationException",
			"at 'comment' failed to satisfy constraint: Member must have length less than or equal to 100"},
		{"SendCommand", `{"DocumentName":"AWS-RunShellScript","MaxConcurrency":"0"}`, "ValidationException",
			`1 validation error detected: Value '0' at 'maxConcurrency' failed to satisfy constraint: Member must satisfy regular expression pattern: ^([1-9][0-9]*|[1-9][0-9]%|[1-9]%|100%)$`},
		{"SendCommand", `{"DocumentName":"AWS-RunShellScript","MaxErrors":""}`, "ValidationException",
			`2 validation errors detected: Value '' at 'maxErrors' failed to satisfy constraint: Member must have length greater than or equal to 1; ` +
				`Value '' at 'maxErrors' failed to satisfy constraint: Member must satisfy regular expression pattern: ^([1-9][0-9]*|[0]|[1-9][0-9]%|[0-9]%|100%)$`},
		{"SendCommand", `{"DocumentName":"AWS-RunShellScript","DocumentVersion":"x$LATEST"}`, "ValidationException",
			"at 'documentVersion' failed to satisfy constraint"},
		{"SendCommand", `{"DocumentName":"AWS-RunShellScript","Targets":[{},{},{},{},{},{}]}`, "ValidationException",
			"at 'targets' failed to satisfy constraint: Member must have length less than or equal to 5"},
		{"SendCommand", `{"DocumentName":"AWS-RunShellScript","Targets":[{"Key":"tag:a","Values":[` + strings.TrimSuffix(strings.Repeat(`"v",`, 51), ",") + `]}]}`, "ValidationException",
			"at 'targets.1.member.values' failed to satisfy constraint: Member must have length less than or equal to 50"},
		{"SendCommand", `{"DocumentName":"AWS-RunShellScript","Targets":[{"Key":"","Values":[]}]}`, "ValidationException",
			"Value '' at 'targets.1.member.key' failed to satisfy constraint: Member must have length greater than or equal to 1"},
		{"SendCommand", `{"DocumentName":"AWS-RunShellScript","NotificationConfig":{"NotificationEvents":["Bad"],"NotificationType":"Email"}}`, "ValidationException",
			"2 validation errors detected: Value '[Bad]' at 'notificationConfig.notificationEvents' failed to satisfy constraint: Member must satisfy constraint: [Member must satisfy enum value set: [All, InProgress, Success, TimedOut, Cancelled, Failed]]; " +
				"Value 'Email' at 'notificationConfig.notificationType' failed to satisfy constraint: Member must satisfy enum value set: [Command, Invocation]"},
		{"SendCommand", `{"DocumentName":"AWS-RunShellScript","OutputS3BucketName":"ab"}`, "ValidationException",
			"Value 'ab' at 'outputS3BucketName' failed to satisfy constraint: Member must have length greater than or equal to 3"},
		{"ListCommands", `{"MaxResults":0}`, "ValidationException",
			"1 validation error detected: Value '0' at 'maxResults' failed to satisfy constraint: Member must have value greater than or equal to 1"},
		{"ListCommands", `{"MaxResults":51}`, "ValidationException",
			"1 validation error detected: Value '51' at 'maxResults' failed to satisfy constraint: Member must have value less than or equal to 50"},
		{"ListCommands", `{"Filters":[]}`, "ValidationException",
			"1 validation error detected: Value '[]' at 'filters' failed to satisfy constraint: Member must have length greater than or equal to 1"},
		{"ListCommands", `{"Filters":[{"key":"Color","value":"red"}]}`, "ValidationException",
			"1 validation error detected: Value 'Color' at 'filters.1.member.key' failed to satisfy constraint: Member must satisfy enum value set: [InvokedAfter, InvokedBefore, Status, ExecutionStage, DocumentName]"},
		{"ListCommands", `{"Filters":[{"key":"Status"}]}`, "ValidationException",
			"1 validation error detected: Value null at 'filters.1.member.value' failed to satisfy constraint: Member must not be null"},
		{"ListCommandInvocations", `{"Filters":[{"key":"ExecutionStage","value":"Complete"}]}`, "InvalidFilterKey",
			"the ExecutionStage filter is supported by ListCommands only"},
		{"ListCommandInvocations", `{"CommandId":"short"}`, "ValidationException",
			"Value 'short' at 'commandId' failed to satisfy constraint: Member must have length greater than or equal to 36"},
		{"CancelCommand", `{}`, "ValidationException",
			"1 validation error detected: Value null at 'commandId' failed to satisfy constraint: Member must not be null"},
		{"CancelCommand", `{` + cid + `,"InstanceIds":["bogus"]}`, "ValidationException",
			"at 'instanceIds' failed to satisfy constraint: Member must satisfy constraint: [Member must satisfy regular expression pattern"},
		{"DescribeInstanceInformation", `{"MaxResults":4}`, "ValidationException",
			"1 validation error detected: Value '4' at 'maxResults' failed to satisfy constraint: Member must have value greater than or equal to 5"},
		{"DescribeInstanceInformation", `{"Filters":[{"Key":"Color","Values":["red"]}]}`, "InvalidFilterKey",
			"the filter key Color is not valid"},
		{"DescribeInstanceInformation", `{"Filters":[{"Key":"PingStatus","Values":["Asleep"]}]}`, "InvalidInstanceInformationFilterValue",
			"Asleep is not a valid value for the filter PingStatus"},
		{"DescribeInstanceInformation", `{"Filters":[{"Key":"tag:env","Values":["dev"]},{"Key":"PingStatus","Values":["Online"]}]}`, "InvalidFilterKey",
			"tag filters cannot be combined with other filter types"},
		{"DescribeInstanceInformation", `{"Filters":[{"Key":"PingStatus","Values":[]}]}`, "ValidationException",
			"Value '[]' at 'filters.1.member.values' failed to satisfy constraint: Member must have length greater than or equal to 1"},
		{"DescribeInstanceInformation", `{"InstanceInformationFilterList":[{"key":"PingStatus","valueSet":["Online"]}],"Filters":[{"Key":"PingStatus","Values":["Online"]}]}`, "ValidationException",
			"InstanceInformationFilterList and Filters cannot be used together"},
		{"DescribeInstanceInformation", `{"InstanceInformationFilterList":[{"key":"tag:env","valueSet":["dev"]}]}`, "ValidationException",
			"at 'instanceInformationFilterList.1.member.key' failed to satisfy constraint: Member must satisfy enum value set"},
		{"ListDocuments", `{"MaxResults":0}`, "ValidationException",
			"Value '0' at 'maxResults' failed to satisfy constraint: Member must have value greater than or equal to 1"},
		{"ListDocuments", `{"DocumentFilterList":[{"key":"Color","value":"red"}]}`, "ValidationException",
			"Value 'Color' at 'documentFilterList.1.member.key' failed to satisfy constraint: Member must satisfy enum value set: [Name, Owner, PlatformTypes, DocumentType]"},
		{"ListDocuments", `{"Filters":[{},{},{},{},{},{},{}]}`, "ValidationException",
			"at 'filters' failed to satisfy constraint: Member must have length less than or equal to 6"},
		{"DescribeDocument", `{}`, "ValidationException",
			"1 validation error detected: Value null at 'name' failed to satisfy constraint: Member must not be null"},
		{"DescribeDocument", `{"Name":"AWS-RunShellScript","DocumentVersion":"0"}`, "ValidationException",
			"Value '0' at 'documentVersion' failed to satisfy constraint: Member must satisfy regular expression pattern: ([$]LATEST|[$]DEFAULT|^[1-9][0-9]*$)"},
		{"GetDocument", `{"Name":"AWS-RunShellScript","DocumentFormat":"XML"}`, "ValidationException",
			"1 validation error detected: Value 'XML' at 'documentFormat' failed to satisfy constraint: Member must satisfy enum value set: [YAML, JSON, TEXT]"},
		{"GetDocument", `{"Name":"AWS-RunShellScript","VersionName":"a b"}`, "ValidationException",
			"Value 'a b' at 'versionName' failed to satisfy constraint: Member must satisfy regular expression pattern"},
	}
	for _, tt := range tests {
		t.Run(tt.op+" "+tt.body[:min(len(tt.body), 60)], func(t *testing.T) {
			t.Parallel()
			fake := newFake()
			rec := httptest.NewRecorder()
			NewHandler(fake, nil).ServeHTTP(rec, newRequest("AmazonSSM."+tt.op, tt.body))
			var got struct {
				Type    string `json:"__type"`
				Message string `json:"message"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
				t.Fatalf("body %s: %v", rec.Body, err)
			}
			if rec.Code != http.StatusBadRequest || got.Type != tt.errType {
				t.Errorf("got %d %s, want 400 %s", rec.Code, got.Type, tt.errType)
			}
			if !strings.Contains(got.Message, tt.message) {
				t.Errorf("message = %q\nwant it to contain %q", got.Message, tt.message)
			}
			if len(fake.inputs) != 0 {
				t.Errorf("backend was called with %v", fake.inputs)
			}
		})
	}
}

// TestValidRequestsPass makes sure the checks do not reject what SSM accepts.
func TestValidRequestsPass(t *testing.T) {
	t.Parallel()
	tests := []struct{ op, body string }{
		{"SendCommand", `{"DocumentName":"arn:aws:ssm:us-east-1:123456789012:document/My.Doc_1","DocumentVersion":"$LATEST",
			"InstanceIds":["i-12345678","i-0123456789abcdef0","mi-0123456789abcdef0"],"TimeoutSeconds":30,"MaxConcurrency":"100%","MaxErrors":"0%",
			"Targets":[{"Key":"tag:Env Name","Values":["a"]},{"Key":"resource-groups:Name","Values":["g"]}],"DocumentHashType":"Sha256",
			"CloudWatchOutputConfig":{"CloudWatchOutputEnabled":false},"OutputS3Region":"us-east-1"}`},
		{"SendCommand", `{"DocumentName":"AWS-RunShellScript","MaxConcurrency":"1","MaxErrors":"9%","Comment":"","TimeoutSeconds":2592000}`},
		{"ListCommands", `{"MaxResults":50,"Filters":[{"key":"Status","value":"Success"}]}`},
		{"ListCommandInvocations", `{"MaxResults":1,"Details":true,"Filters":[{"key":"Status","value":"Failed"}]}`},
		{"DescribeInstanceInformation", `{"MaxResults":50,"Filters":[{"Key":"tag:env","Values":["dev"]},{"Key":"tag-key","Values":["env"]}]}`},
		{"DescribeInstanceInformation", `{"InstanceInformationFilterList":[{"key":"InstanceIds","valueSet":["mi-0123456789abcdef0"]}]}`},
		{"ListDocuments", `{"Filters":[{"Key":"Owner","Values":["Self"]}],"MaxResults":50}`},
		{"DescribeDocument", `{"Name":"AWS-RunShellScript","VersionName":"v1.0_beta-2"}`},
		{"GetDocument", `{"Name":"AWS-RunShellScript","DocumentVersion":"12","DocumentFormat":"TEXT"}`},
	}
	for _, tt := range tests {
		t.Run(tt.op, func(t *testing.T) {
			t.Parallel()
			rec := httptest.NewRecorder()
			NewHandler(newFake(), nil).ServeHTTP(rec, newRequest("AmazonSSM."+tt.op, tt.body))
			if rec.Code != http.StatusOK {
				t.Errorf("status %d, body %s", rec.Code, rec.Body)
			}
		})
	}
}

func TestLongValuesAreCutInMessages(t *testing.T) {
	t.Parallel()
	rec := httptest.NewRecorder()
	long := strings.Repeat("x", 10000)
	NewHandler(newFake(), nil).ServeHTTP(rec, newRequest("AmazonSSM.SendCommand", `{"DocumentName":"`+long+`"}`))
	if rec.Code != http.StatusBadRequest || rec.Body.Len() > 1000 {
		t.Errorf("status %d, body of %d bytes; want a 400 that does not echo the whole value", rec.Code, rec.Body.Len())
	}
}

func TestInternalErrorIsLogged(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	fake := newFake()
	fake.err = errors.New("table runcmd-commands: throttled")
	h := NewHandler(fake, slog.New(slog.NewJSONHandler(&logs, nil)))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, newRequest("AmazonSSM.ListCommands", `{}`))
	if rec.Code != http.StatusInternalServerError || strings.Contains(rec.Body.String(), "throttled") {
		t.Errorf("got %d %s, want 500 without the detail", rec.Code, rec.Body)
	}
	if !strings.Contains(logs.String(), "throttled") || !strings.Contains(logs.String(), `"operation":"ListCommands"`) {
		t.Errorf("log %q lacks the detail or the operation", logs.String())
	}
}
