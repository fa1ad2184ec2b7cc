package service

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/runcmd/runcmd"
	"github.com/runcmd/runcmd/documents/builtin"
)

// CreateDocumentInput is CreateDocument's request.
type CreateDocumentInput struct {
	Content        string
	Name           string
	DisplayName    string
	VersionName    string
	DocumentType   string // only Command (the default) is supported
	DocumentFormat string // JSON (the default) or YAML
	TargetType     string
	Tags           map[string]string
	// Requires and Attachments name what the request asked for; runcmd supports neither, so any
	// entry refuses the request.
	Requires    []string
	Attachments []string
}

// UpdateDocumentInput is UpdateDocument's request.
type UpdateDocumentInput struct {
	Content         string
	Name            string
	DocumentVersion string // the version the update is based on: $LATEST (the default) or the latest number
	VersionName     string
	DisplayName     string // inherited from the latest version when empty
	DocumentFormat  string // JSON (the default) or YAML
	TargetType      string // inherited from the latest version when empty
	Attachments     []string
}

// DocumentDefaultVersion is UpdateDocumentDefaultVersion's result.
type DocumentDefaultVersion struct {
	Name               string
	DefaultVersion     string
	DefaultVersionName string
}

// ListDocumentVersionsInput is ListDocumentVersions' request.
type ListDocumentVersionsInput struct {
	Name       string
	MaxResults int
	NextToken  string
}

// DocumentVersionInfo is one entry of ListDocumentVersions: the version's Name, DisplayName,
// DocumentVersion, VersionName, CreatedDate, DocumentFormat and Status, and whether it is the default.
type DocumentVersionInfo struct {
	DocumentDescription
	IsDefaultVersion bool
}

// ListDocumentVersionsOutput is one page of versions, oldest first.
type ListDocumentVersionsOutput struct {
	Versions  []DocumentVersionInfo
	NextToken string
}

// DeleteDocumentInput is DeleteDocument's request. Without DocumentVersion and VersionName the whole
// document goes.
type DeleteDocumentInput struct {
	Name            string
	DocumentVersion string
	VersionName     string
	Force           bool
}

// Resource types AddTagsToResource, RemoveTagsFromResource and ListTagsForResource serve.
const (
	ResourceTypeDocument        = "Document"
	ResourceTypeManagedInstance = runcmd.ResourceTypeManagedInstance
)

// Rules from the SSM API model (reference A3.1).
var (
	documentNameRE = regexp.MustCompile(`^[a-zA-Z0-9_\-.]{3,128}$`)
	versionNameRE  = regexp.MustCompile(`^[a-zA-Z0-9_\-.]{1,128}$`)
	displayNameRE  = regexp.MustCompile(`^[\w.\-:/ ]*$`)
	targetTypeRE   = regexp.MustCompile(`^/[\w.\-:/]*$`)
	tagKeyRE       = regexp.MustCompile(`^[\p{L}\p{Z}\p{N}_.:/=+\-@]{1,128}$`)
	tagValueRE     = regexp.MustCompile(`^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$`)
)

// reservedPrefixes are the name prefixes AWS keeps for its own documents. SSM lists aws, amazon, amzn,
// AWSEC2, AWSConfigRemediation and AWSSupport without saying how case is handled; runcmd compares them
// case-insensitively, which refuses every spelling of the first three and so covers the rest.
var reservedPrefixes = []string{"aws", "amazon", "amzn"}

func invalid(format string, args ...any) error {
	return runcmd.Errorf(runcmd.EINVALID, "ValidationException", format, args...)
}

// checkDocumentName applies SSM's name pattern and, for new documents, the reserved prefixes.
func checkDocumentName(name string, creating bool) error {
	if !documentNameRE.MatchString(name) {
		return invalid("Document name %q is not valid: use 3 to 128 letters, digits, '_', '-' and '.'.", name)
	}
	if creating {
		lower := strings.ToLower(name)
		for _, p := range reservedPrefixes {
			if strings.HasPrefix(lower, p) {
				return invalid("Document name %q is not valid: names starting with %q are reserved by AWS (also aws, amazon, amzn in any case).", name, name[:len(p)])
			}
		}
	}
	return nil
}

