package google_test

import (
	"bytes"
	"context"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/dirsync-go/dirsync"
	"github.com/dirsync-go/dirsync/connector"
	"github.com/dirsync-go/dirsync/connector/connectortest"
	"github.com/dirsync-go/dirsync/connector/google"
	"github.com/dirsync-go/dirsync/diff"
	"github.com/dirsync-go/dirsync/dirsynctest"
	"github.com/dirsync-go/dirsync/internal/fakegoogle"
	"github.com/dirsync-go/dirsync/mapping"
)

const adminEmail = "admin@example.com"

var (
	keyOnce sync.Once
	testKey *rsa.PrivateKey
)

func key() *rsa.PrivateKey {
	keyOnce.Do(func() { testKey = fakegoogle.NewKey() })
	return testKey
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// newFake starts a fake holding five users in nested org units, and three
// groups nested in a cycle (Sales ⊂ EMEA ⊂ Sales, Sales ⊂ All).
func newFake(t *testing.T) *fakegoogle.Server {
	fk := fakegoogle.New(adminEmail)
	t.Cleanup(fk.Close)
	fk.AddUser(fakegoogle.User{ID: "u1", PrimaryEmail: "Alice@example.com", GivenName: "Alice", FamilyName: "Archer",
		OrgUnitPath: "/Sales", Title: "Sales lead", Department: "Sales", WorkPhone: "+1 555 0101", Manager: "carol@example.com"})
	fk.AddUser(fakegoogle.User{ID: "u2", PrimaryEmail: "bob@example.com", GivenName: "Bob", FamilyName: "Baker",
		OrgUnitPath: "/Sales/EMEA", Suspended: true})
	fk.AddUser(fakegoogle.User{ID: "u3", PrimaryEmail: "carol@example.com", GivenName: "Carol", FamilyName: "Clark",
		OrgUnitPath: "/Management", Title: "CEO"})
	fk.AddUser(fakegoogle.User{ID: "u4", PrimaryEmail: "dave@example.com", GivenName: "Dave", FamilyName: "Dunn",
		OrgUnitPath: "/Sales", Archived: true})
	fk.AddUser(fakegoogle.User{ID: "u5", PrimaryEmail: "erin@example.com", GivenName: "Erin", FamilyName: "Evans",
		Extra: map[string]any{
			"customSchemas": map[string]any{"HR": map[string]any{"costCode": "42",
				"skills": []any{map[string]any{"value": "go"}, map[string]any{"value": "sql"}}}},
			"phones": []any{map[string]any{"value": "+1 555 0199", "type": "mobile"},
				map[string]any{"value": "+1 555 0105", "type": "work", "primary": true}},
			"emails": []any{map[string]any{"address": "erin.alias@example.com"},
				map[string]any{"address": "erin@example.com", "primary": true}},
		}})
	fk.AddGroup(fakegoogle.Group{ID: "g1", Email: "sales@example.com", Name: "Sales team"})
	fk.AddGroup(fakegoogle.Group{ID: "g2", Email: "emea@example.com", Name: "EMEA"})
	fk.AddGroup(fakegoogle.Group{ID: "g3", Email: "all@example.com", Name: "All staff"})
	fk.AddMember("g1", fakegoogle.Member{ID: "u1", Type: "USER"})
	fk.AddMember("g1", fakegoogle.Member{ID: "g2", Type: "GROUP"})
	fk.AddMember("g2", fakegoogle.Member{ID: "u2", Type: "USER"})
	fk.AddMember("g2", fakegoogle.Member{ID: "g1", Type: "GROUP"})
	fk.AddMember("g3", fakegoogle.Member{ID: "g1", Type: "GROUP"})
	fk.AddMember("g3", fakegoogle.Member{ID: "u3", Type: "USER"})
	fk.AddMember("g3", fakegoogle.Member{ID: "C0123", Type: "CUSTOMER"})
	fk.AddMember("g3", fakegoogle.Member{ID: "ext-9", Email: "guest@other.example", Type: "USER"})
	fk.AddOrgUnit("/Sales")
	fk.AddOrgUnit("/Management")
	return fk
}

// open connects through domain-wide delegation with a key whose token_uri
// is the fake. Retries are quick.
func open(t *testing.T, fk *fakegoogle.Server, mod ...func(*google.Config)) *google.Connector {
	t.Helper()
	cfg := google.Config{
		ServiceAccountJSON: string(fk.ServiceAccountJSON(key())),
		Subject:            adminEmail,
		Endpoint:           fk.URL,
		RetryDelay:         time.Millisecond,
	}
	for _, m := range mod {
		m(&cfg)
	}
	c, err := google.Open(t.Context(), cfg)
	require.NoError(t, err)
	return c
}

func byID(entries []connector.Entry) map[string]connector.Entry {
	m := map[string]connector.Entry{}
	for _, e := range entries {
		m[e.ID] = e
	}
	return m
}

func TestFullRead(t *testing.T) {
	fk := newFake(t)
	c := open(t, fk, func(c *google.Config) { c.PageSize = 2 })
	entries, err := connector.ReadAll(testCtx(t), c)
	require.NoError(t, err)
	m := byID(entries)
	require.Len(t, m, 10, "5 users, 3 groups, 2 org units")
	ou := m["id:Sales"]
	assert.Equal(t, connector.KindOrgUnit, ou.Kind)
	assert.Equal(t, []string{"Sales"}, ou.Path)
	assert.Equal(t, "/Sales", ou.Attrs.Get("orgUnitPath"))
	assert.Equal(t, "all", fk.LastQuery("orgunits").Get("type"))

	alice := m["u1"]
	assert.Equal(t, connector.KindUser, alice.Kind)
	assert.False(t, alice.Disabled)
	assert.Equal(t, []string{"Sales"}, alice.Path)
	assert.Equal(t, "Alice@example.com", alice.Attr("primaryEmail"))
	assert.Equal(t, "Alice", alice.Attr("name.givenName"))
	assert.Equal(t, "Archer", alice.Attr("name.familyName"))
	assert.Equal(t, "Alice Archer", alice.Attr("name.fullName"))
	assert.Equal(t, "Sales lead", alice.Attr("organizations.title"))
	assert.Equal(t, "Sales", alice.Attr("organizations.department"))
	assert.Equal(t, "+1 555 0101", alice.Attr("phones.work"))
	assert.Equal(t, "carol@example.com", alice.Attr("relations.manager"))
	assert.Equal(t, "/Sales", alice.Attr("orgUnitPath"))
	for k := range alice.Attrs {
		assert.Equal(t, strings.ToLower(k), k, "attribute names are lower case")
	}

	assert.True(t, m["u2"].Disabled, "suspended")
	assert.Equal(t, "true", m["u2"].Attrs.Get("suspended"))
	assert.Equal(t, []string{"Sales", "EMEA"}, m["u2"].Path)
	assert.True(t, m["u4"].Disabled, "archived")
	assert.Equal(t, "true", m["u4"].Attrs.Get("archived"))
	assert.False(t, m["u3"].Disabled)

	erin := m["u5"]
	assert.Empty(t, erin.Path, "orgUnitPath / is the root")
	assert.Equal(t, "+1 555 0105", erin.Attr("phones.value"), "the primary phone first")
	assert.Equal(t, "+1 555 0105", erin.Attr("phones.work"))
	assert.Equal(t, "+1 555 0199", erin.Attr("phones.mobile"))
	assert.Equal(t, []string{"erin@example.com", "erin.alias@example.com"}, erin.Attrs.Values("emails.address"))
	assert.Equal(t, "42", erin.Attr("customSchemas.HR.costCode"))
	assert.Equal(t, []string{"go", "sql"}, erin.Attrs.Values("customschemas.hr.skills"))

	// Groups: direct members (the CUSTOMER pseudo-member and the external
	// address dropped), transitive MemberOf through the cycle.
	assert.Equal(t, connector.KindGroup, m["g1"].Kind)
	assert.Equal(t, "Sales team", m["g1"].Attrs.Get("name"))
	assert.Equal(t, "sales@example.com", m["g1"].Attrs.Get("email"))
	assert.Equal(t, []string{"g2", "u1"}, m["g1"].Members)
	assert.Equal(t, []string{"g1", "u2"}, m["g2"].Members)
	assert.Equal(t, []string{"g1", "u3"}, m["g3"].Members)
	assert.Equal(t, []string{"g1", "g2", "g3"}, alice.MemberOf)
	assert.Equal(t, []string{"g1", "g2", "g3"}, m["u2"].MemberOf)
	assert.Equal(t, []string{"g3"}, m["u3"].MemberOf)
	assert.Equal(t, []string{"g2", "g3"}, m["g1"].MemberOf)
	assert.Empty(t, m["u4"].MemberOf)

	// The request: paging, customer, projection and a partial response.
	assert.Equal(t, 3, fk.Requests("users"), "5 users in pages of 2")
	q := fk.LastQuery("users")
	assert.Equal(t, "my_customer", q.Get("customer"))
	assert.Equal(t, "2", q.Get("maxResults"))
	assert.Equal(t, "full", q.Get("projection"))
	assert.Contains(t, q.Get("fields"), "nextPageToken")
	assert.Contains(t, q.Get("fields"), "users(id,")
	assert.Equal(t, "200", fk.LastQuery("members").Get("maxResults"))
	assert.Equal(t, 1, fk.Requests("token"), "one token for the whole read")
}

func TestDefaultsAndQuery(t *testing.T) {
	fk := newFake(t)
	c := open(t, fk, func(c *google.Config) {
		c.Query = "orgUnitPath='/Sales'"
		c.CustomSchemas = []string{"HR"}
	})
	assert.Equal(t, 500, c.Config().PageSize)
	entries, err := connector.ReadAll(testCtx(t), c)
	require.NoError(t, err)
	m := byID(entries)
	var users []string
	for _, e := range entries {
		if e.Kind == connector.KindUser {
			users = append(users, e.ID)
		}
	}
	assert.Equal(t, []string{"u1", "u2", "u4"}, users, "the query includes the OUs below /Sales")
	assert.Equal(t, []string{"g1"}, m["g3"].Members, "members outside the query are dropped")
	q := fk.LastQuery("users")
	assert.Equal(t, "500", q.Get("maxResults"))
	assert.Equal(t, "orgUnitPath='/Sales'", q.Get("query"))
	assert.Equal(t, "custom", q.Get("projection"))
	assert.Equal(t, "HR", q.Get("customFieldMask"))
	require.NoError(t, connectortest.Test(testCtx(t), c, "u1", "g1"))
}

func TestRateLimitStorm(t *testing.T) {
	fk := newFake(t)
	c := open(t, fk, func(c *google.Config) { c.PageSize = 1; c.MaxAttempts = 10 })
	// Let the first page through, then a storm on the second.
	fk.FailAfter(1, 2, fakegoogle.RateLimit)
	fk.FailNext(2, fakegoogle.UserRateLimit)
	fk.FailNext(1, fakegoogle.QuotaExceeded)
	fk.FailNext(2, fakegoogle.Unavailable)
	fk.FailNext(1, fakegoogle.TooMany) // Retry-After: 1
	fk.FailAfter(1, 1, fakegoogle.Drop)
	start := time.Now()
	entries, err := connector.ReadAll(testCtx(t), c)
	require.NoError(t, err)
	assert.Len(t, byID(entries), 10, "no page lost")
	assert.Equal(t, 5+9, fk.Requests("users"), "5 pages, 9 of them retried")
	assert.GreaterOrEqual(t, time.Since(start), time.Second, "Retry-After is honoured")
}

func TestTokenEndpointRetried(t *testing.T) {
	fk := newFake(t)
	c := open(t, fk)
	fk.FailTokenNext(2)
	_, err := connector.ReadAll(testCtx(t), c)
	require.NoError(t, err)
	assert.Equal(t, 3, fk.Requests("token"))
}

func TestFailedPageFailsRead(t *testing.T) {
	for name, fault := range map[string]fakegoogle.Fault{"drop": fakegoogle.Drop, "503": fakegoogle.Unavailable, "rate": fakegoogle.RateLimit} {
		t.Run(name, func(t *testing.T) {
			fk := newFake(t)
			c := open(t, fk, func(c *google.Config) { c.PageSize = 2; c.MaxAttempts = 3 })
			fk.FailAfter(1, 3, fault) // the second page fails every attempt
			var n int
			var readErr error
			for _, err := range c.Read(testCtx(t)) {
				if err != nil {
					readErr = err
					break
				}
				n++
			}
			require.Error(t, readErr)
			assert.Zero(t, n, "nothing is yielded from a failed read")
			assert.NotErrorIs(t, readErr, connector.ErrAuth)
			assert.Contains(t, readErr.Error(), "users.list (page 2)")
		})
	}
}

func TestFailedMembersPageFailsRead(t *testing.T) {
	fk := newFake(t)
	c := open(t, fk, func(c *google.Config) { c.MaxAttempts = 2 })
	fk.FailAfter(3, 100, fakegoogle.Unavailable) // users, groups and org units pass, members fail
	_, err := connector.ReadAll(testCtx(t), c)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "members.list")
	assert.LessOrEqual(t, fk.Requests("members"), 3*2, "the first failure stops the other groups")
}

