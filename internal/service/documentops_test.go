package service

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/runcmd/runcmd"
	"github.com/runcmd/runcmd/internal/fake"
)

const yamlDoc = `schemaVersion: '2.2'
description: Greets someone.
parameters:
  name:
    type: String
    description: who to greet
    allowedPattern: '^[a-z]+$'
  times:
    type: String
    default: '1'
mainSteps:
  - action: aws:runShellScript
    name: greet
    inputs:
      runCommand:
        - echo hello {{ name }} {{ times }}
`

const jsonDoc = `{
  "schemaVersion": "2.2",
  "description": "Runs a script.",
  "parameters": {"commands": {"type": "StringList"}},
  "mainSteps": [{"action": "aws:runPowerShellScript", "name": "run", "inputs": {"runCommand": "{{ commands }}"}}]
}`

// jsonDocN returns distinct valid JSON documents.
func jsonDocN(n int) string {
	return fmt.Sprintf(`{"schemaVersion":"2.2","description":"version %d","mainSteps":[{"action":"aws:runShellScript","name":"s","inputs":{"runCommand":["echo %d"]}}]}`, n, n)
}

var docNow = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

func newDocAPI(t *testing.T) (*API, *fake.DocumentStore) {
	t.Helper()
	store := fake.NewDocumentStore()
	docs, err := NewStoreDocuments(store, "111122223333")
	if err != nil {
		t.Fatal(err)
	}
	now, n := docNow, 0
	var mu sync.Mutex
	api := &API{
		Commands: fake.NewCommandStore(), Instances: fake.NewInstanceStore(), Dispatch: fake.NewDispatchQueue(),
		Documents: docs,
		NewID: func() string {
			mu.Lock()
			defer mu.Unlock()
			n++
			return fmt.Sprintf("00000000-0000-4000-8000-%012d", n)
		},
		Now: func() time.Time {
			mu.Lock()
			defer mu.Unlock()
			now = now.Add(time.Second)
			return now
		},
	}
	return api, store
}

func wantErr(t *testing.T, err error, code, name string) {
	t.Helper()
	if runcmd.ErrorCode(err) != code || runcmd.ErrorName(err) != name {
		t.Fatalf("error = %v (code %q name %q), want code %q name %q", err, runcmd.ErrorCode(err), runcmd.ErrorName(err), code, name)
	}
}

func mustCreate(t *testing.T, api *API, in CreateDocumentInput) DocumentDescription {
	t.Helper()
	if in.Content == "" {
		in.Content = jsonDocN(1)
	}
	d, err := api.CreateDocument(t.Context(), in)
	if err != nil {
		t.Fatalf("CreateDocument(%s): %v", in.Name, err)
	}
	return d
}

func mustUpdate(t *testing.T, api *API, in UpdateDocumentInput) DocumentDescription {
	t.Helper()
	d, err := api.UpdateDocument(t.Context(), in)
	if err != nil {
		t.Fatalf("UpdateDocument(%s): %v", in.Name, err)
	}
	return d
}

func TestCreateDocument(t *testing.T) {
	t.Parallel()
	api, _ := newDocAPI(t)
	got := mustCreate(t, api, CreateDocumentInput{
		Name: "Greeter", Content: yamlDoc, DocumentFormat: "YAML", VersionName: "v-one", DisplayName: "Say hello",
		TargetType: "/AWS::EC2::Instance", Tags: map[string]string{"team": "ops"},
	})
	want := DocumentDescription{
		Name: "Greeter", DisplayName: "Say hello", VersionName: "v-one", DocumentVersion: "1", DefaultVersion: "1",
		LatestVersion: "1", HashType: "Sha256", Owner: "111122223333", Status: "Active", DocumentType: "Command",
		DocumentFormat: "YAML", SchemaVersion: "2.2", Description: "Greets someone.", TargetType: "/AWS::EC2::Instance",
		PlatformTypes: []string{"Linux", "MacOS"},
		Parameters: []DocumentParameter{
			{Name: "name", Type: "String", Description: "who to greet"},
			{Name: "times", Type: "String", DefaultValue: "1"},
		},
		Tags:        map[string]string{"team": "ops"},
		CreatedDate: docNow.Add(time.Second),
	}
	if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(DocumentDescription{}, "Hash")); diff != "" {
		t.Errorf("CreateDocument (-want +got):\n%s", diff)
	}
	if len(got.Hash) != 64 {
		t.Errorf("Hash = %q, want hex SHA-256", got.Hash)
	}
	desc, err := api.DescribeDocument(t.Context(), "Greeter", "", "")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(got, desc); diff != "" {
		t.Errorf("DescribeDocument after create (-want +got):\n%s", diff)
	}
}

