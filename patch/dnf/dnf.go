// Package dnf is the patch Source for the RHEL and Amazon Linux family (RHEL, Rocky, Alma, Oracle,
// CentOS, Amazon Linux 2023 with dnf; Amazon Linux 2 with yum): rpm -qa for what is installed,
// check-update for the newest versions, updateinfo list for the advisory type (Security, Bugfix,
// Enhancement), severity and date of each updated package, updateinfo info for CVE and Bugzilla ids,
// and dnf upgrade / yum update with name-epoch:version-release.arch to install.
//
// There is no dnf on the machines our CI runs on, so the parsers are tested against outputs written
// from dnf's documented formats (testdata/README.md); the command lines are tested with a recording.
package dnf

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/runcmd/runcmd"
	"github.com/runcmd/runcmd/patch"
	"github.com/runcmd/runcmd/patch/internal/command"
)

// Options configures a Source.
type Options struct {
	// Yum uses yum instead of dnf (Amazon Linux 2, RHEL 7).
	Yum bool
	// Root is passed as --installroot / --root for an alternative root; "" means the host.
	Root string
	// Runner runs the commands; nil means real exec.
	Runner command.Runner
}

// Source is the dnf/yum package source.
type Source struct {
	opt Options
	run command.Runner
}

var _ patch.Source = (*Source)(nil)

// New returns a dnf (or yum) Source.
func New(opt Options) *Source {
	r := opt.Runner
	if r == nil {
		r = command.Exec{}
	}
	return &Source{opt: opt, run: r}
}

func (s *Source) tool() string {
	if s.opt.Yum {
		return "yum"
	}
	return "dnf"
}

// pm runs dnf/yum with the common options; okCodes are the accepted exit statuses.
func (s *Source) pm(ctx context.Context, okCodes []int, args ...string) ([]byte, error) {
	base := []string{"-q", "--assumeno"}
	if !s.opt.Yum {
		base = []string{"--assumeno"}
	}
	if s.opt.Root != "" {
		base = append(base, "--installroot="+s.opt.Root)
	}
	res, err := s.run.Run(ctx, command.Cmd{Path: s.tool(), Args: append(base, args...)})
	if err != nil {
		return nil, err
	}
	for _, c := range okCodes {
		if res.ExitCode == c {
			return res.Stdout, nil
		}
	}
	return nil, fmt.Errorf("%s %s exited %d: %s", s.tool(), args[0], res.ExitCode, strings.TrimSpace(string(res.Stderr)))
}

// Inventory lists installed packages with the newer versions on offer and their advisories.
func (s *Source) Inventory(ctx context.Context) (patch.Inventory, error) {
	var inv patch.Inventory
	inv.Product = s.product()
	rpmArgs := []string{"-qa", "--qf", RPMQueryFormat}
	if s.opt.Root != "" {
		rpmArgs = append([]string{"--root=" + s.opt.Root}, rpmArgs...)
	}
	res, err := s.run.Run(ctx, command.Cmd{Path: "rpm", Args: rpmArgs})
	if err != nil {
		return inv, fmt.Errorf("%s inventory: rpm -qa: %w", s.tool(), err)
	}
	if res.ExitCode != 0 {
		return inv, fmt.Errorf("%s inventory: rpm -qa exited %d", s.tool(), res.ExitCode)
	}
	// check-update exits 100 when updates are available.
	cu, err := s.pm(ctx, []int{0, 100}, "check-update")
	if err != nil {
		return inv, fmt.Errorf("%s inventory: check-update: %w", s.tool(), err)
	}
	listArgs := []string{"updateinfo", "list", "--available", "-v"}
	infoArgs := []string{"updateinfo", "info", "--available"}
	if s.opt.Yum {
		listArgs = []string{"updateinfo", "list", "available"}
		infoArgs = []string{"updateinfo", "info", "available"}
	}
	list, err := s.pm(ctx, []int{0}, listArgs...)
	if err != nil {
		return inv, fmt.Errorf("%s inventory: updateinfo list: %w", s.tool(), err)
	}
	info, err := s.pm(ctx, []int{0}, infoArgs...)
	if err != nil {
		return inv, fmt.Errorf("%s inventory: updateinfo info: %w", s.tool(), err)
	}
	inv.Packages = Merge(ParseRPMQuery(res.Stdout), ParseCheckUpdate(cu), ParseUpdateinfoList(list),
		ParseUpdateinfoInfo(info))
	return inv, nil
}

