package documents

import "regexp"

// Document is a parsed, validated command document. Schema 1.2 (runtimeConfig) and 2.x (mainSteps) map
// onto the same Steps. Its methods never modify it, so one parsed Document (a built-in, a cached version)
// may be used by many goroutines at once.
type Document struct {
	SchemaVersion string
	Description   string
	// Parameters are in document order.
	Parameters []Parameter
	// Steps are in document order. For schema 1.2 there is one step per runtimeConfig property, named
	// by the property's id (for example "0.aws:runShellScript").
	Steps []Step
	// PlatformTypes is the union of the platforms of the steps' actions, in SSM's order (Windows,
	// Linux, MacOS).
	PlatformTypes []string
	// Hash is the hex SHA-256 of the content exactly as given (DocumentDescription.Hash, HashType Sha256).
	Hash string
	// Format is the format the content was parsed as: "JSON" or "YAML".
	Format string
}

// Parameter is one parameter definition.
type Parameter struct {
	Name              string
	Type              string // String, StringList, Boolean, Integer, StringMap, MapList
	Description       string
	DisplayType       string // textfield or textarea (console only)
	AllowedPattern    string
	InterpolationType string // "" or ENV_VAR
	// Default is the typed default (see Values.Typed for the Go types); meaningful only with HasDefault.
	Default    any
	HasDefault bool
	// AllowedValues holds the allowed values in their string form.
	AllowedValues      []string
	MinItems, MaxItems *int
	MinChars, MaxChars *int

	re *regexp.Regexp // compiled AllowedPattern, set by Parse
}

// Step is one step of the document, before interpolation.
type Step struct {
	Name   string
	Action string
	// PluginName is what SSM reports as CommandPlugin.Name: the plugin name for schema 1.2, the step
	// name for 2.x.
	PluginName string
	// Inputs holds the step's inputs as decoded from the document: string, bool, int, float64, nil,
	// []any and map[string]any. For schema 1.2 it is the property object without "id".
	Inputs       map[string]any
	Precondition *Precondition
	OnFailure    string // "", "exit" or "successAndExit"
	OnSuccess    string // "" or "exit"
	FinallyStep  bool
	// Line is the step's line in the content (1-based; 0 when unknown).
	Line int
}

// Precondition is a step precondition. Only StringEquals with two arguments exists in SSM.
type Precondition struct {
	Operator string
	Args     []string
	// StepName is the step the precondition belongs to; it appears in the skip message.
	StepName string
}

// Values are resolved runtime parameters: every defined parameter has a value (given or default).
type Values struct {
	// Typed holds each value as a Go value: String string, StringList []string, Boolean bool,
	// Integer int, StringMap map[string]string, MapList []map[string]any.
	Typed map[string]any
	// Wire holds the same values as SSM's map[string][]string (what SendCommand stores and the node
	// receives): one element for scalar types and StringMap (JSON), one JSON object per MapList item.
	Wire map[string][]string
}

// ParamStore resolves {{ssm:name}} and {{ssm:name:version}} references. Callers bind a context in
// the implementation; the reference is passed as written between "ssm:" and "}}", trimmed.
type ParamStore interface {
	GetParameterValue(reference string) (string, error)
}

// ParamStoreFunc adapts a function to ParamStore.
type ParamStoreFunc func(reference string) (string, error)

// GetParameterValue calls f.
func (f ParamStoreFunc) GetParameterValue(reference string) (string, error) { return f(reference) }

// RenderedStep is a step after interpolation, ready for the agent to run.
type RenderedStep struct {
	Name       string
	Action     string
	PluginName string
	// Inputs are the interpolated inputs, with the same Go types as Step.Inputs.
	Inputs map[string]any
	// Commands is runCommand as lines for aws:runShellScript and aws:runPowerShellScript.
	Commands         []string
	WorkingDirectory string
	// TimeoutSeconds is inputs.timeoutSeconds resolved: 5..172800, default 3600, invalid → default.
	TimeoutSeconds int
	// Env holds the ENV_VAR parameters as SSM_<name> = value.
	Env          map[string]string
	Precondition *Precondition
	OnFailure    string
	OnSuccess    string
	FinallyStep  bool
}
