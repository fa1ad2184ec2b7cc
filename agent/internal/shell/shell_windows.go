package shell

import (
	"os"
	"os/exec"
)

// newProcessGroup is a no-op on Windows for now; killProcessGroup reaches the script only (job objects
// would be needed for its children).
func newProcessGroup(cmd *exec.Cmd) {}

func killProcessGroup(cmd *exec.Cmd) {
	if cmd.Process != nil {
		_ = cmd.Process.Kill()
	}
}

// exitCode reports -1 for a killed process, as SSM's Windows agent does.
func exitCode(ps *os.ProcessState) int {
	if ps == nil {
		return -1
	}
	return ps.ExitCode()
}
