// Package builtin holds the documents runcmd ships, owned by "Amazon" like AWS's own: AWS-RunShellScript,
// AWS-RunPowerShellScript and AWS-RunPatchBaseline. They are embedded JSON files.
package builtin

import (
	"embed"
	"slices"
	"strings"
	"time"
)

//go:embed *.json
var files embed.FS

// Every built-in has this owner, version and creation date; they never change, so a built-in is always
// at DocumentVersion "1" (DefaultVersion and LatestVersion too).
const (
	Owner           = "Amazon"
	DocumentVersion = "1"
	DocumentType    = "Command"
	DocumentFormat  = "JSON"
)

// CreatedDate returns the fixed creation date of every built-in document (2024-01-01T00:00:00Z), so
// DescribeDocument and ListDocuments answers never change between deployments.
func CreatedDate() time.Time { return time.Date(2024, time.January, 1, 0, 0, 0, 0, time.UTC) }

// Names returns the built-in document names, sorted.
func Names() []string {
	entries, err := files.ReadDir(".")
	if err != nil {
		return nil
	}
	var names []string
	for _, e := range entries {
		names = append(names, strings.TrimSuffix(e.Name(), ".json"))
	}
	slices.Sort(names)
	return names
}

// Content returns a built-in document's JSON content, and false when no built-in has that name.
func Content(name string) ([]byte, bool) {
	if name == "" || strings.ContainsAny(name, "/\\") {
		return nil, false
	}
	b, err := files.ReadFile(name + ".json")
	if err != nil {
		return nil, false
	}
	return b, true
}
