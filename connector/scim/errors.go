package scim

import (
	"errors"
	"fmt"
	"net/http"
)

// Sentinel errors.
var (
	// ErrCorruptResources reports stored resources that cannot be read
	// back: a Journal line that is not a record, a record whose
	// attributes are not a JSON object, a resource stored twice.
	ErrCorruptResources = errors.New("scim: stored resources are corrupt")
	// ErrNoToken reports an integration for which no token was issued
	// yet: every request is refused until RotateToken issues one.
	ErrNoToken = errors.New("scim: no token issued; call RotateToken")
)

// The scimType values of RFC 7644 section 3.12 this package answers with.
const (
	scimInvalidFilter = "invalidFilter"
	scimInvalidSyntax = "invalidSyntax"
	scimInvalidValue  = "invalidValue"
	scimInvalidPath   = "invalidPath"
	scimNoTarget      = "noTarget"
	scimUniqueness    = "uniqueness"
	scimMutability    = "mutability"
	scimTooMany       = "tooMany"
)

// protoError is an error the client caused, answered with the SCIM error
// schema. Its detail never holds a token or a value the client sent beyond
// an attribute name or path.
type protoError struct {
	status   int
	scimType string
	detail   string
}

func (e *protoError) Error() string {
	if e.scimType == "" {
		return fmt.Sprintf("scim: %d: %s", e.status, e.detail)
	}
	return fmt.Sprintf("scim: %d %s: %s", e.status, e.scimType, e.detail)
}

func badRequest(scimType, format string, args ...any) *protoError {
	return &protoError{status: http.StatusBadRequest, scimType: scimType, detail: fmt.Sprintf(format, args...)}
}

func errorBody(status int, scimType, detail string) map[string]any {
	m := map[string]any{"schemas": []string{urnError}, "status": fmt.Sprint(status), "detail": detail}
	if scimType != "" {
		m["scimType"] = scimType
	}
	return m
}
