package ssmapi

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/runcmd/runcmd"
)

func TestPluginOutput(t *testing.T) {
	t.Parallel()
	const (
		title = "\n----------ERROR-------\n"
		outTr = "\n---Output truncated---"
		errTr = "\n---Error truncated----"
	)
	room := runcmd.MaxPluginOutput - len(title) // 2477 when stderr is present
	x := func(n int) string { return strings.Repeat("o", n) }
	e := func(n int) string { return strings.Repeat("e", n) }
	tests := []struct {
		name           string
		stdout, stderr string
		code           int
		want           string
	}{
		{"empty", "", "", 0, ""},
		{"stdout only", "hello\n", "", 0, "hello\n"},
		{"agent sample", "standard output of test case", "standard error of test case", 1,
			"standard output of test case" + title + "standard error of test case"},
		{"stderr only", "", "oops", 1, title + "oops"},
		{"exit 168 drops stderr", "out", "err", 168, "out"},
		{"exactly fits without stderr", x(2500), "", 0, x(2500)},
		{"exactly fits with stderr", x(2000), e(room - 2000), 1, x(2000) + title + e(room-2000)},
		{"long stdout alone", x(3000), "", 0, x(2500-len(outTr)) + outTr},
		{"long stdout, short stderr", x(3000), e(10), 1, x(room-len(outTr)-10) + outTr + title + e(10)},
		{"short stdout, long stderr", x(10), e(3000), 1, x(10) + title + e(room-len(errTr)-10) + errTr},
		{"both long", x(3000), e(3000), 1,
			x((room-len(outTr)-len(errTr))/2) + outTr + title + e((room-len(outTr)-len(errTr))/2) + errTr},
		// The agent slices with a negative bound here (stdout exactly half, stderr longer); we cut stderr.
		{"stdout exactly half", x(room / 2), e(room), 1, x(room/2) + title + e(room-len(errTr)-room/2) + errTr},
		{"multibyte counted as characters", strings.Repeat("é", 2500), "", 0, strings.Repeat("é", 2500)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := PluginOutput(tt.stdout, tt.stderr, tt.code)
			if got != tt.want {
				t.Errorf("PluginOutput = %q (%d chars), want %q (%d chars)", got, utf8.RuneCountInString(got), tt.want, utf8.RuneCountInString(tt.want))
			}
			if n := utf8.RuneCountInString(got); n > runcmd.MaxPluginOutput {
				t.Errorf("output has %d characters, more than %d", n, runcmd.MaxPluginOutput)
			}
		})
	}
}

func FuzzPluginOutput(f *testing.F) {
	f.Add("out", "err", 0)
	f.Add(strings.Repeat("a", 1238), strings.Repeat("b", 1300), 1)
	f.Fuzz(func(t *testing.T, stdout, stderr string, code int) {
		got := PluginOutput(stdout, stderr, code)
		if n := utf8.RuneCountInString(got); n > runcmd.MaxPluginOutput {
			t.Fatalf("output has %d characters", n)
		}
		if utf8.ValidString(stdout) && utf8.ValidString(stderr) && !utf8.ValidString(got) {
			t.Fatalf("valid input produced invalid UTF-8")
		}
	})
}

func TestISODuration(t *testing.T) {
	t.Parallel()
	tests := []struct {
		d    time.Duration
		want string
	}{
		{541 * time.Millisecond, "PT0.541S"},
		{time.Hour + 271*time.Millisecond, "PT1H0.271S"},
		{0, "PT0S"},
		{-time.Second, "PT0S"},
		{500 * time.Microsecond, "PT0S"},
		{8500 * time.Millisecond, "PT8.5S"},
		{2 * time.Minute, "PT2M"},
		{time.Hour, "PT1H"},
		{26*time.Hour + 3*time.Minute + 4*time.Second + 50*time.Millisecond, "PT26H3M4.05S"},
		{61 * time.Second, "PT1M1S"},
	}
	for _, tt := range tests {
		if got := isoDuration(tt.d); got != tt.want {
			t.Errorf("isoDuration(%v) = %q, want %q", tt.d, got, tt.want)
		}
	}
}

