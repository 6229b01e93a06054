package policy

import (
	"errors"
	"fmt"
	"math"
	"strconv"

	"github.com/dirsync-go/dirsync/diff"
)

// Default safety limits, in the spirit of Microsoft Entra Connect's
// accidental-deletes threshold of 500.
const (
	DefaultMaxRemovals          = 500
	DefaultMaxPercent           = 20.0
	DefaultMinManagedForPercent = 10
)

// Safety limits how many managed accounts one plan may block or delete
// before an admin must approve it. A zero field takes its default; a
// negative MaxRemovals or MaxPercent turns that limit off.
type Safety struct {
	// MaxRemovals is the most removals a plan may hold (default 500).
	MaxRemovals int `json:"maxRemovals,omitempty"`
	// MaxPercent is the most removals a plan may hold as a percentage of
	// the accounts sync manages (default 20).
	MaxPercent float64 `json:"maxPercent,omitempty"`
	// MinManagedForPercent is how many managed accounts there must be
	// before MaxPercent applies (default 10), so that a tenant of five
	// people can lose one without an approval.
	MinManagedForPercent int `json:"minManagedForPercent,omitempty"`
	// Disabled turns MaxRemovals and MaxPercent off, and the rule that a
	// plan removing every managed account needs an approval for full
	// reads. Two rules still hold: a full read that returned no user at
	// all, and an incremental plan that removes every managed account,
	// need an approval before they remove anyone.
	Disabled bool `json:"disabled,omitempty"`
}

type safety struct {
	maxRemovals int     // < 0: off
	maxPercent  float64 // < 0: off
	minManaged  int
	disabled    bool
}

func (s Safety) compile() (safety, error) {
	var errs []error
	c := safety{maxRemovals: s.MaxRemovals, maxPercent: s.MaxPercent, minManaged: s.MinManagedForPercent, disabled: s.Disabled}
	switch {
	case c.maxRemovals == 0:
		c.maxRemovals = DefaultMaxRemovals
	case c.maxRemovals < 0:
		c.maxRemovals = -1
	}
	switch {
	case math.IsNaN(c.maxPercent) || math.IsInf(c.maxPercent, 0) || c.maxPercent > 100:
		errs = append(errs, fmt.Errorf("safety.maxPercent: %v is not a percentage (0 to 100; negative turns the limit off)", s.MaxPercent))
	case c.maxPercent == 0:
		c.maxPercent = DefaultMaxPercent
	case c.maxPercent < 0:
		c.maxPercent = -1
	}
	switch {
	case c.minManaged < 0:
		errs = append(errs, fmt.Errorf("safety.minManagedForPercent: negative value %d", s.MinManagedForPercent))
	case c.minManaged == 0:
		c.minManaged = DefaultMinManagedForPercent
	}
	return c, errors.Join(errs...)
}

// ErrSafetyLimit reports a plan that blocks or deletes more managed
// accounts than the safety limits allow. The error is a *SafetyError with
// the numbers.
var ErrSafetyLimit = errors.New("policy: safety limit exceeded")

// SafetyInput is what CheckSafety needs besides the plan.
type SafetyInput struct {
	// Managed is how many accounts of this integration the sink held when
	// the plan was made.
	Managed int
	// SourceUsers is how many user entries the directory read returned,
	// before scope rules. Zero, while Managed is not, is an empty source.
	SourceUsers int
	// Approved is set when an admin approved this very plan; it lifts
	// every limit.
	Approved bool
	// Incremental is set for a plan made from the changes since the last
	// read: it holds only what changed, so a read without users is not an
	// empty directory. The count and percent limits still apply.
	Incremental bool
}

