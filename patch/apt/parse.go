package apt

import (
	"bufio"
	"bytes"
	"strings"
)

// DpkgQueryFormat is the -f format Inventory passes to dpkg-query -W: one tab-separated line per
// package with name, arch, version, status, priority, section and binary:Package (name:arch for
// Multi-Arch: same packages).
const DpkgQueryFormat = "${Package}\t${Architecture}\t${Version}\t${Status}\t${Priority}\t${Section}\t${binary:Package}\n"

// Installed is one line of dpkg-query output.
type Installed struct {
	Name     string
	Arch     string
	Version  string
	Status   string // "install ok installed" for installed packages
	Priority string
	Section  string
	Binary   string // binary:Package, what apt-cache is asked about
}

// ParseDpkgQuery parses dpkg-query -W -f=DpkgQueryFormat output, keeping packages whose status is
// "installed" (not config-files or half-installed ones). Malformed lines are skipped.
func ParseDpkgQuery(out []byte) []Installed {
	var pkgs []Installed
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for sc.Scan() {
		f := strings.Split(sc.Text(), "\t")
		if len(f) < 7 || f[0] == "" || f[2] == "" {
			continue
		}
		st := strings.Fields(f[3])
		if len(st) != 3 || st[2] != "installed" {
			continue
		}
		bin := f[6]
		if bin == "" {
			bin = f[0]
		}
		pkgs = append(pkgs, Installed{Name: f[0], Arch: f[1], Version: f[2], Status: f[3], Priority: f[4],
			Section: f[5], Binary: bin})
	}
	return pkgs
}

// Policy is one package's entry in apt-cache policy output.
type Policy struct {
	// Name is the header without its colon: "bash", or "libc6:i386" for a foreign architecture.
	Name      string
	Installed string // "" for "(none)"
	Candidate string // "" for "(none)"
	// Versions is the version table, newest first as apt prints it.
	Versions []PolicyVersion
}

// PolicyVersion is one row of a version table with the sources that offer it.
type PolicyVersion struct {
	Version   string
	Pin       string
	Installed bool // the "***" row
	Origins   []Origin
}

// Origin is one source line under a version: "500 http://deb.debian.org/debian-security
// bookworm-security/main amd64 Packages" gives URI, Suite bookworm-security and Component main; the
// dpkg status line ("100 /var/lib/dpkg/status") has only a URI.
type Origin struct {
	Pin       string
	URI       string
	Suite     string
	Component string
}

// Security reports whether the origin is a security archive, as the payload decides it: the suite
// contains "security" (Ubuntu's jammy-security, Debian's bookworm-security) or the site is
// security.debian.org / security.ubuntu.com.
func (o Origin) Security() bool {
	if strings.Contains(strings.ToLower(o.Suite), "security") {
		return true
	}
	host := o.URI
	if i := strings.Index(host, "://"); i >= 0 {
		host = host[i+3:]
	}
	host, _, _ = strings.Cut(host, "/")
	return strings.HasPrefix(strings.ToLower(host), "security.")
}

// ParsePolicy parses apt-cache policy output for one or more packages (LC_ALL=C). Lines it does not
// recognise are skipped; packages apt does not know print nothing and so are absent.
func ParsePolicy(out []byte) []Policy {
	var (
		pols []Policy
		cur  *Policy
		ver  *PolicyVersion
	)
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			continue
		}
		if line[0] != ' ' {
			if name, ok := strings.CutSuffix(line, ":"); ok && !strings.ContainsAny(name, " \t") && name != "" {
				pols = append(pols, Policy{Name: name})
				cur, ver = &pols[len(pols)-1], nil
			}
			continue
		}
		if cur == nil {
			continue
		}
		t := strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(t, "Installed:"):
			cur.Installed = noneToEmpty(strings.TrimSpace(strings.TrimPrefix(t, "Installed:")))
		case strings.HasPrefix(t, "Candidate:"):
			cur.Candidate = noneToEmpty(strings.TrimSpace(strings.TrimPrefix(t, "Candidate:")))
		case t == "Version table:":
		case strings.HasPrefix(line, " *** ") || (strings.HasPrefix(line, "     ") && !strings.HasPrefix(line, "      ")):
			// A version row is indented 5 (or " *** "); origin rows are indented 8.
			f := strings.Fields(t)
			installed := false
			if len(f) > 0 && f[0] == "***" {
				installed, f = true, f[1:]
			}
			if len(f) != 2 {
				ver = nil
				continue
			}
			cur.Versions = append(cur.Versions, PolicyVersion{Version: f[0], Pin: f[1], Installed: installed})
			ver = &cur.Versions[len(cur.Versions)-1]
		case ver != nil:
			f := strings.Fields(t)
			if len(f) < 2 {
				continue
			}
			o := Origin{Pin: f[0], URI: f[1]}
			if len(f) >= 3 {
				o.Suite, o.Component, _ = strings.Cut(f[2], "/")
			}
			ver.Origins = append(ver.Origins, o)
		}
	}
	return pols
}

