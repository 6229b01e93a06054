package planner

import (
	"context"
	"encoding/json"
	"fmt"
	"iter"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"

	"github.com/dirsync-go/dirsync/connector"
	"github.com/dirsync-go/dirsync/diff"
	"github.com/dirsync-go/dirsync/mapping"
	"github.com/dirsync-go/dirsync/policy"
)

// planWhole is a full plan as the Syncer made it before the compact plan
// (commit bb30a26): every desired account and every listed app account go
// to one diff.Compute. It is the reference the differential tests below
// compare the compact plan with.
func (tp *testPlanner) planWhole(ctx context.Context) (*Result, error) {
	src := readAllSource(tp.reader())
	start := tp.now()
	ds, sourceUsers, cursor, err := tp.readDesired(ctx, src)
	if err != nil {
		return nil, err
	}
	desired := make([]diff.Desired, len(ds.refs))
	for i, x := range ds.refs {
		ds.ar.desired(x, &reader{clone: true}, &desired[i])
	}
	current, err := Accounts(ctx, tp.sink)
	if err != nil {
		return nil, err
	}
	st := tp.state()
	dp, err := tp.Compute(ctx, desired, current, nil, st)
	if err != nil {
		return nil, err
	}
	return &Result{Plan: *dp, Started: start, Managed: ManagedIn(current, tp.source), SourceUsers: sourceUsers, Cursor: cursor}, nil
}

// reviewConn yields entries as they are, each a copy.
type reviewConn []connector.Entry

func (c reviewConn) Read(ctx context.Context) iter.Seq2[connector.Entry, error] {
	return func(yield func(connector.Entry, error) bool) {
		for _, e := range c {
			if !yield(e.Clone(), nil) {
				return
			}
		}
	}
}

// Hostile values: the same email in other cases, with spaces, in NFC and
// NFD; DNs with escaped commas and spaces after commas.
var (
	reviewEmails = []string{"ann@x.test", "ANN@x.test", " ann@x.test ", "jos\u00e9@x.test", "jose\u0301@x.test",
		"bob@x.test", "", "svc-backup@x.test"}
	reviewOUs   = []string{"OU=Sales Users", "OU=Staff", `OU=Ops\, EU users`, "OU=Gone"}
	reviewNames = []string{"Ann", "Bob", `Doe\, John`, "Zoë", "svc-backup", "ann"}
	reviewDepts = []string{"", "Sales", "R&D", "Sales/EMEA", "a\x00b"}
	reviewIDs   = []string{"u1", "U1", "u2", "u3", " u4", "u5", "u6", "u7", ""}
)