// checkVersionFields applies the model's rules to the per-version fields.
func checkVersionFields(versionName, displayName, targetType string, attachments []string) error {
	if versionName != "" && !versionNameRE.MatchString(versionName) {
		return invalid("VersionName %q is not valid: use 1 to 128 letters, digits, '_', '-' and '.'.", versionName)
	}
	if utf8.RuneCountInString(displayName) > 1024 || !displayNameRE.MatchString(displayName) {
		return invalid("DisplayName is not valid: use at most 1024 letters, digits, spaces and '_', '.', '-', ':', '/'.")
	}
	if targetType != "" && (len(targetType) > 200 || !targetTypeRE.MatchString(targetType)) {
		return invalid("TargetType %q is not valid: it starts with '/', such as /AWS::EC2::Instance.", targetType)
	}
	if len(attachments) > 0 {
		return invalid("Document attachments are not supported by runcmd.")
	}
	return nil
}

// checkTags applies SSM's tag rules: keys 1-128 characters not starting with "aws:", values up to
// 256 characters, both from the model's character set.
func checkTags(tags map[string]string) error {
	if len(tags) > runcmd.MaxDocumentTags {
		return runcmd.Errorf(runcmd.ELIMIT, "TooManyTagsError", "A resource can carry at most %d tags.", runcmd.MaxDocumentTags)
	}
	for k, v := range tags {
		if err := checkTagKey(k); err != nil {
			return err
		}
		if utf8.RuneCountInString(v) > 256 || !tagValueRE.MatchString(v) {
			return runcmd.Errorf(runcmd.EINVALID, "InvalidTag", "The value of tag %q is not valid: at most 256 letters, digits, spaces and _.:/=+-@.", k)
		}
	}
	return nil
}

func checkTagKey(k string) error {
	if utf8.RuneCountInString(k) > 128 || !tagKeyRE.MatchString(k) {
		return runcmd.Errorf(runcmd.EINVALID, "InvalidTag", "Tag key %q is not valid: 1 to 128 letters, digits, spaces and _.:/=+-@.", k)
	}
	if strings.HasPrefix(strings.ToLower(k), "aws:") {
		return runcmd.Errorf(runcmd.EINVALID, "InvalidTag", "Tag key %q is not valid: the aws: prefix is reserved.", k)
	}
	return nil
}

// documentFormat returns the format content is declared in: JSON unless YAML is asked for, as in SSM.
// TEXT belongs to document types runcmd does not support.
func documentFormat(f string) (string, error) {
	switch f {
	case "", "JSON":
		return "JSON", nil
	case "YAML":
		return "YAML", nil
	case "TEXT":
		return "", invalid("DocumentFormat TEXT is not valid for Command documents: use JSON or YAML.")
	}
	return "", invalid("DocumentFormat %q is not valid: use JSON or YAML.", f)
}

// newVersion parses and validates content and describes it as a version to store.
func (a *API) newVersion(name, content, format string) (*runcmd.DocumentVersion, error) {
	if content == "" {
		return nil, invalid("Content is required.")
	}
	f, err := documentFormat(format)
	if err != nil {
		return nil, err
	}
	doc, err := NewDocument(DocumentDescription{Name: name, DocumentFormat: f}, []byte(content))
	if err != nil {
		return nil, err
	}
	d := doc.Description
	v := &runcmd.DocumentVersion{
		Name:          name,
		Content:       content,
		Format:        f,
		Hash:          d.Hash,
		DocumentType:  builtin.DocumentType,
		SchemaVersion: d.SchemaVersion,
		Description:   d.Description,
		PlatformTypes: d.PlatformTypes,
		CreatedAt:     a.Now().UTC(),
		Status:        runcmd.DocumentStatusActive,
	}
	for _, p := range d.Parameters {
		v.Parameters = append(v.Parameters, runcmd.DocumentParameter(p))
	}
	return v, nil
}

// storeDocuments returns the document store, or an error when the API serves built-ins only.
func (a *API) storeDocuments() (*StoreDocuments, error) {
	s, ok := a.Documents.(*StoreDocuments)
	if !ok {
		return nil, runcmd.Errorf(runcmd.EINVALID, "InvalidDocumentOperation", "This deployment serves built-in documents only.")
	}
	return s, nil
}

// readOnly refuses changes to a built-in document.
func (s *StoreDocuments) readOnly(name, op string) error {
	if _, ok := s.builtin(name); ok {
		return runcmd.Errorf(runcmd.EINVALID, "InvalidDocumentOperation", "Document %s is owned by Amazon and can't be %s.", name, op)
	}
	return nil
}

