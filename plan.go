package dirsync

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/dirsync-go/dirsync/connector"
	"github.com/dirsync-go/dirsync/diff"
	"github.com/dirsync-go/dirsync/internal/planner"
	"github.com/dirsync-go/dirsync/internal/seal"
	"github.com/dirsync-go/dirsync/policy"
)

// Plan reads the directory and the sink and returns the plan that would make
// the sink match. It changes nothing. A failed, partial or cancelled read
// returns an error and no plan: it never turns into "block everyone".
//
// A connector with incremental reads (connector.Incremental) is read from
// the cursor the last applied plan saved, when nothing calls for a full
// read (see "Continuous sync" in the package documentation).
//
// When the plan exceeds the policy's safety limits, Plan returns the plan
// together with an error wrapping ErrSafetyLimit, so a host can show it and
// ask an admin to approve it.
func (s *Syncer) Plan(ctx context.Context) (*Plan, error) {
	ctx, end := s.observe(ctx, StageStart{Stage: StagePlan})
	e := stagePanicked
	defer func() { end(e) }()
	p, err := s.plan(ctx)
	e = StageEnd{Err: err, Plan: p}
	return p, err
}

func (s *Syncer) plan(ctx context.Context) (*Plan, error) {
	st, err := s.loadState(ctx)
	if err != nil {
		return nil, err
	}
	var recent policy.SafetyInput
	if err := s.recent(ctx, &recent); err != nil {
		return nil, err
	}
	res, err := s.planner.Plan(ctx, st)
	if err != nil {
		return nil, err
	}
	return s.finish(res, recent)
}

// finish is where every plan a Syncer makes is finished: the computed
// plan is sealed with the numbers it was made with (what Apply trusts,
// whatever a host does to the exported fields), and its safety decision is
// made from those numbers. A plan over the limits is returned with an
// error wrapping ErrSafetyLimit. recent holds the removals applied within
// the window (the removal budget).
func (s *Syncer) finish(res *planner.Result, recent policy.SafetyInput) (*Plan, error) {
	p := &Plan{Plan: res.Plan, Created: res.Started, Managed: res.Managed, SourceUsers: res.SourceUsers,
		ChangedUsers: res.ChangedUsers, Incremental: res.Incremental, cursor: res.Cursor, config: res.Config}
	p.facts = planFacts{made: true, managed: res.Managed, sourceUsers: res.SourceUsers, incremental: res.Incremental}
	p.facts.whole, p.facts.actionable, p.facts.changes = seal.Plan(&p.Plan, true)
	err := s.policy.CheckSafety(&p.Plan, policy.SafetyInput{Managed: p.facts.managed, SourceUsers: p.facts.sourceUsers,
		Incremental: p.facts.incremental, Recent: recent.Recent, RecentDeletes: recent.RecentDeletes})
	var se *policy.SafetyError
	if errors.As(err, &se) {
		p.Safety = se
		p.facts.overLimit = err
	}
	if err != nil {
		return p, err
	}
	return p, nil
}

// Plan is a diff.Plan as a Syncer produced it, with the safety decision and
// the numbers it rests on. Render it with WriteText or encoding/json; find
// accounts in it with Search; hand it to Syncer.Apply.
type Plan struct {
	diff.Plan
	// Created is when the plan was made.
	Created time.Time
	// Managed is how many accounts of this integration the sink held.
	Managed int
	// SourceUsers is how many users a full read of the directory
	// returned; 0 on an incremental plan (see ChangedUsers).
	SourceUsers int
	// ChangedUsers is how many users an incremental read reported as
	// changed (deleted ones included); 0 on a full plan.
	ChangedUsers int
	// Safety is set when the plan exceeds the policy's safety limits; Apply
	// refuses it until Approve is called.
	Safety *policy.SafetyError
	// Incremental is set when the plan was made from the directory's
	// changes since the last applied plan rather than a full read.
	Incremental bool

	// The fields below are what Apply trusts. The exported ones above are
	// for display: a host may change them or build a Plan value of its own
	// (from stored JSON, say), and Apply checks the safety limits with its
	// own numbers anyway.
	facts planFacts
	// approved holds the sorted hashes of the changes an admin approved;
	// nil when the plan was not approved.
	approved []uint64
	// cursor is the connector's position after this plan's read; it is
	// saved once every change of the plan applied, and only when the plan
	// still holds every change it was made with.
	cursor connector.Cursor
	// config fingerprints the rules a full plan was made with.
	config string
	// digest, when set, is the digest the plan had when it was stored
	// pending (see PendingPlan).
	digest string
}

