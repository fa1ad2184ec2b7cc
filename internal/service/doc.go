// Package service holds runcmd's use cases: the SSM operations behind the api function, and the
// decisions of the dispatch, ingest and sweep functions. It speaks only the root package's ports, never
// an AWS SDK or aws-lambda-go type, so the same code runs in Lambda, in `runcmd dev` and over fakes.
package service
