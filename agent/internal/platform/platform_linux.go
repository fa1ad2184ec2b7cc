package platform

import "os"

const platformType = "Linux"

func osNameVersion() (string, string) {
	for _, p := range []string{"/etc/os-release", "/usr/lib/os-release"} {
		f, err := os.Open(p)
		if err != nil {
			continue
		}
		defer f.Close()
		return ReadOSRelease(f)
	}
	return "Linux", ""
}
