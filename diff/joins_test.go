package diff_test

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/text/unicode/norm"
	"pgregory.net/rapid"

	"github.com/dirsync-go/dirsync/diff"
)

// emailVariant spells an email the way a directory or an app might: other
// case, surrounding white space, decomposed accents.
func emailVariant(t *rapid.T, e, label string) string {
	switch rapid.IntRange(0, 4).Draw(t, label) {
	case 1:
		return strings.ToUpper(e)
	case 2:
		return " " + e + "\t"
	case 3:
		return norm.NFD.String(e)
	case 4:
		return strings.ToUpper(norm.NFD.String(e[:1])) + norm.NFD.String(e[1:])
	}
	return e
}

// genJoinInput draws entries and accounts that collide on purpose: few
// external IDs, few emails in many spellings, duplicate app accounts,
// accounts of another integration and unmanaged ones.
func genJoinInput(t *rapid.T) diff.Input {
	ids := []string{"E1", "E2", "E3", "E4"}
	emails := []string{"josé@x.test", "ann@x.test", "bob@x.test", "cy@x.test"}
	in := diff.Input{Source: "ad", Options: diff.Options{Now: now,
		Missing: diff.MissingAction(rapid.IntRange(0, 1).Draw(t, "missing"))}}
	for i := range rapid.IntRange(0, 7).Draw(t, "entries") {
		d := diff.Desired{EntryID: fmt.Sprintf("g%d", i), Account: diff.Account{
			ExternalID:  rapid.SampledFrom(ids).Draw(t, "extID"),
			DisplayName: fmt.Sprintf("Person %d", i),
			Title:       rapid.SampledFrom([]string{"", "Engineer", "Manager"}).Draw(t, "title"),
		}}
		if rapid.IntRange(0, 5).Draw(t, "hasEmail") > 0 {
			d.Account.Email = emailVariant(t, rapid.SampledFrom(emails).Draw(t, "email"), "spelling")
		}
		d.Disabled = rapid.IntRange(0, 4).Draw(t, "disabled") == 0
		if rapid.IntRange(0, 5).Draw(t, "scope") == 0 {
			d.OutOfScope, d.Reason = true, diff.Reason{Code: diff.ReasonOutOfScope, Detail: "Not in a synced OU"}
		}
		in.Desired = append(in.Desired, d)
	}
	for i := range rapid.IntRange(0, 7).Draw(t, "accounts") {
		a := diff.Account{ID: fmt.Sprintf("app-%d", i), DisplayName: fmt.Sprintf("Account %d", i)}
		if rapid.IntRange(0, 5).Draw(t, "accountHasEmail") > 0 {
			a.Email = emailVariant(t, rapid.SampledFrom(emails).Draw(t, "accountEmail"), "accountSpelling")
		}
		switch rapid.IntRange(0, 3).Draw(t, "kind") {
		case 0, 1:
			a.Source, a.Managed = "ad", true
			a.ExternalID = rapid.SampledFrom(ids).Draw(t, "accountExtID")
			a.Blocked = rapid.IntRange(0, 3).Draw(t, "blocked") == 0
			a.BlockedBySync = a.Blocked && rapid.Bool().Draw(t, "bySync")
		case 2:
			a.Source, a.Managed, a.ExternalID = "google", true, fmt.Sprintf("g-%d", i)
		}
		in.Current = append(in.Current, a)
	}
	return in
}

// claimants returns the entries of in that claim each external ID: in
// scope and mappable.
func claimants(in diff.Input) map[string][]diff.Desired {
	out := map[string][]diff.Desired{}
	for _, d := range in.Desired {
		if !d.OutOfScope && !d.Invalid {
			out[d.Account.ExternalID] = append(out[d.Account.ExternalID], d)
		}
	}
	return out
}

func underKey(c *diff.Change, src, id string) bool {
	k := src + "/" + id
	return c.Key == k || strings.HasPrefix(c.Key, k+"#")
}

