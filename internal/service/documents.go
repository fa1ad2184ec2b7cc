package service

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/runcmd/runcmd"
	"github.com/runcmd/runcmd/documents"
	"github.com/runcmd/runcmd/documents/builtin"
)

// Document is one version of a document, ready for SendCommand.
type Document struct {
	Description DocumentDescription
	Content     []byte // as stored
	PluginNames []string
	model       *documents.Document
}

// Validate checks runtime parameters against the document and fills defaults. It returns the values as
// SSM's map of lists (what nodes receive) and the document's execution timeout in seconds.
func (d *Document) Validate(params map[string][]string) (map[string][]string, int, error) {
	if err := documents.CheckSendSize(d.Content, params); err != nil {
		return nil, 0, err
	}
	v, err := d.model.ResolveParameters(params)
	if err != nil {
		return nil, 0, err
	}
	// Rendering at send time means a document whose inputs cannot be interpolated is refused here,
	// not on every node.
	if _, err := d.model.Render(v, nil); err != nil {
		return nil, 0, err
	}
	return v.Wire, d.model.ExecTimeoutSeconds(v), nil
}

// NewDocument parses content and describes it.
func NewDocument(desc DocumentDescription, content []byte) (*Document, error) {
	model, err := documents.Parse(content, desc.DocumentFormat)
	if err != nil {
		return nil, err
	}
	desc.Hash, desc.HashType = model.Hash, "Sha256"
	desc.SchemaVersion = model.SchemaVersion
	desc.Description = model.Description
	desc.PlatformTypes = model.PlatformTypes
	desc.Parameters = nil
	for _, p := range model.Parameters {
		dp := DocumentParameter{Name: p.Name, Type: p.Type, Description: p.Description}
		if p.HasDefault {
			dp.DefaultValue = p.DefaultValue()
		}
		desc.Parameters = append(desc.Parameters, dp)
	}
	return &Document{Description: desc, Content: content, PluginNames: model.PluginNames(), model: model}, nil
}

// DocumentSource finds documents.
type DocumentSource interface {
	// Document returns a version of a document: version "" or "$DEFAULT" is the default version,
	// "$LATEST" the latest, otherwise a version number. Unknown names fail with InvalidDocument,
	// unknown versions with InvalidDocumentVersion.
	Document(ctx context.Context, name, version string) (*Document, error)
	// ListDocuments returns a page of document identifiers.
	ListDocuments(ctx context.Context, in ListDocumentsInput) (ListDocumentsOutput, error)
}

// Builtins serves the documents shipped in documents/builtin, owned by "Amazon".
type Builtins struct {
	docs map[string]*Document
}

// NewBuiltins parses every built-in document once.
func NewBuiltins() (*Builtins, error) {
	b := &Builtins{docs: map[string]*Document{}}
	for _, name := range builtin.Names() {
		content, _ := builtin.Content(name)
		doc, err := NewDocument(DocumentDescription{
			Name: name, DocumentVersion: builtin.DocumentVersion, DefaultVersion: builtin.DocumentVersion,
			LatestVersion: builtin.DocumentVersion, Owner: builtin.Owner, Status: "Active",
			DocumentType: builtin.DocumentType, DocumentFormat: builtin.DocumentFormat, CreatedDate: builtin.CreatedDate(),
		}, content)
		if err != nil {
			return nil, fmt.Errorf("built-in document %s: %w", name, err)
		}
		b.docs[name] = doc
	}
	return b, nil
}

// Document implements DocumentSource.
func (b *Builtins) Document(_ context.Context, name, version string) (*Document, error) {
	doc, ok := b.docs[name]
	if !ok {
		return nil, runcmd.Errorf(runcmd.ENOTFOUND, "InvalidDocument", "Document %s does not exist.", name)
	}
	switch version {
	case "", "$DEFAULT", "$LATEST", doc.Description.DocumentVersion:
		return doc, nil
	}
	return nil, runcmd.Errorf(runcmd.ENOTFOUND, "InvalidDocumentVersion", "Document %s has no version %s.", name, version)
}

// ListDocuments implements DocumentSource. Built-ins are few, so one page holds them all.
func (b *Builtins) ListDocuments(_ context.Context, in ListDocumentsInput) (ListDocumentsOutput, error) {
	if err := validateDocumentFilters(in.Filters); err != nil {
		return ListDocumentsOutput{}, err
	}
	var out ListDocumentsOutput
	for _, d := range b.sorted() {
		ok, err := matchDocument(d, in.Filters)
		if err != nil {
			return ListDocumentsOutput{}, err
		}
		if ok {
			out.Documents = append(out.Documents, d)
		}
	}
	return out, nil
}

