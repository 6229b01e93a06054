package entra

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dirsync-go/dirsync"
	"github.com/dirsync-go/dirsync/connector"
	"github.com/dirsync-go/dirsync/connector/connectortest"
	"github.com/dirsync-go/dirsync/diff"
	"github.com/dirsync-go/dirsync/dirsynctest"
	"github.com/dirsync-go/dirsync/internal/fakegraph"
	"github.com/dirsync-go/dirsync/mapping"
)

// staticCred is a TokenCredential that hands out a fixed token, or fails.
type staticCred struct {
	token string
	err   error
}

func (c staticCred) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	if c.err != nil {
		return azcore.AccessToken{}, c.err
	}
	return azcore.AccessToken{Token: c.token, ExpiresOn: time.Now().Add(time.Hour)}, nil
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// tenant is a small fake tenant: four users, two groups (All contains
// Sales, which contains alice and bob).
type tenant struct {
	srv                     *fakegraph.Server
	alice, bob, carol, dave string
	sales, all              string
}

func newTenant(t *testing.T) *tenant {
	t.Helper()
	s := fakegraph.New()
	t.Cleanup(s.Close)
	tn := &tenant{srv: s}
	tn.carol = s.AddUser(map[string]any{"userPrincipalName": "carol@contoso.test", "mail": "Carol@contoso.test",
		"givenName": "Carol", "surname": "Boss", "displayName": "Carol Boss", "jobTitle": "Head of Sales", "department": "Sales"})
	tn.alice = s.AddUser(map[string]any{"userPrincipalName": "alice@contoso.test", "mail": "alice@contoso.test",
		"givenName": "Alice", "surname": "Smith", "displayName": "Alice Smith", "jobTitle": "Sales lead",
		"department": "Sales", "businessPhones": []any{"+1 425 555 0100", "+1 425 555 0101"}, "employeeId": "1001",
		"onPremisesSyncEnabled": true, "onPremisesImmutableId": "aW1tdXRhYmxl"})
	tn.bob = s.AddUser(map[string]any{"userPrincipalName": "bob@contoso.test", "givenName": "Bob", "surname": "Jones",
		"department": "Sales", "accountEnabled": false})
	tn.dave = s.AddUser(map[string]any{"userPrincipalName": "dave@contoso.test", "givenName": "Dave", "surname": "Lee",
		"department": "Engineering"})
	s.SetManager(tn.alice, tn.carol)
	tn.sales = s.AddGroup("Sales team", tn.alice, tn.bob)
	tn.all = s.AddGroup("All staff", tn.sales, tn.carol)
	return tn
}

func (tn *tenant) config() Config {
	return Config{Credential: staticCred{token: fakegraph.Token}, GraphBaseURL: tn.srv.BaseURL(), PageSize: 3, MaxRetries: 5}
}

func (tn *tenant) open(t *testing.T, mod ...func(*Config)) *Connector {
	t.Helper()
	cfg := tn.config()
	for _, m := range mod {
		m(&cfg)
	}
	c, err := open(cfg, tn.srv.Client().Transport)
	require.NoError(t, err)
	return c
}

func byID(entries []connector.Entry) map[string]*connector.Entry {
	m := map[string]*connector.Entry{}
	for i := range entries {
		m[entries[i].ID] = &entries[i]
	}
	return m
}

