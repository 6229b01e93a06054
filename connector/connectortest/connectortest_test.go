package connectortest

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dirsync-go/dirsync/connector"
	"github.com/dirsync-go/dirsync/connector/fake"
)

// findings splits the joined error of Test into its findings.
func findings(err error) []string {
	if err == nil {
		return nil
	}
	return strings.Split(err.Error(), "\n")
}

// requireFinding asserts that exactly one finding contains want.
func requireFinding(t *testing.T, err error, want string) {
	t.Helper()
	require.Error(t, err)
	n := 0
	for _, f := range findings(err) {
		if strings.Contains(f, want) {
			n++
		}
	}
	require.Equal(t, 1, n, "want one finding containing %q in:\n%v", want, err)
}

func TestPassesOnFake(t *testing.T) {
	entries := fake.Company(300, 1)
	assert.NoError(t, Test(t.Context(), fake.New(entries...), entries[0].ID, entries[len(entries)-1].ID))
}

func TestPassesOnFakeShuffled(t *testing.T) {
	d := fake.New(fake.Company(50, 2)...)
	d.Shuffle(7)
	assert.NoError(t, Test(t.Context(), d))
}

func TestNilConnector(t *testing.T) {
	assert.EqualError(t, Test(t.Context(), nil), "connectortest: nil connector")
}

func TestPassesOnEmpty(t *testing.T) {
	assert.NoError(t, Test(t.Context(), fake.New()))
	assert.NoError(t, Test(t.Context(), &testConn{}))
}

func TestPassesOnSingleEntry(t *testing.T) {
	assert.NoError(t, Test(t.Context(), &testConn{entries: []connector.Entry{user("u1")}}, "u1"))
}

func TestPassesOnWellBehavedConn(t *testing.T) {
	assert.NoError(t, Test(t.Context(), &testConn{entries: sample()}, "u1", "g1"))
}

func TestDuplicateID(t *testing.T) {
	c := &testConn{entries: append(sample(), user("u2"))}
	err := Test(t.Context(), c)
	requireFinding(t, err, `entry ID "u2" yielded twice`)
	assert.ErrorIs(t, err, connector.ErrDuplicateID)
	var dup *connector.DuplicateIDError
	require.ErrorAs(t, err, &dup)
	assert.Equal(t, "u2", dup.ID)
}

func TestEmptyID(t *testing.T) {
	requireFinding(t, Test(t.Context(), &testConn{entries: append(sample(), user(""))}), "1 entries have an empty ID")
}

func TestIgnoresCancellation(t *testing.T) {
	err := Test(t.Context(), &testConn{entries: sample(), ignoreCancel: true})
	requireFinding(t, err, "read with an already-cancelled context ended without an error after 4 entries")
	requireFinding(t, err, "read cancelled after its first entry ended without an error")
	assert.Len(t, findings(err), 2, err)
}

func TestCancellationWithWrongError(t *testing.T) {
	err := Test(t.Context(), &testConn{entries: sample(), wrongCancel: errors.New("socket closed")})
	requireFinding(t, err, `read with an already-cancelled context failed with "socket closed", which does not wrap context.Canceled`)
}

func TestYieldAfterError(t *testing.T) {
	err := Test(t.Context(), &testConn{entries: sample(), yieldAfterErr: true})
	requireFinding(t, err, "read with an already-cancelled context yielded 1 more values after the error")
}

func TestHangsOnCancel(t *testing.T) {
	defer func(d time.Duration) { cancelGrace = d }(cancelGrace)
	cancelGrace = 50 * time.Millisecond
	stop := make(chan struct{})
	defer close(stop)
	err := Test(t.Context(), &testConn{entries: sample(), hangOnCancel: true, stop: stop})
	requireFinding(t, err, "read with a cancelled context still running 50ms later")
	requireFinding(t, err, "read cancelled after its first entry still running 50ms later")
}

func TestDanglingReferences(t *testing.T) {
	entries := sample()
	entries[1].MemberOf = []string{"g-gone"}
	entries[3].Members = append(entries[3].Members, "u-gone")
	entries = append(entries, user("u4", "u2"))
	err := Test(t.Context(), &testConn{entries: entries})
	requireFinding(t, err, `"u2" (CN=u2,OU=Users,DC=example,DC=test) lists "g-gone" in MemberOf, which the read did not yield`)
	requireFinding(t, err, `group "g1" (CN=g1,OU=Groups,DC=example,DC=test) lists "u-gone" in Members`)
	requireFinding(t, err, `lists "u2" in MemberOf, which is a user, not a group`)
	assert.Len(t, findings(err), 3, err)
}

func TestManyFindingsAreCapped(t *testing.T) {
	var entries []connector.Entry
	for i := range 25 {
		entries = append(entries, user(fmt.Sprint("u", i), "nowhere"))
	}
	err := Test(t.Context(), &testConn{entries: entries})
	assert.Len(t, findings(err), maxReports+1, err)
	requireFinding(t, err, "… and 15 more like that")
}

