package dynamo

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/runcmd/runcmd"
)

var _ runcmd.DocumentStore = (*DocumentStore)(nil)

// The documents table (partition key Name, sort key DocKey) holds, per document:
//
//	DocKey "head"                 the name-level record: Gen, version pointers, Tags, and Meta of the
//	                              default version; ListPK puts it in the ByName index
//	DocKey <gen>#v#<%010d>        one version: Meta (JSON, all fields but Content) and Content
//	DocKey <gen>#h#<hash>         marks a content hash as taken (DuplicateDocumentContent)
//	DocKey <gen>#n#<versionName>  marks a version name as taken; holds the version number
//
// and one item for the whole account: Name "#account", DocKey "count", which counts documents for
// the MaxDocuments limit. "#" cannot start a document name.
//
// Gen is a random id given to each incarnation of a name. Deleting a document deletes its head (and
// the count) in one transaction, then its other items; were that clean-up cut short, the leftovers
// carry the old Gen, so a new document of the same name never sees them.
const (
	attrDocName        = "Name"
	attrDocKey         = "DocKey"
	attrDocGen         = "Gen"
	attrDocOwner       = "Owner"
	attrDocCreatedAt   = "CreatedAt"
	attrDocDefault     = "DefaultVersion"
	attrDocLatest      = "LatestVersion"
	attrDocNext        = "NextVersion"
	attrDocCount       = "VersionCount"
	attrDocTags        = "Tags"
	attrDocTagsRev     = "TagsRev" // bumped by every tag write, so tag read-modify-writes detect races
	attrDocMeta        = "Meta"
	attrDocContent     = "Content"
	attrDocVersion     = "Version"
	attrDocAccountSize = "Documents"

	indexDocsByName = "ByName"

	docHeadKey      = "head"
	accountName     = "#account"
	accountCountKey = "count"
)

// DocumentStore is a runcmd.DocumentStore over the documents table (see CreateTables).
type DocumentStore struct {
	client *dynamodb.Client
	table  string
}

// NewDocumentStore returns a DocumentStore over an existing table.
func NewDocumentStore(client *dynamodb.Client, table string) *DocumentStore {
	return &DocumentStore{client: client, table: table}
}

// versionMeta is a version's fields but Content, as stored in Meta (JSON keeps lists and the
// parameter summaries simple, and the head's copy of the default version the same shape).
type versionMeta struct {
	Version       int                        `json:"v"`
	VersionName   string                     `json:"vn,omitempty"`
	DisplayName   string                     `json:"dn,omitempty"`
	Format        string                     `json:"f"`
	Hash          string                     `json:"h"`
	DocumentType  string                     `json:"t"`
	SchemaVersion string                     `json:"sv"`
	Description   string                     `json:"d,omitempty"`
	PlatformTypes []string                   `json:"pt,omitempty"`
	Parameters    []runcmd.DocumentParameter `json:"p,omitempty"`
	TargetType    string                     `json:"tt,omitempty"`
	CreatedAt     time.Time                  `json:"c"`
	Owner         string                     `json:"o"`
	Status        string                     `json:"s"`
}

func encodeMeta(v *runcmd.DocumentVersion) (types.AttributeValue, error) {
	b, err := json.Marshal(versionMeta{
		Version: v.Version, VersionName: v.VersionName, DisplayName: v.DisplayName, Format: v.Format, Hash: v.Hash,
		DocumentType: v.DocumentType, SchemaVersion: v.SchemaVersion, Description: v.Description,
		PlatformTypes: v.PlatformTypes, Parameters: v.Parameters, TargetType: v.TargetType, CreatedAt: v.CreatedAt.UTC(),
		Owner: v.Owner, Status: v.Status,
	})
	if err != nil {
		return nil, fmt.Errorf("encode document %s version %d: %w", v.Name, v.Version, err)
	}
	return str(string(b)), nil
}

func decodeMeta(name, meta string) (*runcmd.DocumentVersion, error) {
	var m versionMeta
	if err := json.Unmarshal([]byte(meta), &m); err != nil {
		return nil, fmt.Errorf("decode document %s: %w", name, err)
	}
	return &runcmd.DocumentVersion{
		Name: name, Version: m.Version, VersionName: m.VersionName, DisplayName: m.DisplayName, Format: m.Format,
		Hash: m.Hash, DocumentType: m.DocumentType, SchemaVersion: m.SchemaVersion, Description: m.Description,
		PlatformTypes: m.PlatformTypes, Parameters: m.Parameters, TargetType: m.TargetType, CreatedAt: m.CreatedAt,
		Owner: m.Owner, Status: m.Status,
	}, nil
}

