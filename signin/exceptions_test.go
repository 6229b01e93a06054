package signin_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/text/unicode/norm"

	"github.com/dirsync-go/dirsync"
	"github.com/dirsync-go/dirsync/diff"
	"github.com/dirsync-go/dirsync/dirsynctest"
	"github.com/dirsync-go/dirsync/policy"
	"github.com/dirsync-go/dirsync/signin"
)

// The Syncer of a directory sync supplies its persisted exceptions as is.
var _ signin.ExceptionLister = (*dirsync.Syncer)(nil)

// persisted is an ExceptionLister over a slice, as a host's store (the
// Syncer's Exceptions) would be.
type persisted struct {
	list []policy.Exception
	err  error
}

func (p persisted) Exceptions(context.Context) ([]policy.Exception, error) { return p.list, p.err }

func withPolicy(t *testing.T, xs ...policy.Exception) func(*signin.Config) {
	return func(c *signin.Config) {
		p, err := policy.New(policy.Config{Exceptions: xs})
		require.NoError(t, err)
		c.Policy = p
	}
}

func withPersisted(xs ...policy.Exception) func(*signin.Config) {
	return func(c *signin.Config) { c.Exceptions = persisted{list: xs} }
}

// TestExceptedEmailIsNeitherCreatedNorAdopted: whatever way an exception
// names the person (email in any case, spacing or Unicode form, ID,
// pattern on the token's or on the app account's name; in the policy or
// persisted by the host), sign-in neither creates an account nor adopts
// the unmanaged app account with the same email, and changes nothing.
func TestExceptedEmailIsNeitherCreatedNorAdopted(t *testing.T) {
	const email = "josé.lee@northwind.example" // NFC
	nfd := norm.NFD.String(email)
	require.NotEqual(t, email, nfd)
	invited := diff.Account{Email: "José.Lee@northwind.example", DisplayName: "José (break-glass)", Username: "jlee"}

	exceptions := map[string]policy.Exception{
		"email as in the token":   {Email: email},
		"email in upper case":     {Email: strings.ToUpper(email)},
		"email with spaces":       {Email: "  " + email + "\t"},
		"email in NFD":            {Email: nfd},
		"ID (the token's sub)":    {ID: "110169484474386276334"},
		"pattern on the app name": {Pattern: "break-glass"},
		"pattern on the username": {Pattern: "^jlee$"},
	}
	for name, x := range exceptions {
		for where, mod := range map[string]func(*signin.Config){
			"policy":    withPolicy(t, x),
			"persisted": withPersisted(x),
		} {
			for _, sinkCase := range []struct {
				name string
				sink []diff.Account
			}{{"unmanaged account with the email", []diff.Account{invited}}, {"no account", nil}} {
				if strings.HasPrefix(name, "pattern") && sinkCase.sink == nil {
					continue // those patterns name the app account only
				}
				t.Run(name+"/"+where+"/"+sinkCase.name, func(t *testing.T) {
					p := newIDP(t)
					sink := dirsynctest.NewMemorySink(sinkCase.sink...)
					before := sink.Snapshot()
					a := newAuth(t, p, sink, mod)
					c := validClaims()
					c.Email, c.Name, c.GivenName = email, "José Lee", "José"
					d, err := a.SignIn(context.Background(), p.sign(t, c), "")
					require.Error(t, err)
					assert.Nil(t, d)
					var re *signin.RefusedError
					require.ErrorAs(t, err, &re)
					assert.Equal(t, signin.ReasonException, re.Reason.Code, err.Error())
					assert.Equal(t, before, sink.Snapshot(), "nothing created or adopted")
				})
			}
		}
	}
}

// An exception that names someone else leaves adoption alone; the
// unmanaged account is found although its email differs in case, spacing
// and Unicode form.
func TestAdoptionComparesNormalisedEmails(t *testing.T) {
	p := newIDP(t)
	c := validClaims()
	c.Email = "josé.lee@northwind.example"
	sink := dirsynctest.NewMemorySink(diff.Account{Email: " " + norm.NFD.String("JOSÉ.Lee@Northwind.example") + " "})
	a := newAuth(t, p, sink, withPersisted(policy.Exception{Email: "someone.else@northwind.example"}))
	d, err := a.SignIn(context.Background(), p.sign(t, c), "")
	require.NoError(t, err)
	require.NotNil(t, d.Change)
	assert.Equal(t, diff.OpUpdate, d.Change.Op)
	assert.Equal(t, diff.ReasonAdopted, d.Reason.Code)
}

