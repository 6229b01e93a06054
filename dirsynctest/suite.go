package dirsynctest

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"slices"
	"strings"
	"sync"

	"github.com/dirsync-go/dirsync"
	"github.com/dirsync-go/dirsync/connector"
	"github.com/dirsync-go/dirsync/diff"
	"github.com/dirsync-go/dirsync/mapping"
)

// NewSinkFunc returns a new, empty sink for one check of TestSink. It may
// return sinks that share storage only if each starts empty.
type NewSinkFunc func(ctx context.Context) (dirsync.Sink, error)

// TestSink checks that sinks made by newSink follow the dirsync.Sink
// contract: created accounts read back, updates set only the listed fields,
// applying a change twice is harmless, blocks and unblocks stick, deleting a
// missing account succeeds, accounts sync does not manage are left alone,
// a plan applied once leaves nothing to do, and a sink that declares
// itself safe for concurrent calls (dirsync.ConcurrentSink) loses nothing
// under them (run it with -race to catch data races). It returns one error
// joining every finding, or nil. Like testing/fstest.TestFS it needs no
// *testing.T, so a host can run it anywhere.
func TestSink(ctx context.Context, newSink NewSinkFunc) error {
	checks := []struct {
		name string
		f    func(context.Context, dirsync.Sink) error
	}{
		{"create and read back", checkCreate},
		{"update only the listed fields", checkUpdateListed},
		{"idempotent apply", checkIdempotent},
		{"block and unblock", checkBlockUnblock},
		{"delete of a missing account", checkDeleteMissing},
		{"unmanaged accounts untouched", checkUnmanaged},
		{"convergence", checkConverge},
		{"account lookup (if implemented)", checkLookup},
		{"concurrent apply (if declared)", checkConcurrent},
	}
	var errs []error
	for _, c := range checks {
		s, err := newSink(ctx)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: new sink: %w", c.name, err))
			continue
		}
		if err := c.f(ctx, s); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", c.name, err))
		}
	}
	return errors.Join(errs...)
}

const suiteSource = "sinktest"

func sampleAccount(id string) diff.Account {
	return diff.Account{Source: suiteSource, ExternalID: id, Managed: true,
		Username: "user" + id, Email: "user" + id + "@example.test", GivenName: "Given" + id, FamilyName: "Family" + id,
		DisplayName: "Given" + id + " Family" + id, Title: "Engineer", Phone: "+1 555 01" + id,
		Department: []string{"Engineering"}, Roles: []string{"member"}}
}

func allFields(a *diff.Account) []diff.FieldChange {
	var out []diff.FieldChange
	for _, f := range diff.Fields {
		if v := a.Get(f); v != "" {
			out = append(out, diff.FieldChange{Name: f, New: v})
		}
	}
	return out
}

func create(ctx context.Context, s dirsync.Sink, a diff.Account) (diff.Account, error) {
	c := diff.Change{Op: diff.OpCreate, Key: a.Key(), After: &a, Fields: allFields(&a),
		Reasons: []diff.Reason{{Code: diff.ReasonNew}}}
	if err := s.Apply(ctx, c); err != nil {
		return diff.Account{}, fmt.Errorf("apply create: %w", err)
	}
	got, n, err := lookup(ctx, s, a.Source, a.ExternalID)
	if err != nil {
		return diff.Account{}, err
	}
	if n != 1 {
		return diff.Account{}, fmt.Errorf("after create, %d accounts have key %s, want 1", n, a.Key())
	}
	return got, nil
}

// lookup returns the account with the join key and how many have it.
func lookup(ctx context.Context, s dirsync.Sink, source, id string) (diff.Account, int, error) {
	var got diff.Account
	n := 0
	for a, err := range s.Accounts(ctx) {
		if err != nil {
			return diff.Account{}, 0, fmt.Errorf("list accounts: %w", err)
		}
		if a.Source == source && a.ExternalID == id {
			got = a
			n++
		}
	}
	return got, n, nil
}