// head is a decoded head item.
type head struct {
	info    runcmd.DocumentInfo
	gen     string
	next    int
	tagsRev int
}

func decodeHead(it item) (*head, error) {
	d := decoder{it: it}
	h := &head{
		info: runcmd.DocumentInfo{
			Name:           d.str(attrDocName),
			Owner:          d.str(attrDocOwner),
			CreatedAt:      d.time(attrDocCreatedAt),
			DefaultVersion: d.num(attrDocDefault),
			LatestVersion:  d.num(attrDocLatest),
			VersionCount:   d.num(attrDocCount),
			Tags:           map[string]string{},
		},
		gen:     d.str(attrDocGen),
		next:    d.num(attrDocNext),
		tagsRev: d.num(attrDocTagsRev),
	}
	meta := d.str(attrDocMeta)
	if d.err != nil {
		return nil, fmt.Errorf("decode document %s: %w", h.info.Name, d.err)
	}
	if m, ok := it[attrDocTags].(*types.AttributeValueMemberM); ok {
		for k, v := range m.Value {
			s, ok := v.(*types.AttributeValueMemberS)
			if !ok {
				return nil, fmt.Errorf("decode document %s: tag %s has type %T", h.info.Name, k, v)
			}
			h.info.Tags[k] = s.Value
		}
	}
	def, err := decodeMeta(h.info.Name, meta)
	if err != nil {
		return nil, err
	}
	h.info.Default = *def
	return h, nil
}

func decodeVersion(it item) (*runcmd.DocumentVersion, error) {
	d := decoder{it: it}
	name, meta, content := d.str(attrDocName), d.str(attrDocMeta), d.str(attrDocContent)
	if d.err != nil {
		return nil, fmt.Errorf("decode document %s version: %w", name, d.err)
	}
	v, err := decodeMeta(name, meta)
	if err != nil {
		return nil, err
	}
	v.Content = content
	return v, nil
}

func docKey(name, key string) item        { return item{attrDocName: str(name), attrDocKey: str(key)} }
func versionKey(gen string, n int) string { return fmt.Sprintf("%s#v#%010d", gen, n) }
func hashKey(gen, hash string) string     { return gen + "#h#" + hash }
func nameKey(gen, versionName string) string {
	return gen + "#n#" + versionName
}

func tagsAttr(tags map[string]string) types.AttributeValue {
	m := make(item, len(tags))
	for k, v := range tags {
		m[k] = str(v)
	}
	return &types.AttributeValueMemberM{Value: m}
}

func newGen() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b)
}

func docNotFound(name string) error {
	return runcmd.Errorf(runcmd.ENOTFOUND, "InvalidDocument", "Document %s does not exist.", name)
}

func docVersionNotFound(name string, sel runcmd.VersionSelector) error {
	switch {
	case sel.Version != 0 && sel.VersionName != "":
		return runcmd.Errorf(runcmd.ENOTFOUND, "InvalidDocumentVersion", "Document %s has no version %d named %s.", name, sel.Version, sel.VersionName)
	case sel.Version != 0:
		return runcmd.Errorf(runcmd.ENOTFOUND, "InvalidDocumentVersion", "Document %s has no version %d.", name, sel.Version)
	case sel.VersionName != "":
		return runcmd.Errorf(runcmd.ENOTFOUND, "InvalidDocumentVersion", "Document %s has no version named %s.", name, sel.VersionName)
	}
	return runcmd.Errorf(runcmd.ENOTFOUND, "InvalidDocumentVersion", "Document %s has no such version.", name)
}

// versionItems returns the items of a new version: the version and its markers, each conditioned on
// not existing.
func (s *DocumentStore) versionItems(gen string, v *runcmd.DocumentVersion) ([]types.TransactWriteItem, error) {
	meta, err := encodeMeta(v)
	if err != nil {
		return nil, err
	}
	it := docKey(v.Name, versionKey(gen, v.Version))
	it[attrDocMeta], it[attrDocContent], it[attrDocVersion] = meta, str(v.Content), num(v.Version)
	marker := func(key string) item {
		m := docKey(v.Name, key)
		m[attrDocVersion] = num(v.Version)
		return m
	}
	ops := []types.TransactWriteItem{s.putNew(it), s.putNew(marker(hashKey(gen, v.Hash)))}
	if v.VersionName != "" {
		ops = append(ops, s.putNew(marker(nameKey(gen, v.VersionName))))
	}
	return ops, nil
}