func TestCancelDuringBackoff(t *testing.T) {
	fk := newFake(t)
	c := open(t, fk, func(c *google.Config) { c.RetryDelay = time.Hour })
	fk.FailNext(1, fakegoogle.Unavailable)
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	_, err := connector.ReadAll(ctx, c)
	require.ErrorIs(t, err, context.DeadlineExceeded)
}

func TestAuthErrors(t *testing.T) {
	ctx := testCtx(t)
	t.Run("revoked key", func(t *testing.T) {
		fk := newFake(t)
		c := open(t, fk)
		fk.RevokeKey()
		_, err := connector.ReadAll(ctx, c)
		require.ErrorIs(t, err, connector.ErrAuth)
		assert.Contains(t, err.Error(), "revoked")
		require.ErrorIs(t, c.Check(ctx), connector.ErrAuth)
	})
	t.Run("wrong subject", func(t *testing.T) {
		fk := newFake(t)
		c := open(t, fk, func(c *google.Config) { c.Subject = "someone@example.com" })
		_, err := connector.ReadAll(ctx, c)
		require.ErrorIs(t, err, connector.ErrAuth)
		assert.Contains(t, err.Error(), "someone@example.com")
	})
	t.Run("no delegation", func(t *testing.T) {
		fk := newFake(t)
		fk.SetDelegatedScopes()
		c := open(t, fk)
		_, err := connector.ReadAll(ctx, c)
		require.ErrorIs(t, err, connector.ErrAuth)
		assert.Contains(t, err.Error(), "domain-wide delegation")
		err = c.Check(ctx)
		require.ErrorIs(t, err, connector.ErrAuth)
		for _, s := range []string{google.ScopeUser, google.ScopeGroup, google.ScopeGroupMember, google.ScopeOrgUnit} {
			assert.Contains(t, err.Error(), "scope "+s)
		}
	})
	t.Run("one scope not delegated", func(t *testing.T) {
		fk := newFake(t)
		fk.SetDelegatedScopes(google.ScopeUser, google.ScopeGroup, google.ScopeGroupMember)
		c := open(t, fk)
		err := c.Check(ctx)
		require.ErrorIs(t, err, connector.ErrAuth)
		assert.Contains(t, err.Error(), "scope "+google.ScopeOrgUnit)
		assert.NotContains(t, err.Error(), "scope "+google.ScopeUser)
	})
	t.Run("token source without the group scope", func(t *testing.T) {
		fk := newFake(t)
		tok := fk.StaticToken(google.ScopeUser, google.ScopeOrgUnit)
		c, err := google.Open(ctx, google.Config{TokenSource: oauth2.StaticTokenSource(&oauth2.Token{AccessToken: tok}),
			Endpoint: fk.URL, RetryDelay: time.Millisecond})
		require.NoError(t, err)
		_, err = connector.ReadAll(ctx, c)
		require.ErrorIs(t, err, connector.ErrAuth)
		assert.Contains(t, err.Error(), "groups.list")
		err = c.Check(ctx)
		require.ErrorIs(t, err, connector.ErrAuth)
		assert.Contains(t, err.Error(), google.ScopeGroup)
		assert.NotContains(t, err.Error(), google.ScopeOrgUnit)
	})
	t.Run("bad token", func(t *testing.T) {
		fk := newFake(t)
		c, err := google.Open(ctx, google.Config{TokenSource: oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "nope"}),
			Endpoint: fk.URL})
		require.NoError(t, err)
		_, err = connector.ReadAll(ctx, c)
		require.ErrorIs(t, err, connector.ErrAuth)
		assert.Equal(t, 1, fk.Requests("users"), "a 401 is not retried")
	})
}

