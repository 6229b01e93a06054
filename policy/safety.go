package policy

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/dirsync-go/dirsync/diff"
)

// Default safety limits, in the spirit of Microsoft Entra Connect's
// accidental-deletes threshold of 500.
const (
	DefaultMaxRemovals          = 500
	DefaultMaxPercent           = 20.0
	DefaultMinManagedForPercent = 10
	DefaultWindow               = 24 * time.Hour
)

// Safety limits how many managed accounts may be blocked or deleted within
// a window of time before an admin must approve more. A zero field takes
// its default; a negative MaxRemovals or MaxPercent turns that limit off.
//
// The limits count the removals already applied within the window plus
// the plan's own (SafetyInput.Recent), so that a flood that arrives one
// push or one incremental run at a time stops where a burst would: with
// the defaults, 100 managed accounts deactivated one by one stop at 20,
// wherever they came from.
type Safety struct {
	// MaxRemovals is the most removals the window may hold (default 500).
	MaxRemovals int `json:"maxRemovals,omitempty"`
	// MaxPercent is the most removals the window may hold as a percentage
	// of the accounts sync managed at its start (default 20).
	MaxPercent float64 `json:"maxPercent,omitempty"`
	// Window is the span over which removals count against the limits
	// (default 24 hours; negative: each plan alone). JSON: a duration
	// string such as "24h" or "1d".
	Window Duration `json:"window,omitzero"`
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
	window      time.Duration // <= 0: each plan alone
}

func (s Safety) compile() (safety, error) {
	var errs []error
	c := safety{maxRemovals: s.MaxRemovals, maxPercent: s.MaxPercent, minManaged: s.MinManagedForPercent, disabled: s.Disabled,
		window: s.Window.Duration}
	switch {
	case c.window == 0:
		c.window = DefaultWindow
	case c.window < 0:
		c.window = 0
	}
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
	// Recent is how many removals of managed accounts were applied within
	// the window before this plan (see Window). They count against the
	// limits with the plan's own. RecentDeletes is how many of them were
	// deletes: a blocked account is still managed (it is in Managed), a
	// deleted one is not, so the accounts managed at the window's start
	// are Managed + RecentDeletes.
	Recent        int
	RecentDeletes int
}

// SafetyError is the error CheckSafety returns. It unwraps to
// ErrSafetyLimit.
type SafetyError struct {
	// Removals is how many managed accounts the plan blocks or deletes.
	Removals int `json:"removals"`
	// Managed is how many accounts sync managed before the plan.
	Managed int `json:"managed"`
	// Recent is how many managed accounts were blocked or deleted within
	// the window before the plan; Window is that window.
	Recent int           `json:"recent,omitempty"`
	Window time.Duration `json:"window,omitempty"`
	// Percent is Removals and Recent as a percentage of the accounts
	// managed at the window's start (Managed plus the recent deletes).
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
	// Incremental is set for a plan made from the changes alone.
	Incremental bool `json:"incremental,omitempty"`
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
	if e.Recent > 0 {
		return fmt.Sprintf("policy: the plan would block or delete %d of %d managed accounts; with the %d removed in the last %s "+
			"that is %s of the accounts managed then, more than %s; approve the plan to apply it",
			e.Removals, e.Managed, e.Recent, formatWindow(e.Window), formatPercent(e.Percent), limit)
	}
	return fmt.Sprintf("policy: the plan would block or delete %d of %d managed accounts (%s), more than %s; approve the plan to apply it",
		e.Removals, e.Managed, formatPercent(e.Percent), limit)
}

// Suspect reports a decision about the read itself rather than about how
// many accounts go: a full read that returned no user (EmptySource) or
// found none of the managed accounts (Everyone on a full read: a changed
// join key, a wrong base DN). Everything of such a plan waits for an
// admin. An incremental read that reports every managed account removed
// names each removal explicitly: only those removals wait, while its
// other changes (people pushed meanwhile) may apply.
func (e *SafetyError) Suspect() bool { return e.EmptySource || e.Everyone && !e.Incremental }

func formatWindow(d time.Duration) string {
	if d%time.Hour == 0 {
		return strconv.Itoa(int(d/time.Hour)) + " h"
	}
	return d.String()
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
	recent, base := 0, managed
	if s.window > 0 {
		recent = max(in.Recent, 0)
		base += min(max(in.RecentDeletes, 0), recent)
	}
	base = max(base, removals+recent)
	e := &SafetyError{Removals: removals, Managed: managed, Recent: recent, Incremental: in.Incremental,
		Percent: 100 * float64(removals+recent) / float64(base), MaxRemovals: -1, MaxPercent: -1}
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
	if recent > 0 {
		e.Window = s.window
	}
	if base >= s.minManaged {
		e.MaxPercent = s.maxPercent
	}
	if e.MaxRemovals >= 0 && removals+recent > e.MaxRemovals || e.MaxPercent >= 0 && e.Percent > e.MaxPercent {
		return e
	}
	return nil
}
