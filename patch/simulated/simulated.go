// Package simulated is a patch Source for demo fleets: a node's packages live in a JSON inventory
// file instead of a package manager, and Install rewrites the file. It exists so a laptop can play a
// fleet of "Linux nodes" through the same baseline logic as real ones. Nothing selects it by default:
// the agent uses it only when told to by flag or environment, and its name says what it is.
package simulated

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/runcmd/runcmd"
	"github.com/runcmd/runcmd/patch"
)

// MaxFileSize bounds an inventory file.
const MaxFileSize = 8 << 20

// File is the JSON inventory of one simulated node.
type File struct {
	// Product is what PRODUCT filters see, e.g. "AmazonLinux2023" or "Ubuntu22.04".
	Product  string    `json:"product"`
	Packages []Package `json:"packages"`
}

// Package is one simulated package: installed version (optional) and available updates, newest first.
type Package struct {
	Name      string     `json:"name"`
	Arch      string     `json:"arch"`
	Installed *Installed `json:"installed,omitempty"`
	Updates   []Update   `json:"updates,omitempty"`
}

// Installed is the installed version of a simulated package.
type Installed struct {
	Version        string    `json:"version"`
	Classification string    `json:"classification,omitempty"`
	Severity       string    `json:"severity,omitempty"`
	Priority       string    `json:"priority,omitempty"`
	Section        string    `json:"section,omitempty"`
	InstalledTime  time.Time `json:"installedTime,omitzero"`
	// PendingReboot is set by Install for an update flagged rebootRequired and cleared by Reboot.
	PendingReboot bool `json:"pendingReboot,omitempty"`
}

// Update is an available version of a simulated package.
type Update struct {
	Version        string    `json:"version"`
	Classification string    `json:"classification,omitempty"`
	Severity       string    `json:"severity,omitempty"`
	Priority       string    `json:"priority,omitempty"`
	Section        string    `json:"section,omitempty"`
	ReleaseDate    time.Time `json:"releaseDate,omitzero"`
	RebootRequired bool      `json:"rebootRequired,omitempty"`
	CVEIDs         []string  `json:"cveIds,omitempty"`
	AdvisoryIDs    []string  `json:"advisoryIds,omitempty"`
	// FailInstall makes installing this version fail, to demonstrate the Failed state.
	FailInstall bool `json:"failInstall,omitempty"`
}

// Source is a simulated package source backed by one inventory file. It is safe for concurrent use
// within a process; the file is replaced atomically (write to a temporary file, then rename).
type Source struct {
	path string
	now  func() time.Time
	mu   sync.Mutex
}

var _ patch.Source = (*Source)(nil)

// New returns a Source over the inventory file at path. now gives the install time (nil: time.Now).
func New(path string, now func() time.Time) *Source {
	if now == nil {
		now = time.Now
	}
	return &Source{path: path, now: now}
}

// ParseFile decodes and checks an inventory file: every package needs a name and an arch, every
// version a version string, and names follow the Debian or RPM grammar.
func ParseFile(data []byte) (File, error) {
	var f File
	if len(data) > MaxFileSize {
		return f, runcmd.Errorf(runcmd.EINVALID, patch.ErrValidation, "simulated inventory is larger than %d bytes", MaxFileSize)
	}
	if err := json.Unmarshal(data, &f); err != nil {
		return File{}, runcmd.Errorf(runcmd.EINVALID, patch.ErrValidation, "simulated inventory is not valid JSON: %v", err)
	}
	for _, p := range f.Packages {
		t := patch.Target{Name: p.Name, Arch: p.Arch}
		if patch.ValidRPMTarget(t) != nil && patch.ValidDebianTarget(t) != nil {
			return File{}, runcmd.Errorf(runcmd.EINVALID, patch.ErrValidation, "simulated inventory: invalid package %q arch %q", p.Name, p.Arch)
		}
		if p.Installed != nil && p.Installed.Version == "" {
			return File{}, runcmd.Errorf(runcmd.EINVALID, patch.ErrValidation, "simulated inventory: %s.%s installed without a version", p.Name, p.Arch)
		}
		for _, u := range p.Updates {
			if u.Version == "" {
				return File{}, runcmd.Errorf(runcmd.EINVALID, patch.ErrValidation, "simulated inventory: %s.%s update without a version", p.Name, p.Arch)
			}
		}
	}
	return f, nil
}

