package dnf

import (
	"bufio"
	"bytes"
	"strconv"
	"strings"
	"time"
)

// RPMQueryFormat is the --qf format Inventory passes to rpm -qa.
const RPMQueryFormat = "%{NAME}\t%{EPOCHNUM}\t%{VERSION}\t%{RELEASE}\t%{ARCH}\t%{INSTALLTIME}\n"

// NEVRA is a parsed package identity.
type NEVRA struct {
	Name, Epoch, Version, Release, Arch string
}

// EVR is "epoch:version-release" with the epoch always present ("0" when none), the form patch.Version
// uses for the yum family and Title shows.
func (n NEVRA) EVR() string {
	e := n.Epoch
	if e == "" {
		e = "0"
	}
	return e + ":" + n.Version + "-" + n.Release
}

// Key is name.arch.
func (n NEVRA) Key() string { return n.Name + "." + n.Arch }

// ParseNEVRA parses "name-[epoch:]version-release.arch" (dnf's NEVRA form; a trailing ".rpm" of a file
// name is dropped).
func ParseNEVRA(s string) (NEVRA, bool) {
	s = strings.TrimSuffix(s, ".rpm")
	dot := strings.LastIndexByte(s, '.')
	if dot <= 0 || dot == len(s)-1 {
		return NEVRA{}, false
	}
	n := NEVRA{Arch: s[dot+1:]}
	s = s[:dot]
	rel := strings.LastIndexByte(s, '-')
	if rel <= 0 || rel == len(s)-1 {
		return NEVRA{}, false
	}
	n.Release = s[rel+1:]
	s = s[:rel]
	ver := strings.LastIndexByte(s, '-')
	if ver <= 0 || ver == len(s)-1 {
		return NEVRA{}, false
	}
	n.Name, n.Version = s[:ver], s[ver+1:]
	if e, v, ok := strings.Cut(n.Version, ":"); ok {
		n.Epoch, n.Version = e, v
	}
	if n.Version == "" || strings.ContainsAny(n.Name+n.Version+n.Release+n.Arch, " \t") {
		return NEVRA{}, false
	}
	return n, true
}

// ParseEVR splits "[epoch:]version-release".
func ParseEVR(s string) (epoch, version, release string, ok bool) {
	if e, rest, found := strings.Cut(s, ":"); found {
		epoch, s = e, rest
	}
	i := strings.LastIndexByte(s, '-')
	if i <= 0 || i == len(s)-1 {
		return "", "", "", false
	}
	return epoch, s[:i], s[i+1:], true
}

// RPMPackage is one line of rpm -qa --qf RPMQueryFormat.
type RPMPackage struct {
	NEVRA
	InstallTime time.Time
}

// ParseRPMQuery parses rpm -qa --qf RPMQueryFormat output. gpg-pubkey pseudo-packages (arch "(none)")
// and malformed lines are skipped.
func ParseRPMQuery(out []byte) []RPMPackage {
	var pkgs []RPMPackage
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Split(sc.Text(), "\t")
		if len(f) < 5 || f[0] == "" || f[2] == "" || f[4] == "" || f[4] == "(none)" {
			continue
		}
		p := RPMPackage{NEVRA: NEVRA{Name: f[0], Epoch: f[1], Version: f[2], Release: f[3], Arch: f[4]}}
		if p.Epoch == "(none)" || p.Epoch == "" {
			p.Epoch = "0"
		}
		if len(f) >= 6 {
			if sec, err := strconv.ParseInt(strings.TrimSpace(f[5]), 10, 64); err == nil {
				p.InstallTime = time.Unix(sec, 0).UTC()
			}
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

// Available is one line of dnf/yum check-update: the newest version of an installed package.
type Available struct {
	NEVRA
	Repository string
}

// ParseCheckUpdate parses dnf check-update / yum check-update output ("name.arch  [epoch:]ver-rel
// repo"; dnf wraps a long name onto its own line). The "Obsoleting Packages" section and everything
// else is skipped.
func ParseCheckUpdate(out []byte) []Available {
	var (
		avs     []Available
		pending string
	)
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "Obsoleting Packages") || strings.HasPrefix(line, "Security:") {
			break
		}
		f := strings.Fields(line)
		if pending != "" && len(f) == 2 && (line[0] == ' ' || line[0] == '\t') {
			f = append([]string{pending}, f...)
		}
		pending = ""
		if len(f) == 1 && strings.Contains(f[0], ".") && line[0] != ' ' {
			pending = f[0]
			continue
		}
		if len(f) != 3 {
			continue
		}
		dot := strings.LastIndexByte(f[0], '.')
		e, v, r, ok := ParseEVR(f[1])
		if dot <= 0 || dot == len(f[0])-1 || !ok {
			continue
		}
		avs = append(avs, Available{
			NEVRA:      NEVRA{Name: f[0][:dot], Arch: f[0][dot+1:], Epoch: e, Version: v, Release: r},
			Repository: f[2],
		})
	}
	return avs
}

