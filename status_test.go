package runcmd

import (
	"testing"
	"time"
)

func TestCanTransition(t *testing.T) {
	t.Parallel()
	all := append([]Detail{DetailPending, DetailInProgress, DetailDelayed, DetailCancelling}, TerminalDetails...)
	allowed := map[Detail][]Detail{
		DetailPending: {DetailInProgress, DetailDelayed, DetailSuccess, DetailFailed, DetailDeliveryTimedOut,
			DetailExecutionTimedOut, DetailCancelled, DetailTerminated, DetailUndeliverable, DetailInvalidPlatform, DetailAccessDenied},
		DetailDelayed: {DetailInProgress, DetailSuccess, DetailFailed, DetailDeliveryTimedOut,
			DetailExecutionTimedOut, DetailCancelled, DetailTerminated, DetailUndeliverable, DetailInvalidPlatform, DetailAccessDenied},
		DetailInProgress: {DetailInProgress, DetailCancelling, DetailSuccess, DetailFailed, DetailExecutionTimedOut,
			DetailCancelled, DetailDeliveryTimedOut, DetailUndeliverable},
		DetailCancelling: {DetailSuccess, DetailFailed, DetailExecutionTimedOut, DetailCancelled, DetailDeliveryTimedOut},
	}
	for _, from := range all {
		for _, to := range all {
			want := false
			for _, a := range allowed[from] {
				if a == to {
					want = true
				}
			}
			if got := CanTransition(from, to); got != want {
				t.Errorf("CanTransition(%s, %s) = %v, want %v", from, to, got, want)
			}
		}
	}
	if CanTransition("Bogus", DetailSuccess) || CanTransition(DetailPending, "Bogus") {
		t.Error("unknown details must never transition")
	}
}

func TestDetailStatus(t *testing.T) {
	t.Parallel()
	tests := map[Detail]InvocationStatus{
		DetailPending: InvocationPending, DetailInProgress: InvocationInProgress, DetailDelayed: InvocationDelayed,
		DetailCancelling: InvocationCancelling, DetailSuccess: InvocationSuccess, DetailFailed: InvocationFailed,
		DetailDeliveryTimedOut: InvocationTimedOut, DetailExecutionTimedOut: InvocationTimedOut,
		DetailCancelled: InvocationCancelled, DetailTerminated: InvocationCancelled,
		DetailUndeliverable: InvocationFailed, DetailInvalidPlatform: InvocationFailed, DetailAccessDenied: InvocationFailed,
	}
	for d, want := range tests {
		if got := d.Status(); got != want {
			t.Errorf("%s.Status() = %s, want %s", d, got, want)
		}
	}
	for _, d := range TerminalDetails {
		if !d.Terminal() {
			t.Errorf("%s is not terminal", d)
		}
	}
	if !DetailFailed.CountsAsError() || !DetailExecutionTimedOut.CountsAsError() || DetailDeliveryTimedOut.CountsAsError() || DetailUndeliverable.CountsAsError() {
		t.Error("only Failed and ExecutionTimedOut count toward MaxErrors")
	}
}

func TestParseRate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		v      string
		total  int
		want   int
		wantOK bool
	}{
		{"50", 10, 50, true},
		{"0", 10, 0, true},
		{"10%", 50, 5, true},
		{"10%", 55, 6, true}, // 5.5 rounds up
		{"1%", 3, 1, true},   // any percentage of a non-empty fleet allows one
		{"100%", 7, 7, true},
		{"0%", 7, 0, true},
		{"50%", 0, 0, true},
		{"101%", 7, 0, false},
		{"x", 7, 0, false},
		{"-1", 7, 0, false},
		{"", 7, 0, false},
	}
	for _, tt := range tests {
		got, ok := ParseRate(tt.v, tt.total)
		if got != tt.want || ok != tt.wantOK {
			t.Errorf("ParseRate(%q, %d) = %d, %v; want %d, %v", tt.v, tt.total, got, ok, tt.want, tt.wantOK)
		}
	}
}

