package storetest

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/runcmd/runcmd"
)

// TestDocumentStore runs the DocumentStore conformance suite, except the limits (see
// TestDocumentStoreLimits). newStore returns an empty store; it is called once per subtest, possibly
// from parallel subtests.
func TestDocumentStore(t *testing.T, newStore func(t *testing.T) runcmd.DocumentStore) {
	tests := []docTest{
		{"CreateAndGet", testDocCreateAndGet},
		{"NotFound", testDocNotFound},
		{"AddVersion", testDocAddVersion},
		{"AddVersionConflicts", testDocAddVersionConflicts},
		{"GetVersion", testDocGetVersion},
		{"SetDefaultVersion", testDocSetDefault},
		{"ListVersions", testDocListVersions},
		{"DeleteVersion", testDocDeleteVersion},
		{"DeleteAndRecreate", testDocDeleteAndRecreate},
		{"ListDocuments", testDocList},
		{"Tags", testDocTags},
		{"ConcurrentAddVersion", testDocConcurrentAdd},
	}
	runDocTests(t, newStore, tests)
}

// TestDocumentStoreLimits fills a store up to MaxDocuments documents and a document up to
// MaxDocumentVersions versions. That is thousands of writes: seconds in memory, minutes on the emulator,
// whose transactions copy whole tables.
func TestDocumentStoreLimits(t *testing.T, newStore func(t *testing.T) runcmd.DocumentStore) {
	runDocTests(t, newStore, []docTest{
		{"DocumentLimit", testDocLimit},
		{"VersionLimit", testDocVersionLimit},
	})
}

type docTest struct {
	name string
	fn   func(t *testing.T, s runcmd.DocumentStore)
}

func runDocTests(t *testing.T, newStore func(t *testing.T) runcmd.DocumentStore, tests []docTest) {
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.fn(t, newStore(t))
		})
	}
}

// docVersion returns a version with every field set; content derives from body, so distinct bodies
// give distinct hashes.
func docVersion(name, body string, at time.Time) *runcmd.DocumentVersion {
	content := fmt.Sprintf(`{"schemaVersion":"2.2","description":%q,"mainSteps":[]}`, body)
	sum := sha256.Sum256([]byte(content))
	return &runcmd.DocumentVersion{
		Name:          name,
		DisplayName:   "Display " + body,
		Content:       content,
		Format:        "JSON",
		Hash:          hex.EncodeToString(sum[:]),
		DocumentType:  "Command",
		SchemaVersion: "2.2",
		Description:   body,
		PlatformTypes: []string{"Windows", "Linux"},
		Parameters: []runcmd.DocumentParameter{
			{Name: "commands", Type: "StringList", Description: "what to run"},
			{Name: "dir", Type: "String", DefaultValue: "/tmp"},
		},
		TargetType: "/AWS::EC2::Instance",
		CreatedAt:  at,
		Owner:      "123456789012",
		Status:     runcmd.DocumentStatusActive,
	}
}

func createDoc(t *testing.T, s runcmd.DocumentStore, name string) *runcmd.DocumentInfo {
	t.Helper()
	info, err := s.CreateDocument(t.Context(), docVersion(name, "v1 of "+name, base), nil)
	if err != nil {
		t.Fatalf("CreateDocument(%s): %v", name, err)
	}
	return info
}

func addVersion(t *testing.T, s runcmd.DocumentStore, name, body string) *runcmd.DocumentVersion {
	t.Helper()
	_, v, err := s.AddVersion(t.Context(), docVersion(name, body, base.Add(time.Minute)), 0)
	if err != nil {
		t.Fatalf("AddVersion(%s, %s): %v", name, body, err)
	}
	return v
}

func getVersion(t *testing.T, s runcmd.DocumentStore, name string, sel runcmd.VersionSelector) (*runcmd.DocumentInfo, *runcmd.DocumentVersion) {
	t.Helper()
	info, v, err := s.GetVersion(t.Context(), name, sel)
	if err != nil {
		t.Fatalf("GetVersion(%s, %+v): %v", name, sel, err)
	}
	return info, v
}

func withoutContent(v *runcmd.DocumentVersion) runcmd.DocumentVersion {
	c := *v
	c.Content = ""
	return c
}