func noneToEmpty(s string) string {
	if s == "(none)" {
		return ""
	}
	return s
}

// Newer returns the versions apt would upgrade to: those above the installed row, down from the
// candidate (versions above the candidate are pinned away, e.g. backports). Not installed: the
// candidate and everything below it.
func (p Policy) Newer() []PolicyVersion {
	if p.Candidate == "" {
		return nil
	}
	var out []PolicyVersion
	seen := false
	for _, v := range p.Versions {
		if v.Installed || (p.Installed != "" && v.Version == p.Installed) {
			break
		}
		seen = seen || v.Version == p.Candidate
		if seen {
			out = append(out, v)
		}
	}
	return out
}

// InstalledRow returns the table row of the installed version, if listed.
func (p Policy) InstalledRow() (PolicyVersion, bool) {
	for _, v := range p.Versions {
		if v.Installed {
			return v, true
		}
	}
	return PolicyVersion{}, false
}

// Security reports whether any origin of v is a security archive.
func (v PolicyVersion) Security() bool {
	for _, o := range v.Origins {
		if o.Security() {
			return true
		}
	}
	return false
}

// Stanza is one record of apt-cache show output: the fields Inventory uses.
type Stanza struct {
	Package      string
	Version      string
	Architecture string
	Priority     string
	Section      string
}

// ParseShow parses apt-cache show output (RFC 822-style stanzas separated by blank lines;
// continuation lines start with a space and are skipped).
func ParseShow(out []byte) []Stanza {
	var (
		ss  []Stanza
		cur Stanza
		any bool
	)
	flush := func() {
		if any && cur.Package != "" {
			ss = append(ss, cur)
		}
		cur, any = Stanza{}, false
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.TrimSpace(line) == "" {
			flush()
			continue
		}
		if line[0] == ' ' || line[0] == '\t' {
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		any = true
		v = strings.TrimSpace(v)
		switch k {
		case "Package":
			cur.Package = v
		case "Version":
			cur.Version = v
		case "Architecture":
			cur.Architecture = v
		case "Priority":
			cur.Priority = v
		case "Section":
			cur.Section = v
		}
	}
	flush()
	return ss
}

// Action is one "Inst" line of apt-get -s (simulate) output: a package apt would install or upgrade.
type Action struct {
	Name       string
	Arch       string
	OldVersion string // "" for a new install
	Version    string
	// Releases are the "origin:suite" labels after the version, e.g. "Debian-Security:12/stable-security".
	Releases []string
}

// ParseSimulate parses the Inst lines of apt-get -s install/upgrade output, e.g.
// "Inst libcups2 [2.4.2-3+deb12u8] (2.4.2-3+deb12u9 Debian:12.14/oldstable, Debian-Security:12/oldstable-security [amd64])".
func ParseSimulate(out []byte) []Action {
	var acts []Action
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "Inst ")
		if !ok {
			continue
		}
		name, rest, ok := strings.Cut(rest, " ")
		if !ok || name == "" {
			continue
		}
		a := Action{Name: name}
		if strings.HasPrefix(rest, "[") {
			old, r, ok := strings.Cut(rest[1:], "] ")
			if !ok {
				continue
			}
			a.OldVersion, rest = old, r
		}
		if !strings.HasPrefix(rest, "(") {
			continue
		}
		body, _, ok := strings.Cut(rest[1:], ")")
		if !ok {
			continue
		}
		// body: "<version> <release>, <release> [<arch>]"
		if i := strings.LastIndex(body, " ["); i >= 0 && strings.HasSuffix(body, "]") {
			a.Arch = body[i+2 : len(body)-1]
			body = body[:i]
		}
		ver, rels, _ := strings.Cut(body, " ")
		if ver == "" {
			continue
		}
		a.Version = ver
		for _, r := range strings.Split(rels, ", ") {
			if r = strings.TrimSpace(r); r != "" {
				a.Releases = append(a.Releases, r)
			}
		}
		if n, arch, ok := strings.Cut(a.Name, ":"); ok {
			a.Name = n
			if a.Arch == "" {
				a.Arch = arch
			}
		}
		if a.Name == "" {
			continue // "Inst :arch (...)": no package name left after the architecture
		}
		acts = append(acts, a)
	}
	return acts
}
