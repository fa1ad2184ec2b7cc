package patch

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/runcmd/runcmd"
)

// MaxBaselineOverrideSize bounds a BaselineOverride file; a list of one baseline per operating system
// is a few kilobytes.
const MaxBaselineOverrideSize = 1 << 20

// ParseBaselineOverride parses the file AWS-RunPatchBaseline's BaselineOverride parameter points at: a
// JSON array of baselines in GetPatchBaseline's shape, at most one per operating system. Like the
// payload, it keeps only the members of the API's BaselineOverride (OperatingSystem, GlobalFilters,
// ApprovalRules, the approved and rejected lists and their options, Sources): ids, names, dates and
// patch groups of a GetPatchBaseline output are ignored. A single object is refused, as the payload
// refuses it. The error is EINVALID/ValidationException; the entries are not validated here (see
// SelectBaselineOverride).
func ParseBaselineOverride(data []byte) ([]Baseline, error) {
	if len(data) > MaxBaselineOverrideSize {
		return nil, runcmd.Errorf(runcmd.EINVALID, ErrValidation, "BaselineOverride is larger than %d bytes", MaxBaselineOverrideSize)
	}
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) > 0 && trimmed[0] == '{' {
		return nil, runcmd.Errorf(runcmd.EINVALID, ErrValidation,
			"BaselineOverride is a JSON object, not a JSON array: put the baseline in a list, [{...}], one entry per operating system")
	}
	var raw []json.RawMessage
	if err := json.Unmarshal(trimmed, &raw); err != nil {
		return nil, runcmd.Errorf(runcmd.EINVALID, ErrValidation, "BaselineOverride is not a JSON array of baselines: %v", err)
	}
	out := make([]Baseline, 0, len(raw))
	for i, r := range raw {
		var b Baseline
		if t := bytes.TrimSpace(r); len(t) == 0 || t[0] != '{' {
			return nil, runcmd.Errorf(runcmd.EINVALID, ErrValidation, "BaselineOverride entry %d is not a JSON object", i+1)
		}
		if err := json.Unmarshal(r, &b); err != nil {
			return nil, runcmd.Errorf(runcmd.EINVALID, ErrValidation, "BaselineOverride entry %d: %v", i+1, err)
		}
		b.BaselineID, b.Name, b.Description = "", "", ""
		out = append(out, b)
	}
	return out, nil
}

// BaselineOverrideError says why no entry of a BaselineOverride applies to a node.
type BaselineOverrideError struct {
	OS      OperatingSystem
	Matches int // 0: no entry for OS; more than 1: several
}

func (e *BaselineOverrideError) Error() string {
	if e.Matches == 0 {
		return fmt.Sprintf("BaselineOverride has no baseline for operating system %s", e.OS)
	}
	return fmt.Sprintf("BaselineOverride has %d baselines for operating system %s: give one per operating system", e.Matches, e.OS)
}

// SelectBaselineOverride returns the one entry whose OperatingSystem is os (entries without one match
// nothing, as in the payload) and validates it as CreatePatchBaseline would. No entry or several is a
// *BaselineOverrideError; an invalid entry is EINVALID/ValidationException.
func SelectBaselineOverride(list []Baseline, os OperatingSystem) (Baseline, error) {
	var found []Baseline
	for _, b := range list {
		if b.OperatingSystem == os {
			found = append(found, b)
		}
	}
	if len(found) != 1 {
		return Baseline{}, &BaselineOverrideError{OS: os, Matches: len(found)}
	}
	b := found[0]
	check := b.Clone()
	check.Name = "BaselineOverride" // Validate wants a name; an override has none
	if err := check.Validate(); err != nil {
		return Baseline{}, fmt.Errorf("BaselineOverride for %s: %w", os, err)
	}
	return b, nil
}
