// Package apt is the patch Source for Debian, Ubuntu and Raspberry Pi OS: dpkg-query for what is
// installed, apt-cache policy for the newer versions and the suites that offer them (a version from
// a *-security suite or a security.* site is classification Security), apt-cache show for Priority and
// Section, and apt-get install --only-upgrade name:arch=version to install.
//
// With Options.Root the source works on an isolated root prepared by PrepareRoot: apt reads only the
// root's configuration (APT_CONFIG, so none of the host's apt.conf.d hooks run) and dpkg installs with
// --root and --admindir into it. That is how the tests run real apt without touching the host.
package apt

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/runcmd/runcmd/patch"
	"github.com/runcmd/runcmd/patch/internal/command"
)

// Options configures a Source.
type Options struct {
	// Root is an isolated root prepared with PrepareRoot; "" means the host.
	Root string
	// Refresh runs apt-get update before listing, as the payload does before a scan.
	Refresh bool
	// Runner runs the commands; nil means real exec. Tests in this module play back recordings.
	Runner command.Runner
}

// Source is the apt package source.
type Source struct {
	opt Options
	run command.Runner
}

var (
	_ patch.Source   = (*Source)(nil)
	_ patch.Resolver = (*Source)(nil)
)

// New returns an apt Source.
func New(opt Options) *Source {
	r := opt.Runner
	if r == nil {
		r = command.Exec{}
	}
	return &Source{opt: opt, run: r}
}

func (s *Source) env() []string {
	env := []string{"DEBIAN_FRONTEND=noninteractive"}
	if s.opt.Root != "" {
		env = append(env, "APT_CONFIG="+filepath.Join(s.opt.Root, "etc/apt/apt.conf"))
	}
	return env
}

func (s *Source) admindir() string {
	if s.opt.Root == "" {
		return "/var/lib/dpkg"
	}
	return filepath.Join(s.opt.Root, "var/lib/dpkg")
}

// exec runs prog and fails on a non-zero exit, with the first stderr line in the error.
func (s *Source) exec(ctx context.Context, prog string, args ...string) ([]byte, error) {
	c := command.Cmd{Path: prog, Args: args, Env: s.env()}
	res, err := s.run.Run(ctx, c)
	if err != nil {
		return nil, err
	}
	if res.ExitCode != 0 {
		return nil, fmt.Errorf("%s exited %d: %s", prog, res.ExitCode, firstLine(res.Stderr))
	}
	return res.Stdout, nil
}

func firstLine(b []byte) string {
	s := strings.TrimSpace(string(b))
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return s
}

// Inventory lists installed packages and the newer versions apt offers for them. Packages that are
// not installed are not listed (a Debian archive has tens of thousands), so apt nodes report no
// NotApplicable patches.
func (s *Source) Inventory(ctx context.Context) (patch.Inventory, error) {
	var inv patch.Inventory
	inv.Product = s.product()
	if s.opt.Refresh {
		if _, err := s.exec(ctx, "apt-get", "update", "-q"); err != nil {
			return inv, fmt.Errorf("apt inventory: update: %w", err)
		}
	}
	out, err := s.exec(ctx, "dpkg-query", "--admindir="+s.admindir(), "-W", "-f="+DpkgQueryFormat)
	if err != nil {
		return inv, fmt.Errorf("apt inventory: dpkg-query: %w", err)
	}
	installed := ParseDpkgQuery(out)
	if len(installed) == 0 {
		return inv, nil
	}
	args := []string{"policy"}
	for _, p := range installed {
		args = append(args, p.Binary)
	}
	out, err = s.exec(ctx, "apt-cache", args...)
	if err != nil {
		return inv, fmt.Errorf("apt inventory: apt-cache policy: %w", err)
	}
	policies := map[string]Policy{}
	for _, p := range ParsePolicy(out) {
		policies[p.Name] = p
	}

	type nv struct{ name, version string }
	newer := map[string][]PolicyVersion{}
	var show []string
	for _, p := range installed {
		pol, ok := policies[p.Binary]
		if !ok {
			pol, ok = policies[p.Name]
		}
		if !ok {
			continue
		}
		vs := pol.Newer()
		newer[p.Binary] = vs
		for _, v := range vs {
			show = append(show, p.Name+"="+v.Version)
		}
	}
	fields := map[nv]Stanza{}
	if len(show) > 0 {
		// A version that vanished since policy ran makes show exit non-zero after printing the
		// others; what it printed is still good, and missing fields fall back to the installed ones.
		res, err := s.run.Run(ctx, command.Cmd{Path: "apt-cache",
			Args: append([]string{"show", "--no-all-versions", "--"}, show...), Env: s.env()})
		if err != nil {
			return inv, fmt.Errorf("apt inventory: apt-cache show: %w", err)
		}
		for _, st := range ParseShow(res.Stdout) {
			k := nv{st.Package, st.Version}
			if _, dup := fields[k]; !dup {
				fields[k] = st
			}
		}
	}

	for _, p := range installed {
		pkg := patch.Package{Name: p.Name, Arch: p.Arch}
		inst := patch.Installed{
			Version:       patch.Version{Version: p.Version, Priority: p.Priority, Section: p.Section},
			InstalledTime: s.installedTime(p),
		}
		pol, ok := policies[p.Binary]
		if !ok {
			pol = policies[p.Name]
		}
		if row, ok := pol.InstalledRow(); ok {
			inst.Version.Repository = repository(row)
			if row.Security() {
				inst.Version.Classification = "Security"
			}
		}
		pkg.Installed = &inst
		for _, v := range newer[p.Binary] {
			u := patch.Version{Version: v.Version, Repository: repository(v)}
			if v.Security() {
				u.Classification = "Security"
			}
			if st, ok := fields[nv{p.Name, v.Version}]; ok {
				u.Priority, u.Section = st.Priority, st.Section
			} else {
				u.Priority, u.Section = p.Priority, p.Section
			}
			pkg.Updates = append(pkg.Updates, u)
		}
		inv.Packages = append(inv.Packages, pkg)
	}
	sort.Slice(inv.Packages, func(i, j int) bool { return inv.Packages[i].Key() < inv.Packages[j].Key() })
	return inv, nil
}