// planFacts are the numbers a Syncer made a plan with.
type planFacts struct {
	made        bool // by a Syncer; otherwise Apply counts for itself
	managed     int
	sourceUsers int
	incremental bool
	// whole and actionable seal the plan's actionable changes as made;
	// changes are their hashes, in order.
	whole      uint64
	actionable int
	changes    []uint64
	// overLimit is the safety decision of the whole plan as made, when it
	// was over the limits: every view of the plan (Search, a selection)
	// that removes anyone carries it until the plan is approved.
	overLimit error
}

// Approve marks a plan over the safety limits as accepted by an admin, so
// Apply carries it out. The approval covers the plan's changes as they are
// now: a change added or altered afterwards is not approved, and Apply
// refuses a plan over the limits that holds one. A subset of an approved
// plan (Search) stays approved. Approve has no effect on a plan within the
// limits.
func (p *Plan) Approve() { p.approved = seal.Approvals(&p.Plan) }

// ApproveDigest approves the plan when its Digest is d, the digest of the
// plan an admin was shown (perhaps by another process, from stored JSON).
// Otherwise it approves nothing and returns an error wrapping
// ErrPlanChanged.
func (p *Plan) ApproveDigest(d string) error {
	if got := p.Digest(); got != d {
		return fmt.Errorf("dirsync: approve: plan digest %s, approved %q: %w", short(got), d, ErrPlanChanged)
	}
	p.Approve()
	return nil
}

// Approved reports whether Approve was called and the plan's changes are
// still the ones approved.
func (p *Plan) Approved() bool { return p.approved != nil && p.covered() }

// unchanged reports whether the plan holds exactly the changes a Syncer
// made it with: no subset, no addition, no edit.
func (p *Plan) unchanged() bool {
	if !p.facts.made {
		return false
	}
	whole, n, _ := seal.Plan(&p.Plan, false)
	return whole == p.facts.whole && n == p.facts.actionable
}

// covered reports whether every actionable change is among the approved.
func (p *Plan) covered() bool {
	for i := range p.Changes {
		if c := &p.Changes[i]; c.Op.Actionable() {
			if _, ok := slices.BinarySearch(p.approved, seal.Change(c)); !ok {
				return false
			}
		}
	}
	return true
}

// Digest identifies what the plan would do: a SHA-256, in hex, over its
// actionable changes (op, account, field changes; not timestamps). Two
// plans with the same digest make the same changes. Show it with the plan
// and pass it to ApprovePending, so that the approval names the plan the
// admin saw.
func (p *Plan) Digest() string {
	if p.digest != "" {
		return p.digest
	}
	return seal.Digest(&p.Plan)
}

func short(d string) string {
	if len(d) > 12 {
		return d[:12]
	}
	return d
}

// Search returns a plan holding the changes that match the regular
// expression (e.g. "^[0-9]"): see diff.Plan.Search for what is matched. An
// invalid expression is an error.
//
// The result is a subset: applying it applies those changes only, and
// saves neither the connector's cursor nor the time of the full read, so
// what was left out is planned again on the next run. A subset of an
// approved plan is approved.
func (p *Plan) Search(pattern string) (*Plan, error) {
	dp, err := p.Plan.Search(pattern)
	if err != nil {
		return nil, err
	}
	out := p.view()
	out.Plan = *dp
	return out, nil
}

