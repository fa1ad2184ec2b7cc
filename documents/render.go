package documents

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/runcmd/runcmd"
)

// storeError is a ParamStore failure that is not the caller's fault; Render returns it as is (an internal
// error) instead of as InvalidParameters.
type storeError struct {
	ref string
	err error
}

func (e *storeError) Error() string {
	return "resolve Parameter Store parameter " + e.ref + ": " + e.err.Error()
}
func (e *storeError) Unwrap() error { return e.err }

// renderErr reports a failure while rendering a step's field.
func renderErr(step, field string, err error) error {
	var se *storeError
	if errors.As(err, &se) {
		return fmt.Errorf("render step %s %s: %w", step, field, err)
	}
	return paramErr("step %q %s: %s", step, field, err.Error())
}

// tokenRE finds {{ name }} tokens and captures the name. Expansion uses anyTokenRE, which has no groups,
// exactly like the agent's per-parameter regexp: see substitute.
var tokenRE = regexp.MustCompile(`{{\s*([a-zA-Z0-9]+)\s*}}`)

// refStyle says how an ENV_VAR parameter is referenced where a script would otherwise get its text.
type refStyle int

const (
	refNone       refStyle = iota // not script text: substitute the value
	refShell                      // ${SSM_name}
	refPowerShell                 // $env:SSM_name
)

type renderer struct {
	typed  map[string]any
	envVar map[string]bool
	ps     ParamStore
}

// Render returns the steps with parameters interpolated the way the SSM agent does it:
//
//   - only names matching ^[a-zA-Z0-9]+$ are substituted; tokens are {{\s*name\s*}}; tokens naming no
//     parameter are left as they are;
//   - a string that is exactly one token takes the typed value (a StringList stays a list);
//   - otherwise tokens are replaced by text, non-strings JSON-marshalled; the agent does this with Go's
//     regexp ReplaceAllString, so the value is a replacement template: "$$" becomes "$", "$0" the token
//     itself, and any other $name or ${name} expands to nothing. We reproduce that exactly, so documents
//     written for AWS (which double their dollars) behave the same;
//   - substitution walks inputs recursively (map keys untouched) and precondition arguments, in one pass:
//     substituted text is not scanned again;
//   - ENV_VAR parameters are exposed as Env["SSM_<name>"] = value and never pasted into a script: in the
//     runCommand of aws:runShellScript and aws:runPowerShellScript a token naming one becomes ${SSM_name}
//     or $env:SSM_name; elsewhere (data inputs, preconditions) it is substituted as usual;
//   - {{ssm:name}} references are then resolved through ps; with ps nil they are refused;
//   - TimeoutSeconds is inputs.timeoutSeconds: 5..172800, default 3600, an invalid value gives the default.
//
// v must come from ResolveParameters. Errors are runcmd EINVALID "InvalidParameters".
func (d *Document) Render(v Values, ps ParamStore) ([]RenderedStep, error) {
	r := &renderer{typed: v.Typed, envVar: map[string]bool{}, ps: ps}
	var env map[string]string
	for _, p := range d.Parameters {
		val, ok := v.Typed[p.Name]
		if !ok {
			return nil, paramErr("parameter %q has no value (resolve the parameters first)", p.Name)
		}
		if p.InterpolationType == InterpolationEnvVar {
			r.envVar[p.Name] = true
			if env == nil {
				env = map[string]string{}
			}
			env["SSM_"+p.Name] = envString(val)
		}
	}
	out := make([]RenderedStep, 0, len(d.Steps))
	for _, s := range d.Steps {
		rs := RenderedStep{Name: s.Name, Action: s.Action, PluginName: s.PluginName, OnFailure: s.OnFailure,
			OnSuccess: s.OnSuccess, FinallyStep: s.FinallyStep, TimeoutSeconds: DefaultTimeoutSeconds}
		if env != nil {
			rs.Env = make(map[string]string, len(env))
			for k, e := range env {
				rs.Env[k] = e
			}
		}
		inputs := make(map[string]any, len(s.Inputs))
		for k, in := range s.Inputs {
			style := refNone
			if k == "runCommand" {
				switch s.Action {
				case ActionRunShellScript:
					style = refShell
				case ActionRunPowerShellScript:
					style = refPowerShell
				}
			}
			val, err := r.value(in, style)
			if err != nil {
				return nil, renderErr(s.Name, "input "+k, err)
			}
			inputs[k] = val
		}
		rs.Inputs = inputs
		if isScriptAction(s.Action) {
			cmds, err := commandLines(inputs["runCommand"])
			if err != nil {
				return nil, paramErr("step %q input runCommand: %s", s.Name, err.Error())
			}
			rs.Commands = cmds
			if wd, ok := inputs["workingDirectory"]; ok && wd != nil {
				s, ok := wd.(string)
				if !ok {
					return nil, paramErr("step %q input workingDirectory: must be a string", rs.Name)
				}
				rs.WorkingDirectory = s
			}
		}
		if t, ok := inputs["timeoutSeconds"]; ok {
			if n, ok := parseTimeout(t); ok {
				rs.TimeoutSeconds = n
			}
		}
		if s.Precondition != nil {
			pc := &Precondition{Operator: s.Precondition.Operator, StepName: s.Name}
			for _, a := range s.Precondition.Args {
				sub, err := r.text(a, refNone)
				if err != nil {
					return nil, renderErr(s.Name, "precondition", err)
				}
				if ssmRefRE.MatchString(sub) || strings.Contains(sub, "{{ssm-secure:") {
					return nil, paramErr("step %q precondition: may not reference Parameter Store", s.Name)
				}
				pc.Args = append(pc.Args, sub)
			}
			rs.Precondition = pc
		}
		out = append(out, rs)
	}
	return out, nil
}

