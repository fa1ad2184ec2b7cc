//go:build !linux

package patchrun

import "time"

// bootTime is unknown off Linux (patching runs on Linux nodes only).
func bootTime() time.Time { return time.Time{} }