// Notice is one line of dnf updateinfo list / yum updateinfo list: an advisory that updates a package.
type Notice struct {
	AdvisoryID string
	// Classification is the capitalised advisory type: Security, Bugfix, Enhancement, Newpackage.
	Classification string
	// Severity of a security advisory (Critical, Important, Moderate, Low; Medium/None on AL2023),
	// "" when dnf printed Unknown/Sec. or the advisory is not a security one.
	Severity string
	Package  NEVRA
	// Date is the advisory's updated date, printed by dnf 4 with -v; zero without -v or on yum.
	Date time.Time
}

// ParseUpdateinfoList parses "dnf updateinfo list [--available] [-v]" and "yum updateinfo list" output.
// dnf 4 prints "[i ]<id> <label> <nevra>[ <date> <time>]" where label is "<Severity>/Sec." for security
// advisories and the type (bugfix, enhancement, security, newpackage) otherwise; yum prints the same
// columns with lowercase severities. Other lines (dnf's verbose chatter, metadata messages) are skipped.
func ParseUpdateinfoList(out []byte) []Notice {
	var ns []Notice
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) > 0 && f[0] == "i" {
			f = f[1:]
		}
		if len(f) != 3 && len(f) != 5 {
			continue
		}
		class, sev, ok := parseLabel(f[1])
		if !ok {
			continue
		}
		pkg, ok := ParseNEVRA(f[2])
		if !ok {
			continue
		}
		n := Notice{AdvisoryID: f[0], Classification: class, Severity: sev, Package: pkg}
		if len(f) == 5 {
			t, err := time.Parse(time.DateTime, f[3]+" "+f[4])
			if err != nil {
				continue
			}
			n.Date = t
		}
		ns = append(ns, n)
	}
	return ns
}

// parseLabel maps dnf's type/severity label to classification and severity.
func parseLabel(label string) (class, severity string, ok bool) {
	if sev, found := strings.CutSuffix(label, "/Sec."); found {
		sev = capitalize(sev)
		if sev == "Unknown" {
			sev = ""
		}
		return "Security", sev, true
	}
	switch strings.ToLower(label) {
	case "security", "bugfix", "enhancement", "newpackage", "recommended":
		return capitalize(label), "", true
	}
	return "", "", false
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + strings.ToLower(s[1:])
}

// Advisory is one block of dnf updateinfo info output.
type Advisory struct {
	ID             string
	Title          string
	Classification string
	Severity       string
	Updated        time.Time
	CVEIDs         []string
	BugzillaIDs    []string
	// Files are the packages of the advisory, as NEVRA (dnf prints file names without epoch).
	Files []NEVRA
}

// ParseUpdateinfoInfo parses "dnf updateinfo info" output: blocks opened by a line of '=', the title,
// another line of '=', then right-aligned "Label: value" lines whose continuation lines have an empty
// label (" : value"). Labels used: Update ID, Type, Updated, Bugs, CVEs, Severity, Files.
func ParseUpdateinfoInfo(out []byte) []Advisory {
	var (
		advs  []Advisory
		cur   *Advisory
		label string
		rule  int // '=' lines seen for the current block header
	)
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		t := strings.TrimSpace(line)
		if len(t) >= 10 && strings.Trim(t, "=") == "" {
			if rule == 0 {
				advs = append(advs, Advisory{})
				cur, label, rule = &advs[len(advs)-1], "", 1
			} else {
				rule = 0
			}
			continue
		}
		if cur == nil {
			continue
		}
		if rule == 1 {
			cur.Title = t
			continue
		}
		k, v, ok := strings.Cut(line, ": ")
		if !ok {
			k, v, ok = strings.Cut(line, ":")
			if !ok {
				continue
			}
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if k != "" {
			label = k
		}
		switch label {
		case "Update ID":
			cur.ID = v
		case "Type":
			cur.Classification, _, _ = parseLabel(v)
		case "Severity":
			cur.Severity = capitalize(v)
		case "Updated", "Issued":
			if t, err := time.Parse(time.DateTime, v); err == nil {
				cur.Updated = t
			}
		case "CVEs":
			if v != "" {
				cur.CVEIDs = append(cur.CVEIDs, v)
			}
		case "Bugs":
			if id, _, _ := strings.Cut(v, " "); id != "" {
				cur.BugzillaIDs = append(cur.BugzillaIDs, id)
			}
		case "Files":
			if n, ok := ParseNEVRA(v); ok {
				cur.Files = append(cur.Files, n)
			}
		}
	}
	// Drop blocks that never named an advisory.
	out2 := advs[:0]
	for _, a := range advs {
		if a.ID != "" {
			out2 = append(out2, a)
		}
	}
	return out2
}
