package builtin_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/runcmd/runcmd/documents"
	"github.com/runcmd/runcmd/documents/builtin"
)

func TestNamesAndContent(t *testing.T) {
	t.Parallel()
	want := []string{"AWS-RunPatchBaseline", "AWS-RunPowerShellScript", "AWS-RunShellScript"}
	if diff := cmp.Diff(want, builtin.Names()); diff != "" {
		t.Errorf("Names (-want +got):\n%s", diff)
	}
	for _, name := range []string{"", "AWS-Nope", "../builtin", "AWS-RunShellScript.json"} {
		if _, ok := builtin.Content(name); ok {
			t.Errorf("Content(%q) found", name)
		}
	}
}

// Every built-in parses and renders on its own defaults plus the required parameters.
func TestBuiltinsParseAndRender(t *testing.T) {
	t.Parallel()
	required := map[string]map[string][]string{
		"AWS-RunShellScript":      {"commands": {"echo hi"}},
		"AWS-RunPowerShellScript": {"commands": {"Write-Output hi"}},
		"AWS-RunPatchBaseline":    {"Operation": {"Scan"}},
	}
	for _, name := range builtin.Names() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			content, ok := builtin.Content(name)
			if !ok {
				t.Fatal("no content")
			}
			d, err := documents.Parse(content, "JSON")
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			v, err := d.ResolveParameters(required[name])
			if err != nil {
				t.Fatalf("ResolveParameters: %v", err)
			}
			rs, err := d.Render(v, nil)
			if err != nil {
				t.Fatalf("Render: %v", err)
			}
			for _, s := range rs {
				if len(s.Commands) == 0 {
					t.Errorf("step %s has no commands", s.Name)
				}
			}
		})
	}
}

func TestRunShellScript(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ name, action string }{
		{"AWS-RunShellScript", "aws:runShellScript"}, {"AWS-RunPowerShellScript", "aws:runPowerShellScript"},
	} {
		content, _ := builtin.Content(c.name)
		d, err := documents.Parse(content, "")
		if err != nil {
			t.Fatal(err)
		}
		var params []string
		for _, p := range d.Parameters {
			params = append(params, p.Name+":"+p.Type+":"+p.DefaultValue())
		}
		if diff := cmp.Diff([]string{"commands:StringList:", "workingDirectory:String:", "executionTimeout:String:3600"}, params); diff != "" {
			t.Errorf("%s parameters (-want +got):\n%s", c.name, diff)
		}
		if d.SchemaVersion != "1.2" || !cmp.Equal(d.PluginNames(), []string{c.action}) || d.Steps[0].Name != "0."+c.action {
			t.Errorf("%s: schema %s, plugins %v, step %s", c.name, d.SchemaVersion, d.PluginNames(), d.Steps[0].Name)
		}
		if _, err := d.ResolveParameters(map[string][]string{"commands": {}}); err == nil {
			t.Errorf("%s: empty commands accepted (minItems 1)", c.name)
		}
		if _, err := d.ResolveParameters(map[string][]string{"commands": {"ls"}, "executionTimeout": {"172801"}}); err == nil {
			t.Errorf("%s: executionTimeout 172801 accepted", c.name)
		}
		v, err := d.ResolveParameters(map[string][]string{"commands": {"ls", "pwd"}, "executionTimeout": {"60"}, "workingDirectory": {"/srv"}})
		if err != nil {
			t.Fatal(err)
		}
		rs, err := d.Render(v, nil)
		if err != nil {
			t.Fatal(err)
		}
		got := []any{rs[0].Commands, rs[0].TimeoutSeconds, rs[0].WorkingDirectory, rs[0].PluginName}
		if diff := cmp.Diff([]any{[]string{"ls", "pwd"}, 60, "/srv", c.action}, got); diff != "" {
			t.Errorf("%s render (-want +got):\n%s", c.name, diff)
		}
	}
}

func TestRunPatchBaseline(t *testing.T) {
	t.Parallel()
	content, _ := builtin.Content("AWS-RunPatchBaseline")
	d, err := documents.Parse(content, "")
	if err != nil {
		t.Fatal(err)
	}
	var params []string
	for _, p := range d.Parameters {
		params = append(params, p.Name+":"+p.DefaultValue()+":"+strings.Join(p.AllowedValues, "|"))
	}
	want := []string{"Operation::Scan|Install", "SnapshotId::", "InstallOverrideList::", "BaselineOverride::",
		"RebootOption:RebootIfNeeded:RebootIfNeeded|NoReboot", "AssociationId::"}
	if diff := cmp.Diff(want, params); diff != "" {
		t.Errorf("parameters (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"Windows", "Linux", "MacOS"}, d.PlatformTypes); diff != "" {
		t.Errorf("PlatformTypes (-want +got):\n%s", diff)
	}
	for _, bad := range []map[string][]string{
		{},
		{"Operation": {"Deploy"}},
		{"Operation": {"Scan"}, "SnapshotId": {"not-a-guid"}},
		{"Operation": {"Scan"}, "InstallOverrideList": {"http://insecure"}},
		{"Operation": {"Scan"}, "RebootOption": {"Always"}},
	} {
		if _, err := d.ResolveParameters(bad); err == nil {
			t.Errorf("ResolveParameters(%v) accepted", bad)
		}
	}
	evil := "https://example.com/x'\"; touch /tmp/pwned #"
	v, err := d.ResolveParameters(map[string][]string{"Operation": {"Install"},
		"SnapshotId": {"12345678-1234-1234-1234-123456789abc"}, "InstallOverrideList": {evil}})
	if err != nil {
		t.Fatal(err)
	}
	rs, err := d.Render(v, nil)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range rs {
		names = append(names, s.Name)
		if s.TimeoutSeconds != 7200 {
			t.Errorf("%s TimeoutSeconds = %d", s.Name, s.TimeoutSeconds)
		}
	}
	if diff := cmp.Diff([]string{"PatchWindows", "PatchLinux", "PatchMacOS"}, names); diff != "" {
		t.Errorf("steps (-want +got):\n%s", diff)
	}
	linux := rs[1]
	wantCmd := `runcmd-agent patch --operation 'Install' --snapshot-id '12345678-1234-1234-1234-123456789abc' ` +
		`--install-override-list "${SSM_InstallOverrideList}" --reboot-option 'RebootIfNeeded' --baseline-override "${SSM_BaselineOverride}"`
	if !slices.Contains(linux.Commands, wantCmd) {
		t.Errorf("PatchLinux commands = %q, want to contain %q", linux.Commands, wantCmd)
	}
	if linux.Env["SSM_InstallOverrideList"] != evil {
		t.Errorf("SSM_InstallOverrideList = %q", linux.Env["SSM_InstallOverrideList"])
	}
	for platform, runs := range map[string]string{"Linux": "PatchLinux", "Windows": "PatchWindows", "MacOS": "PatchMacOS"} {
		for _, s := range rs {
			ok, msg, err := s.Precondition.Applies(platform)
			if err != nil {
				t.Fatal(err)
			}
			if ok != (s.Name == runs) {
				t.Errorf("%s on %s: applies = %v", s.Name, platform, ok)
			}
			if !ok && !strings.Contains(msg, "Step name: "+s.Name) {
				t.Errorf("skip message %q", msg)
			}
		}
	}
	if got := d.ExecTimeoutSeconds(v); got != 3*7200 {
		t.Errorf("ExecTimeoutSeconds = %d, want %d", got, 3*7200)
	}
}
