package planner

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"

	"github.com/dirsync-go/dirsync/diff"
)

// joined is the diff input a full plan keeps after listing the sink: the
// entries and accounts that are not in step, the accounts in step whose
// email another entry may want, and the departments of those in step.
type joined struct {
	desired   []diff.Desired
	current   []diff.Account
	unchanged []diff.Account
	depts     [][]string
	managed   int // the integration's accounts in the sink
	listed    int // every account the sink listed
	inStep    int // the pairs in step left out of the diff
}

// The states of a desired account while the sink is listed.
const (
	joinNone  = iota // no account of the integration under its key yet
	joinStep         // one, in step: kept compactly in cur
	joinApart        // one, not in step: kept whole
	joinMany         // several
)

// join lists the sink's accounts and sets aside every pair of a desired
// account and the integration's account under its join key that are in
// step (diff.InStep), keeping that account compactly until the listing
// ends: a later account under the same key makes them duplicates, which
// the diff must see. Every other account is kept whole. A failed or
// cancelled listing is an error and plans nothing.
func (pl *Planner) join(ctx context.Context, ds *desiredSet, step *diff.InStep) (*joined, error) {
	j := &joined{}
	state := make([]uint8, ds.len()) // by position in ds.byKey
	stepRef := make([]ref, ds.len())
	var cur arena
	type keptAccount struct {
		a   diff.Account
		pos int
	}
	var kept chunked[keptAccount]
	var rd reader
	var d diff.Desired
	pos := 0
	for a, err := range pl.sink.Accounts(ctx) {
		if err != nil {
			return nil, fmt.Errorf("dirsync: list accounts in the app (nothing planned): %w", err)
		}
		pos++
		switch {
		case a.Managed && a.Source == pl.source && a.ExternalID != "":
			j.managed++
			lo, hi := ds.find(a.ExternalID)
			if hi-lo != 1 {
				kept.add(keptAccount{a, pos}) // no entry, or several
				continue
			}
			switch state[lo] {
			case joinNone:
				ds.ar.desired(ds.refs[ds.byKey[lo]], &rd, &d)
				if step.Pair(&d, &a) {
					state[lo], stepRef[lo] = joinStep, cur.addAccount(&a, pos)
					continue
				}
				state[lo] = joinApart
			case joinStep:
				// A duplicate: the first account goes back to the diff.
				var first diff.Account
				_, p := cur.account(stepRef[lo], &reader{clone: true}, &first)
				kept.add(keptAccount{first, p})
				state[lo] = joinMany
			default:
				state[lo] = joinMany
			}
			kept.add(keptAccount{a, pos})
		case a.Managed:
			// Another integration's account, or one of this integration
			// without a join key (counted as managed, as managedIn counts
			// it), only holds its email: the diff needs it only where an
			// entry wants that email.
			if a.Source == pl.source {
				j.managed++
			}
			if ds.wanted(diff.NormalizeEmail(a.Email)) > 0 {
				kept.add(keptAccount{a, pos})
			}
		default:
			kept.add(keptAccount{a, pos}) // unmanaged: listed in the plan
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("dirsync: list accounts in the app (nothing planned): %w", err)
	}
	j.listed = pos

	// The accounts in step whose email another entry may want stay as
	// holders of that email; the rest of the pairs leave the diff.
	inStep := make([]bool, ds.len()) // by position in ds.refs
	deptSeen := map[string]bool{}
	var deptKey []byte
	clone := reader{clone: true}
	for k, st := range state {
		if st != joinStep {
			continue
		}
		i := ds.byKey[k]
		inStep[i] = true
		j.inStep++
		ds.ar.desired(ds.refs[i], &rd, &d)
		if deptKey = appendDepartmentKey(deptKey[:0], d.Account.Department); !deptSeen[string(deptKey)] {
			deptSeen[string(deptKey)] = true
			j.depts = append(j.depts, slices.Clone(d.Account.Department))
		}
		var a diff.Account
		cur.account(stepRef[k], &rd, &a)
		email := diff.NormalizeEmail(a.Email)
		own := 0
		if email != "" && diff.NormalizeEmail(d.Account.Email) == email {
			own = 1
		}
		if ds.wanted(email) > own {
			cur.account(stepRef[k], &clone, &a)
			j.unchanged = append(j.unchanged, a)
		}
	}
	cur.reset()
	for i, x := range ds.refs {
		if !inStep[i] {
			var d diff.Desired
			ds.ar.desired(x, &clone, &d)
			j.desired = append(j.desired, d)
		}
	}
	ks := kept.slice()
	slices.SortFunc(ks, func(a, b keptAccount) int { return cmp.Compare(a.pos, b.pos) })
	j.current = make([]diff.Account, len(ks))
	for i := range ks {
		j.current[i] = ks[i].a
	}
	return j, nil
}

// appendDepartmentKey appends a map key for a department path that no
// other path shares (each part preceded by its length), as diff keys
// departments: ["a\x00b"] and ["a", "b"] are two departments.
func appendDepartmentKey(b []byte, p []string) []byte {
	for _, s := range p {
		b = strconv.AppendInt(b, int64(len(s)), 10)
		b = append(b, ':')
		b = append(b, s...)
	}
	return b
}