// An AccountFinder that returns an unmanaged account with another email
// (a host bug, or a finder matching loosely) never gets it adopted.
func TestNoAdoptionOfAnotherEmail(t *testing.T) {
	p := newIDP(t)
	other := diff.Account{Email: "ann.lee@northwind.example.evil", DisplayName: "Someone else"}
	a := newAuth(t, p, dirsynctest.NewMemorySink(), func(c *signin.Config) {
		c.Accounts = signin.AccountFinderFunc(func(context.Context, string, string, string) (*diff.Account, error) {
			o := other
			return &o, nil
		})
	})
	d, err := a.SignIn(context.Background(), p.sign(t, validClaims()), "")
	require.Error(t, err)
	assert.Nil(t, d)
}

// The finder is asked with the normalised email.
func TestFinderGetsNormalisedEmail(t *testing.T) {
	p := newIDP(t)
	var got string
	a := newAuth(t, p, dirsynctest.NewMemorySink(), func(c *signin.Config) {
		c.Accounts = signin.AccountFinderFunc(func(_ context.Context, _, _, email string) (*diff.Account, error) {
			got = email
			return nil, nil
		})
	})
	c := validClaims()
	c.Email = norm.NFD.String("José.Lee@Northwind.example")
	_, err := a.SignIn(context.Background(), p.sign(t, c), "")
	require.NoError(t, err)
	assert.Equal(t, "josé.lee@northwind.example", got)
	assert.True(t, norm.NFC.IsNormalString(got))
}

// Persisted exceptions that cannot be read stop the sign-in (fail closed).
func TestPersistedExceptionsUnreadable(t *testing.T) {
	p := newIDP(t)
	boom := errors.New("store down")
	sink := dirsynctest.NewMemorySink()
	a := newAuth(t, p, sink, func(c *signin.Config) { c.Exceptions = persisted{err: boom} })
	d, err := a.SignIn(context.Background(), p.sign(t, validClaims()), "")
	require.ErrorIs(t, err, boom)
	assert.NotErrorIs(t, err, signin.ErrRefused, "a failure to decide, not a refusal")
	assert.Nil(t, d)
	assert.Empty(t, sink.Snapshot())
}

// A persisted exception that does not compile matches everyone, as in a
// sync plan: nobody is created or adopted until it is fixed.
func TestBrokenPersistedExceptionFailsClosed(t *testing.T) {
	p := newIDP(t)
	sink := dirsynctest.NewMemorySink()
	a := newAuth(t, p, sink, withPersisted(policy.Exception{Pattern: "(unclosed"}))
	_, err := a.SignIn(context.Background(), p.sign(t, validClaims()), "")
	var re *signin.RefusedError
	require.ErrorAs(t, err, &re)
	assert.Equal(t, signin.ReasonException, re.Reason.Code)
	assert.Empty(t, sink.Snapshot())
}

// A known account (managed under this source and the token's sub) signs in
// although an exception names it: an exception keeps sync's hands off an
// account, not its owner out, and signing in changes nothing.
func TestKnownAccountSignsInDespiteException(t *testing.T) {
	p := newIDP(t)
	known := diff.Account{Source: "northwind-google", ExternalID: "110169484474386276334", Managed: true, Email: "ann.lee@northwind.example"}
	sink := dirsynctest.NewMemorySink(known)
	a := newAuth(t, p, sink, withPersisted(policy.Exception{Email: "ann.lee@northwind.example", Note: "break-glass"}))
	d, err := a.SignIn(context.Background(), p.sign(t, validClaims()), "")
	require.NoError(t, err)
	assert.Nil(t, d.Change)
	assert.Equal(t, signin.ReasonKnown, d.Reason.Code)
}

// A finder that returns an account managed under another source or ID
// (matched by email, say) never signs the person in as that account.
func TestNoSignInAsAnotherManagedAccount(t *testing.T) {
	for name, acc := range map[string]diff.Account{
		"another source": {Source: "other-directory", ExternalID: "110169484474386276334", Managed: true, Email: "ann.lee@northwind.example"},
		"another ID":     {Source: "northwind-google", ExternalID: "999", Managed: true, Email: "ann.lee@northwind.example"},
	} {
		t.Run(name, func(t *testing.T) {
			p := newIDP(t)
			a := newAuth(t, p, dirsynctest.NewMemorySink(), func(c *signin.Config) {
				c.Accounts = signin.AccountFinderFunc(func(context.Context, string, string, string) (*diff.Account, error) {
					x := acc
					return &x, nil
				})
			})
			d, err := a.SignIn(context.Background(), p.sign(t, validClaims()), "")
			require.Error(t, err)
			assert.Nil(t, d)
		})
	}
}
