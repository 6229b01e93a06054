package diff

import (
	"fmt"
	"strings"
)

// Op is what a change does. Ops are declared in the order a plan applies
// them: departments exist before the accounts placed in them, new accounts
// before updates, and blocks and deletes last so that a failure earlier in
// the plan never leaves people locked out without their replacements.
type Op int

// The operations, in apply order. OpSkip marks an account left alone on
// purpose; it is listed in the plan with its reason and never applied.
const (
	OpCreateDepartment Op = iota + 1
	OpCreate
	OpUpdate
	OpUnblock
	OpBlock
	OpDelete
	OpSkip
)

var opNames = [...]string{
	OpCreateDepartment: "create-department",
	OpCreate:           "create",
	OpUpdate:           "update",
	OpUnblock:          "unblock",
	OpBlock:            "block",
	OpDelete:           "delete",
	OpSkip:             "skip",
}

// Ops lists every operation in apply order.
var Ops = []Op{OpCreateDepartment, OpCreate, OpUpdate, OpUnblock, OpBlock, OpDelete, OpSkip}

func (o Op) String() string {
	if o > 0 && int(o) < len(opNames) {
		return opNames[o]
	}
	return fmt.Sprintf("op(%d)", int(o))
}

// MarshalText renders the op's name.
func (o Op) MarshalText() ([]byte, error) { return []byte(o.String()), nil }

// UnmarshalText parses an op's name.
func (o *Op) UnmarshalText(b []byte) error {
	for i, n := range opNames {
		if n != "" && n == string(b) {
			*o = Op(i)
			return nil
		}
	}
	return fmt.Errorf("diff: unknown op %q", b)
}

// Actionable reports whether the op changes the sink.
func (o Op) Actionable() bool { return o >= OpCreateDepartment && o <= OpDelete }

// Reason codes. Codes are stable and meant for programs; Detail is the
// sentence an admin reads.
const (
	ReasonNew            = "source.new"
	ReasonChanged        = "source.changed"
	ReasonDisabled       = "source.disabled"
	ReasonEnabled        = "source.enabled"
	ReasonDeleted        = "source.deleted"
	ReasonScopeLeft      = "scope.left"
	ReasonInScope        = "scope.included"
	ReasonOutOfScope     = "scope.excluded"
	ReasonException      = "policy.exception"
	ReasonAdopted        = "adopted.by-email"
	ReasonUnmanaged      = "account.unmanaged"
	ReasonAppBlockKept   = "policy.app-block-kept"
	ReasonDrift          = "drift.app-block"
	ReasonGraceDelete    = "policy.grace-expired"
	ReasonLeave          = "policy.leave"
	ReasonDepartment     = "department.missing"
	ReasonInvalid        = "mapping.invalid"
	ReasonDisabledNew    = "source.disabled-new"
	ReasonDuplicateEmail = "conflict.email"
	// ReasonConflictIntegration marks a person another integration manages.
	ReasonConflictIntegration = "conflict.integration"
	// ReasonJoinConflict marks directory entries that map to one join key
	// (Source, ExternalID): none of them is synced, and the app account
	// under that key is left as it is.
	ReasonJoinConflict = "conflict.external-id"
	// ReasonDuplicateAccount marks app accounts that share one join key,
	// for instance after a host's create ran twice.
	ReasonDuplicateAccount = "conflict.duplicate-account"
	// ReasonScopeReturned unblocks an account sync blocked when its entry
	// left the sync scope, now that the entry is back in it.
	ReasonScopeReturned = "scope.returned"
	// ReasonRestored unblocks an account sync blocked when its entry
	// disappeared from the directory, now that the entry is back.
	ReasonRestored = "source.restored"
	// ReasonActive unblocks an account sync blocked for a reason it did not
	// record (a block from before Account.BlockReason existed).
	ReasonActive = "source.active"
)

// Reason says why a change is in the plan.
type Reason struct {
	Code   string `json:"code"`
	Detail string `json:"detail"`
}

func (r Reason) String() string {
	if r.Detail == "" {
		return r.Code
	}
	return r.Detail
}

// FieldChange is one field's old and new value.
type FieldChange struct {
	Name string `json:"name"`
	Old  string `json:"old"`
	New  string `json:"new"`
}

func (f FieldChange) String() string {
	return fmt.Sprintf("%s: %q → %q", f.Name, f.Old, f.New)
}

// Change is one step of a plan.
type Change struct {
	Op Op `json:"op"`
	// Key identifies the change within the plan: the account's join key
	// "source/externalID", "app/<id>" for accounts no directory manages,
	// or "department/<path>" for a department. When several entries or
	// app accounts share one join key, the extra ones are told apart by a
	// suffix: "source/externalID#entry=<entry ID>" for an entry (or "#<n>"
	// when the entry ID is not known), "source/externalID#app=<app ID>"
	// for an app account.
	Key string `json:"key"`
	// Before is the account as the sink holds it (nil on create).
	Before *Account `json:"before,omitempty"`
	// After is the account as it will be (nil on delete and department).
	After *Account `json:"after,omitempty"`
	// Department is the path a create-department change creates.
	Department []string `json:"department,omitempty"`
	// Fields lists the changed fields, sorted by name.
	Fields  []FieldChange `json:"fields,omitempty"`
	Reasons []Reason      `json:"reasons"`
}

// Account returns After, or Before when there is no After.
func (c *Change) Account() *Account {
	if c.After != nil {
		return c.After
	}
	return c.Before
}

// Status is the sentence shown in a plan's Status column: the details of
// the reasons joined.
func (c *Change) Status() string {
	parts := make([]string, len(c.Reasons))
	for i, r := range c.Reasons {
		parts[i] = r.String()
	}
	return strings.Join(parts, "; ")
}

// HasReason reports whether the change carries the reason code.
func (c *Change) HasReason(code string) bool {
	for _, r := range c.Reasons {
		if r.Code == code {
			return true
		}
	}
	return false
}

// Label returns the account's name (Account.Name), or the department
// path; the change's key for an account with no name, username or email,
// so that a plan never lists a row that names nobody.
func (c *Change) Label() string {
	if c.Op == OpCreateDepartment {
		return strings.Join(c.Department, DepartmentSeparator)
	}
	if a := c.Account(); a != nil {
		if n := a.Name(); n != "" {
			return n
		}
	}
	return c.Key
}
