package documents

import "slices"

// Platform types, in the order SSM lists them in DocumentDescription.PlatformTypes.
const (
	PlatformWindows = "Windows"
	PlatformLinux   = "Linux"
	PlatformMacOS   = "MacOS"
)

var platformOrder = []string{PlatformWindows, PlatformLinux, PlatformMacOS}

// Script actions: the ones whose runCommand becomes RenderedStep.Commands.
const (
	ActionRunShellScript      = "aws:runShellScript"
	ActionRunPowerShellScript = "aws:runPowerShellScript"
	// ActionRunPatchBaseline is a runcmd extension (AWS has no such plugin: AWS-RunPatchBaseline runs
	// scripts). It is accepted so a document can call the agent's patch engine directly; the built-in
	// AWS-RunPatchBaseline does not use it.
	ActionRunPatchBaseline = "aws:runPatchBaseline"
)

// actionSpec describes what the parser knows about an action: the platforms it has a handler on (from
// the SSM agent's plugin registration), its required inputs, and, when strict, every input it accepts
// (besides the shared onFailure/onSuccess/finallyStep).
type actionSpec struct {
	platforms []string
	required  []string
	strict    bool
	allowed   []string
}

var actions = map[string]actionSpec{
	ActionRunShellScript: {
		platforms: []string{PlatformLinux, PlatformMacOS},
		required:  []string{"runCommand"}, strict: true,
		allowed: []string{"runCommand", "workingDirectory", "timeoutSeconds"},
	},
	ActionRunPowerShellScript: {
		platforms: []string{PlatformWindows, PlatformLinux, PlatformMacOS},
		required:  []string{"runCommand"}, strict: true,
		allowed: []string{"runCommand", "workingDirectory", "timeoutSeconds"},
	},
	"aws:runDocument": {
		platforms: []string{PlatformWindows, PlatformLinux},
		required:  []string{"documentType"}, strict: true,
		allowed: []string{"documentType", "documentPath", "documentParameters", "timeoutSeconds"},
	},
	"aws:downloadContent": {
		platforms: []string{PlatformWindows, PlatformLinux},
		required:  []string{"sourceType", "sourceInfo"}, strict: true,
		allowed: []string{"sourceType", "sourceInfo", "destinationPath", "timeoutSeconds"},
	},
	ActionRunPatchBaseline: {
		platforms: []string{PlatformLinux},
		required:  []string{"operation"}, strict: true,
		allowed: []string{"operation", "snapshotId", "installOverrideList", "baselineOverride",
			"rebootOption", "timeoutSeconds"},
	},
	"aws:softwareInventory": {platforms: []string{PlatformWindows, PlatformLinux, PlatformMacOS}},
	"aws:configurePackage": {
		platforms: []string{PlatformWindows, PlatformLinux, PlatformMacOS},
		required:  []string{"name", "action"},
	},
	"aws:applications":       {platforms: []string{PlatformWindows}, required: []string{"action", "source"}},
	"aws:psModule":           {platforms: []string{PlatformWindows}},
	"aws:domainJoin":         {platforms: []string{PlatformWindows, PlatformLinux}},
	"aws:cloudWatch":         {platforms: []string{PlatformWindows}},
	"aws:configureDocker":    {platforms: []string{PlatformWindows, PlatformLinux}},
	"aws:runDockerAction":    {platforms: []string{PlatformWindows, PlatformLinux}},
	"aws:refreshAssociation": {platforms: []string{PlatformWindows, PlatformLinux, PlatformMacOS}},
	"aws:updateAgent":        {platforms: []string{PlatformWindows}},
	"aws:updateSsmAgent":     {platforms: []string{PlatformWindows, PlatformLinux, PlatformMacOS}},
	"aws:configureDaemon":    {platforms: []string{PlatformWindows, PlatformLinux}},
}

// sharedInputs are the control-flow inputs every Command step may carry (SSM Agent ≥ 3.0.502).
var sharedInputs = []string{"onFailure", "onSuccess", "finallyStep"}

// KnownAction reports whether the parser accepts action as a step action.
func KnownAction(action string) bool {
	_, ok := actions[action]
	return ok
}

// ActionPlatforms returns the platforms the SSM agent has a handler for action on (Windows, Linux,
// MacOS order), or nil for an unknown action. A step whose action has no handler on the node's platform
// is skipped with UnsupportedPluginMessage.
func ActionPlatforms(action string) []string {
	return slices.Clone(actions[action].platforms)
}

// UnsupportedPluginMessage is the output SSM gives a step skipped because its action has no handler on
// the node's platform.
func UnsupportedPluginMessage(action, stepName string) string {
	return "Step execution skipped due to unsupported plugin: " + action + ". Step name: " + stepName
}

func isScriptAction(action string) bool {
	return action == ActionRunShellScript || action == ActionRunPowerShellScript
}