func genReviewEntries(t *rapid.T) []connector.Entry {
	n := rapid.IntRange(0, 9).Draw(t, "users")
	var out []connector.Entry
	ids := rapid.Permutation(reviewIDs).Draw(t, "ids")
	for i := range min(n, len(ids)) {
		ou := rapid.SampledFrom(reviewOUs).Draw(t, "ou")
		name := rapid.SampledFrom(reviewNames).Draw(t, "name")
		e := connector.Entry{ID: ids[i], Kind: rapid.SampledFrom([]connector.Kind{connector.KindUser, connector.KindUser, ""}).Draw(t, "userKind"),
			DN:   fmt.Sprintf("CN=%s %d,%s,DC=x,DC=test", name, i, ou),
			Path: []string{strings.ReplaceAll(strings.TrimPrefix(ou, "OU="), `\,`, ",")}}
		switch rapid.IntRange(0, 4).Draw(t, "path") {
		case 1:
			e.Path = []string{"a", "b"}
		case 2:
			e.Path = []string{"a\x00b"}
		}
		e.Attrs = connector.Attrs{}
		e.Attrs.Set("sAMAccountName", strings.ToLower(strings.ReplaceAll(name, `\, `, ""))+fmt.Sprint(i%3))
		if m := rapid.SampledFrom(reviewEmails).Draw(t, "mail"); m != "" {
			e.Attrs.Set("mail", m)
		}
		if rapid.IntRange(0, 3).Draw(t, "upn") == 0 {
			e.Attrs.Set("userPrincipalName", rapid.SampledFrom(reviewEmails).Draw(t, "upnValue"))
		}
		e.Attrs.Set("givenName", name)
		e.Attrs.Set("title", rapid.SampledFrom([]string{"", "Engineer", "Boss"}).Draw(t, "title"))
		if d := rapid.SampledFrom(reviewDepts).Draw(t, "dept"); d != "" {
			e.Attrs.Set("department", d)
		}
		e.Attrs.Set("costCenter", rapid.SampledFrom([]string{"", "42", "43"}).Draw(t, "cost"))
		if rapid.Bool().Draw(t, "hasEmployeeID") {
			e.Attrs.Set("employeeID", rapid.SampledFrom([]string{"E1", "E2", "e1", ""}).Draw(t, "employeeID"))
		}
		if strings.HasPrefix(name, "svc") || rapid.IntRange(0, 8).Draw(t, "long") == 0 {
			e.Attrs.Set("description", strings.Repeat("d", arenaChunk+1))
		}
		e.Disabled = rapid.IntRange(0, 4).Draw(t, "disabled") == 0
		e.Deleted = rapid.IntRange(0, 12).Draw(t, "deleted") == 0
		out = append(out, e)
	}
	// Managers: another user's DN in other spellings, its ID, a DN that
	// names nobody, or an entry of another kind.
	for i := range out {
		if len(out) == 0 || rapid.IntRange(0, 2).Draw(t, "noManager") == 0 {
			continue
		}
		m := out[rapid.IntRange(0, len(out)-1).Draw(t, "manager")]
		var ref string
		switch rapid.IntRange(0, 6).Draw(t, "managerSpelling") {
		case 0:
			ref = m.DN
		case 1:
			ref = strings.ToUpper(m.DN)
		case 2:
			ref = strings.ReplaceAll(m.DN, ",", ", ")
		case 3:
			ref = " " + m.ID + " "
		case 4:
			ref = "CN=Ghost,OU=Gone,DC=x,DC=test"
		case 5:
			ref = strings.ReplaceAll(m.DN, "=", " = ")
		case 6:
			ref = m.ID
		}
		out[i].Attrs.Set("manager", ref)
	}
	// Entries of other kinds, sometimes with a user's DN.
	for i := range rapid.IntRange(0, 2).Draw(t, "others") {
		e := connector.Entry{ID: fmt.Sprintf("g%d", i), Kind: rapid.SampledFrom([]connector.Kind{connector.KindGroup, "ou"}).Draw(t, "kind"),
			DN: fmt.Sprintf("CN=Group %d,DC=x,DC=test", i)}
		e.Attrs = connector.Attrs{}
		e.Attrs.Set("mail", "group@x.test")
		if len(out) > 0 && rapid.Bool().Draw(t, "groupSharesDN") {
			e.DN = out[rapid.IntRange(0, len(out)-1).Draw(t, "sharedDN")].DN
		}
		out = append(out, e)
	}
	if rapid.IntRange(0, 3).Draw(t, "literalKeys") == 0 {
		// A connector that builds Attrs literally, keys in the directory's
		// case ("Mail", "givenName"), sometimes one attribute in two cases.
		for i := range out {
			lit := connector.Attrs{}
			for _, k := range slices.Sorted(maps.Keys(out[i].Attrs)) {
				v := out[i].Attrs[k]
				switch rapid.IntRange(0, 3).Draw(t, "keyCase") {
				case 1:
					lit[strings.ToUpper(k[:1])+k[1:]] = v
				case 2:
					lit[strings.ToUpper(k)] = v
					lit[k] = []string{"other " + k}
				default:
					lit[k] = v
				}
			}
			out[i].Attrs = lit
		}
	}
	for range rapid.IntRange(0, 2).Draw(t, "sharedIDs") { // rare: NewSnapshot refuses a shared ID
		if len(out) > 1 && rapid.IntRange(0, 3).Draw(t, "shareID") == 0 {
			out[rapid.IntRange(0, len(out)-1).Draw(t, "to")].ID = out[rapid.IntRange(0, len(out)-1).Draw(t, "from")].ID
		}
	}
	return out
}

