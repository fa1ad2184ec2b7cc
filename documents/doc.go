// Package documents is the SSM command-document model shared by the functions and the node agent: it
// parses JSON or YAML content (schema 1.2 runtimeConfig and 2.x mainSteps onto one model), validates it
// with errors that name the field path and line, validates and types runtime parameters, and renders the
// steps with {{ name }} interpolation the way the SSM agent does.
//
// It imports the standard library, the root package (for coded errors) and a YAML library only.
package documents
