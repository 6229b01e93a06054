package dirsync_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dirsync-go/dirsync"
	"github.com/dirsync-go/dirsync/connector"
	"github.com/dirsync-go/dirsync/connector/fake"
	"github.com/dirsync-go/dirsync/diff"
	"github.com/dirsync-go/dirsync/dirsynctest"
	"github.com/dirsync-go/dirsync/mapping"
	"github.com/dirsync-go/dirsync/policy"
)

// specWith returns the AD spec with rules put first, so that they win over
// the defaults for their targets.
func specWith(t *testing.T, rules ...mapping.Rule) mapping.Mapper {
	t.Helper()
	spec := mapping.ADSpec()
	spec.Rules = append(rules, spec.Rules...)
	m, err := mapping.New(spec)
	require.NoError(t, err)
	return m
}

func employee(id, sam, employeeID string) connector.Entry {
	e := user(id, sam, "Staff users")
	e.Attrs.Set("employeeID", employeeID)
	return e
}

func keysOf(p *dirsync.Plan, op diff.Op) []string {
	var out []string
	for _, c := range p.Changes {
		if c.Op == op {
			out = append(out, c.Key)
		}
	}
	return out
}

// Item 5: with the external ID taken from employeeID, an incremental run
// finds the accounts a full run made: a change updates, a disable blocks,
// and a deletion (a tombstone has no employeeID) reads the directory in
// full instead of losing the change.
func TestIncrementalJoinsByMappedExternalID(t *testing.T) {
	for name, wrap := range map[string]func(*dirsynctest.MemorySink) dirsync.Sink{
		"account lookup": func(s *dirsynctest.MemorySink) dirsync.Sink { return s },
		"full listing":   func(s *dirsynctest.MemorySink) dirsync.Sink { return listOnly{s} },
	} {
		t.Run(name, func(t *testing.T) {
			dir := fake.New(employee("g1", "alice", "E-1"), employee("g2", "bob", "E-2"),
				employee("g3", "carol", "E-3"), employee("g4", "dave", "E-4"))
			sink := dirsynctest.NewMemorySink()
			sy := newSyncer(t, dir, wrap(sink), &dirsync.Options{
				Mapper: specWith(t, mapping.Rule{Target: mapping.TargetExternalID, From: []string{"employeeID"}})})
			p, _ := syncOnce(t, sy)
			require.ElementsMatch(t, []string{"ad/E-1", "ad/E-2", "ad/E-3", "ad/E-4"}, keysOf(p, diff.OpCreate))

			require.NoError(t, dir.Set("g2", "title", "CFO"))
			p, _ = syncOnce(t, sy)
			assert.True(t, p.Incremental)
			assert.Equal(t, []string{"ad/E-2"}, keysOf(p, diff.OpUpdate), p.String())
			assert.Equal(t, 1, p.Actionable(), p.String())

			require.NoError(t, dir.Disable("g3"))
			p, _ = syncOnce(t, sy)
			assert.True(t, p.Incremental)
			assert.Equal(t, []string{"ad/E-3"}, keysOf(p, diff.OpBlock), p.String())
			assert.Equal(t, 1, p.Actionable(), p.String())

			require.NoError(t, dir.Delete("g4"))
			p, _ = syncOnce(t, sy)
			assert.False(t, p.Incremental, "a tombstone cannot name an employeeID: read everything")
			assert.Equal(t, []string{"ad/E-4"}, keysOf(p, diff.OpBlock), p.String())
			assert.Equal(t, 1, p.Actionable(), p.String())

			p, err := sy.Plan(context.Background())
			require.NoError(t, err)
			assert.True(t, p.Incremental, "and incremental again afterwards")
			assert.True(t, p.Empty(), p.String())
			assert.Len(t, sink.Snapshot(), 4, "nothing created twice")
			for _, a := range sink.Snapshot() {
				assert.Equal(t, a.ExternalID == "E-3" || a.ExternalID == "E-4", a.Blocked, a.ExternalID)
			}
		})
	}
}

