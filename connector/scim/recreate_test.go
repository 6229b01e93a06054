package scim_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dirsync-go/dirsync/connector/scim"
	"github.com/dirsync-go/dirsync/diff"
	"github.com/dirsync-go/dirsync/policy"
)

// A user the provider deleted and then creates again is never invited
// twice: with the same externalId (the same person: Entra's object id,
// Okta's user id) the resource takes its old id and the app account is
// unblocked; with another externalId (someone else who got the userName)
// nothing of the old account is handed over, and the plan says why.
func TestRecreatedUserIsNotInvitedTwice(t *testing.T) {
	for _, sameExternalID := range []bool{true, false} {
		t.Run(map[bool]string{true: "same externalId", false: "other externalId"}[sameExternalID], func(t *testing.T) {
			e := newEnv(t, scim.Config{}, policy.Config{})
			p := person{userName: "re@x", email: "re@x", given: "Re", family: "Created", externalID: "obj-1"}
			first := entraCreateUser(t, e.c, p)
			for _, n := range []string{"a", "b", "c", "d", "e"} {
				entraCreateUser(t, e.c, person{userName: n + "@x", email: n + "@x", given: n, externalID: n})
			}
			e.sync(t)
			e.c.do(http.MethodDelete, "/Users/"+first, nil).mustStatus(t, http.StatusNoContent)
			gone := change(t, e.sync(t), first)
			assert.True(t, gone.HasReason(diff.ReasonDeleted))
			if !sameExternalID {
				p.externalID = "obj-2"
			}
			second := entraCreateUser(t, e.c, p)
			plan := e.sync(t)
			n := 0
			for _, a := range e.sink.Snapshot() {
				if a.Email == "re@x" {
					n++
				}
			}
			assert.Equal(t, 1, n, "one account for the address")
			c := change(t, plan, second)
			if sameExternalID {
				assert.Equal(t, first, second, "the resource takes its old id")
				assert.Equal(t, diff.OpUnblock, c.Op, "%s", plan)
				assert.True(t, c.HasReason(diff.ReasonRestored), c.Status())
				require.NoError(t, appMatches(context.Background(), e.srv, e.sink))
			} else {
				assert.NotEqual(t, first, second)
				assert.Equal(t, diff.OpSkip, c.Op, "%s", plan)
				assert.True(t, c.HasReason(diff.ReasonDuplicateEmail), c.Status())
				a, _ := e.sink.Get(source, first)
				assert.True(t, a.Blocked, "the old account stays blocked")
			}
			// The provider reads back the new resource either way.
			assert.Equal(t, p.externalID, e.c.do(http.MethodGet, "/Users/"+second, nil).mustStatus(t, http.StatusOK).body["externalId"])
		})
	}
}

// The tombstone's externalId survives a restart of the journal.
func TestRecreatedAfterRestart(t *testing.T) {
	ctx := context.Background()
	path := t.TempDir() + "/acme.scim"
	st, err := scim.OpenJournal(path)
	require.NoError(t, err)
	srv, err := scim.Open(ctx, scim.Config{Resources: st})
	require.NoError(t, err)
	tok, err := srv.RotateToken(ctx)
	require.NoError(t, err)
	c := newClient(t, srv, tok)
	p := person{userName: "r@x", email: "r@x", externalID: "okta-00u1"}
	id := oktaCreateUser(t, c, p)
	c.do(http.MethodDelete, "/Users/"+id, nil).mustStatus(t, http.StatusNoContent)
	require.NoError(t, st.Close())
	st2, err := scim.OpenJournal(path)
	require.NoError(t, err)
	defer st2.Close()
	srv2, err := scim.Open(ctx, scim.Config{Resources: st2})
	require.NoError(t, err)
	c2 := newClient(t, srv2, tok)
	assert.Equal(t, id, oktaCreateUser(t, c2, p))
	c2.do(http.MethodGet, "/Users/"+id, nil).mustStatus(t, http.StatusOK)
}
