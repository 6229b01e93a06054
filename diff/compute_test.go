package diff_test

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"

	"github.com/dirsync-go/dirsync/diff"
)

var now = time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)

func want(id, email string) diff.Desired {
	return diff.Desired{Account: diff.Account{ExternalID: id, Email: email, DisplayName: "User " + id, Department: []string{"Sales"}}}
}

func managed(id, email string) diff.Account {
	return diff.Account{ID: "app-" + id, Source: "ad", ExternalID: id, Managed: true, Email: email,
		DisplayName: "User " + id, Department: []string{"Sales"}}
}

func compute(desired []diff.Desired, current []diff.Account, opt diff.Options) *diff.Plan {
	opt.Now = now
	return diff.Compute(diff.Input{Source: "ad", Desired: desired, Current: current, Options: opt})
}

func ops(p *diff.Plan) map[string]diff.Op {
	out := map[string]diff.Op{}
	for _, c := range p.Changes {
		out[c.Key] = c.Op
	}
	return out
}

func TestCompute(t *testing.T) {
	blockedBySync := managed("3", "c@x.test")
	blockedBySync.Blocked, blockedBySync.BlockedBySync, blockedBySync.BlockedAt = true, true, now.Add(-40*24*time.Hour)
	blockedBySync.BlockReason = diff.ReasonDisabled
	blockedByAdmin := managed("4", "d@x.test")
	blockedByAdmin.Blocked = true
	disabled := want("5", "e@x.test")
	disabled.Disabled = true
	outOfScope := want("6", "f@x.test")
	outOfScope.OutOfScope = true
	outOfScope.Reason = diff.Reason{Code: diff.ReasonOutOfScope, Detail: "OU Contractors is not synced"}

	tests := []struct {
		name    string
		desired []diff.Desired
		current []diff.Account
		opt     diff.Options
		want    map[string]diff.Op
		reason  map[string]string
	}{
		{
			name:    "new entry is created",
			desired: []diff.Desired{want("1", "a@x.test")},
			want:    map[string]diff.Op{"ad/1": diff.OpCreate},
			reason:  map[string]string{"ad/1": diff.ReasonNew},
		},
		{
			name:    "unchanged account is not listed",
			desired: []diff.Desired{want("1", "a@x.test")},
			current: []diff.Account{managed("1", "a@x.test")},
			want:    map[string]diff.Op{},
		},
		{
			name:    "renamed email updates by external ID, not by email",
			desired: []diff.Desired{want("1", "new@x.test")},
			current: []diff.Account{managed("1", "old@x.test")},
			want:    map[string]diff.Op{"ad/1": diff.OpUpdate},
			reason:  map[string]string{"ad/1": diff.ReasonChanged},
		},
		{
			name:    "unmanaged account with the same email is adopted",
			desired: []diff.Desired{want("1", "A@x.test")},
			current: []diff.Account{{ID: "app-9", Email: "a@x.test"}},
			want:    map[string]diff.Op{"ad/1": diff.OpUpdate},
			reason:  map[string]string{"ad/1": diff.ReasonAdopted},
		},
		{
			name:    "unmanaged account is listed and left alone",
			current: []diff.Account{{ID: "app-9", Email: "z@x.test"}},
			want:    map[string]diff.Op{"app/app-9": diff.OpSkip},
			reason:  map[string]string{"app/app-9": diff.ReasonUnmanaged},
		},
		{
			name:    "another integration's account is not touched",
			current: []diff.Account{{ID: "app-9", Source: "google", ExternalID: "g1", Managed: true}},
			want:    map[string]diff.Op{},
		},
		{
			name:    "same person in another integration is a conflict, not a duplicate",
			desired: []diff.Desired{want("1", "a@x.test")},
			current: []diff.Account{{ID: "app-9", Source: "google", ExternalID: "g1", Managed: true, Email: "A@x.test"}},
			want:    map[string]diff.Op{"ad/1": diff.OpSkip},
			reason:  map[string]string{"ad/1": diff.ReasonConflictIntegration},
		},
		{
			name:    "missing managed account is blocked by default",
			current: []diff.Account{managed("2", "b@x.test")},
			want:    map[string]diff.Op{"ad/2": diff.OpBlock},
			reason:  map[string]string{"ad/2": diff.ReasonDeleted},
		},
		{
			name:    "missing account left alone by policy",
			current: []diff.Account{managed("2", "b@x.test")},
			opt:     diff.Options{Missing: diff.MissingLeave},
			want:    map[string]diff.Op{"ad/2": diff.OpSkip},
		},
		{
			name:    "missing account deleted at once without grace",
			current: []diff.Account{managed("2", "b@x.test")},
			opt:     diff.Options{Missing: diff.MissingDelete},
			want:    map[string]diff.Op{"ad/2": diff.OpDelete},
		},
		{
			name:    "missing account blocked first within grace",
			current: []diff.Account{managed("2", "b@x.test")},
			opt:     diff.Options{Missing: diff.MissingDelete, DeleteAfter: 30 * 24 * time.Hour},
			want:    map[string]diff.Op{"ad/2": diff.OpBlock},
		},
		{
			name:    "missing account deleted after grace",
			current: []diff.Account{blockedBySync},
			opt:     diff.Options{Missing: diff.MissingDelete, DeleteAfter: 30 * 24 * time.Hour},
			want:    map[string]diff.Op{"ad/3": diff.OpDelete},
			reason:  map[string]string{"ad/3": diff.ReasonGraceDelete},
		},
		{
			name:    "re-enabled account blocked by sync is unblocked",
			desired: []diff.Desired{want("3", "c@x.test")},
			current: []diff.Account{blockedBySync},
			want:    map[string]diff.Op{"ad/3": diff.OpUnblock},
			reason:  map[string]string{"ad/3": diff.ReasonEnabled},
		},
		{
			name:    "admin block is kept by default",
			desired: []diff.Desired{want("4", "d@x.test")},
			current: []diff.Account{blockedByAdmin},
			want:    map[string]diff.Op{"ad/4": diff.OpSkip},
			reason:  map[string]string{"ad/4": diff.ReasonAppBlockKept},
		},
		{
			name:    "directory wins over an admin block",
			desired: []diff.Desired{want("4", "d@x.test")},
			current: []diff.Account{blockedByAdmin},
			opt:     diff.Options{AppBlock: diff.DirectoryWins},
			want:    map[string]diff.Op{"ad/4": diff.OpUnblock},
			reason:  map[string]string{"ad/4": diff.ReasonDrift},
		},
		{
			name:    "disabled at source blocks",
			desired: []diff.Desired{disabled},
			current: []diff.Account{managed("5", "e@x.test")},
			want:    map[string]diff.Op{"ad/5": diff.OpBlock},
			reason:  map[string]string{"ad/5": diff.ReasonDisabled},
		},
		{
			name:    "disabled new entry is not invited",
			desired: []diff.Desired{disabled},
			want:    map[string]diff.Op{"ad/5": diff.OpSkip},
			reason:  map[string]string{"ad/5": diff.ReasonDisabledNew},
		},
		{
			name:    "entry that left the scope is blocked",
			desired: []diff.Desired{outOfScope},
			current: []diff.Account{managed("6", "f@x.test")},
			want:    map[string]diff.Op{"ad/6": diff.OpBlock},
			reason:  map[string]string{"ad/6": diff.ReasonScopeLeft},
		},
		{
			name:    "out-of-scope entry without account is listed as skipped",
			desired: []diff.Desired{outOfScope},
			want:    map[string]diff.Op{"ad/6": diff.OpSkip},
			reason:  map[string]string{"ad/6": diff.ReasonOutOfScope},
		},
		{
			name:    "exception is never touched",
			current: []diff.Account{managed("2", "b@x.test")},
			opt: diff.Options{Except: func(a *diff.Account) (diff.Reason, bool) {
				return diff.Reason{}, a.ExternalID == "2"
			}},
			want:   map[string]diff.Op{"ad/2": diff.OpSkip},
			reason: map[string]string{"ad/2": diff.ReasonException},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := compute(tt.desired, tt.current, tt.opt)
			assert.Equal(t, tt.want, ops(p), p.String())
			for key, code := range tt.reason {
				found := false
				for _, c := range p.Changes {
					if c.Key == key {
						found = c.HasReason(code)
						assert.NotEmpty(t, c.Status())
					}
				}
				assert.True(t, found, "change %s lacks reason %s:\n%s", key, code, p)
			}
		})
	}
}