// CreateDocument creates a Command document from JSON or YAML content. Its first version is "1", the
// default and latest version. Status is Active at once: runcmd creates documents synchronously.
func (a *API) CreateDocument(ctx context.Context, in CreateDocumentInput) (DocumentDescription, error) {
	s, err := a.storeDocuments()
	if err != nil {
		return DocumentDescription{}, err
	}
	if err := checkDocumentName(in.Name, true); err != nil {
		return DocumentDescription{}, err
	}
	if t := cmp.Or(in.DocumentType, builtin.DocumentType); t != builtin.DocumentType {
		return DocumentDescription{}, runcmd.Errorf(runcmd.EINVALID, "InvalidDocumentType",
			"Document type %q is not supported: runcmd runs Command documents only.", in.DocumentType)
	}
	if len(in.Requires) > 0 {
		return DocumentDescription{}, invalid("Requires is not supported by runcmd: it is for AppConfig documents.")
	}
	if err := checkVersionFields(in.VersionName, in.DisplayName, in.TargetType, in.Attachments); err != nil {
		return DocumentDescription{}, err
	}
	if err := checkTags(in.Tags); err != nil {
		return DocumentDescription{}, err
	}
	v, err := a.newVersion(in.Name, in.Content, in.DocumentFormat)
	if err != nil {
		return DocumentDescription{}, err
	}
	v.VersionName, v.DisplayName, v.TargetType, v.Owner = in.VersionName, in.DisplayName, in.TargetType, s.Owner
	info, err := s.Store.CreateDocument(ctx, v, in.Tags)
	if err != nil {
		return DocumentDescription{}, fmt.Errorf("create document %s: %w", in.Name, err)
	}
	v.Version = 1
	return describeVersion(info, v), nil
}

// UpdateDocument adds a version to a document; the default version does not move. Only the latest
// version can be updated, content identical to an existing version is refused
// (DuplicateDocumentContent), and version names are unique within a document.
func (a *API) UpdateDocument(ctx context.Context, in UpdateDocumentInput) (DocumentDescription, error) {
	s, err := a.storeDocuments()
	if err != nil {
		return DocumentDescription{}, err
	}
	name := documentName(in.Name)
	if err := s.readOnly(name, "updated"); err != nil {
		return DocumentDescription{}, err
	}
	if err := checkDocumentName(name, false); err != nil {
		return DocumentDescription{}, err
	}
	if err := checkVersionFields(in.VersionName, in.DisplayName, in.TargetType, in.Attachments); err != nil {
		return DocumentDescription{}, err
	}
	base := 0 // the latest version the caller named, checked again atomically by the store
	switch in.DocumentVersion {
	case "", "$LATEST":
	default:
		sel, err := selector(name, in.DocumentVersion)
		if err != nil || sel.Version == 0 {
			return DocumentDescription{}, runcmd.Errorf(runcmd.EINVALID, "InvalidDocumentVersion",
				"Document version %q is not valid for an update: use $LATEST or the latest version number.", in.DocumentVersion)
		}
		base = sel.Version
	}
	_, latest, err := s.Store.GetVersion(ctx, name, runcmd.VersionSelector{Latest: true})
	if err != nil {
		return DocumentDescription{}, fmt.Errorf("update document %s: %w", name, err)
	}
	if base != 0 && base != latest.Version {
		return DocumentDescription{}, runcmd.Errorf(runcmd.EINVALID, "InvalidDocumentVersion",
			"Version %d of document %s is not the latest version (%d); only the latest version can be updated.", base, name, latest.Version)
	}
	v, err := a.newVersion(name, in.Content, in.DocumentFormat)
	if err != nil {
		return DocumentDescription{}, err
	}
	v.VersionName = in.VersionName
	v.DisplayName = cmp.Or(in.DisplayName, latest.DisplayName)
	v.TargetType = cmp.Or(in.TargetType, latest.TargetType)
	v.DocumentType = latest.DocumentType
	v.Owner = cmp.Or(latest.Owner, s.Owner)
	info, added, err := s.Store.AddVersion(ctx, v, base)
	if err != nil {
		return DocumentDescription{}, fmt.Errorf("update document %s: %w", name, err)
	}
	added.Content = v.Content
	return describeVersion(info, added), nil
}

