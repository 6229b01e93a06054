package planner

import (
	"cmp"
	"context"
	"encoding/binary"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/dirsync-go/dirsync/connector"
	"github.com/dirsync-go/dirsync/diff"
	"github.com/dirsync-go/dirsync/mapping"
)

// deferredMapper maps each entry as the connector yields it and finishes
// lookups and roles once the read is indexed (the rule mapper is one; see
// "Large reads" in package mapping).
type deferredMapper interface {
	mapping.Mapper
	MapEntry(e *connector.Entry) (diff.Account, *mapping.Unresolved, error)
	Resolve(a *diff.Account, p *mapping.Unresolved, e *connector.Entry, dir *connector.Snapshot)
	ReferencedAttributes() []string
}

// partialResolver resolves against the changed entries of an incremental
// read and names the fields it could not know.
type partialResolver interface {
	ResolvePartial(a *diff.Account, p *mapping.Unresolved, e *connector.Entry, dir *connector.Snapshot) (unknown []string)
}

// targetResolver resolves against a compact mapping.Targets index instead
// of a Snapshot; it cannot compute roles, so it serves mappings without
// groups.
type targetResolver interface {
	deferredMapper
	ResolveTargets(a *diff.Account, p *mapping.Unresolved, t *mapping.Targets)
	AppendUnresolved(b []byte, p *mapping.Unresolved, t *mapping.Targets) []byte
	ReadUnresolved(s string, t *mapping.Targets) (*mapping.Unresolved, string)
}

// readDesired reads the directory and maps every user entry. It returns
// the desired accounts, compactly, and how many users the directory
// returned.
//
// With a targetResolver mapper (the rule mapper is one) and no
// groups used by the mapping or the scope, no entry is kept
// (readDesiredCompact). Otherwise, with a deferredMapper mapper, entries
// are mapped as they arrive and only slim copies are kept for the index
// that lookups, roles and group scope rules need; with any other mapper
// the whole read is held and mapped afterwards.
func (pl *Planner) readDesired(ctx context.Context, src entrySource) (*desiredSet, int, connector.Cursor, error) {
	if tr, ok := pl.mapper.(targetResolver); ok && !pl.usesGroups() {
		return pl.readDesiredCompact(ctx, tr, src)
	}
	if dm, ok := pl.mapper.(deferredMapper); ok {
		return pl.readDesiredStreaming(ctx, dm, src)
	}
	entries, cursor, err := pl.read(ctx, src)
	if err != nil {
		return nil, 0, nil, err
	}
	// Users first, as the other paths index them, so that a read with a
	// duplicate ID fails naming the same entry on every path.
	slices.SortStableFunc(entries, func(a, b connector.Entry) int {
		return cmp.Compare(kindRank(a.Kind), kindRank(b.Kind))
	})
	snap, err := connector.NewSnapshot(entries)
	if err != nil {
		return nil, 0, nil, fmt.Errorf("dirsync: read from directory: %w", err)
	}
	users := snap.Users()
	out := &desiredSet{}
	for i, e := range users {
		acc, err := pl.mapper.Map(e, snap)
		d := pl.toDesired(e, acc, err, snap)
		out.add(&d)
		pl.reportMap(i+1, len(users))
	}
	return out, len(users), cursor, nil
}

// kindRank orders users (and entries of no kind) before other entries.
func kindRank(k connector.Kind) int {
	if k == connector.KindUser || k == "" {
		return 0
	}
	return 1
}

