package patch

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/runcmd/runcmd"
)

// MaxOverrideListSize bounds an InstallOverrideList document; the payload downloads it from S3 or
// HTTPS and the agent should not hold more than this in memory.
const MaxOverrideListSize = 1 << 20

// OverrideList is a parsed InstallOverrideList: the patches to install instead of the baseline's.
type OverrideList struct {
	Patches []OverridePatch `json:"patches"`
}

// OverridePatch is one entry. On Linux ID is name.arch (globs allowed); Title, when given, is
// "name.arch:version" (apt) or "name.arch:epoch:version-release" (yum) and pins the version.
type OverridePatch struct {
	ID    string `json:"id"`
	Title string `json:"title,omitempty"`
}

// ParseOverrideList parses an InstallOverrideList document: JSON, or the YAML the guide shows —
// a "patches:" key holding a block sequence of mappings with id and title ("- id: 'x'" or "-" then
// indented keys), plain or quoted scalars, full-line comments. Other YAML is rejected with
// EINVALID rather than guessed at. Unknown keys are ignored.
func ParseOverrideList(data []byte) (*OverrideList, error) {
	if len(data) > MaxOverrideListSize {
		return nil, runcmd.Errorf(runcmd.EINVALID, ErrValidation, "InstallOverrideList is larger than %d bytes", MaxOverrideListSize)
	}
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) > 0 && trimmed[0] == '{' {
		var l OverrideList
		if err := json.Unmarshal(trimmed, &l); err != nil {
			return nil, runcmd.Errorf(runcmd.EINVALID, ErrValidation, "InstallOverrideList is not valid JSON: %v", err)
		}
		return l.validated()
	}
	var (
		l         OverrideList
		inPatches bool
		cur       *OverridePatch
	)
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64*1024), MaxOverrideListSize)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimRight(sc.Text(), " \t\r")
		body := strings.TrimLeft(line, " \t")
		if body == "" || strings.HasPrefix(body, "#") || body == "---" {
			continue
		}
		indented := len(body) < len(line)
		if !indented {
			key, val, ok := strings.Cut(body, ":")
			if !ok {
				return nil, overrideErr(n, "expected a key")
			}
			inPatches = strings.TrimSpace(key) == "patches"
			if inPatches && strings.TrimSpace(val) != "" {
				return nil, overrideErr(n, "patches must be a block sequence")
			}
			cur = nil
			continue
		}
		if !inPatches {
			continue
		}
		if strings.HasPrefix(body, "-") {
			l.Patches = append(l.Patches, OverridePatch{})
			cur = &l.Patches[len(l.Patches)-1]
			body = strings.TrimLeft(body[1:], " \t")
			if body == "" {
				continue
			}
		}
		if cur == nil {
			return nil, overrideErr(n, "expected a list item")
		}
		key, val, ok := strings.Cut(body, ":")
		if !ok {
			return nil, overrideErr(n, "expected key: value")
		}
		v, err := yamlScalar(strings.TrimSpace(val))
		if err != nil {
			return nil, overrideErr(n, err.Error())
		}
		switch strings.TrimSpace(key) {
		case "id":
			cur.ID = v
		case "title":
			cur.Title = v
		}
	}
	if err := sc.Err(); err != nil {
		return nil, runcmd.Errorf(runcmd.EINVALID, ErrValidation, "read InstallOverrideList: %v", err)
	}
	return l.validated()
}

func overrideErr(line int, msg string) error {
	return runcmd.Errorf(runcmd.EINVALID, ErrValidation, "InstallOverrideList line %d: %s", line, msg)
}

// yamlScalar unquotes a plain, 'single' or "double" quoted scalar (doubled single quotes and \" \\ escapes only).
func yamlScalar(s string) (string, error) {
	if s != "" && (s[0] == '\'' || s[0] == '"') {
		q := s[0]
		end := -1
		for i := 1; i < len(s); i++ {
			if s[i] == '\\' && q == '"' {
				i++
				continue
			}
			if s[i] == q {
				if q == '\'' && i+1 < len(s) && s[i+1] == '\'' {
					i++
					continue
				}
				end = i
				break
			}
		}
		if end < 0 {
			return "", fmt.Errorf("unterminated quoted scalar %q", s)
		}
		if rest := strings.TrimSpace(s[end+1:]); rest != "" && !strings.HasPrefix(rest, "#") {
			return "", fmt.Errorf("unexpected text after quoted scalar %q", s)
		}
		body := s[1:end]
		if q == '\'' {
			return strings.ReplaceAll(body, "''", "'"), nil
		}
		return strings.NewReplacer(`\"`, `"`, `\\`, `\`).Replace(body), nil
	}
	if i := strings.Index(s, " #"); i >= 0 {
		s = strings.TrimSpace(s[:i])
	}
	if s != "" && strings.ContainsRune("[{&*|>!%@`", rune(s[0])) {
		return "", fmt.Errorf("unsupported YAML scalar %q", s)
	}
	return s, nil
}

func (l OverrideList) validated() (*OverrideList, error) {
	for i, p := range l.Patches {
		if p.ID == "" {
			return nil, runcmd.Errorf(runcmd.EINVALID, ErrValidation, "InstallOverrideList patch %d has no id", i+1)
		}
	}
	return &l, nil
}

// Select returns the updates the override list asks for: for every installed package with an update
// whose name.arch (or name) matches an entry's id, the version the title pins when the package
// manager offers it, else the newest one. Packages the baseline rejects are left out whatever
// RejectedPatchesAction says: the override list replaces the approval rules, not the rejections.
func (l *OverrideList) Select(b Baseline, inv Inventory) []Target {
	e := evaluator{b: b.WithDefaults()}
	e.prepare()
	var out []Target
	for _, pkg := range inv.Packages {
		if pkg.Installed == nil || len(pkg.Updates) == 0 {
			continue
		}
		for _, p := range l.Patches {
			if !Glob(p.ID, pkg.Key()) && !Glob(p.ID, pkg.Name) {
				continue
			}
			v := pkg.Updates[0]
			if want, ok := strings.CutPrefix(p.Title, pkg.Key()+":"); ok {
				for _, u := range pkg.Updates {
					if u.Version == want {
						v = u
					}
				}
			}
			if !e.rejected(pkg, v) {
				out = append(out, Target{Name: pkg.Name, Arch: pkg.Arch, Version: v.Version})
			}
			break
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key() < out[j].Key() })
	return out
}
