package ssmapi

import (
	"cmp"
	"context"
	"fmt"

	"github.com/runcmd/runcmd"
	"github.com/runcmd/runcmd/internal/service"
)

// DocumentBackend is what the document-management and tagging operations need, beyond Backend. It is
// a separate interface so that backends serving Run Command only keep working; the handler answers
// these operations with UnsupportedOperationException when its backend lacks them.
type DocumentBackend interface {
	CreateDocument(ctx context.Context, in service.CreateDocumentInput) (service.DocumentDescription, error)
	UpdateDocument(ctx context.Context, in service.UpdateDocumentInput) (service.DocumentDescription, error)
	UpdateDocumentDefaultVersion(ctx context.Context, name, version string) (service.DocumentDefaultVersion, error)
	ListDocumentVersions(ctx context.Context, in service.ListDocumentVersionsInput) (service.ListDocumentVersionsOutput, error)
	DeleteDocument(ctx context.Context, in service.DeleteDocumentInput) error
	AddTagsToResource(ctx context.Context, resourceType, resourceID string, tags map[string]string) error
	RemoveTagsFromResource(ctx context.Context, resourceType, resourceID string, keys []string) error
	ListTagsForResource(ctx context.Context, resourceType, resourceID string) (map[string]string, error)
}

// The service serves every operation.
var _ interface {
	Backend
	DocumentBackend
} = (*service.API)(nil)

var (
	patDocumentName         = newPattern(`^[a-zA-Z0-9_\-.]{3,128}$`)
	patDisplayName          = newPattern(`^[\w\.\-\:\/ ]*$`)
	patTargetType           = newPattern(`^\/[\w\.\-\:\/]*$`)
	patDocumentVersionNum   = newPattern(`(^[1-9][0-9]*$)`)
	patTag                  = newPattern(`^([\p{L}\p{Z}\p{N}_.:/=+\-@]*)$`)
	patRequireType          = newPattern(`^[a-zA-Z0-9_\-.]{1,128}$`)
	documentTypes           = []string{"Command", "Policy", "Automation", "Session", "Package", "ApplicationConfiguration", "ApplicationConfigurationSchema", "DeploymentStrategy", "ChangeCalendar", "Automation.ChangeTemplate", "ProblemAnalysis", "ProblemAnalysisTemplate", "CloudFormation", "ConformancePackTemplate", "QuickSetup", "ManualApprovalPolicy", "AutoApprovalPolicy"}
	attachmentsSourceKeys   = []string{"SourceUrl", "S3FileUrl", "AttachmentReference"}
	resourceTypesForTagging = []string{"Document", "ManagedInstance", "MaintenanceWindow", "Parameter", "PatchBaseline", "OpsItem", "OpsMetadata", "Automation", "Association"}
)

// documentOp adapts an operation on DocumentBackend to the table's form.
func documentOp[In any, PIn interface {
	*In
	request
}, Out any](fn func(ctx context.Context, b DocumentBackend, in *In) (Out, error)) func(context.Context, Backend, []byte) (any, error) {
	return handle[In, PIn](func(ctx context.Context, b Backend, in *In) (Out, error) {
		d, ok := b.(DocumentBackend)
		if !ok {
			var zero Out
			return zero, runcmd.Errorf(runcmd.EINVALID, "UnsupportedOperationException", "This endpoint does not manage documents or tags.")
		}
		return fn(ctx, d, in)
	})
}

type tagRequest struct {
	Key   *string `json:"Key"`
	Value *string `json:"Value"`
}

type documentRequiresRequest struct {
	Name        *string `json:"Name"`
	Version     *string `json:"Version"`
	RequireType *string `json:"RequireType"`
	VersionName *string `json:"VersionName"`
}

type attachmentsSourceRequest struct {
	Key    *string  `json:"Key"`
	Values []string `json:"Values"`
	Name   *string  `json:"Name"`
}

// tags checks a TagList member.
func (v *violations) tags(path string, tags []tagRequest) {
	v.listLen(path, tags != nil, len(tags), func() string { return fmt.Sprintf("%d tags", len(tags)) }, 0, 1000)
	for i, t := range tags {
		p := fmt.Sprintf("%s.%d.member", path, i+1)
		v.required(p+".key", t.Key != nil)
		v.str(p+".key", t.Key, 1, 128, &patTag)
		v.required(p+".value", t.Value != nil)
		v.str(p+".value", t.Value, 0, 256, &patTag)
	}
}

