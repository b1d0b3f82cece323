// Package azerr is Cerulean's one error type: an Azure error code, the HTTP status it maps to
// and a message a person can act on. Components return *Error for every failure a caller can
// cause; handlers write it once with WriteARM (the ARM envelope) or WriteOAuth (the OAuth2 and
// IMDS shape). Any other error reaching a handler is an internal fault and becomes a 500
// without leaking its text.
//
// It is not a logging or tracing package.
package azerr

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
)

// Error is an Azure error: a code such as "AuthorizationFailed", the status it is answered
// with, and a message.
type Error struct {
	Status  int
	Code    string
	Message string
	// Target and Details are optional parts of the ARM envelope.
	Target  string
	Details []*Error
	// AdditionalInfo carries Azure's additionalInfo entries (policy violations).
	AdditionalInfo []AdditionalInfo
	// Inner is Key Vault's innererror code (e.g. "ForbiddenByRbac", "KeyDisabled").
	Inner string
	// Header holds extra response headers (Retry-After, WWW-Authenticate).
	Header http.Header
}

// AdditionalInfo is one entry of an ARM error's additionalInfo array.
type AdditionalInfo struct {
	Type string `json:"type"`
	Info any    `json:"info"`
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// New returns an Error with a formatted message.
func New(status int, code, format string, args ...any) *Error {
	return &Error{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

// WithHeader returns e with a response header added.
func (e *Error) WithHeader(k, v string) *Error {
	if e.Header == nil {
		e.Header = http.Header{}
	}
	e.Header.Set(k, v)
	return e
}

// As returns err as an *Error if it is one (anywhere in its chain).
func As(err error) (*Error, bool) {
	var e *Error
	if errors.As(err, &e) {
		return e, true
	}
	return nil, false
}

// Common constructors for the codes every part of Cerulean answers.

// BadRequest is a 400 with the given code.
func BadRequest(code, format string, args ...any) *Error {
	return New(http.StatusBadRequest, code, format, args...)
}

// NotFound is a 404 with the given code.
func NotFound(code, format string, args ...any) *Error {
	return New(http.StatusNotFound, code, format, args...)
}

// Conflict is a 409 with the given code.
func Conflict(code, format string, args ...any) *Error {
	return New(http.StatusConflict, code, format, args...)
}

// Forbidden is a 403 with the given code.
func Forbidden(code, format string, args ...any) *Error {
	return New(http.StatusForbidden, code, format, args...)
}

// Unauthorized is a 401 with the given code.
func Unauthorized(code, format string, args ...any) *Error {
	return New(http.StatusUnauthorized, code, format, args...)
}

type armBody struct {
	Error armError `json:"error"`
}

type armError struct {
	Code           string           `json:"code"`
	Message        string           `json:"message"`
	Target         string           `json:"target,omitempty"`
	Details        []armError       `json:"details,omitempty"`
	AdditionalInfo []AdditionalInfo `json:"additionalInfo,omitempty"`
}

func toARM(e *Error) armError {
	a := armError{Code: e.Code, Message: e.Message, Target: e.Target, AdditionalInfo: e.AdditionalInfo}
	for _, d := range e.Details {
		a.Details = append(a.Details, toARM(d))
	}
	return a
}

// Internal is what any non-*Error becomes: a 500 that says nothing of its cause.
var Internal = &Error{Status: http.StatusInternalServerError, Code: "InternalServerError",
	Message: "The server encountered an internal error. Please retry the request; if it persists, see the server log for the request id."}

// From converts any error to an *Error, turning unknown errors into Internal.
func From(err error) *Error {
	if e, ok := As(err); ok {
		return e
	}
	return Internal
}

func writeHeaders(w http.ResponseWriter, e *Error) {
	for k, vs := range e.Header {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(e.Status)
}

// WriteARM writes err in ARM's envelope: {"error":{"code","message",...}}.
func WriteARM(w http.ResponseWriter, err error) {
	e := From(err)
	w.Header().Set("x-ms-error-code", e.Code)
	writeHeaders(w, e)
	_ = json.NewEncoder(w).Encode(armBody{Error: toARM(e)})
}

// WriteOAuth writes err in the OAuth2 / IMDS shape: {"error","error_description"}.
func WriteOAuth(w http.ResponseWriter, err error) {
	e := From(err)
	for k, vs := range e.Header {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(e.Status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": e.Code, "error_description": e.Message})
}

// WithInner returns e with Key Vault's innererror code set.
func (e *Error) WithInner(code string) *Error {
	e.Inner = code
	return e
}

type kvError struct {
	Code       string   `json:"code"`
	Message    string   `json:"message"`
	InnerError *kvInner `json:"innererror,omitempty"`
}

type kvInner struct {
	Code string `json:"code"`
}

// WriteKeyVault writes err in Key Vault's envelope:
// {"error":{"code","message","innererror":{"code"}}}.
func WriteKeyVault(w http.ResponseWriter, err error) {
	e := From(err)
	writeHeaders(w, e)
	body := kvError{Code: e.Code, Message: e.Message}
	if e.Inner != "" {
		body.InnerError = &kvInner{Code: e.Inner}
	}
	_ = json.NewEncoder(w).Encode(map[string]kvError{"error": body})
}