func TestRead(t *testing.T) {
	tn := newTenant(t)
	entries, err := connector.ReadAll(testCtx(t), tn.open(t))
	require.NoError(t, err)
	require.Len(t, entries, 6)
	m := byID(entries)

	alice := m[tn.alice]
	assert.Equal(t, connector.KindUser, alice.Kind)
	assert.False(t, alice.Disabled)
	assert.Equal(t, []string{"Sales"}, alice.Path)
	for name, want := range map[string]string{"userPrincipalName": "alice@contoso.test", "mail": "alice@contoso.test",
		"givenName": "Alice", "surname": "Smith", "displayName": "Alice Smith", "jobTitle": "Sales lead",
		"department": "Sales", "employeeId": "1001", "accountEnabled": "true", "onPremisesSyncEnabled": "true",
		"onPremisesImmutableId": "aW1tdXRhYmxl", "manager": tn.carol, "id": tn.alice} {
		assert.Equal(t, want, alice.Attr(name), name)
	}
	assert.Equal(t, []string{"+1 425 555 0100", "+1 425 555 0101"}, alice.Attrs.Values("businessphones"))
	assert.Contains(t, alice.Attrs, "userprincipalname", "attribute names are stored in lower case")
	assert.Equal(t, sorted(tn.sales, tn.all), alice.MemberOf)

	bob := m[tn.bob]
	assert.True(t, bob.Disabled, "accountEnabled=false is Disabled")
	assert.Equal(t, "false", bob.Attr("accountEnabled"))
	assert.Empty(t, bob.Attr("mail"), "null properties are left out")

	assert.Equal(t, []string{tn.all}, m[tn.carol].MemberOf)
	assert.Empty(t, m[tn.dave].MemberOf)
	assert.Equal(t, []string{"Engineering"}, m[tn.dave].Path)

	sales, all := m[tn.sales], m[tn.all]
	assert.Equal(t, connector.KindGroup, sales.Kind)
	assert.Equal(t, "Sales team", sales.Attr("displayName"))
	assert.Equal(t, sorted(tn.alice, tn.bob), sales.Members)
	assert.Equal(t, sorted(tn.sales, tn.alice, tn.bob, tn.carol), all.Members, "transitive members")
	assert.Equal(t, []string{tn.all}, sales.MemberOf)

	// Four users at three a page: two page requests (a /users/delta
	// round, which carries the managers without $expand).
	assert.Equal(t, 2, tn.srv.RequestsTo("users/delta"))
	assert.Zero(t, tn.srv.RequestsTo("users"))
}

func sorted(s ...string) []string {
	slices.Sort(s)
	return s
}

func TestOrgPathAttribute(t *testing.T) {
	tn := newTenant(t)
	entries, err := connector.ReadAll(testCtx(t), tn.open(t, func(c *Config) { c.OrgPathAttribute = "jobTitle" }))
	require.NoError(t, err)
	m := byID(entries)
	assert.Equal(t, []string{"Sales lead"}, m[tn.alice].Path)
	assert.Empty(t, m[tn.dave].Path)
}

func TestDelta(t *testing.T) {
	tn := newTenant(t)
	ctx := testCtx(t)
	c := tn.open(t)
	collect := func(since connector.Cursor) ([]connector.Entry, connector.Cursor) {
		t.Helper()
		var got []connector.Entry
		cur, err := c.ReadChanges(ctx, since, func(e connector.Entry) error {
			got = append(got, e)
			return nil
		})
		require.NoError(t, err)
		require.NotEmpty(t, cur)
		return got, cur
	}
	first, cur := collect(nil)
	assert.Len(t, first, 6, "a nil cursor reads everything")

	none, cur := collect(cur)
	assert.Empty(t, none, "no change, no entries")

	erin := tn.srv.AddUser(map[string]any{"userPrincipalName": "erin@contoso.test", "givenName": "Erin",
		"surname": "New", "department": "Support"})
	tn.srv.UpdateUser(tn.alice, map[string]any{"jobTitle": "Sales director"})
	tn.srv.DisableUser(tn.carol)
	tn.srv.DeleteUser(tn.dave)
	tn.srv.ResetCounts()

	changes, cur := collect(cur)
	m := byID(changes)
	require.Len(t, changes, 4, "%+v", changes)

	assert.Equal(t, "Erin", m[erin].Attr("givenName"))
	assert.Equal(t, []string{"Support"}, m[erin].Path)

	alice := m[tn.alice]
	assert.Equal(t, "Sales director", alice.Attr("jobTitle"))
	assert.Equal(t, "Alice", alice.Attr("givenName"), "a partial delta object yields a complete entry")
	assert.Equal(t, "alice@contoso.test", alice.Attr("mail"))
	assert.Equal(t, tn.carol, alice.Attr("manager"))
	assert.Equal(t, sorted(tn.sales, tn.all), alice.MemberOf)
	assert.False(t, alice.Deleted)

	carol := m[tn.carol]
	assert.True(t, carol.Disabled)
	assert.Equal(t, "Carol", carol.Attr("givenName"))

	dave := m[tn.dave]
	assert.True(t, dave.Deleted)
	assert.Equal(t, connector.KindUser, dave.Kind)

	// Four changes at three a page: two delta pages; two requests per
	// re-read user.
	assert.Equal(t, 2, tn.srv.RequestsTo("users/delta"))
	assert.Equal(t, 3, tn.srv.RequestsTo("users/{id}"))

	none, _ = collect(cur)
	assert.Empty(t, none)
}

