package ssmapi

import (
	"context"
	"errors"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/aws/smithy-go"
	"github.com/google/go-cmp/cmp"

	"github.com/runcmd/runcmd"
	"github.com/runcmd/runcmd/internal/fake"
	"github.com/runcmd/runcmd/internal/service"
)

const greeterYAML = `schemaVersion: '2.2'
description: Greets someone.
parameters:
  name:
    type: String
    allowedPattern: '^[a-z]+$'
mainSteps:
  - action: aws:runShellScript
    name: greet
    inputs:
      runCommand:
        - echo hello {{ name }}
`

const greeterV2 = `{"schemaVersion":"2.2","description":"Greets twice.","parameters":{"name":{"type":"String"}},` +
	`"mainSteps":[{"action":"aws:runShellScript","name":"greet","inputs":{"runCommand":["echo hi {{ name }}","echo hi {{ name }}"]}}]}`

// newServiceClient serves a real service.API over the in-memory fakes and returns an SDK client for it.
func newServiceClient(t *testing.T) (*ssm.Client, *service.API) {
	t.Helper()
	docs, err := service.NewStoreDocuments(fake.NewDocumentStore(), "111122223333")
	if err != nil {
		t.Fatal(err)
	}
	api := service.NewAPI(fake.NewCommandStore(), fake.NewInstanceStore(), fake.NewDispatchQueue(), docs)
	srv := httptest.NewServer(NewHandler(api, nil))
	t.Cleanup(srv.Close)
	return ssm.New(ssm.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(srv.URL),
		Credentials:  credentials.NewStaticCredentialsProvider("test", "test", ""),
		Retryer:      aws.NopRetryer{},
		HTTPClient:   srv.Client(),
	}), api
}

// wantAPIError fails unless err is the SSM error named code.
func wantAPIError(t *testing.T, err error, code string) {
	t.Helper()
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("error %v is not an API error, want %s", err, code)
	}
	if ae.ErrorCode() != code {
		t.Fatalf("error code %s (%s), want %s", ae.ErrorCode(), ae.ErrorMessage(), code)
	}
}

