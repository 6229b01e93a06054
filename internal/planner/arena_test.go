package planner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"

	"github.com/dirsync-go/dirsync/connector"
	"github.com/dirsync-go/dirsync/diff"
)

func genString(t *rapid.T, label string) string {
	switch rapid.IntRange(0, 5).Draw(t, label+"Kind") {
	case 0:
		return ""
	case 1: // bigger than a chunk: a record of its own
		return strings.Repeat("x", arenaChunk+rapid.IntRange(0, 9).Draw(t, label+"Len"))
	}
	return rapid.String().Draw(t, label)
}

func genList(t *rapid.T, label string) []string {
	switch n := rapid.IntRange(-1, 3).Draw(t, label+"Len"); n {
	case -1:
		return nil
	default:
		out := make([]string, n) // n == 0: empty, not nil
		for i := range out {
			out[i] = rapid.String().Draw(t, label)
		}
		return out
	}
}

func genAccount(t *rapid.T) diff.Account {
	a := diff.Account{ID: genString(t, "id"), Source: genString(t, "source"), ExternalID: genString(t, "ext"),
		Username: genString(t, "user"), Email: genString(t, "email"), GivenName: genString(t, "given"),
		FamilyName: genString(t, "family"), DisplayName: genString(t, "display"), Title: genString(t, "title"),
		Phone: genString(t, "phone"), Manager: genString(t, "manager"), BlockReason: genString(t, "why"),
		Department: genList(t, "dept"), Roles: genList(t, "roles"),
		Blocked: rapid.Bool().Draw(t, "blocked"), BlockedBySync: rapid.Bool().Draw(t, "bySync"),
		Managed: rapid.Bool().Draw(t, "managed")}
	if rapid.Bool().Draw(t, "hasExtra") {
		a.Extra = map[string]string{}
		for range rapid.IntRange(0, 3).Draw(t, "extras") {
			a.Extra[rapid.String().Draw(t, "key")] = rapid.String().Draw(t, "value")
		}
	}
	if rapid.Bool().Draw(t, "hasBlockedAt") {
		a.BlockedAt = time.Date(2026, 1, 2, 3, 4, 5, 6, time.FixedZone("CET", 3600))
	}
	return a
}

// Every record reads back as it was written, cloned or not, across chunk
// boundaries, with nil and empty lists and maps told apart and BlockedAt
// keeping its location.
func TestCompactRecordsRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		var ar arena
		var ds []diff.Desired
		var as []diff.Account
		var dr, skip []ref
		for i := range rapid.IntRange(1, 8).Draw(t, "records") {
			if rapid.Bool().Draw(t, "desired") {
				d := diff.Desired{Account: genAccount(t), EntryID: genString(t, "entry"),
					Disabled: rapid.Bool().Draw(t, "disabled"), OutOfScope: rapid.Bool().Draw(t, "out"),
					Invalid: rapid.Bool().Draw(t, "invalid"),
					Reason:  diff.Reason{Code: rapid.SampledFrom([]string{"", "a", "b"}).Draw(t, "code"), Detail: genString(t, "detail")}}
				if rapid.Bool().Draw(t, "entryIsExt") {
					d.EntryID = d.Account.ExternalID
				}
				ds = append(ds, d)
				dr = append(dr, ar.addDesired(&d))
			} else {
				a := genAccount(t)
				as = append(as, a)
				skip = append(skip, ar.addAccount(&a, i))
			}
		}
		for _, clone := range []bool{false, true} {
			var d diff.Desired
			for i, x := range dr {
				ar.desired(x, &reader{clone: clone}, &d)
				require.Equal(t, ds[i], d)
			}
			var a diff.Account
			for i, x := range skip {
				ar.account(x, &reader{clone: clone}, &a)
				require.Equal(t, as[i], a)
			}
		}
	})
}

// listSink lists accounts, failing after fail of them when fail >= 0.
type listSink struct {
	accounts []diff.Account
	fail     int
}

func (s listSink) Accounts(ctx context.Context) iter.Seq2[diff.Account, error] {
	return func(yield func(diff.Account, error) bool) {
		for i, a := range s.accounts {
			if i == s.fail {
				yield(diff.Account{}, errors.New("connection reset"))
				return
			}
			if !yield(a, nil) {
				return
			}
		}
	}
}

func (listSink) Apply(context.Context, diff.Change) error { return nil }

type noConnector struct{}

func (noConnector) Read(context.Context) iter.Seq2[connector.Entry, error] {
	return func(func(connector.Entry, error) bool) {}
}