func (v *violations) attachments(path string, list []attachmentsSourceRequest) {
	v.listLen(path, list != nil, len(list), func() string { return fmt.Sprintf("%d attachments", len(list)) }, 0, 20)
	for i, a := range list {
		p := fmt.Sprintf("%s.%d.member", path, i+1)
		v.enum(p+".key", a.Key, attachmentsSourceKeys)
		v.strList(p+".values", a.Values, 1, 1, memberPattern(1, 1024, nil))
		v.str(p+".name", a.Name, 0, -1, &patDocumentName)
	}
}

func tagMap(tags []tagRequest) map[string]string {
	if tags == nil {
		return nil
	}
	m := make(map[string]string, len(tags))
	for _, t := range tags {
		m[deref(t.Key)] = deref(t.Value)
	}
	return m
}

func attachmentNames(list []attachmentsSourceRequest) []string {
	var out []string
	for _, a := range list {
		out = append(out, cmp.Or(deref(a.Name), deref(a.Key), "attachment"))
	}
	return out
}

type createDocumentRequest struct {
	Content        *string                    `json:"Content"`
	Requires       []documentRequiresRequest  `json:"Requires"`
	Attachments    []attachmentsSourceRequest `json:"Attachments"`
	Name           *string                    `json:"Name"`
	DisplayName    *string                    `json:"DisplayName"`
	VersionName    *string                    `json:"VersionName"`
	DocumentType   *string                    `json:"DocumentType"`
	DocumentFormat *string                    `json:"DocumentFormat"`
	TargetType     *string                    `json:"TargetType"`
	Tags           []tagRequest               `json:"Tags"`
}

func (r *createDocumentRequest) validate() error {
	var v violations
	v.required("content", r.Content != nil)
	v.str("content", r.Content, 1, -1, nil)
	v.listLen("requires", r.Requires != nil, len(r.Requires), func() string { return fmt.Sprintf("%d requirements", len(r.Requires)) }, 1, -1)
	for i, q := range r.Requires {
		p := fmt.Sprintf("requires.%d.member", i+1)
		v.required(p+".name", q.Name != nil)
		v.str(p+".name", q.Name, 0, -1, &patDocumentARN)
		v.str(p+".version", q.Version, 0, -1, &patDocumentVersion)
		v.str(p+".requireType", q.RequireType, 0, 128, &patRequireType)
		v.str(p+".versionName", q.VersionName, 0, -1, &patVersionName)
	}
	v.attachments("attachments", r.Attachments)
	v.required("name", r.Name != nil)
	v.str("name", r.Name, 0, -1, &patDocumentName)
	v.str("displayName", r.DisplayName, 0, 1024, &patDisplayName)
	v.str("versionName", r.VersionName, 0, -1, &patVersionName)
	v.enum("documentType", r.DocumentType, documentTypes)
	v.enum("documentFormat", r.DocumentFormat, documentFormats)
	v.str("targetType", r.TargetType, 0, 200, &patTargetType)
	v.tags("tags", r.Tags)
	return v.err()
}

type documentDescriptionResponse struct {
	DocumentDescription documentDescriptionJSON `json:"DocumentDescription"`
}

func createDocument(ctx context.Context, b DocumentBackend, r *createDocumentRequest) (any, error) {
	in := service.CreateDocumentInput{
		Content:        deref(r.Content),
		Name:           deref(r.Name),
		DisplayName:    deref(r.DisplayName),
		VersionName:    deref(r.VersionName),
		DocumentType:   deref(r.DocumentType),
		DocumentFormat: deref(r.DocumentFormat),
		TargetType:     deref(r.TargetType),
		Tags:           tagMap(r.Tags),
		Attachments:    attachmentNames(r.Attachments),
	}
	for _, q := range r.Requires {
		in.Requires = append(in.Requires, deref(q.Name))
	}
	d, err := b.CreateDocument(ctx, in)
	if err != nil {
		return nil, err
	}
	return documentDescriptionResponse{toDocumentDescription(d)}, nil
}

type updateDocumentRequest struct {
	Content         *string                    `json:"Content"`
	Attachments     []attachmentsSourceRequest `json:"Attachments"`
	Name            *string                    `json:"Name"`
	DisplayName     *string                    `json:"DisplayName"`
	VersionName     *string                    `json:"VersionName"`
	DocumentVersion *string                    `json:"DocumentVersion"`
	DocumentFormat  *string                    `json:"DocumentFormat"`
	TargetType      *string                    `json:"TargetType"`
}