func TestCheck(t *testing.T) {
	fk := newFake(t)
	c := open(t, fk)
	require.NoError(t, c.Check(testCtx(t)))
	assert.Equal(t, 1, fk.Requests("orgunits"))
	assert.Equal(t, "children", fk.LastQuery("orgunits").Get("type"), "the cheap call")
	assert.Equal(t, 1, fk.Requests("members"))
}

func TestSearchGroups(t *testing.T) {
	fk := newFake(t)
	c := open(t, fk)
	gs, err := c.SearchGroups(testCtx(t), "s", 0)
	require.NoError(t, err)
	require.Len(t, gs, 1)
	assert.Equal(t, "g1", gs[0].ID)
	gs, err = c.SearchGroups(testCtx(t), "", 2)
	require.NoError(t, err)
	assert.Equal(t, []string{"g3", "g2"}, []string{gs[0].ID, gs[1].ID}, "sorted by name: All staff, EMEA")
}

// Google matches group names from the start only, and the connector says
// so. Only the leading letters and digits of the query reach groups.list's
// query (unquoted, as name:<p>*); the rest is matched in the connector, so
// quotes, stars and backslashes are text.
func TestSearchGroupsPrefix(t *testing.T) {
	fk := newFake(t)
	fk.AddGroup(fakegoogle.Group{ID: "g4", Email: "app-admins@example.com", Name: "App Admins"})
	fk.AddGroup(fakegoogle.Group{ID: "g5", Email: "obrien@example.com", Name: "O'Brien's team"})
	fk.AddGroup(fakegoogle.Group{ID: "g6", Email: "star@example.com", Name: `Ops* \ 'night'`})
	c := open(t, fk)
	assert.Equal(t, connector.MatchPrefix, connector.GroupSearchMatchOf(c))
	search := func(q string) (ids []string, sent string) {
		t.Helper()
		n := fk.Requests("groups")
		gs, err := c.SearchGroups(testCtx(t), q, 0)
		require.NoError(t, err, "search %q", q)
		ids = []string{}
		for _, g := range gs {
			ids = append(ids, g.ID)
		}
		if fk.Requests("groups") > n {
			sent = fk.LastQuery("groups").Get("query")
		}
		return ids, sent
	}
	for _, tt := range []struct {
		q, sent string
		want    []string
	}{
		{"adm", "name:adm*", []string{}}, // "App Admins" does not start with "adm"
		{"app", "name:app*", []string{"g4"}},
		{"APP ADM", "name:APP*", []string{"g4"}},
		{"App Admins team", "name:App*", []string{}},
		{"O'Brien", "name:O*", []string{"g5"}},
		{"o'brien's t", "name:o*", []string{"g5"}},
		{"ops* \\", "name:ops*", []string{"g6"}},
		{`ops* \ 'n`, "name:ops*", []string{"g6"}},
		{"ops*x", "name:ops*", []string{}},
		{"'", "", []string{}},
		{"*", "", []string{}},
		{"name:app* OR", "name:name*", []string{}},
		{"", "", []string{"g3", "g4", "g2", "g5", "g6", "g1"}},
	} {
		ids, sent := search(tt.q)
		assert.Equal(t, tt.want, ids, "query %q", tt.q)
		assert.Equal(t, tt.sent, sent, "query %q", tt.q)
	}
	n := fk.Requests("groups")
	gs, err := c.SearchGroups(testCtx(t), "app\x00", 0)
	require.NoError(t, err)
	assert.Empty(t, gs)
	assert.Equal(t, n, fk.Requests("groups"), "a NUL finds nothing without a request")
	require.NoError(t, connectortest.Test(testCtx(t), c))
}

