// Package fake holds in-memory, goroutine-safe implementations of runcmd's ports with the same semantics
// as the AWS adapters (not-found errors, conditional conflicts, pagination). The conformance suites in
// internal/storetest run against both to prove it.
package fake
