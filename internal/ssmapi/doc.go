// Package ssmapi speaks SSM's wire protocol (AWS JSON 1.1, target prefix AmazonSSM) so that the AWS CLI,
// boto3 and aws-sdk-go-v2's ssm client work against runcmd unchanged.
//
// The handler decodes a request, checks the constraints the botocore model states (required members,
// lengths, ranges, patterns, enums) and answers violations with SSM's own ValidationException text, calls
// one Backend method, and encodes the result in SSM's response shapes. Everything that needs state or
// business rules (does the command exist, may these filters be combined with that status, is the next
// token valid) belongs to the Backend, which reports it with a coded runcmd.Error that this package turns
// into SSM's error name and HTTP status.
//
// Each operation is one entry in a table (see operations in handler.go): a request type with a validate
// method, and a function that calls the Backend and builds the response. Adding an operation means adding
// one such pair and one line to the table.
package ssmapi
