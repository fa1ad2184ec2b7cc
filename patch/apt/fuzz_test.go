package apt

import "testing"

func addSeeds(f *testing.F, files ...string) {
	for _, name := range files {
		f.Add(testdata(f, name))
	}
}

func FuzzParseAptPolicy(f *testing.F) {
	addSeeds(f, "apt-cache-policy-bookworm.txt", "apt-cache-policy-isolated.txt")
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, p := range ParsePolicy(data) {
			for _, v := range p.Newer() {
				v.Security()
			}
			p.InstalledRow()
		}
	})
}

func FuzzParseDpkgQuery(f *testing.F) {
	addSeeds(f, "dpkg-query-bookworm.txt")
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, p := range ParseDpkgQuery(data) {
			if p.Name == "" || p.Version == "" {
				t.Fatalf("parsed an entry without name or version: %+v", p)
			}
		}
	})
}

func FuzzParseAptShow(f *testing.F) {
	addSeeds(f, "apt-cache-show-bookworm.txt", "apt-cache-show-isolated.txt")
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, s := range ParseShow(data) {
			if s.Package == "" {
				t.Fatalf("stanza without Package: %+v", s)
			}
		}
	})
}

func FuzzParseAptSimulate(f *testing.F) {
	addSeeds(f, "apt-get-s-upgrade-bookworm.txt", "apt-get-s-install-isolated.txt")
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, a := range ParseSimulate(data) {
			if a.Name == "" || a.Version == "" {
				t.Fatalf("action without name or version: %+v", a)
			}
		}
	})
}
