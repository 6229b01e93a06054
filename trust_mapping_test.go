package dirsync_test

// An account the mapping cannot fill is never created: a create or an
// update that would leave an account with no email and no username is a
// skip with diff.ReasonInvalid; and a read where most users map to nothing
// says so once, in the plan's summary.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dirsync-go/dirsync"
	"github.com/dirsync-go/dirsync/connector"
	"github.com/dirsync-go/dirsync/connector/fake"
	"github.com/dirsync-go/dirsync/diff"
	"github.com/dirsync-go/dirsync/dirsynctest"
	"github.com/dirsync-go/dirsync/mapping"
)

// notAD is a directory user whose attributes are not named the Active
// Directory way: the default mapping finds nothing in it.
func notAD(id string) connector.Entry {
	e := connector.Entry{ID: id, Kind: connector.KindUser, Path: []string{"Staff"}, Attrs: connector.Attrs{}}
	e.Attrs.Set("email", "person"+id+"@example.test")
	e.Attrs.Set("name", "Person "+id)
	return e
}

func notADN(n int) []connector.Entry {
	out := make([]connector.Entry, n)
	for i := range out {
		out[i] = notAD(fmt.Sprintf("x%03d", i))
	}
	return out
}

// renderPlan returns the plan's text and JSON.
func renderPlan(t *testing.T, p *dirsync.Plan) (string, []byte) {
	t.Helper()
	var text bytes.Buffer
	require.NoError(t, p.WriteText(&text))
	b, err := json.Marshal(p)
	require.NoError(t, err)
	return text.String(), b
}

func TestUnmappableEntryIsNeverCreated(t *testing.T) {
	ctx := context.Background()
	// bob has a sign-in name and nothing else: reachable, so created.
	bob := connector.Entry{ID: "b2", Kind: connector.KindUser, Path: []string{"Staff"}, Attrs: connector.Attrs{}}
	bob.Attrs.Set("sAMAccountName", "bob")
	entries := append([]connector.Entry{user("a1", "alice", "Staff"), bob}, notADN(3)...)
	dir := fake.New(entries...)
	sink := dirsynctest.NewMemorySink()
	sy, err := dirsync.New(dir, sink, nil) // the default mapping: Active Directory's
	require.NoError(t, err)

	p, err := sy.Plan(ctx)
	require.NoError(t, err)
	assert.Equal(t, 2, p.Count(diff.OpCreate), "only alice and bob can be reached:\n%s", p)
	for _, c := range p.Changes {
		if !strings.HasPrefix(c.Key, "directory/x") {
			continue
		}
		assert.Equal(t, diff.OpSkip, c.Op, "%s", p)
		require.Len(t, c.Reasons, 1)
		r := c.Reasons[0]
		assert.Equal(t, diff.ReasonInvalid, r.Code)
		assert.Contains(t, r.Detail, "no email and no username", "the sentence names the missing fields")
	}
	text, _ := renderPlan(t, p)
	assert.Contains(t, text, "directory/x000", "a row names the entry when the account has no name")
	r, err := sy.Apply(ctx, p)
	require.NoError(t, err)
	assert.Equal(t, p.Actionable(), r.Count(dirsync.StatusApplied))
	for _, a := range sink.Snapshot() {
		assert.True(t, a.Email != "" || a.Username != "", "an account nobody can reach: %+v", a)
	}
	assert.Len(t, sink.Snapshot(), 2)

	// Incremental: entries that arrive later are held to the same rule.
	require.NoError(t, dir.Add(notAD("y1"), user("c3", "carol", "Staff")))
	p, err = sy.Plan(ctx)
	require.NoError(t, err)
	require.True(t, p.Incremental)
	assert.Equal(t, 1, p.Count(diff.OpCreate), "only carol:\n%s", p)
	c := changeFor(t, p, "directory/y1")
	assert.Equal(t, diff.OpSkip, c.Op)
	assert.True(t, c.HasReason(diff.ReasonInvalid), "%s", p)
}