// pointers is the version bookkeeping of a document.
type pointers struct{ Default, Latest, Count int }

func wantPointers(t *testing.T, s runcmd.DocumentStore, name string, want pointers) {
	t.Helper()
	info, err := s.GetDocument(t.Context(), name)
	if err != nil {
		t.Fatalf("GetDocument(%s): %v", name, err)
	}
	got := pointers{info.DefaultVersion, info.LatestVersion, info.VersionCount}
	if got != want {
		t.Errorf("document %s versions = %+v, want %+v", name, got, want)
	}
	if info.Default.Version != info.DefaultVersion {
		t.Errorf("document %s: Default summary is version %d, DefaultVersion %d", name, info.Default.Version, info.DefaultVersion)
	}
}

func testDocCreateAndGet(t *testing.T, s runcmd.DocumentStore) {
	in := docVersion("Doc.one_1", "first", base)
	in.Version = 7 // ignored
	in.VersionName = "release-1"
	tags := map[string]string{"env": "prod", "team": ""}
	info, err := s.CreateDocument(t.Context(), in, tags)
	must(t, err)

	wantV := *docVersion("Doc.one_1", "first", base)
	wantV.Version = 1
	wantV.VersionName = "release-1"
	wantInfo := &runcmd.DocumentInfo{
		Name: "Doc.one_1", Owner: "123456789012", CreatedAt: base, DefaultVersion: 1, LatestVersion: 1,
		VersionCount: 1, Tags: tags, Default: withoutContent(&wantV),
	}
	if diff := cmp.Diff(wantInfo, info, equateEmpty); diff != "" {
		t.Errorf("CreateDocument result (-want +got):\n%s", diff)
	}
	got, err := s.GetDocument(t.Context(), "Doc.one_1")
	must(t, err)
	if diff := cmp.Diff(wantInfo, got, equateEmpty); diff != "" {
		t.Errorf("GetDocument (-want +got):\n%s", diff)
	}
	gotInfo, gotV := getVersion(t, s, "Doc.one_1", runcmd.VersionSelector{})
	if diff := cmp.Diff(&wantV, gotV, equateEmpty); diff != "" {
		t.Errorf("GetVersion (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(wantInfo, gotInfo, equateEmpty); diff != "" {
		t.Errorf("GetVersion info (-want +got):\n%s", diff)
	}

	// Values are copied: changing what we got back changes nothing stored.
	gotV.PlatformTypes[0] = "changed"
	got.Tags["env"] = "changed"
	_, again := getVersion(t, s, "Doc.one_1", runcmd.VersionSelector{})
	if again.PlatformTypes[0] != "Windows" {
		t.Errorf("stored PlatformTypes changed through a returned value: %v", again.PlatformTypes)
	}

	_, err = s.CreateDocument(t.Context(), docVersion("Doc.one_1", "other", base), nil)
	wantCode(t, err, runcmd.ECONFLICT, "DocumentAlreadyExists")
	// A name differing only in case is a different document.
	createDoc(t, s, "doc.one_1")
}

func testDocNotFound(t *testing.T, s runcmd.DocumentStore) {
	ctx := t.Context()
	_, err := s.GetDocument(ctx, "missing")
	wantCode(t, err, runcmd.ENOTFOUND, "InvalidDocument")
	_, _, err = s.GetVersion(ctx, "missing", runcmd.VersionSelector{})
	wantCode(t, err, runcmd.ENOTFOUND, "InvalidDocument")
	_, _, err = s.AddVersion(ctx, docVersion("missing", "x", base), 0)
	wantCode(t, err, runcmd.ENOTFOUND, "InvalidDocument")
	_, err = s.SetDefaultVersion(ctx, "missing", 1)
	wantCode(t, err, runcmd.ENOTFOUND, "InvalidDocument")
	_, err = s.ListVersions(ctx, "missing", 0, "")
	wantCode(t, err, runcmd.ENOTFOUND, "InvalidDocument")
	wantCode(t, s.DeleteDocument(ctx, "missing"), runcmd.ENOTFOUND, "InvalidDocument")
	wantCode(t, s.DeleteVersion(ctx, "missing", 1), runcmd.ENOTFOUND, "InvalidDocument")
	_, err = s.AddTags(ctx, "missing", map[string]string{"a": "b"})
	wantCode(t, err, runcmd.ENOTFOUND, "InvalidDocument")
	_, err = s.RemoveTags(ctx, "missing", []string{"a"})
	wantCode(t, err, runcmd.ENOTFOUND, "InvalidDocument")
	p, err := s.ListDocuments(ctx, runcmd.DocumentQuery{})
	must(t, err)
	if len(p.Documents) != 0 || p.More {
		t.Errorf("empty store lists %d documents (More %v)", len(p.Documents), p.More)
	}
}

func testDocAddVersion(t *testing.T, s runcmd.DocumentStore) {
	createDoc(t, s, "doc")
	in := docVersion("doc", "second", base.Add(time.Minute))
	in.VersionName = "two"
	info, v, err := s.AddVersion(t.Context(), in, 1)
	must(t, err)
	want := *in
	want.Version = 2
	if diff := cmp.Diff(&want, v, equateEmpty); diff != "" {
		t.Errorf("AddVersion (-want +got):\n%s", diff)
	}
	if info.DefaultVersion != 1 || info.LatestVersion != 2 || info.VersionCount != 2 || info.Default.Version != 1 {
		t.Errorf("after AddVersion: default %d latest %d count %d summary %d, want 1 2 2 1",
			info.DefaultVersion, info.LatestVersion, info.VersionCount, info.Default.Version)
	}
	if v3 := addVersion(t, s, "doc", "third"); v3.Version != 3 {
		t.Errorf("third version is %d, want 3", v3.Version)
	}
	wantPointers(t, s, "doc", pointers{Default: 1, Latest: 3, Count: 3})
	_, got := getVersion(t, s, "doc", runcmd.VersionSelector{Version: 2})
	if diff := cmp.Diff(&want, got, equateEmpty); diff != "" {
		t.Errorf("GetVersion 2 (-want +got):\n%s", diff)
	}
}

func testDocAddVersionConflicts(t *testing.T, s runcmd.DocumentStore) {
	createDoc(t, s, "doc")
	v2 := docVersion("doc", "second", base)
	v2.VersionName = "two"
	_, _, err := s.AddVersion(t.Context(), v2, 1)
	must(t, err)

	tests := []struct {
		name     string
		body     string
		vname    string
		latest   int
		code     string
		fullName string
	}{
		{"stale latest", "new", "", 1, runcmd.EINVALID, "InvalidDocumentVersion"},
		{"future latest", "new", "", 3, runcmd.EINVALID, "InvalidDocumentVersion"},
		{"same content as default", "v1 of doc", "", 0, runcmd.ECONFLICT, "DuplicateDocumentContent"},
		{"same content as latest", "second", "other", 2, runcmd.ECONFLICT, "DuplicateDocumentContent"},
		{"same version name", "new", "two", 2, runcmd.ECONFLICT, "DuplicateDocumentVersionName"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := docVersion("doc", tt.body, base)
			in.VersionName = tt.vname
			_, _, err := s.AddVersion(t.Context(), in, tt.latest)
			wantCode(t, err, tt.code, tt.fullName)
		})
	}
	wantPointers(t, s, "doc", pointers{Default: 1, Latest: 2, Count: 2})
	// A failed AddVersion leaves nothing behind: the content and name it tried are still free.
	in := docVersion("doc", "new", base)
	in.VersionName = "three"
	_, v, err := s.AddVersion(t.Context(), in, 2)
	must(t, err)
	if v.Version != 3 {
		t.Errorf("version after failed attempts is %d, want 3", v.Version)
	}
}