func TestFinalDetail(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		counts   map[Detail]int
		exceeded bool
		want     CommandDetail
	}{
		{"nothing", nil, false, CommandDetailNoInstancesInTag},
		{"all success", map[Detail]int{DetailSuccess: 3}, false, CommandDetailSuccess},
		{"undeliverable ignored", map[Detail]int{DetailSuccess: 1, DetailUndeliverable: 4}, false, CommandDetailSuccess},
		{"all undeliverable", map[Detail]int{DetailUndeliverable: 2, DetailInvalidPlatform: 1}, false, CommandDetailFailed},
		{"failure under threshold", map[Detail]int{DetailSuccess: 3, DetailFailed: 1}, false, CommandDetailIncomplete},
		{"delivery timeout and success", map[Detail]int{DetailSuccess: 3, DetailDeliveryTimedOut: 1}, false, CommandDetailIncomplete},
		{"all delivery timed out", map[Detail]int{DetailDeliveryTimedOut: 2}, false, CommandDetailDeliveryTimedOut},
		{"threshold failed", map[Detail]int{DetailFailed: 2, DetailTerminated: 3}, true, CommandDetailFailed},
		{"threshold exec timeout", map[Detail]int{DetailExecutionTimedOut: 2, DetailFailed: 1}, true, CommandDetailExecutionTimedOut},
		{"cancelled", map[Detail]int{DetailCancelled: 2, DetailSuccess: 1}, false, CommandDetailCancelled},
	}
	for _, tt := range tests {
		if got := FinalDetail(tt.counts, tt.exceeded); got != tt.want {
			t.Errorf("%s: FinalDetail = %s, want %s", tt.name, got, tt.want)
		}
	}
}

func TestCommandDetailStatus(t *testing.T) {
	t.Parallel()
	tests := map[CommandDetail]CommandStatus{
		CommandDetailPending: CommandPending, CommandDetailInProgress: CommandInProgress, CommandDetailSuccess: CommandSuccess,
		CommandDetailFailed: CommandFailed, CommandDetailIncomplete: CommandFailed, CommandDetailNoInstancesInTag: CommandFailed,
		CommandDetailDeliveryTimedOut: CommandTimedOut, CommandDetailExecutionTimedOut: CommandTimedOut,
		CommandDetailCancelling: CommandCancelling, CommandDetailCancelled: CommandCancelled,
	}
	for d, want := range tests {
		if got := d.Status(); got != want {
			t.Errorf("%s.Status() = %s, want %s", d, got, want)
		}
	}
}

func TestPingStatus(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	i := &Instance{LastPingAt: now.Add(-ConnectionLostAfter)}
	if got := i.PingStatus(now); got != PingOnline {
		t.Errorf("at the threshold: %s, want Online", got)
	}
	i.LastPingAt = now.Add(-ConnectionLostAfter - time.Second)
	if got := i.PingStatus(now); got != PingConnectionLost {
		t.Errorf("past the threshold: %s, want ConnectionLost", got)
	}
}

func TestErrorHelpers(t *testing.T) {
	t.Parallel()
	err := Errorf(ENOTFOUND, "InvocationDoesNotExist", "no invocation %s", "x")
	wrapped := fmtWrap(err)
	if ErrorCode(wrapped) != ENOTFOUND || ErrorName(wrapped) != "InvocationDoesNotExist" || ErrorMessage(wrapped) != "no invocation x" {
		t.Errorf("helpers lost the coded error through wrapping: %q %q %q", ErrorCode(wrapped), ErrorName(wrapped), ErrorMessage(wrapped))
	}
	plain := errString("boom")
	if ErrorCode(plain) != EINTERNAL || ErrorMessage(plain) != "internal error" || ErrorCode(nil) != "" {
		t.Error("unknown errors must count as internal and hide their text")
	}
}

type errString string

func (e errString) Error() string { return string(e) }

func fmtWrap(err error) error { return wrapErr{err} }

type wrapErr struct{ err error }

func (w wrapErr) Error() string { return "ctx: " + w.err.Error() }
func (w wrapErr) Unwrap() error { return w.err }