// Updates: a change that would take away the last way to reach a person
// is withheld, and the account keeps its fields; a block still happens.
func TestUpdateNeverLeavesAnAccountUnreachable(t *testing.T) {
	ctx := context.Background()
	dir := fake.New(usersN(8, "Staff")...)
	sink := dirsynctest.NewMemorySink()
	sy := newSyncer(t, dir, sink, nil)
	syncOnce(t, sy)
	before, ok := sink.Get("ad", "u000")
	require.True(t, ok)

	// u000 loses everything the mapping reads (attributes renamed by a
	// directory migration, say); u001 too, and is disabled; u002 loses
	// only its mailbox and keeps its sign-in name: that update is fine.
	for _, id := range []string{"u000", "u001"} {
		for _, attr := range []string{"sAMAccountName", "mail", "givenName", "sn"} {
			require.NoError(t, dir.Set(id, attr))
		}
		require.NoError(t, dir.Set(id, "email", id+"@example.test"))
		require.NoError(t, dir.Set(id, "title", "Engineer"))
	}
	require.NoError(t, dir.Disable("u001"))
	require.NoError(t, dir.Set("u002", "mail"))

	for _, full := range []bool{false, true} {
		t.Run(fmt.Sprintf("full=%v", full), func(t *testing.T) {
			sy := sy
			if full {
				sy = newSyncer(t, dir, sink, &dirsync.Options{AlwaysFull: true})
			}
			p, err := sy.Plan(ctx)
			require.NoError(t, err)
			require.Equal(t, !full, p.Incremental)

			c := changeFor(t, p, "ad/u000")
			assert.Equal(t, diff.OpSkip, c.Op, "%s", p)
			assert.True(t, c.HasReason(diff.ReasonInvalid), "%s", p)
			assert.Empty(t, c.Fields, "%s", p)

			c = changeFor(t, p, "ad/u001")
			assert.Equal(t, diff.OpBlock, c.Op, "a disabled person is blocked whatever the mapping gives:\n%s", p)
			assert.True(t, c.HasReason(diff.ReasonInvalid), "%s", p)
			assert.Equal(t, []diff.FieldChange{{Name: diff.FieldBlocked, Old: "false", New: "true"}}, c.Fields)
			assert.Equal(t, "user001@example.test", c.After.Email)

			c = changeFor(t, p, "ad/u002")
			assert.Equal(t, diff.OpUpdate, c.Op, "%s", p)
			assert.False(t, c.HasReason(diff.ReasonInvalid), "%s", p)
		})
	}
	p, _ := syncOnce(t, sy)
	assert.Equal(t, 1, p.Count(diff.OpBlock))
	after, _ := sink.Get("ad", "u000")
	assert.Equal(t, before, after, "the account kept its fields")
	blocked, _ := sink.Get("ad", "u001")
	assert.True(t, blocked.Blocked)
	assert.Equal(t, "user001", blocked.Username)
	assert.Equal(t, "User001 Example", blocked.DisplayName)
	mailless, _ := sink.Get("ad", "u002")
	assert.Empty(t, mailless.Email)
	assert.Equal(t, "user002", mailless.Username)
}

