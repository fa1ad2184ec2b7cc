package runcmd

import (
	"context"
	"time"
)

// Document limits (reference: documents-patch-compliance.md A3.8).
const (
	// MaxDocuments is how many documents an account may own (SSM's DocumentLimitExceeded text says
	// 500). Built-in documents do not count.
	MaxDocuments = 500
	// MaxDocumentVersions is how many versions one document may keep. SSM has the limit
	// (DocumentVersionLimitExceeded) but does not publish the number; 1,000 is the figure usually quoted.
	MaxDocumentVersions = 1000
	// MaxDocumentTags is how many tags a document may carry: the AWS-wide per-resource tag limit
	// (SSM's TooManyTagsError), not the 1,000 the API model allows in one request.
	MaxDocumentTags = 50
	// DocumentStatusActive is the only status runcmd documents take: creation is synchronous, so
	// SSM's Creating/Updating/Deleting never show.
	DocumentStatusActive = "Active"
)

// DocumentParameter summarises one parameter as DescribeDocument lists it.
type DocumentParameter struct {
	Name         string
	Type         string
	Description  string
	DefaultValue string // "" when the parameter has no default (it is then required)
}

// DocumentVersion is one version of a user document. Version numbers start at 1 and are never reused,
// even after a version is deleted, so a command or a hash pin that named version N keeps meaning the
// same content. Everything but Version is fixed when the version is created.
type DocumentVersion struct {
	Name          string
	Version       int
	VersionName   string // optional, unique within the document
	DisplayName   string
	Content       string // empty in listings (ListVersions, DocumentInfo.Default)
	Format        string // JSON or YAML
	Hash          string // hex SHA-256 of Content; unique within the document
	DocumentType  string // Command
	SchemaVersion string
	Description   string
	PlatformTypes []string
	Parameters    []DocumentParameter
	TargetType    string
	CreatedAt     time.Time
	Owner         string // the account id
	Status        string
}

// DocumentInfo is a document as a whole: its version pointers, tags and a summary (without Content) of
// its default version, which is what ListDocuments shows.
type DocumentInfo struct {
	Name           string
	Owner          string
	CreatedAt      time.Time
	DefaultVersion int
	LatestVersion  int // the highest existing version
	VersionCount   int
	Tags           map[string]string
	Default        DocumentVersion
}

// VersionSelector picks a version of a document: Version when non-zero, then VersionName when set (if
// both are set both must match), else the latest version when Latest is set, else the default version.
type VersionSelector struct {
	Version     int
	VersionName string
	Latest      bool
}

// DocumentQuery selects documents in name order.
type DocumentQuery struct {
	NamePrefix string // only names starting with this
	// StartAfter is a name; only names after it are returned. Pages resume from the last name seen, so
	// callers can merge stored documents with others (the built-ins) in one name order.
	StartAfter string
	Limit      int // page size; 0 means 50
}

// DocumentPage is one page of documents. More reports whether names after the last one exist.
type DocumentPage struct {
	Documents []*DocumentInfo
	More      bool
}

// VersionPage is one page of a document's versions, oldest first, without Content.
type VersionPage struct {
	Versions  []*DocumentVersion
	NextToken string
}

// DocumentStore keeps user documents, their versions and tags. Built-in documents are not stored.
// Errors carry SSM's names: InvalidDocument (ENOTFOUND) for an unknown document, InvalidDocumentVersion
// (ENOTFOUND) for an unknown version.
type DocumentStore interface {
	// CreateDocument stores a new document whose first version is v (v.Version is ignored: it becomes
	// 1, the default and latest version), with tags. ECONFLICT DocumentAlreadyExists if the name is
	// taken; ELIMIT DocumentLimitExceeded when the account already has MaxDocuments documents.
	CreateDocument(ctx context.Context, v *DocumentVersion, tags map[string]string) (*DocumentInfo, error)
	// AddVersion adds v as a new version numbered after every version the document ever had, and leaves
	// the default version alone. When latest is non-zero the document's latest version must be latest
	// (EINVALID InvalidDocumentVersion otherwise), so an update based on a stale read fails. ECONFLICT
	// DuplicateDocumentContent when a version has the same Hash, ECONFLICT DuplicateDocumentVersionName
	// when one has the same VersionName, ELIMIT DocumentVersionLimitExceeded at MaxDocumentVersions.
	AddVersion(ctx context.Context, v *DocumentVersion, latest int) (*DocumentInfo, *DocumentVersion, error)
	// GetDocument returns a document's name-level record.
	GetDocument(ctx context.Context, name string) (*DocumentInfo, error)
	// GetVersion returns a document and the version sel picks, read together.
	GetVersion(ctx context.Context, name string, sel VersionSelector) (*DocumentInfo, *DocumentVersion, error)
	// SetDefaultVersion makes an existing version the default and returns the document after the change.
	SetDefaultVersion(ctx context.Context, name string, version int) (*DocumentInfo, error)
	// ListVersions returns a page of a document's versions, oldest first; limit 0 means 50.
	ListVersions(ctx context.Context, name string, limit int, nextToken string) (VersionPage, error)
	// DeleteDocument deletes a document with all its versions and tags.
	DeleteDocument(ctx context.Context, name string) error
	// DeleteVersion deletes one version. The default version cannot be deleted (EINVALID
	// InvalidDocumentOperation); deleting the latest makes the next highest version the latest.
	DeleteVersion(ctx context.Context, name string, version int) error
	// ListDocuments returns documents in name order through an index, never a scan.
	ListDocuments(ctx context.Context, q DocumentQuery) (DocumentPage, error)
	// AddTags sets tags on a document (existing keys are overwritten); ELIMIT TooManyTagsError when the
	// document would carry more than MaxDocumentTags. RemoveTags removes keys; absent keys are ignored.
	// Both return the tags after the change.
	AddTags(ctx context.Context, name string, tags map[string]string) (map[string]string, error)
	RemoveTags(ctx context.Context, name string, keys []string) (map[string]string, error)
}
