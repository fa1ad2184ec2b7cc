package patch

import "testing"

func TestOperatingSystemFor(t *testing.T) {
	t.Parallel()
	tests := []struct {
		typ, name, version string
		want               OperatingSystem
		ok                 bool
	}{
		{"Linux", "Debian GNU/Linux", "12", Debian, true},
		{"Linux", "Ubuntu", "22.04", Ubuntu, true},
		{"Linux", "Amazon Linux", "2023", AmazonLinux2023, true},
		{"Linux", "Amazon Linux", "2", AmazonLinux2, true},
		{"Linux", "Red Hat Enterprise Linux", "9.4", RedhatEnterpriseLinux, true},
		{"Linux", "Rocky Linux", "9.3", RockyLinux, true},
		{"Windows", "Microsoft Windows Server 2022", "10.0", Windows, true},
		{"Linux", "Gentoo", "2.14", "", false},
	}
	for _, tt := range tests {
		got, ok := OperatingSystemFor(tt.typ, tt.name, tt.version)
		if got != tt.want || ok != tt.ok {
			t.Errorf("OperatingSystemFor(%q, %q, %q) = %q, %v; want %q, %v", tt.typ, tt.name, tt.version, got, ok, tt.want, tt.ok)
		}
	}
}
