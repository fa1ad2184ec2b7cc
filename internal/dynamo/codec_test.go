package dynamo

import (
	"crypto/rand"
	"encoding/base64"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/runcmd/runcmd"
)

func TestToken(t *testing.T) {
	t.Parallel()
	key := item{attrCommandID: str("c1"), attrInstanceID: str("mi-1"), attrSeq: num(42)}
	tok, err := encodeToken(key)
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodeToken(tok)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(key, got, cmpopts.IgnoreUnexported(types.AttributeValueMemberS{}, types.AttributeValueMemberN{})); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
	for _, bad := range []string{"%%%", base64.RawURLEncoding.EncodeToString([]byte("{}")),
		base64.RawURLEncoding.EncodeToString([]byte(`{"a":["B","x"]}`)), base64.RawURLEncoding.EncodeToString([]byte("nope"))} {
		if _, err := decodeToken(bad); runcmd.ErrorCode(err) != runcmd.EINVALID {
			t.Errorf("decodeToken(%q): err %v, want EINVALID", bad, err)
		}
	}
}

func TestTimeKeySorts(t *testing.T) {
	t.Parallel()
	base := time.Date(2025, 1, 2, 3, 4, 5, 0, time.FixedZone("x", 3600))
	times := []time.Time{base, base.Add(time.Nanosecond), base.Add(100 * time.Millisecond), base.Add(time.Second), base.Add(time.Hour)}
	var keys []string
	for _, tm := range times {
		keys = append(keys, timeKey(tm))
		back, err := time.Parse(time.RFC3339Nano, timeKey(tm))
		if err != nil || !back.Equal(tm) {
			t.Errorf("timeKey(%v) = %q parses back to %v, %v", tm, timeKey(tm), back, err)
		}
	}
	if !slices.IsSorted(keys) {
		t.Errorf("keys out of time order: %q", keys)
	}
}

func TestTagKVUnambiguous(t *testing.T) {
	t.Parallel()
	pairs := [][2]string{{"a=b", "c"}, {"a", "b=c"}, {"a", "=b=c"}, {"1:a", "b"}, {"a", ""}}
	seen := map[string][2]string{}
	for _, p := range pairs {
		kv := tagKV(p[0], p[1])
		if q, ok := seen[kv]; ok {
			t.Errorf("tagKV(%q) == tagKV(%q) == %q", p, q, kv)
		}
		seen[kv] = p
	}
}

func TestResultEncoding(t *testing.T) {
	t.Parallel()
	big := runcmd.Result{ResponseCode: 1}
	for i := range 20 { // 20 steps at the inline limits: well over 400 KB as plain JSON
		big.Plugins = append(big.Plugins, runcmd.PluginResult{Name: strings.Repeat("s", i+1),
			Stdout: strings.Repeat("output line\n", runcmd.MaxStdout/12), Stderr: strings.Repeat("e", runcmd.MaxStderr)})
	}
	noise := make([]byte, 600_000)
	_, _ = rand.Read(noise)
	tests := []struct {
		name     string
		r        runcmd.Result
		wantAttr string
		wantCode string
	}{
		{"small", runcmd.Result{ResponseCode: -1, TraceOutput: "t"}, attrResult, ""},
		{"big", big, attrResultGz, ""},
		{"incompressible", runcmd.Result{TraceOutput: base64.StdEncoding.EncodeToString(noise)}, "", runcmd.ELIMIT},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			name, v, err := encodeResult(tt.r)
			if runcmd.ErrorCode(err) != tt.wantCode {
				t.Fatalf("err %v, want code %q", err, tt.wantCode)
			}
			if err != nil {
				return
			}
			if name != tt.wantAttr {
				t.Errorf("stored in %s, want %s", name, tt.wantAttr)
			}
			got, err := decodeResult(item{name: v})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.r, got); diff != "" {
				t.Errorf("round trip (-want +got):\n%s", diff)
			}
		})
	}
}
