package runtime

import (
	"errors"
	"fmt"
)

// Error codes of arsenal operations and engine calls (SPEC §4.2).
const (
	CodeValidation        = "validation_error"
	CodeNodeNotFound      = "node_not_found"
	CodeProcessNotFound   = "process_not_found"
	CodeNodeUnreachable   = "node_unreachable"
	CodeTimeout           = "timeout"
	CodeProtection        = "critical_process_protection"
	CodeOperationNotFound = "operation_not_found"
	CodeAlreadyStarted    = "already_started"
	CodeInternal          = "internal_error"
)

// Error is an engine error with a code callers branch on. It survives RPC:
// a remote node's Error arrives with the same code and message.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	// Node names the node the error concerns, when there is one.
	Node string `json:"node,omitempty"`
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Errorf returns an *Error with the given code.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// AsError returns err as an *Error, wrapping foreign errors as internal.
func AsError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return &Error{Code: CodeInternal, Message: err.Error()}
}

// ErrorCode returns the code of err, or "" when it has none.
func ErrorCode(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}
