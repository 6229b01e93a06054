package dirsync_test

// Exceptions compare emails as the rest of the engine does
// (diff.NormalizeEmail): an exception typed in the other Unicode
// normalisation form, another case or with spaces around it protects the
// person in the full plan, the incremental plan and at Apply.

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dirsync-go/dirsync"
	"github.com/dirsync-go/dirsync/connector"
	"github.com/dirsync-go/dirsync/connector/fake"
	"github.com/dirsync-go/dirsync/diff"
	"github.com/dirsync-go/dirsync/dirsynctest"
	"github.com/dirsync-go/dirsync/policy"
)

const (
	joseNFC = "jos\u00e9@example.test"  // é precomposed, as the directory holds it
	joseNFD = "jose\u0301@example.test" // e and a combining acute, as typed on another system
)

// jose is a directory user whose email, in NFC, is joseNFC.
func jose(id string) connector.Entry {
	e := user(id, "jose", "Users")
	e.Attrs.Set("mail", joseNFC)
	e.Attrs.Set("givenName", "Jos\u00e9")
	return e
}

// changeFor returns the change of the plan under the join key.
func changeFor(t *testing.T, p *dirsync.Plan, key string) diff.Change {
	t.Helper()
	for _, c := range p.Changes {
		if c.Key == key {
			return c
		}
	}
	t.Fatalf("no change for %s in\n%s", key, p)
	return diff.Change{}
}

func TestExceptionEmailInAnotherNormalFormProtects(t *testing.T) {
	ctx := context.Background()
	spellings := map[string]string{
		"NFD":                  joseNFD,
		"NFD, upper case":      "  JOSE\u0301@Example.TEST ",
		"NFC, spaces and case": " Jos\u00e9@EXAMPLE.test\t",
	}
	for name, email := range spellings {
		t.Run(name, func(t *testing.T) {
			t.Run("stored exception: never invited", func(t *testing.T) {
				dir := fake.New(jose("j1"), user("2", "bob", "Users"))
				sink := dirsynctest.NewMemorySink()
				sy := newSyncer(t, dir, sink, nil)
				require.NoError(t, sy.AddException(ctx, policy.Exception{Email: email, Note: "CEO"}))
				p, _ := syncOnce(t, sy)
				c := changeFor(t, p, "ad/j1")
				assert.Equal(t, diff.OpSkip, c.Op, "%s", p)
				assert.True(t, c.HasReason(diff.ReasonException), "%s", p)
				_, invited := sink.Get("ad", "j1")
				assert.False(t, invited, "the excepted person was invited")
				assert.Equal(t, 1, p.Count(diff.OpCreate), "bob is still invited:\n%s", p)
			})

			t.Run("policy exception: never blocked, full and incremental", func(t *testing.T) {
				dir := fake.New(append(usersN(8, "Users"), jose("j1"))...)
				sink := dirsynctest.NewMemorySink()
				syncOnce(t, newSyncer(t, dir, sink, nil)) // jose is managed now
				pol, err := policy.New(policy.Config{Exceptions: []policy.Exception{{Email: email}}})
				require.NoError(t, err)
				sy := newSyncer(t, dir, sink, &dirsync.Options{Policy: pol})
				syncOnce(t, sy) // a full read under this policy
				require.NoError(t, dir.Disable("j1"))
				require.NoError(t, dir.Disable("u000"))
				p, r := syncOnce(t, sy) // incremental
				assert.True(t, p.Incremental)
				c := changeFor(t, p, "ad/j1")
				assert.Equal(t, diff.OpSkip, c.Op, "%s", p)
				assert.True(t, c.HasReason(diff.ReasonException), "%s", p)
				assert.Equal(t, 1, r.Count(dirsync.StatusApplied), "user000 is blocked")
				a, ok := sink.Get("ad", "j1")
				require.True(t, ok)
				assert.False(t, a.Blocked, "the excepted person was blocked")
				assert.Equal(t, 1, sink.Sessions(a.ID), "the excepted person's sessions were ended")
			})

			t.Run("exception added after the plan: skipped at Apply", func(t *testing.T) {
				dir := fake.New(jose("j1"), user("2", "bob", "Users"))
				sink := dirsynctest.NewMemorySink()
				sy := newSyncer(t, dir, sink, nil)
				syncOnce(t, sy)
				require.NoError(t, dir.Disable("j1"))
				p, err := sy.Plan(ctx)
				require.NoError(t, err)
				require.Equal(t, diff.OpBlock, changeFor(t, p, "ad/j1").Op, "%s", p)
				require.NoError(t, sy.AddException(ctx, policy.Exception{Email: email}))
				r, err := sy.Apply(ctx, p)
				require.NoError(t, err)
				require.Len(t, r.Results, 1)
				assert.Equal(t, dirsync.StatusSkipped, r.Results[0].Status)
				assert.Equal(t, dirsync.ReasonExceptionAtApply, r.Results[0].Reason.Code)
				a, _ := sink.Get("ad", "j1")
				assert.False(t, a.Blocked, "the excepted person was blocked at Apply")

				// And the next plan lists the person as an exception.
				p, err = sy.Plan(ctx)
				require.NoError(t, err)
				c := changeFor(t, p, "ad/j1")
				assert.True(t, c.HasReason(diff.ReasonException), "%s", p)
			})
		})
	}
}

// A pattern sees each name in Unicode NFC and the email as
// diff.NormalizeEmail gives it, whatever form the pattern or the directory
// uses.
func TestExceptionPatternInAnotherNormalFormProtects(t *testing.T) {
	for name, pattern := range map[string]string{
		"NFD pattern over an NFC email": "^jose\u0301@",
		"NFD pattern over an NFC name":  "^Jose\u0301 Example$",
		"NFC pattern over an NFD email": "(?-i)^jos\u00e9@example\\.test$",
	} {
		t.Run(name, func(t *testing.T) {
			dir := fake.New(jose("j1"), user("2", "bob", "Users"))
			if name == "NFC pattern over an NFD email" {
				require.NoError(t, dir.Set("j1", "mail", "JOSE\u0301@Example.test"))
			}
			sink := dirsynctest.NewMemorySink()
			sy := newSyncer(t, dir, sink, nil)
			require.NoError(t, sy.AddException(context.Background(), policy.Exception{Pattern: pattern}))
			p, _ := syncOnce(t, sy)
			c := changeFor(t, p, "ad/j1")
			assert.Equal(t, diff.OpSkip, c.Op, "%s", p)
			assert.True(t, c.HasReason(diff.ReasonException), "%s", p)
			_, invited := sink.Get("ad", "j1")
			assert.False(t, invited)
		})
	}
}