// profileDiff lists the well-known fields where a and b differ.
func profileDiff(a, b *diff.Account) []string {
	var out []string
	for _, f := range diff.Fields {
		if a.Get(f) != b.Get(f) {
			out = append(out, fmt.Sprintf("%s: got %q, want %q", f, a.Get(f), b.Get(f)))
		}
	}
	return out
}

func checkCreate(ctx context.Context, s dirsync.Sink) error {
	want := sampleAccount("01")
	got, err := create(ctx, s, want)
	if err != nil {
		return err
	}
	var errs []error
	if got.ID == "" {
		errs = append(errs, errors.New("created account has no app ID"))
	}
	if !got.Managed {
		errs = append(errs, errors.New("created account is not marked managed"))
	}
	if got.Blocked {
		errs = append(errs, errors.New("created account is blocked"))
	}
	for _, d := range profileDiff(&got, &want) {
		errs = append(errs, errors.New(d))
	}
	return errors.Join(errs...)
}

func checkUpdateListed(ctx context.Context, s dirsync.Sink) error {
	before, err := create(ctx, s, sampleAccount("02"))
	if err != nil {
		return err
	}
	after := before.Clone()
	after.Title, after.Phone, after.DisplayName = "Director", "+1 555 0999", "Changed Name"
	c := diff.Change{Op: diff.OpUpdate, Key: before.Key(), Before: &before, After: &after,
		Fields: []diff.FieldChange{{Name: diff.FieldTitle, Old: before.Title, New: after.Title}}}
	if err := s.Apply(ctx, c); err != nil {
		return fmt.Errorf("apply update: %w", err)
	}
	got, _, err := lookup(ctx, s, before.Source, before.ExternalID)
	if err != nil {
		return err
	}
	want := before.Clone()
	want.Title = "Director"
	if d := profileDiff(&got, &want); len(d) > 0 {
		return fmt.Errorf("update of title only: %v", d)
	}
	return nil
}

func checkIdempotent(ctx context.Context, s dirsync.Sink) error {
	a := sampleAccount("03")
	c := diff.Change{Op: diff.OpCreate, Key: a.Key(), After: &a, Fields: allFields(&a)}
	for i := range 2 {
		if err := s.Apply(ctx, c); err != nil {
			return fmt.Errorf("apply create #%d: %w", i+1, err)
		}
	}
	before, n, err := lookup(ctx, s, a.Source, a.ExternalID)
	if err != nil {
		return err
	}
	if n != 1 {
		return fmt.Errorf("create applied twice left %d accounts with key %s, want 1", n, a.Key())
	}
	after := before.Clone()
	after.Title = "Manager"
	u := diff.Change{Op: diff.OpUpdate, Key: a.Key(), Before: &before, After: &after,
		Fields: []diff.FieldChange{{Name: diff.FieldTitle, Old: before.Title, New: "Manager"}}}
	for i := range 2 {
		if err := s.Apply(ctx, u); err != nil {
			return fmt.Errorf("apply update #%d: %w", i+1, err)
		}
	}
	got, _, err := lookup(ctx, s, a.Source, a.ExternalID)
	if err != nil {
		return err
	}
	if d := profileDiff(&got, &after); len(d) > 0 {
		return fmt.Errorf("update applied twice: %v", d)
	}
	return nil
}

