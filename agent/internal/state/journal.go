package state

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/runcmd/runcmd"
)

const journalDir = "journal"

// Phase is where a job is in its life on this node.
type Phase string

// Job phases. A job moves Received → Running → Finished (or Received → Dropped); a record is never
// deleted while its message could still be delivered again, so a duplicate is always recognised.
const (
	// PhaseReceived: recorded, its message deleted from the queue, not started. The message is kept so
	// that a restart runs it.
	PhaseReceived Phase = "received"
	// PhaseRunning: steps may have run. A restart finds the agent died mid-job and reports it Failed,
	// never running it again.
	PhaseRunning Phase = "running"
	// PhaseFinished: Final holds the final reply; Sent says whether the results queue took it.
	PhaseFinished Phase = "finished"
	// PhaseDropped: never run and nothing to report (it expired before it could start); Note says why.
	PhaseDropped Phase = "dropped"
	// PhaseRebooting: step ResumeStep asked for a reboot (exit code 194). Message is kept so that the
	// restarted agent runs that step again and then the rest; Done holds the steps before it.
	PhaseRebooting Phase = "rebooting"
)

// Record is one job in the journal, stored as <journal>/<commandId>.json.
type Record struct {
	CommandID string `json:"commandId"`
	Phase     Phase  `json:"phase"`
	// Message is the node message, kept only until the job starts (it holds parameter values).
	Message    *runcmd.NodeMessage   `json:"message,omitempty"`
	StartedAt  time.Time             `json:"startedAt,omitzero"`
	Final      *runcmd.Reply         `json:"final,omitempty"`
	Sent       bool                  `json:"sent,omitempty"`
	ResumeStep int                   `json:"resumeStep,omitempty"`
	Done       []runcmd.PluginResult `json:"done,omitempty"`
	Reboots    int                   `json:"reboots,omitempty"` // reboots this job asked for so far
	Note       string                `json:"note,omitempty"`
	ReceivedAt time.Time             `json:"receivedAt"`
	UpdatedAt  time.Time             `json:"updatedAt"`
}

// ErrExists is returned by Create when the command is already journaled.
var ErrExists = errors.New("already journaled")

// ErrNotFound is returned by Get for a command that is not journaled.
var ErrNotFound = errors.New("not journaled")

// ValidCommandID reports whether id can be journaled: 1 to 128 characters, letters, digits, '_' and
// '-', not starting with '_' or '-' (^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$), which keeps command ids safe
// as file names. SSM's are UUIDs. A loop, not a regexp: the compiled {0,127} repetition alone kept
// about 130 KB of heap alive in every agent.
func ValidCommandID(id string) bool {
	if len(id) == 0 || len(id) > 128 || !isAlnum(id[0]) {
		return false
	}
	for i := 1; i < len(id); i++ {
		if c := id[i]; !isAlnum(c) && c != '_' && c != '-' {
			return false
		}
	}
	return true
}

func isAlnum(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
}

// Journal records jobs, one file per command id, each written atomically (temporary file, fsync,
// rename). It is safe for concurrent use.
type Journal struct {
	dir string
	mu  sync.Mutex
}

func (j *Journal) path(id string) string { return filepath.Join(j.dir, id+".json") }

// Create records a new job. It fails with ErrExists if the command is already journaled, whatever its
// phase: that is how a redelivered message is recognised and never run twice.
func (j *Journal) Create(r Record) error {
	if !ValidCommandID(r.CommandID) {
		return fmt.Errorf("journal create %q: invalid command id", r.CommandID)
	}
	b, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("journal create %s: %w", r.CommandID, err)
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if err := writeFileAtomic(j.dir, r.CommandID+".json", b, true); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("journal create %s: %w", r.CommandID, ErrExists)
		}
		return fmt.Errorf("journal create %s: %w", r.CommandID, err)
	}
	return nil
}

// Put replaces the record of a journaled command.
func (j *Journal) Put(r Record) error {
	if !ValidCommandID(r.CommandID) {
		return fmt.Errorf("journal put %q: invalid command id", r.CommandID)
	}
	b, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("journal put %s: %w", r.CommandID, err)
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if err := writeFileAtomic(j.dir, r.CommandID+".json", b, false); err != nil {
		return fmt.Errorf("journal put %s: %w", r.CommandID, err)
	}
	return nil
}

// Get returns the record of a command, or an error wrapping ErrNotFound.
func (j *Journal) Get(commandID string) (Record, error) {
	if !ValidCommandID(commandID) {
		return Record{}, fmt.Errorf("journal get %q: invalid command id", commandID)
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.read(commandID + ".json")
}

func (j *Journal) read(name string) (Record, error) {
	id := strings.TrimSuffix(name, ".json")
	b, err := os.ReadFile(filepath.Join(j.dir, name))
	if errors.Is(err, fs.ErrNotExist) {
		return Record{}, fmt.Errorf("journal get %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return Record{}, fmt.Errorf("journal get %s: %w", id, err)
	}
	var r Record
	if err := json.Unmarshal(b, &r); err != nil {
		return Record{}, fmt.Errorf("journal decode %s: %w", id, err)
	}
	return r, nil
}

// List returns every record, oldest received first. A record that cannot be decoded is reported in
// the error and left out; the others are still returned.
func (j *Journal) List() ([]Record, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	ents, err := os.ReadDir(j.dir)
	if err != nil {
		return nil, fmt.Errorf("journal list %s: %w", j.dir, err)
	}
	var out []Record
	var errs []error
	for _, e := range ents {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".json") || strings.HasPrefix(name, ".") {
			continue
		}
		r, err := j.read(name)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, r)
	}
	sort.SliceStable(out, func(a, b int) bool { return out[a].ReceivedAt.Before(out[b].ReceivedAt) })
	return out, errors.Join(errs...)
}

// Prune deletes the records of delivered or dropped jobs last updated before cutoff, and stray
// temporary files. Callers pick a cutoff past the longest time a message can be redelivered (SQS keeps
// messages at most 14 days), so pruning never lets a duplicate run. It returns the pruned command ids.
func (j *Journal) Prune(cutoff time.Time) ([]string, error) {
	recs, err := j.List()
	var pruned []string
	for _, r := range recs {
		done := r.Phase == PhaseDropped || (r.Phase == PhaseFinished && r.Sent)
		if !done || !r.UpdatedAt.Before(cutoff) {
			continue
		}
		j.mu.Lock()
		rmErr := os.Remove(j.path(r.CommandID))
		j.mu.Unlock()
		if rmErr != nil && !errors.Is(rmErr, fs.ErrNotExist) {
			return pruned, fmt.Errorf("journal prune %s: %w", r.CommandID, rmErr)
		}
		pruned = append(pruned, r.CommandID)
	}
	j.mu.Lock()
	tmps, _ := filepath.Glob(filepath.Join(j.dir, ".tmp-*"))
	for _, t := range tmps {
		// A leftover of a crash between create and rename; a fresh one may belong to a write in
		// progress in another process sharing the directory by mistake, so leave those.
		if fi, err := os.Stat(t); err == nil && fi.ModTime().Before(cutoff) {
			_ = os.Remove(t)
		}
	}
	j.mu.Unlock()
	return pruned, err
}