func TestCreateDocumentRules(t *testing.T) {
	t.Parallel()
	big := `{"schemaVersion":"2.2","description":"` + strings.Repeat("x", 70*1024) + `","mainSteps":[]}`
	tests := []struct {
		name string
		in   CreateDocumentInput
		code string
		err  string
	}{
		{"ok", CreateDocumentInput{Name: "abc"}, "", ""},
		{"ok all characters", CreateDocumentInput{Name: "a-B_c.9"}, "", ""},
		{"name too short", CreateDocumentInput{Name: "ab"}, runcmd.EINVALID, "ValidationException"},
		{"name too long", CreateDocumentInput{Name: strings.Repeat("a", 129)}, runcmd.EINVALID, "ValidationException"},
		{"name with slash", CreateDocumentInput{Name: "a/b/c"}, runcmd.EINVALID, "ValidationException"},
		{"name with space", CreateDocumentInput{Name: "a b c"}, runcmd.EINVALID, "ValidationException"},
		{"reserved AWS-", CreateDocumentInput{Name: "AWS-Mine"}, runcmd.EINVALID, "ValidationException"},
		{"reserved aws lower", CreateDocumentInput{Name: "aws-mine"}, runcmd.EINVALID, "ValidationException"},
		{"reserved AWSEC2", CreateDocumentInput{Name: "AWSEC2-Launch"}, runcmd.EINVALID, "ValidationException"},
		{"reserved AWSSupport", CreateDocumentInput{Name: "AWSSupport-Fix"}, runcmd.EINVALID, "ValidationException"},
		{"reserved AWSConfigRemediation", CreateDocumentInput{Name: "AWSConfigRemediation-X"}, runcmd.EINVALID, "ValidationException"},
		{"reserved Amazon", CreateDocumentInput{Name: "AmazonThing"}, runcmd.EINVALID, "ValidationException"},
		{"reserved amzn", CreateDocumentInput{Name: "amzn.doc"}, runcmd.EINVALID, "ValidationException"},
		{"prefix elsewhere is fine", CreateDocumentInput{Name: "my-aws-doc"}, "", ""},
		{"Command type", CreateDocumentInput{Name: "typed", DocumentType: "Command"}, "", ""},
		{"Automation type", CreateDocumentInput{Name: "auto", DocumentType: "Automation"}, runcmd.EINVALID, "InvalidDocumentType"},
		{"Policy type", CreateDocumentInput{Name: "policy", DocumentType: "Policy"}, runcmd.EINVALID, "InvalidDocumentType"},
		{"TEXT format", CreateDocumentInput{Name: "text", DocumentFormat: "TEXT"}, runcmd.EINVALID, "ValidationException"},
		{"YAML declared JSON", CreateDocumentInput{Name: "yamljson", Content: yamlDoc, DocumentFormat: "JSON"}, runcmd.EINVALID, "InvalidDocumentContent"},
		{"YAML format", CreateDocumentInput{Name: "yamlok", Content: yamlDoc, DocumentFormat: "YAML"}, "", ""},
		{"bad content", CreateDocumentInput{Name: "bad", Content: `{"schemaVersion":"2.2","mainSteps":[{"action":"aws:nope","name":"x"}]}`}, runcmd.EINVALID, "InvalidDocumentContent"},
		{"bad schema", CreateDocumentInput{Name: "schema", Content: `{"schemaVersion":"9.9","mainSteps":[]}`}, runcmd.EINVALID, "InvalidDocumentSchemaVersion"},
		{"too big", CreateDocumentInput{Name: "big", Content: big}, runcmd.ELIMIT, "MaxDocumentSizeExceeded"},
		{"requires", CreateDocumentInput{Name: "req", Requires: []string{"other"}}, runcmd.EINVALID, "ValidationException"},
		{"attachments", CreateDocumentInput{Name: "att", Attachments: []string{"file"}}, runcmd.EINVALID, "ValidationException"},
		{"bad version name", CreateDocumentInput{Name: "vn", VersionName: "a b"}, runcmd.EINVALID, "ValidationException"},
		{"bad display name", CreateDocumentInput{Name: "dn", DisplayName: "a*b"}, runcmd.EINVALID, "ValidationException"},
		{"bad target type", CreateDocumentInput{Name: "tt", TargetType: "AWS::EC2::Instance"}, runcmd.EINVALID, "ValidationException"},
		{"root target type", CreateDocumentInput{Name: "tt2", TargetType: "/"}, "", ""},
		{"aws: tag", CreateDocumentInput{Name: "tag1", Tags: map[string]string{"AWS:x": "y"}}, runcmd.EINVALID, "InvalidTag"},
		{"bad tag value", CreateDocumentInput{Name: "tag2", Tags: map[string]string{"k": "a*"}}, runcmd.EINVALID, "InvalidTag"},
		{"too many tags", CreateDocumentInput{Name: "tag3", Tags: manyTags(51)}, runcmd.ELIMIT, "TooManyTagsError"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			api, _ := newDocAPI(t)
			if tt.in.Content == "" {
				tt.in.Content = jsonDoc
			}
			_, err := api.CreateDocument(t.Context(), tt.in)
			if tt.code == "" {
				if err != nil {
					t.Fatalf("CreateDocument: %v", err)
				}
				return
			}
			wantErr(t, err, tt.code, tt.err)
			if _, err := api.DescribeDocument(t.Context(), tt.in.Name, "", ""); runcmd.ErrorCode(err) != runcmd.ENOTFOUND &&
				!strings.HasPrefix(strings.ToLower(tt.in.Name), "aws") {
				t.Errorf("refused document %s exists anyway (err %v)", tt.in.Name, err)
			}
		})
	}
	t.Run("already exists", func(t *testing.T) {
		t.Parallel()
		api, _ := newDocAPI(t)
		mustCreate(t, api, CreateDocumentInput{Name: "twice"})
		_, err := api.CreateDocument(t.Context(), CreateDocumentInput{Name: "twice", Content: jsonDocN(2)})
		wantErr(t, err, runcmd.ECONFLICT, "DocumentAlreadyExists")
	})
	t.Run("built-ins only", func(t *testing.T) {
		t.Parallel()
		b, err := NewBuiltins()
		if err != nil {
			t.Fatal(err)
		}
		api := &API{Documents: b, Now: time.Now}
		_, err = api.CreateDocument(t.Context(), CreateDocumentInput{Name: "abc", Content: jsonDoc})
		wantErr(t, err, runcmd.EINVALID, "InvalidDocumentOperation")
	})
}