func collect(t *testing.T, c *google.Connector, since connector.Cursor) ([]connector.Entry, connector.Cursor) {
	t.Helper()
	var got []connector.Entry
	cur, err := c.ReadChanges(testCtx(t), since, func(e connector.Entry) error {
		got = append(got, e)
		return nil
	})
	require.NoError(t, err)
	require.NotEmpty(t, cur)
	return got, cur
}

func ids(es []connector.Entry) []string {
	var out []string
	for _, e := range es {
		s := e.ID
		if e.Deleted {
			s += " deleted"
		}
		out = append(out, s)
	}
	return out
}

func TestIncremental(t *testing.T) {
	fk := newFake(t)
	c := open(t, fk)
	all, cur := collect(t, c, nil)
	assert.Len(t, all, 10)

	got, cur := collect(t, c, cur)
	assert.Empty(t, got, "no change, nothing yielded")

	fk.UpdateUser("u3", func(u *fakegoogle.User) { u.Title = "Chief executive" })
	got, cur = collect(t, c, cur)
	assert.Equal(t, []string{"u3"}, ids(got))
	assert.Equal(t, "Chief executive", got[0].Attr("organizations.title"), "entries are complete")

	fk.DeleteUser("u4")
	got, cur = collect(t, c, cur)
	assert.Equal(t, []string{"u4 deleted"}, ids(got))
	assert.Equal(t, connector.KindUser, got[0].Kind)

	fk.AddMember("g3", fakegoogle.Member{ID: "u5", Type: "USER"})
	got, _ = collect(t, c, cur)
	assert.Equal(t, []string{"u5", "g3"}, ids(got), "a membership change yields the member and the group")

	for _, bad := range []connector.Cursor{connector.Cursor("garbage"), connector.Cursor(`{"v":99,"h":{}}`)} {
		_, err := c.ReadChanges(testCtx(t), bad, func(connector.Entry) error { return nil })
		require.ErrorIs(t, err, connector.ErrCursorExpired)
	}
	other := open(t, fk, func(c *google.Config) { c.Query = "orgUnitPath='/Sales'" })
	_, err := other.ReadChanges(testCtx(t), cur, func(connector.Entry) error { return nil })
	require.ErrorIs(t, err, connector.ErrCursorExpired, "a cursor from another query")

	stop := errors.New("stop")
	_, err = c.ReadChanges(testCtx(t), nil, func(connector.Entry) error { return stop })
	require.ErrorIs(t, err, stop)
}

