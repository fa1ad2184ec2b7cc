package bench

import (
	"bytes"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// clockTick is Linux's USER_HZ, the unit of /proc/<pid>/stat times (100 on every mainstream
// architecture; reading sysconf would need cgo).
const clockTick = 100

// selfCPU is the CPU time of this process plus its waited-for children (the agents' shells).
func selfCPU() time.Duration {
	var self, kids syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &self)
	_ = syscall.Getrusage(syscall.RUSAGE_CHILDREN, &kids)
	tv := func(t syscall.Timeval) time.Duration { return time.Duration(t.Nano()) }
	return tv(self.Utime) + tv(self.Stime) + tv(kids.Utime) + tv(kids.Stime)
}

// procCPU is a process's own user+system CPU time from /proc/<pid>/stat.
func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	f, err := statFields(b)
	if err != nil {
		return 0, err
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64) // field 14 utime
	st, _ := strconv.ParseInt(f[12], 10, 64) // field 15 stime
	return time.Duration(ut+st) * time.Second / clockTick, nil
}

// statFields returns the fields of a /proc/<pid>/stat line after the command name (field 3 onward).
func statFields(b []byte) ([]string, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return nil, fmt.Errorf("malformed stat line")
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 20 {
		return nil, fmt.Errorf("short stat line")
	}
	return f, nil
}

// procRSS is a process's resident set size in bytes (VmRSS).
func procRSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb * 1024, err
		}
	}
	return 0, fmt.Errorf("no VmRSS for pid %d", pid)
}

// descendants lists the processes below pid.
func descendants(pid int) []int {
	parent := map[int][]int{}
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		p, err := strconv.Atoi(filepath.Base(d))
		if err != nil {
			continue
		}
		b, err := os.ReadFile(d + "/stat")
		if err != nil {
			continue
		}
		f, err := statFields(b)
		if err != nil {
			continue
		}
		pp, _ := strconv.Atoi(f[1]) // field 4 ppid
		parent[pp] = append(parent[pp], p)
	}
	var out []int
	queue := []int{pid}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		for _, c := range parent[p] {
			out = append(out, c)
			queue = append(queue, c)
		}
	}
	return out
}

// findEmulator returns the pid of the moto_server serving endpoint's port, or 0.
func findEmulator(endpoint string) int {
	u, err := url.Parse(endpoint)
	if err != nil {
		return 0
	}
	port := u.Port()
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		b, err := os.ReadFile(d + "/cmdline")
		if err != nil || !bytes.Contains(b, []byte("moto_server")) {
			continue
		}
		args := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
		p := "5000" // moto_server's default port
		if env := os.Getenv("MOTO_PORT"); env != "" {
			p = env
		}
		for i, a := range args {
			if (a == "-p" || a == "--port") && i+1 < len(args) {
				p = args[i+1]
			}
		}
		if p == port {
			pid, _ := strconv.Atoi(filepath.Base(d))
			return pid
		}
	}
	return 0
}

// cpuMeter measures the CPU this process and the emulator spend between start and stop.
type cpuMeter struct {
	emulator       *Emulator
	self0, emu0    time.Duration
	wall0          time.Time
	Self, Emulator time.Duration
	Wall           time.Duration
}

func startCPU(emulator *Emulator) *cpuMeter {
	m := &cpuMeter{emulator: emulator, self0: selfCPU(), wall0: time.Now()}
	m.emu0, _ = emulator.CPU()
	return m
}

func (m *cpuMeter) stop() *cpuMeter {
	m.Self = selfCPU() - m.self0
	m.Wall = time.Since(m.wall0)
	if e, err := m.emulator.CPU(); err == nil {
		m.Emulator = e - m.emu0
	}
	return m
}
