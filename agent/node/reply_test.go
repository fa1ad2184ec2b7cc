package node

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/runcmd/runcmd"
	"github.com/runcmd/runcmd/internal/sqsq"
)

func TestEncodeReply(t *testing.T) {
	t.Parallel()
	escaped := strings.Repeat("\x01", runcmd.MaxStdout) // 6 JSON bytes a character
	plugins := func(n int, out string) []runcmd.PluginResult {
		ps := make([]runcmd.PluginResult, n)
		for i := range ps {
			ps[i] = runcmd.PluginResult{Name: "step", Stdout: out, Stderr: out[:min(len(out), runcmd.MaxStderr)]}
		}
		return ps
	}
	tests := []struct {
		name       string
		plugins    []runcmd.PluginResult
		wantShrunk bool
	}{
		{"small", plugins(2, "hello"), false},
		{"one step at the limits fits", plugins(1, escaped), false},
		{"many steps at the limits", plugins(20, escaped), true},
		{"thousands of steps", plugins(5000, "x"), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := runcmd.Reply{CommandID: "c", InstanceID: testID, Detail: runcmd.DetailSuccess,
				Result: runcmd.Result{TraceOutput: "trace", Plugins: tt.plugins}}
			body, shrunk, err := encodeReply(r, nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(body) > sqsq.MaxMessageBytes {
				t.Errorf("body is %d bytes, over %d", len(body), sqsq.MaxMessageBytes)
			}
			if shrunk != tt.wantShrunk {
				t.Errorf("shrunk = %v, want %v", shrunk, tt.wantShrunk)
			}
			var m runcmd.ResultMessage
			if err := json.Unmarshal([]byte(body), &m); err != nil || m.Reply == nil {
				t.Fatalf("body does not decode: %v", err)
			}
			if tt.wantShrunk && !strings.Contains(m.Reply.Result.TraceOutput, "256 KiB") {
				t.Errorf("TraceOutput = %q, want the shrink explained", m.Reply.Result.TraceOutput)
			}
			if len([]rune(m.Reply.Result.TraceOutput)) > runcmd.MaxTraceOutput {
				t.Errorf("TraceOutput has %d characters", len([]rune(m.Reply.Result.TraceOutput)))
			}
			if len(r.Result.Plugins) > 0 && r.Result.Plugins[0].Stdout != tt.plugins[0].Stdout {
				t.Error("encodeReply changed the caller's plugins")
			}
		})
	}
}
