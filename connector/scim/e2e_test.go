package scim_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dirsync-go/dirsync"
	"github.com/dirsync-go/dirsync/connector"
	"github.com/dirsync-go/dirsync/connector/scim"
	"github.com/dirsync-go/dirsync/diff"
	"github.com/dirsync-go/dirsync/dirsynctest"
	"github.com/dirsync-go/dirsync/mapping"
	"github.com/dirsync-go/dirsync/policy"
	"github.com/dirsync-go/dirsync/store"
	"github.com/dirsync-go/dirsync/store/filestore"
)

// End to end: provider-shaped requests → handler → store → a Syncer with
// mapping.SCIMSpec → the in-memory sink, as a host wires it.

const source = "acme-scim"

type env struct {
	srv   *scim.Server
	c     *client
	sink  *dirsynctest.MemorySink
	sy    *dirsync.Syncer
	state dirsync.Store
}

func newEnv(t *testing.T, cfg scim.Config, pol policy.Config, accounts ...diff.Account) *env {
	t.Helper()
	srv, c := open(t, cfg)
	e := &env{srv: srv, c: c, sink: dirsynctest.NewMemorySink(accounts...), state: store.NewMemory()}
	e.sy = e.syncer(t, srv, pol)
	return e
}

func (e *env) syncer(t *testing.T, conn connector.Connector, pol policy.Config) *dirsync.Syncer {
	t.Helper()
	spec := mapping.SCIMSpec()
	spec.Roles = append(spec.Roles, mapping.RoleLink{Group: "Engineers", Role: "admin"})
	m, err := mapping.New(spec)
	require.NoError(t, err)
	p, err := policy.New(pol)
	require.NoError(t, err)
	sy, err := dirsync.New(conn, e.sink, &dirsync.Options{Source: source, Mapper: m, Policy: p, Store: e.state})
	require.NoError(t, err)
	return sy
}

// sync plans and applies; it returns the plan.
func (e *env) sync(t *testing.T) *dirsync.Plan {
	t.Helper()
	ctx := context.Background()
	plan, err := e.sy.Plan(ctx)
	require.NoError(t, err)
	_, err = e.sy.Apply(ctx, plan)
	require.NoError(t, err)
	return plan
}

// change returns the plan's change for the account with the external ID.
func change(t *testing.T, p *dirsync.Plan, externalID string) diff.Change {
	t.Helper()
	for _, c := range p.Changes {
		if a := c.Account(); a != nil && a.ExternalID == externalID {
			return c
		}
	}
	require.Failf(t, "no change", "for %s in\n%s", externalID, p)
	return diff.Change{}
}

// actionable counts the changes that do something.
func actionable(p *dirsync.Plan) int {
	n := 0
	for _, c := range p.Changes {
		if c.Op.Actionable() {
			n++
		}
	}
	return n
}

// appMatches checks that every live SCIM user has its account, blocked
// exactly when inactive, and that deleted users' accounts are blocked.
func appMatches(ctx context.Context, srv *scim.Server, sink *dirsynctest.MemorySink) error {
	var errs []error
	seen := 0
	for e, err := range srv.Read(ctx) {
		if err != nil {
			return err
		}
		if e.Kind != connector.KindUser {
			continue
		}
		seen++
		a, ok := sink.Get(source, e.ID)
		switch {
		case !ok && !e.Disabled:
			errs = append(errs, fmt.Errorf("%s: no account", e.ID))
		case ok && a.Blocked != e.Disabled:
			errs = append(errs, fmt.Errorf("%s: blocked %v, disabled %v", e.ID, a.Blocked, e.Disabled))
		case ok && a.Username != e.Attr("userName"):
			errs = append(errs, fmt.Errorf("%s: username %q, want %q", e.ID, a.Username, e.Attr("userName")))
		}
	}
	n := 0
	for _, a := range sink.Snapshot() {
		if a.Source == source && !a.Blocked {
			n++
		}
	}
	if live := countActive(ctx, srv); n != live {
		errs = append(errs, fmt.Errorf("%d unblocked accounts, %d active users", n, live))
	}
	return errors.Join(errs...)
}