// split returns two views of p: safe holds every change but the removals
// (isRemoval), held the removals. Both keep the facts p was made with, so
// neither moves the cursor (the removals held are read again), and held
// is what waits for approval when only the removals are over the limits.
func (p *Plan) split(isRemoval func(*diff.Change) bool) (safe, held *Plan) {
	safe, held = p.view(), p.view()
	safe.Changes, held.Changes = nil, nil
	for i := range p.Changes {
		c := &p.Changes[i]
		switch {
		case !c.Op.Actionable():
			safe.Changes = append(safe.Changes, *c)
			held.Changes = append(held.Changes, *c)
		case isRemoval(c):
			held.Changes = append(held.Changes, *c)
		default:
			safe.Changes = append(safe.Changes, *c)
		}
	}
	return safe, held
}

// view is a copy of p that shares its facts but not its cursor: applying a
// view never saves the cursor or the time of a full read.
func (p *Plan) view() *Plan {
	out := *p
	out.cursor, out.config, out.digest = nil, "", ""
	return &out
}

// WriteText renders the plan as a table (see diff.Plan.WriteText), followed
// by the safety decision when the plan exceeds the limits.
func (p *Plan) WriteText(w io.Writer) error {
	if err := p.Plan.WriteText(w); err != nil {
		return err
	}
	if p.Safety != nil {
		state := "waiting for approval"
		if p.Approved() {
			state = "approved"
		}
		_, err := fmt.Fprintf(w, "Safety limit: %v (%s)\n", p.Safety, state)
		return err
	}
	return nil
}

// String renders the plan as text.
func (p *Plan) String() string {
	var b strings.Builder
	_ = p.WriteText(&b)
	return b.String()
}

// MarshalJSON renders the plan's changes and counts (diff.Plan's JSON) plus
// the safety decision. Created is left out so that the same directory gives
// the same bytes.
func (p *Plan) MarshalJSON() ([]byte, error) {
	inner, err := p.Plan.MarshalJSON()
	if err != nil {
		return nil, err
	}
	var safety *safetyJSON
	if p.Safety != nil {
		safety = &safetyJSON{Message: p.Safety.Error(), Detail: p.Safety, Approved: p.Approved()}
	}
	return json.Marshal(struct {
		Plan         json.RawMessage `json:"plan"`
		Digest       string          `json:"digest"`
		Managed      int             `json:"managed"`
		SourceUsers  int             `json:"sourceUsers"`
		ChangedUsers int             `json:"changedUsers,omitempty"`
		Incremental  bool            `json:"incremental"`
		Safety       *safetyJSON     `json:"safety,omitempty"`
	}{inner, p.Digest(), p.Managed, p.SourceUsers, p.ChangedUsers, p.Incremental, safety})
}

// UnmarshalJSON reads a plan written by MarshalJSON, so that a host can
// keep a plan an admin is reviewing in its own database. What it reads is
// for display only: the plan carries no approval (an "approved" flag in
// the JSON is ignored) and no cursor, and Apply checks the safety limits
// with its own count of managed accounts. To apply a stored plan over the
// limits, approve it with ApproveDigest and the digest the admin saw.
func (p *Plan) UnmarshalJSON(b []byte) error {
	var in struct {
		Plan struct {
			Source   string        `json:"source"`
			Changes  []diff.Change `json:"changes"`
			Warnings []diff.Reason `json:"warnings"`
		} `json:"plan"`
		Managed      int         `json:"managed"`
		SourceUsers  int         `json:"sourceUsers"`
		ChangedUsers int         `json:"changedUsers"`
		Incremental  bool        `json:"incremental"`
		Safety       *safetyJSON `json:"safety"`
	}
	if err := json.Unmarshal(b, &in); err != nil {
		return fmt.Errorf("dirsync: read plan: %w", err)
	}
	*p = Plan{Plan: diff.Plan{Source: in.Plan.Source, Changes: in.Plan.Changes, Warnings: in.Plan.Warnings}, Managed: in.Managed,
		SourceUsers: in.SourceUsers, ChangedUsers: in.ChangedUsers, Incremental: in.Incremental}
	if in.Safety != nil {
		p.Safety = in.Safety.Detail
	}
	return nil
}

type safetyJSON struct {
	Message  string              `json:"message"`
	Detail   *policy.SafetyError `json:"detail"`
	Approved bool                `json:"approved"`
}
