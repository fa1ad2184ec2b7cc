package service

import (
	"cmp"
	"context"
	"encoding/base64"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/runcmd/runcmd"
)

// DefaultAccountID is the owner of user documents when the deployment names no account: the account id
// AWS uses in its own examples. (SSM shows the creating account's id as Owner.)
const DefaultAccountID = "123456789012"

// listChunk is how many stored documents ListDocuments reads at a time while it filters.
const listChunk = 50

// StoreDocuments serves the built-in documents (owner "Amazon", read-only) together with the user
// documents kept in a runcmd.DocumentStore (owner: the account id). Built-in names all start with a
// prefix users may not create, so the two never collide.
type StoreDocuments struct {
	Store    runcmd.DocumentStore
	Owner    string // Owner of user documents: the account id
	builtins *Builtins
}

var _ DocumentSource = (*StoreDocuments)(nil)

// NewStoreDocuments parses the built-ins and serves them with store's documents, which belong to owner
// (DefaultAccountID when empty).
func NewStoreDocuments(store runcmd.DocumentStore, owner string) (*StoreDocuments, error) {
	b, err := NewBuiltins()
	if err != nil {
		return nil, err
	}
	return &StoreDocuments{Store: store, Owner: cmp.Or(owner, DefaultAccountID), builtins: b}, nil
}

// Document implements DocumentSource.
func (s *StoreDocuments) Document(ctx context.Context, name, version string) (*Document, error) {
	return s.lookup(ctx, name, version, "")
}

// builtin returns the built-in document called name, if there is one.
func (s *StoreDocuments) builtin(name string) (*Document, bool) {
	d, ok := s.builtins.docs[name]
	return d, ok
}

// lookup finds one version of a document by DocumentVersion ("", $DEFAULT, $LATEST or a number) and,
// when set, VersionName; both must match when both are given.
func (s *StoreDocuments) lookup(ctx context.Context, name, version, versionName string) (*Document, error) {
	name = documentName(name)
	if d, ok := s.builtin(name); ok {
		doc, err := s.builtins.Document(ctx, name, version)
		if err != nil {
			return nil, err
		}
		if versionName != "" {
			// Built-ins have no version names, so no version name can match.
			return nil, runcmd.Errorf(runcmd.ENOTFOUND, "InvalidDocumentVersion", "Document %s has no version named %s.", d.Description.Name, versionName)
		}
		return doc, nil
	}
	sel, err := selector(name, version)
	if err != nil {
		return nil, err
	}
	sel.VersionName = versionName
	info, v, err := s.Store.GetVersion(ctx, name, sel)
	if err != nil {
		return nil, fmt.Errorf("get document %s version %q: %w", name, cmp.Or(version, versionName), err)
	}
	return storedDocument(info, v)
}

// storedDocument parses a stored version into a Document. The content was validated when it was
// stored; it is parsed again because SendCommand needs the model.
func storedDocument(info *runcmd.DocumentInfo, v *runcmd.DocumentVersion) (*Document, error) {
	doc, err := NewDocument(describeVersion(info, v), []byte(v.Content))
	if err != nil {
		return nil, fmt.Errorf("parse stored document %s version %d: %w", v.Name, v.Version, err)
	}
	return doc, nil
}

// selector turns a DocumentVersion request value into a version selector.
func selector(name, version string) (runcmd.VersionSelector, error) {
	switch version {
	case "", "$DEFAULT":
		return runcmd.VersionSelector{}, nil
	case "$LATEST":
		return runcmd.VersionSelector{Latest: true}, nil
	}
	n, err := strconv.Atoi(version)
	if err != nil || n < 1 || strings.HasPrefix(version, "0") || strings.HasPrefix(version, "+") {
		return runcmd.VersionSelector{}, runcmd.Errorf(runcmd.EINVALID, "InvalidDocumentVersion",
			"Document version %q of %s is not valid: use $DEFAULT, $LATEST or a version number.", version, name)
	}
	return runcmd.VersionSelector{Version: n}, nil
}

// documentName accepts a document name or its ARN (arn:aws:ssm:<region>:<account>:document/<name>), as
// GetDocument, DescribeDocument and SendCommand do.
func documentName(name string) string {
	if strings.HasPrefix(name, "arn:") {
		if _, after, ok := strings.Cut(name, ":document/"); ok {
			return after
		}
	}
	return name
}

// describeVersion is DescribeDocument's view of one stored version.
func describeVersion(info *runcmd.DocumentInfo, v *runcmd.DocumentVersion) DocumentDescription {
	d := DocumentDescription{
		Name:            v.Name,
		DisplayName:     v.DisplayName,
		VersionName:     v.VersionName,
		DocumentVersion: strconv.Itoa(v.Version),
		DefaultVersion:  strconv.Itoa(info.DefaultVersion),
		LatestVersion:   strconv.Itoa(info.LatestVersion),
		Hash:            v.Hash,
		HashType:        "Sha256",
		Owner:           cmp.Or(v.Owner, info.Owner),
		Status:          cmp.Or(v.Status, runcmd.DocumentStatusActive),
		DocumentType:    v.DocumentType,
		DocumentFormat:  v.Format,
		SchemaVersion:   v.SchemaVersion,
		Description:     v.Description,
		TargetType:      v.TargetType,
		PlatformTypes:   slices.Clone(v.PlatformTypes),
		Tags:            info.Tags,
		CreatedDate:     v.CreatedAt,
	}
	for _, p := range v.Parameters {
		d.Parameters = append(d.Parameters, DocumentParameter(p))
	}
	return d
}

