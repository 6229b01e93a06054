package planner

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/dirsync-go/dirsync/connector"
	"github.com/dirsync-go/dirsync/diff"
	"github.com/dirsync-go/dirsync/mapping"
)

// incrementalOK reports whether the next plan may read only changes: the
// last full read is recent enough, and the mapping and scope can decide
// from the changed entries alone.
func (pl *Planner) incrementalOK(st *State) bool {
	if age := pl.now().Sub(st.LastFull); age < 0 || pl.fullEvery >= 0 && age >= pl.fullEvery {
		return false // stale, or stamped in the future by a clock since set back
	}
	if fp := pl.Fingerprint(st.Exceptions); fp == "" || fp != st.Config {
		return false
	}
	if pl.policy.UsesGroups() {
		return false
	}
	_, deferred := pl.mapper.(deferredMapper)
	_, partial := pl.mapper.(partialResolver)
	if deferred && partial {
		return true // resolves what the changes allow and names the rest
	}
	// Any other mapper that describes itself maps a changed entry alone,
	// as long as it reads no other entry and no group.
	return pl.described && !pl.desc.Lookups && !pl.desc.UsesGroups
}

// errNeedFull reports an incremental read whose changes only a full read
// can plan: a changed group that roles or scope depend on; a deleted
// entry, or an external ID that refers to an entry outside the change set,
// when the mapping does not key accounts by entry ID. Plan then reads the
// whole directory at once.
var errNeedFull = errors.New("dirsync: the changes need a full read")

// groupChangeNeedsFull returns why a change set that holds a changed or
// deleted group must be planned from a full read, or "" when no group
// matters. A group's membership decides roles (mapping) and scope
// (policy): when either uses groups, a changed group can change the roles
// or the scope of members the change set does not otherwise name, and
// revoking a role is a security action that must not wait for the daily
// full read. Connectors report a membership change as a changed group
// entry (see connector.Incremental).
func (pl *Planner) groupChangeNeedsFull(entries []connector.Entry) string {
	if !pl.usesGroups() {
		return ""
	}
	for i := range entries {
		if g := &entries[i]; g.Kind == connector.KindGroup {
			name := cmp.Or(g.Attr("cn"), g.Attr("displayName"), g.ID)
			return fmt.Sprintf("group %q changed, and roles or scope depend on group membership", name)
		}
	}
	return ""
}

