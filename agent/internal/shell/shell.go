// Package shell runs one script the way the aws:runShellScript and aws:runPowerShellScript plugins do:
// the script is written to the step's folder and run by an interpreter in its own process group, with
// stdout and stderr going straight to files (the full output stays on disk; callers read a prefix). A
// step timeout or a cancelled context kills the whole process group, so background children die too.
package shell

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

// Spec describes one script run.
type Spec struct {
	// Dir is the step's folder; the script and the stdout and stderr files are written there.
	Dir string
	// ScriptName is the script's file name in Dir, e.g. "_script.sh".
	ScriptName string
	// Script is the script text.
	Script string
	// Command is the interpreter and its arguments; the script's path is appended.
	Command []string
	// WorkingDirectory is where the script runs; empty means Dir. It must exist.
	WorkingDirectory string
	// Env is the complete environment of the script (later entries win over earlier ones).
	Env []string
	// Timeout kills the process group when it passes; zero means no limit.
	Timeout time.Duration
}

// Result is how a run ended.
type Result struct {
	// ExitCode is the script's exit status, or 128 + the signal number when a signal ended it, as a
	// shell reports it (137 after SIGKILL).
	ExitCode int
	// TimedOut is set when the step timeout killed the process group.
	TimedOut bool
	// Killed is set when the context ended (cancel or shutdown) and the process group was killed.
	Killed bool
	// StdoutPath and StderrPath hold the full output.
	StdoutPath string
	StderrPath string
	StartedAt  time.Time
	EndedAt    time.Time
}

// Run writes the script and runs it. It returns an error only when the script could not be started
// (missing working directory or interpreter, unwritable folder); how the script itself ended is data
// in Result. The error message is meant for the step's output: it says what is wrong in plain words.
func Run(ctx context.Context, s Spec) (Result, error) {
	res := Result{
		StdoutPath: filepath.Join(s.Dir, "stdout"),
		StderrPath: filepath.Join(s.Dir, "stderr"),
		ExitCode:   -1,
	}
	if len(s.Command) == 0 {
		return res, errors.New("no interpreter given")
	}
	wd := s.WorkingDirectory
	if wd == "" {
		wd = s.Dir
	}
	if fi, err := os.Stat(wd); err != nil || !fi.IsDir() {
		if err == nil || errors.Is(err, fs.ErrNotExist) {
			return res, fmt.Errorf("working directory %s does not exist or is not a directory", wd)
		}
		return res, fmt.Errorf("working directory %s: %w", wd, err)
	}
	script := filepath.Join(s.Dir, s.ScriptName)
	if err := writeScript(script, s.Script); err != nil {
		return res, fmt.Errorf("write script %s: %w", script, err)
	}
	stdout, err := createOutput(res.StdoutPath)
	if err != nil {
		return res, err
	}
	defer stdout.Close()
	stderr, err := createOutput(res.StderrPath)
	if err != nil {
		return res, err
	}
	defer stderr.Close()

	args := append(append([]string(nil), s.Command[1:]...), script)
	cmd := exec.Command(s.Command[0], args...)
	cmd.Dir = wd
	cmd.Env = s.Env
	// Files, not pipes: the child writes to them directly, so a background child that keeps the
	// descriptors open cannot make Wait hang, and no copy goroutines run.
	cmd.Stdout = stdout
	cmd.Stderr = stderr
	newProcessGroup(cmd)

	res.StartedAt = time.Now()
	if err := cmd.Start(); err != nil {
		res.EndedAt = time.Now()
		return res, fmt.Errorf("start %s: %w", s.Command[0], err)
	}
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()

	var timeout <-chan time.Time
	if s.Timeout > 0 {
		t := time.NewTimer(s.Timeout)
		defer t.Stop()
		timeout = t.C
	}
	var waitErr error
	select {
	case waitErr = <-waited:
	case <-timeout:
		res.TimedOut = true
		killProcessGroup(cmd)
		waitErr = <-waited
	case <-ctx.Done():
		res.Killed = true
		killProcessGroup(cmd)
		waitErr = <-waited
	}
	res.EndedAt = time.Now()
	res.ExitCode = exitCode(cmd.ProcessState)
	var exitErr *exec.ExitError
	if waitErr != nil && !errors.As(waitErr, &exitErr) {
		return res, fmt.Errorf("wait for %s: %w", s.Command[0], waitErr)
	}
	return res, nil
}

func writeScript(path, text string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o700)
	if err != nil {
		return err
	}
	if err := f.Chmod(0o700); err != nil {
		f.Close()
		return err
	}
	if _, err := f.WriteString(text); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func createOutput(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("create output file %s: %w", path, err)
	}
	return f, nil
}