func TestRedaction(t *testing.T) {
	fk := newFake(t)
	secret := string(fk.ServiceAccountJSON(key()))
	marker := "PRIVATE KEY"
	cfg := google.Config{ServiceAccountJSON: secret, Subject: adminEmail, Endpoint: fk.URL}
	for _, s := range []string{fmt.Sprint(cfg), fmt.Sprintf("%+v", cfg), fmt.Sprintf("%#v", cfg), cfg.String(), fmt.Sprintf("%v", &cfg)} {
		assert.NotContains(t, s, marker)
		assert.Contains(t, s, "[redacted]")
	}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("config", "cfg", cfg)
	assert.NotContains(t, buf.String(), marker)
	assert.Contains(t, buf.String(), adminEmail)

	// A malformed key is refused without quoting it.
	bad := `{"type":"service_account","private_key":"-----BEGIN PRIVATE KEY-----\nSECRETSECRET\n-----END PRIVATE KEY-----\n","client_email":"x@y"`
	_, err := google.Open(t.Context(), google.Config{ServiceAccountJSON: bad, Subject: adminEmail})
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "SECRETSECRET")

	// Errors of a connector with a revoked key do not carry the key.
	c := open(t, fk)
	fk.RevokeKey()
	_, err = connector.ReadAll(testCtx(t), c)
	require.Error(t, err)
	assert.NotContains(t, err.Error(), marker)
	assert.NotContains(t, fmt.Sprintf("%+v", c.Config()), marker)
}

