package ssmapi

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/runcmd/runcmd"
	"github.com/runcmd/runcmd/internal/service"
)

// credsBackend is a fakeBackend that also issues node credentials.
type credsBackend struct {
	*fakeBackend
	got service.GetManagedInstanceCredentialsInput
}

func (b *credsBackend) GetManagedInstanceCredentials(_ context.Context, in service.GetManagedInstanceCredentialsInput) (runcmd.NodeCredentials, error) {
	b.got = in
	if in.InstanceID == "mi-00000000000000000" {
		return runcmd.NodeCredentials{}, runcmd.Errorf(runcmd.ENOTFOUND, "", "not registered")
	}
	return runcmd.NodeCredentials{AccessKeyID: "ASIAEXAMPLE", SecretAccessKey: "secret", SessionToken: "token",
		Expiration: time.Date(2026, 11, 27, 13, 0, 0, 500_000_000, time.UTC)}, nil
}

func TestGetManagedInstanceCredentialsShape(t *testing.T) {
	t.Parallel()
	sig := base64.StdEncoding.EncodeToString([]byte(strings.Repeat("s", 64)))
	const target = "AmazonSSM.GetManagedInstanceCredentials"
	serve := func(b Backend, body string) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		NewHandler(b, nil).ServeHTTP(rec, newRequest(target, body))
		return rec
	}

	b := &credsBackend{fakeBackend: newFake()}
	rec := serve(b, `{"InstanceId":"mi-0123456789abcdef0","SignedAt":1795784400.123,"Signature":"`+sig+`"}`)
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	want := service.GetManagedInstanceCredentialsInput{InstanceID: "mi-0123456789abcdef0",
		SignedAt: time.UnixMilli(1795784400123).UTC(), Signature: []byte(strings.Repeat("s", 64))}
	if diff := cmp.Diff(want, b.got); diff != "" {
		t.Errorf("service input (-want +got):\n%s", diff)
	}
	var got map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	wantBody := map[string]any{"AccessKeyId": "ASIAEXAMPLE", "SecretAccessKey": "secret", "SessionToken": "token",
		"Expiration": 1795784400.5}
	if diff := cmp.Diff(wantBody, got); diff != "" {
		t.Errorf("response (-want +got):\n%s", diff)
	}

	for _, tt := range []struct {
		name, body, wantType string
		b                    Backend
	}{
		{"no signature", `{"InstanceId":"mi-0123456789abcdef0","SignedAt":1}`, "ValidationException", b},
		{"short signature", `{"InstanceId":"mi-0123456789abcdef0","SignedAt":1,"Signature":"c2ln"}`, "ValidationException", b},
		{"no time", `{"InstanceId":"mi-0123456789abcdef0","Signature":"` + sig + `"}`, "ValidationException", b},
		{"malformed id", `{"InstanceId":"i-x","SignedAt":1,"Signature":"` + sig + `"}`, "ValidationException", b},
		{"unknown node", `{"InstanceId":"mi-00000000000000000","SignedAt":1,"Signature":"` + sig + `"}`, "InvalidInstanceId", b},
		{"backend without credentials", `{"InstanceId":"mi-0123456789abcdef0","SignedAt":1,"Signature":"` + sig + `"}`,
			"UnsupportedOperationException", newFake()},
	} {
		rec := serve(tt.b, tt.body)
		if rec.Code != http.StatusBadRequest || errorType(t, rec) != tt.wantType {
			t.Errorf("%s: %d %s, want 400 %s", tt.name, rec.Code, rec.Body, tt.wantType)
		}
	}
}
