package patch

import (
	"context"
	"time"
)

// Source is a node's package manager as Run needs it. Implementations: apt.Source, dnf.Source and
// simulated.Source. A Source reports failures to run the package manager as errors; a package that
// failed to install is data, found by Run in the next Inventory.
type Source interface {
	// Inventory lists the installed packages with the newer versions the package manager offers, and
	// the node's product (for PRODUCT filters).
	Inventory(ctx context.Context) (Inventory, error)
	// Install upgrades the given packages to exactly the given versions, in one transaction where the
	// package manager allows it.
	Install(ctx context.Context, targets []Target) (InstallResult, error)
}

// Resolver is implemented by sources that can tell which packages an install would bring in. Run uses
// it to honour RejectedPatchesAction BLOCK: an update that needs a rejected package is not installed
// and reports Failed.
type Resolver interface {
	// Resolve returns every package (by name and arch) installing targets would install or upgrade,
	// the targets included.
	Resolve(ctx context.Context, targets []Target) ([]Target, error)
}

// Inventory is what a package manager reports about a node.
type Inventory struct {
	// Product is the node's product as PRODUCT filters see it, e.g. "Ubuntu22.04", "Debian12",
	// "AmazonLinux2023", "RedhatEnterpriseLinux9.4".
	Product  string
	Packages []Package
}

// Package is one package name and architecture on the node: its installed version (nil when only
// available) and the newer versions the package manager would install, newest first.
type Package struct {
	Name      string
	Arch      string
	Installed *Installed `json:",omitempty"`
	Updates   []Version  `json:",omitempty"`
}

// Key is the package's patch id on Linux: name.arch (KBId in DescribeInstancePatches, Id of the
// compliance item).
func (p Package) Key() string { return p.Name + "." + p.Arch }

// Installed is the installed version of a package.
type Installed struct {
	Version
	InstalledTime time.Time `json:",omitzero"`
	// PendingReboot is set by sources that track it (simulated) for a package Patch Manager installed
	// and the node has not rebooted since.
	PendingReboot bool `json:",omitempty"`
}

// Version is one version of a package with the metadata baseline rules look at.
type Version struct {
	// Version is the full version string the package manager compares and installs: dpkg's
	// "[epoch:]upstream[-revision]" or rpm's "epoch:version-release" (epoch always present).
	Version string
	// Classification: yum/dnf advisory type capitalised (Security, Bugfix, Enhancement, Newpackage,
	// Recommended), or "" without an advisory; apt: Security for a security-origin version, else "".
	Classification string `json:",omitempty"`
	// Severity is the vendor severity (Critical, Important, Moderate, Medium, Low, None).
	Severity   string `json:",omitempty"`
	Priority   string `json:",omitempty"` // apt Priority field (required, important, standard, optional, extra)
	Section    string `json:",omitempty"` // apt Section field
	Repository string `json:",omitempty"`
	// ReleaseDate is the advisory's issued date (dnf) or updated-else-issued date (yum); zero when
	// unknown, which counts as 1970-01-01 like the payload's unparseable dates.
	ReleaseDate    time.Time `json:",omitzero"`
	RebootRequired bool      `json:",omitempty"`
	AdvisoryIDs    []string  `json:",omitempty"`
	CVEIDs         []string  `json:",omitempty"`
	BugzillaIDs    []string  `json:",omitempty"`
}

// Target is one package version to install.
type Target struct {
	Name    string
	Arch    string
	Version string
}

// Key is the target's name.arch.
func (t Target) Key() string { return t.Name + "." + t.Arch }

// InstallResult is what a Source says about an install it ran.
type InstallResult struct {
	// Output is the package manager's combined output, for the command's step output.
	Output string
	// ExitCode is the package manager's exit status (0 on success).
	ExitCode int
}
