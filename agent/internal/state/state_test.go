package state

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/runcmd/runcmd"
)

func TestInstanceIDPersisted(t *testing.T) {
	t.Parallel()
	root := filepath.Join(t.TempDir(), "state")
	d, err := Open(root)
	if err != nil {
		t.Fatal(err)
	}
	id, err := d.InstanceID()
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^mi-[0-9a-f]{17}$`).MatchString(id) {
		t.Errorf("id = %q, want mi- and 17 lowercase hex", id)
	}
	d2, err := Open(root)
	if err != nil {
		t.Fatal(err)
	}
	if again, err := d2.InstanceID(); err != nil || again != id {
		t.Errorf("second start: id %q, %v; want %q reused", again, err, id)
	}
	for p, want := range map[string]os.FileMode{root: DirMode, filepath.Join(root, instanceIDFile): FileMode} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s mode %v, want %v", p, fi.Mode().Perm(), want)
		}
	}
}

func TestInstanceIDCorruptIsAnError(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, instanceIDFile), []byte("garbage\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	d, err := Open(root)
	if err != nil {
		t.Fatal(err)
	}
	if id, err := d.InstanceID(); err == nil {
		t.Errorf("InstanceID = %q, want an error for a corrupt file", id)
	}
}

func TestJournal(t *testing.T) {
	t.Parallel()
	d, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	j := d.Journal()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	rec := Record{CommandID: "cmd-1", Phase: PhaseReceived, ReceivedAt: now, UpdatedAt: now,
		Message: &runcmd.NodeMessage{Kind: runcmd.KindSend, CommandID: "cmd-1"}}
	if err := j.Create(rec); err != nil {
		t.Fatal(err)
	}
	if err := j.Create(rec); !errors.Is(err, ErrExists) {
		t.Errorf("second Create = %v, want ErrExists", err)
	}
	if _, err := j.Get("cmd-2"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get(missing) = %v, want ErrNotFound", err)
	}
	rec.Phase, rec.Message = PhaseFinished, nil
	rec.Final = &runcmd.Reply{CommandID: "cmd-1", Detail: runcmd.DetailSuccess}
	if err := j.Put(rec); err != nil {
		t.Fatal(err)
	}
	got, err := j.Get("cmd-1")
	if err != nil || got.Phase != PhaseFinished || got.Final == nil || got.Message != nil {
		t.Errorf("Get = %+v, %v", got, err)
	}
	fi, err := os.Stat(filepath.Join(d.Root(), journalDir, "cmd-1.json"))
	if err != nil || fi.Mode().Perm() != FileMode {
		t.Errorf("record file: %v, %v", fi, err)
	}
	if err := j.Create(Record{CommandID: "../evil"}); err == nil {
		t.Error("Create accepted a command id that is a path")
	}

	// Prune removes only delivered records older than the cutoff.
	old := now.Add(-30 * 24 * time.Hour)
	for _, r := range []Record{
		{CommandID: "old-sent", Phase: PhaseFinished, Sent: true, UpdatedAt: old},
		{CommandID: "old-unsent", Phase: PhaseFinished, UpdatedAt: old},
		{CommandID: "old-running", Phase: PhaseRunning, UpdatedAt: old},
		{CommandID: "old-dropped", Phase: PhaseDropped, UpdatedAt: old},
	} {
		if err := j.Create(r); err != nil {
			t.Fatal(err)
		}
	}
	pruned, err := j.Prune(now.Add(-15 * 24 * time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if len(pruned) != 2 {
		t.Errorf("pruned %v, want old-sent and old-dropped", pruned)
	}
	all, err := j.List()
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, r := range all {
		ids = append(ids, r.CommandID)
	}
	if len(ids) != 3 {
		t.Errorf("left %v, want cmd-1, old-unsent, old-running", ids)
	}
}

func TestSafeName(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"step1": "step1", "0.aws:runShellScript": "0.aws_runShellScript", "..": "_", "": "_", "a/b": "a_b",
	} {
		if got := SafeName(in); got != want {
			t.Errorf("SafeName(%q) = %q, want %q", in, got, want)
		}
	}
}
