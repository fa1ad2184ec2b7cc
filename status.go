package runcmd

// CommandStatus is SSM's CommandStatus enum.
type CommandStatus string

// SSM's CommandStatus values.
const (
	CommandPending    CommandStatus = "Pending"
	CommandInProgress CommandStatus = "InProgress"
	CommandSuccess    CommandStatus = "Success"
	CommandCancelled  CommandStatus = "Cancelled"
	CommandFailed     CommandStatus = "Failed"
	CommandTimedOut   CommandStatus = "TimedOut"
	CommandCancelling CommandStatus = "Cancelling"
)

// InvocationStatus is SSM's CommandInvocationStatus enum. CommandPluginStatus is the subset without
// Delayed and Cancelling.
type InvocationStatus string

// SSM's CommandInvocationStatus values.
const (
	InvocationPending    InvocationStatus = "Pending"
	InvocationInProgress InvocationStatus = "InProgress"
	InvocationDelayed    InvocationStatus = "Delayed"
	InvocationSuccess    InvocationStatus = "Success"
	InvocationCancelled  InvocationStatus = "Cancelled"
	InvocationTimedOut   InvocationStatus = "TimedOut"
	InvocationFailed     InvocationStatus = "Failed"
	InvocationCancelling InvocationStatus = "Cancelling"
)

// Detail is an invocation's StatusDetails value and the single source of truth for its state: the coarse
// InvocationStatus is derived from it. Values are written CamelCase without spaces, as the real API
// returns them ("ExecutionTimedOut") and as the Status filters spell them.
type Detail string

// Invocation StatusDetails values (reference: runcommand-semantics.md 2.2).
const (
	DetailPending           Detail = "Pending"
	DetailInProgress        Detail = "InProgress"
	DetailDelayed           Detail = "Delayed"
	DetailCancelling        Detail = "Cancelling"
	DetailSuccess           Detail = "Success"
	DetailFailed            Detail = "Failed"
	DetailDeliveryTimedOut  Detail = "DeliveryTimedOut"
	DetailExecutionTimedOut Detail = "ExecutionTimedOut"
	DetailCancelled         Detail = "Cancelled"
	DetailTerminated        Detail = "Terminated"
	DetailUndeliverable     Detail = "Undeliverable"
	DetailInvalidPlatform   Detail = "InvalidPlatform"
	DetailAccessDenied      Detail = "AccessDenied"
)

// TerminalDetails lists every terminal invocation detail, in a fixed order (stores keep one counter each).
var TerminalDetails = []Detail{
	DetailSuccess, DetailFailed, DetailDeliveryTimedOut, DetailExecutionTimedOut, DetailCancelled,
	DetailTerminated, DetailUndeliverable, DetailInvalidPlatform, DetailAccessDenied,
}

// Status returns the coarse SSM status that goes with d. Terminated (a later invocation cancelled by the
// system after MaxErrors) maps to Cancelled; Undeliverable, InvalidPlatform and AccessDenied map to Failed,
// as third-party captures show for Undeliverable (docs/compatibility.md).
func (d Detail) Status() InvocationStatus {
	switch d {
	case DetailPending:
		return InvocationPending
	case DetailInProgress:
		return InvocationInProgress
	case DetailDelayed:
		return InvocationDelayed
	case DetailCancelling:
		return InvocationCancelling
	case DetailSuccess:
		return InvocationSuccess
	case DetailDeliveryTimedOut, DetailExecutionTimedOut:
		return InvocationTimedOut
	case DetailCancelled, DetailTerminated:
		return InvocationCancelled
	default:
		return InvocationFailed
	}
}

// Terminal reports whether an invocation in state d can never change again.
func (d Detail) Terminal() bool {
	switch d {
	case DetailPending, DetailInProgress, DetailDelayed, DetailCancelling:
		return false
	}
	return true
}

// Valid reports whether d is one of the known details.
func (d Detail) Valid() bool {
	switch d {
	case DetailPending, DetailInProgress, DetailDelayed, DetailCancelling:
		return true
	}
	for _, t := range TerminalDetails {
		if d == t {
			return true
		}
	}
	return false
}

// CountsAsError reports whether an invocation ending in d counts toward MaxErrors: only Failed and
// Execution Timed Out do.
func (d Detail) CountsAsError() bool {
	return d == DetailFailed || d == DetailExecutionTimedOut
}

// Ignored reports whether d is left out when the final command status is decided (Undeliverable, Invalid
// Platform and Access Denied).
func (d Detail) Ignored() bool {
	return d == DetailUndeliverable || d == DetailInvalidPlatform || d == DetailAccessDenied
}

// CanTransition reports whether an invocation may move from one detail to another. It is the only place
// the invocation state machine lives:
//
//	Pending    -> InProgress (sent), Delayed, Cancelled, Terminated, Undeliverable, InvalidPlatform,
//	              AccessDenied, DeliveryTimedOut, and any agent result (a reply can overtake the send record)
//	Delayed    -> InProgress and everything Pending can reach
//	InProgress -> InProgress (progress from the agent), Cancelling, Success, Failed, ExecutionTimedOut,
//	              Cancelled, DeliveryTimedOut, Undeliverable
//	Cancelling -> Cancelled, and any agent result (the step may finish before the cancel lands)
//	terminal   -> nothing
func CanTransition(from, to Detail) bool {
	if !from.Valid() || !to.Valid() || from.Terminal() {
		return false
	}
	agentResult := to == DetailSuccess || to == DetailFailed || to == DetailExecutionTimedOut ||
		to == DetailCancelled
	switch from {
	case DetailPending, DetailDelayed:
		if to == DetailPending || to == DetailCancelling {
			return false
		}
		return to != DetailDelayed || from == DetailPending
	case DetailInProgress:
		return to == DetailInProgress || to == DetailCancelling || agentResult ||
			to == DetailDeliveryTimedOut || to == DetailUndeliverable
	case DetailCancelling:
		return agentResult || to == DetailDeliveryTimedOut
	}
	return false
}