// validateDocumentFilters refuses filter keys ListDocuments does not know, before any document is read.
func validateDocumentFilters(filters []DocumentFilter) error {
	for _, f := range filters {
		switch f.Key {
		case "Name", "Owner", "PlatformTypes", "DocumentType", "TargetType", "SearchKeyword":
		default:
			if key, ok := strings.CutPrefix(f.Key, "tag:"); !ok || key == "" {
				return runcmd.Errorf(runcmd.EINVALID, "InvalidFilterKey", "Filter key %q is not supported.", f.Key)
			}
		}
	}
	return nil
}

// matchDocument applies ListDocuments filters to one document: different filters must all match; the
// values of one filter are alternatives, except SearchKeyword, whose values must all occur (as the
// CLI guide describes; the console ORs its terms).
func matchDocument(d DocumentDescription, filters []DocumentFilter) (bool, error) {
	for _, f := range filters {
		var ok bool
		switch f.Key {
		case "Name":
			ok = slices.ContainsFunc(f.Values, func(v string) bool { return strings.HasPrefix(d.Name, v) })
		case "Owner":
			ok = slices.ContainsFunc(f.Values, func(v string) bool {
				switch v {
				case "All":
					return true
				case "Amazon", "Public":
					return d.Owner == builtin.Owner
				case "Self", "Private":
					return d.Owner != builtin.Owner
				case "ThirdParty":
					return false
				}
				return d.Owner == v
			})
		case "PlatformTypes":
			ok = slices.ContainsFunc(f.Values, func(v string) bool { return slices.Contains(d.PlatformTypes, v) })
		case "DocumentType":
			ok = slices.Contains(f.Values, d.DocumentType)
		case "TargetType":
			ok = slices.Contains(f.Values, d.TargetType)
		case "SearchKeyword":
			text := strings.ToLower(d.Name + "\n" + d.DisplayName + "\n" + d.Description)
			ok = !slices.ContainsFunc(f.Values, func(v string) bool { return !strings.Contains(text, strings.ToLower(v)) })
		default:
			key, isTag := strings.CutPrefix(f.Key, "tag:")
			if !isTag || key == "" {
				return false, runcmd.Errorf(runcmd.EINVALID, "InvalidFilterKey", "Filter key %q is not supported.", f.Key)
			}
			t, has := d.Tags[key]
			ok = has && (len(f.Values) == 0 || slices.Contains(f.Values, t))
		}
		if !ok {
			return false, nil
		}
	}
	return true, nil
}

// ListDocuments returns document identifiers.
func (a *API) ListDocuments(ctx context.Context, in ListDocumentsInput) (ListDocumentsOutput, error) {
	return a.Documents.ListDocuments(ctx, in)
}

// DescribeDocument describes one version of a document, chosen by DocumentVersion ($DEFAULT when
// empty, $LATEST or a number) and, when set, VersionName (both must match when both are given).
func (a *API) DescribeDocument(ctx context.Context, name, version, versionName string) (DocumentDescription, error) {
	doc, err := a.lookupDocument(ctx, name, version, versionName)
	if err != nil {
		return DocumentDescription{}, err
	}
	return doc.Description, nil
}

// lookupDocument finds a version of a document by number or version name. Version names exist only
// for stored documents.
func (a *API) lookupDocument(ctx context.Context, name, version, versionName string) (*Document, error) {
	if s, ok := a.Documents.(*StoreDocuments); ok {
		return s.lookup(ctx, name, version, versionName)
	}
	doc, err := a.Documents.Document(ctx, documentName(name), version)
	if err != nil {
		return nil, err
	}
	if versionName != "" && versionName != doc.Description.VersionName {
		return nil, runcmd.Errorf(runcmd.ENOTFOUND, "InvalidDocumentVersion", "Document %s has no version named %s.", name, versionName)
	}
	return doc, nil
}

// GetDocument returns a document's content, converted to the requested format.
func (a *API) GetDocument(ctx context.Context, in GetDocumentInput) (GetDocumentOutput, error) {
	doc, err := a.lookupDocument(ctx, in.Name, in.DocumentVersion, in.VersionName)
	if err != nil {
		return GetDocumentOutput{}, err
	}
	desc := doc.Description
	content := doc.Content
	if in.DocumentFormat != "" && in.DocumentFormat != "TEXT" && in.DocumentFormat != desc.DocumentFormat {
		content, err = documents.Convert(doc.Content, desc.DocumentFormat, in.DocumentFormat)
		if err != nil {
			return GetDocumentOutput{}, err
		}
		desc.DocumentFormat = in.DocumentFormat
	}
	return GetDocumentOutput{DocumentDescription: desc, Content: string(content)}, nil
}