func (s *DocumentStore) putNew(it item) types.TransactWriteItem {
	return types.TransactWriteItem{Put: &types.Put{
		TableName:                aws.String(s.table),
		Item:                     it,
		ConditionExpression:      aws.String("attribute_not_exists(#k)"),
		ExpressionAttributeNames: map[string]string{"#k": attrDocKey},
	}}
}

// CreateDocument writes the head, version 1, its markers and the account count in one transaction.
func (s *DocumentStore) CreateDocument(ctx context.Context, v *runcmd.DocumentVersion, tags map[string]string) (*runcmd.DocumentInfo, error) {
	if v.Name == "" || strings.HasPrefix(v.Name, "#") {
		return nil, runcmd.Errorf(runcmd.EINVALID, "", "create document: name %q is not valid", v.Name)
	}
	if len(tags) > runcmd.MaxDocumentTags {
		return nil, runcmd.Errorf(runcmd.ELIMIT, "TooManyTagsError", "Document %s can carry at most %d tags.", v.Name, runcmd.MaxDocumentTags)
	}
	ver := *v
	ver.Version = 1
	meta, err := encodeMeta(&ver)
	if err != nil {
		return nil, err
	}
	gen := newGen()
	h := docKey(v.Name, docHeadKey)
	maps.Copy(h, item{
		attrListPK: str(listPK), attrDocGen: str(gen), attrDocOwner: str(v.Owner), attrDocCreatedAt: timeAttr(v.CreatedAt),
		attrDocDefault: num(1), attrDocLatest: num(1), attrDocNext: num(2), attrDocCount: num(1),
		attrDocTags: tagsAttr(tags), attrDocTagsRev: num(0), attrDocMeta: meta,
	})
	vops, err := s.versionItems(gen, &ver)
	if err != nil {
		return nil, err
	}
	e := newExprs()
	count := types.TransactWriteItem{Update: &types.Update{
		TableName:        aws.String(s.table),
		Key:              docKey(accountName, accountCountKey),
		UpdateExpression: aws.String("ADD " + e.name(attrDocAccountSize) + " " + e.value(num(1))),
		ConditionExpression: aws.String("attribute_not_exists(" + e.name(attrDocAccountSize) + ") OR " +
			e.name(attrDocAccountSize) + " < " + e.value(num(runcmd.MaxDocuments))),
		ExpressionAttributeNames: e.attrNames(), ExpressionAttributeValues: e.attrValues(),
	}}
	ops := append([]types.TransactWriteItem{s.putNew(h)}, vops...)
	ops = append(ops, count)
	for attempt := range maxAttempts {
		if attempt > 0 {
			if err := backoff(ctx, attempt); err != nil {
				return nil, err
			}
		}
		_, err := s.client.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: ops})
		reasons, cancelled := cancelReasons(err)
		if !cancelled {
			if err != nil {
				return nil, fmt.Errorf("create document %s: %w", v.Name, err)
			}
			info := runcmd.DocumentInfo{
				Name: v.Name, Owner: v.Owner, CreatedAt: v.CreatedAt, DefaultVersion: 1, LatestVersion: 1, VersionCount: 1,
				Tags: maps.Clone(tags), Default: ver,
			}
			if info.Tags == nil {
				info.Tags = map[string]string{}
			}
			info.Default.Content = ""
			return &info, nil
		}
		switch {
		case len(reasons) > 0 && reasons[0] == codeConditionFailed:
			return nil, runcmd.Errorf(runcmd.ECONFLICT, "DocumentAlreadyExists", "Document with name %s already exists.", v.Name)
		case len(reasons) == len(ops) && reasons[len(ops)-1] == codeConditionFailed:
			return nil, runcmd.Errorf(runcmd.ELIMIT, "DocumentLimitExceeded", "You can have at most %d active SSM documents.", runcmd.MaxDocuments)
		}
		// A transaction conflict (on the shared count): retry.
	}
	return nil, fmt.Errorf("create document %s: still contended after %d attempts", v.Name, maxAttempts)
}

func (s *DocumentStore) getItem(ctx context.Context, name, key string) (item, error) {
	out, err := s.client.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(s.table), Key: docKey(name, key), ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return nil, err
	}
	return out.Item, nil
}

func (s *DocumentStore) head(ctx context.Context, name string) (*head, error) {
	if strings.HasPrefix(name, "#") {
		return nil, docNotFound(name)
	}
	it, err := s.getItem(ctx, name, docHeadKey)
	if err != nil {
		return nil, fmt.Errorf("get document %s: %w", name, err)
	}
	if len(it) == 0 {
		return nil, docNotFound(name)
	}
	return decodeHead(it)
}

