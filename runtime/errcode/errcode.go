// Package errcode holds the engine's coded errors: the codes callers
// branch on, the Error that carries one across RPC, and the one format
// every operation's failure is shown in, "<op>: <code>: <message>".
package errcode

import (
	"errors"
	"fmt"
	"strings"
)

// Error codes of arsenal operations and engine calls. A scenario matches
// on them, so they never change once shipped.
const (
	Validation        = "validation_error"
	NodeNotFound      = "node_not_found"
	ProcessNotFound   = "process_not_found"
	NodeUnreachable   = "node_unreachable"
	Timeout           = "timeout"
	Protection        = "critical_process_protection"
	OperationNotFound = "operation_not_found"
	AlreadyStarted    = "already_started"
	Internal          = "internal_error"
	// CookieMismatch: the other end holds another cookie. Engine calls
	// (a join, a runner's control call) fail with it; a caller branches
	// on the code, never on the message.
	CookieMismatch = "cookie_mismatch"
	// ResourceExhausted: a limit that bounds a node's memory was reached
	// (a mailbox's or the node's queued bytes, its processes, the bytes
	// of requests it is reading). The message names the limit; the call
	// was refused whole, and may succeed once the node has caught up.
	ResourceExhausted = "resource_exhausted"
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

// Is reports whether target is an *Error of the same code: an error that
// crossed the wire is still errors.Is its sentinel (rpc.ErrCookieMismatch).
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// Errorf returns an *Error with the given code. Its message is bounded
// (MaxMessage): an error that echoes what it was given must not echo
// megabytes to every report that keeps it.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: bounded(fmt.Sprintf(format, args...))}
}

// As returns err as an *Error, wrapping foreign errors as internal.
func As(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return &Error{Code: Internal, Message: bounded(err.Error())}
}

// MaxMessage bounds the message of an error made by Errorf or As.
const MaxMessage = 4 << 10

func bounded(msg string) string { return Bound(msg, MaxMessage) }

// Bound keeps msg whole up to limit bytes, else its beginning and end
// with the count of bytes left out between them.
func Bound(msg string, limit int) string {
	if len(msg) <= limit {
		return msg
	}
	head, tail := limit*3/4, limit/4
	return fmt.Sprintf("%s … (%d bytes left out) … %s", strings.ToValidUTF8(msg[:head], ""), len(msg)-head-tail, strings.ToValidUTF8(msg[len(msg)-tail:], ""))
}

// Code returns the code of err, or "" when it has none.
func Code(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

// OpError is an operation's failure. It reads "<op>: <code>: <message>",
// the one shape every operation error is shown in, and unwraps to the
// *Error that carries the code.
type OpError struct {
	Op  string
	Err *Error
}

func (e *OpError) Error() string { return e.Op + ": " + e.Err.Error() }

// Unwrap returns the coded error.
func (e *OpError) Unwrap() error { return e.Err }

// Op names the operation that failed with err. An error without a code
// becomes internal; an error already naming op is returned as it is.
func Op(op string, err error) *OpError {
	var oe *OpError
	if errors.As(err, &oe) && oe.Op == op {
		return oe
	}
	return &OpError{Op: op, Err: As(err)}
}
