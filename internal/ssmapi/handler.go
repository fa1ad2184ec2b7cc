package ssmapi

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strings"

	"github.com/runcmd/runcmd"
	"github.com/runcmd/runcmd/internal/service"
)

// Backend is what the handler needs from the service layer: one method per SSM operation, taking and
// returning decoded types. Errors are coded runcmd.Errors; anything else counts as internal.
type Backend interface {
	SendCommand(ctx context.Context, in service.SendCommandInput) (*runcmd.Command, error)
	ListCommands(ctx context.Context, in service.ListCommandsInput) (runcmd.CommandPage, error)
	ListCommandInvocations(ctx context.Context, in service.ListCommandInvocationsInput) (service.ListCommandInvocationsOutput, error)
	GetCommandInvocation(ctx context.Context, commandID, instanceID, pluginName string) (service.GetCommandInvocationOutput, error)
	CancelCommand(ctx context.Context, in service.CancelCommandInput) error
	DescribeInstanceInformation(ctx context.Context, in service.DescribeInstanceInformationInput) (service.DescribeInstanceInformationOutput, error)
	ListDocuments(ctx context.Context, in service.ListDocumentsInput) (service.ListDocumentsOutput, error)
	DescribeDocument(ctx context.Context, name, documentVersion, versionName string) (service.DocumentDescription, error)
	GetDocument(ctx context.Context, in service.GetDocumentInput) (service.GetDocumentOutput, error)
}

// MaxRequestBytes bounds a request body. SSM's largest Run Command requests (SendCommand with many
// parameters, documents up to 64 KB) stay far below it; anything bigger is refused before it is parsed.
const MaxRequestBytes = 1 << 20

const (
	targetPrefix = "AmazonSSM."
	contentType  = "application/x-amz-json-1.1"
)

// operation is one row of the routing table.
type operation struct {
	// call decodes and validates the body, calls the Backend and returns the response value to encode.
	call func(ctx context.Context, b Backend, body []byte) (any, error)
	// notFound is the SSM error name for an ENOTFOUND error that carries no name of its own.
	notFound string
}

// request is implemented by every request type: validate reports model constraint violations (and the
// few documented per-operation rules that need no state) as a coded error.
type request interface {
	validate() error
}

// handle adapts a typed operation function to the table's untyped form: decode into In, validate, call.
func handle[In any, PIn interface {
	*In
	request
}, Out any](fn func(ctx context.Context, b Backend, in *In) (Out, error)) func(context.Context, Backend, []byte) (any, error) {
	return func(ctx context.Context, b Backend, body []byte) (any, error) {
		in := new(In)
		if err := decodeRequest(body, in); err != nil {
			return nil, err
		}
		if err := PIn(in).validate(); err != nil {
			return nil, err
		}
		return fn(ctx, b, in)
	}
}

