package signin_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dirsync-go/dirsync/connector"
	"github.com/dirsync-go/dirsync/connector/google"
	"github.com/dirsync-go/dirsync/dirsynctest"
	"github.com/dirsync-go/dirsync/internal/fakegoogle"
	"github.com/dirsync-go/dirsync/signin"
)

const googleAdmin = "admin@northwind.example"

// newGoogleDirectory starts a fake Directory API holding the token's user
// (sub) and opens connector/google on it with a service-account key.
func newGoogleDirectory(t *testing.T, user fakegoogle.User) (*fakegoogle.Server, *google.Connector, string) {
	t.Helper()
	fk := fakegoogle.New(googleAdmin)
	t.Cleanup(fk.Close)
	fk.AddUser(user)
	keyJSON := string(fk.ServiceAccountJSON(fakegoogle.NewKey()))
	c, err := google.Open(t.Context(), google.Config{ServiceAccountJSON: keyJSON, Subject: googleAdmin,
		Endpoint: fk.URL, RetryDelay: time.Millisecond})
	require.NoError(t, err)
	return fk, c, keyJSON
}

// Sign-in asks connector/google (a connector.StatusChecker) about the
// token's sub: a person suspended, archived or deleted in Google
// Workspace is refused; an active one joins.
func TestGoogleDirectoryStatus(t *testing.T) {
	const sub = "110169484474386276334"
	tests := []struct {
		name string
		user fakegoogle.User
		code string
	}{
		{"active", fakegoogle.User{ID: sub, PrimaryEmail: "ann.lee@northwind.example"}, signin.ReasonFirstSignIn},
		{"suspended", fakegoogle.User{ID: sub, PrimaryEmail: "ann.lee@northwind.example", Suspended: true}, signin.ReasonSuspended},
		{"archived", fakegoogle.User{ID: sub, PrimaryEmail: "ann.lee@northwind.example", Archived: true}, signin.ReasonSuspended},
		{"deleted", fakegoogle.User{ID: "someone-else", PrimaryEmail: "bob@northwind.example"}, signin.ReasonDeleted},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, dir, _ := newGoogleDirectory(t, tt.user)
			p := newIDP(t)
			sink := dirsynctest.NewMemorySink()
			a := newAuth(t, p, sink, func(c *signin.Config) { c.Directory = dir })
			d, err := a.SignIn(t.Context(), p.sign(t, validClaims()), "")
			if tt.code == signin.ReasonFirstSignIn {
				require.NoError(t, err)
				assert.Equal(t, tt.code, d.Reason.Code)
				return
			}
			var re *signin.RefusedError
			require.ErrorAs(t, err, &re)
			assert.Equal(t, tt.code, re.Reason.Code)
			assert.Contains(t, re.Reason.Detail, "Google Workspace")
		})
	}
}

// A directory that cannot answer (here: domain-wide delegation no longer
// grants the user scope) fails the sign-in with an error wrapping
// connector.ErrAuth: "try again", not a refusal, and never "this person
// does not exist".
func TestGoogleDirectoryUnavailable(t *testing.T) {
	fk, dir, _ := newGoogleDirectory(t, fakegoogle.User{ID: "110169484474386276334", PrimaryEmail: "ann.lee@northwind.example"})
	fk.SetDelegatedScopes(google.ScopeGroup, google.ScopeGroupMember, google.ScopeOrgUnit)
	p := newIDP(t)
	sink := dirsynctest.NewMemorySink()
	a := newAuth(t, p, sink, func(c *signin.Config) { c.Directory = dir })
	d, err := a.SignIn(t.Context(), p.sign(t, validClaims()), "")
	assert.Nil(t, d)
	require.ErrorIs(t, err, connector.ErrAuth)
	assert.NotErrorIs(t, err, signin.ErrRefused)
	assert.Empty(t, sink.Snapshot())
}