// Item 6: entries that map to one external ID are a conflict on every one
// of them; nothing is created, updated, blocked or deleted under that key,
// on this run or the next.
func TestComputeJoinKeyConflict(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		in := genJoinInput(t)
		for round := range 2 {
			p := diff.Compute(in)
			for id, ds := range claimants(in) {
				if len(ds) < 2 {
					continue
				}
				for _, c := range p.Changes {
					if underKey(&c, "ad", id) && c.Op.Actionable() {
						t.Fatalf("round %d: %s %s although %d entries claim %s:\n%s", round, c.Op, c.Key, len(ds), id, p)
					}
				}
				for _, d := range ds {
					found := false
					for _, c := range p.Changes {
						if c.Key == "ad/"+id+"#entry="+d.EntryID && c.HasReason(diff.ReasonJoinConflict) {
							found = true
							for _, o := range ds {
								if o.EntryID != d.EntryID && !strings.Contains(c.Status(), o.EntryID) {
									t.Fatalf("conflict of %s does not name %s: %s", d.EntryID, o.EntryID, c.Status())
								}
							}
						}
					}
					if !found {
						t.Fatalf("entry %s claims %s with others but has no conflict:\n%s", d.EntryID, id, p)
					}
				}
			}
			in.Current, _ = applyAll(in.Current, nil, p)
		}
	})
}

func TestComputeJoinKeyConflictExample(t *testing.T) {
	a := diff.Desired{EntryID: "guid-a", Account: diff.Account{ExternalID: "E-7", DisplayName: "Ann", Email: "ann@x.test"}}
	b := diff.Desired{EntryID: "guid-b", Account: diff.Account{ExternalID: "E-7", DisplayName: "Bob", Email: "bob@x.test"}}
	for _, cur := range [][]diff.Account{nil, {managed("E-7", "ann@x.test")}} {
		p := compute([]diff.Desired{b, a}, cur, diff.Options{})
		assert.Zero(t, p.Actionable(), p.String())
		assert.Equal(t, map[string]diff.Op{"ad/E-7#entry=guid-a": diff.OpSkip, "ad/E-7#entry=guid-b": diff.OpSkip}, ops(p))
		for _, c := range p.Changes {
			assert.True(t, c.HasReason(diff.ReasonJoinConflict))
			other := map[string]string{"Ann": "Bob", "Bob": "Ann"}[c.After.DisplayName]
			assert.Contains(t, c.Status(), other, "the reason names the other entry")
		}
	}
	// One of them out of scope: the other is synced as usual.
	b.OutOfScope, b.Reason = true, diff.Reason{Code: diff.ReasonOutOfScope, Detail: "OU Admins is not synced"}
	p := compute([]diff.Desired{b, a}, []diff.Account{managed("E-7", "old@x.test")}, diff.Options{})
	assert.Equal(t, map[string]diff.Op{"ad/E-7": diff.OpUpdate, "ad/E-7#entry=guid-b": diff.OpSkip}, ops(p), p.String())
}

// heldBy counts the accounts by normalised email.
func heldBy(accts []diff.Account) map[string]int {
	out := map[string]int{}
	for _, a := range accts {
		if e := diff.NormalizeEmail(a.Email); e != "" {
			out[e]++
		}
	}
	return out
}

// Items 7 and 8: applying a plan never gives one normalised email to a
// second account, one plan never both adopts and creates for one email,
// and the plan is the same for the input in any order.
func TestComputeOneEmailOneAccount(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		in := genJoinInput(t)
		p := diff.Compute(in)
		before := heldBy(in.Current)
		after, _ := applyAll(in.Current, nil, p)
		for e, n := range heldBy(after) {
			if n > 1 && n > before[e] {
				t.Fatalf("%d accounts hold %s after the plan, %d before:\n%s", n, e, before[e], p)
			}
		}
		gets := map[string]string{}
		for _, c := range p.Changes {
			if c.Op != diff.OpCreate && !(c.Op == diff.OpUpdate && c.HasReason(diff.ReasonAdopted)) {
				continue
			}
			e := diff.NormalizeEmail(c.After.Email)
			if e == "" {
				continue
			}
			if k, dup := gets[e]; dup {
				t.Fatalf("%s and %s both get %s:\n%s", k, c.Key, e, p)
			}
			gets[e] = c.Key
		}
		keys := map[string]bool{}
		for _, c := range p.Changes {
			if keys[c.Key] {
				t.Fatalf("key %s twice:\n%s", c.Key, p)
			}
			keys[c.Key] = true
		}

		seed := rapid.Uint64().Draw(t, "seed")
		r := rand.New(rand.NewPCG(seed, seed))
		shuffled := in
		shuffled.Desired = slices.Clone(in.Desired)
		shuffled.Current = slices.Clone(in.Current)
		r.Shuffle(len(shuffled.Desired), func(i, j int) { shuffled.Desired[i], shuffled.Desired[j] = shuffled.Desired[j], shuffled.Desired[i] })
		r.Shuffle(len(shuffled.Current), func(i, j int) { shuffled.Current[i], shuffled.Current[j] = shuffled.Current[j], shuffled.Current[i] })
		if a, b := render(t, p), render(t, diff.Compute(shuffled)); !bytes.Equal(a, b) {
			t.Fatalf("plans differ:\n%s\n---\n%s", a, b)
		}
	})
}

