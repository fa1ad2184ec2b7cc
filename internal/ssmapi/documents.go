package ssmapi

import (
	"context"
	"fmt"

	"github.com/runcmd/runcmd/internal/service"
)

var (
	documentFilterKeys = []string{"Name", "Owner", "PlatformTypes", "DocumentType"}
	documentFormats    = []string{"YAML", "JSON", "TEXT"}
)

type documentFilterRequest struct {
	Key   *string `json:"key"`
	Value *string `json:"value"`
}

type documentKeyValuesFilterRequest struct {
	Key    *string  `json:"Key"`
	Values []string `json:"Values"`
}

type listDocumentsRequest struct {
	DocumentFilterList []documentFilterRequest          `json:"DocumentFilterList"`
	Filters            []documentKeyValuesFilterRequest `json:"Filters"`
	MaxResults         *int                             `json:"MaxResults"`
	NextToken          *string                          `json:"NextToken"`
}

func (r *listDocumentsRequest) validate() error {
	var v violations
	v.listLen("documentFilterList", r.DocumentFilterList != nil, len(r.DocumentFilterList),
		func() string { return fmt.Sprintf("%d filters", len(r.DocumentFilterList)) }, 1, -1)
	for i, f := range r.DocumentFilterList {
		path := fmt.Sprintf("documentFilterList.%d.member", i+1)
		v.required(path+".key", f.Key != nil)
		v.enum(path+".key", f.Key, documentFilterKeys)
		v.required(path+".value", f.Value != nil)
		v.str(path+".value", f.Value, 1, -1, nil)
	}
	v.listLen("filters", r.Filters != nil, len(r.Filters),
		func() string { return fmt.Sprintf("%d filters", len(r.Filters)) }, 0, 6)
	for i, f := range r.Filters {
		path := fmt.Sprintf("filters.%d.member", i+1)
		v.str(path+".key", f.Key, 1, 128, nil)
		v.strList(path+".values", f.Values, 0, -1, memberPattern(1, 256, nil))
	}
	v.intRange("maxResults", r.MaxResults, 1, 50)
	return v.err()
}

func listDocuments(ctx context.Context, b Backend, r *listDocumentsRequest) (any, error) {
	in := service.ListDocumentsInput{MaxResults: derefInt(r.MaxResults), NextToken: deref(r.NextToken)}
	// The deprecated DocumentFilterList becomes one-value Filters; SSM documents no conflict between
	// the two, so both apply.
	for _, f := range r.DocumentFilterList {
		in.Filters = append(in.Filters, service.DocumentFilter{Key: deref(f.Key), Values: []string{deref(f.Value)}})
	}
	for _, f := range r.Filters {
		in.Filters = append(in.Filters, service.DocumentFilter{Key: deref(f.Key), Values: f.Values})
	}
	out, err := b.ListDocuments(ctx, in)
	if err != nil {
		return nil, err
	}
	ids := make([]documentIdentifierJSON, 0, len(out.Documents))
	for _, d := range out.Documents {
		ids = append(ids, toDocumentIdentifier(d))
	}
	return struct {
		DocumentIdentifiers []documentIdentifierJSON `json:"DocumentIdentifiers"`
		NextToken           string                   `json:"NextToken,omitempty"`
	}{ids, out.NextToken}, nil
}

type describeDocumentRequest struct {
	Name            *string `json:"Name"`
	DocumentVersion *string `json:"DocumentVersion"`
	VersionName     *string `json:"VersionName"`
}

func (r *describeDocumentRequest) validate() error {
	var v violations
	v.required("name", r.Name != nil)
	v.str("name", r.Name, 0, -1, &patDocumentARN)
	v.str("documentVersion", r.DocumentVersion, 0, -1, &patDocumentVersion)
	v.str("versionName", r.VersionName, 0, -1, &patVersionName)
	return v.err()
}

func describeDocument(ctx context.Context, b Backend, r *describeDocumentRequest) (any, error) {
	d, err := b.DescribeDocument(ctx, deref(r.Name), deref(r.DocumentVersion), deref(r.VersionName))
	if err != nil {
		return nil, err
	}
	return struct {
		Document documentDescriptionJSON `json:"Document"`
	}{toDocumentDescription(d)}, nil
}

type getDocumentRequest struct {
	Name            *string `json:"Name"`
	VersionName     *string `json:"VersionName"`
	DocumentVersion *string `json:"DocumentVersion"`
	DocumentFormat  *string `json:"DocumentFormat"`
}

func (r *getDocumentRequest) validate() error {
	var v violations
	v.required("name", r.Name != nil)
	v.str("name", r.Name, 0, -1, &patDocumentARN)
	v.str("versionName", r.VersionName, 0, -1, &patVersionName)
	v.str("documentVersion", r.DocumentVersion, 0, -1, &patDocumentVersion)
	v.enum("documentFormat", r.DocumentFormat, documentFormats)
	return v.err()
}

type getDocumentResponse struct {
	Name            string `json:"Name"`
	CreatedDate     epoch  `json:"CreatedDate,omitzero"`
	DisplayName     string `json:"DisplayName,omitempty"`
	VersionName     string `json:"VersionName,omitempty"`
	DocumentVersion string `json:"DocumentVersion"`
	Status          string `json:"Status"`
	Content         string `json:"Content"`
	DocumentType    string `json:"DocumentType"`
	DocumentFormat  string `json:"DocumentFormat"`
}

func getDocument(ctx context.Context, b Backend, r *getDocumentRequest) (any, error) {
	d, err := b.GetDocument(ctx, service.GetDocumentInput{
		Name:            deref(r.Name),
		DocumentVersion: deref(r.DocumentVersion),
		VersionName:     deref(r.VersionName),
		DocumentFormat:  deref(r.DocumentFormat),
	})
	if err != nil {
		return nil, err
	}
	return getDocumentResponse{
		Name:            d.Name,
		CreatedDate:     epoch(d.CreatedDate),
		DisplayName:     d.DisplayName,
		VersionName:     d.VersionName,
		DocumentVersion: d.DocumentVersion,
		Status:          d.Status,
		Content:         d.Content,
		DocumentType:    d.DocumentType,
		DocumentFormat:  d.DocumentFormat,
	}, nil
}