func reviewSpec(t *rapid.T) mapping.Spec {
	b := mapping.NewBuilder()
	if rapid.Bool().Draw(t, "externalIdFromAttr") {
		b.From(diff.FieldExternalID, "employeeID")
	}
	spec := mapping.ADSpec()
	for _, r := range spec.Rules {
		b.Rule(r)
	}
	if rapid.Bool().Draw(t, "extra") {
		b.From(diff.ExtraPrefix+"costCenter", "costCenter")
		b.From(diff.ExtraPrefix+"about", "description")
	}
	if rapid.Bool().Draw(t, "managerDept") {
		b.From(diff.FieldDepartment, "manager").Lookup("department")
	}
	return b.Spec()
}

func reviewPolicy(t *rapid.T) policy.Config {
	var cfg policy.Config
	switch rapid.IntRange(0, 3).Draw(t, "scope") {
	case 1:
		cfg.Scope.Rules = []policy.ScopeRule{{Action: "include", OUEndsWithUsers: true}}
	case 2:
		cfg.Scope.Rules = []policy.ScopeRule{{Action: "exclude", Attr: "title", Equals: "Boss"}, {Action: "include", OURegex: "."}}
	case 3:
		cfg.Scope.Rules = []policy.ScopeRule{{Action: "exclude", OU: "Gone"}, {Action: "include", OURegex: "."}}
	}
	switch rapid.IntRange(0, 3).Draw(t, "missing") {
	case 1:
		cfg.Lifecycle.Missing = "delete"
	case 2:
		cfg.Lifecycle.Missing = "delete"
		cfg.Lifecycle.DeleteAfter = policy.Days(30)
	case 3:
		cfg.Lifecycle.Missing = "leave"
	}
	if rapid.Bool().Draw(t, "directoryWins") {
		cfg.Lifecycle.AppBlock = "directory"
	}
	cfg.Safety.Disabled = true
	return cfg
}

func genReviewExceptions(t *rapid.T) []policy.Exception {
	var out []policy.Exception
	for range rapid.IntRange(0, 2).Draw(t, "exceptions") {
		switch rapid.IntRange(0, 2).Draw(t, "exceptionKind") {
		case 0:
			out = append(out, policy.Exception{ID: rapid.SampledFrom(append(slices.Clone(reviewIDs[:8]), "E1", "e2")).Draw(t, "exceptID")})
		case 1:
			out = append(out, policy.Exception{Email: rapid.SampledFrom(reviewEmails[:6]).Draw(t, "exceptEmail")})
		case 2:
			out = append(out, policy.Exception{Pattern: rapid.SampledFrom([]string{"^svc-", "zoë", "^ann"}).Draw(t, "exceptPattern")})
		}
	}
	return out
}

// mutateApp changes the app a first sync left: blocks by the app or by
// sync (some long ago), stale fields, duplicates under a join key before
// or after their pair, other integrations' and unmanaged accounts holding
// wanted emails.
func mutateApp(t *rapid.T, app []diff.Account, now time.Time) []diff.Account {
	for i := range app {
		a := &app[i]
		switch rapid.IntRange(0, 5).Draw(t, "appEdit") {
		case 1:
			a.Blocked, a.BlockedBySync = true, rapid.Bool().Draw(t, "bySync")
			if a.BlockedBySync && rapid.Bool().Draw(t, "longAgo") {
				a.BlockedAt = now.Add(-40 * 24 * time.Hour)
			}
		case 2:
			a.Title += " (old)"
		case 3:
			a.Email = strings.ToUpper(a.Email)
		}
	}
	for i := range rapid.IntRange(0, 3).Draw(t, "appExtras") {
		a := diff.Account{ID: fmt.Sprintf("x%d", i), Email: rapid.SampledFrom(reviewEmails).Draw(t, "extraEmail"),
			Username: fmt.Sprintf("extra%d", i)}
		switch rapid.IntRange(0, 3).Draw(t, "extraKind") {
		case 0:
			a.Source, a.Managed, a.ExternalID = "google", true, rapid.SampledFrom(reviewIDs).Draw(t, "googleID")
		case 3: // this integration's, without a join key
			a.Source, a.Managed = "ad", true
		case 1:
			if len(app) > 0 {
				a = app[rapid.IntRange(0, len(app)-1).Draw(t, "dupOf")].Clone()
				a.ID = fmt.Sprintf("dup%d", i)
			}
		}
		at := rapid.IntRange(0, len(app)).Draw(t, "at") // before or after its pair
		app = slices.Insert(app, at, a)
	}
	return app
}