// operations routes X-Amz-Target operation names. Later operations (tags, document CRUD, activations,
// patching, compliance) are added here, one line each.
var operations = map[string]operation{
	"SendCommand":                 {handle(sendCommand), "InvalidDocument"},
	"ListCommands":                {handle(listCommands), "InvalidCommandId"},
	"ListCommandInvocations":      {handle(listCommandInvocations), "InvalidCommandId"},
	"GetCommandInvocation":        {handle(getCommandInvocation), "InvocationDoesNotExist"},
	"CancelCommand":               {handle(cancelCommand), "InvalidCommandId"},
	"DescribeInstanceInformation": {handle(describeInstanceInformation), "InvalidInstanceId"},
	"ListDocuments":               {handle(listDocuments), "InvalidDocument"},
	"DescribeDocument":            {handle(describeDocument), "InvalidDocument"},
	"GetDocument":                 {handle(getDocument), "InvalidDocument"},

	// Document management and tagging (documentops.go), served by a DocumentBackend.
	"CreateDocument":               {documentOp(createDocument), "InvalidDocument"},
	"UpdateDocument":               {documentOp(updateDocument), "InvalidDocument"},
	"UpdateDocumentDefaultVersion": {documentOp(updateDocumentDefaultVersion), "InvalidDocument"},
	"ListDocumentVersions":         {documentOp(listDocumentVersions), "InvalidDocument"},
	"DeleteDocument":               {documentOp(deleteDocument), "InvalidDocument"},
	"AddTagsToResource":            {documentOp(addTagsToResource), "InvalidResourceId"},
	"RemoveTagsFromResource":       {documentOp(removeTagsFromResource), "InvalidResourceId"},
	"ListTagsForResource":          {documentOp(listTagsForResource), "InvalidResourceId"},

	// Activations and node registration (activations.go), served by a TrustBackend.
	"CreateActivation":          {trustOp(createActivation), "InvalidActivationId"},
	"DescribeActivations":       {trustOp(describeActivations), "InvalidActivationId"},
	"DeleteActivation":          {trustOp(deleteActivation), "InvalidActivationId"},
	"DeregisterManagedInstance": {trustOp(deregisterManagedInstance), "InvalidInstanceId"},
	"RegisterManagedInstance":   {trustOp(registerManagedInstance), "InvalidActivation"},

	// runcmd's node credentials broker (nodecreds.go), served by a CredentialsBackend.
	"GetManagedInstanceCredentials": {credentialsOp(getManagedInstanceCredentials), "InvalidInstanceId"},

	// Patch Manager and Compliance (patchops.go, complianceops.go), served by a PatchBackend.
	"CreatePatchBaseline":                      {patchOp(createPatchBaseline), "DoesNotExistException"},
	"GetPatchBaseline":                         {patchOp(getPatchBaseline), "DoesNotExistException"},
	"UpdatePatchBaseline":                      {patchOp(updatePatchBaseline), "DoesNotExistException"},
	"DeletePatchBaseline":                      {patchOp(deletePatchBaseline), "DoesNotExistException"},
	"DescribePatchBaselines":                   {patchOp(describePatchBaselines), "DoesNotExistException"},
	"RegisterDefaultPatchBaseline":             {patchOp(registerDefaultPatchBaseline), "DoesNotExistException"},
	"GetDefaultPatchBaseline":                  {patchOp(getDefaultPatchBaseline), "DoesNotExistException"},
	"RegisterPatchBaselineForPatchGroup":       {patchOp(registerPatchBaselineForPatchGroup), "DoesNotExistException"},
	"DeregisterPatchBaselineForPatchGroup":     {patchOp(deregisterPatchBaselineForPatchGroup), "DoesNotExistException"},
	"GetPatchBaselineForPatchGroup":            {patchOp(getPatchBaselineForPatchGroup), "DoesNotExistException"},
	"DescribePatchGroups":                      {patchOp(describePatchGroups), "DoesNotExistException"},
	"GetDeployablePatchSnapshotForInstance":    {patchOp(getDeployablePatchSnapshotForInstance), "InvalidInstanceId"},
	"DescribeInstancePatchStates":              {patchOp(describeInstancePatchStates), "InvalidInstanceId"},
	"DescribeInstancePatchStatesForPatchGroup": {patchOp(describeInstancePatchStatesForPatchGroup), "InvalidInstanceId"},
	"DescribeInstancePatches":                  {patchOp(describeInstancePatches), "InvalidInstanceId"},
	"DescribePatchGroupState":                  {patchOp(describePatchGroupState), "InvalidInstanceId"},
	"PutComplianceItems":                       {patchOp(putComplianceItems), "InvalidResourceId"},
	"ListComplianceItems":                      {patchOp(listComplianceItems), "InvalidResourceId"},
	"ListComplianceSummaries":                  {patchOp(listComplianceSummaries), "InvalidResourceId"},
	"ListResourceComplianceSummaries":          {patchOp(listResourceComplianceSummaries), "InvalidResourceId"},
}

// NewHandler returns the SSM API as an http.Handler serving POST / with X-Amz-Target
// "AmazonSSM.<Operation>". A nil log discards.
func NewHandler(b Backend, log *slog.Logger) http.Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &handler{backend: b, log: log}
}

type handler struct {
	backend Backend
	log     *slog.Logger
}