func countActive(ctx context.Context, srv *scim.Server) int {
	n := 0
	for e, err := range srv.Read(ctx) {
		if err == nil && e.Kind == connector.KindUser && !e.Disabled {
			n++
		}
	}
	return n
}

func TestEntraProvisioningEndToEnd(t *testing.T) {
	e := newEnv(t, scim.Config{}, policy.Config{})
	ada := person{userName: "ada@contoso.com", given: "Ada", family: "Lovelace", email: "Ada@Contoso.com", externalID: "aad-1", department: "Engineering", title: "Engineer"}
	bob := person{userName: "bob@contoso.com", given: "Bob", family: "Byte", email: "bob@contoso.com", externalID: "aad-2", department: "Sales", title: "Rep"}
	aid, bid := entraCreateUser(t, e.c, ada), entraCreateUser(t, e.c, bob)

	p := e.sync(t)
	c := change(t, p, aid)
	assert.Equal(t, diff.OpCreate, c.Op)
	assert.True(t, c.HasReason(diff.ReasonNew), c.Status())
	a, ok := e.sink.Get(source, aid)
	require.True(t, ok)
	assert.Equal(t, "ada@contoso.com", a.Email)
	assert.Equal(t, "Ada", a.GivenName)
	assert.Equal(t, "Lovelace", a.FamilyName)
	assert.Equal(t, []string{"Engineering"}, a.Department)
	assert.Equal(t, diff.OpCreate, change(t, p, bid).Op)
	assert.Empty(t, actionable(e.sync(t)), "a second run has nothing to do")

	// Update.
	entraPatch(t, e.c, "/Users", aid, map[string]any{"op": "Replace", "path": "name.familyName", "value": "King"}).mustStatus(t, http.StatusOK)
	p = e.sync(t)
	c = change(t, p, aid)
	assert.Equal(t, diff.OpUpdate, c.Op)
	assert.True(t, c.HasReason(diff.ReasonChanged), c.Status())
	assert.Contains(t, c.Fields, diff.FieldChange{Name: diff.FieldFamilyName, Old: "Lovelace", New: "King"})
	assert.Equal(t, 1, actionable(p))

	// Disable: block, sessions end; the provider reads back what it wrote.
	a, _ = e.sink.Get(source, aid)
	entraDisable(t, e.c, aid)
	p = e.sync(t)
	c = change(t, p, aid)
	assert.Equal(t, diff.OpBlock, c.Op)
	assert.True(t, c.HasReason(diff.ReasonDisabled), c.Status())
	assert.Zero(t, e.sink.Sessions(a.ID))
	assert.Equal(t, false, e.c.do(http.MethodGet, "/Users/"+aid, nil).body["active"])

	// Re-enable.
	entraEnable(t, e.c, aid)
	c = change(t, e.sync(t), aid)
	assert.Equal(t, diff.OpUnblock, c.Op)
	assert.True(t, c.HasReason(diff.ReasonEnabled), c.Status())

	// Group membership gives and takes a role.
	gid := entraCreateGroup(t, e.c, "Engineers", "grp-1")
	entraAddMember(t, e.c, gid, aid)
	c = change(t, e.sync(t), aid)
	assert.Equal(t, diff.OpUpdate, c.Op)
	assert.Contains(t, c.Fields, diff.FieldChange{Name: diff.FieldRoles, Old: "", New: "admin"})
	entraRemoveMember(t, e.c, gid, aid)
	c = change(t, e.sync(t), aid)
	assert.Equal(t, diff.OpUpdate, c.Op)
	assert.Contains(t, c.Fields, diff.FieldChange{Name: diff.FieldRoles, Old: "admin", New: ""})

	// The manager, sent as Entra sends it (a plain id), maps to the
	// manager's email.
	entraPatch(t, e.c, "/Users", bid, map[string]any{"op": "Add", "path": urnEnterprise + ":manager", "value": aid}).mustStatus(t, http.StatusOK)
	c = change(t, e.sync(t), bid)
	assert.Equal(t, diff.OpUpdate, c.Op)
	assert.Contains(t, c.Fields, diff.FieldChange{Name: diff.FieldManager, Old: "", New: "ada@contoso.com"})

	// Delete: the account follows the missing-account lifecycle (block).
	e.c.do(http.MethodDelete, "/Users/"+bid, nil).mustStatus(t, http.StatusNoContent)
	c = change(t, e.sync(t), bid)
	assert.Equal(t, diff.OpBlock, c.Op)
	assert.True(t, c.HasReason(diff.ReasonDeleted), c.Status())
	require.NoError(t, appMatches(context.Background(), e.srv, e.sink))
}