func TestComputeFieldChangesSorted(t *testing.T) {
	d := want("1", "new@x.test")
	d.Account.Title = "Head of Sales"
	d.Account.Department = []string{"Europe", "Sales"}
	p := compute([]diff.Desired{d}, []diff.Account{managed("1", "old@x.test")}, diff.Options{})
	require.Len(t, p.Changes, 1)
	assert.Equal(t, []diff.FieldChange{
		{Name: "department", Old: "Sales", New: "Europe / Sales"},
		{Name: "email", Old: "old@x.test", New: "new@x.test"},
		{Name: "title", Old: "", New: "Head of Sales"},
	}, p.Changes[0].Fields)
}

func TestComputeOwnedFieldsOnly(t *testing.T) {
	d := want("1", "a@x.test")
	cur := managed("1", "a@x.test")
	cur.Phone = "+1 555 0100" // set in the app; the mapping does not own phone
	p := diff.Compute(diff.Input{Source: "ad", Desired: []diff.Desired{d}, Current: []diff.Account{cur},
		Fields: []string{diff.FieldEmail, diff.FieldDisplayName, diff.FieldDepartment}})
	assert.True(t, p.Empty(), p.String())
}

func TestComputeDepartmentsBeforeAccounts(t *testing.T) {
	d := want("1", "a@x.test")
	d.Account.Department = []string{"Europe", "Sales"}
	p := diff.Compute(diff.Input{Source: "ad", Desired: []diff.Desired{d}, ManageDepartments: true,
		Departments: [][]string{{"Europe"}}})
	require.Len(t, p.Changes, 2)
	assert.Equal(t, diff.OpCreateDepartment, p.Changes[0].Op)
	assert.Equal(t, []string{"Europe", "Sales"}, p.Changes[0].Department)
	assert.Equal(t, diff.OpCreate, p.Changes[1].Op)
}

