package patch

import (
	"bufio"
	"bytes"
	"strconv"
	"strings"
)

// ParseOSRelease parses an os-release(5) file into its variables (quotes removed).
func ParseOSRelease(data []byte) map[string]string {
	vars := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		if u, err := strconv.Unquote(v); err == nil && strings.HasPrefix(v, `"`) {
			v = u
		} else {
			v = strings.Trim(v, `"'`)
		}
		vars[k] = v
	}
	return vars
}

// productNames maps os-release IDs to the names Patch Manager uses in PRODUCT values.
var productNames = map[string]string{
	"amzn": "AmazonLinux", "ubuntu": "Ubuntu", "debian": "Debian", "raspbian": "Raspbian",
	"rhel": "RedhatEnterpriseLinux", "centos": "CentOS", "ol": "OracleLinux", "rocky": "RockyLinux",
	"almalinux": "AlmaLinux", "sles": "SUSE", "opensuse-leap": "OpenSUSE",
}

// ProductFromOSRelease returns the node's product for PRODUCT filters from its os-release file:
// Patch Manager's name for the distribution followed by VERSION_ID ("Ubuntu22.04", "Debian12",
// "AmazonLinux2023", "RedhatEnterpriseLinux9.4"). Unknown distributions keep their ID.
func ProductFromOSRelease(data []byte) string {
	vars := ParseOSRelease(data)
	id := vars["ID"]
	name, ok := productNames[id]
	if !ok {
		name = id
	}
	return name + vars["VERSION_ID"]
}
