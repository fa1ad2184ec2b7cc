package main

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseTags(t *testing.T) {
	t.Parallel()
	got, err := parseTags("Workload=Prod, Team=ops,Empty=")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]string{"Workload": "Prod", "Team": "ops", "Empty": ""}, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	for _, bad := range []string{"noequals", "=v", "a=b,,c=d"} {
		if _, err := parseTags(bad); err == nil {
			t.Errorf("parseTags(%q) accepted", bad)
		}
	}
}

func TestParseOptions(t *testing.T) {
	t.Parallel()
	env := map[string]string{"AWS_REGION": "eu-west-1", "RUNCMD_PREFIX": "p", "RUNCMD_WORKERS": "3", "RUNCMD_TAGS": "A=1"}
	getenv := func(k string) string { return env[k] }
	o, err := parseOptions([]string{"--workers", "7", "--grace", "5s", "--state-dir", "/tmp/x"}, getenv, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if o.region != "eu-west-1" || o.prefix != "p" || o.workers != 7 || o.grace != 5*time.Second ||
		o.stateDir != "/tmp/x" || o.tags["A"] != "1" {
		t.Errorf("options = %+v", o)
	}
	_, err = parseOptions([]string{"--workers", "0", "--grace", "soon"}, func(string) string { return "" }, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "workers") || !strings.Contains(err.Error(), "grace") ||
		!strings.Contains(err.Error(), "region") {
		t.Errorf("err = %v, want every problem in one error", err)
	}
}

func TestVersion(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	if code := run(context.Background(), []string{"version"}, func(string) string { return "" }, &out, io.Discard); code != 0 {
		t.Fatalf("exit %d", code)
	}
	if !strings.HasPrefix(out.String(), "runcmd-agent ") {
		t.Errorf("output %q", out.String())
	}
}

func TestParseRegister(t *testing.T) {
	t.Parallel()
	o, err := parseRegister([]string{"--code", "c0de", "--id", "i-d", "--endpoint", "http://api"},
		func(k string) string { return map[string]string{"AWS_REGION": "eu-west-1"}[k] }, io.Discard)
	if err != nil || o.code != "c0de" || o.id != "i-d" || o.region != "eu-west-1" || o.apiEndpoint != "http://api" {
		t.Errorf("parseRegister = %+v, %v", o, err)
	}
	_, err = parseRegister(nil, func(string) string { return "" }, io.Discard)
	for _, want := range []string{"code", "id", "region", "endpoint"} {
		if err == nil || !strings.Contains(err.Error(), want+": required") {
			t.Errorf("err = %v, want %s reported as required", err, want)
		}
	}
}