func (pl *Planner) readDesiredStreaming(ctx context.Context, dm deferredMapper, src entrySource) (*desiredSet, int, connector.Cursor, error) {
	keep := append(dm.ReferencedAttributes(), pl.policy.Attributes()...)
	var users, others chunked[connector.Entry]
	var mapped arena // the accounts as MapEntry left them
	var refs chunked[ref]
	var pending chunked[*mapping.Unresolved]
	var errs chunked[error]
	pl.report(PhaseRead, 0, 0)
	n := 0
	cursor, err := src(ctx, func(e connector.Entry) error {
		n++
		if n%1000 == 0 {
			pl.report(PhaseRead, n, 0)
		}
		if e.Kind != connector.KindUser && e.Kind != "" {
			others.add(e)
			return nil
		}
		lowerAttrNames(&e)
		acc, p, err := dm.MapEntry(&e)
		refs.add(mapped.addAccount(&acc, 0))
		pending.add(p)
		errs.add(err)
		users.add(slimEntry(e, keep))
		return nil
	})
	if err != nil {
		return nil, 0, nil, fmt.Errorf("dirsync: read from directory (after %d entries; nothing planned): %w", n, err)
	}
	if err := ctx.Err(); err != nil {
		return nil, 0, nil, fmt.Errorf("dirsync: read from directory (nothing planned): %w", err)
	}
	pl.report(PhaseRead, n, n)

	nUsers := users.len()
	entries := others.appendTo(users.appendTo(make([]connector.Entry, 0, nUsers+others.len())))
	snap, err := connector.NewSnapshot(entries)
	if err != nil {
		return nil, 0, nil, fmt.Errorf("dirsync: read from directory: %w", err)
	}
	rs, ps, mapErrs := refs.slice(), pending.slice(), errs.slice()
	out := &desiredSet{}
	var rd reader
	var acc diff.Account
	for i := range nUsers {
		e := &entries[i]
		if e.Deleted {
			continue // a tombstone has no place in a full read
		}
		mapped.account(rs[i], &rd, &acc)
		if mapErrs[i] == nil {
			dm.Resolve(&acc, ps[i], e, snap)
		}
		ps[i] = nil
		d := pl.toDesired(e, acc, mapErrs[i], snap)
		out.add(&d)
		pl.reportMap(out.len(), len(snap.Users())) // tombstones not counted: the last report is the end
	}
	return out, len(snap.Users()), cursor, nil
}

// readDesiredCompact is readDesiredStreaming for a mapping and a scope
// that use no groups: each entry is mapped and its scope decided as it
// arrives, the account is kept compactly, and of the entry only what
// lookups need goes into a mapping.Targets index: no entry is kept.
func (pl *Planner) readDesiredCompact(ctx context.Context, tr targetResolver, src entrySource) (*desiredSet, int, connector.Cursor, error) {
	targets := mapping.NewTargets(tr.ReferencedAttributes())
	var mapped arena // the desired accounts as MapEntry left them, and what is pending
	var refs chunked[ref]
	var tail []byte
	const tombstone = ^ref(0)
	pl.report(PhaseRead, 0, 0)
	n, nUsers, live := 0, 0, 0
	cursor, err := src(ctx, func(e connector.Entry) error {
		n++
		if n%1000 == 0 {
			pl.report(PhaseRead, n, 0)
		}
		lowerAttrNames(&e)
		targets.Add(&e)
		if e.Kind != connector.KindUser && e.Kind != "" {
			return nil
		}
		nUsers++
		if e.Deleted {
			refs.add(tombstone) // a tombstone has no place in a full read
			return nil
		}
		live++
		acc, p, err := tr.MapEntry(&e)
		dec := pl.policy.Decide(&e, nil) // no group rule: the entry alone decides
		d := diff.Desired{EntryID: e.ID, Disabled: e.Disabled, OutOfScope: !dec.In, Reason: dec.Reason}
		if err != nil {
			d.Invalid = true
			d.Reason = diff.Reason{Code: diff.ReasonInvalid, Detail: "Cannot map this entry: " + err.Error()}
			acc.ExternalID = e.ID
			acc.DisplayName = e.Attr("displayName")
			p = nil
		}
		// The entry's ID is in targets: the record names it by number.
		tail = tail[:0]
		if acc.ExternalID == e.ID {
			acc.ExternalID, tail = "", append(tail, 1)
		} else {
			tail = append(tail, 0)
		}
		d.EntryID = ""
		d.Account = acc
		tail = binary.AppendUvarint(tail, uint64(targets.Len()-1))
		tail = tr.AppendUnresolved(tail, p, targets)
		refs.add(mapped.addDesiredTail(&d, tail))
		return nil
	})
	if err != nil {
		return nil, 0, nil, fmt.Errorf("dirsync: read from directory (after %d entries; nothing planned): %w", n, err)
	}
	if err := ctx.Err(); err != nil {
		return nil, 0, nil, fmt.Errorf("dirsync: read from directory (nothing planned): %w", err)
	}
	pl.report(PhaseRead, n, n)
	if err := targets.Err(); err != nil {
		return nil, 0, nil, fmt.Errorf("dirsync: read from directory: %w", err)
	}

	rs := refs.slice()
	out := &desiredSet{refs: make([]ref, 0, live)}
	var rd reader
	var d diff.Desired
	for i := range nUsers {
		if rs[i] == tombstone {
			continue
		}
		mapped.releaseBefore(rs[i])
		mapped.desired(rs[i], &rd, &d)
		extIsID := rd.s[0] == 1
		rd.s = rd.s[1:]
		d.EntryID = targets.ID(int(rd.uvarint()))
		if extIsID {
			d.Account.ExternalID = d.EntryID
		}
		if p, _ := tr.ReadUnresolved(rd.s, targets); p != nil {
			tr.ResolveTargets(&d.Account, p, targets)
		}
		if !d.Invalid && d.Account.ExternalID == "" {
			d.Invalid = true
			d.Reason = diff.Reason{Code: diff.ReasonInvalid, Detail: "The mapping yields an empty join key; entry skipped"}
			d.Account.ExternalID = d.EntryID
		}
		d.Account.Source = pl.source
		out.add(&d)
		pl.reportMap(out.len(), live) // tombstones not counted: the last report is the end
	}
	return out, live, cursor, nil
}