// version reads one version of the incarnation gen; ENOTFOUND InvalidDocumentVersion when absent.
func (s *DocumentStore) version(ctx context.Context, name, gen string, n int) (*runcmd.DocumentVersion, error) {
	it, err := s.getItem(ctx, name, versionKey(gen, n))
	if err != nil {
		return nil, fmt.Errorf("get document %s version %d: %w", name, n, err)
	}
	if len(it) == 0 {
		return nil, docVersionNotFound(name, runcmd.VersionSelector{Version: n})
	}
	return decodeVersion(it)
}

// AddVersion reads the head, then writes the version, its markers and the head's new pointers in one
// transaction conditioned on NextVersion being unchanged; a lost race is retried.
func (s *DocumentStore) AddVersion(ctx context.Context, v *runcmd.DocumentVersion, latest int) (*runcmd.DocumentInfo, *runcmd.DocumentVersion, error) {
	for attempt := range maxAttempts {
		if attempt > 0 {
			if err := backoff(ctx, attempt); err != nil {
				return nil, nil, err
			}
		}
		h, err := s.head(ctx, v.Name)
		if err != nil {
			return nil, nil, err
		}
		if latest != 0 && latest != h.info.LatestVersion {
			return nil, nil, runcmd.Errorf(runcmd.EINVALID, "InvalidDocumentVersion",
				"Version %d is not the latest version of document %s (the latest is %d).", latest, v.Name, h.info.LatestVersion)
		}
		if h.info.VersionCount >= runcmd.MaxDocumentVersions {
			return nil, nil, runcmd.Errorf(runcmd.ELIMIT, "DocumentVersionLimitExceeded",
				"Document %s has %d versions, the most a document can have. Delete one or more versions and try again.",
				v.Name, runcmd.MaxDocumentVersions)
		}
		ver := *v
		ver.Version = h.next
		vops, err := s.versionItems(h.gen, &ver)
		if err != nil {
			return nil, nil, err
		}
		e := newExprs()
		update := types.TransactWriteItem{Update: &types.Update{
			TableName: aws.String(s.table),
			Key:       docKey(v.Name, docHeadKey),
			UpdateExpression: aws.String(fmt.Sprintf("SET %s = %s, %s = %s ADD %s %s",
				e.name(attrDocLatest), e.value(num(ver.Version)), e.name(attrDocNext), e.value(num(ver.Version+1)),
				e.name(attrDocCount), e.value(num(1)))),
			ConditionExpression: aws.String(fmt.Sprintf("%s = %s AND %s = %s",
				e.name(attrDocNext), e.value(num(ver.Version)), e.name(attrDocGen), e.value(str(h.gen)))),
			ExpressionAttributeNames: e.attrNames(), ExpressionAttributeValues: e.attrValues(),
		}}
		ops := append([]types.TransactWriteItem{update}, vops...)
		_, err = s.client.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: ops})
		reasons, cancelled := cancelReasons(err)
		if !cancelled {
			if err != nil {
				return nil, nil, fmt.Errorf("add version to document %s: %w", v.Name, err)
			}
			info := h.info
			info.LatestVersion, info.VersionCount = ver.Version, h.info.VersionCount+1
			return &info, &ver, nil
		}
		if len(reasons) == len(ops) && reasons[0] != codeConditionFailed {
			if reasons[2] == codeConditionFailed {
				return nil, nil, runcmd.Errorf(runcmd.ECONFLICT, "DuplicateDocumentContent",
					"The content of document %s matches one of its versions. Change the content of the document and try again.", v.Name)
			}
			if len(ops) > 3 && reasons[3] == codeConditionFailed {
				return nil, nil, runcmd.Errorf(runcmd.ECONFLICT, "DuplicateDocumentVersionName",
					"Document %s already has a version named %s.", v.Name, v.VersionName)
			}
		}
		// The head moved (another update, or the document was re-created) or a conflict: read again.
	}
	return nil, nil, runcmd.Errorf(runcmd.ECONFLICT, "TooManyUpdates", "Document %s is being updated concurrently; try again.", v.Name)
}

// GetDocument reads the head.
func (s *DocumentStore) GetDocument(ctx context.Context, name string) (*runcmd.DocumentInfo, error) {
	h, err := s.head(ctx, name)
	if err != nil {
		return nil, err
	}
	return &h.info, nil
}