func TestNormalizeEmail(t *testing.T) {
	composed := "jos\u00e9@x.test"
	for _, s := range []string{composed, "JOS\u00c9@X.TEST", " jose\u0301@x.test\n", "JOSE\u0301@x.test", "\u00a0Jos\u00e9@x.test "} {
		assert.Equal(t, composed, diff.NormalizeEmail(s), "%q", s)
	}
	assert.Empty(t, diff.NormalizeEmail(" \t"))
	assert.NotEqual(t, diff.NormalizeEmail("jose@x.test"), diff.NormalizeEmail(composed))
}

// Item 7: equal normalised emails are one email everywhere.
func TestComputeEmailsNormalised(t *testing.T) {
	nfd := "jose\u0301@x.test"
	spellings := []string{" JOS\u00c9@x.test ", nfd, "Jos\u00e9@X.test"}
	t.Run("two entries are a conflict, not two creates", func(t *testing.T) {
		p := compute([]diff.Desired{want("1", spellings[0]), want("2", spellings[1])}, nil, diff.Options{})
		assert.Equal(t, map[string]diff.Op{"ad/1": diff.OpSkip, "ad/2": diff.OpSkip}, ops(p), p.String())
		for _, c := range p.Changes {
			assert.True(t, c.HasReason(diff.ReasonDuplicateEmail), c.Status())
			assert.Contains(t, c.Status(), map[string]string{"ad/1": "User 2", "ad/2": "User 1"}[c.Key])
		}
	})
	t.Run("one plan never both adopts and creates", func(t *testing.T) {
		p := compute([]diff.Desired{want("1", spellings[0]), want("2", spellings[1])},
			[]diff.Account{{ID: "app-9", Email: spellings[2]}}, diff.Options{})
		assert.Zero(t, p.Actionable(), p.String())
	})
	t.Run("adoption", func(t *testing.T) {
		p := compute([]diff.Desired{want("1", spellings[0])}, []diff.Account{{ID: "app-9", Email: nfd}}, diff.Options{})
		require.Len(t, p.Changes, 1, p.String())
		assert.True(t, p.Changes[0].HasReason(diff.ReasonAdopted), p.String())
	})
	t.Run("another integration", func(t *testing.T) {
		p := compute([]diff.Desired{want("1", spellings[0])},
			[]diff.Account{{ID: "app-9", Source: "google", ExternalID: "g", Managed: true, Email: nfd}}, diff.Options{})
		assert.Equal(t, map[string]diff.Op{"ad/1": diff.OpSkip}, ops(p))
		assert.True(t, p.Changes[0].HasReason(diff.ReasonConflictIntegration), p.String())
	})
	t.Run("an account this integration manages for someone else", func(t *testing.T) {
		p := compute([]diff.Desired{want("1", spellings[0]), want("2", spellings[2])},
			[]diff.Account{managed("2", nfd)}, diff.Options{})
		assert.Equal(t, diff.OpSkip, ops(p)["ad/1"], p.String())
		assert.Equal(t, diff.OpUpdate, ops(p)["ad/2"], "2 takes the directory's spelling of its own email\n%s", p)
		assert.True(t, p.Changes[len(p.Changes)-1].HasReason(diff.ReasonDuplicateEmail), p.String())
		// The holder left the directory: blocked, and still holding it.
		p = compute([]diff.Desired{want("1", spellings[0])}, []diff.Account{managed("2", nfd)}, diff.Options{})
		assert.Equal(t, map[string]diff.Op{"ad/1": diff.OpSkip, "ad/2": diff.OpBlock}, ops(p), p.String())
	})
}