func TestPlanSearch(t *testing.T) {
	a, b := want("1", "1c-bot@x.test"), want("2", "jane@x.test")
	a.Account.Username, b.Account.Username = "1c-bot", "jane"
	p := compute([]diff.Desired{a, b}, nil, diff.Options{})
	got, err := p.Search("^[0-9]")
	require.NoError(t, err)
	require.Len(t, got.Changes, 1)
	assert.Equal(t, "ad/1", got.Changes[0].Key)
	_, err = p.Search("([")
	assert.ErrorContains(t, err, "search pattern")

	// Department paths are searched too, as the docs say.
	b.Account.Department = []string{"Europe", "Sales"}
	p = compute([]diff.Desired{a, b}, nil, diff.Options{})
	got, err = p.Search("^Europe / Sales$")
	require.NoError(t, err)
	require.Len(t, got.Changes, 1)
	assert.Equal(t, "ad/2", got.Changes[0].Key)
}

func TestOpText(t *testing.T) {
	for _, op := range diff.Ops {
		b, err := op.MarshalText()
		require.NoError(t, err)
		var back diff.Op
		require.NoError(t, back.UnmarshalText(b))
		assert.Equal(t, op, back)
	}
	var bad diff.Op
	assert.Error(t, bad.UnmarshalText([]byte("explode")))
}

// genInput draws a directory and an app state that overlap.
func genInput(t *rapid.T) diff.Input {
	n := rapid.IntRange(0, 30).Draw(t, "n")
	in := diff.Input{Source: "ad", ManageDepartments: true, Options: diff.Options{Now: now,
		Missing:     diff.MissingAction(rapid.IntRange(0, 2).Draw(t, "missing")),
		DeleteAfter: time.Duration(rapid.IntRange(0, 2).Draw(t, "grace")) * 24 * time.Hour,
		AppBlock:    diff.AppBlockPolicy(rapid.IntRange(0, 1).Draw(t, "appblock"))}}
	depts := []string{"Sales", "IT", "Europe"}
	// Sometimes a mapping that reads the wrong attributes: no entry gets
	// an email (and so the plan warns).
	broken := rapid.IntRange(0, 4).Draw(t, "brokenMapping") == 0
	for i := range n {
		id := string(rune('a' + i))
		email := rapid.SampledFrom([]string{"", id + "@x.test", "shared@x.test"}).Draw(t, "email")
		wantEmail := email
		if broken {
			wantEmail = ""
		}
		dept := rapid.SampledFrom(depts).Draw(t, "dept")
		if rapid.Bool().Draw(t, "inDir") {
			in.Desired = append(in.Desired, diff.Desired{
				Account:    diff.Account{ExternalID: id, Email: wantEmail, DisplayName: "N" + id, Department: []string{"Org", dept}},
				Disabled:   rapid.Bool().Draw(t, "disabled"),
				OutOfScope: rapid.IntRange(0, 4).Draw(t, "scope") == 0,
			})
		}
		switch rapid.IntRange(0, 3).Draw(t, "app") {
		case 1:
			a := diff.Account{ID: "app-" + id, Source: "ad", ExternalID: id, Managed: true, Email: email,
				Blocked: rapid.Bool().Draw(t, "blocked")}
			a.BlockedBySync = a.Blocked && rapid.Bool().Draw(t, "bySync")
			if a.BlockedBySync {
				a.BlockedAt = now.Add(-time.Duration(rapid.IntRange(0, 72).Draw(t, "age")) * time.Hour)
			}
			in.Current = append(in.Current, a)
		case 2:
			in.Current = append(in.Current, diff.Account{ID: "app-" + id, Email: email})
		}
	}
	return in
}