func manyTags(n int) map[string]string {
	m := map[string]string{}
	for i := range n {
		m[fmt.Sprintf("k%d", i)] = "v"
	}
	return m
}

func TestUpdateDocument(t *testing.T) {
	t.Parallel()
	api, _ := newDocAPI(t)
	mustCreate(t, api, CreateDocumentInput{Name: "doc", Content: jsonDocN(1), DisplayName: "Shown", TargetType: "/", VersionName: "one"})

	v2 := mustUpdate(t, api, UpdateDocumentInput{Name: "doc", Content: jsonDocN(2), DocumentVersion: "$LATEST", VersionName: "two"})
	if v2.DocumentVersion != "2" || v2.DefaultVersion != "1" || v2.LatestVersion != "2" {
		t.Errorf("after update: version %s default %s latest %s, want 2 1 2", v2.DocumentVersion, v2.DefaultVersion, v2.LatestVersion)
	}
	if v2.DisplayName != "Shown" || v2.TargetType != "/" || v2.VersionName != "two" || v2.Description != "version 2" {
		t.Errorf("inherited/new fields: %+v", v2)
	}
	// The default version is still served by default.
	if d, _ := api.DescribeDocument(t.Context(), "doc", "", ""); d.DocumentVersion != "1" {
		t.Errorf("default after update = %s, want 1", d.DocumentVersion)
	}
	v3 := mustUpdate(t, api, UpdateDocumentInput{Name: "doc", Content: yamlDoc, DocumentFormat: "YAML", DocumentVersion: "2", DisplayName: "New name"})
	if v3.DocumentVersion != "3" || v3.DocumentFormat != "YAML" || v3.DisplayName != "New name" || v3.VersionName != "" {
		t.Errorf("third version: %+v", v3)
	}

	tests := []struct {
		name string
		in   UpdateDocumentInput
		code string
		err  string
	}{
		{"identical to the latest", UpdateDocumentInput{Content: yamlDoc, DocumentFormat: "YAML"}, runcmd.ECONFLICT, "DuplicateDocumentContent"},
		{"identical to an older version", UpdateDocumentInput{Content: jsonDocN(1)}, runcmd.ECONFLICT, "DuplicateDocumentContent"},
		{"not the latest", UpdateDocumentInput{Content: jsonDocN(9), DocumentVersion: "2"}, runcmd.EINVALID, "InvalidDocumentVersion"},
		{"beyond the latest", UpdateDocumentInput{Content: jsonDocN(9), DocumentVersion: "4"}, runcmd.EINVALID, "InvalidDocumentVersion"},
		{"$DEFAULT", UpdateDocumentInput{Content: jsonDocN(9), DocumentVersion: "$DEFAULT"}, runcmd.EINVALID, "InvalidDocumentVersion"},
		{"garbage version", UpdateDocumentInput{Content: jsonDocN(9), DocumentVersion: "x"}, runcmd.EINVALID, "InvalidDocumentVersion"},
		{"duplicate version name", UpdateDocumentInput{Content: jsonDocN(9), VersionName: "one"}, runcmd.ECONFLICT, "DuplicateDocumentVersionName"},
		{"bad content", UpdateDocumentInput{Content: `{"schemaVersion":"2.2"}`}, runcmd.EINVALID, "InvalidDocumentContent"},
		{"empty content", UpdateDocumentInput{}, runcmd.EINVALID, "ValidationException"},
		{"attachments", UpdateDocumentInput{Content: jsonDocN(9), Attachments: []string{"a"}}, runcmd.EINVALID, "ValidationException"},
		{"unknown document", UpdateDocumentInput{Name: "nope", Content: jsonDocN(9)}, runcmd.ENOTFOUND, "InvalidDocument"},
		{"built-in", UpdateDocumentInput{Name: "AWS-RunShellScript", Content: jsonDocN(9)}, runcmd.EINVALID, "InvalidDocumentOperation"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.in.Name == "" {
				tt.in.Name = "doc"
			}
			_, err := api.UpdateDocument(t.Context(), tt.in)
			wantErr(t, err, tt.code, tt.err)
		})
	}
	if d, _ := api.DescribeDocument(t.Context(), "doc", "$LATEST", ""); d.DocumentVersion != "3" {
		t.Errorf("refused updates moved the latest version to %s", d.DocumentVersion)
	}
}

func TestUpdateDocumentDefaultVersion(t *testing.T) {
	t.Parallel()
	api, _ := newDocAPI(t)
	mustCreate(t, api, CreateDocumentInput{Name: "doc", Content: jsonDocN(1)})
	mustUpdate(t, api, UpdateDocumentInput{Name: "doc", Content: jsonDocN(2), VersionName: "second"})

	got, err := api.UpdateDocumentDefaultVersion(t.Context(), "doc", "2")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(DocumentDefaultVersion{Name: "doc", DefaultVersion: "2", DefaultVersionName: "second"}, got); diff != "" {
		t.Errorf("UpdateDocumentDefaultVersion (-want +got):\n%s", diff)
	}
	d, err := api.DescribeDocument(t.Context(), "doc", "", "")
	if err != nil || d.DocumentVersion != "2" || d.DefaultVersion != "2" || d.Description != "version 2" {
		t.Errorf("DescribeDocument after default change: %+v, %v", d, err)
	}
	list, err := api.ListDocuments(t.Context(), ListDocumentsInput{Filters: []DocumentFilter{{Key: "Owner", Values: []string{"Self"}}}})
	if err != nil || len(list.Documents) != 1 || list.Documents[0].DocumentVersion != "2" || list.Documents[0].VersionName != "second" {
		t.Errorf("ListDocuments shows the default version: %+v, %v", list.Documents, err)
	}

	tests := []struct {
		name, doc, version string
		code, err          string
	}{
		{"missing version", "doc", "3", runcmd.ENOTFOUND, "InvalidDocumentVersion"},
		{"$LATEST", "doc", "$LATEST", runcmd.EINVALID, "InvalidDocumentVersion"},
		{"zero", "doc", "0", runcmd.EINVALID, "InvalidDocumentVersion"},
		{"missing document", "nope", "1", runcmd.ENOTFOUND, "InvalidDocument"},
		{"built-in", "AWS-RunShellScript", "1", runcmd.EINVALID, "InvalidDocumentOperation"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := api.UpdateDocumentDefaultVersion(t.Context(), tt.doc, tt.version)
			wantErr(t, err, tt.code, tt.err)
		})
	}
	if _, err := api.UpdateDocumentDefaultVersion(t.Context(), "doc", "1"); err != nil {
		t.Errorf("back to version 1: %v", err)
	}
}