func TestOktaProvisioningEndToEnd(t *testing.T) {
	e := newEnv(t, scim.Config{}, policy.Config{})
	p1 := person{userName: "test.user@okta.local", given: "Test", family: "User", email: "test.user@okta.local", externalID: "00u1", title: "Tester"}
	p2 := person{userName: "second@okta.local", given: "Second", family: "User", email: "second@okta.local", externalID: "00u2"}
	id1, id2 := oktaCreateUser(t, e.c, p1), oktaCreateUser(t, e.c, p2)
	p := e.sync(t)
	assert.Equal(t, diff.OpCreate, change(t, p, id1).Op)
	assert.Equal(t, diff.OpCreate, change(t, p, id2).Op)

	// Full-user PUT: the title changed.
	p1.title = "Lead"
	oktaPut(t, e.c, id1, p1, true)
	c := change(t, e.sync(t), id1)
	assert.Equal(t, diff.OpUpdate, c.Op)
	assert.Contains(t, c.Fields, diff.FieldChange{Name: diff.FieldTitle, Old: "Tester", New: "Lead"})

	// Deactivate and reactivate; Okta never DELETEs.
	oktaSetActive(t, e.c, id2, false)
	c = change(t, e.sync(t), id2)
	assert.Equal(t, diff.OpBlock, c.Op)
	assert.True(t, c.HasReason(diff.ReasonDisabled))
	oktaSetActive(t, e.c, id2, true)
	assert.Equal(t, diff.OpUnblock, change(t, e.sync(t), id2).Op)

	// Group push by PATCH on members.
	gid := oktaCreateGroup(t, e.c, "Engineers")
	oktaAddMembers(t, e.c, gid, id1, id2)
	p = e.sync(t)
	for _, id := range []string{id1, id2} {
		c := change(t, p, id)
		assert.Contains(t, c.Fields, diff.FieldChange{Name: diff.FieldRoles, Old: "", New: "admin"})
	}
	oktaRemoveMember(t, e.c, gid, id1)
	c = change(t, e.sync(t), id1)
	assert.Contains(t, c.Fields, diff.FieldChange{Name: diff.FieldRoles, Old: "admin", New: ""})
	require.NoError(t, appMatches(context.Background(), e.srv, e.sink))
}

// Exceptions and out-of-scope users are left alone, whatever is pushed,
// and shown in the plan with their reason.
func TestExceptionsAndScopeUntouched(t *testing.T) {
	pol := policy.Config{
		Exceptions: []policy.Exception{{Email: "vip@contoso.com", Note: "break-glass"}},
		Scope: policy.ScopeConfig{Rules: []policy.ScopeRule{
			{Action: "exclude", Attr: "department", Equals: "Contractors"},
			{Action: "include", Attr: "userName", Regex: "."},
		}},
	}
	vipAccount := diff.Account{Email: "vip@contoso.com", Username: "vip", GivenName: "Very", Blocked: false}
	e := newEnv(t, scim.Config{}, pol, vipAccount)
	vip := entraCreateUser(t, e.c, person{userName: "vip@contoso.com", email: "vip@contoso.com", given: "V", family: "IP", externalID: "v", department: "Board"})
	con := entraCreateUser(t, e.c, person{userName: "con@contoso.com", email: "con@contoso.com", given: "C", family: "On", externalID: "c", department: "Contractors"})
	emp := entraCreateUser(t, e.c, person{userName: "emp@contoso.com", email: "emp@contoso.com", given: "E", family: "Mp", externalID: "e", department: "Engineering"})
	p := e.sync(t)
	assert.Equal(t, diff.OpCreate, change(t, p, emp).Op)
	_, ok := e.sink.Get(source, con)
	assert.False(t, ok, "an out-of-scope user is not invited")
	assert.Contains(t, p.String(), "con@contoso.com")
	var vipChange *diff.Change
	for i := range p.Changes {
		if a := p.Changes[i].Account(); a != nil && a.Email == "vip@contoso.com" {
			vipChange = &p.Changes[i]
		}
	}
	require.NotNil(t, vipChange, "the excepted account is listed")
	assert.Equal(t, diff.OpSkip, vipChange.Op)
	assert.True(t, vipChange.HasReason(diff.ReasonException), vipChange.Status())

	// Disabling both changes neither.
	entraDisable(t, e.c, vip)
	entraDisable(t, e.c, con)
	p = e.sync(t)
	for _, a := range e.sink.Snapshot() {
		if a.Email == "vip@contoso.com" {
			assert.False(t, a.Blocked)
			assert.Equal(t, "Very", a.GivenName)
		}
	}
	_, ok = e.sink.Get(source, con)
	assert.False(t, ok)
	assert.Zero(t, actionable(p), "%s", p)
}

