package apt

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/runcmd/runcmd"
	"github.com/runcmd/runcmd/patch"
)

func invalid(format string, args ...any) error {
	return runcmd.Errorf(runcmd.EINVALID, patch.ErrValidation, format, args...)
}

// PrepareRoot lays out an isolated apt/dpkg root at root (an absolute path): empty dpkg database,
// apt state and cache directories, sources.list with the given one-line sources, and etc/apt/apt.conf,
// which Source points APT_CONFIG at. The config sets Dir to the root, so apt reads no host
// configuration (the host's apt.conf.d hooks, such as docker-clean's DPkg::Post-Invoke, would
// otherwise run), and passes dpkg --root, --admindir and --force-script-chrootless so packages land in
// the root and maintainer scripts (ours have none) never chroot. An existing root is left as is,
// except that apt.conf and sources.list are rewritten.
func PrepareRoot(root string, sources []string) error {
	if !filepath.IsAbs(root) || strings.ContainsAny(root, "\"\n;{}") {
		return invalid("apt root %q must be an absolute path without quotes, braces or semicolons", root)
	}
	for _, d := range []string{"etc/apt/apt.conf.d", "etc/apt/preferences.d", "etc/apt/sources.list.d",
		"etc/apt/trusted.gpg.d", "var/lib/apt/lists/partial", "var/cache/apt/archives/partial",
		"var/lib/dpkg/info", "var/lib/dpkg/updates", "var/lib/dpkg/triggers", "var/log/apt"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			return fmt.Errorf("prepare apt root %s: %w", root, err)
		}
	}
	for _, f := range []string{"var/lib/dpkg/status", "var/lib/dpkg/available"} {
		p := filepath.Join(root, f)
		if _, err := os.Stat(p); os.IsNotExist(err) {
			if err := os.WriteFile(p, nil, 0o644); err != nil {
				return fmt.Errorf("prepare apt root %s: %w", root, err)
			}
		}
	}
	admin := filepath.Join(root, "var/lib/dpkg")
	conf := fmt.Sprintf(`// Written by runcmd patch/apt.PrepareRoot: everything apt and dpkg touch stays under this root.
Dir "%[1]s/";
Dir::State::status "%[2]s/status";
Dir::Bin::dpkg "/usr/bin/dpkg";
APT::Sandbox::User "root";
DPkg::Options { "--root=%[1]s"; "--admindir=%[2]s"; "--force-script-chrootless"; "--force-not-root"; "--log=%[1]s/var/log/dpkg.log"; };
`, strings.TrimSuffix(root, "/"), admin)
	if err := os.WriteFile(filepath.Join(root, "etc/apt/apt.conf"), []byte(conf), 0o644); err != nil {
		return fmt.Errorf("prepare apt root %s: %w", root, err)
	}
	for _, s := range sources {
		if strings.ContainsAny(s, "\n\r") {
			return invalid("apt source %q must be one line", s)
		}
	}
	list := strings.Join(sources, "\n")
	if list != "" {
		list += "\n"
	}
	if err := os.WriteFile(filepath.Join(root, "etc/apt/sources.list"), []byte(list), 0o644); err != nil {
		return fmt.Errorf("prepare apt root %s: %w", root, err)
	}
	return nil
}

// DpkgArgs returns the dpkg options that point dpkg at root, for callers that install .deb files
// into it directly (the tests install version 1 this way).
func DpkgArgs(root string) []string {
	admin := filepath.Join(root, "var/lib/dpkg")
	return []string{"--root=" + root, "--admindir=" + admin, "--force-script-chrootless", "--force-not-root",
		"--log=" + filepath.Join(root, "var/log/dpkg.log")}
}