// UpdateDocumentDefaultVersion makes an existing version (a number; $LATEST is not accepted) the
// default.
func (a *API) UpdateDocumentDefaultVersion(ctx context.Context, name, version string) (DocumentDefaultVersion, error) {
	s, err := a.storeDocuments()
	if err != nil {
		return DocumentDefaultVersion{}, err
	}
	name = documentName(name)
	if err := s.readOnly(name, "changed"); err != nil {
		return DocumentDefaultVersion{}, err
	}
	sel, err := selector(name, version)
	if err != nil || sel.Version == 0 {
		return DocumentDefaultVersion{}, runcmd.Errorf(runcmd.EINVALID, "InvalidDocumentVersion",
			"Document version %q is not valid: the default version is set by number.", version)
	}
	info, err := s.Store.SetDefaultVersion(ctx, name, sel.Version)
	if err != nil {
		return DocumentDefaultVersion{}, fmt.Errorf("set default version of %s to %d: %w", name, sel.Version, err)
	}
	return DocumentDefaultVersion{Name: name, DefaultVersion: strconv.Itoa(info.DefaultVersion), DefaultVersionName: info.Default.VersionName}, nil
}

// ListDocumentVersions lists a document's versions, oldest first. A built-in has its one version.
func (a *API) ListDocumentVersions(ctx context.Context, in ListDocumentVersionsInput) (ListDocumentVersionsOutput, error) {
	name := documentName(in.Name)
	s, err := a.storeDocuments()
	if err != nil || isBuiltin(s, name) {
		doc, err := a.Documents.Document(ctx, name, "")
		if err != nil {
			return ListDocumentVersionsOutput{}, err
		}
		return ListDocumentVersionsOutput{Versions: []DocumentVersionInfo{{doc.Description, true}}}, nil
	}
	limit := in.MaxResults
	if limit <= 0 || limit > 50 {
		limit = 50
	}
	info, err := s.Store.GetDocument(ctx, name)
	if err != nil {
		return ListDocumentVersionsOutput{}, fmt.Errorf("list versions of %s: %w", name, err)
	}
	page, err := s.Store.ListVersions(ctx, name, limit, in.NextToken)
	if err != nil {
		return ListDocumentVersionsOutput{}, fmt.Errorf("list versions of %s: %w", name, err)
	}
	out := ListDocumentVersionsOutput{NextToken: page.NextToken}
	for _, v := range page.Versions {
		out.Versions = append(out.Versions, DocumentVersionInfo{describeVersion(info, v), v.Version == info.DefaultVersion})
	}
	return out, nil
}

func isBuiltin(s *StoreDocuments, name string) bool {
	_, ok := s.builtin(name)
	return ok
}

// DeleteDocument deletes a whole document, or one version of it (by number, $LATEST or VersionName)
// that is not the default. Built-ins can't be deleted.
func (a *API) DeleteDocument(ctx context.Context, in DeleteDocumentInput) error {
	s, err := a.storeDocuments()
	if err != nil {
		return err
	}
	name := documentName(in.Name)
	if err := s.readOnly(name, "deleted"); err != nil {
		return err
	}
	if in.DocumentVersion == "" && in.VersionName == "" {
		if err := s.Store.DeleteDocument(ctx, name); err != nil {
			return fmt.Errorf("delete document %s: %w", name, err)
		}
		return nil
	}
	sel := runcmd.VersionSelector{}
	if in.DocumentVersion != "" {
		if sel, err = selector(name, in.DocumentVersion); err != nil {
			return err
		}
		if sel == (runcmd.VersionSelector{}) { // $DEFAULT
			return runcmd.Errorf(runcmd.EINVALID, "InvalidDocumentOperation", "The default version of document %s can't be deleted.", name)
		}
	}
	// With both a version name and $LATEST, the named version must be the latest.
	latestOnly := sel.Latest && in.VersionName != ""
	if in.VersionName != "" {
		sel.VersionName, sel.Latest = in.VersionName, false
	}
	info, v, err := s.Store.GetVersion(ctx, name, sel)
	if err != nil {
		return fmt.Errorf("delete document %s version %s: %w", name, cmp.Or(in.DocumentVersion, in.VersionName), err)
	}
	if latestOnly && v.Version != info.LatestVersion {
		return runcmd.Errorf(runcmd.ENOTFOUND, "InvalidDocumentVersion", "Version %s of document %s is not its latest version.", in.VersionName, name)
	}
	if err := s.Store.DeleteVersion(ctx, name, v.Version); err != nil {
		return fmt.Errorf("delete document %s version %d: %w", name, v.Version, err)
	}
	return nil
}

