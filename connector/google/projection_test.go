package google_test

import (
	"context"
	"encoding/json"
	"iter"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dirsync-go/dirsync"
	"github.com/dirsync-go/dirsync/connector"
	"github.com/dirsync-go/dirsync/diff"
	"github.com/dirsync-go/dirsync/dirsynctest"
	"github.com/dirsync-go/dirsync/internal/fakegoogle"
	"github.com/dirsync-go/dirsync/mapping"
	"github.com/dirsync-go/dirsync/store"
)

// unprojected hides Project: the Syncer reads it with the default fields.
type unprojected struct{ c connector.Incremental }

func (u unprojected) Read(ctx context.Context) iter.Seq2[connector.Entry, error] {
	return u.c.(connector.Connector).Read(ctx)
}
func (u unprojected) ReadChanges(ctx context.Context, since connector.Cursor, yield func(connector.Entry) error) (connector.Cursor, error) {
	return u.c.ReadChanges(ctx, since, yield)
}

// userFieldsOf returns the sorted top-level fields inside users(…) of each
// recorded users.list request.
func userFieldsOf(t *testing.T, fk *fakegoogle.Server) [][]string {
	t.Helper()
	var out [][]string
	for _, f := range fk.Fields("users") {
		_, inner, ok := strings.Cut(f, "users(")
		require.True(t, ok, "fields %q without users(…)", f)
		inner, _, _ = strings.Cut(inner, ")")
		l := strings.Split(inner, ",")
		slices.Sort(l)
		out = append(out, l)
	}
	return out
}

// The top-level user fields the connector can read, and those it reads
// whatever the projection.
var (
	googleFields = []string{"id", "primaryEmail", "name", "suspended", "archived", "orgUnitPath",
		"emails", "aliases", "organizations", "phones", "relations", "customSchemas"}
	googleOwn = []string{"archived", "id", "orgUnitPath", "primaryEmail", "suspended"}
	// attrOf is an attribute name each field yields (for extra rules).
	attrOf = map[string]string{"emails": "emails.address", "aliases": "aliases", "customSchemas": "customschemas.HR.costCode",
		"name": "name.fullName", "organizations": "organizations.location", "phones": "phones.mobile", "relations": "relations.manager"}
)

// For mapping.GoogleSpec, and for GoogleSpec with random extra rules, a
// plan through a Syncer asks users.list for exactly the fields the mapping
// reads plus the connector's own; every user entry carries only
// attributes of those fields; and the plan is byte-identical to the plan
// of an unprojected read.
func TestProjectedPlanAsksForMappedFields(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 9))
	for round := range 8 {
		spec := mapping.GoogleSpec()
		// The fields GoogleSpec reads.
		want := []string{"primaryEmail", "name", "organizations", "phones", "relations", "orgUnitPath"}
		if round > 0 {
			for _, f := range googleFields {
				if a, ok := attrOf[f]; ok && !slices.Contains(want, f) && rng.IntN(2) == 0 {
					spec.Rules = append(spec.Rules, mapping.Rule{Target: diff.ExtraPrefix + "x" + strings.ToLower(f), From: []string{a}})
					want = append(want, f)
				}
			}
			spec.Rules = append(spec.Rules, mapping.Rule{Target: diff.ExtraPrefix + "ad", From: []string{"sAMAccountName"}})
		}
		for _, f := range googleOwn {
			if !slices.Contains(want, f) {
				want = append(want, f)
			}
		}
		slices.Sort(want)

		ctx := testCtx(t)
		fk := newFake(t)
		m, err := mapping.New(spec)
		require.NoError(t, err)
		plans := map[bool][]byte{}
		for _, project := range []bool{true, false} {
			fk.ResetCounts()
			var conn connector.Connector = open(t, fk)
			if !project {
				conn = unprojected{open(t, fk)}
			}
			sy, err := dirsync.New(conn, dirsynctest.NewMemorySink(), &dirsync.Options{Source: "google", Mapper: m})
			require.NoError(t, err)
			p, err := sy.Plan(ctx)
			require.NoError(t, err)
			require.Positive(t, p.Count(diff.OpCreate))
			plans[project], err = json.Marshal(p)
			require.NoError(t, err)
			fields := userFieldsOf(t, fk)
			require.NotEmpty(t, fields)
			for _, f := range fields {
				if project {
					assert.Equal(t, want, f, "round %d", round)
				} else {
					assert.ElementsMatch(t, googleFields, f)
				}
			}
		}
		assert.Equal(t, string(plans[false]), string(plans[true]), "round %d: the projected read plans the same", round)

		entries, err := connector.ReadAll(ctx, open(t, fk).Project(m.Attributes()))
		require.NoError(t, err)
		for _, e := range entries {
			if e.Kind != connector.KindUser {
				continue
			}
			for name := range e.Attrs {
				top, _, _ := strings.Cut(name, ".")
				assert.True(t, slices.ContainsFunc(want, func(w string) bool { return strings.EqualFold(w, top) }),
					"round %d: %s carries %q", round, e.ID, name)
			}
		}
	}
}