func testDocGetVersion(t *testing.T, s runcmd.DocumentStore) {
	in := docVersion("doc", "first", base)
	in.VersionName = "one"
	_, err := s.CreateDocument(t.Context(), in, nil)
	must(t, err)
	v2 := docVersion("doc", "second", base)
	v2.VersionName = "two"
	_, _, err = s.AddVersion(t.Context(), v2, 0)
	must(t, err)
	addVersion(t, s, "doc", "third") // no version name

	tests := []struct {
		sel     runcmd.VersionSelector
		version int
	}{
		{runcmd.VersionSelector{}, 1},
		{runcmd.VersionSelector{Latest: true}, 3},
		{runcmd.VersionSelector{Version: 2}, 2},
		{runcmd.VersionSelector{VersionName: "two"}, 2},
		{runcmd.VersionSelector{VersionName: "one"}, 1},
		{runcmd.VersionSelector{Version: 2, VersionName: "two"}, 2},
		{runcmd.VersionSelector{Version: 2, VersionName: "one"}, 0},
		{runcmd.VersionSelector{Version: 4}, 0},
		{runcmd.VersionSelector{VersionName: "TWO"}, 0},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%+v", tt.sel), func(t *testing.T) {
			info, v, err := s.GetVersion(t.Context(), "doc", tt.sel)
			if tt.version == 0 {
				wantCode(t, err, runcmd.ENOTFOUND, "InvalidDocumentVersion")
				return
			}
			must(t, err)
			if v.Version != tt.version || v.Content == "" {
				t.Errorf("got version %d (content %d bytes), want %d with content", v.Version, len(v.Content), tt.version)
			}
			if info.LatestVersion != 3 || info.DefaultVersion != 1 {
				t.Errorf("info latest %d default %d, want 3 1", info.LatestVersion, info.DefaultVersion)
			}
		})
	}
}

