package documents

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"

	"strconv"
	"strings"

	"github.com/runcmd/runcmd"
)

// MaxDocumentSize is SSM's 64 KB limit on document content (CreateDocument/UpdateDocument). SendCommand
// counts runtime parameter values against the same limit: see CheckSendSize.
const MaxDocumentSize = 64 * 1024

// Command-document schema versions SSM accepts (1.0 is for Session documents, 0.3 for Automation).
var schemaVersions = []string{"1.2", "2.0", "2.2"}

// Parameter types.
const (
	TypeString     = "String"
	TypeStringList = "StringList"
	TypeBoolean    = "Boolean"
	TypeInteger    = "Integer"
	TypeStringMap  = "StringMap"
	TypeMapList    = "MapList"
)

// InterpolationEnvVar is the only interpolationType SSM defines.
const InterpolationEnvVar = "ENV_VAR"

var (
	// paramNameRE is the agent's rule for names it substitutes; we refuse other names outright instead
	// of silently never substituting them.
	paramNameRE = regexp.MustCompile(`^[a-zA-Z0-9]+$`)
	// stepNameRE is runcmd's rule (SSM documents none for Command documents): it admits every 1.2
	// property id such as "0.aws:runShellScript" and keeps names usable as S3 key parts.
	stepNameRE   = regexp.MustCompile(`^[a-zA-Z0-9_.:-]{1,100}$`)
	schemaRE     = regexp.MustCompile(`^([0-9]+)\.([0-9]+)$`)
	wholeTokenRE = regexp.MustCompile(`^{{\s*([a-zA-Z0-9]+)\s*}}$`)
	anyTokenRE   = regexp.MustCompile(`{{\s*[a-zA-Z0-9]+\s*}}`)
	// ssmRefRE is the agent's Parameter Store reference pattern.
	ssmRefRE = regexp.MustCompile(`{{ *ssm:[/\w.:-]+ *}}`)
)

func sizeErr(n int) error {
	return runcmd.Errorf(runcmd.ELIMIT, "MaxDocumentSizeExceeded",
		"the document is %d bytes; the limit is %d bytes (64 KB)", n, MaxDocumentSize)
}

// CheckSendSize applies SSM's 64 KB limit to a document plus the runtime parameters sent with it
// (names and values), as SendCommand does.
func CheckSendSize(content []byte, params map[string][]string) error {
	n := len(content)
	for k, vs := range params {
		n += len(k)
		for _, v := range vs {
			n += len(v)
		}
	}
	if n > MaxDocumentSize {
		return runcmd.Errorf(runcmd.ELIMIT, "MaxDocumentSizeExceeded",
			"the document and its parameters are %d bytes; the limit is %d bytes (64 KB)", n, MaxDocumentSize)
	}
	return nil
}

// parser holds the decoded tree while the document is validated.
type parser struct {
	t   *tree
	doc *Document
}

// errf returns InvalidDocumentContent naming path and, when known, its line.
func (p *parser) errf(path, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	if line := p.t.lines[path]; line > 0 {
		return contentErr("%s (line %d): %s", path, line, msg)
	}
	return contentErr("%s: %s", orRoot(path), msg)
}

// Parse parses JSON or YAML ("JSON", "YAML"; "" detects: content starting with "{" or "[" is JSON, or YAML if it
// does not parse as JSON) command
// document content, validates it, and maps schema 1.2 (runtimeConfig) and 2.x (mainSteps) onto one model.
// Errors are runcmd errors: MaxDocumentSizeExceeded (ELIMIT), InvalidDocumentSchemaVersion and
// InvalidDocumentContent (EINVALID), the latter naming the field path and its line.
func Parse(content []byte, format string) (*Document, error) {
	if len(content) > MaxDocumentSize {
		return nil, sizeErr(len(content))
	}
	if len(strings.TrimSpace(string(content))) == 0 {
		return nil, contentErr("the document is empty")
	}
	t, f, err := decodeTree(content, format)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(content)
	p := &parser{t: t, doc: &Document{Format: f, Hash: hex.EncodeToString(sum[:])}}
	if err := p.document(); err != nil {
		return nil, err
	}
	return p.doc, nil
}