// Merge builds the inventory packages from the parsed outputs: the newest installed version per
// name.arch (kernels are installed side by side), every newer version that check-update or an
// advisory offers, newest first, each with its advisory's classification, severity, date, CVE and
// Bugzilla ids. A version in several advisories takes a Security one first, then the first listed.
func Merge(installed []RPMPackage, avail []Available, notices []Notice, advisories []Advisory) []patch.Package {
	byKey := map[string]*patch.Package{}
	var keys []string
	for _, p := range installed {
		k := p.Key()
		cur, ok := byKey[k]
		if ok && CompareEVR(cur.Installed.Version.Version, p.EVR()) >= 0 {
			continue
		}
		if !ok {
			keys = append(keys, k)
		}
		byKey[k] = &patch.Package{Name: p.Name, Arch: p.Arch, Installed: &patch.Installed{
			Version: patch.Version{Version: p.EVR()}, InstalledTime: p.InstallTime}}
	}
	advByID := map[string]Advisory{}
	for _, a := range advisories {
		advByID[a.ID] = a
	}
	versions := map[string]map[string]*patch.Version{} // key → EVR → version
	add := func(n NEVRA) *patch.Version {
		pkg, ok := byKey[n.Key()]
		if !ok || CompareEVR(n.EVR(), pkg.Installed.Version.Version) <= 0 {
			return nil // not installed, or not newer
		}
		m := versions[n.Key()]
		if m == nil {
			m = map[string]*patch.Version{}
			versions[n.Key()] = m
		}
		v, ok := m[n.EVR()]
		if !ok {
			v = &patch.Version{Version: n.EVR()}
			m[n.EVR()] = v
		}
		return v
	}
	for _, a := range avail {
		if v := add(a.NEVRA); v != nil && v.Repository == "" {
			v.Repository = a.Repository
		}
	}
	for _, n := range notices {
		v := add(n.Package)
		if v == nil {
			continue
		}
		v.AdvisoryIDs = appendUnique(v.AdvisoryIDs, n.AdvisoryID)
		if v.Classification == "" || (n.Classification == "Security" && v.Classification != "Security") {
			v.Classification, v.Severity, v.ReleaseDate = n.Classification, n.Severity, n.Date
		}
		a, ok := advByID[n.AdvisoryID]
		if !ok {
			continue
		}
		for _, c := range a.CVEIDs {
			v.CVEIDs = appendUnique(v.CVEIDs, c)
		}
		for _, b := range a.BugzillaIDs {
			v.BugzillaIDs = appendUnique(v.BugzillaIDs, b)
		}
		if v.Severity == "" && n.Classification == "Security" {
			v.Severity = a.Severity
		}
		if v.ReleaseDate.IsZero() {
			v.ReleaseDate = a.Updated
		}
	}
	sort.Strings(keys)
	out := make([]patch.Package, 0, len(keys))
	for _, k := range keys {
		pkg := byKey[k]
		for _, v := range versions[k] {
			pkg.Updates = append(pkg.Updates, *v)
		}
		sort.Slice(pkg.Updates, func(i, j int) bool {
			return CompareEVR(pkg.Updates[i].Version, pkg.Updates[j].Version) > 0
		})
		out = append(out, *pkg)
	}
	return out
}

func appendUnique(list []string, s string) []string {
	for _, x := range list {
		if x == s {
			return list
		}
	}
	return append(list, s)
}

func (s *Source) product() string {
	root := s.opt.Root
	if root == "" {
		root = "/"
	}
	for _, f := range []string{"etc/os-release", "usr/lib/os-release"} {
		if b, err := os.ReadFile(filepath.Join(root, f)); err == nil {
			return patch.ProductFromOSRelease(b)
		}
	}
	return ""
}

// InstallArgs returns the dnf upgrade / yum update arguments for targets, after checking every name,
// arch and version against RPM's grammar.
func InstallArgs(yum bool, targets []patch.Target) ([]string, error) {
	verb := "upgrade"
	if yum {
		verb = "update"
	}
	args := []string{verb, "-y"}
	for _, t := range targets {
		err := patch.ValidRPMTarget(t)
		if err == nil && t.Version == "" {
			err = invalid("no version to install for %s", t.Key())
		}
		if err != nil {
			return nil, fmt.Errorf("rpm install %s: %w", t.Key(), err)
		}
		args = append(args, t.Name+"-"+t.Version+"."+t.Arch)
	}
	return args, nil
}

// Install upgrades the targets to exactly their versions. A non-zero exit is reported in the result.
func (s *Source) Install(ctx context.Context, targets []patch.Target) (patch.InstallResult, error) {
	args, err := InstallArgs(s.opt.Yum, targets)
	if err != nil {
		return patch.InstallResult{}, err
	}
	if s.opt.Root != "" {
		args = append([]string{"--installroot=" + s.opt.Root}, args...)
	}
	res, err := s.run.Run(ctx, command.Cmd{Path: s.tool(), Args: args})
	if err != nil {
		return patch.InstallResult{}, fmt.Errorf("%s install %d packages: %w", s.tool(), len(targets), err)
	}
	return patch.InstallResult{Output: string(res.Stdout) + string(res.Stderr), ExitCode: res.ExitCode}, nil
}

func invalid(format string, args ...any) error {
	return runcmd.Errorf(runcmd.EINVALID, patch.ErrValidation, format, args...)
}