// ListDocuments implements DocumentSource: built-ins and stored documents merged in one name order.
// Filters that the store cannot apply are applied here, reading the store in chunks through its name
// index, so a page may hold fewer than MaxResults documents (SSM's pages do too) and the work per
// request is bounded by the account's MaxDocuments.
func (s *StoreDocuments) ListDocuments(ctx context.Context, in ListDocumentsInput) (ListDocumentsOutput, error) {
	if err := validateDocumentFilters(in.Filters); err != nil {
		return ListDocumentsOutput{}, err
	}
	limit := in.MaxResults
	if limit <= 0 || limit > 50 {
		limit = 50
	}
	cursor, err := decodeListToken(in.NextToken)
	if err != nil {
		return ListDocumentsOutput{}, err
	}
	prefix := namePrefix(in.Filters)
	wantBuiltins, wantStored := ownerScope(in.Filters)
	var builtins []DocumentDescription
	if wantBuiltins {
		for _, d := range s.builtins.sorted() {
			if strings.HasPrefix(d.Name, prefix) {
				builtins = append(builtins, d)
			}
		}
	}
	var out ListDocumentsOutput
	for {
		var page runcmd.DocumentPage
		if wantStored {
			page, err = s.Store.ListDocuments(ctx, runcmd.DocumentQuery{NamePrefix: prefix, StartAfter: cursor, Limit: listChunk})
			if err != nil {
				return ListDocumentsOutput{}, fmt.Errorf("list documents after %q: %w", cursor, err)
			}
		}
		// While the store has more, built-ins beyond its last name wait for the next chunk.
		bound := ""
		if page.More && len(page.Documents) > 0 {
			bound = page.Documents[len(page.Documents)-1].Name
		}
		var cands []DocumentDescription
		for _, info := range page.Documents {
			cands = append(cands, identify(info))
		}
		for _, d := range builtins {
			if d.Name > cursor && (bound == "" || d.Name <= bound) {
				cands = append(cands, d)
			}
		}
		slices.SortFunc(cands, func(a, b DocumentDescription) int { return strings.Compare(a.Name, b.Name) })
		for i, d := range cands {
			cursor = d.Name
			ok, err := matchDocument(d, in.Filters)
			if err != nil {
				return ListDocumentsOutput{}, err
			}
			if !ok {
				continue
			}
			out.Documents = append(out.Documents, d)
			if len(out.Documents) == limit {
				more := i < len(cands)-1 || page.More ||
					slices.ContainsFunc(builtins, func(b DocumentDescription) bool { return b.Name > cursor })
				if more {
					out.NextToken = encodeListToken(cursor)
				}
				return out, nil
			}
		}
		if !page.More {
			return out, nil
		}
	}
}

// identify is ListDocuments' DocumentIdentifier of a stored document: its default version.
func identify(info *runcmd.DocumentInfo) DocumentDescription {
	d := describeVersion(info, &info.Default)
	d.CreatedDate = info.CreatedAt
	return d
}

// sorted returns the built-ins' descriptions in name order.
func (b *Builtins) sorted() []DocumentDescription {
	out := make([]DocumentDescription, 0, len(b.docs))
	for _, d := range b.docs {
		out = append(out, d.Description)
	}
	slices.SortFunc(out, func(a, b DocumentDescription) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// namePrefix is the prefix the store can apply: the value of the only Name filter when it has exactly
// one value. Other Name filters are applied by matchDocument.
func namePrefix(filters []DocumentFilter) string {
	var prefix string
	n := 0
	for _, f := range filters {
		if f.Key == "Name" {
			n++
			if len(f.Values) == 1 {
				prefix = f.Values[0]
			}
		}
	}
	if n != 1 {
		return ""
	}
	return prefix
}

// ownerScope reports whether the Owner filters can match built-ins and stored documents, so a listing
// of Amazon's documents does not read the store and one of the account's skips the built-ins.
func ownerScope(filters []DocumentFilter) (builtins, stored bool) {
	builtins, stored = true, true
	for _, f := range filters {
		if f.Key != "Owner" {
			continue
		}
		var b, s bool
		for _, v := range f.Values {
			switch v {
			case "All":
				b, s = true, true
			case "Amazon", "Public":
				b = true
			case "ThirdParty":
			default: // Self, Private, or an account id
				s = true
			}
		}
		builtins, stored = builtins && b, stored && s
	}
	return builtins, stored
}

func encodeListToken(name string) string {
	return base64.RawURLEncoding.EncodeToString([]byte("n:" + name))
}

func decodeListToken(token string) (string, error) {
	if token == "" {
		return "", nil
	}
	b, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || !strings.HasPrefix(string(b), "n:") {
		return "", runcmd.Errorf(runcmd.EINVALID, "InvalidNextToken", "The specified token isn't valid.")
	}
	return string(b[2:]), nil
}
