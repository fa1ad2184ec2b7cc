// Package platform gathers the facts a node reports in its heartbeat: platform type, name and version,
// host name and primary IPv4 address. Facts that cannot be read are left empty rather than failing the
// agent: a heartbeat with a missing IP address is better than no heartbeat.
package platform

import (
	"bufio"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
)

// Facts describes the node.
type Facts struct {
	PlatformType    string // Linux, MacOS or Windows (SSM's PlatformType enum)
	PlatformName    string // e.g. "Ubuntu", from /etc/os-release NAME
	PlatformVersion string // e.g. "22.04", from /etc/os-release VERSION_ID
	ComputerName    string
	IPAddress       string
}

// Type is SSM's PlatformType for the operating system the agent was built for.
func Type() string { return platformType }

// Collect reads the facts of the running machine.
func Collect() Facts {
	f := Facts{PlatformType: platformType}
	f.PlatformName, f.PlatformVersion = osNameVersion()
	if h, err := os.Hostname(); err == nil {
		f.ComputerName = h
	}
	f.IPAddress = PrimaryIPv4()
	return f
}

// ReadOSRelease returns NAME and VERSION_ID from an os-release file (freedesktop.org format:
// KEY=value lines, values optionally quoted).
func ReadOSRelease(r io.Reader) (name, version string) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		if uq, err := strconv.Unquote(v); err == nil {
			v = uq
		} else {
			v = strings.Trim(v, `"'`)
		}
		switch k {
		case "NAME":
			name = v
		case "VERSION_ID":
			version = v
		}
	}
	return name, version
}

// PrimaryIPv4 returns the first IPv4 address of an up, non-loopback interface, skipping link-local
// addresses, or "" when there is none.
func PrimaryIPv4() string {
	ifs, err := net.Interfaces()
	if err != nil {
		return ""
	}
	for _, ifc := range ifs {
		if ifc.Flags&net.FlagUp == 0 || ifc.Flags&net.FlagLoopback != 0 {
			continue
		}
		addrs, err := ifc.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			ipn, ok := a.(*net.IPNet)
			if !ok {
				continue
			}
			ip4 := ipn.IP.To4()
			if ip4 == nil || ip4.IsLoopback() || ip4.IsLinkLocalUnicast() {
				continue
			}
			return ip4.String()
		}
	}
	return ""
}