func checkBlockUnblock(ctx context.Context, s dirsync.Sink) error {
	before, err := create(ctx, s, sampleAccount("04"))
	if err != nil {
		return err
	}
	blocked := before.Clone()
	blocked.Blocked, blocked.BlockedBySync, blocked.BlockReason = true, true, diff.ReasonScopeLeft
	field := []diff.FieldChange{{Name: diff.FieldBlocked, Old: "false", New: "true"}}
	if err := s.Apply(ctx, diff.Change{Op: diff.OpBlock, Key: before.Key(), Before: &before, After: &blocked, Fields: field}); err != nil {
		return fmt.Errorf("apply block: %w", err)
	}
	got, _, err := lookup(ctx, s, before.Source, before.ExternalID)
	if err != nil {
		return err
	}
	if !got.Blocked || !got.BlockedBySync {
		return fmt.Errorf("after block: blocked=%v blockedBySync=%v, want both true", got.Blocked, got.BlockedBySync)
	}
	if got.BlockReason != blocked.BlockReason {
		// Without it, a person moved back into the sync scope is told
		// "unblocked" without the reason.
		return fmt.Errorf("after block: blockReason=%q, want %q (it travels with the field %q)", got.BlockReason, blocked.BlockReason, diff.FieldBlocked)
	}
	unblocked := got.Clone()
	unblocked.Blocked, unblocked.BlockedBySync, unblocked.BlockReason = false, false, ""
	field = []diff.FieldChange{{Name: diff.FieldBlocked, Old: "true", New: "false"}}
	if err := s.Apply(ctx, diff.Change{Op: diff.OpUnblock, Key: got.Key(), Before: &got, After: &unblocked, Fields: field}); err != nil {
		return fmt.Errorf("apply unblock: %w", err)
	}
	got, _, err = lookup(ctx, s, before.Source, before.ExternalID)
	if err != nil {
		return err
	}
	if got.Blocked || got.BlockedBySync || got.BlockReason != "" {
		return fmt.Errorf("after unblock: blocked=%v blockedBySync=%v blockReason=%q, want none", got.Blocked, got.BlockedBySync, got.BlockReason)
	}
	return nil
}

func checkDeleteMissing(ctx context.Context, s dirsync.Sink) error {
	a, err := create(ctx, s, sampleAccount("05"))
	if err != nil {
		return err
	}
	c := diff.Change{Op: diff.OpDelete, Key: a.Key(), Before: &a}
	for i := range 2 {
		if err := s.Apply(ctx, c); err != nil {
			return fmt.Errorf("apply delete #%d: %w", i+1, err)
		}
	}
	if _, n, err := lookup(ctx, s, a.Source, a.ExternalID); err != nil || n != 0 {
		return fmt.Errorf("after delete %d accounts remain (err %v)", n, err)
	}
	ghost := sampleAccount("99")
	ghost.ID = "no-such-account"
	if err := s.Apply(ctx, diff.Change{Op: diff.OpDelete, Key: ghost.Key(), Before: &ghost}); err != nil {
		return fmt.Errorf("delete of an account that never existed: %w", err)
	}
	return nil
}

// sliceConnector is the smallest connector: a fixed list.
type sliceConnector []connector.Entry

func (c sliceConnector) Read(ctx context.Context) iter.Seq2[connector.Entry, error] {
	return func(yield func(connector.Entry, error) bool) {
		for _, e := range c {
			if err := ctx.Err(); err != nil {
				yield(connector.Entry{}, err)
				return
			}
			if !yield(e.Clone(), nil) {
				return
			}
		}
	}
}

func suiteDirectory() sliceConnector {
	var out sliceConnector
	for i := range 12 {
		id := fmt.Sprintf("%02d", i)
		e := connector.Entry{ID: "guid-" + id, Kind: connector.KindUser, Path: []string{"Staff Users"},
			Attrs: connector.Attrs{}}
		if i%3 == 0 {
			e.Path = []string{"Europe", "Sales department users"}
		}
		e.Attrs.Set("sAMAccountName", "person"+id)
		e.Attrs.Set("mail", "person"+id+"@example.test")
		e.Attrs.Set("givenName", "Person")
		e.Attrs.Set("sn", "Number "+id)
		e.Attrs.Set("title", "Analyst")
		e.Disabled = i == 7
		out = append(out, e)
	}
	return out
}

func newSuiteSyncer(s dirsync.Sink, dir sliceConnector) (*dirsync.Syncer, error) {
	m, err := mapping.New(mapping.ADSpec())
	if err != nil {
		return nil, err
	}
	return dirsync.New(dir, s, &dirsync.Options{Source: suiteSource, Mapper: m})
}