func (p *parser) document() error {
	root := p.t.root
	sv, ok := root.get("schemaVersion")
	if !ok || sv == nil {
		return contentErr("schemaVersion is required")
	}
	var version string
	switch sv := sv.(type) {
	case string:
		version = sv
	case json.Number:
		version = string(sv)
	default:
		return p.errf("schemaVersion", "must be a string such as \"2.2\"")
	}
	if !slices.Contains(schemaVersions, version) {
		return runcmd.Errorf(runcmd.EINVALID, "InvalidDocumentSchemaVersion",
			"schemaVersion %q is not supported for Command documents: use 1.2, 2.0 or 2.2", clip(version))
	}
	p.doc.SchemaVersion = version
	stepsKey := "mainSteps"
	if version == "1.2" {
		stepsKey = "runtimeConfig"
	}
	for _, k := range root.keys {
		switch k {
		case "schemaVersion", "description", "parameters", stepsKey:
		case "mainSteps", "runtimeConfig":
			return p.errf(k, "is not used with schemaVersion %s (use %s)", version, stepsKey)
		case "outputs", "files", "assumeRole":
			return p.errf(k, "is an Automation document element, not allowed in a Command document")
		default:
			return p.errf(k, "unknown top-level element (allowed: schemaVersion, description, parameters, %s)", stepsKey)
		}
	}
	if d, ok := root.get("description"); ok && d != nil {
		s, ok := d.(string)
		if !ok {
			return p.errf("description", "must be a string")
		}
		p.doc.Description = s
	}
	if err := p.parameters(); err != nil {
		return err
	}
	var err error
	if version == "1.2" {
		err = p.runtimeConfig()
	} else {
		err = p.mainSteps()
	}
	if err != nil {
		return err
	}
	if err := p.checkSteps(stepsKey); err != nil {
		return err
	}
	seen := map[string]bool{}
	for _, s := range p.doc.Steps {
		for _, pt := range actions[s.Action].platforms {
			seen[pt] = true
		}
	}
	for _, pt := range platformOrder {
		if seen[pt] {
			p.doc.PlatformTypes = append(p.doc.PlatformTypes, pt)
		}
	}
	return nil
}

// clip shortens user text quoted in messages.
func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}

var paramKeys = []string{"type", "description", "default", "allowedValues", "allowedPattern", "displayType",
	"minItems", "maxItems", "minChars", "maxChars", "interpolationType"}

func (p *parser) parameters() error {
	raw, ok := p.t.root.get("parameters")
	if !ok || raw == nil {
		return nil
	}
	obj, ok := raw.(*object)
	if !ok {
		return p.errf("parameters", "must be a map of parameter name to definition")
	}
	for _, name := range obj.keys {
		path := "parameters." + name
		if !paramNameRE.MatchString(name) {
			return p.errf(path, "parameter names may contain only letters and digits (^[a-zA-Z0-9]+$), as SSM substitutes no other names")
		}
		def, ok := obj.vals[name].(*object)
		if !ok {
			return p.errf(path, "must be a parameter definition (a map with at least type)")
		}
		prm, err := p.parameter(name, path, def)
		if err != nil {
			return err
		}
		p.doc.Parameters = append(p.doc.Parameters, prm)
	}
	return nil
}

func (p *parser) str(def *object, path, key string) (string, error) {
	v, ok := def.get(key)
	if !ok || v == nil {
		return "", nil
	}
	s, ok := v.(string)
	if !ok {
		return "", p.errf(childPath(path, key), "must be a string")
	}
	return s, nil
}

func (p *parser) count(def *object, path, key string) (*int, error) {
	v, ok := def.get(key)
	if !ok || v == nil {
		return nil, nil
	}
	var s string
	switch v := v.(type) {
	case json.Number:
		s = string(v)
	case string:
		s = v
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return nil, p.errf(childPath(path, key), "must be a whole number of 0 or more")
	}
	return &n, nil
}