func (s *Source) load() (File, error) {
	b, err := os.ReadFile(s.path)
	if err != nil {
		return File{}, fmt.Errorf("read simulated inventory %s: %w", s.path, err)
	}
	f, err := ParseFile(b)
	if err != nil {
		return File{}, fmt.Errorf("load simulated inventory %s: %w", s.path, err)
	}
	return f, nil
}

func (s *Source) save(f File) error {
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return fmt.Errorf("encode simulated inventory %s: %w", s.path, err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(s.path), ".simulated-*")
	if err != nil {
		return fmt.Errorf("write simulated inventory %s: %w", s.path, err)
	}
	_, werr := tmp.Write(append(b, '\n'))
	cerr := tmp.Close()
	if werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Rename(tmp.Name(), s.path)
	}
	if werr != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("write simulated inventory %s: %w", s.path, werr)
	}
	return nil
}

// Inventory returns the file's packages.
func (s *Source) Inventory(ctx context.Context) (patch.Inventory, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, err := s.load()
	if err != nil {
		return patch.Inventory{}, err
	}
	inv := patch.Inventory{Product: f.Product}
	for _, p := range f.Packages {
		pkg := patch.Package{Name: p.Name, Arch: p.Arch}
		if i := p.Installed; i != nil {
			pkg.Installed = &patch.Installed{
				Version: patch.Version{Version: i.Version, Classification: i.Classification, Severity: i.Severity,
					Priority: i.Priority, Section: i.Section},
				InstalledTime: i.InstalledTime, PendingReboot: i.PendingReboot,
			}
		}
		for _, u := range p.Updates {
			pkg.Updates = append(pkg.Updates, patch.Version{
				Version: u.Version, Classification: u.Classification, Severity: u.Severity, Priority: u.Priority,
				Section: u.Section, ReleaseDate: u.ReleaseDate, RebootRequired: u.RebootRequired,
				CVEIDs: u.CVEIDs, AdvisoryIDs: u.AdvisoryIDs,
			})
		}
		inv.Packages = append(inv.Packages, pkg)
	}
	return inv, nil
}

// Install moves each target to installed at its version (dropping that update and the older ones),
// sets pendingReboot for updates flagged rebootRequired, and rewrites the file. A target whose update
// is flagged failInstall, or that the file does not offer, is left alone and the exit code is 1, as
// a package manager's would be.
func (s *Source) Install(ctx context.Context, targets []patch.Target) (patch.InstallResult, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, err := s.load()
	if err != nil {
		return patch.InstallResult{}, err
	}
	var out strings.Builder
	res := patch.InstallResult{}
	now := s.now().UTC()
	for _, t := range targets {
		ok := false
		for i := range f.Packages {
			p := &f.Packages[i]
			if p.Name != t.Name || p.Arch != t.Arch {
				continue
			}
			for j, u := range p.Updates {
				if u.Version != t.Version {
					continue
				}
				if u.FailInstall {
					break
				}
				p.Installed = &Installed{Version: u.Version, Classification: u.Classification, Severity: u.Severity,
					Priority: u.Priority, Section: u.Section, InstalledTime: now, PendingReboot: u.RebootRequired}
				p.Updates = append([]Update(nil), p.Updates[:j]...)
				ok = true
				break
			}
		}
		if ok {
			fmt.Fprintf(&out, "Installed %s %s\n", t.Key(), t.Version)
		} else {
			fmt.Fprintf(&out, "Failed to install %s %s\n", t.Key(), t.Version)
			res.ExitCode = 1
		}
	}
	if err := s.save(f); err != nil {
		return patch.InstallResult{}, err
	}
	res.Output = out.String()
	return res, nil
}

// Reboot clears every pendingReboot flag, what a reboot of a real node does to that state.
func (s *Source) Reboot(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, err := s.load()
	if err != nil {
		return err
	}
	for i := range f.Packages {
		if f.Packages[i].Installed != nil {
			f.Packages[i].Installed.PendingReboot = false
		}
	}
	return s.save(f)
}