func testDocSetDefault(t *testing.T, s runcmd.DocumentStore) {
	createDoc(t, s, "doc")
	v2 := docVersion("doc", "second", base.Add(time.Minute))
	v2.VersionName = "two"
	_, _, err := s.AddVersion(t.Context(), v2, 0)
	must(t, err)

	info, err := s.SetDefaultVersion(t.Context(), "doc", 2)
	must(t, err)
	want := *v2
	want.Version = 2
	want.Content = ""
	if diff := cmp.Diff(want, info.Default, equateEmpty); diff != "" {
		t.Errorf("Default after SetDefaultVersion (-want +got):\n%s", diff)
	}
	wantPointers(t, s, "doc", pointers{Default: 2, Latest: 2, Count: 2})
	_, v := getVersion(t, s, "doc", runcmd.VersionSelector{})
	if v.Version != 2 {
		t.Errorf("default version is %d, want 2", v.Version)
	}
	// The listing shows the new default's fields.
	p, err := s.ListDocuments(t.Context(), runcmd.DocumentQuery{})
	must(t, err)
	if len(p.Documents) != 1 || p.Documents[0].Default.VersionName != "two" {
		t.Errorf("ListDocuments after SetDefaultVersion: %+v", p.Documents)
	}

	_, err = s.SetDefaultVersion(t.Context(), "doc", 3)
	wantCode(t, err, runcmd.ENOTFOUND, "InvalidDocumentVersion")
	_, err = s.SetDefaultVersion(t.Context(), "doc", 1)
	must(t, err)
	wantPointers(t, s, "doc", pointers{Default: 1, Latest: 2, Count: 2})
}

func testDocListVersions(t *testing.T, s runcmd.DocumentStore) {
	createDoc(t, s, "doc")
	for i := 2; i <= 12; i++ {
		addVersion(t, s, "doc", fmt.Sprintf("body %d", i))
	}
	var got []int
	token := ""
	for pages := 0; ; pages++ {
		if pages > 10 {
			t.Fatal("ListVersions does not stop")
		}
		p, err := s.ListVersions(t.Context(), "doc", 5, token)
		must(t, err)
		if len(p.Versions) > 5 {
			t.Fatalf("page of %d versions, limit 5", len(p.Versions))
		}
		for _, v := range p.Versions {
			if v.Content != "" {
				t.Errorf("ListVersions returns content for version %d", v.Version)
			}
			if v.Hash == "" || v.CreatedAt.IsZero() || v.Name != "doc" {
				t.Errorf("ListVersions version %d lacks fields: %+v", v.Version, v)
			}
			got = append(got, v.Version)
		}
		if p.NextToken == "" {
			break
		}
		token = p.NextToken
	}
	want := []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12} // numeric, not string, order
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ListVersions order (-want +got):\n%s", diff)
	}
	_, err := s.ListVersions(t.Context(), "doc", 5, "not-a-token")
	wantCode(t, err, runcmd.EINVALID, "InvalidNextToken")
}

