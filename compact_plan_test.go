package dirsync_test

import (
	"context"
	"encoding/json"
	"fmt"
	"iter"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"

	"github.com/dirsync-go/dirsync"
	"github.com/dirsync-go/dirsync/connector"
	"github.com/dirsync-go/dirsync/connector/fake"
	"github.com/dirsync-go/dirsync/diff"
	"github.com/dirsync-go/dirsync/dirsynctest"
	"github.com/dirsync-go/dirsync/mapping"
	"github.com/dirsync-go/dirsync/policy"
)

// sliceConn yields entries as they are: tombstones, shared IDs and all.
type sliceConn []connector.Entry

func (c sliceConn) Read(ctx context.Context) iter.Seq2[connector.Entry, error] {
	return func(yield func(connector.Entry, error) bool) {
		for _, e := range c {
			if !yield(e.Clone(), nil) {
				return
			}
		}
	}
}

// deferredOnly is the rule mapper without its compact-index methods:
// a Syncer keeps slim entries in a Snapshot for it.
type deferredOnly struct{ rm *mapping.RuleMapper }

func (d deferredOnly) Map(e *connector.Entry, s *connector.Snapshot) (diff.Account, error) {
	return d.rm.Map(e, s)
}
func (d deferredOnly) MapEntry(e *connector.Entry) (diff.Account, *mapping.Unresolved, error) {
	return d.rm.MapEntry(e)
}
func (d deferredOnly) Resolve(a *diff.Account, p *mapping.Unresolved, e *connector.Entry, s *connector.Snapshot) {
	d.rm.Resolve(a, p, e, s)
}
func (d deferredOnly) ReferencedAttributes() []string { return d.rm.ReferencedAttributes() }
func (d deferredOnly) Describe() mapping.Description {
	return mapping.Description{Fields: d.rm.Fields(), UsesGroups: true}
}

// plainOnly is the rule mapper as a plain Mapper: a Syncer holds the whole
// read for it.
type plainOnly struct{ rm *mapping.RuleMapper }

func (p plainOnly) Map(e *connector.Entry, s *connector.Snapshot) (diff.Account, error) {
	return p.rm.Map(e, s)
}
func (p plainOnly) Describe() mapping.Description {
	return mapping.Description{Fields: p.rm.Fields(), UsesGroups: true}
}

// A full plan reads alike whichever way the mapper lets the Syncer keep
// the read: compactly (mapping.Targets), as slim entries in a Snapshot, or
// whole. The directory is hostile (managers named by DN in other
// spellings and by ID, shared DNs, tombstones, sometimes a shared ID) and
// the app holds accounts in step, changed, blocked, duplicated, another
// integration's and unmanaged ones; the plans, their JSON and their
// errors are identical.
func TestCompactReadPlansAsEveryPath(t *testing.T) {
	rm, err := mapping.New(mapping.ADSpec())
	require.NoError(t, err)
	rapid.Check(t, func(t *rapid.T) {
		entries := fake.Company(rapid.IntRange(0, 40).Draw(t, "users"), rapid.Int64().Draw(t, "seed"))
		// The app as a previous sync left it.
		sink := dirsynctest.NewMemorySink()
		first, err := dirsync.New(sliceConn(entries), sink, &dirsync.Options{Source: "ad", Clock: fixedClock(clock)})
		if err != nil {
			t.Fatal(err)
		}
		p, err := first.Plan(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		p.Approve()
		if _, err := first.Apply(context.Background(), p); err != nil {
			t.Fatal(err)
		}
		app := sink.Snapshot()
		for i := range rapid.IntRange(0, 3).Draw(t, "appExtras") {
			a := diff.Account{ID: fmt.Sprintf("extra-%d", i), Email: fmt.Sprintf("u%d@example.test", i)}
			switch rapid.IntRange(0, 2).Draw(t, "extraKind") {
			case 0:
				a.Source, a.Managed, a.ExternalID = "google", true, fmt.Sprintf("g%d", i)
			case 1:
				if len(app) > 0 { // a duplicate under a join key
					a = app[rapid.IntRange(0, len(app)-1).Draw(t, "dupOf")].Clone()
					a.ID = fmt.Sprintf("dup-%d", i)
				}
			}
			app = append(app, a)
		}
		// The directory since then.
		users := []int{}
		for i, e := range entries {
			if e.Kind == connector.KindUser {
				users = append(users, i)
			}
		}
		for k := range rapid.IntRange(0, 6).Draw(t, "edits") {
			if len(users) == 0 {
				break
			}
			e := &entries[users[rapid.IntRange(0, len(users)-1).Draw(t, "who")]]
			e.Attrs = e.Attrs.Clone()
			switch rapid.IntRange(0, 7).Draw(t, "edit") {
			case 0:
				e.Attrs.Set("title", fmt.Sprintf("Title %d", k))
			case 1:
				e.Disabled = !e.Disabled
			case 2:
				e.Deleted = true
			case 3: // the manager in another spelling, or by ID
				m := entries[users[rapid.IntRange(0, len(users)-1).Draw(t, "manager")]]
				e.Attrs.Set("manager", rapid.SampledFrom([]string{strings.ToUpper(m.DN), " " + m.ID, strings.ReplaceAll(m.DN, ",", " , ")}).Draw(t, "spelling"))
			case 4: // two entries with one DN
				e.DN = entries[users[0]].DN
			case 5:
				e.Attrs.Set("mail", entries[users[0]].Attr("mail"))
			case 6:
				if rapid.IntRange(0, 3).Draw(t, "sharedID") == 0 {
					e.ID = entries[users[0]].ID
				}
			case 7:
				e.Attrs.Set("department", "")
				e.Path = []string{"Elsewhere"}
			}
		}
		order := rapid.Permutation(entries).Draw(t, "order")
		var pcfg policy.Config
		if rapid.Bool().Draw(t, "usersOnly") {
			pcfg.Scope.Rules = []policy.ScopeRule{{Action: "include", OUEndsWithUsers: true}}
		}
		pcfg.Safety.Disabled = true
		pol, err := policy.New(pcfg)
		if err != nil {
			t.Fatal(err)
		}
		plan := func(m mapping.Mapper) string {
			sy, err := dirsync.New(sliceConn(order), dirsynctest.NewMemorySink(app...), &dirsync.Options{
				Source: "ad", Mapper: m, Policy: pol, Clock: fixedClock(clock)})
			if err != nil {
				t.Fatal(err)
			}
			p, err := sy.Plan(context.Background())
			if err != nil {
				return "error: " + err.Error()
			}
			j, err := json.Marshal(p)
			if err != nil {
				t.Fatal(err)
			}
			return p.String() + string(j)
		}
		compact := plan(rm)
		require.Equal(t, plan(deferredOnly{rm}), compact)
		require.Equal(t, plan(plainOnly{rm}), compact)
	})
}