func renderPlan(t *rapid.T, p *Result, err error) string {
	if err != nil {
		return "error: " + err.Error()
	}
	j, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%s%s managed=%d users=%d", p.String(), j, p.Managed, p.SourceUsers)
}

var reviewClock = time.Date(2026, 11, 20, 8, 0, 0, 0, time.UTC)

// The compact full plan is, byte for byte, the plan of the whole diff
// (the Syncer before the compact plan), with every mapper path, for a
// hostile directory and app: duplicate IDs and emails in other spellings,
// managers by odd DNs, missing or out of scope, tombstones, long values,
// Extra fields, exceptions of every kind stored between plans, blocks by
// the app and by sync, lifecycle deletes after a grace period, duplicates
// under a join key before and after their pair, and other integrations'
// accounts holding wanted emails. The progress reports match too.
func TestCompactPlanEqualsWholeDiff(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		ctx := context.Background()
		spec := reviewSpec(t)
		rm, err := mapping.New(spec)
		if err != nil {
			t.Fatal(err)
		}
		first := genReviewEntries(t)
		pol0, err := policy.New(policy.Config{Safety: policy.Safety{Disabled: true}})
		if err != nil {
			t.Fatal(err)
		}
		sy0, err := newTest(reviewConn(first), listSink{fail: -1}, &testOptions{Source: "ad", Mapper: rm, Policy: pol0,
			Now: func() time.Time { return reviewClock.Add(-50 * 24 * time.Hour) }})
		if err != nil {
			t.Fatal(err)
		}
		var created []diff.Account // the app as the first sync left it
		if p, err := sy0.Plan(ctx); err == nil {
			for _, c := range p.Changes {
				if c.Op == diff.OpCreate {
					a := c.After.Clone()
					a.ID = fmt.Sprintf("app%d", len(created))
					created = append(created, a)
				}
			}
		}
		var depts [][]string
		if rapid.Bool().Draw(t, "manageDepartments") {
			depts = [][]string{{"Sales"}}
		}
		app := mutateApp(t, created, reviewClock)
		entries := genReviewEntries(t) // the directory since
		if rapid.Bool().Draw(t, "sameDirectory") {
			entries = first
		}
		entries = rapid.Permutation(entries).Draw(t, "order")
		cfg := reviewPolicy(t)
		cfg.Exceptions = genReviewExceptions(t)
		pol, err := policy.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		stored := genReviewExceptions(t)
		plan := func(m mapping.Mapper, whole bool) (string, []Progress) {
			var progress []Progress
			listed := rapid.Permutation(app).Draw(t, "listing") // the sink in any order
			var sink Sink = listSink{accounts: listed, fail: -1}
			if depts != nil {
				sink = deptSink{listSink{accounts: listed, fail: -1}, depts}
			}
			sy, err := newTest(reviewConn(entries), sink, &testOptions{
				Source: "ad", Mapper: m, Policy: pol, Now: func() time.Time { return reviewClock },
				Progress: func(p Progress) { progress = append(progress, p) }})
			if err != nil {
				t.Fatal(err)
			}
			for _, x := range stored {
				if err := sy.AddException(ctx, x); err != nil {
					t.Fatal(err)
				}
			}
			var p *Result
			if whole {
				p, err = sy.planWhole(ctx)
			} else {
				p, err = sy.Plan(ctx)
			}
			return renderPlan(t, p, err), progress
		}
		compact, cp := plan(rm, false)
		want, _ := plan(rm, true)
		require.Equal(t, want, compact, "compact plan differs from the whole diff")
		deferred, dp := plan(reviewDeferred{rm}, false)
		require.Equal(t, compact, deferred, "compact plan differs from the slim-entry path")
		require.Equal(t, dp, cp, "progress differs")
		plain, pp := plan(reviewPlain{rm}, false)
		require.Equal(t, compact, plain, "compact plan differs from the plain mapper")
		require.Equal(t, pp, cp, "progress differs from the plain mapper's")
	})
}