func TestConfigJSON(t *testing.T) {
	in := google.Config{ServiceAccountFile: "/etc/key.json", Subject: adminEmail, Domain: "example.com",
		Query: "orgUnitPath='/Sales'", PageSize: 200, RetryDelay: 2 * time.Second}
	b, err := json.Marshal(in)
	require.NoError(t, err)
	assert.JSONEq(t, `{"serviceAccountFile":"/etc/key.json","subject":"admin@example.com","domain":"example.com",
		"query":"orgUnitPath='/Sales'","pageSize":200,"retryDelay":2000000000}`, string(b))
	var out google.Config
	require.NoError(t, json.Unmarshal(b, &out))
	assert.Equal(t, in.String(), out.String())
}

func TestOpenValidates(t *testing.T) {
	ts := oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "x"})
	for name, cfg := range map[string]google.Config{
		"no credentials":    {Subject: adminEmail},
		"two credentials":   {ServiceAccountJSON: "{}", TokenSource: ts, Subject: adminEmail},
		"no subject":        {ServiceAccountFile: "/nonexistent.json"},
		"customer + domain": {TokenSource: ts, Customer: "C1", Domain: "example.com"},
		"page size":         {TokenSource: ts, PageSize: 501},
		"endpoint":          {TokenSource: ts, Endpoint: "ftp://x"},
		"missing file":      {ServiceAccountFile: "/nonexistent.json", Subject: adminEmail},
	} {
		_, err := google.Open(t.Context(), cfg)
		assert.Error(t, err, name)
	}
	c, err := google.Open(t.Context(), google.Config{TokenSource: ts, Domain: "example.com"})
	require.NoError(t, err)
	assert.Equal(t, "", c.Config().Customer, "Domain replaces the default customer")
}

