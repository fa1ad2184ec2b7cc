package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// AnsibleInfo says whether the Ansible peer could run, and which version.
type AnsibleInfo struct {
	Available bool   `json:"available"`
	Version   string `json:"version,omitempty"`
	Installed bool   `json:"installed_by_bench,omitempty"`
	Note      string `json:"note,omitempty"`
	// OverheadMS is a one-host run: Ansible's fixed start-up cost, included in its times.
	OverheadMS float64 `json:"one_host_ms,omitempty"`
}

// AnsibleSize is the peer's runs at one fleet size.
type AnsibleSize struct {
	Hosts    int       `json:"hosts"`
	Runs     []float64 `json:"runs_ms"`
	Duration Spread    `json:"duration_ms"`
	Rate     Spread    `json:"hosts_per_s"`
	Error    string    `json:"error,omitempty"`
}

// EnsureAnsible finds ansible, installing the Debian package when it is missing. It never fails the
// bench: a missing peer is reported as not available.
func EnsureAnsible(ctx context.Context) AnsibleInfo {
	var info AnsibleInfo
	if _, err := exec.LookPath("ansible"); err != nil {
		ictx, cancel := context.WithTimeout(ctx, 5*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ictx, "apt-get", "install", "-y", "-qq", "ansible")
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		if out, err := cmd.CombinedOutput(); err != nil {
			info.Note = fmt.Sprintf("not available: `apt-get install -y ansible` failed: %v: %s", err, lastLine(out))
			return info
		}
		info.Installed = true
	}
	out, err := exec.CommandContext(ctx, "ansible", "--version").Output()
	if err != nil {
		info.Note = fmt.Sprintf("not available: ansible --version: %v", err)
		return info
	}
	info.Available = true
	info.Version = strings.TrimSpace(strings.SplitN(string(out), "\n", 2)[0])
	return info
}

// RunAnsible runs `ansible all -m command -a true` over hosts local hosts with forks = hosts, and
// returns the wall time of the whole ansible process.
func RunAnsible(ctx context.Context, dir string, hosts int) (time.Duration, error) {
	inv := filepath.Join(dir, fmt.Sprintf("inventory-%d", hosts))
	var b bytes.Buffer
	b.WriteString("[all]\n")
	for i := range hosts {
		fmt.Fprintf(&b, "h%03d ansible_connection=local ansible_python_interpreter=/usr/bin/python3\n", i)
	}
	if err := os.WriteFile(inv, b.Bytes(), 0o644); err != nil {
		return 0, err
	}
	rctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(rctx, "ansible", "all", "-i", inv, "-f", fmt.Sprint(hosts), "-m", "command", "-a", "true")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"ANSIBLE_HOST_KEY_CHECKING=False", "ANSIBLE_LOCALHOST_WARNING=False", "ANSIBLE_NOCOLOR=1",
		"ANSIBLE_LOCAL_TEMP="+filepath.Join(dir, "tmp"), "ANSIBLE_RETRY_FILES_ENABLED=False")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	t0 := time.Now()
	err := cmd.Run()
	took := time.Since(t0)
	if err != nil {
		return took, fmt.Errorf("ansible over %d hosts: %w: %s", hosts, err, lastLine(out.Bytes()))
	}
	if ok := bytes.Count(out.Bytes(), []byte("| CHANGED |")) + bytes.Count(out.Bytes(), []byte("| SUCCESS |")); ok != hosts {
		return took, fmt.Errorf("ansible over %d hosts: %d succeeded", hosts, ok)
	}
	return took, nil
}

func lastLine(b []byte) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) == 0 {
		return ""
	}
	return lines[len(lines)-1]
}

var errBudget = errors.New("skipped: time budget")
