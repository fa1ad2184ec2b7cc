package runcmd

import (
	"errors"
	"fmt"
)

// Error codes. They say what kind of failure happened; the SSM protocol layer turns them (and the
// optional SSM error name) into the wire error.
const (
	EINVALID      = "invalid"      // the request breaks a rule; the message says which
	ENOTFOUND     = "not_found"    // the named thing does not exist
	ECONFLICT     = "conflict"     // the state changed under us, or the thing already exists
	EUNAUTHORIZED = "unauthorized" // the caller may not do this
	ELIMIT        = "limit"        // a quota or size limit was reached
	EINTERNAL     = "internal"     // anything else; never shown to callers
)

// Error is an error with a code, an optional SSM error name (such as "InvalidInstanceId") and a message
// that is safe to show to the caller.
type Error struct {
	Code    string
	Name    string // SSM's error name; empty means the protocol layer picks one from Code
	Message string
}

func (e *Error) Error() string {
	if e.Name != "" {
		return e.Name + ": " + e.Message
	}
	return e.Code + ": " + e.Message
}

// Errorf returns a coded error with an SSM error name.
func Errorf(code, name, format string, args ...any) *Error {
	return &Error{Code: code, Name: name, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the first *Error in err's chain, EINTERNAL for any other error, and ""
// for nil.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorName returns the SSM error name of the first *Error in err's chain, or "".
func ErrorName(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Name
	}
	return ""
}

// ErrorMessage returns the caller-safe message of err: the *Error's message, or "internal error".
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "internal error"
}