func TestDeltaOneChangeCost(t *testing.T) {
	tn := newTenant(t)
	ctx := testCtx(t)
	c := tn.open(t)
	cur, err := c.ReadChanges(ctx, nil, func(connector.Entry) error { return nil })
	require.NoError(t, err)
	tn.srv.UpdateUser(tn.bob, map[string]any{"surname": "Jones-Smith"})
	tn.srv.ResetCounts()
	n := 0
	_, err = c.ReadChanges(ctx, cur, func(e connector.Entry) error {
		n++
		assert.Equal(t, "Jones-Smith", e.Attr("surname"))
		assert.True(t, e.Disabled)
		return nil
	})
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	assert.Equal(t, 4, tn.srv.Requests(), "users delta page, groups delta page, user, groups of the user")
}

func TestDeltaExpired(t *testing.T) {
	tn := newTenant(t)
	ctx := testCtx(t)
	c := tn.open(t)
	cur, err := c.ReadChanges(ctx, nil, func(connector.Entry) error { return nil })
	require.NoError(t, err)
	tn.srv.ExpireDeltaTokens()
	_, err = c.ReadChanges(ctx, cur, func(connector.Entry) error { return nil })
	require.ErrorIs(t, err, connector.ErrCursorExpired)
	assert.Contains(t, err.Error(), "SyncStateNotFound")

	for _, bad := range []string{"garbage", `{"v":1,"deltaLink":"https://elsewhere.example/v1.0/users/delta"}`,
		`{"v":2,"users":"https://elsewhere.example/v1.0/users/delta","groups":"https://elsewhere.example/v1.0/groups/delta"}`,
		// A version 1 cursor (users only) cannot recover group changes.
		`{"v":1,"deltaLink":"` + tn.srv.BaseURL() + `/users/delta()?$deltatoken=1"}`} {
		_, err = c.ReadChanges(ctx, connector.Cursor(bad), func(connector.Entry) error { return nil })
		assert.ErrorIs(t, err, connector.ErrCursorExpired, bad)
	}

	// The host's fallback, a nil cursor, works again.
	_, err = c.ReadChanges(ctx, nil, func(connector.Entry) error { return nil })
	require.NoError(t, err)
}

func TestYieldErrorStopsReadChanges(t *testing.T) {
	tn := newTenant(t)
	stop := errors.New("stop")
	n := 0
	_, err := tn.open(t).ReadChanges(testCtx(t), nil, func(connector.Entry) error { n++; return stop })
	assert.ErrorIs(t, err, stop)
	assert.Equal(t, 1, n)
}

