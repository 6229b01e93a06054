package mapping

import (
	"errors"
	"fmt"

	"github.com/dirsync-go/dirsync/connector"
	"github.com/dirsync-go/dirsync/diff"
)

// Mapper turns a directory entry into the account the app should hold.
//
// dir is the complete read the entry belongs to; mappers use it to follow
// references (a manager's DN) and group membership. It may be nil, in which
// case references resolve to nothing and no roles are granted.
//
// Map leaves Source empty (the Syncer sets it) and sets ExternalID, the join
// key. An account with an empty ExternalID is skipped by the caller. Map
// returns an error only for an entry that cannot be mapped at all; a missing
// attribute is not an error, it leaves the field empty.
type Mapper interface {
	Map(e *connector.Entry, dir *connector.Snapshot) (diff.Account, error)
}

// MapperFunc adapts an ordinary function to the Mapper interface, for hosts
// whose mapping is easier to write in Go than as a Spec.
type MapperFunc func(e *connector.Entry, dir *connector.Snapshot) (diff.Account, error)

// Map calls f(e, dir).
func (f MapperFunc) Map(e *connector.Entry, dir *connector.Snapshot) (diff.Account, error) {
	return f(e, dir)
}

// ErrInvalidSpec is wrapped by every error New, ParseSpec and Builder.Build
// return for a spec that cannot be used.
var ErrInvalidSpec = errors.New("mapping: invalid spec")

// ErrNilEntry is returned by RuleMapper.Map for a nil entry.
var ErrNilEntry = errors.New("mapping: nil entry")

// RuleError reports what is wrong with one rule or role link of a Spec.
//
// For a rule, Index is its position in Spec.Rules and Target its target. For
// a role link, Target is "roles" (a target no rule may have) and Index is the
// link's position in Spec.Roles. Index is -1 for a problem with the spec as a
// whole. errors.Is(err, ErrInvalidSpec) holds for every RuleError.
type RuleError struct {
	Index  int
	Target string
	Err    error
}

func (e *RuleError) Error() string {
	switch {
	case e.Index < 0:
		return fmt.Sprintf("mapping: spec: %v", e.Err)
	case e.Target == diff.FieldRoles:
		return fmt.Sprintf("mapping: role link %d: %v", e.Index, e.Err)
	default:
		return fmt.Sprintf("mapping: rule %d (target %q): %v", e.Index, e.Target, e.Err)
	}
}

// Unwrap returns the underlying error.
func (e *RuleError) Unwrap() error { return e.Err }

// Is reports whether target is ErrInvalidSpec.
func (e *RuleError) Is(target error) bool { return target == ErrInvalidSpec }