// AddTagsToResource adds or overwrites tags on a document, a managed node or a patch baseline.
func (a *API) AddTagsToResource(ctx context.Context, resourceType, resourceID string, tags map[string]string) error {
	if err := checkTags(tags); err != nil {
		return err
	}
	switch resourceType {
	case ResourceTypeDocument:
		s, name, err := a.taggableDocument(resourceID)
		if err != nil {
			return err
		}
		if _, err := s.Store.AddTags(ctx, name, tags); err != nil {
			return fmt.Errorf("tag document %s: %w", name, resourceNotFound(err, "document", name))
		}
		return nil
	case ResourceTypeManagedInstance:
		if err := a.Instances.AddTags(ctx, resourceID, tags); err != nil {
			return fmt.Errorf("tag managed node %s: %w", resourceID, err)
		}
		return nil
	case ResourceTypePatchBaseline:
		return a.AddPatchBaselineTags(ctx, resourceID, tags)
	}
	return invalidResourceType(resourceType)
}

// RemoveTagsFromResource removes tag keys from a document, a managed node or a patch baseline; absent
// keys are ignored.
func (a *API) RemoveTagsFromResource(ctx context.Context, resourceType, resourceID string, keys []string) error {
	for _, k := range keys {
		if err := checkTagKey(k); err != nil {
			return err
		}
	}
	switch resourceType {
	case ResourceTypeDocument:
		s, name, err := a.taggableDocument(resourceID)
		if err != nil {
			return err
		}
		if _, err := s.Store.RemoveTags(ctx, name, keys); err != nil {
			return fmt.Errorf("untag document %s: %w", name, resourceNotFound(err, "document", name))
		}
		return nil
	case ResourceTypeManagedInstance:
		if err := a.Instances.RemoveTags(ctx, resourceID, keys); err != nil {
			return fmt.Errorf("untag managed node %s: %w", resourceID, err)
		}
		return nil
	case ResourceTypePatchBaseline:
		return a.RemovePatchBaselineTags(ctx, resourceID, keys)
	}
	return invalidResourceType(resourceType)
}

// ListTagsForResource returns the tags of a document, a managed node or a patch baseline. Built-in
// documents and AWS-owned baselines have none.
func (a *API) ListTagsForResource(ctx context.Context, resourceType, resourceID string) (map[string]string, error) {
	switch resourceType {
	case ResourceTypeDocument:
		name := documentName(resourceID)
		s, err := a.storeDocuments()
		if err != nil || isBuiltin(s, name) {
			if _, err := a.Documents.Document(ctx, name, ""); err != nil {
				return nil, resourceNotFound(err, "document", name)
			}
			return map[string]string{}, nil
		}
		info, err := s.Store.GetDocument(ctx, name)
		if err != nil {
			return nil, fmt.Errorf("list tags of document %s: %w", name, resourceNotFound(err, "document", name))
		}
		return maps.Clone(info.Tags), nil
	case ResourceTypeManagedInstance:
		nodes, err := a.Instances.GetInstances(ctx, []string{resourceID})
		if err != nil {
			return nil, fmt.Errorf("list tags of managed node %s: %w", resourceID, err)
		}
		n, ok := nodes[resourceID]
		if !ok {
			return nil, runcmd.Errorf(runcmd.ENOTFOUND, "InvalidResourceId", "Managed node %s does not exist.", resourceID)
		}
		return maps.Clone(n.Tags), nil
	case ResourceTypePatchBaseline:
		return a.ListPatchBaselineTags(ctx, resourceID)
	}
	return nil, invalidResourceType(resourceType)
}

// taggableDocument resolves a tag request's document; built-ins belong to Amazon and can't be tagged.
func (a *API) taggableDocument(resourceID string) (*StoreDocuments, string, error) {
	s, err := a.storeDocuments()
	if err != nil {
		return nil, "", err
	}
	name := documentName(resourceID)
	if isBuiltin(s, name) {
		return nil, "", runcmd.Errorf(runcmd.EINVALID, "InvalidResourceId", "Document %s is owned by Amazon and can't be tagged.", name)
	}
	return s, name, nil
}

// resourceNotFound renames a missing document to InvalidResourceId, the tagging operations' error.
func resourceNotFound(err error, kind, id string) error {
	if runcmd.ErrorCode(err) == runcmd.ENOTFOUND {
		return runcmd.Errorf(runcmd.ENOTFOUND, "InvalidResourceId", "The %s %s does not exist.", kind, id)
	}
	return err
}

func invalidResourceType(t string) error {
	types := []string{ResourceTypeDocument, ResourceTypeManagedInstance, ResourceTypePatchBaseline}
	return runcmd.Errorf(runcmd.EINVALID, "InvalidResourceType",
		"Resource type %q is not supported: runcmd tags %s.", t, strings.Join(slices.Sorted(slices.Values(types)), ", "))
}