func (r *updateDocumentRequest) validate() error {
	var v violations
	v.required("content", r.Content != nil)
	v.str("content", r.Content, 1, -1, nil)
	v.attachments("attachments", r.Attachments)
	v.required("name", r.Name != nil)
	v.str("name", r.Name, 0, -1, &patDocumentName)
	v.str("displayName", r.DisplayName, 0, 1024, &patDisplayName)
	v.str("versionName", r.VersionName, 0, -1, &patVersionName)
	v.str("documentVersion", r.DocumentVersion, 0, -1, &patDocumentVersion)
	v.enum("documentFormat", r.DocumentFormat, documentFormats)
	v.str("targetType", r.TargetType, 0, 200, &patTargetType)
	return v.err()
}

func updateDocument(ctx context.Context, b DocumentBackend, r *updateDocumentRequest) (any, error) {
	d, err := b.UpdateDocument(ctx, service.UpdateDocumentInput{
		Content:         deref(r.Content),
		Name:            deref(r.Name),
		DocumentVersion: deref(r.DocumentVersion),
		VersionName:     deref(r.VersionName),
		DisplayName:     deref(r.DisplayName),
		DocumentFormat:  deref(r.DocumentFormat),
		TargetType:      deref(r.TargetType),
		Attachments:     attachmentNames(r.Attachments),
	})
	if err != nil {
		return nil, err
	}
	return documentDescriptionResponse{toDocumentDescription(d)}, nil
}

type updateDocumentDefaultVersionRequest struct {
	Name            *string `json:"Name"`
	DocumentVersion *string `json:"DocumentVersion"`
}

func (r *updateDocumentDefaultVersionRequest) validate() error {
	var v violations
	v.required("name", r.Name != nil)
	v.str("name", r.Name, 0, -1, &patDocumentName)
	v.required("documentVersion", r.DocumentVersion != nil)
	v.str("documentVersion", r.DocumentVersion, 0, -1, &patDocumentVersionNum)
	return v.err()
}

type documentDefaultVersionJSON struct {
	Name               string `json:"Name"`
	DefaultVersion     string `json:"DefaultVersion"`
	DefaultVersionName string `json:"DefaultVersionName,omitempty"`
}

func updateDocumentDefaultVersion(ctx context.Context, b DocumentBackend, r *updateDocumentDefaultVersionRequest) (any, error) {
	d, err := b.UpdateDocumentDefaultVersion(ctx, deref(r.Name), deref(r.DocumentVersion))
	if err != nil {
		return nil, err
	}
	return struct {
		Description documentDefaultVersionJSON `json:"Description"`
	}{documentDefaultVersionJSON(d)}, nil
}

type listDocumentVersionsRequest struct {
	Name       *string `json:"Name"`
	MaxResults *int    `json:"MaxResults"`
	NextToken  *string `json:"NextToken"`
}

func (r *listDocumentVersionsRequest) validate() error {
	var v violations
	v.required("name", r.Name != nil)
	v.str("name", r.Name, 0, -1, &patDocumentARN)
	v.intRange("maxResults", r.MaxResults, 1, 50)
	return v.err()
}

type documentVersionInfoJSON struct {
	Name             string `json:"Name"`
	DisplayName      string `json:"DisplayName,omitempty"`
	DocumentVersion  string `json:"DocumentVersion"`
	VersionName      string `json:"VersionName,omitempty"`
	CreatedDate      epoch  `json:"CreatedDate,omitzero"`
	IsDefaultVersion bool   `json:"IsDefaultVersion"`
	DocumentFormat   string `json:"DocumentFormat"`
	Status           string `json:"Status"`
}