func TestConformance(t *testing.T) {
	fk := newFake(t)
	c := open(t, fk, func(c *google.Config) { c.PageSize = 3 })
	require.NoError(t, connectortest.Test(testCtx(t), c, "u1", "u2", "u3", "u4", "u5", "g1", "g2", "g3", "id:Sales"))
}

func TestPlanThroughCore(t *testing.T) {
	ctx := testCtx(t)
	fk := newFake(t)
	c := open(t, fk)
	m, err := mapping.New(mapping.GoogleSpec())
	require.NoError(t, err)
	sink := dirsynctest.NewMemorySink()
	sy, err := dirsync.New(c, sink, &dirsync.Options{Source: "google", Mapper: m})
	require.NoError(t, err)

	plan, err := sy.Plan(ctx)
	require.NoError(t, err)
	assert.Equal(t, 3, plan.Count(diff.OpCreate), plan.String())
	rep, err := sy.Apply(ctx, plan)
	require.NoError(t, err)
	assert.Zero(t, rep.Count(dirsync.StatusFailed))

	alice, ok := sink.Get("google", "u1")
	require.True(t, ok)
	assert.Equal(t, "alice@example.com", alice.Email)
	assert.Equal(t, "alice@example.com", alice.Username)
	assert.Equal(t, "Alice Archer", alice.DisplayName)
	assert.Equal(t, "Sales lead", alice.Title)
	assert.Equal(t, "+1 555 0101", alice.Phone)
	assert.Equal(t, "carol@example.com", alice.Manager)
	assert.False(t, alice.Blocked)
	_, ok = sink.Get("google", "u2")
	assert.False(t, ok, "a suspended user is not invited")

	assert.False(t, plan.Incremental, "the first plan is a full read")
	again, err := sy.Plan(ctx)
	require.NoError(t, err)
	assert.True(t, again.Incremental, "after an applied plan the Syncer uses ReadChanges")
	assert.True(t, again.Empty(), "no change, empty plan:\n%s", again.String())

	// An incremental run after no change yields nothing to plan either.
	_, cur := collect(t, c, nil)
	got, _ := collect(t, c, cur)
	assert.Empty(t, got)

	fk.UpdateUser("u3", func(u *fakegoogle.User) { u.Suspended = true })
	third, err := sy.Plan(ctx)
	require.NoError(t, err)
	assert.True(t, third.Incremental)
	assert.Equal(t, 1, third.Actionable(), third.String())
	assert.True(t, slices.ContainsFunc(third.Changes, func(ch diff.Change) bool { return ch.Op == diff.OpBlock }))
}