// GetVersion reads the head, the version-name marker when selecting by name, and the version.
func (s *DocumentStore) GetVersion(ctx context.Context, name string, sel runcmd.VersionSelector) (*runcmd.DocumentInfo, *runcmd.DocumentVersion, error) {
	h, err := s.head(ctx, name)
	if err != nil {
		return nil, nil, err
	}
	var n int
	switch {
	case sel.Version != 0:
		n = sel.Version
	case sel.VersionName != "":
		it, err := s.getItem(ctx, name, nameKey(h.gen, sel.VersionName))
		if err != nil {
			return nil, nil, fmt.Errorf("get document %s version %s: %w", name, sel.VersionName, err)
		}
		if len(it) == 0 {
			return nil, nil, docVersionNotFound(name, sel)
		}
		d := decoder{it: it}
		if n = d.num(attrDocVersion); d.err != nil {
			return nil, nil, fmt.Errorf("get document %s version %s: %w", name, sel.VersionName, d.err)
		}
	case sel.Latest:
		n = h.info.LatestVersion
	default:
		n = h.info.DefaultVersion
	}
	v, err := s.version(ctx, name, h.gen, n)
	if err != nil {
		if runcmd.ErrorCode(err) == runcmd.ENOTFOUND {
			return nil, nil, docVersionNotFound(name, sel)
		}
		return nil, nil, err
	}
	if sel.VersionName != "" && v.VersionName != sel.VersionName {
		return nil, nil, docVersionNotFound(name, sel)
	}
	return &h.info, v, nil
}

// SetDefaultVersion copies the version's Meta into the head, checking in the same transaction that the
// version still exists.
func (s *DocumentStore) SetDefaultVersion(ctx context.Context, name string, version int) (*runcmd.DocumentInfo, error) {
	for attempt := range maxAttempts {
		if attempt > 0 {
			if err := backoff(ctx, attempt); err != nil {
				return nil, err
			}
		}
		h, err := s.head(ctx, name)
		if err != nil {
			return nil, err
		}
		v, err := s.version(ctx, name, h.gen, version)
		if err != nil {
			return nil, err
		}
		meta, err := encodeMeta(v)
		if err != nil {
			return nil, err
		}
		e := newExprs()
		ops := []types.TransactWriteItem{
			{Update: &types.Update{
				TableName: aws.String(s.table),
				Key:       docKey(name, docHeadKey),
				UpdateExpression: aws.String(fmt.Sprintf("SET %s = %s, %s = %s",
					e.name(attrDocDefault), e.value(num(version)), e.name(attrDocMeta), e.value(meta))),
				ConditionExpression:      aws.String(e.name(attrDocGen) + " = " + e.value(str(h.gen))),
				ExpressionAttributeNames: e.attrNames(), ExpressionAttributeValues: e.attrValues(),
			}},
			{ConditionCheck: &types.ConditionCheck{
				TableName:                aws.String(s.table),
				Key:                      docKey(name, versionKey(h.gen, version)),
				ConditionExpression:      aws.String("attribute_exists(#k)"),
				ExpressionAttributeNames: map[string]string{"#k": attrDocKey},
			}},
		}
		_, err = s.client.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: ops})
		reasons, cancelled := cancelReasons(err)
		if !cancelled {
			if err != nil {
				return nil, fmt.Errorf("set default version of %s: %w", name, err)
			}
			info := h.info
			info.DefaultVersion = version
			info.Default = *v
			info.Default.Content = ""
			return &info, nil
		}
		if len(reasons) == 2 && reasons[0] != codeConditionFailed && reasons[1] == codeConditionFailed {
			return nil, docVersionNotFound(name, runcmd.VersionSelector{Version: version})
		}
	}
	return nil, runcmd.Errorf(runcmd.ECONFLICT, "TooManyUpdates", "Document %s is being updated concurrently; try again.", name)
}

// versionListAttrs are the attributes ListVersions reads: everything but Content, which can be 64 KB a
// version.
var versionListAttrs = []string{attrDocName, attrDocKey, attrDocMeta}

// ListVersions queries the incarnation's version items in key (so version number) order.
func (s *DocumentStore) ListVersions(ctx context.Context, name string, limit int, nextToken string) (runcmd.VersionPage, error) {
	h, err := s.head(ctx, name)
	if err != nil {
		return runcmd.VersionPage{}, err
	}
	e := newExprs()
	var proj []string
	for _, a := range versionListAttrs {
		proj = append(proj, e.name(a))
	}
	in := dynamodb.QueryInput{
		TableName: aws.String(s.table),
		KeyConditionExpression: aws.String(fmt.Sprintf("%s = %s AND begins_with(%s, %s)",
			e.name(attrDocName), e.value(str(name)), e.name(attrDocKey), e.value(str(h.gen+"#v#")))),
		ProjectionExpression: aws.String(strings.Join(proj, ", ")),
		ConsistentRead:       aws.Bool(true),
	}
	in.ExpressionAttributeNames, in.ExpressionAttributeValues = e.attrNames(), e.attrValues()
	items, next, err := queryPage(ctx, s.client, in, []string{attrDocName, attrDocKey}, pageSize(limit, defaultPage, defaultPage), nextToken)
	if err != nil {
		return runcmd.VersionPage{}, fmt.Errorf("list versions of %s: %w", name, err)
	}
	p := runcmd.VersionPage{NextToken: next}
	for _, it := range items {
		v, err := decodeVersion(it)
		if err != nil {
			return runcmd.VersionPage{}, err
		}
		p.Versions = append(p.Versions, v)
	}
	return p, nil
}