// lowerAttrNames gives e's attributes lower-case names, merging the values
// of names spelled in several cases in the order connector.NewSnapshot
// merges them, so that an entry mapped as it arrives reads as the same
// entry in a Snapshot does: a connector that builds Attrs literally
// ("Mail") plans alike on every read path. The connector's map is copied,
// not changed, and only when a name needs it (rare).
func lowerAttrNames(e *connector.Entry) {
	var odd []string
	for k := range e.Attrs {
		if strings.ToLower(k) != k {
			odd = append(odd, k)
		}
	}
	if odd == nil {
		return
	}
	slices.Sort(odd)
	a := maps.Clone(e.Attrs)
	for _, k := range odd {
		lower := strings.ToLower(k)
		a[lower] = append(slices.Clip(a[lower]), a[k]...)
		delete(a, k)
	}
	e.Attrs = a
}

// slimEntry keeps what the index needs of a mapped user entry: identity,
// place, memberships and the named attributes.
func slimEntry(e connector.Entry, keep []string) connector.Entry {
	slim := connector.Entry{ID: e.ID, Kind: e.Kind, DN: e.DN, Path: e.Path, Disabled: e.Disabled,
		Deleted: e.Deleted, MemberOf: e.MemberOf, Members: e.Members}
	for _, name := range keep {
		if v := e.Attrs.Values(name); v != nil {
			if slim.Attrs == nil {
				slim.Attrs = make(connector.Attrs, len(keep))
			}
			slim.Attrs.Set(name, v...)
		}
	}
	return slim
}

// read drains src, reporting progress. Any error aborts.
func (pl *Planner) read(ctx context.Context, src entrySource) ([]connector.Entry, connector.Cursor, error) {
	pl.report(PhaseRead, 0, 0)
	var entries chunked[connector.Entry]
	cursor, err := src(ctx, func(e connector.Entry) error {
		entries.add(e)
		if n := entries.len(); n%1000 == 0 {
			pl.report(PhaseRead, n, 0)
		}
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("dirsync: read from directory (after %d entries; nothing planned): %w", entries.len(), err)
	}
	if err := ctx.Err(); err != nil {
		return nil, nil, fmt.Errorf("dirsync: read from directory (nothing planned): %w", err)
	}
	n := entries.len()
	pl.report(PhaseRead, n, n)
	return entries.slice(), cursor, nil
}

// toDesired turns a mapped entry into the diff's input: the scope
// decision, and the mapping's failure or an empty join key as a reason to
// skip.
func (pl *Planner) toDesired(e *connector.Entry, acc diff.Account, mapErr error, snap *connector.Snapshot) diff.Desired {
	d := diff.Desired{EntryID: e.ID, Disabled: e.Disabled}
	dec := pl.policy.Decide(e, snap)
	d.OutOfScope, d.Reason = !dec.In, dec.Reason
	switch {
	case mapErr != nil:
		d.Invalid = true
		d.Reason = diff.Reason{Code: diff.ReasonInvalid, Detail: "Cannot map this entry: " + mapErr.Error()}
		acc.ExternalID = e.ID
		acc.DisplayName = e.Attr("displayName")
	case acc.ExternalID == "":
		d.Invalid = true
		d.Reason = diff.Reason{Code: diff.ReasonInvalid, Detail: "The mapping yields an empty join key; entry skipped"}
		acc.ExternalID = e.ID
	}
	acc.Source = pl.source
	d.Account = acc
	return d
}
