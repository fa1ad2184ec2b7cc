package main

import (
	"io"
	"strings"
	"testing"
)

func TestParseCredentials(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name    string
		args    []string
		env     string
		want    string
		wantErr bool
	}{
		{"default", nil, "", "ambient", false},
		{"environment", nil, "api", "api", false},
		{"flag over environment", []string{"--credentials", "ambient"}, "api", "ambient", false},
		{"unknown", []string{"--credentials", "imds"}, "", "", true},
	} {
		env := map[string]string{"AWS_REGION": "us-east-1", "RUNCMD_CREDENTIALS": tt.env}
		o, err := parseOptions(tt.args, func(k string) string { return env[k] }, io.Discard)
		if tt.wantErr {
			if err == nil || !strings.Contains(err.Error(), "credentials") {
				t.Errorf("%s: err = %v, want one about credentials", tt.name, err)
			}
			continue
		}
		if err != nil || o.credentials != tt.want {
			t.Errorf("%s: credentials %q, %v; want %q", tt.name, o.credentials, err, tt.want)
		}
	}
}