func (p *parser) parameter(name, path string, def *object) (Parameter, error) {
	prm := Parameter{Name: name}
	for _, k := range def.keys {
		if !slices.Contains(paramKeys, k) {
			return prm, p.errf(childPath(path, k), "unknown parameter field (allowed: %s)", strings.Join(paramKeys, ", "))
		}
	}
	var err error
	if prm.Type, err = p.str(def, path, "type"); err != nil {
		return prm, err
	}
	switch prm.Type {
	case TypeString, TypeStringList, TypeBoolean, TypeInteger, TypeStringMap, TypeMapList:
	case "":
		return prm, p.errf(path, "type is required (String, StringList, Boolean, Integer, StringMap or MapList)")
	default:
		return prm, p.errf(childPath(path, "type"), "unknown type %q (use String, StringList, Boolean, Integer, StringMap or MapList)", clip(prm.Type))
	}
	if prm.Description, err = p.str(def, path, "description"); err != nil {
		return prm, err
	}
	if prm.DisplayType, err = p.str(def, path, "displayType"); err != nil {
		return prm, err
	}
	if prm.DisplayType != "" && prm.DisplayType != "textfield" && prm.DisplayType != "textarea" {
		return prm, p.errf(childPath(path, "displayType"), "must be textfield or textarea")
	}
	if prm.InterpolationType, err = p.str(def, path, "interpolationType"); err != nil {
		return prm, err
	}
	if prm.InterpolationType != "" {
		if prm.InterpolationType != InterpolationEnvVar {
			return prm, p.errf(childPath(path, "interpolationType"), "must be ENV_VAR")
		}
		if p.doc.SchemaVersion != "2.2" {
			return prm, p.errf(childPath(path, "interpolationType"), "ENV_VAR needs schemaVersion 2.2")
		}
	}
	if prm.AllowedPattern, err = p.str(def, path, "allowedPattern"); err != nil {
		return prm, err
	}
	if prm.AllowedPattern != "" {
		if prm.re, err = compilePattern(prm.AllowedPattern); err != nil {
			return prm, p.errf(childPath(path, "allowedPattern"), "is not a valid (Go RE2) regular expression: %s", err.Error())
		}
	}
	if av, ok := def.get("allowedValues"); ok && av != nil {
		list, ok := av.([]any)
		if !ok || len(list) == 0 {
			return prm, p.errf(childPath(path, "allowedValues"), "must be a non-empty list of values")
		}
		for i, e := range list {
			s, ok := scalarString(e)
			if !ok {
				return prm, p.errf(indexPath(childPath(path, "allowedValues"), i), "must be a string")
			}
			prm.AllowedValues = append(prm.AllowedValues, s)
		}
	}
	for _, c := range []struct {
		key string
		dst **int
	}{{"minItems", &prm.MinItems}, {"maxItems", &prm.MaxItems}, {"minChars", &prm.MinChars}, {"maxChars", &prm.MaxChars}} {
		if *c.dst, err = p.count(def, path, c.key); err != nil {
			return prm, err
		}
	}
	if (prm.MinItems != nil || prm.MaxItems != nil) && prm.Type != TypeStringList && prm.Type != TypeMapList {
		return prm, p.errf(path, "minItems and maxItems apply only to StringList and MapList parameters")
	}
	if prm.MinItems != nil && prm.MaxItems != nil && *prm.MinItems > *prm.MaxItems {
		return prm, p.errf(childPath(path, "minItems"), "is greater than maxItems")
	}
	if prm.MinChars != nil && prm.MaxChars != nil && *prm.MinChars > *prm.MaxChars {
		return prm, p.errf(childPath(path, "minChars"), "is greater than maxChars")
	}
	if dv, ok := def.get("default"); ok {
		prm.HasDefault = true
		prm.Default, err = defaultValue(prm.Type, dv)
		if err != nil {
			return prm, p.errf(childPath(path, "default"), "%s", err.Error())
		}
		if !hasSSMRef(prm.Default) {
			if msg := prm.check(prm.Default); msg != "" {
				return prm, p.errf(childPath(path, "default"), "%s", msg)
			}
		}
	}
	return prm, nil
}

// scalarString returns the text of a scalar (YAML often leaves allowed values and String defaults
// unquoted: `default: 3600`).
func scalarString(v any) (string, bool) {
	switch v := v.(type) {
	case string:
		return v, true
	case json.Number:
		return string(v), true
	case bool:
		return strconv.FormatBool(v), true
	}
	return "", false
}

