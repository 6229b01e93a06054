package dirsync

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/dirsync-go/dirsync/connector"
	"github.com/dirsync-go/dirsync/diff"
	"github.com/dirsync-go/dirsync/mapping"
	"github.com/dirsync-go/dirsync/policy"
)

// cursorState is what the Store keeps of an integration's change stream.
type cursorState struct {
	Cursor connector.Cursor `json:"cursor"`
	// LastFull is when the last full read was applied.
	LastFull time.Time `json:"lastFull"`
	// Managed is how many accounts the integration managed after that
	// read, for the safety limits of incremental plans.
	Managed int `json:"managed,omitempty"`
	// Config fingerprints the mapping and policy of that read: when they
	// change, the next read is full, since accounts the old rules left
	// alone may now be in scope, and the other way round.
	Config string `json:"config,omitempty"`
}

// fingerprint identifies the mapping spec, the policy and the persisted
// exceptions, or returns "" when the mapper's rules are not known.
func (s *Syncer) fingerprint(ctx context.Context) string {
	rm, ok := s.mapper.(*mapping.RuleMapper)
	if !ok {
		return ""
	}
	extra, err := s.Exceptions(ctx)
	if err != nil {
		return ""
	}
	b, err := json.Marshal(struct {
		Spec       mapping.Spec
		Policy     policy.Config
		Exceptions []policy.Exception
	}{rm.Spec(), s.policy.Config(), extra})
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func (s *Syncer) loadCursor(ctx context.Context) (cursorState, error) {
	var st cursorState
	if err := s.getJSON(ctx, s.key("cursor"), &st); err != nil && !errors.Is(err, ErrNotFound) {
		return cursorState{}, err
	}
	return st, nil
}

// incrementalOK reports whether the next plan may read only changes: the
// last full read is recent enough, and the mapping and scope can decide
// from the changed entries alone.
func (s *Syncer) incrementalOK(ctx context.Context, st cursorState) bool {
	if age := s.now().Sub(st.LastFull); age < 0 || s.fullEvery >= 0 && age >= s.fullEvery {
		return false // stale, or stamped in the future by a clock since set back
	}
	if fp := s.fingerprint(ctx); fp == "" || fp != st.Config {
		return false
	}
	if _, ok := s.mapper.(mapping.PartialResolver); !ok {
		return false
	}
	if _, ok := s.mapper.(mapping.Deferred); !ok {
		return false
	}
	return !s.policy.UsesGroups()
}

// saveCursor records the cursor of an applied plan. It is called only when
// every change of that plan applied, so the cursor is never ahead of the
// applied work: after a failure the next plan re-reads from the old one.
// With the cursor it keeps how many accounts the integration manages now,
// for the safety limits of later incremental plans: the count the plan was
// made with, plus the accounts it created or adopted, minus those it
// deleted. r is nil for a plan with nothing to apply.
func (s *Syncer) saveCursor(ctx context.Context, p *Plan, r *Report) error {
	managed := p.facts.managed
	if r != nil {
		for i := range r.Results {
			res := &r.Results[i]
			if res.Status != StatusApplied {
				continue
			}
			switch c := &res.Change; {
			case c.Op == diff.OpCreate:
				managed++
			case c.Op == diff.OpDelete && c.Before != nil && c.Before.Managed && c.Before.Source == s.source:
				managed--
			case c.Before != nil && !(c.Before.Managed && c.Before.Source == s.source) &&
				c.After != nil && c.After.Managed && c.After.Source == s.source:
				managed++ // adopted
			}
		}
	}
	return updateJSON(ctx, s.store, s.key("cursor"), func(st *cursorState) error {
		st.Cursor = p.cursor
		st.Managed = max(managed, 0)
		if !p.facts.incremental {
			st.LastFull = p.Created
			st.Config = p.config
		}
		return nil
	})
}

// errNeedFull reports an incremental read whose changes only a full read
// can plan; Plan then reads the whole directory at once.
var errNeedFull = errors.New("dirsync: the changes need a full read")

// groupChangeNeedsFull returns why a change set that holds a changed or
// deleted group must be planned from a full read, or "" when no group
// matters. A group's membership decides roles (mapping) and scope
// (policy): when either uses groups, a changed group can change the roles
// or the scope of members the change set does not otherwise name, and
// revoking a role is a security action that must not wait for the daily
// full read. Connectors report a membership change as a changed group
// entry (see connector.Incremental).
func (s *Syncer) groupChangeNeedsFull(entries []connector.Entry) string {
	var group *connector.Entry
	for i := range entries {
		if entries[i].Kind == connector.KindGroup {
			group = &entries[i]
			break
		}
	}
	if group == nil {
		return ""
	}
	name := group.Attr("cn")
	if name == "" {
		name = group.Attr("displayName")
	}
	if name == "" {
		name = group.ID
	}
	if s.policy.UsesGroups() {
		return fmt.Sprintf("group %q changed and scope rules select by group", name)
	}
	if gu, ok := s.mapper.(interface{ UsesGroups() bool }); !ok || gu.UsesGroups() {
		return fmt.Sprintf("group %q changed and the mapping derives roles from groups", name)
	}
	return ""
}

// planIncremental plans from the entries changed since the cursor. Only the
// accounts those entries concern are compared; every other account is
// left out of the diff (not "missing"). Fields the changed entries alone
// cannot decide (a manager outside the change set, roles) keep the app's
// values until the next full read.
func (s *Syncer) planIncremental(ctx context.Context, inc connector.Incremental, since connector.Cursor) (*Plan, error) {
	start := s.now()
	dm := s.mapper.(mapping.Deferred)
	pr := s.mapper.(mapping.PartialResolver)
	var changed chunked[connector.Entry]
	s.report(Progress{Phase: PhaseRead})
	next, err := inc.ReadChanges(ctx, since, func(e connector.Entry) error {
		changed.add(e)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("dirsync: read changes from directory (nothing planned): %w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("dirsync: read changes from directory (nothing planned): %w", err)
	}
	entries := changed.slice()
	s.report(Progress{Phase: PhaseRead, Done: len(entries), Total: len(entries)})

	if why := s.groupChangeNeedsFull(entries); why != "" {
		return nil, fmt.Errorf("%w: %s", errNeedFull, why)
	}

	touched := map[string]bool{} // external IDs of changed users, deleted ones too
	var live []connector.Entry
	for _, e := range entries {
		if e.Kind == connector.KindUser || e.Kind == "" {
			touched[e.ID] = true
		}
		if !e.Deleted {
			live = append(live, e)
		}
	}
	snap, err := connector.NewSnapshot(live)
	if err != nil {
		return nil, fmt.Errorf("dirsync: read changes from directory: %w", err)
	}
	all, err := s.touchedAccounts(ctx, touched, live)
	if err != nil {
		return nil, err
	}
	// The accounts the change set concerns, plus those that a new entry
	// may adopt or conflict with.
	var current []diff.Account
	byID := map[string]*diff.Account{}
	for i := range all {
		a := &all[i]
		mine := a.Managed && a.Source == s.source
		if mine && !touched[a.ExternalID] {
			continue
		}
		current = append(current, *a)
	}
	for i := range current {
		if a := &current[i]; a.Managed && a.Source == s.source {
			byID[a.ExternalID] = a
		}
	}
	managed, err := s.managedCount(ctx, all)
	if err != nil {
		return nil, err
	}

	users := snap.Users()
	desired := make([]diff.Desired, 0, len(users))
	for i, e := range users {
		acc, p, mapErr := dm.MapEntry(e)
		if mapErr == nil {
			unknown := pr.ResolvePartial(&acc, p, e, snap)
			if cur := byID[acc.ExternalID]; cur != nil {
				for _, f := range unknown {
					acc.CopyField(f, cur)
				}
			}
		}
		desired = append(desired, s.toDesired(e, acc, mapErr, snap))
		s.reportMap(i+1, len(users))
	}
	plan, err := s.compute(ctx, desired, current)
	if err != nil {
		return nil, err
	}
	plan.Created, plan.ChangedUsers, plan.cursor, plan.Incremental = start, len(touched), next, true
	plan.Managed = managed
	s.seal(plan)
	s.log.InfoContext(ctx, "incremental plan ready", "changes", plan.Summary(), "changed", len(entries))
	if err := s.checkSafety(plan); err != nil {
		return plan, err
	}
	return plan, nil
}

// touchedAccounts returns the app's accounts an incremental plan needs: by
// the sink's AccountLookup when it has one, else the full listing.
func (s *Syncer) touchedAccounts(ctx context.Context, touched map[string]bool, live []connector.Entry) ([]diff.Account, error) {
	al, ok := s.sink.(AccountLookup)
	if !ok {
		return s.accounts(ctx)
	}
	ids := make([]string, 0, len(touched))
	for id := range touched {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	// Emails a new entry may be adopted or conflict by: the mapped email is
	// not known before mapping, so ask for every mail-like value.
	var emails []string
	for _, e := range live {
		for _, name := range []string{"mail", "userPrincipalName", "primaryEmail"} {
			if v := e.Attr(name); strings.Contains(v, "@") {
				emails = append(emails, strings.ToLower(v))
			}
		}
	}
	slices.Sort(emails)
	accts, err := al.LookupAccounts(ctx, s.source, ids, slices.Compact(emails))
	if err != nil {
		return nil, fmt.Errorf("dirsync: look up accounts in the app (nothing planned): %w", err)
	}
	return accts, nil
}

// managedCount is how many accounts this integration manages, for the
// safety limits' percentages. With an AccountLookup sink it is the count
// stored by the last full run.
func (s *Syncer) managedCount(ctx context.Context, all []diff.Account) (int, error) {
	if _, ok := s.sink.(AccountLookup); !ok {
		n := 0
		for i := range all {
			if a := &all[i]; a.Managed && a.Source == s.source {
				n++
			}
		}
		return n, nil
	}
	st, err := s.loadCursor(ctx)
	return st.Managed, err
}