// DeleteDocument deletes the head and decrements the account count in one transaction (from then on
// the document is gone), then deletes the incarnation's other items.
func (s *DocumentStore) DeleteDocument(ctx context.Context, name string) error {
	h, err := s.head(ctx, name)
	if err != nil {
		return err
	}
	e := newExprs()
	ce := newExprs()
	ops := []types.TransactWriteItem{
		{Delete: &types.Delete{
			TableName:                 aws.String(s.table),
			Key:                       docKey(name, docHeadKey),
			ConditionExpression:       aws.String(ce.name(attrDocGen) + " = " + ce.value(str(h.gen))),
			ExpressionAttributeNames:  ce.attrNames(),
			ExpressionAttributeValues: ce.attrValues(),
		}},
		{Update: &types.Update{
			TableName:                 aws.String(s.table),
			Key:                       docKey(accountName, accountCountKey),
			UpdateExpression:          aws.String("ADD " + e.name(attrDocAccountSize) + " " + e.value(num(-1))),
			ExpressionAttributeNames:  e.attrNames(),
			ExpressionAttributeValues: e.attrValues(),
		}},
	}
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			if attempt == maxAttempts {
				return runcmd.Errorf(runcmd.ECONFLICT, "TooManyUpdates", "Document %s is being updated concurrently; try again.", name)
			}
			if err := backoff(ctx, attempt); err != nil {
				return err
			}
		}
		_, err := s.client.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: ops})
		reasons, cancelled := cancelReasons(err)
		if !cancelled {
			if err != nil {
				return fmt.Errorf("delete document %s: %w", name, err)
			}
			break
		}
		if len(reasons) > 0 && reasons[0] == codeConditionFailed {
			return docNotFound(name) // deleted (or deleted and re-created) meanwhile
		}
	}
	if err := s.purge(ctx, name, h.gen); err != nil {
		return fmt.Errorf("document %s is deleted; removing its versions: %w", name, err)
	}
	return nil
}

// purge deletes every item of one incarnation of a document, 25 per BatchWriteItem.
func (s *DocumentStore) purge(ctx context.Context, name, gen string) error {
	e := newExprs()
	in := &dynamodb.QueryInput{
		TableName: aws.String(s.table),
		KeyConditionExpression: aws.String(fmt.Sprintf("%s = %s AND begins_with(%s, %s)",
			e.name(attrDocName), e.value(str(name)), e.name(attrDocKey), e.value(str(gen+"#")))),
		ProjectionExpression: aws.String(e.name(attrDocName) + ", " + e.name(attrDocKey)),
	}
	in.ExpressionAttributeNames, in.ExpressionAttributeValues = e.attrNames(), e.attrValues()
	for {
		out, err := s.client.Query(ctx, in)
		if err != nil {
			return err
		}
		for chunk := range slices.Chunk(out.Items, 25) {
			var reqs []types.WriteRequest
			for _, it := range chunk {
				reqs = append(reqs, types.WriteRequest{DeleteRequest: &types.DeleteRequest{Key: it}})
			}
			if err := s.batchWrite(ctx, reqs); err != nil {
				return err
			}
		}
		if len(out.LastEvaluatedKey) == 0 {
			return nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}

func (s *DocumentStore) batchWrite(ctx context.Context, reqs []types.WriteRequest) error {
	pending := map[string][]types.WriteRequest{s.table: reqs}
	for attempt := 0; len(pending[s.table]) > 0; attempt++ {
		if attempt > 0 {
			if err := backoff(ctx, attempt); err != nil {
				return err
			}
		}
		out, err := s.client.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: pending})
		if err != nil {
			return err
		}
		pending = out.UnprocessedItems
	}
	return nil
}