// defaultValue types a default from the tree.
func defaultValue(typ string, v any) (any, error) {
	switch typ {
	case TypeString:
		if s, ok := scalarString(v); ok {
			return s, nil
		}
		return nil, fmt.Errorf("must be a string for a String parameter")
	case TypeStringList:
		if s, ok := v.(string); ok { // a single string (often {{ssm:name}}) is a one-item list
			return []string{s}, nil
		}
		list, ok := v.([]any)
		if !ok {
			return nil, fmt.Errorf("must be a list of strings for a StringList parameter")
		}
		out := make([]string, 0, len(list))
		for _, e := range list {
			s, ok := scalarString(e)
			if !ok {
				return nil, fmt.Errorf("must be a list of strings for a StringList parameter")
			}
			out = append(out, s)
		}
		return out, nil
	case TypeBoolean:
		if b, ok := v.(bool); ok {
			return b, nil
		}
		return nil, fmt.Errorf("must be true or false (not a string) for a Boolean parameter")
	case TypeInteger:
		if n, ok := v.(json.Number); ok {
			if i, err := strconv.ParseInt(string(n), 10, strconv.IntSize); err == nil {
				return int(i), nil
			}
		}
		return nil, fmt.Errorf("must be a whole number (not a string or a decimal) for an Integer parameter")
	case TypeStringMap:
		o, ok := v.(*object)
		if !ok {
			return nil, fmt.Errorf("must be a map of strings for a StringMap parameter")
		}
		m := make(map[string]string, len(o.keys))
		for _, k := range o.keys {
			s, ok := scalarString(o.vals[k])
			if !ok {
				return nil, fmt.Errorf("must be a map of strings for a StringMap parameter (key %q)", clip(k))
			}
			m[k] = s
		}
		return m, nil
	case TypeMapList:
		list, ok := v.([]any)
		if !ok {
			return nil, fmt.Errorf("must be a list of maps for a MapList parameter")
		}
		out := make([]map[string]any, 0, len(list))
		for _, e := range list {
			o, ok := e.(*object)
			if !ok {
				return nil, fmt.Errorf("must be a list of maps for a MapList parameter")
			}
			out = append(out, plain(o).(map[string]any))
		}
		return out, nil
	}
	return nil, fmt.Errorf("unknown type %q", typ)
}

func hasSSMRef(v any) bool {
	switch v := v.(type) {
	case string:
		return ssmRefRE.MatchString(v)
	case []string:
		return slices.ContainsFunc(v, func(s string) bool { return ssmRefRE.MatchString(s) })
	}
	return false
}

var stepKeys = []string{"action", "name", "inputs", "precondition", "settings"}

func (p *parser) mainSteps() error {
	raw, ok := p.t.root.get("mainSteps")
	if !ok || raw == nil {
		return contentErr("mainSteps is required for schemaVersion %s", p.doc.SchemaVersion)
	}
	list, ok := raw.([]any)
	if !ok {
		return p.errf("mainSteps", "must be a list of steps")
	}
	if len(list) == 0 {
		return p.errf("mainSteps", "must hold at least one step")
	}
	for i, e := range list {
		path := indexPath("mainSteps", i)
		so, ok := e.(*object)
		if !ok {
			return p.errf(path, "must be a step (a map with name, action and inputs)")
		}
		for _, k := range so.keys {
			switch {
			case slices.Contains(stepKeys, k):
			case k == "isEnd" || k == "nextStep":
				return p.errf(childPath(path, k), "is an Automation step field; Command steps use inputs.onSuccess/onFailure: exit")
			case k == "onFailure" || k == "timeoutSeconds" || k == "maxAttempts":
				return p.errf(childPath(path, k), "is not a Command step field; put onFailure and timeoutSeconds inside inputs")
			default:
				return p.errf(childPath(path, k), "unknown step field (allowed: %s)", strings.Join(stepKeys, ", "))
			}
		}
		name, err := p.str(so, path, "name")
		if err != nil {
			return err
		}
		if name == "" {
			return p.errf(path, "name is required")
		}
		action, err := p.str(so, path, "action")
		if err != nil {
			return err
		}
		if action == "" {
			return p.errf(path, "action is required")
		}
		step := Step{Name: name, Action: action, PluginName: name, Line: p.t.lines[path]}
		if !KnownAction(action) {
			return p.errf(childPath(path, "action"), "unknown action %q", clip(action))
		}
		var inputs *object
		if in, ok := so.get("inputs"); ok && in != nil {
			if inputs, ok = in.(*object); !ok {
				return p.errf(childPath(path, "inputs"), "must be a map of input name to value")
			}
		}
		if err := p.inputs(&step, childPath(path, "inputs"), inputs); err != nil {
			return err
		}
		if pc, ok := so.get("precondition"); ok && pc != nil {
			if step.Precondition, err = p.precondition(childPath(path, "precondition"), pc, name); err != nil {
				return err
			}
		}
		p.doc.Steps = append(p.doc.Steps, step)
	}
	return nil
}