func TestListDocumentVersions(t *testing.T) {
	t.Parallel()
	api, _ := newDocAPI(t)
	mustCreate(t, api, CreateDocumentInput{Name: "doc", Content: jsonDocN(1), DisplayName: "D"})
	for i := 2; i <= 5; i++ {
		mustUpdate(t, api, UpdateDocumentInput{Name: "doc", Content: jsonDocN(i), VersionName: fmt.Sprintf("n%d", i)})
	}
	if _, err := api.UpdateDocumentDefaultVersion(t.Context(), "doc", "3"); err != nil {
		t.Fatal(err)
	}
	type row struct {
		Version, VersionName string
		Default              bool
	}
	var got []row
	token := ""
	for range 10 {
		out, err := api.ListDocumentVersions(t.Context(), ListDocumentVersionsInput{Name: "doc", MaxResults: 2, NextToken: token})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Versions) > 2 {
			t.Fatalf("page of %d, MaxResults 2", len(out.Versions))
		}
		for _, v := range out.Versions {
			if v.Name != "doc" || v.DisplayName != "D" || v.DocumentFormat != "JSON" || v.Status != "Active" || v.CreatedDate.IsZero() {
				t.Errorf("version %s lacks fields: %+v", v.DocumentVersion, v)
			}
			got = append(got, row{v.DocumentVersion, v.VersionName, v.IsDefaultVersion})
		}
		if token = out.NextToken; token == "" {
			break
		}
	}
	want := []row{{"1", "", false}, {"2", "n2", false}, {"3", "n3", true}, {"4", "n4", false}, {"5", "n5", false}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ListDocumentVersions (-want +got):\n%s", diff)
	}

	out, err := api.ListDocumentVersions(t.Context(), ListDocumentVersionsInput{Name: "AWS-RunShellScript"})
	if err != nil || len(out.Versions) != 1 || !out.Versions[0].IsDefaultVersion || out.Versions[0].Owner != "Amazon" {
		t.Errorf("built-in versions: %+v, %v", out.Versions, err)
	}
	_, err = api.ListDocumentVersions(t.Context(), ListDocumentVersionsInput{Name: "nope"})
	wantErr(t, err, runcmd.ENOTFOUND, "InvalidDocument")
	_, err = api.ListDocumentVersions(t.Context(), ListDocumentVersionsInput{Name: "doc", NextToken: "bogus"})
	wantErr(t, err, runcmd.EINVALID, "InvalidNextToken")
}