// apiError is an error as it goes on the wire.
type apiError struct {
	status  int
	name    string
	message string
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	reqID := newRequestID()
	w.Header().Set("x-amzn-RequestId", reqID)
	op := strings.TrimPrefix(r.Header.Get("X-Amz-Target"), targetPrefix)
	defer func() {
		// A panic in the backend must not take the process (or the Lambda) down with a half-written
		// response; it is a bug, so it is logged and answered like any internal error.
		if p := recover(); p != nil {
			h.log.ErrorContext(r.Context(), "panic serving request", "operation", op, "request_id", reqID,
				"err", fmt.Sprint(p))
			writeError(w, apiError{http.StatusInternalServerError, "InternalServerError", "internal error"})
		}
	}()
	body, perr := h.readRequest(w, r)
	if perr != nil {
		writeError(w, *perr)
		return
	}
	route, ok := operations[op]
	if !ok {
		writeError(w, apiError{http.StatusBadRequest, "UnknownOperationException",
			fmt.Sprintf("unknown operation %q", op)})
		return
	}
	out, err := route.call(r.Context(), h.backend, body)
	if err != nil {
		e := toAPIError(err, route.notFound)
		if e.status >= 500 {
			h.log.ErrorContext(r.Context(), "internal error", "operation", op, "request_id", reqID, "err", err)
		}
		writeError(w, e)
		return
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(out); err != nil {
		h.log.ErrorContext(r.Context(), "internal error", "operation", op, "request_id", reqID,
			"err", fmt.Errorf("encode %s response: %w", op, err))
		writeError(w, apiError{http.StatusInternalServerError, "InternalServerError", "internal error"})
		return
	}
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(buf.Bytes())
}

// readRequest checks everything about the request except its JSON: method, path, target header,
// content type and size.
func (h *handler) readRequest(w http.ResponseWriter, r *http.Request) ([]byte, *apiError) {
	if r.URL.Path != "/" {
		return nil, &apiError{http.StatusNotFound, "UnknownOperationException",
			fmt.Sprintf("no resource at %q: SSM operations are sent as POST /", r.URL.Path)}
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		return nil, &apiError{http.StatusMethodNotAllowed, "MethodNotAllowedException",
			fmt.Sprintf("method %s is not allowed: SSM operations are sent as POST /", r.Method)}
	}
	target := r.Header.Get("X-Amz-Target")
	switch {
	case target == "":
		return nil, &apiError{http.StatusBadRequest, "UnknownOperationException",
			"missing X-Amz-Target header: expected AmazonSSM.<Operation>"}
	case !strings.HasPrefix(target, targetPrefix):
		return nil, &apiError{http.StatusBadRequest, "UnknownOperationException",
			fmt.Sprintf("X-Amz-Target %q is not an SSM operation: expected AmazonSSM.<Operation>", target)}
	}
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != contentType && mt != "application/x-amz-json-1.0" && mt != "application/json") {
			return nil, &apiError{http.StatusBadRequest, "SerializationException",
				fmt.Sprintf("unsupported Content-Type %q: expected %s", ct, contentType)}
		}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxRequestBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, &apiError{http.StatusRequestEntityTooLarge, "RequestEntityTooLargeException",
				fmt.Sprintf("request body is larger than %d bytes", MaxRequestBytes)}
		}
		return nil, &apiError{http.StatusBadRequest, "SerializationException", "could not read the request body"}
	}
	return body, nil
}

// toAPIError maps a coded error to SSM's error name and status. notFound names ENOTFOUND errors that
// carry no name of their own.
func toAPIError(err error, notFound string) apiError {
	code, name, msg := runcmd.ErrorCode(err), runcmd.ErrorName(err), runcmd.ErrorMessage(err)
	if code == runcmd.EINTERNAL {
		// Whatever the error says, the caller only learns that something broke on our side.
		return apiError{http.StatusInternalServerError, "InternalServerError", "internal error"}
	}
	if name == "" {
		switch code {
		case runcmd.EINVALID:
			name = "ValidationException"
		case runcmd.ENOTFOUND:
			name = notFound
		case runcmd.ECONFLICT:
			// SSM has no generic conflict error; TooManyUpdates ("concurrent updates for a resource
			// that supports one update at a time") is the closest, and clients treat it as retryable.
			name = "TooManyUpdates"
		case runcmd.EUNAUTHORIZED:
			name = "AccessDeniedException"
		case runcmd.ELIMIT:
			name = "ResourceLimitExceededException"
		default:
			return apiError{http.StatusInternalServerError, "InternalServerError", "internal error"}
		}
	}
	return apiError{http.StatusBadRequest, name, msg}
}

// writeError writes SSM's error body: {"__type": name, "message": text}. The SDKs read the error name
// from __type and the text from message (any case).
func writeError(w http.ResponseWriter, e apiError) {
	b, err := json.Marshal(struct {
		Type    string `json:"__type"`
		Message string `json:"message"`
	}{e.name, e.message})
	if err != nil { // cannot happen for two strings; keep the response well-formed anyway
		b = []byte(`{"__type":"InternalServerError","message":"internal error"}`)
	}
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(e.status)
	_, _ = w.Write(b)
}

// newRequestID returns a random UUID (version 4), the form SSM's request ids take.
func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
