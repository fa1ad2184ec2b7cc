//go:build !linux && !darwin && !windows

package platform

import (
	"os"
	"runtime"
)

// SSM knows only Linux, MacOS and Windows; other Unix systems report as Linux.
const platformType = "Linux"

func osNameVersion() (string, string) {
	f, err := os.Open("/etc/os-release")
	if err != nil {
		return runtime.GOOS, ""
	}
	defer f.Close()
	return ReadOSRelease(f)
}