// Item 9: an incremental run looks accounts up by the mapped email,
// whatever produces it, so a newcomer is adopted, not invited twice; and
// an update onto an email an untouched account holds is a conflict.
func TestIncrementalLooksUpMappedEmail(t *testing.T) {
	mapper := specWith(t, mapping.Rule{Target: diff.FieldEmail, Template: "{givenName}.{sn}@corp.test"})
	dir := fake.New(user("1", "alice", "Staff users"), user("2", "bob", "Staff users"))
	// Signed up by hand, spelt differently: "Newcomer.Example@corp.test".
	sink := dirsynctest.NewMemorySink(diff.Account{Email: " NEWCOMER.example@Corp.test", DisplayName: "Newcomer (signed up)"})
	sy := newSyncer(t, dir, sink, &dirsync.Options{Mapper: mapper})
	p, _ := syncOnce(t, sy)
	require.Equal(t, 2, p.Count(diff.OpCreate), p.String())

	require.NoError(t, dir.Add(user("3", "newcomer", "Staff users")))
	p, _ = syncOnce(t, sy)
	assert.True(t, p.Incremental)
	require.Equal(t, 1, p.Actionable(), p.String())
	assert.True(t, p.Changes[0].HasReason(diff.ReasonAdopted), p.String())
	assert.Len(t, sink.Snapshot(), 3, "adopted, not invited twice")

	// Alice's mapped email becomes Bob's; Bob did not change.
	require.NoError(t, dir.Set("1", "givenName", "Bob"))
	require.NoError(t, dir.Set("1", "title", "Engineer"))
	p, _ = syncOnce(t, sy)
	assert.True(t, p.Incremental)
	require.Equal(t, []string{"ad/1"}, keysOf(p, diff.OpUpdate), p.String())
	c := p.Changes[0]
	assert.True(t, c.HasReason(diff.ReasonDuplicateEmail), c.Status())
	for _, f := range c.Fields {
		assert.NotEqual(t, diff.FieldEmail, f.Name, "the email is not moved onto Bob's")
	}
	alice, _ := sink.Get("ad", "1")
	assert.Equal(t, "alice.example@corp.test", diff.NormalizeEmail(alice.Email))
	assert.Equal(t, "Engineer", alice.Title, "the other fields are applied")
}

// Item 25: a person moved out of the synced OUs and back is unblocked with
// a scope reason, through a sink that keeps the block's reason.
func TestMovedBackIntoScopeIsUnblockedWithScopeReason(t *testing.T) {
	pol, err := policy.New(policy.Config{Scope: policy.ScopeConfig{
		Rules: []policy.ScopeRule{{Action: "include", OUEndsWithUsers: true}}, Default: "exclude"}})
	require.NoError(t, err)
	dir := fake.New(user("1", "alice", "Sales users"), user("2", "bob", "Sales users"))
	sink := dirsynctest.NewMemorySink()
	sy := newSyncer(t, dir, sink, &dirsync.Options{Policy: pol})
	syncOnce(t, sy)

	require.NoError(t, dir.Move("1", "Contractors"))
	p, _ := syncOnce(t, sy)
	require.Equal(t, []string{"ad/1"}, keysOf(p, diff.OpBlock), p.String())
	assert.True(t, p.Changes[0].HasReason(diff.ReasonScopeLeft))

	require.NoError(t, dir.Move("1", "Sales users"))
	p, _ = syncOnce(t, sy)
	require.Equal(t, []string{"ad/1"}, keysOf(p, diff.OpUnblock), p.String())
	c := p.Changes[0]
	assert.True(t, c.HasReason(diff.ReasonScopeReturned), c.Status())
	assert.False(t, c.HasReason(diff.ReasonEnabled), "the account was never disabled: %s", c.Status())
	assert.Contains(t, c.Status(), "Back in the sync scope")

	require.NoError(t, dir.Disable("2"))
	syncOnce(t, sy)
	require.NoError(t, dir.Enable("2"))
	p, _ = syncOnce(t, sy)
	require.Equal(t, []string{"ad/2"}, keysOf(p, diff.OpUnblock), p.String())
	assert.True(t, p.Changes[0].HasReason(diff.ReasonEnabled), p.Changes[0].Status())
}

// Item 6: two entries with one employeeID are a conflict; once a read has
// seen it, later runs, incremental ones included, never give the account
// to whichever entry changed last.
func TestJoinConflictDoesNotFlip(t *testing.T) {
	dir := fake.New(employee("g1", "alice", "E-1"), employee("g2", "bob", "E-2"))
	sink := dirsynctest.NewMemorySink()
	now := clock
	sy := newSyncer(t, dir, sink, &dirsync.Options{Clock: clockFunc(func() time.Time { return now }),
		Mapper: specWith(t, mapping.Rule{Target: mapping.TargetExternalID, From: []string{"employeeID"}})})
	syncOnce(t, sy)
	before, ok := sink.Get("ad", "E-1")
	require.True(t, ok)

	// Bob's record is edited by mistake to Alice's employee ID; the next
	// full read sees both.
	require.NoError(t, dir.Set("g2", "employeeID", "E-1"))
	now = now.Add(25 * time.Hour)
	for round, change := range []func() error{
		func() error { return nil },
		func() error { return dir.Set("g2", "title", "Bob's new title") },
		func() error { return dir.Set("g1", "title", "Alice's new title") },
		func() error { return dir.Set("g2", "sn", "Renamed") },
		func() error { return dir.Disable("g2") },
	} {
		require.NoError(t, change())
		p, _ := syncOnce(t, sy)
		n := 0
		for _, c := range p.Changes {
			if c.HasReason(diff.ReasonJoinConflict) {
				n++
			}
			if c.Op.Actionable() && c.Account().ExternalID == "E-1" {
				t.Fatalf("round %d: %s %s while two entries claim E-1:\n%s", round, c.Op, c.Key, p)
			}
		}
		assert.Equal(t, 2, n, "round %d: both entries listed with the conflict:\n%s", round, p)
		got, _ := sink.Get("ad", "E-1")
		assert.Equal(t, before, got, "round %d: the account is left as it is", round)
	}
	assert.Len(t, sink.Snapshot(), 2, "nothing created")
}
