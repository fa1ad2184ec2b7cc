package dnf

import "testing"

func addSeeds(f *testing.F, files ...string) {
	for _, name := range files {
		f.Add(testdata(f, name))
	}
}

func FuzzParseUpdateinfo(f *testing.F) {
	addSeeds(f, "constructed-dnf-updateinfo-list-v-rhel9.txt", "constructed-yum-updateinfo-list-al2.txt",
		"constructed-dnf-updateinfo-list-al2023.txt")
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, n := range ParseUpdateinfoList(data) {
			if n.AdvisoryID == "" || n.Classification == "" || n.Package.Name == "" {
				t.Fatalf("incomplete notice: %+v", n)
			}
		}
	})
}

func FuzzParseUpdateinfoInfo(f *testing.F) {
	addSeeds(f, "constructed-dnf-updateinfo-info-rhel9.txt")
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, a := range ParseUpdateinfoInfo(data) {
			if a.ID == "" {
				t.Fatalf("advisory without id: %+v", a)
			}
		}
	})
}

func FuzzParseCheckUpdate(f *testing.F) {
	addSeeds(f, "constructed-dnf-check-update-rhel9.txt")
	f.Fuzz(func(t *testing.T, data []byte) {
		ParseCheckUpdate(data)
	})
}

func FuzzParseRPMQuery(f *testing.F) {
	addSeeds(f, "constructed-rpm-qa-rhel9.txt")
	f.Fuzz(func(t *testing.T, data []byte) {
		ParseRPMQuery(data)
	})
}

func FuzzCompareEVR(f *testing.F) {
	f.Add("1:3.0.7-27.el9", "1:3.0.7-25.el9_3")
	f.Add("1.0~rc1^git2-1", "1.0^-1")
	f.Add("", ":-")
	f.Fuzz(func(t *testing.T, a, b string) {
		if x, y := CompareEVR(a, b), CompareEVR(b, a); x != -y {
			t.Fatalf("CompareEVR(%q, %q) = %d but reversed = %d", a, b, x, y)
		}
		if CompareEVR(a, a) != 0 {
			t.Fatalf("CompareEVR(%q, itself) != 0", a)
		}
		if n, ok := ParseNEVRA(a); ok {
			if _, ok := ParseNEVRA(n.Name + "-" + n.EVR() + "." + n.Arch); !ok {
				t.Fatalf("NEVRA %+v does not round-trip", n)
			}
		}
	})
}