type reviewDeferred struct{ rm *mapping.RuleMapper }

func (d reviewDeferred) Map(e *connector.Entry, s *connector.Snapshot) (diff.Account, error) {
	return d.rm.Map(e, s)
}
func (d reviewDeferred) MapEntry(e *connector.Entry) (diff.Account, *mapping.Unresolved, error) {
	return d.rm.MapEntry(e)
}
func (d reviewDeferred) Resolve(a *diff.Account, p *mapping.Unresolved, e *connector.Entry, s *connector.Snapshot) {
	d.rm.Resolve(a, p, e, s)
}
func (d reviewDeferred) ReferencedAttributes() []string { return d.rm.ReferencedAttributes() }
func (d reviewDeferred) Describe() mapping.Description {
	return mapping.Description{Fields: d.rm.Fields(), Attributes: d.rm.Attributes(), UsesGroups: true}
}

type reviewPlain struct{ rm *mapping.RuleMapper }

func (p reviewPlain) Map(e *connector.Entry, s *connector.Snapshot) (diff.Account, error) {
	return p.rm.Map(e, s)
}
func (p reviewPlain) Describe() mapping.Description {
	return mapping.Description{Fields: p.rm.Fields(), Attributes: p.rm.Attributes(), UsesGroups: true}
}

type deptSink struct {
	listSink
	depts [][]string
}

func (s deptSink) Departments(context.Context) ([][]string, error) { return s.depts, nil }

// Department paths are told apart by their parts, not by a joined
// string: ["a\x00b"] and ["a", "b"] are two departments, whether their
// accounts are in step (left out of the diff) or not.
func TestDepartmentsKeyedByParts(t *testing.T) {
	for _, paths := range [][2][]string{{{"a\x00b"}, {"a", "b"}}, {{"a", "b"}, {"a\x00b"}}} {
		var desired []diff.Desired
		var current []diff.Account
		for i, p := range paths {
			d := diff.Desired{EntryID: fmt.Sprint(i), Account: diff.Account{ExternalID: fmt.Sprintf("E%d", i),
				Source: "ad", Department: p}}
			desired = append(desired, d)
			a := d.Account.Clone()
			a.ID, a.Managed = fmt.Sprintf("app%d", i), true
			current = append(current, a)
		}
		in := diff.Input{Source: "ad", ManageDepartments: true}
		whole := in
		whole.Desired, whole.Current = desired, current
		want := diff.Compute(whole)

		sy, err := newTest(noConnector{}, listSink{accounts: current, fail: -1}, &testOptions{Source: "ad"})
		require.NoError(t, err)
		ds := &desiredSet{}
		for i := range desired {
			ds.add(&desired[i])
		}
		ds.index()
		j, err := sy.join(context.Background(), ds, diff.NewInStep(&in))
		require.NoError(t, err)
		got := in
		got.Desired, got.Current, got.Unchanged, got.WantDepartments = j.desired, j.current, j.unchanged, j.depts
		require.Equal(t, want.String(), diff.Compute(got).String())
		var made []string
		for _, c := range want.Changes {
			if c.Op == diff.OpCreateDepartment {
				made = append(made, fmt.Sprintf("%q", c.Department))
			}
		}
		slices.Sort(made)
		require.Equal(t, []string{`["a" "b"]`, `["a"]`, `["a\x00b"]`}, made)
	}
}

// An account the integration manages without a join key is still one of
// its managed accounts: the compact plan counts it as the whole diff did
// (the safety limits' percentages and the empty-source check read it).
func TestManagedCountsAccountsWithoutJoinKey(t *testing.T) {
	accounts := []diff.Account{
		{ID: "1", Source: "ad", Managed: true, Email: "a@x.test"},
		{ID: "2", Source: "ad", Managed: true, ExternalID: "E2"},
		{ID: "3", Source: "google", Managed: true, ExternalID: "E3"},
		{ID: "4", Email: "b@x.test"},
	}
	pol, err := policy.New(policy.Config{Safety: policy.Safety{Disabled: true}})
	require.NoError(t, err)
	sy, err := newTest(noConnector{}, listSink{accounts: accounts, fail: -1}, &testOptions{Source: "ad", Policy: pol})
	require.NoError(t, err)
	p, err := sy.Plan(context.Background())
	require.NoError(t, err) // an empty read blocks E2: the Syncer asks for approval
	require.Equal(t, ManagedIn(accounts, "ad"), p.Managed)
	require.Equal(t, 2, p.Managed)
}

