package bench

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Machine describes where and on what the numbers were taken.
type Machine struct {
	Commit       string  `json:"commit"`
	DirtyFiles   int     `json:"uncommitted_files"`
	Cores        int     `json:"cores"`
	CPUModel     string  `json:"cpu_model"`
	MemoryBytes  int64   `json:"memory_bytes"`
	GoVersion    string  `json:"go_version"`
	OSArch       string  `json:"os_arch"`
	Date         string  `json:"date"`
	LoadStart    string  `json:"load_average_start"`
	LoadEnd      string  `json:"load_average_end"`
	Emulator     string  `json:"emulator_endpoint"`
	EmulatorPID  int     `json:"emulator_pid,omitempty"`
	EmulatorRSS  int64   `json:"emulator_rss_bytes_start,omitempty"`
	BudgetMinute float64 `json:"budget_minutes"`
}

// DescribeMachine gathers the facts of the report's header. root is the repository.
func DescribeMachine(ctx context.Context, root string) Machine {
	m := Machine{Cores: runtime.NumCPU(), GoVersion: runtime.Version(), OSArch: runtime.GOOS + "/" + runtime.GOARCH,
		Date: time.Now().UTC().Format(time.RFC3339), LoadStart: loadAverage(), Emulator: os.Getenv("AWS_ENDPOINT_URL")}
	if out, err := gitOutput(ctx, root, "rev-parse", "HEAD"); err == nil {
		m.Commit = strings.TrimSpace(out)
	}
	if out, err := gitOutput(ctx, root, "status", "--porcelain"); err == nil {
		for line := range strings.SplitSeq(out, "\n") {
			if strings.TrimSpace(line) != "" {
				m.DirtyFiles++
			}
		}
	}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		if mm := regexp.MustCompile(`(?m)^model name\s*:\s*(.+)$`).FindSubmatch(b); mm != nil {
			m.CPUModel = strings.TrimSpace(string(mm[1]))
		}
	}
	if f, err := os.Open("/proc/meminfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "MemTotal:"); ok {
				kb, _ := strconv.ParseInt(strings.Fields(v)[0], 10, 64)
				m.MemoryBytes = kb * 1024
			}
		}
		f.Close()
	}
	if m.EmulatorPID = findEmulator(m.Emulator); m.EmulatorPID > 0 {
		m.EmulatorRSS, _ = procRSS(m.EmulatorPID)
	}
	return m
}

func gitOutput(ctx context.Context, root string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "git", append([]string{"-C", root}, args...)...)
	out, err := cmd.Output()
	return string(out), err
}

func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	return strings.Join(slices.Collect(func(yield func(string) bool) {
		for _, f := range strings.Fields(string(b))[:3] {
			if !yield(f) {
				return
			}
		}
	}), " ")
}

// RepoRoot finds the directory holding go.mod, from the working directory up.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for d := dir; ; {
		if _, err := os.Stat(d + "/go.mod"); err == nil {
			return d, nil
		}
		parent := d[:max(strings.LastIndex(d, "/"), 0)]
		if parent == d || parent == "" {
			return dir, nil
		}
		d = parent
	}
}