// value interpolates one input value. The result uses the Step.Inputs Go types.
func (r *renderer) value(v any, style refStyle) (any, error) {
	switch v := v.(type) {
	case string:
		if m := wholeTokenRE.FindStringSubmatch(v); m != nil {
			if typed, ok := r.typed[m[1]]; ok {
				if r.envVar[m[1]] && style != refNone {
					return envRef(m[1], style), nil
				}
				return r.resolveSSM(generic(typed))
			}
		}
		return r.text(v, style)
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			x, err := r.value(e, style)
			if err != nil {
				return nil, err
			}
			out[i] = x
		}
		return out, nil
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			x, err := r.value(e, style)
			if err != nil {
				return nil, err
			}
			out[k] = x
		}
		return out, nil
	}
	return v, nil
}

// text substitutes every token in s, then resolves {{ssm:...}} references.
func (r *renderer) text(s string, style refStyle) (string, error) {
	if !strings.Contains(s, "{{") {
		return s, nil
	}
	s = r.substitute(s, style)
	if !strings.Contains(s, "{{") {
		return s, nil
	}
	out, err := r.resolveSSM(s)
	if err != nil {
		return "", err
	}
	return out.(string), nil
}

func (r *renderer) substitute(s string, style refStyle) string {
	matches := tokenRE.FindAllStringSubmatchIndex(s, -1)
	if matches == nil {
		return s
	}
	var b []byte
	last := 0
	for _, m := range matches {
		name := s[m[2]:m[3]]
		typed, ok := r.typed[name]
		if !ok {
			continue
		}
		b = append(b, s[last:m[0]]...)
		last = m[1]
		if r.envVar[name] && style != refNone {
			b = append(b, envRef(name, style)...)
			continue
		}
		// The value is a replacement template, as in the agent's ReplaceAllString.
		b = anyTokenRE.ExpandString(b, textOf(typed), s, m[:2])
	}
	b = append(b, s[last:]...)
	return string(b)
}

func envRef(name string, style refStyle) string {
	if style == refPowerShell {
		return "$env:SSM_" + name
	}
	return "${SSM_" + name + "}"
}

// textOf is the agent's convertToString: strings as is, anything else json.Marshal (HTML-escaped, as
// json.Marshal does).
func textOf(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	b, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	return string(b)
}

// generic copies a typed parameter value into the Step.Inputs Go types.
func generic(v any) any {
	switch v := v.(type) {
	case []string:
		out := make([]any, len(v))
		for i, s := range v {
			out[i] = s
		}
		return out
	case map[string]string:
		out := make(map[string]any, len(v))
		for k, s := range v {
			out[k] = s
		}
		return out
	case []map[string]any:
		out := make([]any, len(v))
		for i, m := range v {
			out[i] = deepCopy(m)
		}
		return out
	}
	return v
}

func deepCopy(v any) any {
	switch v := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			out[k] = deepCopy(e)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = deepCopy(e)
		}
		return out
	}
	return v
}