// The map phase counts the live users alike with every mapper path and
// ends at Done == Total whichever entry comes last (a tombstone
// included): a host's progress bar never stops short of the end.
func TestMapProgressReachesTheEnd(t *testing.T) {
	rm, err := mapping.New(mapping.ADSpec())
	require.NoError(t, err)
	rapid.Check(t, func(t *rapid.T) {
		var entries []connector.Entry
		for i := range rapid.IntRange(1, 5).Draw(t, "users") {
			e := connector.Entry{ID: fmt.Sprintf("u%d", i), Kind: connector.KindUser, Attrs: connector.Attrs{}}
			e.Attrs.Set("mail", fmt.Sprintf("u%d@x.test", i))
			e.Deleted = rapid.Bool().Draw(t, "deleted")
			entries = append(entries, e)
		}
		live := 0
		for _, e := range entries {
			if !e.Deleted {
				live++
			}
		}
		for _, m := range []mapping.Mapper{rm, reviewDeferred{rm}, reviewPlain{rm}} {
			var last *Progress
			sy, err := newTest(reviewConn(entries), listSink{fail: -1}, &testOptions{Source: "ad", Mapper: m,
				Progress: func(p Progress) {
					if p.Phase == PhaseMap {
						last = &p
					}
				}})
			if err != nil {
				t.Fatal(err)
			}
			_, _ = sy.Plan(context.Background())
			if live == 0 {
				continue // nothing to map: no map phase to report
			}
			if last == nil {
				t.Fatalf("%T: no map progress", m)
			}
			if last.Done != live || last.Total != live {
				t.Fatalf("%T: map progress ends at %d of %d, want %d of %d", m, last.Done, last.Total, live, live)
			}
		}
	})
}

// A connector that builds Attrs literally, in the directory's case
// ("Mail", "sAMAccountName", one attribute in two cases), is read alike
// by every path: before, the compact and slim-entry paths mapped such an
// entry without its email and username, and the plain path with them.
func TestLiteralAttrNamesPlanAlike(t *testing.T) {
	rm, err := mapping.New(mapping.ADSpec())
	require.NoError(t, err)
	entries := []connector.Entry{{ID: "u1", Kind: connector.KindUser, DN: "CN=Ann,OU=Users,DC=x,DC=test",
		Attrs: connector.Attrs{"Mail": {"ann@x.test"}, "sAMAccountName": {"ann"}, "TITLE": {"Boss"}, "title": {"Staff"}}}}
	var plans []string
	for _, m := range []mapping.Mapper{rm, reviewDeferred{rm}, reviewPlain{rm}} {
		sy, err := newTest(reviewConn(entries), listSink{fail: -1}, &testOptions{Source: "ad", Mapper: m})
		require.NoError(t, err)
		p, err := sy.Plan(context.Background())
		require.NoError(t, err)
		require.Len(t, p.Changes, 1)
		after := p.Changes[0].After
		require.Equal(t, "ann@x.test", after.Email, "%T", m)
		require.Equal(t, "ann", after.Username, "%T", m)
		require.Equal(t, "Staff", after.Title, "%T", m) // the lower-case name's values first, as NewSnapshot merges
		j, err := json.Marshal(p)
		require.NoError(t, err)
		plans = append(plans, string(j))
	}
	require.Equal(t, plans[2], plans[0])
	require.Equal(t, plans[2], plans[1])
	require.Equal(t, connector.Attrs{"Mail": {"ann@x.test"}, "sAMAccountName": {"ann"}, "TITLE": {"Boss"}, "title": {"Staff"}},
		entries[0].Attrs, "the connector's map is left as it was")
}
