// Package command runs package-manager programs for the patch backends: argv only (never a shell),
// a fixed C locale so outputs parse the same everywhere, and a non-zero exit reported as data.
// Tests swap in Recorded, which plays back outputs captured from real commands.
package command

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
)

// Cmd is one program invocation.
type Cmd struct {
	Path string
	Args []string
	// Env is added to a minimal environment (PATH, HOME, LANG=C, LC_ALL=C).
	Env []string
}

// String renders the command for error messages.
func (c Cmd) String() string { return strings.Join(append([]string{c.Path}, c.Args...), " ") }

// Result is what the program printed and how it exited.
type Result struct {
	Stdout   []byte
	Stderr   []byte
	ExitCode int
}

// Runner runs commands. A program that ran and exited non-zero is a Result with ExitCode set, not an
// error; an error means it could not run at all.
type Runner interface {
	Run(ctx context.Context, c Cmd) (Result, error)
}

// Exec runs commands with os/exec.
type Exec struct{}

var _ Runner = Exec{}

// Run runs c and waits for it.
func (Exec) Run(ctx context.Context, c Cmd) (Result, error) {
	cmd := exec.CommandContext(ctx, c.Path, c.Args...)
	cmd.Env = append([]string{"PATH=" + pathEnv(), "HOME=" + os.Getenv("HOME"), "LANG=C", "LC_ALL=C"}, c.Env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	res := Result{Stdout: out.Bytes(), Stderr: errb.Bytes()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee) && ctx.Err() == nil:
		res.ExitCode = ee.ExitCode()
	default:
		return res, fmt.Errorf("run %s: %w", c.Path, err)
	}
	return res, nil
}

func pathEnv() string {
	if p := os.Getenv("PATH"); p != "" {
		return p
	}
	return "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
}

// Recorded plays back recorded outputs: the first entry whose Match returns true for a command answers
// it. Calls holds every command run, for assertions on argv.
type Recorded struct {
	Entries []Entry
	Calls   []Cmd
}

// Entry is one recorded answer.
type Entry struct {
	Match  func(Cmd) bool
	Result Result
}

// Run answers c from the recording, or fails when nothing matches.
func (r *Recorded) Run(_ context.Context, c Cmd) (Result, error) {
	r.Calls = append(r.Calls, c)
	for _, e := range r.Entries {
		if e.Match(c) {
			return e.Result, nil
		}
	}
	return Result{}, fmt.Errorf("run %s: no recorded output", c)
}

// ArgsHave returns a matcher for commands whose program base name is prog and whose arguments
// include every one of args.
func ArgsHave(prog string, args ...string) func(Cmd) bool {
	return func(c Cmd) bool {
		if c.Path != prog && !strings.HasSuffix(c.Path, "/"+prog) {
			return false
		}
		for _, a := range args {
			found := false
			for _, ca := range c.Args {
				if ca == a {
					found = true
					break
				}
			}
			if !found {
				return false
			}
		}
		return true
	}
}
