package entra

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dirsync-go/dirsync/connector"
	"github.com/dirsync-go/dirsync/internal/fakegraph"
)

// TestFullReadPageBound: with Graph's page caps enforced by the fake
// (999 a page, 100 once $expand is used), a full read of N users with
// managers takes ceil(N/999) user page requests, and every manager is
// resolved. A read through /users?$expand=manager would take ceil(N/100).
func TestFullReadPageBound(t *testing.T) {
	for _, n := range []int{1, 999, 1000, 2500} {
		s := fakegraph.New()
		ids := s.AddUsers(n)
		for i, id := range ids {
			if i > 0 {
				s.SetManager(id, ids[(i-1)/2]) // a tree of managers
			}
		}
		s.AddGroup("Everyone", ids...)
		c, err := open(Config{Credential: staticCred{token: fakegraph.Token}, GraphBaseURL: s.BaseURL()}, s.Client().Transport)
		require.NoError(t, err)

		bound := (n + 998) / 999
		entries, err := connector.ReadAll(testCtx(t), c)
		require.NoError(t, err)
		require.Len(t, entries, n+1)
		userPages := s.RequestsTo("users") + s.RequestsTo("users/delta")
		assert.LessOrEqual(t, userPages, bound, "%d users", n)
		m := byID(entries)
		for i, id := range ids {
			if i > 0 {
				assert.Equal(t, ids[(i-1)/2], m[id].Attr("manager"), "manager of user %d", i)
			} else {
				assert.Empty(t, m[id].Attr("manager"))
			}
		}
		assert.Len(t, m[ids[0]].MemberOf, 1)

		// The first incremental read (nil cursor) reads users once too: the
		// delta round that lists them also yields the delta link.
		s.ResetCounts()
		_, _, err = readChanges(t, c, nil)
		require.NoError(t, err)
		assert.LessOrEqual(t, s.RequestsTo("users")+s.RequestsTo("users/delta"), bound, "%d users, nil cursor", n)
		s.Close()
	}
}
