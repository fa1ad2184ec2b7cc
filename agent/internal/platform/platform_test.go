package platform

import (
	"net"
	"runtime"
	"strings"
	"testing"
)

func TestReadOSRelease(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in, wantName, wantVersion string
	}{
		{"ubuntu", "NAME=\"Ubuntu\"\nVERSION_ID=\"22.04\"\nID=ubuntu\n", "Ubuntu", "22.04"},
		{"amazon", "NAME=\"Amazon Linux\"\nVERSION=\"2023\"\nVERSION_ID=\"2023\"\n", "Amazon Linux", "2023"},
		{"unquoted and comments", "# c\nNAME=Alpine\n\nVERSION_ID=3.20.1\n", "Alpine", "3.20.1"},
		{"single quotes", "NAME='Debian GNU/Linux'\nVERSION_ID='12'\n", "Debian GNU/Linux", "12"},
		{"empty", "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			n, v := ReadOSRelease(strings.NewReader(tt.in))
			if n != tt.wantName || v != tt.wantVersion {
				t.Errorf("ReadOSRelease = %q, %q; want %q, %q", n, v, tt.wantName, tt.wantVersion)
			}
		})
	}
}

func TestCollect(t *testing.T) {
	t.Parallel()
	f := Collect()
	want := map[string]string{"linux": "Linux", "darwin": "MacOS", "windows": "Windows"}[runtime.GOOS]
	if want != "" && f.PlatformType != want {
		t.Errorf("PlatformType = %q, want %q", f.PlatformType, want)
	}
	if f.ComputerName == "" {
		t.Error("ComputerName is empty")
	}
	if f.IPAddress != "" {
		ip := net.ParseIP(f.IPAddress)
		if ip == nil || ip.To4() == nil || ip.IsLoopback() {
			t.Errorf("IPAddress = %q, want a non-loopback IPv4 address", f.IPAddress)
		}
	}
}