// A mapping that owns only some fields (here the title) updates those on
// accounts that have the rest; it cannot create anyone (it gives no email
// or username), and it is not told its users "map to nothing".
func TestMappingOwningSomeFieldsUpdatesButDoesNotCreate(t *testing.T) {
	ctx := context.Background()
	m, err := mapping.New(mapping.NewBuilder().From(diff.FieldTitle, "title").Spec())
	require.NoError(t, err)
	var entries []connector.Entry
	var seeded []diff.Account
	for i := range 8 {
		e := user(fmt.Sprintf("u%d", i), fmt.Sprintf("user%d", i), "Staff")
		e.Attrs.Set("title", "Engineer")
		entries = append(entries, e)
		seeded = append(seeded, diff.Account{Source: "ad", ExternalID: e.ID, Managed: true,
			Email: e.Attr("mail"), DisplayName: "Seeded " + e.ID, Title: "Intern"})
	}
	dir := fake.New(append(entries, user("new", "newcomer", "Staff"))...)
	sink := dirsynctest.NewMemorySink(seeded...)
	sy := newSyncer(t, dir, sink, &dirsync.Options{Mapper: m})
	p, err := sy.Plan(ctx)
	require.NoError(t, err)
	assert.Equal(t, 8, p.Count(diff.OpUpdate), "%s", p)
	assert.Zero(t, p.Count(diff.OpCreate), "%s", p)
	c := changeFor(t, p, "ad/new")
	assert.Equal(t, diff.OpSkip, c.Op)
	assert.True(t, c.HasReason(diff.ReasonInvalid), "%s", p)
	assert.NotContains(t, p.Summary(), "map to", "the mapping does not claim to fill emails or names")
	_, err = sy.Apply(ctx, p)
	require.NoError(t, err)
	a, _ := sink.Get("ad", "u3")
	assert.Equal(t, "Engineer", a.Title)
	assert.Equal(t, "Seeded u3", a.DisplayName)
}

// Most users of a read map to nothing: the plan says so once, in its
// summary, and renders byte-identically whatever order the directory
// returns them in.
func TestMostUsersUnmappedSaysSoOnce(t *testing.T) {
	ctx := context.Background()
	const bad, good = 12, 3
	entries := append(notADN(bad), usersN(good, "Staff")...)
	var texts []string
	var jsons [][]byte
	for seed := range int64(3) {
		dir := fake.New(entries...)
		if seed > 0 {
			dir.Shuffle(seed)
		}
		sy, err := dirsync.New(dir, dirsynctest.NewMemorySink(), &dirsync.Options{Clock: fixedClock(clock)})
		require.NoError(t, err)
		p, err := sy.Plan(ctx)
		require.NoError(t, err)
		assert.Equal(t, good, p.Count(diff.OpCreate))
		want := fmt.Sprintf("%d of %d directory users", bad, bad+good)
		assert.Contains(t, p.Summary(), want)
		text, b := renderPlan(t, p)
		assert.Equal(t, 1, strings.Count(text, want), "said once:\n%s", text)
		assert.Equal(t, 1, strings.Count(string(b), want), "said once: %s", b)
		assert.Contains(t, text, "Active Directory", "names the default mapping")
		texts, jsons = append(texts, text), append(jsons, b)
	}
	for i := 1; i < len(texts); i++ {
		assert.Equal(t, texts[0], texts[i], "read order changed the text")
		assert.Equal(t, string(jsons[0]), string(jsons[i]), "read order changed the JSON")
	}

	// Not most, or not a handful: no warning.
	for _, n := range [][2]int{{4, 1}, {5, 5}, {0, 10}} {
		dir := fake.New(append(notADN(n[0]), usersN(n[1], "Staff")...)...)
		sy, err := dirsync.New(dir, dirsynctest.NewMemorySink(), nil)
		require.NoError(t, err)
		p, err := sy.Plan(ctx)
		require.NoError(t, err)
		assert.NotContains(t, p.Summary(), "directory users", "%d of %d", n[0], n[0]+n[1])
	}
}

// Blank accounts that an earlier version created from such a read are in
// step with their blank entries; the plan still says that the users map to
// nothing.
func TestBlankAccountsInStepStillWarn(t *testing.T) {
	ctx := context.Background()
	entries := notADN(10)
	var blank []diff.Account
	for _, e := range entries {
		blank = append(blank, diff.Account{Source: "directory", ExternalID: e.ID, Managed: true, Department: []string{"Staff"}})
	}
	sy, err := dirsync.New(fake.New(entries...), dirsynctest.NewMemorySink(blank...), nil)
	require.NoError(t, err)
	p, err := sy.Plan(ctx)
	require.NoError(t, err)
	for _, op := range []diff.Op{diff.OpCreate, diff.OpUpdate, diff.OpBlock} {
		assert.Zero(t, p.Count(op), "%s", p)
	}
	assert.Contains(t, p.Summary(), "10 of 10 directory users", "%s", p)
}
