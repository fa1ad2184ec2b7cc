// Package runcmd is the domain of runcmd, a serverless re-implementation of AWS Systems Manager Run
// Command: commands, invocations, managed nodes, their statuses and legal transitions, the messages that
// travel between the functions and the agents, coded errors, and the ports the services are written
// against. It imports the standard library only.
package runcmd