// UserStatus (connector.StatusChecker) is what sign-in asks the
// directory: suspended and archived users are Disabled, as in Read; a
// user the Directory API does not find is the zero status, not an error.
func TestUserStatus(t *testing.T) {
	fk := newFake(t)
	c := open(t, fk)
	for id, want := range map[string]connector.UserStatus{
		"u1":      {Exists: true},
		"u2":      {Exists: true, Disabled: true},
		"u4":      {Exists: true, Disabled: true, Archived: true},
		"deleted": {},
	} {
		got, err := c.UserStatus(t.Context(), id)
		require.NoError(t, err, id)
		assert.Equal(t, want, got, id)
	}

	// Without the user scope the directory cannot answer: an error
	// wrapping connector.ErrAuth that names the scope, never "does not
	// exist".
	tok := fk.StaticToken(google.ScopeGroup, google.ScopeOrgUnit)
	noUsers := open(t, fk, func(c *google.Config) {
		c.ServiceAccountJSON, c.Subject = "", ""
		c.TokenSource = oauth2.StaticTokenSource(&oauth2.Token{AccessToken: tok})
	})
	st, err := noUsers.UserStatus(t.Context(), "u1")
	require.ErrorIs(t, err, connector.ErrAuth)
	assert.Contains(t, err.Error(), "users.get")
	assert.Contains(t, err.Error(), google.ScopeUser)
	assert.Zero(t, st)
}

// A Logger in the Config changes none of the redaction: the Config and
// the Connector still print, log and marshal without the key, and the
// Logger is not part of the JSON form.
func TestLoggerKeepsRedaction(t *testing.T) {
	fk := newFake(t)
	keyJSON := string(fk.ServiceAccountJSON(key()))
	var logs bytes.Buffer
	cfg := google.Config{ServiceAccountJSON: keyJSON, Subject: adminEmail, Endpoint: fk.URL,
		Logger: slog.New(slog.NewJSONHandler(&logs, nil))}
	c, err := google.Open(t.Context(), cfg)
	require.NoError(t, err)
	var out []string
	for _, v := range []any{cfg, &cfg, c, *c, struct{ C google.Config }{cfg}} {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
			out = append(out, fmt.Sprintf(verb, v))
		}
		b, err := json.Marshal(v)
		require.NoError(t, err)
		out = append(out, string(b))
		assert.NotContains(t, string(b), "Logger")
		cfg.Logger.Info("value", "v", v)
	}
	out = append(out, logs.String())
	for _, s := range out {
		assert.NotContains(t, s, "PRIVATE KEY")
		assert.NotContains(t, s, "private_key")
	}
}