func testDocDeleteVersion(t *testing.T, s runcmd.DocumentStore) {
	createDoc(t, s, "doc")
	v2 := docVersion("doc", "second", base)
	v2.VersionName = "two"
	_, _, err := s.AddVersion(t.Context(), v2, 0)
	must(t, err)
	addVersion(t, s, "doc", "third")

	wantCode(t, s.DeleteVersion(t.Context(), "doc", 1), runcmd.EINVALID, "InvalidDocumentOperation")
	wantCode(t, s.DeleteVersion(t.Context(), "doc", 9), runcmd.ENOTFOUND, "InvalidDocumentVersion")

	// Deleting the latest makes the next highest the latest; its number is not reused.
	must(t, s.DeleteVersion(t.Context(), "doc", 3))
	wantPointers(t, s, "doc", pointers{Default: 1, Latest: 2, Count: 2})
	_, _, err = s.GetVersion(t.Context(), "doc", runcmd.VersionSelector{Version: 3})
	wantCode(t, err, runcmd.ENOTFOUND, "InvalidDocumentVersion")
	// Its content and version name are free again.
	if v := addVersion(t, s, "doc", "third"); v.Version != 4 {
		t.Errorf("version after deleting 3 is %d, want 4", v.Version)
	}
	must(t, s.DeleteVersion(t.Context(), "doc", 2))
	v := docVersion("doc", "second", base)
	v.VersionName = "two"
	_, got, err := s.AddVersion(t.Context(), v, 4)
	must(t, err)
	if got.Version != 5 {
		t.Errorf("re-added version is %d, want 5", got.Version)
	}
	wantPointers(t, s, "doc", pointers{Default: 1, Latest: 5, Count: 3})
	_, got = getVersion(t, s, "doc", runcmd.VersionSelector{VersionName: "two"})
	if got.Version != 5 {
		t.Errorf("version named two is %d, want 5", got.Version)
	}
	p, err := s.ListVersions(t.Context(), "doc", 0, "")
	must(t, err)
	var nums []int
	for _, v := range p.Versions {
		nums = append(nums, v.Version)
	}
	if diff := cmp.Diff([]int{1, 4, 5}, nums); diff != "" {
		t.Errorf("versions after deletes (-want +got):\n%s", diff)
	}
}

func testDocDeleteAndRecreate(t *testing.T, s runcmd.DocumentStore) {
	_, err := s.CreateDocument(t.Context(), docVersion("doc", "v1 of doc", base), map[string]string{"k": "v"})
	must(t, err)
	for i := 2; i <= 4; i++ {
		addVersion(t, s, "doc", fmt.Sprintf("body %d", i))
	}
	createDoc(t, s, "other")
	must(t, s.DeleteDocument(t.Context(), "doc"))
	_, err = s.GetDocument(t.Context(), "doc")
	wantCode(t, err, runcmd.ENOTFOUND, "InvalidDocument")
	_, _, err = s.GetVersion(t.Context(), "doc", runcmd.VersionSelector{Version: 2})
	wantCode(t, err, runcmd.ENOTFOUND, "InvalidDocument")
	wantCode(t, s.DeleteDocument(t.Context(), "doc"), runcmd.ENOTFOUND, "InvalidDocument")

	// The name starts afresh: version 1, no tags, and old contents are not duplicates.
	info := createDoc(t, s, "doc")
	if info.LatestVersion != 1 || len(info.Tags) != 0 {
		t.Errorf("re-created document: latest %d tags %v", info.LatestVersion, info.Tags)
	}
	if v := addVersion(t, s, "doc", "body 2"); v.Version != 2 {
		t.Errorf("first update of re-created document is version %d, want 2", v.Version)
	}
	p, err := s.ListVersions(t.Context(), "doc", 0, "")
	must(t, err)
	if len(p.Versions) != 2 {
		t.Errorf("re-created document has %d versions, want 2", len(p.Versions))
	}
	// Other documents are untouched.
	wantPointers(t, s, "other", pointers{Default: 1, Latest: 1, Count: 1})
}