// DeleteVersion deletes a version item and its markers and updates the head in one transaction. The
// head's condition (same incarnation, same latest version, version not the default) and, when the
// latest goes, a check that the new latest still exists keep the pointers right under concurrent
// changes.
func (s *DocumentStore) DeleteVersion(ctx context.Context, name string, version int) error {
	for attempt := range maxAttempts {
		if attempt > 0 {
			if err := backoff(ctx, attempt); err != nil {
				return err
			}
		}
		h, err := s.head(ctx, name)
		if err != nil {
			return err
		}
		v, err := s.version(ctx, name, h.gen, version)
		if err != nil {
			return err
		}
		if version == h.info.DefaultVersion {
			return runcmd.Errorf(runcmd.EINVALID, "InvalidDocumentOperation",
				"Version %d is the default version of document %s and can't be deleted.", version, name)
		}
		newLatest := h.info.LatestVersion
		if version == h.info.LatestVersion {
			if newLatest, err = s.previousVersion(ctx, name, h.gen, version); err != nil {
				return err
			}
		}
		e := newExprs()
		set := fmt.Sprintf("SET %s = %s ADD %s %s", e.name(attrDocLatest), e.value(num(newLatest)), e.name(attrDocCount), e.value(num(-1)))
		cond := fmt.Sprintf("%s = %s AND %s = %s AND %s <> %s",
			e.name(attrDocGen), e.value(str(h.gen)), e.name(attrDocLatest), e.value(num(h.info.LatestVersion)),
			e.name(attrDocDefault), e.value(num(version)))
		del := func(key string) types.TransactWriteItem {
			return types.TransactWriteItem{Delete: &types.Delete{TableName: aws.String(s.table), Key: docKey(name, key)}}
		}
		ops := []types.TransactWriteItem{
			{Update: &types.Update{
				TableName: aws.String(s.table), Key: docKey(name, docHeadKey),
				UpdateExpression: aws.String(set), ConditionExpression: aws.String(cond),
				ExpressionAttributeNames: e.attrNames(), ExpressionAttributeValues: e.attrValues(),
			}},
			{Delete: &types.Delete{
				TableName: aws.String(s.table), Key: docKey(name, versionKey(h.gen, version)),
				ConditionExpression:      aws.String("attribute_exists(#k)"),
				ExpressionAttributeNames: map[string]string{"#k": attrDocKey},
			}},
			del(hashKey(h.gen, v.Hash)),
		}
		if v.VersionName != "" {
			ops = append(ops, del(nameKey(h.gen, v.VersionName)))
		}
		if newLatest != h.info.LatestVersion {
			ops = append(ops, types.TransactWriteItem{ConditionCheck: &types.ConditionCheck{
				TableName: aws.String(s.table), Key: docKey(name, versionKey(h.gen, newLatest)),
				ConditionExpression:      aws.String("attribute_exists(#k)"),
				ExpressionAttributeNames: map[string]string{"#k": attrDocKey},
			}})
		}
		_, err = s.client.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: ops})
		if _, cancelled := cancelReasons(err); !cancelled {
			if err != nil {
				return fmt.Errorf("delete document %s version %d: %w", name, version, err)
			}
			return nil
		}
		// Something moved; read again (a vanished version then reports InvalidDocumentVersion).
	}
	return runcmd.Errorf(runcmd.ECONFLICT, "TooManyUpdates", "Document %s is being updated concurrently; try again.", name)
}

// previousVersion returns the highest version number below version, from the version items' keys.
func (s *DocumentStore) previousVersion(ctx context.Context, name, gen string, version int) (int, error) {
	e := newExprs()
	in := &dynamodb.QueryInput{
		TableName: aws.String(s.table),
		KeyConditionExpression: aws.String(fmt.Sprintf("%s = %s AND %s BETWEEN %s AND %s",
			e.name(attrDocName), e.value(str(name)), e.name(attrDocKey),
			e.value(str(versionKey(gen, 0))), e.value(str(versionKey(gen, version-1))))),
		ProjectionExpression: aws.String(e.name(attrDocVersion)),
		ScanIndexForward:     aws.Bool(false),
		Limit:                aws.Int32(1),
		ConsistentRead:       aws.Bool(true),
	}
	in.ExpressionAttributeNames, in.ExpressionAttributeValues = e.attrNames(), e.attrValues()
	out, err := s.client.Query(ctx, in)
	if err != nil {
		return 0, fmt.Errorf("find the version before %d of %s: %w", version, name, err)
	}
	if len(out.Items) == 0 {
		// Only the default can be the last version left, and it is never deleted.
		return 0, fmt.Errorf("find the version before %d of %s: none", version, name)
	}
	d := decoder{it: out.Items[0]}
	n := d.num(attrDocVersion)
	return n, d.err
}