// Item 8: an update never moves an account onto an email another account
// holds; the other fields are applied and the old email is kept.
func TestComputeEmailUpdateConflict(t *testing.T) {
	holders := map[string]diff.Account{
		"managed here":        managed("2", "B@x.test"),
		"other integration":   {ID: "app-g", Source: "google", ExternalID: "g2", Managed: true, Email: "b@x.test "},
		"unmanaged":           {ID: "app-u", Email: "b@X.test"},
		"unchanged (no diff)": {},
	}
	for name, holder := range holders {
		t.Run(name, func(t *testing.T) {
			d := want("1", "b@x.test")
			d.Account.Title = "Head of Sales"
			in := diff.Input{Source: "ad", Desired: []diff.Desired{d}, Current: []diff.Account{managed("1", "a@x.test")},
				Options: diff.Options{Now: now}}
			if name == "unchanged (no diff)" {
				in.Unchanged = []diff.Account{managed("2", "b@x.test")}
			} else {
				in.Current = append(in.Current, holder)
			}
			p := diff.Compute(in)
			var c *diff.Change
			for i := range p.Changes {
				if p.Changes[i].Key == "ad/1" {
					c = &p.Changes[i]
				}
			}
			require.NotNil(t, c, p.String())
			assert.Equal(t, diff.OpUpdate, c.Op)
			assert.Equal(t, []diff.FieldChange{{Name: "title", Old: "", New: "Head of Sales"}}, c.Fields, "the title changes, the email does not")
			assert.Equal(t, "a@x.test", c.After.Email)
			assert.True(t, c.HasReason(diff.ReasonDuplicateEmail), c.Status())
		})
	}
	t.Run("only the email changes: listed as skipped", func(t *testing.T) {
		p := compute([]diff.Desired{want("1", "b@x.test"), want("2", "b@x.test")},
			[]diff.Account{managed("1", "a@x.test"), managed("2", "b@x.test")}, diff.Options{})
		assert.Equal(t, map[string]diff.Op{"ad/1": diff.OpSkip}, ops(p), p.String())
	})
	t.Run("swap waits for an admin", func(t *testing.T) {
		p := compute([]diff.Desired{want("1", "b@x.test"), want("2", "a@x.test")},
			[]diff.Account{managed("1", "a@x.test"), managed("2", "b@x.test")}, diff.Options{})
		assert.Zero(t, p.Actionable(), p.String())
		assert.Equal(t, 2, p.Count(diff.OpSkip))
	})
	t.Run("two accounts onto one free email", func(t *testing.T) {
		p := compute([]diff.Desired{want("1", "c@x.test"), want("2", "c@x.test")},
			[]diff.Account{managed("1", "a@x.test"), managed("2", "b@x.test")}, diff.Options{})
		assert.Zero(t, p.Actionable(), p.String())
	})
	t.Run("a chain moves one step per run", func(t *testing.T) {
		cur := []diff.Account{managed("1", "a@x.test"), managed("2", "b@x.test")}
		ds := []diff.Desired{want("1", "b@x.test"), want("2", "c@x.test")}
		p := compute(ds, cur, diff.Options{})
		assert.Equal(t, map[string]diff.Op{"ad/1": diff.OpSkip, "ad/2": diff.OpUpdate}, ops(p), p.String())
		cur, _ = applyAll(cur, nil, p)
		p = compute(ds, cur, diff.Options{})
		assert.Equal(t, map[string]diff.Op{"ad/1": diff.OpUpdate}, ops(p), p.String())
	})
	t.Run("a disabled person is blocked despite the clash", func(t *testing.T) {
		d := want("1", "b@x.test")
		d.Disabled = true
		p := compute([]diff.Desired{d}, []diff.Account{managed("1", "a@x.test"), {ID: "app-u", Email: "b@x.test"}}, diff.Options{})
		assert.Equal(t, diff.OpBlock, ops(p)["ad/1"], p.String())
	})
}

