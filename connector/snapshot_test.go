package connector_test

import (
	"context"
	"errors"
	"iter"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dirsync-go/dirsync/connector"
)

func TestNormalizeDN(t *testing.T) {
	for in, want := range map[string]string{
		"CN=Smith\\, John,OU=Sales,DC=example,DC=test":   "cn=smith\\, john,ou=sales,dc=example,dc=test",
		"cn = Smith\\, John , ou=Sales , DC=example":     "cn=smith\\, john,ou=sales,dc=example",
		"  OU=IT  Users,DC=x ":                           "ou=it users,dc=x",
		"CN=a\\ ,DC=x":                                   "cn=a\\ ,dc=x",
		"CN=Jane Doe+employeeNumber=7,OU=People,DC=test": "cn=jane doe+employeenumber=7,ou=people,dc=test",
	} {
		assert.Equal(t, want, connector.NormalizeDN(in), in)
	}
}

func TestSnapshot(t *testing.T) {
	entries := []connector.Entry{
		{ID: "u1", Kind: connector.KindUser, DN: "CN=Ann,OU=Users,DC=x", MemberOf: []string{"g1"}},
		{ID: "u2", Kind: connector.KindUser, DN: "CN=Bob,OU=Users,DC=x"},
		{ID: "g1", Kind: connector.KindGroup, MemberOf: []string{"g2"}},
		{ID: "g2", Kind: connector.KindGroup, Members: []string{"g3"}},
		{ID: "g3", Kind: connector.KindGroup, Members: []string{"u2", "g2"}}, // cycle g2 ⇄ g3
		{ID: "gone", Kind: connector.KindUser, Deleted: true},
	}
	s, err := connector.NewSnapshot(entries)
	require.NoError(t, err)
	assert.Equal(t, 5, s.Len())
	assert.Equal(t, []string{"g1", "g2", "g3"}, s.GroupIDs("u1"))
	assert.Equal(t, []string{"g2", "g3"}, s.GroupIDs("u2"))
	assert.Equal(t, []string{"g2"}, s.GroupIDs("g3"), "a cycle ends; a group is not listed as its own member")
	e, ok := s.ByDN("cn=ann, ou=users, dc=x")
	require.True(t, ok)
	assert.Equal(t, "u1", e.ID)
	require.Len(t, s.Users(), 2)
	assert.Equal(t, "u1", s.Users()[0].ID)

	_, err = connector.NewSnapshot(append(entries, connector.Entry{ID: "u1"}))
	var dup *connector.DuplicateIDError
	require.ErrorAs(t, err, &dup)
	assert.ErrorIs(t, err, connector.ErrDuplicateID)
	assert.Equal(t, "u1", dup.ID)
}

func TestAttrs(t *testing.T) {
	a := connector.Attrs{}
	a.Set("Mail", "x@y")
	assert.Equal(t, "x@y", a.Get("mail"))
	assert.Equal(t, "x@y", a.Get("MAIL"))
	a.Set("MAIL", "z@y")
	assert.Equal(t, []string{"z@y"}, a.Values("Mail"))
	assert.Len(t, a, 1)

	// A literal map with mixed-case keys is lowercased by NewSnapshot.
	s, err := connector.NewSnapshot([]connector.Entry{{ID: "1", Attrs: connector.Attrs{"givenName": {"Ann"}, "SN": {"Lee"}}}})
	require.NoError(t, err)
	e, _ := s.Get("1")
	assert.Equal(t, "Ann", e.Attr("GivenName"))
	assert.Equal(t, "Lee", e.Attr("sn"))
	assert.Equal(t, "", a.Get("missing"))
	var nilAttrs connector.Attrs
	assert.Nil(t, nilAttrs.Values("x"))
}

func TestAttrsCloneIsDeep(t *testing.T) {
	a := connector.Attrs{"mail": {"a@x"}, "proxyaddresses": {"smtp:a@x", "smtp:b@x"}, "empty": {}, "nil": nil}
	c := a.Clone()
	assert.Equal(t, a, c)
	c["mail"][0] = "changed"
	c["mail"] = append(c["mail"], "appended")
	assert.Equal(t, []string{"a@x"}, a["mail"])
	assert.Equal(t, []string{"smtp:a@x", "smtp:b@x"}, c["proxyaddresses"], "appending to one value never writes into another")
	assert.Nil(t, connector.Attrs(nil).Clone())
}

func TestReadAllThenYield(t *testing.T) {
	three := func(context.Context) ([]connector.Entry, error) {
		return []connector.Entry{{ID: "1"}, {ID: "2"}, {ID: "3"}}, nil
	}
	got, err := connector.ReadAll(context.Background(), readFunc(three))
	require.NoError(t, err)
	assert.Len(t, got, 3)

	boom := errors.New("page 7 failed")
	_, err = connector.ReadAll(context.Background(), readFunc(func(context.Context) ([]connector.Entry, error) { return nil, boom }))
	assert.ErrorIs(t, err, boom)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var n int
	var last error
	for e, err := range connector.ReadAllThenYield(ctx, "test", three) {
		if err != nil {
			last = err
			continue
		}
		n++
		if e.ID == "1" {
			cancel()
		}
	}
	assert.Equal(t, 1, n)
	assert.ErrorIs(t, last, context.Canceled)
	assert.Contains(t, last.Error(), "test: read interrupted after 1 of 3 entries")

	for range connector.ReadAllThenYield(context.Background(), "test", three) {
		break // breaking out early is safe
	}
}

type readFunc func(context.Context) ([]connector.Entry, error)

func (f readFunc) Read(ctx context.Context) iter.Seq2[connector.Entry, error] {
	return connector.ReadAllThenYield(ctx, "test", f)
}