// A flood of deactivations over the safety limit waits for approval: the
// app does not change, while the provider reads back what it wrote.
func TestDeactivationFloodHitsSafetyLimit(t *testing.T) {
	e := newEnv(t, scim.Config{}, policy.Config{Safety: policy.Safety{MaxRemovals: 10}})
	var ids []string
	for i := range 60 {
		ids = append(ids, oktaCreateUser(t, e.c, person{userName: fmt.Sprintf("u%d@okta.local", i), email: fmt.Sprintf("u%d@okta.local", i), given: "U", family: fmt.Sprint(i)}))
	}
	e.sync(t)
	before := e.sink.Snapshot()
	for _, id := range ids[:40] {
		oktaSetActive(t, e.c, id, false)
	}
	ctx := context.Background()
	plan, err := e.sy.Plan(ctx)
	require.ErrorIs(t, err, dirsync.ErrSafetyLimit)
	var se *policy.SafetyError
	require.ErrorAs(t, err, &se)
	_, err = e.sy.Apply(ctx, plan)
	require.ErrorIs(t, err, dirsync.ErrSafetyLimit)
	assert.Equal(t, before, e.sink.Snapshot(), "nothing applied")
	rec, err := e.sy.RunOnce(ctx, "scim", dirsync.ModeAutomatic)
	require.NoError(t, err)
	assert.Equal(t, dirsync.OutcomeWaiting, rec.Outcome)
	assert.Equal(t, before, e.sink.Snapshot(), "nothing applied")
	for _, id := range ids[:40] {
		assert.Equal(t, false, e.c.do(http.MethodGet, "/Users/"+id, nil).body["active"])
	}
	// Approved, it applies.
	pending := e.pending(t)
	require.NotNil(t, pending)
	_, err = e.sy.ApprovePending(ctx, pending.Digest())
	require.NoError(t, err)
	require.NoError(t, appMatches(ctx, e.srv, e.sink))
}