func testDocList(t *testing.T, s runcmd.DocumentStore) {
	names := []string{"b-doc", "a-doc", "B-upper", "b-doc-2", "c.doc", "b_doc", "a-doc-10", "a-doc-9"}
	for _, n := range names {
		createDoc(t, s, n)
	}
	list := func(q runcmd.DocumentQuery) ([]string, bool) {
		t.Helper()
		p, err := s.ListDocuments(t.Context(), q)
		must(t, err)
		var got []string
		for _, d := range p.Documents {
			if d.Default.Version != 1 || d.Default.Content != "" || d.Default.Hash == "" {
				t.Errorf("listed %s: Default summary %+v", d.Name, d.Default)
			}
			got = append(got, d.Name)
		}
		return got, p.More
	}
	sorted := slices.Sorted(slices.Values(names))
	tests := []struct {
		q    runcmd.DocumentQuery
		want []string
		more bool
	}{
		{runcmd.DocumentQuery{}, sorted, false},
		{runcmd.DocumentQuery{Limit: 3}, sorted[:3], true},
		{runcmd.DocumentQuery{Limit: 8}, sorted, false},
		{runcmd.DocumentQuery{StartAfter: sorted[2], Limit: 3}, sorted[3:6], true},
		{runcmd.DocumentQuery{StartAfter: sorted[4], Limit: 3}, sorted[5:], false},
		{runcmd.DocumentQuery{StartAfter: "b-doc-1"}, []string{"b-doc-2", "b_doc", "c.doc"}, false},
		{runcmd.DocumentQuery{NamePrefix: "a-doc"}, []string{"a-doc", "a-doc-10", "a-doc-9"}, false},
		{runcmd.DocumentQuery{NamePrefix: "a-doc", Limit: 2}, []string{"a-doc", "a-doc-10"}, true},
		{runcmd.DocumentQuery{NamePrefix: "a-doc", StartAfter: "a-doc-10", Limit: 1}, []string{"a-doc-9"}, false},
		{runcmd.DocumentQuery{NamePrefix: "b"}, []string{"b-doc", "b-doc-2", "b_doc"}, false},
		{runcmd.DocumentQuery{NamePrefix: "B"}, []string{"B-upper"}, false},
		{runcmd.DocumentQuery{NamePrefix: "zzz"}, nil, false},
		{runcmd.DocumentQuery{StartAfter: "zzz"}, nil, false},
	}
	for _, tt := range tests {
		got, more := list(tt.q)
		if diff := cmp.Diff(tt.want, got, equateEmpty); diff != "" || more != tt.more {
			t.Errorf("ListDocuments(%+v) more=%v (want %v), names (-want +got):\n%s", tt.q, more, tt.more, diff)
		}
	}
}

func testDocTags(t *testing.T, s runcmd.DocumentStore) {
	createDoc(t, s, "doc")
	tags, err := s.AddTags(t.Context(), "doc", map[string]string{"a": "1", "b": "2"})
	must(t, err)
	if diff := cmp.Diff(map[string]string{"a": "1", "b": "2"}, tags); diff != "" {
		t.Errorf("AddTags (-want +got):\n%s", diff)
	}
	tags, err = s.AddTags(t.Context(), "doc", map[string]string{"b": "3", "c": ""})
	must(t, err)
	if diff := cmp.Diff(map[string]string{"a": "1", "b": "3", "c": ""}, tags); diff != "" {
		t.Errorf("AddTags overwrite (-want +got):\n%s", diff)
	}
	tags, err = s.RemoveTags(t.Context(), "doc", []string{"a", "missing"})
	must(t, err)
	if diff := cmp.Diff(map[string]string{"b": "3", "c": ""}, tags); diff != "" {
		t.Errorf("RemoveTags (-want +got):\n%s", diff)
	}
	info, err := s.GetDocument(t.Context(), "doc")
	must(t, err)
	if diff := cmp.Diff(map[string]string{"b": "3", "c": ""}, info.Tags); diff != "" {
		t.Errorf("stored tags (-want +got):\n%s", diff)
	}

	many := map[string]string{}
	for i := range runcmd.MaxDocumentTags - 1 {
		many[fmt.Sprintf("k%02d", i)] = "v"
	}
	_, err = s.AddTags(t.Context(), "doc", many) // 49 new + b + c = 51
	wantCode(t, err, runcmd.ELIMIT, "TooManyTagsError")
	tags, err = s.RemoveTags(t.Context(), "doc", []string{"c"})
	must(t, err)
	if len(tags) != 1 {
		t.Errorf("failed AddTags changed the tags: %v", tags)
	}
	tags, err = s.AddTags(t.Context(), "doc", many) // exactly 50
	must(t, err)
	if len(tags) != runcmd.MaxDocumentTags {
		t.Errorf("tags after filling up: %d", len(tags))
	}
	tooMany := maps51()
	_, err = s.CreateDocument(t.Context(), docVersion("tagged", "x", base), tooMany)
	wantCode(t, err, runcmd.ELIMIT, "TooManyTagsError")
}

