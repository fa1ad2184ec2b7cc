package node

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/runcmd/runcmd/agent/internal/state"
)

// registeredDir is a state directory with a key and a registration at the api endpoint.
func registeredDir(t *testing.T, endpoint string) string {
	t.Helper()
	dir := t.TempDir()
	st, err := state.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Key(); err != nil {
		t.Fatal(err)
	}
	if err := st.SaveRegistration(state.Registration{InstanceID: "mi-0123456789abcdef0", QueueURL: "q", ResultsQueueURL: "r",
		Endpoint: endpoint, Region: "us-east-1"}); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestNewAWSCredentials checks NewAWS's credentials choice without AWS: api credentials need an api
// endpoint, and an api that issues none stops the agent at start with the api's reason.
func TestNewAWSCredentials(t *testing.T) {
	t.Parallel()
	noRole := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`{"__type":"UnsupportedOperationException","message":"This deployment issues no node credentials"}`))
	}))
	t.Cleanup(noRole.Close)
	for _, tt := range []struct {
		name     string
		endpoint string
		opts     []AWSOption
		wantErr  string
	}{
		{"ambient by default", "", nil, ""},
		{"ambient", "", []AWSOption{WithCredentials(CredentialsAmbient)}, ""},
		{"api without an endpoint", "", []AWSOption{WithCredentials(CredentialsAPI)}, "endpoint"},
		{"api without a node role", noRole.URL, []AWSOption{WithCredentials(CredentialsAPI)}, "UnsupportedOperationException"},
		{"unknown source", "", []AWSOption{WithCredentials("imds")}, `credentials "imds"`},
	} {
		_, err := NewAWS(context.Background(), aws.Config{Region: "us-east-1"}, Config{StateDir: registeredDir(t, tt.endpoint)},
			AWSNames{}, tt.opts...)
		switch {
		case tt.wantErr == "" && err != nil:
			t.Errorf("%s: %v", tt.name, err)
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
			t.Errorf("%s: %v, want an error about %s", tt.name, err, tt.wantErr)
		}
	}
}