// resolveSSM replaces {{ssm:name}} references in strings (recursively in lists and maps).
func (r *renderer) resolveSSM(v any) (any, error) {
	switch v := v.(type) {
	case string:
		if !strings.Contains(v, "ssm:") {
			return v, nil
		}
		var err error
		out := ssmRefRE.ReplaceAllStringFunc(v, func(tok string) string {
			if err != nil {
				return tok
			}
			ref := strings.TrimSpace(strings.TrimSuffix(strings.TrimPrefix(tok, "{{"), "}}"))
			ref = strings.TrimPrefix(ref, "ssm:")
			if r.ps == nil {
				err = fmt.Errorf("references Parameter Store parameter %q, but no parameter store is configured", ref)
				return tok
			}
			val, e := r.ps.GetParameterValue(ref)
			if e != nil {
				if runcmd.ErrorCode(e) == runcmd.EINTERNAL {
					err = &storeError{ref: ref, err: e}
				} else {
					err = fmt.Errorf("Parameter Store parameter %q: %s", ref, runcmd.ErrorMessage(e))
				}
				return tok
			}
			return val
		})
		return out, err
	case []any:
		for i, e := range v {
			x, err := r.resolveSSM(e)
			if err != nil {
				return nil, err
			}
			v[i] = x
		}
		return v, nil
	case map[string]any:
		for k, e := range v {
			x, err := r.resolveSSM(e)
			if err != nil {
				return nil, err
			}
			v[k] = x
		}
		return v, nil
	}
	return v, nil
}

// commandLines turns a rendered runCommand into script lines. A single string is one line (it may hold
// newlines); scalars in a list are written as text; a nested list or map is refused (the agent fails it).
func commandLines(v any) ([]string, error) {
	switch v := v.(type) {
	case nil:
		return nil, fmt.Errorf("is required")
	case string:
		return []string{v}, nil
	case []any:
		out := make([]string, 0, len(v))
		for i, e := range v {
			switch e := e.(type) {
			case string:
				out = append(out, e)
			case int, float64, bool:
				out = append(out, textOf(e))
			default:
				return nil, fmt.Errorf("line %d is not a string after substituting parameters", i+1)
			}
		}
		return out, nil
	}
	return nil, fmt.Errorf("must be a list of strings after substituting parameters")
}

// ExecTimeoutSeconds is the execution timeout of the whole document with values v: the sum of every
// step's resolved timeoutSeconds (default 3600 each). Steps run one after another and a step skipped by
// its precondition is not known to be skipped until the node's platform is, so the sum is the upper bound
// the service uses for ExpiresAfter. {{ssm:...}} references in timeoutSeconds count as the default.
func (d *Document) ExecTimeoutSeconds(v Values) int {
	r := &renderer{typed: v.Typed}
	total := 0
	for _, s := range d.Steps {
		t := DefaultTimeoutSeconds
		if in, ok := s.Inputs["timeoutSeconds"]; ok {
			if str, isStr := in.(string); isStr {
				if m := wholeTokenRE.FindStringSubmatch(str); m != nil {
					if typed, ok := v.Typed[m[1]]; ok {
						in = typed
					}
				} else {
					in = r.substitute(str, refNone)
				}
			}
			if n, ok := parseTimeout(in); ok {
				t = n
			}
		}
		total += t
	}
	return total
}

// String renders the precondition as SSM quotes it: "StringEquals": [platformType, Windows].
func (p *Precondition) String() string {
	if p == nil {
		return ""
	}
	return strconv.Quote(p.Operator) + ": [" + strings.Join(p.Args, ", ") + "]"
}

// Applies evaluates a rendered precondition on a node whose platform type is "Linux", "Windows" or
// "MacOS" (any case). platformType in either argument compares the other argument with the node's
// platform, case-insensitively; two other arguments (already interpolated) must be equal. When the step
// does not apply, skipMessage is SSM's output for the Skipped step. A nil precondition always applies.
// A malformed precondition is an error carrying SSM's "Unrecognized precondition(s)" text.
func (p *Precondition) Applies(platformType string) (ok bool, skipMessage string, err error) {
	if p == nil {
		return true, "", nil
	}
	if p.Operator != "StringEquals" || len(p.Args) != 2 {
		return false, "", runcmd.Errorf(runcmd.EINVALID, "InvalidDocumentContent",
			"Unrecognized precondition(s): '%s', please update agent to latest version. Step name: %s", p.String(), p.StepName)
	}
	switch {
	case p.Args[0] == "platformType":
		ok = strings.EqualFold(p.Args[1], platformType)
	case p.Args[1] == "platformType":
		ok = strings.EqualFold(p.Args[0], platformType)
	default:
		ok = p.Args[0] == p.Args[1]
	}
	if ok {
		return true, "", nil
	}
	return false, fmt.Sprintf("Step execution skipped due to unsatisfied preconditions: '%s'. Step name: %s",
		p.String(), p.StepName), nil
}
