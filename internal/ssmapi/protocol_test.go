package ssmapi

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/runcmd/runcmd/internal/service"
)

func newRequest(target, body string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
	if target != "" {
		r.Header.Set("X-Amz-Target", target)
	}
	r.Header.Set("Content-Type", "application/x-amz-json-1.1")
	return r
}

// errorType decodes an error response and returns its __type, failing the test if the body is not
// SSM's error shape.
func errorType(t *testing.T, rec *httptest.ResponseRecorder) string {
	t.Helper()
	var body struct {
		Type    string `json:"__type"`
		Message string `json:"message"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatalf("error body %q is not JSON: %v", rec.Body, err)
	}
	if body.Type == "" {
		t.Fatalf("error body %q has no __type", rec.Body)
	}
	return body.Type
}

func TestProtocolErrors(t *testing.T) {
	t.Parallel()
	huge := `{"Comment":"` + strings.Repeat("x", MaxRequestBytes) + `"}`
	tests := []struct {
		name        string
		req         func() *http.Request
		status      int
		errType     string
		messagePart string
	}{
		{"unknown operation", func() *http.Request { return newRequest("AmazonSSM.Frobnicate", "{}") },
			400, "UnknownOperationException", "Frobnicate"},
		{"missing target", func() *http.Request { return newRequest("", "{}") },
			400, "UnknownOperationException", "missing X-Amz-Target"},
		{"other service's target", func() *http.Request { return newRequest("DynamoDB_20120810.ListTables", "{}") },
			400, "UnknownOperationException", "not an SSM operation"},
		{"GET", func() *http.Request {
			r := newRequest("AmazonSSM.ListCommands", "")
			r.Method = http.MethodGet
			return r
		}, 405, "MethodNotAllowedException", "POST"},
		{"wrong path", func() *http.Request {
			r := newRequest("AmazonSSM.ListCommands", "{}")
			r.URL.Path = "/v1/commands"
			return r
		}, 404, "UnknownOperationException", "/v1/commands"},
		{"malformed JSON", func() *http.Request { return newRequest("AmazonSSM.ListCommands", `{"MaxResults":`) },
			400, "SerializationException", "not valid JSON"},
		{"not an object", func() *http.Request { return newRequest("AmazonSSM.ListCommands", `[1,2]`) },
			400, "SerializationException", "JSON object"},
		{"trailing data", func() *http.Request { return newRequest("AmazonSSM.ListCommands", `{} {}`) },
			400, "SerializationException", "after the JSON object"},
		{"wrong type", func() *http.Request { return newRequest("AmazonSSM.ListCommands", `{"MaxResults":"10"}`) },
			400, "SerializationException", "'MaxResults'"},
		{"wrong nested type", func() *http.Request {
			return newRequest("AmazonSSM.SendCommand", `{"DocumentName":"AWS-RunShellScript","Parameters":{"commands":"ls"}}`)
		}, 400, "SerializationException", "Parameters"},
		{"huge body", func() *http.Request { return newRequest("AmazonSSM.ListCommands", huge) },
			413, "RequestEntityTooLargeException", "1048576"},
		{"wrong content type", func() *http.Request {
			r := newRequest("AmazonSSM.ListCommands", "{}")
			r.Header.Set("Content-Type", "text/xml")
			return r
		}, 400, "SerializationException", "Content-Type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fake := newFake()
			rec := httptest.NewRecorder()
			NewHandler(fake, nil).ServeHTTP(rec, tt.req())
			if rec.Code != tt.status {
				t.Errorf("status = %d, want %d (body %s)", rec.Code, tt.status, rec.Body)
			}
			if got := errorType(t, rec); got != tt.errType {
				t.Errorf("__type = %q, want %q", got, tt.errType)
			}
			if !strings.Contains(rec.Body.String(), tt.messagePart) {
				t.Errorf("body %s does not mention %q", rec.Body, tt.messagePart)
			}
			if ct := rec.Header().Get("Content-Type"); ct != "application/x-amz-json-1.1" {
				t.Errorf("Content-Type = %q", ct)
			}
			if rec.Header().Get("x-amzn-RequestId") == "" {
				t.Error("no x-amzn-RequestId")
			}
			if len(fake.inputs) != 0 {
				t.Errorf("backend was called: %v", fake.inputs)
			}
		})
	}
}

// TestDecodeFollowsAWS checks the decoding rules AWS applies and encoding/json does not by default:
// unknown members are ignored, member names are case-sensitive, an empty body and null mean absent.
func TestDecodeFollowsAWS(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		body string
		want service.ListCommandsInput
	}{
		{"unknown members ignored", `{"MaxResults":7,"Bogus":{"x":[1]},"Filters":[{"key":"Status","value":"Success","extra":1}]}`,
			service.ListCommandsInput{MaxResults: 7, Filters: []service.Filter{{Key: "Status", Value: "Success"}}}},
		{"case-sensitive names", `{"maxresults":7,"commandId":"x","MaxResults":3}`, service.ListCommandsInput{MaxResults: 3}},
		{"empty body", ``, service.ListCommandsInput{}},
		{"nulls", `{"MaxResults":null,"CommandId":null,"Filters":null}`, service.ListCommandsInput{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fake := newFake()
			rec := httptest.NewRecorder()
			NewHandler(fake, nil).ServeHTTP(rec, newRequest("AmazonSSM.ListCommands", tt.body))
			if rec.Code != http.StatusOK {
				t.Fatalf("status = %d, body %s", rec.Code, rec.Body)
			}
			if diff := cmp.Diff(tt.want, fake.input("ListCommands")); diff != "" {
				t.Errorf("backend input (-want +got):\n%s", diff)
			}
		})
	}
}

// TestResponseShape checks the raw JSON of a Command against SSM's recorded responses: empty members
// are present as "", [] and {}, timestamps are epoch seconds with a fraction.
func TestResponseShape(t *testing.T) {
	t.Parallel()
	fake := newFake()
	fake.cmd.Parameters, fake.cmd.InstanceIDs = nil, nil
	rec := httptest.NewRecorder()
	NewHandler(fake, nil).ServeHTTP(rec, newRequest("AmazonSSM.SendCommand", `{"DocumentName":"AWS-RunShellScript"}`))
	if rec.Code != http.StatusOK {
		t.Fatalf("status = %d, body %s", rec.Code, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/x-amz-json-1.1" {
		t.Errorf("Content-Type = %q", ct)
	}
	var got struct {
		Command map[string]json.RawMessage
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"Parameters":             `{}`,
		"InstanceIds":            `[]`,
		"Targets":                `[]`,
		"OutputS3BucketName":     `""`,
		"ServiceRole":            `""`,
		"RequestedDateTime":      `1550172386.439`,
		"ExpiresAfter":           `1550179586.439`,
		"NotificationConfig":     `{"NotificationArn":"","NotificationEvents":[],"NotificationType":""}`,
		"CloudWatchOutputConfig": `{"CloudWatchLogGroupName":"","CloudWatchOutputEnabled":false}`,
	}
	for k, w := range want {
		if string(got.Command[k]) != w {
			t.Errorf("Command.%s = %s, want %s", k, got.Command[k], w)
		}
	}
	for _, k := range []string{"AlarmConfiguration", "TriggeredAlarms", "OutputS3Region"} {
		if _, ok := got.Command[k]; ok {
			t.Errorf("Command.%s is present; SSM leaves it out when unset", k)
		}
	}
}