// repository names the first non-status origin of a version, "<uri> <suite>/<component>".
func repository(v PolicyVersion) string {
	for _, o := range v.Origins {
		if o.Suite != "" {
			return o.URI + " " + o.Suite + "/" + o.Component
		}
	}
	return ""
}

// installedTime is the modification time of the package's file list in dpkg's database, which dpkg
// rewrites on every install or upgrade; zero when it cannot be read.
func (s *Source) installedTime(p Installed) time.Time {
	for _, n := range []string{p.Name + ":" + p.Arch + ".list", p.Name + ".list"} {
		if fi, err := os.Stat(filepath.Join(s.admindir(), "info", n)); err == nil {
			return fi.ModTime().UTC()
		}
	}
	return time.Time{}
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

func installArgs(targets []patch.Target) ([]string, error) {
	var args []string
	for _, t := range targets {
		err := patch.ValidDebianTarget(t)
		if err == nil && t.Version == "" {
			err = invalid("no version to install for %s", t.Key())
		}
		if err != nil {
			return nil, fmt.Errorf("apt install %s: %w", t.Key(), err)
		}
		args = append(args, t.Name+":"+t.Arch+"="+t.Version)
	}
	return args, nil
}

// Install runs apt-get install -y --only-upgrade with name:arch=version for every target, keeping
// existing configuration files. A non-zero exit is reported in the result, not as an error: Run finds
// out which packages made it from the next inventory.
func (s *Source) Install(ctx context.Context, targets []patch.Target) (patch.InstallResult, error) {
	pkgs, err := installArgs(targets)
	if err != nil {
		return patch.InstallResult{}, err
	}
	args := append([]string{"install", "-y", "-q", "--only-upgrade",
		"-o", "Dpkg::Options::=--force-confdef", "-o", "Dpkg::Options::=--force-confold", "--"}, pkgs...)
	res, err := s.run.Run(ctx, command.Cmd{Path: "apt-get", Args: args, Env: s.env()})
	if err != nil {
		return patch.InstallResult{}, fmt.Errorf("apt install %d packages: %w", len(targets), err)
	}
	return patch.InstallResult{Output: string(res.Stdout) + string(res.Stderr), ExitCode: res.ExitCode}, nil
}

// Resolve simulates the install (apt-get -s) and returns every package it would install or upgrade.
// A target apt cannot install at all is an EINVALID error.
func (s *Source) Resolve(ctx context.Context, targets []patch.Target) ([]patch.Target, error) {
	pkgs, err := installArgs(targets)
	if err != nil {
		return nil, err
	}
	args := append([]string{"-s", "install", "--only-upgrade", "--"}, pkgs...)
	res, err := s.run.Run(ctx, command.Cmd{Path: "apt-get", Args: args, Env: s.env()})
	if err != nil {
		return nil, fmt.Errorf("apt resolve: %w", err)
	}
	if res.ExitCode != 0 {
		return nil, invalid("apt resolve: apt-get -s exited %d: %s", res.ExitCode, firstLine(res.Stderr))
	}
	var out []patch.Target
	for _, a := range ParseSimulate(res.Stdout) {
		out = append(out, patch.Target{Name: a.Name, Arch: a.Arch, Version: a.Version})
	}
	return out, nil
}