func maps51() map[string]string {
	m := map[string]string{}
	for i := range runcmd.MaxDocumentTags + 1 {
		m[fmt.Sprintf("t%02d", i)] = "v"
	}
	return m
}

// Concurrent updates each get their own version number, or fail cleanly; none is lost.
func testDocConcurrentAdd(t *testing.T, s runcmd.DocumentStore) {
	createDoc(t, s, "doc")
	const n = 8
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		nums []int
	)
	for i := range n {
		wg.Go(func() {
			_, v, err := s.AddVersion(t.Context(), docVersion("doc", fmt.Sprintf("concurrent %d", i), base), 0)
			if err != nil {
				if c := runcmd.ErrorCode(err); c != runcmd.ECONFLICT {
					t.Errorf("concurrent AddVersion: %v", err)
				}
				return
			}
			mu.Lock()
			nums = append(nums, v.Version)
			mu.Unlock()
		})
	}
	wg.Wait()
	slices.Sort(nums)
	if len(slices.Compact(slices.Clone(nums))) != len(nums) {
		t.Errorf("concurrent AddVersion handed out a number twice: %v", nums)
	}
	info, err := s.GetDocument(t.Context(), "doc")
	must(t, err)
	if info.VersionCount != len(nums)+1 {
		t.Errorf("VersionCount %d after %d successful adds", info.VersionCount, len(nums))
	}
	if len(nums) > 0 && info.LatestVersion != nums[len(nums)-1] {
		t.Errorf("LatestVersion %d, highest added %d", info.LatestVersion, nums[len(nums)-1])
	}
}

func testDocLimit(t *testing.T, s runcmd.DocumentStore) {
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for i := range runcmd.MaxDocuments {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			name := fmt.Sprintf("doc-%03d", i)
			if _, err := s.CreateDocument(t.Context(), docVersion(name, name, base), nil); err != nil {
				t.Errorf("CreateDocument(%s): %v", name, err)
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	_, err := s.CreateDocument(t.Context(), docVersion("one-too-many", "x", base), nil)
	wantCode(t, err, runcmd.ELIMIT, "DocumentLimitExceeded")
	// Deleting one makes room again.
	must(t, s.DeleteDocument(t.Context(), "doc-000"))
	createDoc(t, s, "one-too-many")
	_, err = s.CreateDocument(t.Context(), docVersion("two-too-many", "x", base), nil)
	wantCode(t, err, runcmd.ELIMIT, "DocumentLimitExceeded")
	// The limit counts documents, not versions.
	addVersion(t, s, "doc-001", "more")
}

func testDocVersionLimit(t *testing.T, s runcmd.DocumentStore) {
	createDoc(t, s, "doc")
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	// Concurrent adds may conflict; retry until every one has landed.
	for i := 2; i <= runcmd.MaxDocumentVersions; i++ {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			for try := 0; ; try++ {
				_, _, err := s.AddVersion(t.Context(), docVersion("doc", fmt.Sprintf("v%d", i), base), 0)
				if err == nil {
					return
				}
				if runcmd.ErrorCode(err) != runcmd.ECONFLICT || strings.Contains(err.Error(), "Duplicate") || try > 50 {
					t.Errorf("AddVersion %d: %v", i, err)
					return
				}
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	wantPointers(t, s, "doc", pointers{Default: 1, Latest: runcmd.MaxDocumentVersions, Count: runcmd.MaxDocumentVersions})
	_, _, err := s.AddVersion(t.Context(), docVersion("doc", "one too many", base), 0)
	wantCode(t, err, runcmd.ELIMIT, "DocumentVersionLimitExceeded")
	must(t, s.DeleteVersion(t.Context(), "doc", 500))
	addVersion(t, s, "doc", "one too many")
}