func TestDeleteDocument(t *testing.T) {
	t.Parallel()
	setup := func(t *testing.T) *API {
		api, _ := newDocAPI(t)
		mustCreate(t, api, CreateDocumentInput{Name: "doc", Content: jsonDocN(1)})
		for i := 2; i <= 4; i++ {
			mustUpdate(t, api, UpdateDocumentInput{Name: "doc", Content: jsonDocN(i), VersionName: fmt.Sprintf("n%d", i)})
		}
		return api
	}
	versions := func(t *testing.T, api *API) []string {
		out, err := api.ListDocumentVersions(t.Context(), ListDocumentVersionsInput{Name: "doc"})
		if runcmd.ErrorCode(err) == runcmd.ENOTFOUND {
			return nil
		}
		if err != nil {
			t.Fatal(err)
		}
		var vs []string
		for _, v := range out.Versions {
			vs = append(vs, v.DocumentVersion)
		}
		return vs
	}
	tests := []struct {
		name      string
		in        DeleteDocumentInput
		code, err string
		left      []string
	}{
		{"whole document", DeleteDocumentInput{}, "", "", nil},
		{"one version", DeleteDocumentInput{DocumentVersion: "2"}, "", "", []string{"1", "3", "4"}},
		{"by version name", DeleteDocumentInput{VersionName: "n3"}, "", "", []string{"1", "2", "4"}},
		{"number and matching name", DeleteDocumentInput{DocumentVersion: "3", VersionName: "n3"}, "", "", []string{"1", "2", "4"}},
		{"number and other name", DeleteDocumentInput{DocumentVersion: "3", VersionName: "n2"}, runcmd.ENOTFOUND, "InvalidDocumentVersion", []string{"1", "2", "3", "4"}},
		{"$LATEST", DeleteDocumentInput{DocumentVersion: "$LATEST"}, "", "", []string{"1", "2", "3"}},
		{"$LATEST with its name", DeleteDocumentInput{DocumentVersion: "$LATEST", VersionName: "n4"}, "", "", []string{"1", "2", "3"}},
		{"$LATEST with another name", DeleteDocumentInput{DocumentVersion: "$LATEST", VersionName: "n2"}, runcmd.ENOTFOUND, "InvalidDocumentVersion", []string{"1", "2", "3", "4"}},
		{"the default", DeleteDocumentInput{DocumentVersion: "1"}, runcmd.EINVALID, "InvalidDocumentOperation", []string{"1", "2", "3", "4"}},
		{"$DEFAULT", DeleteDocumentInput{DocumentVersion: "$DEFAULT"}, runcmd.EINVALID, "InvalidDocumentOperation", []string{"1", "2", "3", "4"}},
		{"missing version", DeleteDocumentInput{DocumentVersion: "7"}, runcmd.ENOTFOUND, "InvalidDocumentVersion", []string{"1", "2", "3", "4"}},
		{"missing version name", DeleteDocumentInput{VersionName: "zz"}, runcmd.ENOTFOUND, "InvalidDocumentVersion", []string{"1", "2", "3", "4"}},
		{"missing document", DeleteDocumentInput{Name: "nope"}, runcmd.ENOTFOUND, "InvalidDocument", []string{"1", "2", "3", "4"}},
		{"built-in", DeleteDocumentInput{Name: "AWS-RunShellScript"}, runcmd.EINVALID, "InvalidDocumentOperation", []string{"1", "2", "3", "4"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			api := setup(t)
			in := tt.in
			if in.Name == "" {
				in.Name = "doc"
			}
			err := api.DeleteDocument(t.Context(), in)
			if tt.code == "" && err != nil {
				t.Fatalf("DeleteDocument: %v", err)
			}
			if tt.code != "" {
				wantErr(t, err, tt.code, tt.err)
			}
			if diff := cmp.Diff(tt.left, versions(t, api)); diff != "" {
				t.Errorf("versions left (-want +got):\n%s", diff)
			}
		})
	}
	t.Run("name is free again", func(t *testing.T) {
		t.Parallel()
		api := setup(t)
		if err := api.DeleteDocument(t.Context(), DeleteDocumentInput{Name: "doc"}); err != nil {
			t.Fatal(err)
		}
		d := mustCreate(t, api, CreateDocumentInput{Name: "doc", Content: jsonDocN(2)})
		if d.LatestVersion != "1" {
			t.Errorf("re-created document has latest version %s", d.LatestVersion)
		}
	})
}

func TestGetAndDescribeStoredDocument(t *testing.T) {
	t.Parallel()
	api, _ := newDocAPI(t)
	mustCreate(t, api, CreateDocumentInput{Name: "Greeter", Content: yamlDoc, DocumentFormat: "YAML", VersionName: "first"})
	mustUpdate(t, api, UpdateDocumentInput{Name: "Greeter", Content: jsonDoc, VersionName: "second"})

	tests := []struct {
		name      string
		in        GetDocumentInput
		version   string
		format    string
		prefix    string // of the content
		code, err string
	}{
		{"default", GetDocumentInput{}, "1", "YAML", "schemaVersion: '2.2'", "", ""},
		{"latest", GetDocumentInput{DocumentVersion: "$LATEST"}, "2", "JSON", "{\n  \"schemaVersion\"", "", ""},
		{"by number", GetDocumentInput{DocumentVersion: "2"}, "2", "JSON", "{", "", ""},
		{"by version name", GetDocumentInput{VersionName: "second"}, "2", "JSON", "{", "", ""},
		{"number and name", GetDocumentInput{DocumentVersion: "1", VersionName: "first"}, "1", "YAML", "schema", "", ""},
		{"YAML as JSON", GetDocumentInput{DocumentFormat: "JSON"}, "1", "JSON", "{", "", ""},
		{"JSON as YAML", GetDocumentInput{DocumentVersion: "2", DocumentFormat: "YAML"}, "2", "YAML", "schemaVersion:", "", ""},
		{"by ARN", GetDocumentInput{Name: "arn:aws:ssm:us-east-1:111122223333:document/Greeter"}, "1", "YAML", "schema", "", ""},
		{"number and other name", GetDocumentInput{DocumentVersion: "1", VersionName: "second"}, "", "", "", runcmd.ENOTFOUND, "InvalidDocumentVersion"},
		{"missing version", GetDocumentInput{DocumentVersion: "3"}, "", "", "", runcmd.ENOTFOUND, "InvalidDocumentVersion"},
		{"missing name", GetDocumentInput{VersionName: "third"}, "", "", "", runcmd.ENOTFOUND, "InvalidDocumentVersion"},
		{"bad version", GetDocumentInput{DocumentVersion: "01"}, "", "", "", runcmd.EINVALID, "InvalidDocumentVersion"},
		{"missing document", GetDocumentInput{Name: "Nope"}, "", "", "", runcmd.ENOTFOUND, "InvalidDocument"},
		{"built-in with a version name", GetDocumentInput{Name: "AWS-RunShellScript", VersionName: "x"}, "", "", "", runcmd.ENOTFOUND, "InvalidDocumentVersion"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			in := tt.in
			if in.Name == "" {
				in.Name = "Greeter"
			}
			got, err := api.GetDocument(t.Context(), in)
			if tt.code != "" {
				wantErr(t, err, tt.code, tt.err)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Name != "Greeter" || got.DocumentVersion != tt.version || got.DocumentFormat != tt.format || !strings.HasPrefix(got.Content, tt.prefix) {
				t.Errorf("GetDocument = %s v%s %s %.30q, want v%s %s %q...", got.Name, got.DocumentVersion, got.DocumentFormat, got.Content, tt.version, tt.format, tt.prefix)
			}
			if got.Status != "Active" || got.DocumentType != "Command" {
				t.Errorf("status %q type %q", got.Status, got.DocumentType)
			}
		})
	}
}