// Project does not change the receiver.
func TestProjectLeavesReceiver(t *testing.T) {
	fk := newFake(t)
	c := open(t, fk)
	_, err := connector.ReadAll(testCtx(t), c.Project(nil))
	require.NoError(t, err)
	_, err = connector.ReadAll(testCtx(t), c)
	require.NoError(t, err)
	f := userFieldsOf(t, fk)
	require.Len(t, f, 2)
	assert.Equal(t, googleOwn, f[0])
	assert.ElementsMatch(t, googleFields, f[1])
}

// A rule added at run time reaches the next read: a new Syncer with the
// widened spec asks for the new field, reads in full and maps it.
func TestRuleAddedAtRunTimeReachesNextRead(t *testing.T) {
	ctx := testCtx(t)
	fk := newFake(t)
	c := open(t, fk)
	sink := dirsynctest.NewMemorySink()
	store := store.NewMemory()
	m, err := mapping.New(mapping.GoogleSpec())
	require.NoError(t, err)
	sy, err := dirsync.New(c, sink, &dirsync.Options{Source: "google", Mapper: m, Store: store})
	require.NoError(t, err)
	p, err := sy.Plan(ctx)
	require.NoError(t, err)
	_, err = sy.Apply(ctx, p)
	require.NoError(t, err)
	for _, f := range userFieldsOf(t, fk) {
		assert.NotContains(t, f, "aliases")
	}
	fk.UpdateUser("u1", func(u *fakegoogle.User) { u.Extra = map[string]any{"aliases": []any{"ali@example.com"}} })
	fk.UpdateUser("u3", func(u *fakegoogle.User) { u.Extra = map[string]any{"aliases": []any{"boss@example.com"}} })

	spec := mapping.GoogleSpec()
	spec.Rules = append(spec.Rules, mapping.Rule{Target: diff.ExtraPrefix + "alias", From: []string{"aliases"}})
	m2, err := mapping.New(spec)
	require.NoError(t, err)
	sy2, err := dirsync.New(c, sink, &dirsync.Options{Source: "google", Mapper: m2, Store: store})
	require.NoError(t, err)
	fk.ResetCounts()
	p2, err := sy2.Plan(ctx)
	require.NoError(t, err)
	assert.False(t, p2.Incremental, "a wider projection reads in full")
	f := userFieldsOf(t, fk)
	require.NotEmpty(t, f)
	assert.Contains(t, f[0], "aliases")
	aliases := map[string]string{}
	for _, ch := range p2.Changes {
		if ch.Op == diff.OpUpdate && ch.After != nil {
			aliases[ch.After.ExternalID] = ch.After.Extra["alias"]
		}
	}
	assert.Equal(t, map[string]string{"u1": "ali@example.com", "u3": "boss@example.com"}, aliases)
}