// SafetyError is the error CheckSafety returns. It unwraps to
// ErrSafetyLimit.
type SafetyError struct {
	// Removals is how many managed accounts the plan blocks or deletes.
	Removals int `json:"removals"`
	// Managed is how many accounts sync managed before the plan.
	Managed int `json:"managed"`
	// Percent is Removals as a percentage of Managed.
	Percent float64 `json:"percent"`
	// MaxRemovals and MaxPercent are the limits that applied to this plan;
	// -1 marks a limit that did not apply (turned off, or MaxPercent for
	// fewer managed accounts than MinManagedForPercent).
	MaxRemovals int     `json:"maxRemovals"`
	MaxPercent  float64 `json:"maxPercent"`
	// EmptySource is set when the directory returned no user at all while
	// the sink holds managed accounts: a read that found nobody is never
	// taken to mean that everybody left.
	EmptySource bool `json:"emptySource,omitempty"`
	// Everyone is set when the plan would block or delete every account
	// sync manages, however few: an incremental read that reports
	// everyone deleted, or a full read in which no managed account is
	// found (a changed join key, say), is confirmed by an admin.
	Everyone bool `json:"everyone,omitempty"`
}

func (e *SafetyError) Error() string {
	if e.EmptySource {
		return fmt.Sprintf("policy: the directory returned no users, yet the plan would block or delete %d of %d managed accounts; "+
			"an empty read is not taken to mean that everybody left: check the connector, or approve the plan",
			e.Removals, e.Managed)
	}
	if e.Everyone {
		return fmt.Sprintf("policy: the plan would block or delete every account sync manages (%d of %d); approve the plan to apply it",
			e.Removals, e.Managed)
	}
	var limits []string
	if e.MaxRemovals >= 0 && e.Removals > e.MaxRemovals {
		limits = append(limits, fmt.Sprintf("%d accounts", e.MaxRemovals))
	}
	if e.MaxPercent >= 0 && e.Percent > e.MaxPercent {
		limits = append(limits, formatPercent(e.MaxPercent)+" of managed accounts")
	}
	limit := "the safety limit"
	switch len(limits) {
	case 1:
		limit = "the safety limit of " + limits[0]
	case 2:
		limit = "the safety limits of " + limits[0] + " and " + limits[1]
	}
	return fmt.Sprintf("policy: the plan would block or delete %d of %d managed accounts (%s), more than %s; approve the plan to apply it",
		e.Removals, e.Managed, formatPercent(e.Percent), limit)
}

// Unwrap returns ErrSafetyLimit.
func (e *SafetyError) Unwrap() error { return ErrSafetyLimit }

func formatPercent(p float64) string {
	return strconv.FormatFloat(math.Round(p*10)/10, 'f', -1, 64) + "%"
}

// Removals counts the changes of a plan that block or delete an account
// sync manages. Blocking an app account while adopting it is not a
// removal: the account was not managed before.
func Removals(plan *diff.Plan) int {
	if plan == nil {
		return 0
	}
	n := 0
	for i := range plan.Changes {
		c := &plan.Changes[i]
		if (c.Op == diff.OpBlock || c.Op == diff.OpDelete) && c.Before != nil && c.Before.Managed {
			n++
		}
	}
	return n
}

func (s safety) check(plan *diff.Plan, in SafetyInput) error {
	if in.Approved {
		return nil
	}
	removals := Removals(plan)
	if removals == 0 {
		return nil
	}
	managed := max(in.Managed, removals)
	e := &SafetyError{Removals: removals, Managed: managed, Percent: 100 * float64(removals) / float64(managed),
		MaxRemovals: -1, MaxPercent: -1}
	if in.SourceUsers == 0 && !in.Incremental {
		e.EmptySource = true
		return e
	}
	if removals >= managed && (in.Incremental || !s.disabled) {
		// Every account sync manages would go: however few, that is for an
		// admin to confirm. For a plan made from the changes alone this is
		// what the empty-source rule is for a full read, so it holds even
		// with the limits off.
		e.Everyone = true
		return e
	}
	if s.disabled {
		return nil
	}
	e.MaxRemovals = s.maxRemovals
	if managed >= s.minManaged {
		e.MaxPercent = s.maxPercent
	}
	if e.MaxRemovals >= 0 && removals > e.MaxRemovals || e.MaxPercent >= 0 && e.Percent > e.MaxPercent {
		return e
	}
	return nil
}