// ListDocuments queries the ByName index (one constant partition: documents are few and rarely
// written). A name prefix and a start name become one key condition.
func (s *DocumentStore) ListDocuments(ctx context.Context, q runcmd.DocumentQuery) (runcmd.DocumentPage, error) {
	limit := pageSize(q.Limit, defaultPage, 0)
	e := newExprs()
	cond := e.name(attrListPK) + " = " + e.value(str(listPK))
	skip := "" // a name the condition includes but the page must not
	switch {
	case q.NamePrefix != "" && q.StartAfter >= q.NamePrefix:
		// Names are ASCII below 0x7f, so prefix+"\x7f" bounds every name with the prefix.
		cond += fmt.Sprintf(" AND %s BETWEEN %s AND %s", e.name(attrDocName), e.value(str(q.StartAfter)), e.value(str(q.NamePrefix+"\x7f")))
		skip = q.StartAfter
	case q.NamePrefix != "":
		cond += fmt.Sprintf(" AND begins_with(%s, %s)", e.name(attrDocName), e.value(str(q.NamePrefix)))
	case q.StartAfter != "":
		cond += fmt.Sprintf(" AND %s > %s", e.name(attrDocName), e.value(str(q.StartAfter)))
	}
	in := &dynamodb.QueryInput{
		TableName:              aws.String(s.table),
		IndexName:              aws.String(indexDocsByName),
		KeyConditionExpression: aws.String(cond),
	}
	in.ExpressionAttributeNames, in.ExpressionAttributeValues = e.attrNames(), e.attrValues()
	var p runcmd.DocumentPage
	for {
		in.Limit = aws.Int32(int32(limit + 2 - len(p.Documents)))
		out, err := s.client.Query(ctx, in)
		if err != nil {
			return runcmd.DocumentPage{}, fmt.Errorf("list documents: %w", err)
		}
		for _, it := range out.Items {
			h, err := decodeHead(it)
			if err != nil {
				return runcmd.DocumentPage{}, err
			}
			if h.info.Name == skip {
				continue
			}
			if len(p.Documents) == limit {
				p.More = true
				return p, nil
			}
			p.Documents = append(p.Documents, &h.info)
		}
		if len(out.LastEvaluatedKey) == 0 {
			return p, nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}

// AddTags merges tags into the head's map.
func (s *DocumentStore) AddTags(ctx context.Context, name string, tags map[string]string) (map[string]string, error) {
	return s.updateTags(ctx, name, func(cur map[string]string) error {
		maps.Copy(cur, tags)
		if len(cur) > runcmd.MaxDocumentTags {
			return runcmd.Errorf(runcmd.ELIMIT, "TooManyTagsError", "Document %s can carry at most %d tags.", name, runcmd.MaxDocumentTags)
		}
		return nil
	})
}

// RemoveTags removes keys from the head's map.
func (s *DocumentStore) RemoveTags(ctx context.Context, name string, keys []string) (map[string]string, error) {
	return s.updateTags(ctx, name, func(cur map[string]string) error {
		for _, k := range keys {
			delete(cur, k)
		}
		return nil
	})
}

// updateTags reads the tags, changes them and writes them back conditioned on TagsRev, retrying lost
// races; the limit is checked on the merged map, which a single update expression could not do.
func (s *DocumentStore) updateTags(ctx context.Context, name string, change func(map[string]string) error) (map[string]string, error) {
	for attempt := range maxAttempts {
		if attempt > 0 {
			if err := backoff(ctx, attempt); err != nil {
				return nil, err
			}
		}
		h, err := s.head(ctx, name)
		if err != nil {
			return nil, err
		}
		tags := h.info.Tags
		if err := change(tags); err != nil {
			return nil, err
		}
		e := newExprs()
		_, err = s.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName: aws.String(s.table),
			Key:       docKey(name, docHeadKey),
			UpdateExpression: aws.String(fmt.Sprintf("SET %s = %s, %s = %s",
				e.name(attrDocTags), e.value(tagsAttr(tags)), e.name(attrDocTagsRev), e.value(num(h.tagsRev+1)))),
			ConditionExpression: aws.String(fmt.Sprintf("%s = %s AND %s = %s",
				e.name(attrDocGen), e.value(str(h.gen)), e.name(attrDocTagsRev), e.value(num(h.tagsRev)))),
			ExpressionAttributeNames: e.attrNames(), ExpressionAttributeValues: e.attrValues(),
		})
		if err == nil {
			return tags, nil
		}
		if !isConditionFailed(err) {
			return nil, fmt.Errorf("tag document %s: %w", name, err)
		}
	}
	return nil, runcmd.Errorf(runcmd.ECONFLICT, "TooManyUpdates", "Document %s is being updated concurrently; try again.", name)
}