func (p *parser) runtimeConfig() error {
	raw, ok := p.t.root.get("runtimeConfig")
	if !ok || raw == nil {
		return contentErr("runtimeConfig is required for schemaVersion 1.2")
	}
	rc, ok := raw.(*object)
	if !ok {
		return p.errf("runtimeConfig", "must be a map of plugin name to {properties: [...]}")
	}
	if len(rc.keys) == 0 {
		return p.errf("runtimeConfig", "must hold at least one plugin")
	}
	for _, plugin := range rc.keys {
		path := "runtimeConfig." + plugin
		if !KnownAction(plugin) {
			return p.errf(path, "unknown plugin %q", clip(plugin))
		}
		po, ok := rc.vals[plugin].(*object)
		if !ok {
			return p.errf(path, "must be a map with properties")
		}
		for _, k := range po.keys {
			if k != "properties" && k != "settings" {
				return p.errf(childPath(path, k), "unknown plugin field (allowed: properties, settings)")
			}
		}
		props, ok := po.get("properties")
		if !ok || props == nil {
			return p.errf(path, "properties is required")
		}
		ppath := childPath(path, "properties")
		var list []any
		switch props := props.(type) {
		case []any:
			list = props
		case *object:
			list = []any{props}
		default:
			return p.errf(ppath, "must be a list of property maps")
		}
		if len(list) == 0 {
			return p.errf(ppath, "must hold at least one property map")
		}
		for i, e := range list {
			path := ppath
			if _, isList := props.([]any); isList {
				path = indexPath(ppath, i)
			}
			po, ok := e.(*object)
			if !ok {
				return p.errf(path, "must be a property map")
			}
			id := fmt.Sprintf("%d.%s", i, plugin)
			if v, ok := po.get("id"); ok && v != nil {
				s, ok := v.(string)
				if !ok || s == "" {
					return p.errf(childPath(path, "id"), "must be a non-empty string")
				}
				id = s
			}
			inputs := &object{vals: map[string]any{}}
			for _, k := range po.keys {
				if k != "id" {
					inputs.keys = append(inputs.keys, k)
					inputs.vals[k] = po.vals[k]
				}
			}
			step := Step{Name: id, Action: plugin, PluginName: plugin, Line: p.t.lines[path]}
			if err := p.inputs(&step, path, inputs); err != nil {
				return err
			}
			p.doc.Steps = append(p.doc.Steps, step)
		}
	}
	return nil
}

// inputs checks a step's inputs for its action and fills the step's Inputs and control-flow fields.
func (p *parser) inputs(step *Step, path string, in *object) error {
	spec := actions[step.Action]
	if in == nil {
		in = &object{vals: map[string]any{}}
	}
	for _, k := range spec.required {
		if v, ok := in.get(k); !ok || v == nil {
			return p.errf(path, "%s is required for %s", k, step.Action)
		}
	}
	for _, k := range in.keys {
		v := in.vals[k]
		kp := childPath(path, k)
		switch k {
		case "onFailure":
			s, _ := v.(string)
			if s != "exit" && s != "successAndExit" {
				return p.errf(kp, "must be exit or successAndExit")
			}
			step.OnFailure = s
			continue
		case "onSuccess":
			if s, _ := v.(string); s != "exit" {
				return p.errf(kp, "must be exit")
			}
			step.OnSuccess = "exit"
			continue
		case "finallyStep":
			switch v {
			case true, "true":
				step.FinallyStep = true
			case false, "false":
			default:
				return p.errf(kp, "must be true or false")
			}
			continue
		case "timeoutSeconds":
			if err := p.timeout(kp, v); err != nil {
				return err
			}
			continue
		}
		if spec.strict && !slices.Contains(spec.allowed, k) {
			return p.errf(kp, "unknown input for %s (allowed: %s)", step.Action,
				strings.Join(append(slices.Clone(spec.allowed), sharedInputs...), ", "))
		}
		if err := p.input(step.Action, kp, k, v); err != nil {
			return err
		}
	}
	step.Inputs = plain(in).(map[string]any)
	return nil
}