func TestListDocumentsFilters(t *testing.T) {
	t.Parallel()
	api, _ := newDocAPI(t)
	mustCreate(t, api, CreateDocumentInput{Name: "0-first", Content: jsonDocN(1)})                                                             // Linux, MacOS
	mustCreate(t, api, CreateDocumentInput{Name: "Greeter", Content: yamlDoc, DocumentFormat: "YAML", Tags: map[string]string{"env": "prod"}}) // Linux, MacOS
	mustCreate(t, api, CreateDocumentInput{Name: "ps-run", Content: jsonDoc, TargetType: "/AWS::EC2::Instance", Tags: map[string]string{"env": "dev", "team": "x"}})
	mustCreate(t, api, CreateDocumentInput{Name: "zzz", Content: jsonDocN(3), DisplayName: "Last of all"})

	builtins := []string{"AWS-RunPatchBaseline", "AWS-RunPowerShellScript", "AWS-RunShellScript"}
	mine := []string{"0-first", "Greeter", "ps-run", "zzz"}
	all := slices.Sorted(slices.Values(append(slices.Clone(builtins), mine...)))
	f := func(key string, values ...string) DocumentFilter { return DocumentFilter{Key: key, Values: values} }
	tests := []struct {
		name    string
		filters []DocumentFilter
		want    []string
		err     string
	}{
		{"none", nil, all, ""},
		{"owner self", []DocumentFilter{f("Owner", "Self")}, mine, ""},
		{"owner private", []DocumentFilter{f("Owner", "Private")}, mine, ""},
		{"owner account", []DocumentFilter{f("Owner", "111122223333")}, mine, ""},
		{"owner amazon", []DocumentFilter{f("Owner", "Amazon")}, builtins, ""},
		{"owner public", []DocumentFilter{f("Owner", "Public")}, builtins, ""},
		{"owner all", []DocumentFilter{f("Owner", "All")}, all, ""},
		{"owner third party", []DocumentFilter{f("Owner", "ThirdParty")}, nil, ""},
		{"name prefix", []DocumentFilter{f("Name", "AWS-RunP")}, []string{"AWS-RunPatchBaseline", "AWS-RunPowerShellScript"}, ""},
		{"name prefixes OR", []DocumentFilter{f("Name", "Gr", "zz")}, []string{"Greeter", "zzz"}, ""},
		{"two name filters AND", []DocumentFilter{f("Name", "AWS-"), f("Name", "AWS-RunS")}, []string{"AWS-RunShellScript"}, ""},
		{"name is case-sensitive", []DocumentFilter{f("Name", "greeter")}, nil, ""},
		{"platform Windows", []DocumentFilter{f("PlatformTypes", "Windows")}, []string{"AWS-RunPatchBaseline", "AWS-RunPowerShellScript", "ps-run"}, ""},
		{"platform Windows mine", []DocumentFilter{f("PlatformTypes", "Windows"), f("Owner", "Self")}, []string{"ps-run"}, ""},
		{"document type", []DocumentFilter{f("DocumentType", "Command"), f("Owner", "Self")}, mine, ""},
		{"document type other", []DocumentFilter{f("DocumentType", "Automation")}, nil, ""},
		{"target type", []DocumentFilter{f("TargetType", "/AWS::EC2::Instance")}, []string{"ps-run"}, ""},
		{"tag value", []DocumentFilter{f("tag:env", "prod")}, []string{"Greeter"}, ""},
		{"tag values OR", []DocumentFilter{f("tag:env", "prod", "dev")}, []string{"Greeter", "ps-run"}, ""},
		{"tag key only", []DocumentFilter{f("tag:team")}, []string{"ps-run"}, ""},
		{"keyword description", []DocumentFilter{f("SearchKeyword", "greets")}, []string{"Greeter"}, ""},
		{"keyword display name", []DocumentFilter{f("SearchKeyword", "last")}, []string{"zzz"}, ""},
		{"keywords AND", []DocumentFilter{f("SearchKeyword", "runshell", "script")}, []string{"AWS-RunShellScript"}, ""},
		{"keywords AND not OR", []DocumentFilter{f("SearchKeyword", "greets", "last")}, nil, ""},
		{"unknown key", []DocumentFilter{f("Color", "red")}, nil, "InvalidFilterKey"},
		{"empty tag key", []DocumentFilter{f("tag:", "x")}, nil, "InvalidFilterKey"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			// Every page size gives the same documents, in order, exactly once.
			for _, size := range []int{0, 1, 2, 3, 50} {
				var got []string
				token := ""
				for pages := 0; ; pages++ {
					if pages > 20 {
						t.Fatal("ListDocuments does not stop")
					}
					out, err := api.ListDocuments(t.Context(), ListDocumentsInput{Filters: tt.filters, MaxResults: size, NextToken: token})
					if tt.err != "" {
						wantErr(t, err, runcmd.EINVALID, tt.err)
						return
					}
					if err != nil {
						t.Fatal(err)
					}
					if size > 0 && len(out.Documents) > size {
						t.Fatalf("page of %d, MaxResults %d", len(out.Documents), size)
					}
					for _, d := range out.Documents {
						got = append(got, d.Name)
					}
					if token = out.NextToken; token == "" {
						break
					}
				}
				if diff := cmp.Diff(tt.want, got, cmpopts.EquateEmpty()); diff != "" {
					t.Errorf("MaxResults %d (-want +got):\n%s", size, diff)
				}
			}
		})
	}
	t.Run("identifier fields", func(t *testing.T) {
		out, err := api.ListDocuments(t.Context(), ListDocumentsInput{Filters: []DocumentFilter{f("Name", "ps-run")}})
		if err != nil || len(out.Documents) != 1 {
			t.Fatalf("%+v, %v", out, err)
		}
		d := out.Documents[0]
		if d.Owner != "111122223333" || d.DocumentVersion != "1" || d.DocumentFormat != "JSON" || d.SchemaVersion != "2.2" ||
			d.Tags["team"] != "x" || d.CreatedDate.IsZero() || !slices.Equal(d.PlatformTypes, []string{"Windows", "Linux", "MacOS"}) {
			t.Errorf("identifier: %+v", d)
		}
	})
	t.Run("bad token", func(t *testing.T) {
		_, err := api.ListDocuments(t.Context(), ListDocumentsInput{NextToken: "!!"})
		wantErr(t, err, runcmd.EINVALID, "InvalidNextToken")
	})
}