func TestThrottlingStorm(t *testing.T) {
	tn := newTenant(t)
	ctx := testCtx(t)
	c := tn.open(t, func(c *Config) { c.PageSize = 1 })
	want, err := connector.ReadAll(ctx, c)
	require.NoError(t, err)

	tn.srv.ResetCounts()
	tn.srv.PassNext(1)      // the first page
	tn.srv.FailNext(3, 429) // the second page, three times
	tn.srv.PassNext(1)      //
	tn.srv.FailNext(1, 503) // the fourth page
	start := time.Now()
	got, err := connector.ReadAll(ctx, c)
	require.NoError(t, err)
	assert.Equal(t, want, got, "no page lost")
	assert.GreaterOrEqual(t, time.Since(start), 4*time.Second, "Retry-After honoured")
	assert.Equal(t, 4+4, tn.srv.RequestsTo("users/delta"), "four pages and four retries")
}

func TestThrottlingGivesUp(t *testing.T) {
	tn := newTenant(t)
	c := tn.open(t, func(c *Config) { c.MaxRetries = 1 })
	tn.srv.FailNext(2, 429)
	_, err := connector.ReadAll(testCtx(t), c)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "429")
}

func TestThrottlingCancelled(t *testing.T) {
	tn := newTenant(t)
	c := tn.open(t)
	tn.srv.FailNext(10, 429)
	ctx, cancel := context.WithTimeout(testCtx(t), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := connector.ReadAll(ctx, c)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Less(t, time.Since(start), 900*time.Millisecond, "the Retry-After wait ends with ctx")
}

func TestDroppedPageFailsRead(t *testing.T) {
	tn := newTenant(t)
	c := tn.open(t)
	tn.srv.PassNext(1)
	tn.srv.DropNext() // the second page of users
	entries, err := connector.ReadAll(testCtx(t), c)
	require.Error(t, err)
	assert.Nil(t, entries)
	assert.Contains(t, err.Error(), "page 2")

	// Dropped in a transitive members page, too.
	tn.srv.PassNext(3)
	tn.srv.DropNext()
	_, err = connector.ReadAll(testCtx(t), c)
	require.Error(t, err)
}

func TestUnauthorized(t *testing.T) {
	tn := newTenant(t)
	ctx := testCtx(t)
	c := tn.open(t, func(c *Config) { c.Credential = staticCred{token: "expired"} })
	_, err := connector.ReadAll(ctx, c)
	require.ErrorIs(t, err, connector.ErrAuth)
	assert.Contains(t, err.Error(), "InvalidAuthenticationToken")
	require.ErrorIs(t, c.Check(ctx), connector.ErrAuth)
	_, err = c.ReadChanges(ctx, nil, func(connector.Entry) error { return nil })
	require.ErrorIs(t, err, connector.ErrAuth)

	c = tn.open(t, func(c *Config) { c.Credential = staticCred{err: errors.New("AADSTS7000215: Invalid client secret")} })
	_, err = connector.ReadAll(ctx, c)
	require.ErrorIs(t, err, connector.ErrAuth)
}

func TestCheck(t *testing.T) {
	tn := newTenant(t)
	ctx := testCtx(t)
	c := tn.open(t)
	require.NoError(t, c.Check(ctx))
	tn.srv.DenyGroups(true)
	err := c.Check(ctx)
	require.ErrorIs(t, err, connector.ErrAuth)
	assert.Contains(t, err.Error(), "GroupMember.Read.All")
	assert.NotContains(t, err.Error(), "User.Read.All")
	_, err = connector.ReadAll(ctx, c)
	require.ErrorIs(t, err, connector.ErrAuth)
	assert.Contains(t, err.Error(), "admin")
}

func TestSearchGroups(t *testing.T) {
	tn := newTenant(t)
	ctx := testCtx(t)
	obrien := tn.srv.AddGroup("O'Brien's team", tn.dave)
	tn.srv.AddGroup("sales ops")
	c := tn.open(t)
	gs, err := c.SearchGroups(ctx, "SALES", 0)
	require.NoError(t, err)
	require.Len(t, gs, 2)
	assert.Equal(t, "sales ops", gs[0].Attr("displayName"))
	assert.Equal(t, tn.sales, gs[1].ID)
	assert.Equal(t, sorted(tn.alice, tn.bob), gs[1].Members)

	gs, err = c.SearchGroups(ctx, "O'Brien", 0)
	require.NoError(t, err)
	require.Len(t, gs, 1)
	assert.Equal(t, obrien, gs[0].ID)

	gs, err = c.SearchGroups(ctx, "", 2)
	require.NoError(t, err)
	assert.Len(t, gs, 2)
	assert.Equal(t, "All staff", gs[0].Attr("displayName"))
}

// The group picker's search goes through Graph's $search, which matches
// the beginning of words: "adm" finds "App Admins". What the admin types
// stays inside the quoted clause, however it is punctuated.
func TestSearchGroupsWords(t *testing.T) {
	tn := newTenant(t)
	ctx := testCtx(t)
	admins := tn.srv.AddGroup("App Admins", tn.alice)
	tn.srv.AddGroup("Badminton club")
	tn.srv.AddGroup(`We say "hi" \ there`)
	c := tn.open(t)
	assert.Equal(t, connector.MatchWordPrefix, connector.GroupSearchMatchOf(c))
	names := func(q string) []string {
		t.Helper()
		gs, err := c.SearchGroups(ctx, q, 0)
		require.NoError(t, err, "search %q", q)
		out := []string{}
		for _, g := range gs {
			out = append(out, g.Attr("displayName"))
		}
		return out
	}
	assert.Equal(t, []string{"App Admins"}, names("adm"), `"Badminton" holds "adm", but no word of it starts with it`)
	assert.Empty(t, names("dmin"))
	assert.Equal(t, []string{"App Admins"}, names("ADMINS app"))
	assert.Equal(t, []string{"Sales team", `We say "hi" \ there`}, names("t"))
	assert.Equal(t, []string{`We say "hi" \ there`}, names(`"hi" \`))
	for _, q := range []string{`adm" OR "displayName:`, `\" OR "displayName:`, "\x00", "adm\x00"} {
		assert.Empty(t, names(q), "query %q stays one clause", q)
	}
	gs, err := c.SearchGroups(ctx, "app admins", 0)
	require.NoError(t, err)
	require.Len(t, gs, 1)
	assert.Equal(t, admins, gs[0].ID)
	assert.Equal(t, []string{tn.alice}, gs[0].Members)

	searches := tn.srv.Searches()
	require.NotEmpty(t, searches)
	for _, s := range searches {
		assert.Equal(t, "eventual", s.ConsistencyLevel, s.Query)
	}
	assert.Equal(t, `"displayName:adm"`, searches[0].Query)
	assert.Contains(t, searches, fakegraph.Search{Query: `"displayName:adm\" OR \"displayName:"`, ConsistencyLevel: "eventual"})
}

func TestConformance(t *testing.T) {
	tn := newTenant(t)
	require.NoError(t, connectortest.Test(testCtx(t), tn.open(t), tn.alice, tn.bob, tn.sales, tn.all))
}

func TestPlanThroughCore(t *testing.T) {
	tn := newTenant(t)
	ctx := testCtx(t)
	m, err := mapping.New(mapping.EntraSpec())
	require.NoError(t, err)
	sink := dirsynctest.NewMemorySink()
	sy, err := dirsync.New(tn.open(t), sink, &dirsync.Options{Source: "entra", Mapper: m})
	require.NoError(t, err)
	plan, err := sy.Plan(ctx)
	require.NoError(t, err)
	// Three enabled users are invited; bob, disabled at the source, is not.
	assert.Equal(t, 3, plan.Count(diff.OpCreate), plan.Summary())
	rep, err := sy.Apply(ctx, plan)
	require.NoError(t, err)
	assert.Zero(t, rep.Count(dirsync.StatusFailed))

	alice, ok := sink.Get("entra", tn.alice)
	require.True(t, ok)
	assert.Equal(t, "alice@contoso.test", alice.Email)
	assert.Equal(t, "alice@contoso.test", alice.Username)
	assert.Equal(t, "carol@contoso.test", alice.Manager, "manager looked up by object id")
	assert.Equal(t, "Sales lead", alice.Title)
	assert.False(t, alice.Blocked)
	_, ok = sink.Get("entra", tn.bob)
	assert.False(t, ok, "a user disabled at the source is not invited")
	dave, ok := sink.Get("entra", tn.dave)
	require.True(t, ok)
	assert.Equal(t, "dave@contoso.test", dave.Email, "mail falls back to the UPN")

	again, err := sy.Plan(ctx)
	require.NoError(t, err)
	assert.True(t, again.Empty(), again.String())
}

func TestOpenValidates(t *testing.T) {
	_, err := Open(t.Context(), Config{})
	require.Error(t, err)
	for _, want := range []string{"TenantID", "ClientID", "ClientSecret"} {
		assert.Contains(t, err.Error(), want)
	}
	_, err = Open(t.Context(), Config{TenantID: "t", ClientID: "c", ClientSecret: "s", GraphBaseURL: "ftp://x", PageSize: 5000})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "GraphBaseURL")
	assert.Contains(t, err.Error(), "PageSize")

	c, err := Open(t.Context(), Config{TenantID: "contoso.onmicrosoft.com", ClientID: "c", ClientSecret: "s"})
	require.NoError(t, err)
	assert.Equal(t, DefaultGraphBaseURL, c.Config().GraphBaseURL)
	assert.Equal(t, 999, c.Config().PageSize)
	assert.Equal(t, "department", c.Config().OrgPathAttribute)

	assert.Equal(t, "https://graph.microsoft.us/.default", scopeFor("https://graph.microsoft.us/v1.0"))
	assert.Equal(t, "https://login.microsoftonline.us/", cloudFor("https://graph.microsoft.us/v1.0").ActiveDirectoryAuthorityHost)
	assert.Equal(t, "https://login.chinacloudapi.cn/", cloudFor("https://microsoftgraph.chinacloudapi.cn/v1.0").ActiveDirectoryAuthorityHost)
}

func TestSecretRedacted(t *testing.T) {
	const secret = "s3cr3t-Value~1"
	const pemSecret = "-----BEGIN PRIVATE KEY-----MIIsecretkey"
	cfg := Config{TenantID: "t", ClientID: "c", ClientSecret: secret, CertificatePEM: pemSecret}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("config", "cfg", cfg)
	slog.New(slog.NewTextHandler(&buf, nil)).Info("config", "cfg", cfg)
	_, err := Open(t.Context(), cfg) // two credentials: refused
	require.Error(t, err)
	out := strings.Join([]string{cfg.String(), fmt.Sprint(cfg), fmt.Sprintf("%v %+v %#v %s %q", cfg, cfg, cfg, cfg, cfg),
		fmt.Sprintf("%+v", &cfg), buf.String(), err.Error()}, "\n")
	assert.NotContains(t, out, secret)
	assert.NotContains(t, out, "MIIsecretkey")
	assert.Contains(t, cfg.String(), "[redacted]")
	assert.Contains(t, buf.String(), `"clientSecretSet":true`)

	_, err = Open(t.Context(), Config{TenantID: "t", ClientID: "c", CertificatePEM: pemSecret})
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "MIIsecretkey")
}

// Config.Logger gets what each read fetched, marked connector=entra, and
// no token.
func TestLogger(t *testing.T) {
	tn := newTenant(t)
	var buf bytes.Buffer
	c := tn.open(t, func(c *Config) {
		c.Logger = slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	_, err := connector.ReadAll(testCtx(t), c)
	require.NoError(t, err)
	assert.Contains(t, buf.String(), "connector=entra")
	assert.Contains(t, buf.String(), "users=")
	assert.NotContains(t, buf.String(), fakegraph.Token)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err = Open(ctx, tn.config())
	assert.ErrorIs(t, err, context.Canceled)
}