// input checks one action-specific input. Values that are a single {{ parameter }} are checked when
// rendered.
func (p *parser) input(action, path, key string, v any) error {
	if s, ok := v.(string); ok && wholeTokenRE.MatchString(s) {
		return nil
	}
	oneOf := func(allowed ...string) error {
		s, ok := v.(string)
		if !ok || (!slices.Contains(allowed, s) && !anyTokenRE.MatchString(s)) {
			return p.errf(path, "must be one of %s", strings.Join(allowed, ", "))
		}
		return nil
	}
	switch {
	case isScriptAction(action) && key == "runCommand":
		switch v := v.(type) {
		case string:
			return nil
		case []any:
			for i, e := range v {
				if _, ok := e.(string); !ok {
					return p.errf(indexPath(path, i), "must be a string (one line of the script)")
				}
			}
			return nil
		}
		return p.errf(path, "must be a list of strings (the script lines) or a {{ parameter }}")
	case isScriptAction(action) && key == "workingDirectory":
		if _, ok := v.(string); !ok {
			return p.errf(path, "must be a string")
		}
	case action == "aws:runDocument" && key == "documentType":
		return oneOf("SSMDocument", "LocalPath")
	case action == "aws:downloadContent" && key == "sourceType":
		return oneOf("GitHub", "Git", "HTTP", "S3", "SSMDocument")
	case action == "aws:downloadContent" && key == "sourceInfo",
		action == "aws:runDocument" && key == "documentParameters":
		switch v.(type) {
		case *object, string:
			return nil
		}
		return p.errf(path, "must be a map (or its JSON text)")
	case action == ActionRunPatchBaseline && key == "operation":
		return oneOf("Scan", "Install")
	case action == ActionRunPatchBaseline && key == "rebootOption":
		return oneOf("RebootIfNeeded", "NoReboot")
	}
	return nil
}

// Step timeouts (inputs.timeoutSeconds), per the SSM agent.
const (
	DefaultTimeoutSeconds = 3600
	MinTimeoutSeconds     = 5
	MaxTimeoutSeconds     = 172800
)

// timeout checks a literal timeoutSeconds; one that comes from a parameter is resolved at render time,
// where an invalid value falls back to the default as the agent does.
func (p *parser) timeout(path string, v any) error {
	if s, ok := v.(string); ok && anyTokenRE.MatchString(s) {
		return nil
	}
	if _, ok := parseTimeout(v); !ok {
		return p.errf(path, "must be a whole number of seconds from %d to %d", MinTimeoutSeconds, MaxTimeoutSeconds)
	}
	return nil
}