// genSides draws desired accounts and app accounts that collide on
// purpose: few external IDs and emails, app accounts that copy an entry
// (in step, or a field off, or blocked), duplicates under one key,
// another integration's accounts and unmanaged ones.
func genSides(t *rapid.T) ([]diff.Desired, []diff.Account) {
	ids := []string{"E1", "E2", "E3", "E4", "E5", "E6"}
	emails := []string{"ann@x.test", "Ann@X.test", "bob@x.test", "cy@x.test", ""}
	depts := [][]string{nil, {"Sales"}, {"Sales", "EMEA"}}
	var desired []diff.Desired
	var current []diff.Account
	for i := range rapid.IntRange(0, 8).Draw(t, "entries") {
		d := diff.Desired{EntryID: fmt.Sprintf("g%d", i), Account: diff.Account{
			ExternalID: rapid.SampledFrom(ids).Draw(t, "ext"), Email: rapid.SampledFrom(emails).Draw(t, "email"),
			DisplayName: fmt.Sprintf("Person %d", i), Title: rapid.SampledFrom([]string{"", "Engineer"}).Draw(t, "title"),
			Department: rapid.SampledFrom(depts).Draw(t, "dept"), Source: "ad"}}
		d.Disabled = rapid.IntRange(0, 4).Draw(t, "disabled") == 0
		d.OutOfScope = rapid.IntRange(0, 6).Draw(t, "out") == 0
		d.Invalid = rapid.IntRange(0, 8).Draw(t, "invalid") == 0
		desired = append(desired, d)
		for c := range rapid.IntRange(0, 2).Draw(t, "copies") {
			a := d.Account.Clone()
			a.ID, a.Source, a.Managed = fmt.Sprintf("app-%d-%d", i, c), "ad", true
			a.Blocked = d.Disabled != (rapid.IntRange(0, 5).Draw(t, "blockOff") == 0)
			a.BlockedBySync = a.Blocked
			if rapid.IntRange(0, 4).Draw(t, "off") == 0 {
				a.Title += " (old)"
			}
			current = append(current, a)
		}
	}
	// New people who want an email an account in step may hold.
	for i := range rapid.IntRange(0, 2).Draw(t, "newcomers") {
		desired = append(desired, diff.Desired{EntryID: fmt.Sprintf("n%d", i), Account: diff.Account{
			ExternalID: fmt.Sprintf("N%d", i), Email: rapid.SampledFrom(emails).Draw(t, "newEmail"), Source: "ad"}})
	}
	for i := range rapid.IntRange(0, 4).Draw(t, "others") {
		a := diff.Account{ID: fmt.Sprintf("other-%d", i), Email: rapid.SampledFrom(emails).Draw(t, "otherEmail")}
		switch rapid.IntRange(0, 2).Draw(t, "otherKind") {
		case 0:
			a.Source, a.Managed, a.ExternalID = "google", true, rapid.SampledFrom(ids).Draw(t, "otherExt")
		case 1:
			a.Source, a.Managed, a.ExternalID = "ad", true, rapid.SampledFrom(ids).Draw(t, "otherExt")
		}
		current = append(current, a)
	}
	perm := rapid.Permutation(current).Draw(t, "order")
	return desired, perm
}

// A full plan that sets the pairs in step aside while listing the sink
// plans byte-for-byte what the diff of everything plans, and counts the
// integration's accounts alike.
func TestJoinLeavesThePlanAlone(t *testing.T) {
	setAside := 0
	rapid.Check(t, func(t *rapid.T) {
		desired, current := genSides(t)
		in := diff.Input{Source: "ad", Options: diff.Options{Now: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)}}
		if rapid.Bool().Draw(t, "departments") {
			in.ManageDepartments, in.Departments = true, [][]string{{"Sales"}}
		}
		if rapid.IntRange(0, 3).Draw(t, "exception") == 0 {
			who := rapid.SampledFrom([]string{"E1", "app-0-0", "bob@x.test"}).Draw(t, "except")
			in.Options.Except = func(a *diff.Account) (diff.Reason, bool) {
				return diff.Reason{}, a.ExternalID == who || a.ID == who || a.Email == who
			}
		}
		whole := in
		whole.Desired, whole.Current = desired, current
		want := render(t, diff.Compute(whole))

		sy, err := newTest(noConnector{}, listSink{accounts: current, fail: -1}, &testOptions{Source: "ad"})
		require.NoError(t, err)
		ds := &desiredSet{}
		for i := range desired {
			ds.add(&desired[i])
		}
		ds.index()
		j, err := sy.join(context.Background(), ds, diff.NewInStep(&in))
		require.NoError(t, err)
		setAside += len(desired) - len(j.desired)
		got := in
		got.Desired, got.Current, got.Unchanged, got.WantDepartments = j.desired, j.current, j.unchanged, j.depts
		require.Equal(t, want, render(t, diff.Compute(got)))
		require.Equal(t, ManagedIn(current, "ad"), j.managed)
		require.Equal(t, len(current), j.listed)
	})
	require.Positive(t, setAside, "no pair was ever set aside: the property was not exercised")
}

func render(t *rapid.T, p *diff.Plan) string {
	j, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if err := p.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	return b.String() + string(j)
}

// A listing of the sink that fails at any point, or is cancelled, plans
// nothing.
func TestFailedListingPlansNothing(t *testing.T) {
	var accounts []diff.Account
	for i := range 50 {
		accounts = append(accounts, diff.Account{ID: fmt.Sprint(i), Source: "ad", ExternalID: fmt.Sprint(i), Managed: true})
	}
	for _, fail := range []int{0, 1, 25, 49} {
		sy, err := newTest(noConnector{}, listSink{accounts: accounts, fail: fail}, &testOptions{Source: "ad"})
		require.NoError(t, err)
		p, err := sy.Plan(context.Background())
		require.Error(t, err)
		require.Contains(t, err.Error(), "nothing planned")
		require.Nil(t, p)
	}
	ctx, cancel := context.WithCancel(context.Background())
	sy, err := newTest(noConnector{}, cancelSink{listSink{accounts: accounts, fail: -1}, cancel}, &testOptions{Source: "ad"})
	require.NoError(t, err)
	p, err := sy.Plan(ctx)
	require.ErrorIs(t, err, context.Canceled)
	require.Nil(t, p)
}

// cancelSink cancels the context half way through its listing and goes on
// as if nothing happened (a quiet cancel).
type cancelSink struct {
	listSink
	cancel context.CancelFunc
}

func (s cancelSink) Accounts(ctx context.Context) iter.Seq2[diff.Account, error] {
	return func(yield func(diff.Account, error) bool) {
		for i, a := range s.accounts {
			if i == len(s.accounts)/2 {
				s.cancel()
			}
			if !yield(a, nil) {
				return
			}
		}
	}
}
