package fake

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/runcmd/runcmd"
)

var _ runcmd.DocumentStore = (*DocumentStore)(nil)

// DocumentStore is an in-memory runcmd.DocumentStore. Values are copied in and out.
type DocumentStore struct {
	mu   sync.Mutex
	docs map[string]*storedDocument
}

type storedDocument struct {
	info     runcmd.DocumentInfo
	next     int // the number the next version gets; numbers are never reused
	versions map[int]*runcmd.DocumentVersion
}

// NewDocumentStore returns an empty DocumentStore.
func NewDocumentStore() *DocumentStore {
	return &DocumentStore{docs: map[string]*storedDocument{}}
}

// CreateDocument implements runcmd.DocumentStore.
func (s *DocumentStore) CreateDocument(ctx context.Context, v *runcmd.DocumentVersion, tags map[string]string) (*runcmd.DocumentInfo, error) {
	if v.Name == "" {
		return nil, runcmd.Errorf(runcmd.EINVALID, "", "create document: name is empty")
	}
	if len(tags) > runcmd.MaxDocumentTags {
		return nil, tooManyTags(v.Name)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.docs[v.Name]; ok {
		return nil, runcmd.Errorf(runcmd.ECONFLICT, "DocumentAlreadyExists", "Document with name %s already exists.", v.Name)
	}
	if len(s.docs) >= runcmd.MaxDocuments {
		return nil, documentLimit()
	}
	ver := cloneVersion(v)
	ver.Version = 1
	d := &storedDocument{
		info: runcmd.DocumentInfo{
			Name: v.Name, Owner: v.Owner, CreatedAt: v.CreatedAt, DefaultVersion: 1, LatestVersion: 1,
			VersionCount: 1, Tags: cloneTags(tags),
		},
		next:     2,
		versions: map[int]*runcmd.DocumentVersion{1: ver},
	}
	d.info.Default = summary(ver)
	s.docs[v.Name] = d
	return cloneInfo(&d.info), nil
}

// AddVersion implements runcmd.DocumentStore.
func (s *DocumentStore) AddVersion(ctx context.Context, v *runcmd.DocumentVersion, latest int) (*runcmd.DocumentInfo, *runcmd.DocumentVersion, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, ok := s.docs[v.Name]
	if !ok {
		return nil, nil, documentNotFound(v.Name)
	}
	if latest != 0 && latest != d.info.LatestVersion {
		return nil, nil, runcmd.Errorf(runcmd.EINVALID, "InvalidDocumentVersion",
			"Version %d is not the latest version of document %s (the latest is %d).", latest, v.Name, d.info.LatestVersion)
	}
	for _, old := range d.versions {
		if old.Hash == v.Hash {
			return nil, nil, duplicateContent(v.Name, old.Version)
		}
		if v.VersionName != "" && old.VersionName == v.VersionName {
			return nil, nil, duplicateVersionName(v.Name, v.VersionName)
		}
	}
	if len(d.versions) >= runcmd.MaxDocumentVersions {
		return nil, nil, versionLimit(v.Name)
	}
	ver := cloneVersion(v)
	ver.Version = d.next
	d.next++
	d.versions[ver.Version] = ver
	d.info.LatestVersion = ver.Version
	d.info.VersionCount++
	return cloneInfo(&d.info), cloneVersion(ver), nil
}

// GetDocument implements runcmd.DocumentStore.
func (s *DocumentStore) GetDocument(ctx context.Context, name string) (*runcmd.DocumentInfo, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, ok := s.docs[name]
	if !ok {
		return nil, documentNotFound(name)
	}
	return cloneInfo(&d.info), nil
}

// GetVersion implements runcmd.DocumentStore.
func (s *DocumentStore) GetVersion(ctx context.Context, name string, sel runcmd.VersionSelector) (*runcmd.DocumentInfo, *runcmd.DocumentVersion, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, ok := s.docs[name]
	if !ok {
		return nil, nil, documentNotFound(name)
	}
	var v *runcmd.DocumentVersion
	switch {
	case sel.Version != 0:
		v = d.versions[sel.Version]
		if v != nil && sel.VersionName != "" && v.VersionName != sel.VersionName {
			v = nil
		}
	case sel.VersionName != "":
		for _, c := range d.versions {
			if c.VersionName == sel.VersionName {
				v = c
			}
		}
	case sel.Latest:
		v = d.versions[d.info.LatestVersion]
	default:
		v = d.versions[d.info.DefaultVersion]
	}
	if v == nil {
		return nil, nil, versionNotFound(name, sel)
	}
	return cloneInfo(&d.info), cloneVersion(v), nil
}

// SetDefaultVersion implements runcmd.DocumentStore.
func (s *DocumentStore) SetDefaultVersion(ctx context.Context, name string, version int) (*runcmd.DocumentInfo, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, ok := s.docs[name]
	if !ok {
		return nil, documentNotFound(name)
	}
	v, ok := d.versions[version]
	if !ok {
		return nil, versionNotFound(name, runcmd.VersionSelector{Version: version})
	}
	d.info.DefaultVersion = version
	d.info.Default = summary(v)
	return cloneInfo(&d.info), nil
}

// ListVersions implements runcmd.DocumentStore.
func (s *DocumentStore) ListVersions(ctx context.Context, name string, limit int, nextToken string) (runcmd.VersionPage, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, ok := s.docs[name]
	if !ok {
		return runcmd.VersionPage{}, documentNotFound(name)
	}
	all := slices.Collect(maps.Values(d.versions))
	// Fixed-width keys sort numerically, as the DynamoDB adapter's sort keys do.
	key := func(v *runcmd.DocumentVersion) string { return fmt.Sprintf("%010d", v.Version) }
	got, next, err := page(all, key, false, pageSize(limit, defaultPage, defaultPage), nextToken)
	if err != nil {
		return runcmd.VersionPage{}, err
	}
	p := runcmd.VersionPage{NextToken: next}
	for _, v := range got {
		c := summary(v)
		p.Versions = append(p.Versions, &c)
	}
	return p, nil
}

// DeleteDocument implements runcmd.DocumentStore.
func (s *DocumentStore) DeleteDocument(ctx context.Context, name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.docs[name]; !ok {
		return documentNotFound(name)
	}
	delete(s.docs, name)
	return nil
}

// DeleteVersion implements runcmd.DocumentStore.
func (s *DocumentStore) DeleteVersion(ctx context.Context, name string, version int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, ok := s.docs[name]
	if !ok {
		return documentNotFound(name)
	}
	if _, ok := d.versions[version]; !ok {
		return versionNotFound(name, runcmd.VersionSelector{Version: version})
	}
	if version == d.info.DefaultVersion {
		return defaultVersionDelete(name, version)
	}
	delete(d.versions, version)
	d.info.VersionCount--
	if version == d.info.LatestVersion {
		d.info.LatestVersion = slices.Max(slices.Collect(maps.Keys(d.versions)))
	}
	return nil
}

// ListDocuments implements runcmd.DocumentStore.
func (s *DocumentStore) ListDocuments(ctx context.Context, q runcmd.DocumentQuery) (runcmd.DocumentPage, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var names []string
	for n := range s.docs {
		if strings.HasPrefix(n, q.NamePrefix) && n > q.StartAfter {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	limit := pageSize(q.Limit, defaultPage, 0)
	var p runcmd.DocumentPage
	if len(names) > limit {
		names, p.More = names[:limit], true
	}
	for _, n := range names {
		p.Documents = append(p.Documents, cloneInfo(&s.docs[n].info))
	}
	return p, nil
}

// AddTags implements runcmd.DocumentStore.
func (s *DocumentStore) AddTags(ctx context.Context, name string, tags map[string]string) (map[string]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, ok := s.docs[name]
	if !ok {
		return nil, documentNotFound(name)
	}
	merged := cloneTags(d.info.Tags)
	maps.Copy(merged, tags)
	if len(merged) > runcmd.MaxDocumentTags {
		return nil, tooManyTags(name)
	}
	d.info.Tags = merged
	return cloneTags(merged), nil
}

// RemoveTags implements runcmd.DocumentStore.
func (s *DocumentStore) RemoveTags(ctx context.Context, name string, keys []string) (map[string]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, ok := s.docs[name]
	if !ok {
		return nil, documentNotFound(name)
	}
	for _, k := range keys {
		delete(d.info.Tags, k)
	}
	return cloneTags(d.info.Tags), nil
}

func documentNotFound(name string) error {
	return runcmd.Errorf(runcmd.ENOTFOUND, "InvalidDocument", "Document %s does not exist.", name)
}

func versionNotFound(name string, sel runcmd.VersionSelector) error {
	switch {
	case sel.Version != 0 && sel.VersionName != "":
		return runcmd.Errorf(runcmd.ENOTFOUND, "InvalidDocumentVersion",
			"Document %s has no version %d named %s.", name, sel.Version, sel.VersionName)
	case sel.Version != 0:
		return runcmd.Errorf(runcmd.ENOTFOUND, "InvalidDocumentVersion", "Document %s has no version %d.", name, sel.Version)
	case sel.VersionName != "":
		return runcmd.Errorf(runcmd.ENOTFOUND, "InvalidDocumentVersion", "Document %s has no version named %s.", name, sel.VersionName)
	}
	return runcmd.Errorf(runcmd.ENOTFOUND, "InvalidDocumentVersion", "Document %s has no such version.", name)
}

func duplicateContent(name string, version int) error {
	return runcmd.Errorf(runcmd.ECONFLICT, "DuplicateDocumentContent",
		"The content of document %s matches its version %d. Change the content of the document and try again.", name, version)
}

func duplicateVersionName(name, versionName string) error {
	return runcmd.Errorf(runcmd.ECONFLICT, "DuplicateDocumentVersionName",
		"Document %s already has a version named %s.", name, versionName)
}

func versionLimit(name string) error {
	return runcmd.Errorf(runcmd.ELIMIT, "DocumentVersionLimitExceeded",
		"Document %s has %d versions, the most a document can have. Delete one or more versions and try again.",
		name, runcmd.MaxDocumentVersions)
}

func documentLimit() error {
	return runcmd.Errorf(runcmd.ELIMIT, "DocumentLimitExceeded", "You can have at most %d active SSM documents.", runcmd.MaxDocuments)
}

func tooManyTags(name string) error {
	return runcmd.Errorf(runcmd.ELIMIT, "TooManyTagsError", "Document %s can carry at most %d tags.", name, runcmd.MaxDocumentTags)
}

func defaultVersionDelete(name string, version int) error {
	return runcmd.Errorf(runcmd.EINVALID, "InvalidDocumentOperation",
		"Version %d is the default version of document %s and can't be deleted.", version, name)
}

// summary is a version without its content, as listings carry it.
func summary(v *runcmd.DocumentVersion) runcmd.DocumentVersion {
	c := *cloneVersion(v)
	c.Content = ""
	return c
}

func cloneVersion(v *runcmd.DocumentVersion) *runcmd.DocumentVersion {
	c := *v
	c.PlatformTypes = slices.Clone(v.PlatformTypes)
	c.Parameters = slices.Clone(v.Parameters)
	return &c
}

func cloneInfo(d *runcmd.DocumentInfo) *runcmd.DocumentInfo {
	c := *d
	c.Tags = cloneTags(d.Tags)
	c.Default = *cloneVersion(&d.Default)
	return &c
}

func cloneTags(tags map[string]string) map[string]string {
	out := make(map[string]string, len(tags))
	maps.Copy(out, tags)
	return out
}