// parseTimeout accepts a number or a string holding one.
func parseTimeout(v any) (int, bool) {
	var s string
	switch v := v.(type) {
	case string:
		s = strings.TrimSpace(v)
	case json.Number:
		s = string(v)
	case int:
		s = strconv.Itoa(v)
	case float64:
		s = strconv.FormatFloat(v, 'f', -1, 64)
	default:
		return 0, false
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < MinTimeoutSeconds || n > MaxTimeoutSeconds {
		return 0, false
	}
	return n, true
}

func (p *parser) precondition(path string, v any, stepName string) (*Precondition, error) {
	if p.doc.SchemaVersion != "2.2" {
		return nil, p.errf(path, "preconditions need schemaVersion 2.2")
	}
	o, ok := v.(*object)
	if !ok || len(o.keys) != 1 {
		return nil, p.errf(path, "must be a map with exactly one operator, such as StringEquals: [platformType, Linux]")
	}
	op := o.keys[0]
	if op != "StringEquals" {
		return nil, p.errf(childPath(path, op), "unknown operator (only StringEquals exists)")
	}
	opPath := childPath(path, op)
	list, ok := o.vals[op].([]any)
	if !ok || len(list) != 2 {
		return nil, p.errf(opPath, "must be a list of exactly two values")
	}
	args := make([]string, 2)
	for i, e := range list {
		s, ok := e.(string)
		if !ok {
			return nil, p.errf(indexPath(opPath, i), "must be a string")
		}
		if strings.Contains(s, "{{ssm:") || strings.Contains(s, "{{ssm-secure:") || ssmRefRE.MatchString(s) {
			return nil, p.errf(indexPath(opPath, i), "may not reference Parameter Store ({{ssm:...}})")
		}
		args[i] = s
	}
	if args[0] == args[1] {
		return nil, p.errf(opPath, "the two values are identical")
	}
	pi := slices.Index(args, "platformType")
	switch {
	case pi >= 0:
		other := args[1-pi]
		if strings.Contains(other, "{{") {
			return nil, p.errf(indexPath(opPath, 1-pi), "the platform to compare with platformType may not use {{ }}")
		}
		if !slices.ContainsFunc(platformOrder, func(pt string) bool { return strings.EqualFold(pt, other) }) {
			return nil, p.errf(indexPath(opPath, 1-pi), "must be Linux, Windows or MacOS")
		}
	case !anyTokenRE.MatchString(args[0]) && !anyTokenRE.MatchString(args[1]):
		return nil, p.errf(opPath, "must compare platformType or use at least one {{ parameter }}")
	}
	return &Precondition{Operator: op, Args: args, StepName: stepName}, nil
}

// checkSteps applies the document-wide step rules: valid unique names (also unique once colons are
// stripped, since SSM strips them from S3 output keys) and finallyStep only on the last step.
func (p *parser) checkSteps(stepsKey string) error {
	names := map[string]bool{}
	stripped := map[string]string{}
	for i, s := range p.doc.Steps {
		where := indexPath(stepsKey, i) + ".name"
		if p.doc.SchemaVersion == "1.2" {
			where = "runtimeConfig." + s.Action + ".properties id"
		}
		if !stepNameRE.MatchString(s.Name) {
			return contentErr("%s: step name %q must be 1 to 100 letters, digits, '_', '.', ':' or '-'%s",
				where, clip(s.Name), lineSuffix(s.Line))
		}
		if names[s.Name] {
			return contentErr("%s: step name %q is used twice%s", where, s.Name, lineSuffix(s.Line))
		}
		names[s.Name] = true
		k := strings.ReplaceAll(s.Name, ":", "")
		if other, dup := stripped[k]; dup {
			return contentErr("%s: step names %q and %q clash once colons are removed (as in S3 output keys)%s",
				where, other, s.Name, lineSuffix(s.Line))
		}
		stripped[k] = s.Name
		if s.FinallyStep && i != len(p.doc.Steps)-1 {
			return contentErr("%s: finallyStep is honoured only on the last step (step %q)%s", where, s.Name, lineSuffix(s.Line))
		}
	}
	return nil
}

func lineSuffix(line int) string {
	if line <= 0 {
		return ""
	}
	return " (line " + strconv.Itoa(line) + ")"
}

// PluginNames returns, per step and in order, what SSM reports as CommandPlugin.Name: the plugin name for
// schema 1.2 (repeated if a plugin has several properties), the step name for 2.x.
func (d *Document) PluginNames() []string {
	out := make([]string, len(d.Steps))
	for i, s := range d.Steps {
		out[i] = s.PluginName
	}
	return out
}

// Parameter returns the definition of the named parameter.
func (d *Document) Parameter(name string) (Parameter, bool) {
	for _, p := range d.Parameters {
		if p.Name == name {
			return p, true
		}
	}
	return Parameter{}, false
}

// Required reports whether a value must be given: SSM makes every parameter without a default required.
func (p Parameter) Required() bool { return !p.HasDefault }

// DefaultValue is the default as DescribeDocument's Parameters[].DefaultValue shows it: strings as is,
// other types as JSON (SSM's exact encoding of non-string defaults is unconfirmed), "" without default.
func (p Parameter) DefaultValue() string {
	if !p.HasDefault {
		return ""
	}
	if s, ok := p.Default.(string); ok {
		return s
	}
	b, err := json.Marshal(p.Default)
	if err != nil {
		return ""
	}
	return string(b)
}
