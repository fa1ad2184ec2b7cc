package patch

import (
	"regexp"

	"github.com/runcmd/runcmd"
)

// Package-name grammars. Backends check every target against them before it reaches a command line,
// so nothing from a baseline, an override list or a package index can become an option or a shell
// word: all of them start with a letter or digit.
var (
	// Debian policy 5.6.1/5.6.12: lowercase alphanumerics and + - ., at least two characters; the
	// version is [epoch:]upstream[-revision] from alphanumerics and . + ~ - :.
	debianNameRE    = regexp.MustCompile(`^[a-z0-9][a-z0-9+.-]+$`)
	debianVersionRE = regexp.MustCompile(`^([0-9]+:)?[0-9A-Za-z][0-9A-Za-z.+~:-]*$`)
	// RPM: names from alphanumerics and . _ + -; epoch:version-release, with ~ and ^ allowed.
	rpmNameRE    = regexp.MustCompile(`^[A-Za-z0-9_+][A-Za-z0-9._+-]*$`)
	rpmVersionRE = regexp.MustCompile(`^([0-9]+:)?[A-Za-z0-9._+~^]+-[A-Za-z0-9._+~^]+$`)
	archRE       = regexp.MustCompile(`^[a-z0-9][a-z0-9_]*$`)
)

// ValidDebianTarget returns EINVALID unless t's name, arch and version follow Debian's grammar.
func ValidDebianTarget(t Target) error {
	if !debianNameRE.MatchString(t.Name) || !archRE.MatchString(t.Arch) ||
		(t.Version != "" && !debianVersionRE.MatchString(t.Version)) {
		return runcmd.Errorf(runcmd.EINVALID, ErrValidation, "invalid Debian package %q arch %q version %q", t.Name, t.Arch, t.Version)
	}
	return nil
}

// ValidRPMTarget returns EINVALID unless t's name, arch and version follow RPM's grammar.
func ValidRPMTarget(t Target) error {
	if !rpmNameRE.MatchString(t.Name) || !archRE.MatchString(t.Arch) ||
		(t.Version != "" && !rpmVersionRE.MatchString(t.Version)) {
		return runcmd.Errorf(runcmd.EINVALID, ErrValidation, "invalid RPM package %q arch %q version %q", t.Name, t.Arch, t.Version)
	}
	return nil
}
