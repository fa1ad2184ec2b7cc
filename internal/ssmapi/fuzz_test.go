package ssmapi

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
)

// FuzzHandler sends arbitrary targets and bodies. Whatever arrives, the handler must answer with SSM's
// JSON (a result or an error body) and never with a panic or a 500: with a backend that does not fail,
// a 500 would be a bug in this package. The seed corpus is in testdata/fuzz/FuzzHandler.
func FuzzHandler(f *testing.F) {
	f.Add("AmazonSSM.ListCommands", []byte(`{}`))
	f.Add("AmazonSSM.SendCommand", []byte(`{"DocumentName":"AWS-RunShellScript","InstanceIds":["i-12345678"],"Parameters":{"commands":["ls"]}}`))
	f.Add("AmazonSSM.GetCommandInvocation", []byte(`{"CommandId":"92853adf-ba41-4cd6-9a88-142d1abcdef0","InstanceId":"i-12345678"}`))
	f.Add("AmazonSSM.Nope", []byte(`not json`))
	f.Add("", []byte(nil))
	h := NewHandler(newFake(), nil)
	f.Fuzz(func(t *testing.T, target string, body []byte) {
		r := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
		r.Header.Set("X-Amz-Target", target)
		r.Header.Set("Content-Type", "application/x-amz-json-1.1")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		if rec.Code >= 500 {
			t.Fatalf("target %q body %q: status %d %s", target, body, rec.Code, rec.Body)
		}
		if !json.Valid(rec.Body.Bytes()) {
			t.Fatalf("target %q body %q: response is not JSON: %q", target, body, rec.Body)
		}
		if rec.Code != http.StatusOK {
			var e struct {
				Type string `json:"__type"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Type == "" {
				t.Fatalf("target %q body %q: error body without __type: %s", target, body, rec.Body)
			}
		}
	})
}