// Item 10: app accounts sharing a join key are all listed and all follow
// the entry.
func TestComputeDuplicateAppAccounts(t *testing.T) {
	first, second := managed("1", "a@x.test"), managed("1", "a@x.test")
	first.ID, second.ID = "app-7", "app-3"
	cur := []diff.Account{first, second}
	keys := []string{"ad/1", "ad/1#app=app-7"} // the lower app ID takes the plain key
	check := func(t *testing.T, p *diff.Plan, op diff.Op) {
		t.Helper()
		got := ops(p)
		for _, k := range keys {
			assert.Equal(t, op, got[k], "%s\n%s", k, p)
		}
		for _, c := range p.Changes {
			assert.True(t, c.HasReason(diff.ReasonDuplicateAccount), c.Key)
			assert.Contains(t, c.Status(), "app-3")
			assert.Contains(t, c.Status(), "app-7")
		}
	}
	t.Run("unchanged: both listed", func(t *testing.T) {
		check(t, compute([]diff.Desired{want("1", "a@x.test")}, cur, diff.Options{}), diff.OpSkip)
	})
	t.Run("disabled: every one blocked", func(t *testing.T) {
		d := want("1", "a@x.test")
		d.Disabled = true
		check(t, compute([]diff.Desired{d}, cur, diff.Options{}), diff.OpBlock)
	})
	t.Run("gone: every one blocked", func(t *testing.T) {
		check(t, compute(nil, cur, diff.Options{}), diff.OpBlock)
	})
	t.Run("left the scope: every one blocked", func(t *testing.T) {
		d := want("1", "a@x.test")
		d.OutOfScope = true
		check(t, compute([]diff.Desired{d}, cur, diff.Options{}), diff.OpBlock)
	})
	t.Run("changed: every one updated", func(t *testing.T) {
		d := want("1", "a@x.test")
		d.Account.Title = "CEO"
		check(t, compute([]diff.Desired{d}, cur, diff.Options{}), diff.OpUpdate)
	})
	t.Run("any order", func(t *testing.T) {
		d := want("1", "a@x.test")
		d.Disabled = true
		a := render(t, compute([]diff.Desired{d}, cur, diff.Options{}))
		b := render(t, compute([]diff.Desired{d}, []diff.Account{second, first}, diff.Options{}))
		assert.Equal(t, string(a), string(b))
	})
	rapid.Check(t, func(t *rapid.T) {
		in := genJoinInput(t)
		p := diff.Compute(in)
		byKey := map[string][]diff.Account{}
		for _, a := range in.Current {
			if a.Managed && a.Source == "ad" {
				byKey[a.ExternalID] = append(byKey[a.ExternalID], a)
			}
		}
		listed := map[string]*diff.Change{}
		for i, c := range p.Changes {
			if c.Before != nil && !strings.Contains(c.Key, "#entry=") {
				listed[c.Before.ID] = &p.Changes[i]
			}
		}
		for id, as := range byKey {
			if len(as) < 2 {
				continue
			}
			for _, a := range as {
				c := listed[a.ID]
				if c == nil || !c.HasReason(diff.ReasonDuplicateAccount) {
					t.Fatalf("duplicate account %s of %s not listed with its reason:\n%s", a.ID, id, p)
				}
			}
			if len(claimants(in)[id]) == 0 && in.Options.Missing == diff.MissingBlock {
				for _, a := range as {
					if !a.Blocked && listed[a.ID].Op != diff.OpBlock {
						t.Fatalf("duplicate %s of a person who left is not blocked:\n%s", a.ID, p)
					}
				}
			}
		}
	})
}

// Item 25: the unblock says why the person is back, by what sync recorded
// when it blocked them.
func TestComputeUnblockReason(t *testing.T) {
	outOfScope := want("1", "a@x.test")
	outOfScope.OutOfScope = true
	outOfScope.Reason = diff.Reason{Code: diff.ReasonOutOfScope, Detail: "OU Contractors is not synced"}
	disabled := want("1", "a@x.test")
	disabled.Disabled = true
	back := want("1", "a@x.test")
	back.Reason = diff.Reason{Code: "scope.included", Detail: "In OU Sales users"}
	for _, tc := range []struct {
		name   string
		away   []diff.Desired
		code   string
		detail string
	}{
		{"moved back into a synced OU", []diff.Desired{outOfScope}, diff.ReasonScopeReturned, "Back in the sync scope: In OU Sales users"},
		{"enabled again", []diff.Desired{disabled}, diff.ReasonEnabled, "Enabled again in the directory"},
		{"restored", nil, diff.ReasonRestored, "Back in the directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cur := []diff.Account{managed("1", "a@x.test")}
			p := compute(tc.away, cur, diff.Options{})
			require.Equal(t, 1, p.Count(diff.OpBlock), p.String())
			cur, _ = applyAll(cur, nil, p)
			p = compute([]diff.Desired{back}, cur, diff.Options{})
			require.Equal(t, map[string]diff.Op{"ad/1": diff.OpUnblock}, ops(p), p.String())
			assert.Equal(t, []diff.Reason{{Code: tc.code, Detail: tc.detail}}, p.Changes[0].Reasons)
			assert.Empty(t, p.Changes[0].After.BlockReason)
		})
	}
	t.Run("a block from before the field unblocks neutrally", func(t *testing.T) {
		old := managed("1", "a@x.test")
		old.Blocked, old.BlockedBySync, old.BlockedAt = true, true, now.Add(-time.Hour)
		p := compute([]diff.Desired{back}, []diff.Account{old}, diff.Options{})
		require.Equal(t, map[string]diff.Op{"ad/1": diff.OpUnblock}, ops(p), p.String())
		assert.False(t, p.Changes[0].HasReason(diff.ReasonEnabled), "the account may never have been disabled")
		assert.True(t, p.Changes[0].HasReason(diff.ReasonActive))
	})
}
