// Package state keeps the agent's state directory: the node's identity, the journal of jobs that makes
// the agent crash-safe, and the per-step orchestration folders that hold scripts and full output. Files
// are 0600 and folders 0700: scripts, parameters and output may hold secrets and the agent runs as root.
package state

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// File and folder modes for everything under the state directory.
const (
	FileMode fs.FileMode = 0o600
	DirMode  fs.FileMode = 0o700
)

const instanceIDFile = "instance-id"

// ValidInstanceID reports whether id can name a node: managed-instance ids (mi- + 17 hex, as SSM issues
// them) and EC2-style ids (^m?i-[0-9a-f]{8,17}$), so fleets and tests may name nodes themselves. It
// also keeps ids safe as SQS queue names and file names.
func ValidInstanceID(id string) bool {
	hex, ok := strings.CutPrefix(id, "mi-")
	if !ok {
		hex, ok = strings.CutPrefix(id, "i-")
	}
	if !ok || len(hex) < 8 || len(hex) > 17 {
		return false
	}
	for i := range len(hex) {
		if c := hex[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// NewInstanceID returns a fresh managed-instance id: "mi-" and 17 lowercase hex characters.
func NewInstanceID() (string, error) {
	b := make([]byte, 9)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generate instance id: %w", err)
	}
	return "mi-" + hex.EncodeToString(b)[:17], nil
}

// Dir is an opened state directory.
type Dir struct {
	root string
}

// Open creates the state directory if needed (0700) and tightens its mode if it exists.
func Open(root string) (*Dir, error) {
	if root == "" {
		return nil, errors.New("open state directory: empty path")
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("open state directory %s: %w", root, err)
	}
	for _, d := range []string{abs, filepath.Join(abs, journalDir), filepath.Join(abs, orchestrationDir)} {
		if err := os.MkdirAll(d, DirMode); err != nil {
			return nil, fmt.Errorf("open state directory %s: %w", d, err)
		}
		if err := os.Chmod(d, DirMode); err != nil {
			return nil, fmt.Errorf("open state directory %s: %w", d, err)
		}
	}
	return &Dir{root: abs}, nil
}

// Root is the absolute path of the state directory.
func (d *Dir) Root() string { return d.root }

// InstanceID returns the node's persisted id, creating and persisting one on first use. A file that
// exists but does not hold a valid id is an error, never silently replaced: the id is the node's
// identity and its queue name.
func (d *Dir) InstanceID() (string, error) {
	p := filepath.Join(d.root, instanceIDFile)
	b, err := os.ReadFile(p)
	switch {
	case err == nil:
		id := strings.TrimSpace(string(b))
		if !ValidInstanceID(id) {
			return "", fmt.Errorf("read instance id %s: invalid id %q", p, id)
		}
		return id, nil
	case !errors.Is(err, fs.ErrNotExist):
		return "", fmt.Errorf("read instance id %s: %w", p, err)
	}
	id, err := NewInstanceID()
	if err != nil {
		return "", err
	}
	if err := writeFileAtomic(d.root, instanceIDFile, []byte(id+"\n"), false); err != nil {
		return "", fmt.Errorf("write instance id %s: %w", p, err)
	}
	return id, nil
}

// Journal returns the job journal kept in this directory.
func (d *Dir) Journal() *Journal {
	return &Journal{dir: filepath.Join(d.root, journalDir)}
}

const orchestrationDir = "orchestration"

// StepDir creates (0700) and returns the folder of one step of one command:
// <root>/orchestration/<commandId>/<step>. Names are made safe as single path elements first.
func (d *Dir) StepDir(commandID, step string) (string, error) {
	p := filepath.Join(d.root, orchestrationDir, SafeName(commandID), SafeName(step))
	if err := os.MkdirAll(p, DirMode); err != nil {
		return "", fmt.Errorf("create step folder %s: %w", p, err)
	}
	return p, nil
}

// RemoveOrchestration deletes the folders of one command (scripts and full output) once its result is
// delivered.
func (d *Dir) RemoveOrchestration(commandID string) error {
	p := filepath.Join(d.root, orchestrationDir, SafeName(commandID))
	if err := os.RemoveAll(p); err != nil {
		return fmt.Errorf("remove orchestration %s: %w", p, err)
	}
	return nil
}

// SafeName turns s into a single, harmless path element: characters other than letters, digits, '.',
// '_' and '-' become '_', and "", "." and ".." become "_".
func SafeName(s string) string {
	b := []byte(s)
	for i, c := range b {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-'
		if !ok {
			b[i] = '_'
		}
	}
	out := string(b)
	if out == "" || out == "." || out == ".." {
		return "_"
	}
	return out
}

// writeFileAtomic writes name in dir through a temporary file, fsync and rename, so a crash leaves
// either the old or the new content, never a torn file. With exclusive set it fails with fs.ErrExist
// instead of replacing an existing file.
func writeFileAtomic(dir, name string, data []byte, exclusive bool) error {
	f, err := os.CreateTemp(dir, ".tmp-"+name+"-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // no-op once renamed or linked
	if err := f.Chmod(FileMode); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	final := filepath.Join(dir, name)
	if exclusive {
		// link fails if the target exists: the check and the creation are one step.
		if err := os.Link(tmp, final); err != nil {
			return err
		}
	} else if err := os.Rename(tmp, final); err != nil {
		return err
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, fs.ErrInvalid) {
		return err
	}
	return nil
}