func syncOnce(ctx context.Context, sy *dirsync.Syncer) (*dirsync.Plan, error) {
	p, err := sy.Plan(ctx)
	if err != nil {
		return nil, fmt.Errorf("plan: %w", err)
	}
	if _, err := sy.Apply(ctx, p); err != nil {
		return nil, fmt.Errorf("apply: %w", err)
	}
	return p, nil
}

func checkUnmanaged(ctx context.Context, s dirsync.Sink) error {
	outsider := diff.Account{Username: "consultant", Email: "consultant@partner.test", DisplayName: "Outside Consultant"}
	if err := s.Apply(ctx, diff.Change{Op: diff.OpCreate, Key: "app/consultant", After: &outsider, Fields: allFields(&outsider)}); err != nil {
		return fmt.Errorf("create unmanaged account: %w", err)
	}
	find := func() (diff.Account, error) {
		for a, err := range s.Accounts(ctx) {
			if err != nil {
				return diff.Account{}, err
			}
			if a.Email == outsider.Email {
				return a, nil
			}
		}
		return diff.Account{}, errors.New("unmanaged account not listed by Accounts")
	}
	before, err := find()
	if err != nil {
		return err
	}
	if before.Managed {
		return errors.New("an account created with Managed=false reads back as managed")
	}
	sy, err := newSuiteSyncer(s, suiteDirectory())
	if err != nil {
		return err
	}
	if _, err := syncOnce(ctx, sy); err != nil {
		return err
	}
	after, err := find()
	if err != nil {
		return err
	}
	if after.Managed || after.Blocked || len(profileDiff(&after, &before)) > 0 {
		return fmt.Errorf("sync changed an unmanaged account: %+v", after)
	}
	return nil
}

func checkConverge(ctx context.Context, s dirsync.Sink) error {
	dir := suiteDirectory()
	sy, err := newSuiteSyncer(s, dir)
	if err != nil {
		return err
	}
	if _, err := syncOnce(ctx, sy); err != nil {
		return err
	}
	p, err := sy.Plan(ctx)
	if err != nil {
		return fmt.Errorf("second plan: %w", err)
	}
	if !p.Empty() {
		return fmt.Errorf("second plan is not empty:\n%s", p)
	}
	// A change at the source, applied, converges too.
	dir = slices.Clone(dir)
	dir[1] = dir[1].Clone()
	dir[1].Attrs.Set("title", "Senior Analyst")
	dir[2] = dir[2].Clone()
	dir[2].Disabled = true
	if sy, err = newSuiteSyncer(s, dir[:len(dir)-1]); err != nil {
		return err
	}
	first, err := syncOnce(ctx, sy)
	if err != nil {
		return err
	}
	if first.Count(diff.OpUpdate) != 1 || first.Count(diff.OpBlock) != 2 {
		return fmt.Errorf("after a title change, a disable and a removal, plan is %s:\n%s", first.Summary(), first)
	}
	if p, err = sy.Plan(ctx); err != nil {
		return fmt.Errorf("plan after changes: %w", err)
	}
	if !p.Empty() {
		return fmt.Errorf("plan after applying changes is not empty:\n%s", p)
	}
	return nil
}

func checkLookup(ctx context.Context, s dirsync.Sink) error {
	al, ok := s.(dirsync.AccountLookup)
	if !ok {
		return nil
	}
	a, err := create(ctx, s, sampleAccount("07"))
	if err != nil {
		return err
	}
	b, err := create(ctx, s, sampleAccount("08"))
	if err != nil {
		return err
	}
	other := diff.Account{Username: "walkin", Email: "Walk.In@Example.test"}
	if err := s.Apply(ctx, diff.Change{Op: diff.OpCreate, Key: "app/walkin", After: &other, Fields: allFields(&other)}); err != nil {
		return fmt.Errorf("create unmanaged account: %w", err)
	}
	got, err := al.LookupAccounts(ctx, suiteSource, []string{a.ExternalID, "no-such-id"}, []string{"walk.in@example.test"})
	if err != nil {
		return fmt.Errorf("LookupAccounts: %w", err)
	}
	var keys []string
	for _, g := range got {
		keys = append(keys, g.Key()+"|"+strings.ToLower(g.Email))
	}
	slices.Sort(keys)
	want := []string{"|walk.in@example.test", a.Key() + "|" + a.Email}
	slices.Sort(want)
	if !slices.Equal(keys, want) {
		return fmt.Errorf("LookupAccounts by ID %s and email walk.in@example.test returned %v, want %v (and not %s)", a.ExternalID, keys, want, b.Key())
	}
	return nil
}

