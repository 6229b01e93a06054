package diff

import (
	"maps"
	"slices"
	"strings"
	"time"
)

// Account is a user account as the host application holds it, and as the
// mapping says it should be.
type Account struct {
	// ID is the application's own key for the account, assigned by the
	// sink. It is empty in a desired account and on a create.
	ID string `json:"id,omitempty"`
	// Source names the integration that manages the account.
	Source string `json:"source,omitempty"`
	// ExternalID is the directory's key for the person, by default the
	// entry's immutable ID (Entry.ID), or what the mapping takes from an
	// attribute such as employeeID: with Source, the join key.
	ExternalID string `json:"externalId,omitempty"`

	Username    string   `json:"username,omitempty"`
	Email       string   `json:"email,omitempty"`
	GivenName   string   `json:"givenName,omitempty"`
	FamilyName  string   `json:"familyName,omitempty"`
	DisplayName string   `json:"displayName,omitempty"`
	Title       string   `json:"title,omitempty"`
	Phone       string   `json:"phone,omitempty"`
	Manager     string   `json:"manager,omitempty"`
	Department  []string `json:"department,omitempty"`
	Roles       []string `json:"roles,omitempty"`
	// Extra holds host-specific fields set by the mapping.
	Extra map[string]string `json:"extra,omitempty"`

	// Blocked accounts cannot sign in.
	Blocked bool `json:"blocked,omitempty"`
	// BlockedBySync is set when sync, not an admin, blocked the account;
	// only such blocks are lifted when the directory re-enables it.
	BlockedBySync bool `json:"blockedBySync,omitempty"`
	// BlockedAt is when sync blocked the account; it starts the grace
	// period before a delete.
	BlockedAt time.Time `json:"blockedAt,omitzero"`
	// BlockReason is the reason code of the block sync set
	// (ReasonDisabled, ReasonScopeLeft or ReasonDeleted), so that the
	// unblock says why the person is back. It travels with Blocked; empty
	// on accounts blocked before it existed, which unblock with a neutral
	// reason.
	BlockReason string `json:"blockReason,omitempty"`
	// Managed accounts belong to sync. Only managed accounts are ever
	// blocked or deleted by it.
	Managed bool `json:"managed,omitempty"`
}

// Key returns the join key "source/externalID", or "" for an account that
// no directory manages.
func (a *Account) Key() string {
	if a.ExternalID == "" {
		return ""
	}
	return a.Source + "/" + a.ExternalID
}

// Name returns the best human label: display name, else given and family
// name, else username, else email.
func (a *Account) Name() string {
	if a.DisplayName != "" {
		return a.DisplayName
	}
	if n := strings.TrimSpace(a.GivenName + " " + a.FamilyName); n != "" {
		return n
	}
	if a.Username != "" {
		return a.Username
	}
	return a.Email
}

// Clone returns a deep copy.
func (a Account) Clone() Account {
	c := a
	c.Department = slices.Clone(a.Department)
	c.Roles = slices.Clone(a.Roles)
	c.Extra = maps.Clone(a.Extra)
	return c
}

// Field names used in FieldChange and in a mapper's list of owned fields.
// Extra fields are named "extra.<key>".
const (
	FieldUsername    = "username"
	FieldEmail       = "email"
	FieldGivenName   = "givenName"
	FieldFamilyName  = "familyName"
	FieldDisplayName = "displayName"
	FieldTitle       = "title"
	FieldPhone       = "phone"
	FieldManager     = "manager"
	FieldDepartment  = "department"
	FieldRoles       = "roles"
	// Bookkeeping fields, changed by adoption, blocks and unblocks.
	FieldSource     = "source"
	FieldExternalID = "externalId"
	FieldManaged    = "managed"
	FieldBlocked    = "blocked"
	ExtraPrefix     = "extra."
)

// Fields lists the well-known profile fields in their canonical order.
var Fields = []string{
	FieldUsername, FieldEmail, FieldGivenName, FieldFamilyName, FieldDisplayName,
	FieldTitle, FieldPhone, FieldManager, FieldDepartment, FieldRoles,
}

// DepartmentSeparator joins department path elements for display and in
// FieldChange values.
const DepartmentSeparator = " / "

// Get returns the value of a field as a string. Department joins with
// DepartmentSeparator and roles with ", ".
func (a *Account) Get(field string) string {
	switch field {
	case FieldUsername:
		return a.Username
	case FieldEmail:
		return a.Email
	case FieldGivenName:
		return a.GivenName
	case FieldFamilyName:
		return a.FamilyName
	case FieldDisplayName:
		return a.DisplayName
	case FieldTitle:
		return a.Title
	case FieldPhone:
		return a.Phone
	case FieldManager:
		return a.Manager
	case FieldDepartment:
		return strings.Join(a.Department, DepartmentSeparator)
	case FieldRoles:
		return strings.Join(a.Roles, ", ")
	case FieldSource:
		return a.Source
	case FieldExternalID:
		return a.ExternalID
	case FieldManaged:
		return boolString(a.Managed)
	case FieldBlocked:
		return boolString(a.Blocked)
	}
	if k, ok := strings.CutPrefix(field, ExtraPrefix); ok {
		return a.Extra[k]
	}
	return ""
}

// CopyField copies one field from src to a. Unknown names are ignored.
func (a *Account) CopyField(field string, src *Account) {
	switch field {
	case FieldUsername:
		a.Username = src.Username
	case FieldEmail:
		a.Email = src.Email
	case FieldGivenName:
		a.GivenName = src.GivenName
	case FieldFamilyName:
		a.FamilyName = src.FamilyName
	case FieldDisplayName:
		a.DisplayName = src.DisplayName
	case FieldTitle:
		a.Title = src.Title
	case FieldPhone:
		a.Phone = src.Phone
	case FieldManager:
		a.Manager = src.Manager
	case FieldDepartment:
		a.Department = slices.Clone(src.Department)
	case FieldRoles:
		a.Roles = slices.Clone(src.Roles)
	case FieldSource:
		a.Source = src.Source
	case FieldExternalID:
		a.ExternalID = src.ExternalID
	case FieldManaged:
		a.Managed = src.Managed
	case FieldBlocked:
		a.Blocked = src.Blocked
		a.BlockedBySync = src.BlockedBySync
		a.BlockedAt = src.BlockedAt
		a.BlockReason = src.BlockReason
	default:
		if k, ok := strings.CutPrefix(field, ExtraPrefix); ok {
			v, set := src.Extra[k]
			if !set || v == "" {
				delete(a.Extra, k)
				return
			}
			if a.Extra == nil {
				a.Extra = map[string]string{}
			}
			a.Extra[k] = v
		}
	}
}

func boolString(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

// IsField reports whether name is a well-known field or an extra field.
func IsField(name string) bool {
	if k, ok := strings.CutPrefix(name, ExtraPrefix); ok {
		return k != ""
	}
	return slices.Contains(Fields, name)
}