// The walk-through, through the SDK: create a YAML document with an allowedPattern parameter,
// describe, update, set the default, list versions, fetch as JSON, list with filters, send with a
// good and a bad parameter, tag, delete.
func TestSDKDocumentLifecycle(t *testing.T) {
	t.Parallel()
	c, api := newServiceClient(t)
	ctx := context.Background()

	created, err := c.CreateDocument(ctx, &ssm.CreateDocumentInput{
		Name: aws.String("Greeter"), Content: aws.String(greeterYAML), DocumentFormat: types.DocumentFormatYaml,
		DocumentType: types.DocumentTypeCommand, VersionName: aws.String("first"), DisplayName: aws.String("Greeter doc"),
		TargetType: aws.String("/AWS::EC2::Instance"), Tags: []types.Tag{{Key: aws.String("team"), Value: aws.String("ops")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	d := created.DocumentDescription
	if aws.ToString(d.Name) != "Greeter" || aws.ToString(d.DocumentVersion) != "1" || aws.ToString(d.DefaultVersion) != "1" ||
		aws.ToString(d.LatestVersion) != "1" || d.Status != types.DocumentStatusActive || d.DocumentFormat != types.DocumentFormatYaml ||
		d.DocumentType != types.DocumentTypeCommand || aws.ToString(d.Owner) != "111122223333" || aws.ToString(d.VersionName) != "first" ||
		aws.ToString(d.DisplayName) != "Greeter doc" || aws.ToString(d.TargetType) != "/AWS::EC2::Instance" ||
		d.HashType != types.DocumentHashTypeSha256 || len(aws.ToString(d.Hash)) != 64 || aws.ToString(d.SchemaVersion) != "2.2" ||
		d.CreatedDate == nil || aws.ToString(d.Description) != "Greets someone." {
		t.Errorf("CreateDocument description: %+v", d)
	}
	if diff := cmp.Diff([]types.PlatformType{types.PlatformTypeLinux, types.PlatformType("MacOS")}, d.PlatformTypes); diff != "" {
		t.Errorf("PlatformTypes (-want +got):\n%s", diff)
	}
	if len(d.Parameters) != 1 || aws.ToString(d.Parameters[0].Name) != "name" || d.Parameters[0].Type != types.DocumentParameterTypeString {
		t.Errorf("Parameters: %+v", d.Parameters)
	}
	if len(d.Tags) != 1 || aws.ToString(d.Tags[0].Key) != "team" {
		t.Errorf("Tags: %+v", d.Tags)
	}

	updated, err := c.UpdateDocument(ctx, &ssm.UpdateDocumentInput{
		Name: aws.String("Greeter"), Content: aws.String(greeterV2), DocumentVersion: aws.String("$LATEST"), VersionName: aws.String("second"),
	})
	if err != nil {
		t.Fatal(err)
	}
	u := updated.DocumentDescription
	if aws.ToString(u.DocumentVersion) != "2" || aws.ToString(u.DefaultVersion) != "1" || aws.ToString(u.LatestVersion) != "2" ||
		u.DocumentFormat != types.DocumentFormatJson || aws.ToString(u.DisplayName) != "Greeter doc" {
		t.Errorf("UpdateDocument description: %+v", u)
	}
	_, err = c.UpdateDocument(ctx, &ssm.UpdateDocumentInput{Name: aws.String("Greeter"), Content: aws.String(greeterV2)})
	var dup *types.DuplicateDocumentContent
	if !errors.As(err, &dup) {
		t.Errorf("identical update: %v, want DuplicateDocumentContent", err)
	}

	def, err := c.UpdateDocumentDefaultVersion(ctx, &ssm.UpdateDocumentDefaultVersionInput{Name: aws.String("Greeter"), DocumentVersion: aws.String("2")})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(def.Description.DefaultVersion) != "2" || aws.ToString(def.Description.DefaultVersionName) != "second" {
		t.Errorf("UpdateDocumentDefaultVersion: %+v", def.Description)
	}

	var versions []string
	p := ssm.NewListDocumentVersionsPaginator(c, &ssm.ListDocumentVersionsInput{Name: aws.String("Greeter"), MaxResults: aws.Int32(1)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range page.DocumentVersions {
			versions = append(versions, aws.ToString(v.DocumentVersion)+"/"+aws.ToString(v.VersionName)+"/"+
				map[bool]string{true: "default", false: "-"}[v.IsDefaultVersion]+"/"+string(v.DocumentFormat)+"/"+string(v.Status))
			if v.CreatedDate == nil {
				t.Errorf("version %s has no CreatedDate", aws.ToString(v.DocumentVersion))
			}
		}
	}
	if diff := cmp.Diff([]string{"1/first/-/YAML/Active", "2/second/default/JSON/Active"}, versions); diff != "" {
		t.Errorf("ListDocumentVersions (-want +got):\n%s", diff)
	}

	got, err := c.GetDocument(ctx, &ssm.GetDocumentInput{Name: aws.String("Greeter"), VersionName: aws.String("first"), DocumentFormat: types.DocumentFormatJson})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(aws.ToString(got.Content), "{") || got.DocumentFormat != types.DocumentFormatJson || aws.ToString(got.DocumentVersion) != "1" {
		t.Errorf("GetDocument as JSON: %s %s %q", aws.ToString(got.DocumentVersion), got.DocumentFormat, aws.ToString(got.Content))
	}

	listed, err := c.ListDocuments(ctx, &ssm.ListDocumentsInput{Filters: []types.DocumentKeyValuesFilter{
		{Key: aws.String("Owner"), Values: []string{"Self"}},
		{Key: aws.String("PlatformTypes"), Values: []string{"Linux"}},
		{Key: aws.String("tag:team"), Values: []string{"ops"}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if len(listed.DocumentIdentifiers) != 1 || aws.ToString(listed.DocumentIdentifiers[0].Name) != "Greeter" ||
		aws.ToString(listed.DocumentIdentifiers[0].DocumentVersion) != "2" {
		t.Errorf("ListDocuments Self: %+v", listed.DocumentIdentifiers)
	}
	legacy, err := c.ListDocuments(ctx, &ssm.ListDocumentsInput{DocumentFilterList: []types.DocumentFilter{
		{Key: types.DocumentFilterKeyName, Value: aws.String("Gre")},
	}})
	if err != nil || len(legacy.DocumentIdentifiers) != 1 {
		t.Errorf("ListDocuments DocumentFilterList: %+v, %v", legacy.DocumentIdentifiers, err)
	}

	// Send: the default is now version 2 (no pattern); version 1 refuses a value breaking its pattern.
	node := runcmd.Heartbeat{InstanceID: "mi-00000000000000001", PlatformType: "Linux", QueueURL: "q"}
	if err := api.Instances.RecordHeartbeat(ctx, node); err != nil {
		t.Fatal(err)
	}
	_, err = c.SendCommand(ctx, &ssm.SendCommandInput{DocumentName: aws.String("Greeter"), DocumentVersion: aws.String("1"),
		InstanceIds: []string{node.InstanceID}, Parameters: map[string][]string{"name": {"Bob; touch /tmp/x"}}})
	var badParams *types.InvalidParameters
	if !errors.As(err, &badParams) {
		t.Errorf("SendCommand with a bad parameter: %v, want InvalidParameters", err)
	}
	sent, err := c.SendCommand(ctx, &ssm.SendCommandInput{DocumentName: aws.String("Greeter"), DocumentVersion: aws.String("1"),
		DocumentHash: d.Hash, DocumentHashType: types.DocumentHashTypeSha256,
		InstanceIds: []string{node.InstanceID}, Parameters: map[string][]string{"name": {"bob"}}})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(sent.Command.DocumentName) != "Greeter" || aws.ToString(sent.Command.DocumentVersion) != "1" {
		t.Errorf("sent command: %+v", sent.Command)
	}

	if _, err := c.AddTagsToResource(ctx, &ssm.AddTagsToResourceInput{ResourceType: types.ResourceTypeForTaggingDocument,
		ResourceId: aws.String("Greeter"), Tags: []types.Tag{{Key: aws.String("env"), Value: aws.String("prod")}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.RemoveTagsFromResource(ctx, &ssm.RemoveTagsFromResourceInput{ResourceType: types.ResourceTypeForTaggingDocument,
		ResourceId: aws.String("Greeter"), TagKeys: []string{"team"}}); err != nil {
		t.Fatal(err)
	}
	tags, err := c.ListTagsForResource(ctx, &ssm.ListTagsForResourceInput{ResourceType: types.ResourceTypeForTaggingDocument, ResourceId: aws.String("Greeter")})
	if err != nil {
		t.Fatal(err)
	}
	if len(tags.TagList) != 1 || aws.ToString(tags.TagList[0].Key) != "env" || aws.ToString(tags.TagList[0].Value) != "prod" {
		t.Errorf("ListTagsForResource: %+v", tags.TagList)
	}

	_, err = c.DeleteDocument(ctx, &ssm.DeleteDocumentInput{Name: aws.String("Greeter"), DocumentVersion: aws.String("2")})
	wantAPIError(t, err, "InvalidDocumentOperation")
	if _, err := c.DeleteDocument(ctx, &ssm.DeleteDocumentInput{Name: aws.String("Greeter"), VersionName: aws.String("first")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeleteDocument(ctx, &ssm.DeleteDocumentInput{Name: aws.String("Greeter")}); err != nil {
		t.Fatal(err)
	}
	_, err = c.DescribeDocument(ctx, &ssm.DescribeDocumentInput{Name: aws.String("Greeter")})
	var invalidDoc *types.InvalidDocument
	if !errors.As(err, &invalidDoc) {
		t.Errorf("DescribeDocument after delete: %v, want InvalidDocument", err)
	}
}

func TestSDKDocumentErrors(t *testing.T) {
	t.Parallel()
	c, _ := newServiceClient(t)
	ctx := context.Background()
	if _, err := c.CreateDocument(ctx, &ssm.CreateDocumentInput{Name: aws.String("Taken"), Content: aws.String(greeterV2)}); err != nil {
		t.Fatal(err)
	}
	create := func(in ssm.CreateDocumentInput) error {
		if in.Content == nil {
			in.Content = aws.String(greeterV2)
		}
		_, err := c.CreateDocument(ctx, &in)
		return err
	}
	tests := []struct {
		name    string
		call    func() error
		code    string
		message string
	}{
		{"exists", func() error { return create(ssm.CreateDocumentInput{Name: aws.String("Taken")}) }, "DocumentAlreadyExists", ""},
		{"name pattern", func() error { return create(ssm.CreateDocumentInput{Name: aws.String("a b")}) },
			"ValidationException", "Value 'a b' at 'name' failed to satisfy constraint: Member must satisfy regular expression pattern: ^[a-zA-Z0-9_\\-.]{3,128}$"},
		{"reserved prefix", func() error { return create(ssm.CreateDocumentInput{Name: aws.String("AWS-Mine")}) }, "ValidationException", "reserved"},
		{"document type", func() error {
			return create(ssm.CreateDocumentInput{Name: aws.String("auto"), DocumentType: types.DocumentTypeAutomation})
		}, "InvalidDocumentType", "Command"},
		{"unknown document type", func() error {
			return create(ssm.CreateDocumentInput{Name: aws.String("auto"), DocumentType: "Banana"})
		}, "ValidationException", "enum"},
		{"bad content", func() error {
			return create(ssm.CreateDocumentInput{Name: aws.String("bad"), Content: aws.String(`{"schemaVersion":"2.2","mainSteps":"x"}`)})
		}, "InvalidDocumentContent", "mainSteps"},
		{"schema version", func() error {
			return create(ssm.CreateDocumentInput{Name: aws.String("bad"), Content: aws.String(`{"schemaVersion":"3.0","mainSteps":[]}`)})
		}, "InvalidDocumentSchemaVersion", ""},
		{"too big", func() error {
			return create(ssm.CreateDocumentInput{Name: aws.String("big"), Content: aws.String(`{"schemaVersion":"2.2","description":"` + strings.Repeat("x", 70000) + `","mainSteps":[]}`)})
		}, "MaxDocumentSizeExceeded", ""},
		{"attachments", func() error {
			return create(ssm.CreateDocumentInput{Name: aws.String("att"), Attachments: []types.AttachmentsSource{
				{Key: types.AttachmentsSourceKeySourceUrl, Values: []string{"https://example.com/x"}, Name: aws.String("x.zip")}}})
		}, "ValidationException", "attachments"},
		{"requires", func() error {
			return create(ssm.CreateDocumentInput{Name: aws.String("req"), Requires: []types.DocumentRequires{{Name: aws.String("Taken")}}})
		}, "ValidationException", "Requires"},
		{"tag key pattern", func() error {
			return create(ssm.CreateDocumentInput{Name: aws.String("tagged"), Tags: []types.Tag{{Key: aws.String("a*"), Value: aws.String("")}}})
		}, "ValidationException", "tags.1.member.key"},
		{"update version", func() error {
			_, err := c.UpdateDocument(ctx, &ssm.UpdateDocumentInput{Name: aws.String("Taken"), Content: aws.String(greeterYAML), DocumentFormat: types.DocumentFormatYaml, DocumentVersion: aws.String("5")})
			return err
		}, "InvalidDocumentVersion", ""},
		{"update built-in", func() error {
			_, err := c.UpdateDocument(ctx, &ssm.UpdateDocumentInput{Name: aws.String("AWS-RunShellScript"), Content: aws.String(greeterYAML)})
			return err
		}, "InvalidDocumentOperation", ""},
		{"update missing", func() error {
			_, err := c.UpdateDocument(ctx, &ssm.UpdateDocumentInput{Name: aws.String("Missing"), Content: aws.String(greeterV2)})
			return err
		}, "InvalidDocument", ""},
		{"default $LATEST", func() error {
			_, err := c.UpdateDocumentDefaultVersion(ctx, &ssm.UpdateDocumentDefaultVersionInput{Name: aws.String("Taken"), DocumentVersion: aws.String("$LATEST")})
			return err
		}, "ValidationException", "documentVersion"},
		{"default missing version", func() error {
			_, err := c.UpdateDocumentDefaultVersion(ctx, &ssm.UpdateDocumentDefaultVersionInput{Name: aws.String("Taken"), DocumentVersion: aws.String("9")})
			return err
		}, "InvalidDocumentVersion", ""},
		{"versions bad token", func() error {
			_, err := c.ListDocumentVersions(ctx, &ssm.ListDocumentVersionsInput{Name: aws.String("Taken"), NextToken: aws.String("x")})
			return err
		}, "InvalidNextToken", ""},
		{"versions missing", func() error {
			_, err := c.ListDocumentVersions(ctx, &ssm.ListDocumentVersionsInput{Name: aws.String("Missing")})
			return err
		}, "InvalidDocument", ""},
		{"delete built-in", func() error {
			_, err := c.DeleteDocument(ctx, &ssm.DeleteDocumentInput{Name: aws.String("AWS-RunShellScript")})
			return err
		}, "InvalidDocumentOperation", ""},
		{"delete missing", func() error {
			_, err := c.DeleteDocument(ctx, &ssm.DeleteDocumentInput{Name: aws.String("Missing")})
			return err
		}, "InvalidDocument", ""},
		{"tag resource type", func() error {
			_, err := c.AddTagsToResource(ctx, &ssm.AddTagsToResourceInput{ResourceType: types.ResourceTypeForTaggingParameter,
				ResourceId: aws.String("p"), Tags: []types.Tag{{Key: aws.String("a"), Value: aws.String("b")}}})
			return err
		}, "InvalidResourceType", ""},
		{"tag missing document", func() error {
			_, err := c.AddTagsToResource(ctx, &ssm.AddTagsToResourceInput{ResourceType: types.ResourceTypeForTaggingDocument,
				ResourceId: aws.String("Missing"), Tags: []types.Tag{{Key: aws.String("a"), Value: aws.String("b")}}})
			return err
		}, "InvalidResourceId", ""},
		{"tag missing node", func() error {
			_, err := c.ListTagsForResource(ctx, &ssm.ListTagsForResourceInput{ResourceType: types.ResourceTypeForTaggingManagedInstance,
				ResourceId: aws.String("mi-00000000000000009")})
			return err
		}, "InvalidResourceId", ""},
		{"too many tags", func() error {
			var tags []types.Tag
			for i := range 51 {
				tags = append(tags, types.Tag{Key: aws.String(strings.Repeat("k", i+1)), Value: aws.String("v")})
			}
			_, err := c.AddTagsToResource(ctx, &ssm.AddTagsToResourceInput{ResourceType: types.ResourceTypeForTaggingDocument,
				ResourceId: aws.String("Taken"), Tags: tags})
			return err
		}, "TooManyTagsError", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.call()
			wantAPIError(t, err, tt.code)
			var ae smithy.APIError
			errors.As(err, &ae)
			if !strings.Contains(ae.ErrorMessage(), tt.message) {
				t.Errorf("message %q does not contain %q", ae.ErrorMessage(), tt.message)
			}
		})
	}
}

// Required members the SDK checks itself, sent raw.
func TestDocumentOpsRequiredMembers(t *testing.T) {
	t.Parallel()
	docs, err := service.NewStoreDocuments(fake.NewDocumentStore(), "")
	if err != nil {
		t.Fatal(err)
	}
	h := NewHandler(service.NewAPI(fake.NewCommandStore(), fake.NewInstanceStore(), fake.NewDispatchQueue(), docs), nil)
	tests := []struct{ op, body, message string }{
		{"CreateDocument", `{"Name":"abc"}`, "Value null at 'content' failed to satisfy constraint: Member must not be null"},
		{"CreateDocument", `{"Content":"{}"}`, "Value null at 'name'"},
		{"UpdateDocument", `{"Name":"abc","Content":""}`, "Value '' at 'content' failed to satisfy constraint: Member must have length greater than or equal to 1"},
		{"UpdateDocumentDefaultVersion", `{"Name":"abc"}`, "Value null at 'documentVersion'"},
		{"ListDocumentVersions", `{"Name":"abc","MaxResults":51}`, "Member must have value less than or equal to 50"},
		{"DeleteDocument", `{"Name":"abc","DocumentVersion":"0"}`, "at 'documentVersion'"},
		{"AddTagsToResource", `{"ResourceType":"Document","ResourceId":"abc"}`, "Value null at 'tags'"},
		{"AddTagsToResource", `{"ResourceType":"Document","ResourceId":"abc","Tags":[{"Key":"a"}]}`, "Value null at 'tags.1.member.value'"},
		{"RemoveTagsFromResource", `{"ResourceType":"Document","ResourceId":"abc"}`, "Value null at 'tagKeys'"},
		{"ListTagsForResource", `{"ResourceType":"Nope","ResourceId":"abc"}`, "Member must satisfy enum value set"},
	}
	for _, tt := range tests {
		t.Run(tt.op+" "+tt.body, func(t *testing.T) {
			t.Parallel()
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, newRequest("AmazonSSM."+tt.op, tt.body))
			if rec.Code != 400 || errorType(t, rec) != "ValidationException" || !strings.Contains(rec.Body.String(), tt.message) {
				t.Errorf("status %d body %s, want ValidationException containing %q", rec.Code, rec.Body, tt.message)
			}
		})
	}
}

// ListDocuments pages across built-ins and stored documents with the SDK's paginator.
func TestSDKListDocumentsPaginates(t *testing.T) {
	t.Parallel()
	c, _ := newServiceClient(t)
	ctx := context.Background()
	var want []string
	for _, name := range []string{"B-doc", "a-doc", "z-doc", "AX-doc", "m.doc"} {
		if _, err := c.CreateDocument(ctx, &ssm.CreateDocumentInput{Name: aws.String(name), Content: aws.String(greeterV2)}); err != nil {
			t.Fatal(err)
		}
		want = append(want, name)
	}
	want = append(want, "AWS-RunPatchBaseline", "AWS-RunPowerShellScript", "AWS-RunShellScript")
	slices.Sort(want)
	var got []string
	p := ssm.NewListDocumentsPaginator(c, &ssm.ListDocumentsInput{MaxResults: aws.Int32(3)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range page.DocumentIdentifiers {
			got = append(got, aws.ToString(d.Name))
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("paged ListDocuments (-want +got):\n%s", diff)
	}
}

// A backend without document management answers those operations with a clear error.
func TestDocumentOpsNeedDocumentBackend(t *testing.T) {
	t.Parallel()
	c := newClient(t, newFake())
	_, err := c.CreateDocument(context.Background(), &ssm.CreateDocumentInput{Name: aws.String("abc"), Content: aws.String("{}")})
	wantAPIError(t, err, "UnsupportedOperationException")
}

// ManagedInstance tags go to the instance store.
func TestSDKManagedInstanceTags(t *testing.T) {
	t.Parallel()
	c, api := newServiceClient(t)
	ctx := context.Background()
	id := "mi-00000000000000001"
	if err := api.Instances.RecordHeartbeat(ctx, runcmd.Heartbeat{InstanceID: id, PlatformType: "Linux", QueueURL: "q",
		At: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.AddTagsToResource(ctx, &ssm.AddTagsToResourceInput{ResourceType: types.ResourceTypeForTaggingManagedInstance,
		ResourceId: aws.String(id), Tags: []types.Tag{{Key: aws.String("env"), Value: aws.String("prod")}}}); err != nil {
		t.Fatal(err)
	}
	out, err := c.ListTagsForResource(ctx, &ssm.ListTagsForResourceInput{ResourceType: types.ResourceTypeForTaggingManagedInstance, ResourceId: aws.String(id)})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.TagList) != 1 || aws.ToString(out.TagList[0].Key) != "env" {
		t.Errorf("node tags: %+v", out.TagList)
	}
}