// checkConcurrent applies creates, then updates and blocks of distinct
// accounts from as many goroutines as the sink declares, and checks that
// every change is there: nothing lost, nothing doubled.
func checkConcurrent(ctx context.Context, s dirsync.Sink) error {
	cs, ok := s.(dirsync.ConcurrentSink)
	if !ok || cs.ApplyConcurrency() <= 1 {
		return nil
	}
	n := max(4*cs.ApplyConcurrency(), 32)
	run := func(f func(i int) error) error {
		errs := make([]error, n)
		sem := make(chan struct{}, cs.ApplyConcurrency())
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				errs[i] = f(i)
			}()
		}
		wg.Wait()
		return errors.Join(errs...)
	}
	if err := run(func(i int) error {
		_, err := create(ctx, s, sampleAccount(fmt.Sprintf("c%03d", i)))
		return err
	}); err != nil {
		return err
	}
	accounts, err := list(ctx, s)
	if err != nil {
		return err
	}
	byExt := map[string]diff.Account{}
	for _, a := range accounts {
		if _, dup := byExt[a.ExternalID]; dup && a.Source == suiteSource {
			return fmt.Errorf("account %s created twice", a.ExternalID)
		}
		byExt[a.ExternalID] = a
	}
	if err := run(func(i int) error {
		before, ok := byExt[fmt.Sprintf("c%03d", i)]
		if !ok {
			return fmt.Errorf("created account c%03d is missing", i)
		}
		after := before.Clone()
		if i%2 == 0 {
			after.Title = "Title " + fmt.Sprint(i)
			return s.Apply(ctx, diff.Change{Op: diff.OpUpdate, Key: before.Key(), Before: &before, After: &after,
				Fields: []diff.FieldChange{{Name: diff.FieldTitle, Old: before.Title, New: after.Title}}})
		}
		after.Blocked, after.BlockedBySync = true, true
		return s.Apply(ctx, diff.Change{Op: diff.OpBlock, Key: before.Key(), Before: &before, After: &after,
			Fields: []diff.FieldChange{{Name: diff.FieldBlocked, Old: "false", New: "true"}}})
	}); err != nil {
		return err
	}
	accounts, err = list(ctx, s)
	if err != nil {
		return err
	}
	seen := 0
	for _, a := range accounts {
		var i int
		if _, err := fmt.Sscanf(a.ExternalID, "c%03d", &i); err != nil || a.Source != suiteSource {
			continue
		}
		seen++
		if i%2 == 0 && a.Title != "Title "+fmt.Sprint(i) {
			return fmt.Errorf("account %s: update lost (title %q)", a.ExternalID, a.Title)
		}
		if i%2 == 1 && !a.Blocked {
			return fmt.Errorf("account %s: block lost", a.ExternalID)
		}
	}
	if seen != n {
		return fmt.Errorf("%d of %d accounts after concurrent changes", seen, n)
	}
	return nil
}

// list reads every account of the sink.
func list(ctx context.Context, s dirsync.Sink) ([]diff.Account, error) {
	var out []diff.Account
	for a, err := range s.Accounts(ctx) {
		if err != nil {
			return nil, fmt.Errorf("list accounts: %w", err)
		}
		out = append(out, a)
	}
	return out, nil
}