func TestTimestamps(t *testing.T) {
	t.Parallel()
	tests := []struct {
		t         time.Time
		epoch     string
		iso       string
		zeroEpoch bool
	}{
		{time.Date(2019, 2, 14, 19, 26, 26, 439_500_000, time.UTC), "1550172386.439", "2019-02-14T19:26:26.439Z", false},
		{time.Date(2020, 2, 20, 17, 46, 46, 0, time.UTC), "1582220806.0", "2020-02-20T17:46:46.000Z", false},
		{time.Date(2020, 2, 19, 18, 18, 3, 510_000_000, time.FixedZone("x", -8*3600)), "1582165083.51", "2020-02-20T02:18:03.510Z", false},
		{time.Date(1969, 12, 31, 23, 59, 59, 250_000_000, time.UTC), "-1.25", "1969-12-31T23:59:59.250Z", false},
	}
	for _, tt := range tests {
		b, err := json.Marshal(epoch(tt.t))
		if err != nil || string(b) != tt.epoch {
			t.Errorf("epoch(%v) = %s, %v; want %s", tt.t, b, err, tt.epoch)
		}
		if got := isoTime(tt.t); got != tt.iso {
			t.Errorf("isoTime(%v) = %q, want %q", tt.t, got, tt.iso)
		}
	}
	if isoTime(time.Time{}) != "" {
		t.Error("isoTime(zero) is not empty")
	}
	b, _ := json.Marshal(struct {
		T epoch `json:"T,omitzero"`
	}{})
	if string(b) != "{}" {
		t.Errorf("zero epoch encodes as %s, want it left out", b)
	}
}

func TestTruncateChars(t *testing.T) {
	t.Parallel()
	tests := []struct {
		s    string
		n    int
		want string
	}{
		{"hello", 10, "hello"},
		{"hello", 5, "hello"},
		{"hello", 3, "hel"},
		{"ééé", 2, "éé"},
		{"ééé", 3, "ééé"},
		{"", 0, ""},
	}
	for _, tt := range tests {
		if got := truncateChars(tt.s, tt.n); got != tt.want {
			t.Errorf("truncateChars(%q, %d) = %q, want %q", tt.s, tt.n, got, tt.want)
		}
	}
	long := strings.Repeat("ü", runcmd.MaxStdout+5)
	if got := utf8.RuneCountInString(truncateChars(long, runcmd.MaxStdout)); got != runcmd.MaxStdout {
		t.Errorf("kept %d characters, want %d", got, runcmd.MaxStdout)
	}
}

// TestGetCommandInvocationLimits checks that GetCommandInvocation cuts stdout at 24,000 and stderr at
// 8,000 characters, and reports -1 while the plugin runs.
func TestGetCommandInvocationLimits(t *testing.T) {
	t.Parallel()
	fake := newFake()
	p := *fake.inv.Plugin
	p.Stdout = strings.Repeat("ö", 30000)
	p.Stderr = strings.Repeat("ä", 9000)
	fake.inv.Plugin = &p
	got := toGetCommandInvocation(fake.inv)
	if n := utf8.RuneCountInString(got.StandardOutputContent); n != 24000 {
		t.Errorf("stdout has %d characters, want 24000", n)
	}
	if n := utf8.RuneCountInString(got.StandardErrorContent); n != 8000 {
		t.Errorf("stderr has %d characters, want 8000", n)
	}
	p.Status, p.Detail, p.EndedAt = runcmd.InvocationInProgress, runcmd.DetailInProgress, time.Time{}
	got = toGetCommandInvocation(fake.inv)
	if got.ResponseCode != -1 || got.ExecutionEndDateTime != "" || got.ExecutionElapsedTime != "" || got.Status != "InProgress" {
		t.Errorf("running plugin: %+v", got)
	}
}
