package patch

import "strings"

// OperatingSystemFor maps a managed node's platform facts (PlatformName is os-release's NAME, as the
// agent reports it; PlatformVersion its VERSION_ID) to the OperatingSystem whose baselines apply. It
// reports false for platforms Patch Manager has no baselines for.
func OperatingSystemFor(platformType, platformName, platformVersion string) (OperatingSystem, bool) {
	switch platformType {
	case "Windows":
		return Windows, true
	case "MacOS":
		return MacOS, true
	}
	name := strings.ToLower(platformName)
	major, _, _ := strings.Cut(platformVersion, ".")
	switch {
	case strings.Contains(name, "amazon linux"):
		switch major {
		case "2":
			return AmazonLinux2, true
		case "2022":
			return AmazonLinux2022, true
		case "2023":
			return AmazonLinux2023, true
		}
		return AmazonLinux, true
	case strings.Contains(name, "ubuntu"):
		return Ubuntu, true
	case strings.Contains(name, "raspbian"):
		return Raspbian, true
	case strings.Contains(name, "debian"):
		return Debian, true
	case strings.Contains(name, "red hat"):
		return RedhatEnterpriseLinux, true
	case strings.Contains(name, "centos"):
		return CentOS, true
	case strings.Contains(name, "oracle"):
		return OracleLinux, true
	case strings.Contains(name, "rocky"):
		return RockyLinux, true
	case strings.Contains(name, "alma"):
		return AlmaLinux, true
	case strings.Contains(name, "suse") || strings.Contains(name, "sles"):
		return SUSE, true
	}
	return "", false
}
