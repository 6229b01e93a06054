package dirsync_test

import (
	"context"
	"fmt"
	"iter"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/dirsync-go/dirsync"
	"github.com/dirsync-go/dirsync/connector"
	"github.com/dirsync-go/dirsync/connector/fake"
	"github.com/dirsync-go/dirsync/diff"
	"github.com/dirsync-go/dirsync/dirsynctest"
	"github.com/dirsync-go/dirsync/mapping"
	"github.com/dirsync-go/dirsync/policy"
	"github.com/dirsync-go/dirsync/store"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// projecting is a connector.Projector over a fake directory: a projection
// yields entries with only the projected attributes, as a directory asked
// for fewer attributes does, and records every projection it was asked
// for.
type projecting struct {
	dir *fake.Directory
	mu  *sync.Mutex
	log *[][]string
	// attrs is nil on the unprojected connector.
	attrs []string
}

func newProjecting(dir *fake.Directory) *projecting {
	return &projecting{dir: dir, mu: &sync.Mutex{}, log: &[][]string{}}
}

func (p *projecting) Project(attrs []string) connector.Connector {
	p.mu.Lock()
	*p.log = append(*p.log, slices.Clone(attrs))
	p.mu.Unlock()
	return &projecting{dir: p.dir, mu: p.mu, log: p.log, attrs: slices.Clone(attrs)}
}

func (p *projecting) projections() [][]string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(*p.log)
}

func (p *projecting) cut(e connector.Entry) connector.Entry {
	if p.attrs == nil {
		return e
	}
	out := e
	out.Attrs = connector.Attrs{}
	for _, a := range p.attrs {
		if v := e.Attrs.Values(a); v != nil {
			out.Attrs.Set(a, v...)
		}
	}
	// Memberships are read only when projected, as the AD connector
	// reads member and memberOf.
	if !slices.Contains(p.attrs, "memberof") {
		out.MemberOf = nil
	}
	if !slices.Contains(p.attrs, "member") {
		out.Members = nil
	}
	return out
}

func (p *projecting) Read(ctx context.Context) iter.Seq2[connector.Entry, error] {
	return func(yield func(connector.Entry, error) bool) {
		for e, err := range p.dir.Read(ctx) {
			if !yield(p.cut(e), err) {
				return
			}
		}
	}
}

func (p *projecting) ReadChanges(ctx context.Context, since connector.Cursor, yield func(connector.Entry) error) (connector.Cursor, error) {
	return p.dir.ReadChanges(ctx, since, func(e connector.Entry) error { return yield(p.cut(e)) })
}

var (
	_ connector.Projector   = (*projecting)(nil)
	_ connector.Incremental = (*projecting)(nil)
)

func projectionDir(t *testing.T) *fake.Directory {
	t.Helper()
	entries := fake.Company(300, 14)
	for i := range entries {
		if entries[i].Kind == connector.KindUser {
			entries[i].Attrs.Set("physicalDeliveryOfficeName", fmt.Sprintf("Room %d", i))
			entries[i].Attrs.Set("info", "nobody maps this")
		}
	}
	return fake.New(entries...)
}

// A Syncer reads through a projection of the attributes its mapping and
// policy name, and the plan is the one an unprojected read gives.
func TestPlanReadsOnlyProjectedAttributes(t *testing.T) {
	pol, err := policy.New(policy.Config{Scope: policy.ScopeConfig{Rules: []policy.ScopeRule{
		{Name: "no interns", Attr: "employeeType", Equals: "intern", Action: policy.ActionExclude},
	}}})
	require.NoError(t, err)
	dir := projectionDir(t)
	pc := newProjecting(dir)
	sy := newSyncer(t, pc, dirsynctest.NewMemorySink(), &dirsync.Options{Policy: pol})
	got, err := sy.Plan(context.Background())
	require.NoError(t, err)

	proj := pc.projections()
	require.Len(t, proj, 1, "one projection per read")
	m, err := mapping.New(mapping.ADSpec())
	require.NoError(t, err)
	for _, a := range append(m.Attributes(), "employeetype") {
		assert.Contains(t, proj[0], a)
	}
	assert.NotContains(t, proj[0], "info")
	assert.NotContains(t, proj[0], "physicaldeliveryofficename")

	plain := newSyncer(t, dir, dirsynctest.NewMemorySink(), &dirsync.Options{Policy: pol})
	want, err := plain.Plan(context.Background())
	require.NoError(t, err)
	assert.Equal(t, want.String(), got.String())
}