func listDocumentVersions(ctx context.Context, b DocumentBackend, r *listDocumentVersionsRequest) (any, error) {
	out, err := b.ListDocumentVersions(ctx, service.ListDocumentVersionsInput{
		Name: deref(r.Name), MaxResults: derefInt(r.MaxResults), NextToken: deref(r.NextToken),
	})
	if err != nil {
		return nil, err
	}
	versions := make([]documentVersionInfoJSON, 0, len(out.Versions))
	for _, v := range out.Versions {
		versions = append(versions, documentVersionInfoJSON{
			Name:             v.Name,
			DisplayName:      v.DisplayName,
			DocumentVersion:  v.DocumentVersion,
			VersionName:      v.VersionName,
			CreatedDate:      epoch(v.CreatedDate),
			IsDefaultVersion: v.IsDefaultVersion,
			DocumentFormat:   v.DocumentFormat,
			Status:           v.Status,
		})
	}
	return struct {
		DocumentVersions []documentVersionInfoJSON `json:"DocumentVersions"`
		NextToken        string                    `json:"NextToken,omitempty"`
	}{versions, out.NextToken}, nil
}

type deleteDocumentRequest struct {
	Name            *string `json:"Name"`
	DocumentVersion *string `json:"DocumentVersion"`
	VersionName     *string `json:"VersionName"`
	Force           *bool   `json:"Force"`
}

func (r *deleteDocumentRequest) validate() error {
	var v violations
	v.required("name", r.Name != nil)
	v.str("name", r.Name, 0, -1, &patDocumentName)
	v.str("documentVersion", r.DocumentVersion, 0, -1, &patDocumentVersion)
	v.str("versionName", r.VersionName, 0, -1, &patVersionName)
	return v.err()
}

func deleteDocument(ctx context.Context, b DocumentBackend, r *deleteDocumentRequest) (any, error) {
	err := b.DeleteDocument(ctx, service.DeleteDocumentInput{
		Name: deref(r.Name), DocumentVersion: deref(r.DocumentVersion), VersionName: deref(r.VersionName),
		Force: r.Force != nil && *r.Force,
	})
	if err != nil {
		return nil, err
	}
	return struct{}{}, nil
}

type addTagsToResourceRequest struct {
	ResourceType *string      `json:"ResourceType"`
	ResourceID   *string      `json:"ResourceId"`
	Tags         []tagRequest `json:"Tags"`
}

func (r *addTagsToResourceRequest) validate() error {
	var v violations
	v.required("resourceType", r.ResourceType != nil)
	v.enum("resourceType", r.ResourceType, resourceTypesForTagging)
	v.required("resourceId", r.ResourceID != nil)
	v.required("tags", r.Tags != nil)
	v.tags("tags", r.Tags)
	return v.err()
}

func addTagsToResource(ctx context.Context, b DocumentBackend, r *addTagsToResourceRequest) (any, error) {
	if err := b.AddTagsToResource(ctx, deref(r.ResourceType), deref(r.ResourceID), tagMap(r.Tags)); err != nil {
		return nil, err
	}
	return struct{}{}, nil
}

type removeTagsFromResourceRequest struct {
	ResourceType *string  `json:"ResourceType"`
	ResourceID   *string  `json:"ResourceId"`
	TagKeys      []string `json:"TagKeys"`
}

func (r *removeTagsFromResourceRequest) validate() error {
	var v violations
	v.required("resourceType", r.ResourceType != nil)
	v.enum("resourceType", r.ResourceType, resourceTypesForTagging)
	v.required("resourceId", r.ResourceID != nil)
	v.required("tagKeys", r.TagKeys != nil)
	v.strList("tagKeys", r.TagKeys, 0, -1, memberPattern(1, 128, &patTag))
	return v.err()
}

func removeTagsFromResource(ctx context.Context, b DocumentBackend, r *removeTagsFromResourceRequest) (any, error) {
	if err := b.RemoveTagsFromResource(ctx, deref(r.ResourceType), deref(r.ResourceID), r.TagKeys); err != nil {
		return nil, err
	}
	return struct{}{}, nil
}

type listTagsForResourceRequest struct {
	ResourceType *string `json:"ResourceType"`
	ResourceID   *string `json:"ResourceId"`
}

func (r *listTagsForResourceRequest) validate() error {
	var v violations
	v.required("resourceType", r.ResourceType != nil)
	v.enum("resourceType", r.ResourceType, resourceTypesForTagging)
	v.required("resourceId", r.ResourceID != nil)
	return v.err()
}

func listTagsForResource(ctx context.Context, b DocumentBackend, r *listTagsForResourceRequest) (any, error) {
	tags, err := b.ListTagsForResource(ctx, deref(r.ResourceType), deref(r.ResourceID))
	if err != nil {
		return nil, err
	}
	return struct {
		TagList []tagJSON `json:"TagList"`
	}{toTags(tags)}, nil
}