// A crash between the store write and the apply — the provider was
// answered, the app was not updated, and the process died mid-apply —
// converges on the next run after a restart: nothing lost, nothing done
// twice.
func TestKillBetweenStoreWriteAndApplyConverges(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	openAll := func(sink *dirsynctest.MemorySink) (*scim.Journal, *env) {
		st, err := scim.OpenJournal(filepath.Join(dir, "acme.scim"))
		require.NoError(t, err)
		srv, err := scim.Open(ctx, scim.Config{Resources: st})
		require.NoError(t, err)
		state, err := filestore.Open(filepath.Join(dir, "dirsync.json"))
		require.NoError(t, err)
		e := &env{srv: srv, sink: sink, state: state}
		e.sy = e.syncer(t, srv, policy.Config{})
		return st, e
	}
	sink := dirsynctest.NewMemorySink()
	st, e := openAll(sink)
	tok, err := e.srv.RotateToken(ctx)
	require.NoError(t, err)
	e.c = newClient(t, e.srv, tok)
	var ids []string
	for i := range 6 {
		ids = append(ids, oktaCreateUser(t, e.c, person{userName: fmt.Sprintf("k%d@x", i), email: fmt.Sprintf("k%d@x", i), given: "K"}))
	}
	e.sync(t) // the cursor is saved

	// Writes the provider was told about...
	oktaSetActive(t, e.c, ids[0], false)
	oktaSetActive(t, e.c, ids[1], false)
	ids = append(ids, oktaCreateUser(t, e.c, person{userName: "late@x", email: "late@x", given: "L"}))
	// ...and an apply that dies after its first change.
	applied := 0
	sink.Fail = func(diff.Change) error {
		if applied++; applied > 1 {
			return errors.New("killed")
		}
		return nil
	}
	plan, err := e.sy.Plan(ctx)
	require.NoError(t, err)
	require.True(t, plan.Incremental)
	_, err = e.sy.Apply(ctx, plan)
	require.Error(t, err)
	require.Error(t, appMatches(ctx, e.srv, sink), "the app is behind")
	require.NoError(t, st.Close())

	// Restart: new Server and Syncer over the same files and app.
	sink.Fail = nil
	st, e = openAll(sink)
	defer st.Close()
	e.sync(t)
	require.NoError(t, appMatches(ctx, e.srv, sink))
	assert.Zero(t, actionable(e.sync(t)))
	n := 0
	for _, a := range sink.Snapshot() {
		if a.Source == source {
			n++
		}
	}
	assert.Equal(t, len(ids), n, "no account created twice")
}

// An accepted write triggers a sync through OnChange → Syncer.SyncNow:
// the provider's request is answered while the app's sink is still busy,
// and the app matches once it is done.
func TestWriteTriggersAsyncSync(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var sy *dirsync.Syncer
	release := make(chan struct{})
	var once sync.Once
	// OnChange itself blocks until released, and so does the sink: the
	// provider's request is answered anyway.
	e := newEnv(t, scim.Config{OnChange: func(context.Context) { <-release; sy.SyncNow() }}, policy.Config{})
	sy = e.sy
	e.sink.Fail = func(diff.Change) error { <-release; return nil }
	done := make(chan error, 1)
	go func() {
		done <- sy.Run(ctx, &dirsync.RunOptions{SkipInitial: true, Schedule: dirsync.Schedule{Every: time.Hour}})
	}()

	id := oktaCreateUser(t, e.c, person{userName: "async@x", email: "async@x", given: "A"})
	// Answered although the sink is blocked.
	_, ok := e.sink.Get(source, id)
	assert.False(t, ok)
	once.Do(func() { close(release) })
	require.Eventually(t, func() bool { _, ok := e.sink.Get(source, id); return ok }, 30*time.Second, 5*time.Millisecond)

	// More writes while runs go on: all reach the app.
	for i := range 5 {
		oktaCreateUser(t, e.c, person{userName: fmt.Sprintf("more%d@x", i), email: fmt.Sprintf("more%d@x", i), given: "M"})
	}
	require.Eventually(t, func() bool { return appMatches(ctx, e.srv, e.sink) == nil }, 30*time.Second, 5*time.Millisecond)
	cancel()
	<-done
	e.srv.Wait()
}

// In approval mode a push leaves a pending plan: the app does not change
// and the provider reads back what it wrote.
func TestApprovalModePush(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, scim.Config{}, policy.Config{})
	id := oktaCreateUser(t, e.c, person{userName: "wait@x", email: "wait@x", given: "W"})
	rec, err := e.sy.RunOnce(ctx, "scim", dirsync.ModeApproval)
	require.NoError(t, err)
	assert.Equal(t, dirsync.OutcomeWaiting, rec.Outcome)
	_, ok := e.sink.Get(source, id)
	assert.False(t, ok)
	assert.Equal(t, "wait@x", e.c.do(http.MethodGet, "/Users/"+id, nil).body["userName"])
	_, err = e.sy.ApprovePending(ctx, e.pending(t).Digest())
	require.NoError(t, err)
	_, ok = e.sink.Get(source, id)
	assert.True(t, ok)
}

// pending is the plan waiting for approval in the Syncer's Store.
func (e *env) pending(t *testing.T) *dirsync.Plan {
	t.Helper()
	p, err := e.sy.PendingPlan(context.Background())
	require.NoError(t, err)
	return p
}