// A rule added to the mapping reaches the next read: the next Syncer's
// projection names the new attribute, and the read is full (a cursor of
// the narrower projection does not report changes of that attribute).
func TestRuleAddedAtRunTimeReachesNextRead(t *testing.T) {
	ctx := context.Background()
	dir := projectionDir(t)
	pc := newProjecting(dir)
	sink := dirsynctest.NewMemorySink()
	st := store.NewMemory()
	sy := newSyncer(t, pc, sink, &dirsync.Options{Store: st})
	p, err := sy.Plan(ctx)
	require.NoError(t, err)
	created := 0
	for _, c := range p.Changes {
		if c.Op == diff.OpCreate {
			created++
		}
	}
	require.Positive(t, created)
	_, err = sy.Apply(ctx, p)
	require.NoError(t, err)
	p, err = sy.Plan(ctx)
	require.NoError(t, err)
	require.True(t, p.Incremental, "unchanged configuration reads incrementally")

	spec := mapping.ADSpec()
	spec.Rules = append(spec.Rules, mapping.Rule{Target: diff.ExtraPrefix + "office", From: []string{"physicalDeliveryOfficeName"}})
	m, err := mapping.New(spec)
	require.NoError(t, err)
	sy2 := newSyncer(t, pc, sink, &dirsync.Options{Store: st, Mapper: m})
	p2, err := sy2.Plan(ctx)
	require.NoError(t, err)
	assert.False(t, p2.Incremental, "a wider projection starts with a full read")
	proj := pc.projections()
	assert.Contains(t, proj[len(proj)-1], "physicaldeliveryofficename")
	assert.NotContains(t, proj[0], "physicaldeliveryofficename")
	n := 0
	for _, c := range p2.Changes {
		if c.Op == diff.OpUpdate && c.After != nil && strings.HasPrefix(c.After.Extra["office"], "Room ") {
			n++
		}
	}
	assert.Equal(t, created, n, "every synced user gets the newly mapped attribute")
}

// Syncers with different mappings read one connector at the same time,
// each through its own projection.
func TestConcurrentProjections(t *testing.T) {
	dir := projectionDir(t)
	pc := newProjecting(dir)
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			spec := mapping.ADSpec()
			attr := fmt.Sprintf("extensionAttribute%d", i)
			spec.Rules = append(spec.Rules, mapping.Rule{Target: diff.ExtraPrefix + "x", From: []string{attr}})
			m, err := mapping.New(spec)
			assert.NoError(t, err)
			sy, err := dirsync.New(pc, dirsynctest.NewMemorySink(), &dirsync.Options{Mapper: m, AlwaysFull: true})
			assert.NoError(t, err)
			_, err = sy.Plan(context.Background())
			assert.NoError(t, err)
		}()
	}
	wg.Wait()
	proj := pc.projections()
	require.Len(t, proj, 4)
	seen := map[string]bool{}
	for _, p := range proj {
		for _, a := range p {
			if strings.HasPrefix(a, "extensionattribute") {
				assert.False(t, seen[a], "%s in two projections", a)
				seen[a] = true
			}
		}
	}
	assert.Len(t, seen, 4)
}