// Pagination over more stored documents than one store chunk, mixed with built-ins.
func TestListDocumentsManyPages(t *testing.T) {
	t.Parallel()
	api, _ := newDocAPI(t)
	var want []string
	for i := range 120 {
		name := fmt.Sprintf("doc-%03d", i)
		if i%3 == 0 {
			name = fmt.Sprintf("B-%03d", i) // sorts between AWS- and doc-
		}
		mustCreate(t, api, CreateDocumentInput{Name: name, Content: jsonDocN(i), Tags: map[string]string{"n": fmt.Sprint(i % 2)}})
		if i%2 == 0 {
			want = append(want, name)
		}
	}
	want = append(want, "AWS-RunPatchBaseline", "AWS-RunPowerShellScript", "AWS-RunShellScript")
	slices.Sort(want)
	var got []string
	token := ""
	for range 100 {
		out, err := api.ListDocuments(t.Context(), ListDocumentsInput{MaxResults: 7, NextToken: token,
			Filters: []DocumentFilter{{Key: "Owner", Values: []string{"All"}}}})
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range out.Documents {
			if d.Owner == "Amazon" || d.Tags["n"] == "0" {
				got = append(got, d.Name)
			}
		}
		if token = out.NextToken; token == "" {
			break
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("paged listing (-want +got):\n%s", diff)
	}
}

func TestTagOperations(t *testing.T) {
	t.Parallel()
	api, _ := newDocAPI(t)
	ctx := t.Context()
	mustCreate(t, api, CreateDocumentInput{Name: "doc", Tags: map[string]string{"a": "1"}})
	hb := runcmd.Heartbeat{InstanceID: "mi-00000000000000001", PlatformType: "Linux", QueueURL: "q", Tags: map[string]string{"role": "web"}}
	if err := api.Instances.RecordHeartbeat(ctx, hb); err != nil {
		t.Fatal(err)
	}

	if err := api.AddTagsToResource(ctx, "Document", "doc", map[string]string{"b": "2", "a": "3"}); err != nil {
		t.Fatal(err)
	}
	if err := api.RemoveTagsFromResource(ctx, "Document", "doc", []string{"b", "missing"}); err != nil {
		t.Fatal(err)
	}
	tags, err := api.ListTagsForResource(ctx, "Document", "doc")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]string{"a": "3"}, tags); diff != "" {
		t.Errorf("document tags (-want +got):\n%s", diff)
	}
	if d, _ := api.DescribeDocument(ctx, "doc", "", ""); d.Tags["a"] != "3" {
		t.Errorf("DescribeDocument tags: %v", d.Tags)
	}

	if err := api.AddTagsToResource(ctx, "ManagedInstance", hb.InstanceID, map[string]string{"env": "prod"}); err != nil {
		t.Fatal(err)
	}
	if err := api.RemoveTagsFromResource(ctx, "ManagedInstance", hb.InstanceID, []string{"role"}); err != nil {
		t.Fatal(err)
	}
	tags, err = api.ListTagsForResource(ctx, "ManagedInstance", hb.InstanceID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]string{"env": "prod"}, tags); diff != "" {
		t.Errorf("node tags (-want +got):\n%s", diff)
	}
	if tags, err := api.ListTagsForResource(ctx, "Document", "AWS-RunShellScript"); err != nil || len(tags) != 0 {
		t.Errorf("built-in tags: %v, %v", tags, err)
	}

	tests := []struct {
		name      string
		call      func() error
		code, err string
	}{
		{"add to built-in", func() error {
			return api.AddTagsToResource(ctx, "Document", "AWS-RunShellScript", map[string]string{"a": "b"})
		}, runcmd.EINVALID, "InvalidResourceId"},
		{"remove from built-in", func() error { return api.RemoveTagsFromResource(ctx, "Document", "AWS-RunShellScript", []string{"a"}) }, runcmd.EINVALID, "InvalidResourceId"},
		{"add to missing document", func() error { return api.AddTagsToResource(ctx, "Document", "nope", map[string]string{"a": "b"}) }, runcmd.ENOTFOUND, "InvalidResourceId"},
		{"list missing document", func() error { _, err := api.ListTagsForResource(ctx, "Document", "nope"); return err }, runcmd.ENOTFOUND, "InvalidResourceId"},
		{"add to missing node", func() error {
			return api.AddTagsToResource(ctx, "ManagedInstance", "mi-00000000000000009", map[string]string{"a": "b"})
		}, runcmd.ENOTFOUND, "InvalidResourceId"},
		{"list missing node", func() error {
			_, err := api.ListTagsForResource(ctx, "ManagedInstance", "mi-00000000000000009")
			return err
		}, runcmd.ENOTFOUND, "InvalidResourceId"},
		{"other resource type", func() error { return api.AddTagsToResource(ctx, "Parameter", "x", map[string]string{"a": "b"}) }, runcmd.EINVALID, "InvalidResourceType"},
		{"list other resource type", func() error { _, err := api.ListTagsForResource(ctx, "MaintenanceWindow", "mw-1"); return err }, runcmd.EINVALID, "InvalidResourceType"},
		{"aws: key", func() error { return api.AddTagsToResource(ctx, "Document", "doc", map[string]string{"aws:x": "b"}) }, runcmd.EINVALID, "InvalidTag"},
		{"remove aws: key", func() error { return api.RemoveTagsFromResource(ctx, "Document", "doc", []string{"aws:x"}) }, runcmd.EINVALID, "InvalidTag"},
		{"too many at once", func() error { return api.AddTagsToResource(ctx, "Document", "doc", manyTags(51)) }, runcmd.ELIMIT, "TooManyTagsError"},
		{"too many in total", func() error { return api.AddTagsToResource(ctx, "Document", "doc", manyTags(50)) }, runcmd.ELIMIT, "TooManyTagsError"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantErr(t, tt.call(), tt.code, tt.err)
		})
	}
}