func TestMissingExpectedID(t *testing.T) {
	err := Test(t.Context(), &testConn{entries: sample()}, "u1", "u9", "g1")
	requireFinding(t, err, `expected ID "u9" was not yielded by the full read`)
	assert.Len(t, findings(err), 1)
}

func TestBadEntries(t *testing.T) {
	entries := sample()
	entries[0].Kind = ""
	entries[1].Deleted = true
	entries[2].Path = []string{"Europe", ""}
	entries[2].Members = []string{"u1"}
	err := Test(t.Context(), &testConn{entries: entries})
	requireFinding(t, err, `entry "u1" (CN=u1,OU=Users,DC=example,DC=test) has Kind ""; want user, group or orgunit`)
	requireFinding(t, err, `entry "u2" (CN=u2,OU=Users,DC=example,DC=test) is marked Deleted`)
	requireFinding(t, err, `entry "u3" (CN=u3,OU=Users,DC=example,DC=test) has an empty element in Path`)
	requireFinding(t, err, `user "u3" (CN=u3,OU=Users,DC=example,DC=test) has Members; only groups do`)
}

func TestSharedEntries(t *testing.T) {
	requireFinding(t, Test(t.Context(), &testConn{entries: sample(), shared: true}), `entry "u1": changing a yielded entry changed what the next read yields`)
}

func TestUnstableIDs(t *testing.T) {
	err := Test(t.Context(), &testConn{entries: sample(), unstable: true}, "u1")
	requireFinding(t, err, `second full read: ID "u1-1" of the first read is missing; IDs must be stable`)
	requireFinding(t, err, `expected ID "u1" was not yielded`)
}

func TestIgnoresBreak(t *testing.T) {
	err := Test(t.Context(), &testConn{entries: sample(), ignoreBreak: true})
	requireFinding(t, err, "breaking out of a read after the first entry panicked")
}

func TestReadFails(t *testing.T) {
	boom := errors.New("connection refused")
	err := Test(t.Context(), &testConn{entries: sample(), failRead: boom})
	assert.ErrorIs(t, err, boom)
	assert.Equal(t, []string{"full read failed: connection refused"}, findings(err))
}

func TestCheckerFailure(t *testing.T) {
	d := fake.New(fake.Company(10, 1)...)
	d.FailCheck(fmt.Errorf("bind: %w", connector.ErrAuth))
	err := Test(t.Context(), d)
	requireFinding(t, err, "Check failed on a connector that reads")
	assert.ErrorIs(t, err, connector.ErrAuth)
}

func TestFailingFake(t *testing.T) {
	d := fake.New(fake.Company(10, 1)...)
	d.FailAfter(3, errors.New("connection reset"))
	requireFinding(t, Test(t.Context(), d), "full read failed: connection reset")
}

// incConn adds a broken connector.Incremental and GroupSearcher to testConn.
type incConn struct {
	*testConn
	emptyCursor   bool
	ignoreCursor  bool
	ignoreYield   bool
	ignoreCtx     bool
	searchResults []connector.Entry
}

func (c *incConn) ReadChanges(ctx context.Context, since connector.Cursor, yield func(connector.Entry) error) (connector.Cursor, error) {
	if !c.ignoreCtx && ctx.Err() != nil {
		return nil, ctx.Err()
	}
	if len(since) > 0 && !c.ignoreCursor {
		return since, nil
	}
	for _, e := range c.entries {
		if err := yield(e.Clone()); err != nil && !c.ignoreYield {
			return nil, err
		}
	}
	if c.emptyCursor {
		return nil, nil
	}
	return connector.Cursor("c1"), nil
}

func (c *incConn) SearchGroups(ctx context.Context, prefix string, limit int) ([]connector.Entry, error) {
	return c.searchResults, nil
}

func TestIncremental(t *testing.T) {
	ok := &incConn{testConn: &testConn{entries: sample()}, searchResults: []connector.Entry{group("g1")}}
	assert.NoError(t, Test(t.Context(), ok))

	err := Test(t.Context(), &incConn{testConn: &testConn{entries: sample()}, emptyCursor: true, searchResults: []connector.Entry{group("g1")}})
	requireFinding(t, err, "ReadChanges(nil) returned an empty cursor")

	err = Test(t.Context(), &incConn{testConn: &testConn{entries: sample()}, ignoreCursor: true, searchResults: []connector.Entry{group("g1")}})
	requireFinding(t, err, "yielded all 4 entries again")

	err = Test(t.Context(), &incConn{testConn: &testConn{entries: sample()}, ignoreYield: true, ignoreCtx: true, searchResults: []connector.Entry{group("g1")}})
	requireFinding(t, err, "ReadChanges returned <nil> when yield returned an error")
	requireFinding(t, err, "ReadChanges called yield 3 times after yield returned an error")
	requireFinding(t, err, "ReadChanges(nil) with a cancelled context returned <nil>")
}

func TestIncrementalDifferentIDs(t *testing.T) {
	c := &incConn{testConn: &testConn{entries: sample()}, searchResults: []connector.Entry{group("g1")}}
	err := Test(t.Context(), &differentInc{incConn: c})
	requireFinding(t, err, `ReadChanges(nil) compared with Read: ID "u2" of the first read is missing`)
	requireFinding(t, err, `ReadChanges(nil) compared with Read: ID "u2x" was not in the first read`)
	requireFinding(t, err, `ReadChanges(nil) yielded "u3" as Deleted`)
}