// groupName returns the cn of a group of the directory with members.
func groupName(t *testing.T, dir *fake.Directory) string {
	t.Helper()
	for e, err := range dir.Read(context.Background()) {
		require.NoError(t, err)
		if e.Kind == connector.KindGroup && len(e.Members) > 0 && e.Attr("cn") != "" {
			return e.Attr("cn")
		}
	}
	t.Fatal("no group with members")
	return ""
}

// The projection names group memberships (memberof, member) exactly when
// the mapping's role links or the policy's group scope rules read them,
// and a plan through the projection is the unprojected plan either way.
func TestProjectionNamesMembershipsOnlyWhenGroupsAreUsed(t *testing.T) {
	dir := projectionDir(t)
	group := groupName(t, dir)
	roles := mapping.ADSpec()
	roles.Roles = []mapping.RoleLink{{Group: group, Role: "admin"}}
	byGroup, err := policy.New(policy.Config{Scope: policy.ScopeConfig{Rules: []policy.ScopeRule{
		{Name: "not " + group, Group: group, Action: policy.ActionExclude},
	}}})
	require.NoError(t, err)
	cases := []struct {
		name   string
		spec   mapping.Spec
		pol    *policy.Policy
		groups bool
	}{
		{"no groups", mapping.ADSpec(), nil, false},
		{"role links", roles, nil, true},
		{"group scope rule", mapping.ADSpec(), byGroup, true},
		{"both", roles, byGroup, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m, err := mapping.New(tc.spec)
			require.NoError(t, err)
			pc := newProjecting(dir)
			sy := newSyncer(t, pc, dirsynctest.NewMemorySink(), &dirsync.Options{Mapper: m, Policy: tc.pol})
			got, err := sy.Plan(context.Background())
			require.NoError(t, err)
			proj := pc.projections()
			require.Len(t, proj, 1)
			assert.Equal(t, tc.groups, slices.Contains(proj[0], "memberof"), "memberof in %v", proj[0])
			assert.Equal(t, tc.groups, slices.Contains(proj[0], "member"), "member in %v", proj[0])

			plain := newSyncer(t, dir, dirsynctest.NewMemorySink(), &dirsync.Options{Mapper: m, Policy: tc.pol})
			want, err := plain.Plan(context.Background())
			require.NoError(t, err)
			assert.Equal(t, want.String(), got.String())
		})
	}
}

// A Syncer that starts using groups (a role link added to the mapping)
// does not read incrementally from the cursor of a read that carried no
// memberships: the projection, hence the fingerprint, changed, so the next
// read is full, and the roles are right.
func TestGroupsUsedAtRunTimeForceFullRead(t *testing.T) {
	ctx := context.Background()
	dir := projectionDir(t)
	group := groupName(t, dir)
	pc := newProjecting(dir)
	sink := dirsynctest.NewMemorySink()
	st := store.NewMemory()
	sy := newSyncer(t, pc, sink, &dirsync.Options{Store: st})
	p, err := sy.Plan(ctx)
	require.NoError(t, err)
	_, err = sy.Apply(ctx, p)
	require.NoError(t, err)
	p, err = sy.Plan(ctx)
	require.NoError(t, err)
	require.True(t, p.Incremental)
	assert.NotContains(t, pc.projections()[0], "memberof")

	spec := mapping.ADSpec()
	spec.Roles = []mapping.RoleLink{{Group: group, Role: "admin"}}
	m, err := mapping.New(spec)
	require.NoError(t, err)
	sy2 := newSyncer(t, pc, sink, &dirsync.Options{Store: st, Mapper: m})
	p2, err := sy2.Plan(ctx)
	require.NoError(t, err)
	assert.False(t, p2.Incremental, "a projection that adds memberships starts with a full read")
	proj := pc.projections()
	assert.Contains(t, proj[len(proj)-1], "memberof")
	admins := 0
	for _, c := range p2.Changes {
		if c.After != nil && slices.Contains(c.After.Roles, "admin") {
			admins++
		}
	}
	assert.Positive(t, admins, "members of %s get the role", group)
}