// SendCommand resolves stored documents by $DEFAULT, $LATEST and number, checks DocumentHash, and
// validates parameters against the version it resolved.
func TestSendCommandStoredDocument(t *testing.T) {
	t.Parallel()
	api, _ := newDocAPI(t)
	ctx := context.Background()
	hb := runcmd.Heartbeat{InstanceID: "mi-00000000000000001", PlatformType: "Linux", QueueURL: "q"}
	if err := api.Instances.RecordHeartbeat(ctx, hb); err != nil {
		t.Fatal(err)
	}
	v1 := mustCreate(t, api, CreateDocumentInput{Name: "Greeter", Content: yamlDoc, DocumentFormat: "YAML"})
	// Version 2 drops the allowedPattern and the second parameter.
	v2content := strings.Replace(strings.Replace(yamlDoc, "    allowedPattern: '^[a-z]+$'\n", "", 1),
		"  times:\n    type: String\n    default: '1'\n", "", 1)
	v2content = strings.Replace(v2content, " {{ times }}", "", 1)
	v2 := mustUpdate(t, api, UpdateDocumentInput{Name: "Greeter", Content: v2content, DocumentFormat: "YAML"})

	send := func(version, hash string, params map[string][]string) (*runcmd.Command, error) {
		return api.SendCommand(ctx, SendCommandInput{DocumentName: "Greeter", DocumentVersion: version, DocumentHash: hash,
			InstanceIDs: []string{hb.InstanceID}, Parameters: params})
	}
	ok := map[string][]string{"name": {"bob"}}
	tests := []struct {
		name      string
		version   string
		hash      string
		params    map[string][]string
		docHash   string
		code, err string
	}{
		{"default", "", "", ok, v1.Hash, "", ""},
		{"$DEFAULT", "$DEFAULT", "", ok, v1.Hash, "", ""},
		{"$LATEST", "$LATEST", "", ok, v2.Hash, "", ""},
		{"number", "2", "", ok, v2.Hash, "", ""},
		{"matching hash", "1", v1.Hash, ok, v1.Hash, "", ""},
		{"hash of another version", "1", v2.Hash, ok, "", runcmd.EINVALID, "InvalidDocument"},
		{"pattern broken on v1", "1", "", map[string][]string{"name": {"Bob; rm -rf /"}}, "", runcmd.EINVALID, "InvalidParameters"},
		{"pattern gone in v2", "2", "", map[string][]string{"name": {"Bob"}}, v2.Hash, "", ""},
		{"parameter gone in v2", "2", "", map[string][]string{"name": {"bob"}, "times": {"2"}}, "", runcmd.EINVALID, "InvalidParameters"},
		{"missing required", "", "", nil, "", runcmd.EINVALID, "InvalidParameters"},
		{"missing version", "3", "", ok, "", runcmd.ENOTFOUND, "InvalidDocumentVersion"},
		{"bad version", "latest", "", ok, "", runcmd.EINVALID, "InvalidDocumentVersion"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd, err := send(tt.version, tt.hash, tt.params)
			if tt.code != "" {
				wantErr(t, err, tt.code, tt.err)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cmd.DocumentHash != tt.docHash || cmd.DocumentName != "Greeter" {
				t.Errorf("command document %s hash %s, want Greeter %s", cmd.DocumentName, cmd.DocumentHash, tt.docHash)
			}
		})
	}
	// The command keeps the content it was sent with, even after the document changes.
	cmd, err := send("1", "", ok)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(cmd.DocumentContent, "allowedPattern") || cmd.Parameters["times"][0] != "1" {
		t.Errorf("command content/parameters: %q %v", cmd.DocumentContent, cmd.Parameters)
	}
	_, err = api.SendCommand(ctx, SendCommandInput{DocumentName: "Missing", InstanceIDs: []string{hb.InstanceID}})
	wantErr(t, err, runcmd.ENOTFOUND, "InvalidDocument")
	// Built-ins are still served.
	if _, err := api.SendCommand(ctx, SendCommandInput{DocumentName: "AWS-RunShellScript", InstanceIDs: []string{hb.InstanceID},
		Parameters: map[string][]string{"commands": {"uptime"}}}); err != nil {
		t.Errorf("built-in: %v", err)
	}
}