func render(t interface{ Fatalf(string, ...any) }, p *diff.Plan) []byte {
	var b bytes.Buffer
	if err := p.WriteText(&b); err != nil {
		t.Fatalf("%v", err)
	}
	j, err := json.Marshal(p)
	if err != nil {
		t.Fatalf("%v", err)
	}
	return append(b.Bytes(), j...)
}

// The same inputs in any order render a byte-identical plan.
func TestComputeDeterministic(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		in := genInput(t)
		first := render(t, diff.Compute(in))
		seed := rapid.Uint64().Draw(t, "seed")
		r := rand.New(rand.NewPCG(seed, seed))
		shuffled := in
		shuffled.Desired = append([]diff.Desired(nil), in.Desired...)
		shuffled.Current = append([]diff.Account(nil), in.Current...)
		r.Shuffle(len(shuffled.Desired), func(i, j int) { shuffled.Desired[i], shuffled.Desired[j] = shuffled.Desired[j], shuffled.Desired[i] })
		r.Shuffle(len(shuffled.Current), func(i, j int) { shuffled.Current[i], shuffled.Current[j] = shuffled.Current[j], shuffled.Current[i] })
		if second := render(t, diff.Compute(shuffled)); !bytes.Equal(first, second) {
			t.Fatalf("plans differ:\n%s\n---\n%s", first, second)
		}
	})
}

// Every plan orders its changes by op, so departments precede the accounts
// in them and blocks and deletes come last.
func TestComputeApplyOrder(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		p := diff.Compute(genInput(t))
		for i := 1; i < len(p.Changes); i++ {
			if p.Changes[i-1].Op > p.Changes[i].Op {
				t.Fatalf("change %d (%s) after %s", i, p.Changes[i].Op, p.Changes[i-1].Op)
			}
		}
		keys := map[string]bool{}
		for _, c := range p.Changes {
			if keys[c.Key] {
				t.Fatalf("key %s listed twice:\n%s", c.Key, p)
			}
			keys[c.Key] = true
			if (c.Op == diff.OpBlock || c.Op == diff.OpDelete) && c.Before != nil && !c.Before.Managed {
				t.Fatalf("unmanaged account %s would be %s", c.Key, c.Op)
			}
		}
	})
}

// Applying a plan and computing again yields no actionable change, but
// for one step: an email that an account gives up (deleted, or changed) in
// one plan goes to its new owner in the next, never in the same plan.
func TestComputeConverges(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		in := genInput(t)
		p := diff.Compute(in)
		in.Current, in.Departments = applyAll(in.Current, in.Departments, p)
		again := diff.Compute(in)
		if again.Empty() {
			return
		}
		for _, c := range again.Changes {
			if c.Op == diff.OpCreate || c.Op == diff.OpCreateDepartment {
				continue
			}
			if c.Op.Actionable() {
				t.Fatalf("second plan has more than the creates an email hand-over defers:\n%s\nfirst:\n%s", again, p)
			}
		}
		in.Current, in.Departments = applyAll(in.Current, in.Departments, again)
		if third := diff.Compute(in); !third.Empty() {
			t.Fatalf("third plan not empty:\n%s\nsecond:\n%s", third, again)
		}
	})
}

// applyAll is a minimal sink: it follows the Sink contract of package
// dirsync over a slice.
func applyAll(cur []diff.Account, depts [][]string, p *diff.Plan) ([]diff.Account, [][]string) {
	out := make([]diff.Account, 0, len(cur))
	for _, a := range cur {
		out = append(out, a.Clone())
	}
	idx := func(c diff.Change) int {
		for i := range out {
			if c.Before != nil && out[i].ID == c.Before.ID {
				return i
			}
		}
		return -1
	}
	for i, c := range p.Changes {
		switch c.Op {
		case diff.OpCreateDepartment:
			depts = append(depts, c.Department)
		case diff.OpCreate:
			a := c.After.Clone()
			a.ID = "new-" + string(rune('a'+i))
			out = append(out, a)
		case diff.OpUpdate, diff.OpBlock, diff.OpUnblock:
			j := idx(c)
			for _, f := range c.Fields {
				out[j].CopyField(f.Name, c.After)
			}
		case diff.OpDelete:
			j := idx(c)
			out = append(out[:j], out[j+1:]...)
		}
	}
	return out, depts
}