// differentInc renames u2 and marks u3 deleted in its incremental reads.
type differentInc struct{ *incConn }

func (c *differentInc) ReadChanges(ctx context.Context, since connector.Cursor, yield func(connector.Entry) error) (connector.Cursor, error) {
	return c.incConn.ReadChanges(ctx, since, func(e connector.Entry) error {
		switch e.ID {
		case "u2":
			e.ID = "u2x"
		case "u3":
			e.Deleted = true
		}
		return yield(e)
	})
}

func TestSearchGroups(t *testing.T) {
	err := Test(t.Context(), &incConn{testConn: &testConn{entries: sample()}, searchResults: []connector.Entry{user("u1"), group("g9")}})
	requireFinding(t, err, `SearchGroups returned "u1" (CN=u1,OU=Users,DC=example,DC=test) (Kind "user"), which is not a group of the full read`)
	requireFinding(t, err, `SearchGroups returned "g9"`)

	err = Test(t.Context(), &incConn{testConn: &testConn{entries: sample()}})
	requireFinding(t, err, `SearchGroups("", 5) found nothing`)

	many := []connector.Entry{group("g1"), group("g1"), group("g1"), group("g1"), group("g1"), group("g1")}
	err = Test(t.Context(), &incConn{testConn: &testConn{entries: sample()}, searchResults: many})
	requireFinding(t, err, "SearchGroups with limit 5 returned 6 groups")
}

// A cancelled parent context makes every read fail; Test reports that
// rather than hanging.
func TestCancelledParent(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	err := Test(ctx, fake.New(fake.Company(5, 1)...))
	require.Error(t, err)
	assert.ErrorIs(t, err, context.Canceled)
}

var _ iter.Seq2[connector.Entry, error] = (&testConn{}).Read(context.Background())

// matchConn is a host's GroupSearcher that filters in memory by one kind
// of match and declares another, or the same.
type matchConn struct {
	*testConn
	does, declares connector.GroupMatch
}

func (c *matchConn) SearchGroups(ctx context.Context, query string, limit int) ([]connector.Entry, error) {
	var out []connector.Entry
	for _, e := range c.entries {
		if e.Kind == connector.KindGroup && c.does.Matches(e.Attr("cn"), query) {
			out = append(out, e.Clone())
		}
	}
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

func (c *matchConn) GroupSearchMatch() connector.GroupMatch { return c.declares }

var _ connector.GroupSearchMatcher = (*matchConn)(nil)

func TestSearchMatchDeclared(t *testing.T) {
	named := func(id, name string) connector.Entry {
		g := group(id)
		g.Attrs.Set("cn", name)
		return g
	}
	entries := append(sample()[:3], named("g1", "App Admins"), named("g2", "Whatsapp"), named("g3", "Sales"))
	conn := func(does, declares connector.GroupMatch) *matchConn {
		return &matchConn{testConn: &testConn{entries: entries}, does: does, declares: declares}
	}
	for _, m := range []connector.GroupMatch{connector.MatchPrefix, connector.MatchWordPrefix, connector.MatchSubstring} {
		assert.NoError(t, Test(t.Context(), conn(m, m)), "%v", m)
	}
	// "dmi" (inside "Admins") finds nothing by prefix.
	requireFinding(t, Test(t.Context(), conn(connector.MatchPrefix, connector.MatchSubstring)),
		`SearchGroups("dmi", 0) did not find "g1" (CN=g1,OU=Groups,DC=example,DC=test), named "App Admins", though the searcher declares substring matching`)
	// "Adm" (the start of the last word) finds nothing by prefix.
	requireFinding(t, Test(t.Context(), conn(connector.MatchPrefix, connector.MatchWordPrefix)),
		`SearchGroups("Adm", 0) did not find "g1"`)
	// "App" by substring also finds "Whatsapp", which does not start with it.
	requireFinding(t, Test(t.Context(), conn(connector.MatchSubstring, connector.MatchPrefix)),
		`SearchGroups("App", 0) returned "g2" (CN=g2,OU=Groups,DC=example,DC=test) named "Whatsapp", whose names do not match the query by prefix`)
	requireFinding(t, Test(t.Context(), conn(connector.MatchPrefix, connector.GroupMatch(9))),
		"GroupSearchMatch returned GroupMatch(9), which is none of")
	// The query is cut from the name as read, not from the entry the
	// copy check modified (the first one yielded).
	groupFirst := append([]connector.Entry{named("g1", "App Admins")}, append(sample()[:3], named("g3", "Sales"))...)
	assert.NoError(t, Test(t.Context(), &matchConn{testConn: &testConn{entries: groupFirst},
		does: connector.MatchSubstring, declares: connector.MatchSubstring}))
	// A directory without named groups has nothing to cut a query from.
	assert.NoError(t, Test(t.Context(), &matchConn{testConn: &testConn{entries: sample()}, declares: connector.MatchSubstring,
		does: connector.MatchSubstring}))
}