// planIncremental plans from the entries changed since the cursor. Only the
// accounts those entries concern are compared; every other account is
// left out of the diff (not "missing"). Fields the changed entries alone
// cannot decide (a manager outside the change set, roles) keep the app's
// values until the next full read. Accounts are found as a full read finds
// them, by the mapped external IDs and emails; what the changes alone
// cannot key (a tombstone when the mapping does not key by entry ID, an
// external ID known to be claimed by several entries) returns errNeedFull.
// A new conflict made by editing one entry while the other is unchanged is
// seen by the next full read.
func (pl *Planner) incremental(ctx context.Context, inc connector.Incremental, st *State) (*Result, error) {
	start := pl.now()
	since := st.Cursor
	dm, _ := pl.mapper.(deferredMapper)
	pr, _ := pl.mapper.(partialResolver)
	var changed chunked[connector.Entry]
	pl.report(PhaseRead, 0, 0)
	read := pl.observed(func(ctx context.Context, yield func(connector.Entry) error) (connector.Cursor, error) {
		return inc.ReadChanges(ctx, since, yield)
	}, true)
	next, err := read(ctx, func(e connector.Entry) error {
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
	pl.report(PhaseRead, len(entries), len(entries))

	if why := pl.groupChangeNeedsFull(entries); why != "" {
		return nil, fmt.Errorf("%w: %s", errNeedFull, why)
	}

	// Accounts are found by the mapped external IDs and emails, as a full
	// read finds them: map first, then look up.
	entryKeyed := pl.desc.KeyedByEntryID
	touched := map[string]bool{} // external IDs of changed users, deleted ones too
	var live []connector.Entry
	for _, e := range entries {
		if !e.Deleted {
			live = append(live, e)
			continue
		}
		if e.Kind == connector.KindUser || e.Kind == "" {
			if !entryKeyed {
				// A tombstone carries the entry's ID only: the join key
				// the mapping took from its attributes is gone with it.
				return nil, fmt.Errorf("dirsync: entry %s was deleted and the mapping does not key accounts by entry ID: %w", e.ID, errNeedFull)
			}
			touched[e.ID] = true
		}
	}
	snap, err := connector.NewSnapshot(live)
	if err != nil {
		return nil, fmt.Errorf("dirsync: read changes from directory: %w", err)
	}
	users := snap.Users()
	type mappedEntry struct {
		acc     diff.Account
		unknown []string
		err     error
	}
	mapped := make([]mappedEntry, len(users))
	var emails []string
	for i, e := range users {
		m := &mapped[i]
		if dm != nil && pr != nil {
			var p *mapping.Unresolved
			m.acc, p, m.err = dm.MapEntry(e)
			if m.err == nil {
				m.unknown = pr.ResolvePartial(&m.acc, p, e, snap)
			}
		} else {
			// A mapper that described itself as reading no other entry
			// and no group (incrementalOK) maps a changed entry alone.
			m.acc, m.err = pl.mapper.Map(e, snap)
		}
		if m.err == nil {
			if slices.Contains(m.unknown, diff.FieldExternalID) {
				return nil, fmt.Errorf("dirsync: the external ID of entry %s refers to an entry outside the change set: %w", e.ID, errNeedFull)
			}
		}
		id := m.acc.ExternalID
		if m.err != nil || id == "" {
			id = e.ID // as toDesired keys an entry it cannot map
		}
		touched[id] = true
		if m.acc.Email != "" {
			emails = append(emails, m.acc.Email)
		}
		pl.reportMap(i+1, len(users))
	}
	if !entryKeyed {
		for _, id := range st.JoinConflicts {
			if touched[id] {
				return nil, fmt.Errorf("dirsync: several entries map to external ID %q: %w", id, errNeedFull)
			}
		}
	}
	all, err := pl.touchedAccounts(ctx, touched, emails)
	if err != nil {
		return nil, err
	}
	// The accounts the change set concerns, plus those that a new entry
	// may adopt or conflict with. This integration's other accounts are
	// not in the diff (not "missing"), but still hold their emails.
	var current, unchanged []diff.Account
	for i := range all {
		a := &all[i]
		if a.Managed && a.Source == pl.source && !touched[a.ExternalID] {
			unchanged = append(unchanged, *a)
			continue
		}
		current = append(current, *a)
	}
	byID := map[string]*diff.Account{}
	for i := range current {
		a := &current[i]
		if prev := byID[a.ExternalID]; a.Managed && a.Source == pl.source && (prev == nil || a.ID < prev.ID) {
			byID[a.ExternalID] = a
		}
	}
	managed := pl.managedCount(all, st)

	desired := make([]diff.Desired, 0, len(users))
	for i, e := range users {
		m := &mapped[i]
		if m.err == nil {
			if cur := byID[m.acc.ExternalID]; cur != nil {
				for _, f := range m.unknown {
					m.acc.CopyField(f, cur)
				}
			}
		}
		desired = append(desired, pl.toDesired(e, m.acc, m.err, snap))
	}
	dp, err := pl.Compute(ctx, desired, current, unchanged, st)
	if err != nil {
		return nil, err
	}
	pl.log.InfoContext(ctx, "incremental plan ready", "changes", dp.Summary(), "changed", len(entries))
	return &Result{Plan: *dp, Started: start, Managed: managed, ChangedUsers: len(touched), Incremental: true, Cursor: next}, nil
}

// touchedAccounts returns the app's accounts an incremental plan needs: by
// the sink's AccountLookup when it has one, else the full listing. ids are
// the mapped external IDs of the changed entries, emails their mapped
// emails, asked for as mapped and normalised (diff.NormalizeEmail).
func (pl *Planner) touchedAccounts(ctx context.Context, touched map[string]bool, emails []string) ([]diff.Account, error) {
	al, ok := pl.sink.(AccountLookup)
	if !ok {
		return Accounts(ctx, pl.sink)
	}
	ids := make([]string, 0, len(touched))
	for id := range touched {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	var ask []string
	for _, e := range emails {
		if n := diff.NormalizeEmail(e); n != "" {
			ask = append(ask, n, strings.TrimSpace(e))
		}
	}
	slices.Sort(ask)
	accts, err := al.LookupAccounts(ctx, pl.source, ids, slices.Compact(ask))
	if err != nil {
		return nil, fmt.Errorf("dirsync: look up accounts in the app (nothing planned): %w", err)
	}
	return accts, nil
}

// managedCount is how many accounts this integration manages, for the
// safety limits' percentages. With an AccountLookup sink it is the count
// stored by the last applied plan.
func (pl *Planner) managedCount(all []diff.Account, st *State) int {
	if _, ok := pl.sink.(AccountLookup); !ok {
		return ManagedIn(all, pl.source)
	}
	return st.Managed
}
