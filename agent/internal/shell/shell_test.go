//go:build unix

package shell

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func spec(t *testing.T, script string) Spec {
	t.Helper()
	return Spec{
		Dir:        t.TempDir(),
		ScriptName: "_script.sh",
		Script:     script,
		Command:    []string{"/bin/sh"},
		Env:        []string{"PATH=/usr/bin:/bin"},
	}
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestRunExitCodesAndOutput(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, script   string
		code           int
		stdout, stderr string
	}{
		{"success", "echo hello\necho oops >&2", 0, "hello\n", "oops\n"},
		{"last command decides", "false", 1, "", ""},
		{"explicit exit", "echo a; exit 3", 3, "a\n", ""},
		{"exit 168", "exit 168", 168, "", ""},
		{"exit 169", "exit 169", 169, "", ""},
		{"exit 194", "exit 194", 194, "", ""},
		{"killed by a signal", "kill -TERM $$", 128 + int(syscall.SIGTERM), "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			res, err := Run(t.Context(), spec(t, tt.script))
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			if res.ExitCode != tt.code || res.TimedOut || res.Killed {
				t.Errorf("Run = code %d timedOut %v killed %v; want code %d", res.ExitCode, res.TimedOut, res.Killed, tt.code)
			}
			if got := readFile(t, res.StdoutPath); got != tt.stdout {
				t.Errorf("stdout = %q, want %q", got, tt.stdout)
			}
			if got := readFile(t, res.StderrPath); got != tt.stderr {
				t.Errorf("stderr = %q, want %q", got, tt.stderr)
			}
			if res.StartedAt.IsZero() || res.EndedAt.Before(res.StartedAt) {
				t.Errorf("times: started %v ended %v", res.StartedAt, res.EndedAt)
			}
		})
	}
}

func TestRunScriptFile(t *testing.T) {
	t.Parallel()
	s := spec(t, "echo one\necho two")
	if _, err := Run(t.Context(), s); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(s.Dir, "_script.sh")
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o700 {
		t.Errorf("script mode = %v, want 0700", fi.Mode().Perm())
	}
	if got := readFile(t, p); got != "echo one\necho two" {
		t.Errorf("script = %q", got)
	}
}

// gone reports whether pid has exited (a zombie waiting for init to reap it counts as gone).
func gone(pid int) bool {
	if err := syscall.Kill(pid, 0); err != nil {
		return true
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return os.IsNotExist(err)
	}
	_, rest, _ := strings.Cut(string(b), ") ")
	return strings.HasPrefix(rest, "Z")
}

func waitGone(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !gone(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("background child %d still alive after the process group was killed", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// childScript starts a long-running background child, records its pid, and waits.
func childScript(pidFile string) string {
	return "sleep 300 &\necho $! > " + pidFile + "\necho started\nwait\n"
}

func readPid(t *testing.T, p string) int {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		b, err := os.ReadFile(p)
		if err == nil && strings.HasSuffix(string(b), "\n") {
			pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
			if err != nil {
				t.Fatal(err)
			}
			return pid
		}
		if time.Now().After(deadline) {
			t.Fatal("no pid file")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestRunTimeoutKillsProcessGroup(t *testing.T) {
	t.Parallel()
	pidFile := filepath.Join(t.TempDir(), "pid")
	s := spec(t, childScript(pidFile))
	s.Timeout = 500 * time.Millisecond
	res, err := Run(t.Context(), s)
	if err != nil {
		t.Fatal(err)
	}
	if !res.TimedOut || res.Killed || res.ExitCode != 137 {
		t.Errorf("Run = code %d timedOut %v killed %v; want 137, timed out", res.ExitCode, res.TimedOut, res.Killed)
	}
	if got := readFile(t, res.StdoutPath); got != "started\n" {
		t.Errorf("stdout = %q, want output written before the kill", got)
	}
	waitGone(t, readPid(t, pidFile))
}

func TestRunCancelKillsProcessGroup(t *testing.T) {
	t.Parallel()
	pidFile := filepath.Join(t.TempDir(), "pid")
	s := spec(t, childScript(pidFile))
	ctx, cancel := context.WithCancel(t.Context())
	type out struct {
		res Result
		err error
	}
	done := make(chan out, 1)
	go func() {
		r, err := Run(ctx, s)
		done <- out{r, err}
	}()
	pid := readPid(t, pidFile)
	cancel()
	o := <-done
	if o.err != nil {
		t.Fatal(o.err)
	}
	if !o.res.Killed || o.res.TimedOut || o.res.ExitCode != 137 {
		t.Errorf("Run = code %d timedOut %v killed %v; want 137, killed", o.res.ExitCode, o.res.TimedOut, o.res.Killed)
	}
	waitGone(t, pid)
}

func TestRunWorkingDirectory(t *testing.T) {
	t.Parallel()
	t.Run("given", func(t *testing.T) {
		t.Parallel()
		wd := t.TempDir()
		s := spec(t, "pwd -P")
		s.WorkingDirectory = wd
		res, err := Run(t.Context(), s)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := filepath.EvalSymlinks(wd)
		if got := strings.TrimSpace(readFile(t, res.StdoutPath)); got != want {
			t.Errorf("pwd = %q, want %q", got, want)
		}
	})
	t.Run("default is the step folder", func(t *testing.T) {
		t.Parallel()
		s := spec(t, "pwd -P")
		res, err := Run(t.Context(), s)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := filepath.EvalSymlinks(s.Dir)
		if got := strings.TrimSpace(readFile(t, res.StdoutPath)); got != want {
			t.Errorf("pwd = %q, want %q", got, want)
		}
	})
	t.Run("missing", func(t *testing.T) {
		t.Parallel()
		s := spec(t, "echo ran > ran")
		s.WorkingDirectory = filepath.Join(t.TempDir(), "nope")
		_, err := Run(t.Context(), s)
		if err == nil || !strings.Contains(err.Error(), "does not exist") || !strings.Contains(err.Error(), "nope") {
			t.Fatalf("Run err = %v, want a clear missing-directory error", err)
		}
	})
}

func TestRunEnvironmentPassedVerbatim(t *testing.T) {
	t.Parallel()
	marker := filepath.Join(t.TempDir(), "pwned")
	value := "'; touch " + marker + " #"
	s := spec(t, `printf '%s|%s' "$SSM_message" "$SSM_COMMAND_ID"`)
	s.Env = append(s.Env, "SSM_message="+value, "SSM_COMMAND_ID=old", "SSM_COMMAND_ID=cmd-1")
	res, err := Run(t.Context(), s)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := readFile(t, res.StdoutPath), value+"|cmd-1"; got != want {
		t.Errorf("stdout = %q, want %q", got, want)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Error("the parameter value was executed")
	}
}

func TestRunMissingInterpreter(t *testing.T) {
	t.Parallel()
	s := spec(t, "true")
	s.Command = []string{filepath.Join(t.TempDir(), "no-such-shell")}
	if _, err := Run(t.Context(), s); err == nil || !strings.Contains(err.Error(), "no-such-shell") {
		t.Fatalf("Run err = %v, want a start error naming the interpreter", err)
	}
}
