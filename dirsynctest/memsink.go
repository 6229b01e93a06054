// Package dirsynctest holds test helpers for hosts of dirsync: an in-memory
// Sink (MemorySink, the memblob of dirsync) and TestSink, the conformance
// suite a host runs against its own sink.
package dirsynctest

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/dirsync-go/dirsync"
	"github.com/dirsync-go/dirsync/diff"
)

// MemorySink is a Sink in memory. It is safe for concurrent use. Fail lets
// tests inject failures.
type MemorySink struct {
	mu     sync.Mutex
	byID   map[string]*diff.Account
	byKey  map[string]*diff.Account // join key → account
	depts  map[string][]string
	nextID int
	// Sessions counts open sessions per account ID; a block ends them.
	sessions map[string]int
	// Fail, if set, is called before each change; a non-nil error fails
	// that change and leaves the sink untouched. With Concurrency above 1
	// it is called from several goroutines at once.
	Fail func(c diff.Change) error
	// Concurrency, if above 1, is declared as the sink's ApplyConcurrency
	// (dirsync.ConcurrentSink): a Syncer then applies that many changes at
	// once. The sink is safe for it.
	Concurrency int
}

var (
	_ dirsync.Sink             = (*MemorySink)(nil)
	_ dirsync.DepartmentLister = (*MemorySink)(nil)
	_ dirsync.ConcurrentSink   = (*MemorySink)(nil)
)

// ApplyConcurrency implements dirsync.ConcurrentSink with Concurrency.
func (s *MemorySink) ApplyConcurrency() int { return s.Concurrency }

// NewMemorySink returns a sink holding copies of the accounts. Accounts
// without an ID get one. The IDs it gives, here and to created accounts,
// are "app-" and a number; they start past the highest such ID among the
// accounts and skip any ID the sink holds, so a new account never
// overwrites a seeded one.
func NewMemorySink(accounts ...diff.Account) *MemorySink {
	s := &MemorySink{byID: map[string]*diff.Account{}, byKey: map[string]*diff.Account{},
		depts: map[string][]string{}, sessions: map[string]int{}}
	for _, a := range accounts {
		if n, ok := idNumber(a.ID); ok && n > s.nextID {
			s.nextID = n
		}
	}
	// Accounts with an ID first, so that one without an ID, wherever it
	// stands, is not given an ID a later account holds.
	for _, withID := range []bool{true, false} {
		for _, a := range accounts {
			if (a.ID != "") != withID {
				continue
			}
			a = a.Clone()
			if a.ID == "" {
				a.ID = s.newID()
			}
			s.put(&a)
			s.sessions[a.ID] = 1
		}
	}
	return s
}

// idPrefix starts the IDs the sink gives.
const idPrefix = "app-"

// idNumber returns the number of an ID of the shape the sink gives.
func idNumber(id string) (int, bool) {
	digits, ok := strings.CutPrefix(id, idPrefix)
	if !ok || digits == "" || len(digits) > 9 || strings.TrimLeft(digits, "0123456789") != "" {
		return 0, false
	}
	n, err := strconv.Atoi(digits)
	return n, err == nil
}

// put stores a and indexes its join key.
func (s *MemorySink) put(a *diff.Account) {
	s.byID[a.ID] = a
	if k := a.Key(); k != "" {
		s.byKey[k] = a
	}
}

// newID returns an ID no account of the sink holds.
func (s *MemorySink) newID() string {
	for {
		s.nextID++
		id := fmt.Sprintf("%s%06d", idPrefix, s.nextID)
		if _, taken := s.byID[id]; !taken {
			return id
		}
	}
}

// Accounts implements dirsync.Sink; accounts come sorted by ID. Accounts
// changed while the sequence runs may be seen before or after the change.
func (s *MemorySink) Accounts(ctx context.Context) iter.Seq2[diff.Account, error] {
	return func(yield func(diff.Account, error) bool) {
		s.mu.Lock()
		ids := slices.Sorted(maps.Keys(s.byID))
		s.mu.Unlock()
		for _, id := range ids {
			if err := ctx.Err(); err != nil {
				yield(diff.Account{}, err)
				return
			}
			s.mu.Lock()
			a, ok := s.byID[id]
			var c diff.Account
			if ok {
				c = a.Clone()
			}
			s.mu.Unlock()
			if ok && !yield(c, nil) {
				return
			}
		}
	}
}

// Snapshot returns copies of all accounts sorted by ID.
func (s *MemorySink) Snapshot() []diff.Account {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]diff.Account, 0, len(s.byID))
	for _, id := range slices.Sorted(maps.Keys(s.byID)) {
		out = append(out, s.byID[id].Clone())
	}
	return out
}

// Get returns the account managed under (source, externalID).
func (s *MemorySink) Get(source, externalID string) (diff.Account, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a := s.find(source, externalID); a != nil {
		return a.Clone(), true
	}
	return diff.Account{}, false
}

// Sessions returns the number of open sessions of the account with the app
// ID.
func (s *MemorySink) Sessions(id string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sessions[id]
}

// Departments implements dirsync.DepartmentLister.
func (s *MemorySink) Departments(ctx context.Context) ([][]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([][]string, 0, len(s.depts))
	for _, p := range s.depts {
		out = append(out, slices.Clone(p))
	}
	slices.SortFunc(out, slices.Compare)
	return out, nil
}

func (s *MemorySink) find(source, externalID string) *diff.Account {
	if externalID == "" {
		return nil
	}
	return s.byKey[source+"/"+externalID]
}

// locate finds the account a change is about: by app ID, else by join key.
func (s *MemorySink) locate(c diff.Change) *diff.Account {
	for _, a := range []*diff.Account{c.Before, c.After} {
		if a == nil {
			continue
		}
		if a.ID != "" {
			if got, ok := s.byID[a.ID]; ok {
				return got
			}
		}
		if got := s.find(a.Source, a.ExternalID); got != nil {
			return got
		}
	}
	return nil
}

// ErrAccountNotFound is returned for an update of an account the sink does
// not hold.
var ErrAccountNotFound = errors.New("dirsynctest: account not found")

// Apply implements dirsync.Sink.
func (s *MemorySink) Apply(ctx context.Context, c diff.Change) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.Fail != nil {
		if err := s.Fail(c); err != nil {
			return err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch c.Op {
	case diff.OpCreateDepartment:
		if len(c.Department) == 0 {
			return errors.New("dirsynctest: create-department without a path")
		}
		s.depts[fmt.Sprintf("%q", c.Department)] = slices.Clone(c.Department) // ["a\x00b"] and ["a" "b"] are two
	case diff.OpCreate:
		if c.After == nil {
			return errors.New("dirsynctest: create without an account")
		}
		if got := s.find(c.After.Source, c.After.ExternalID); got != nil {
			// Applied before: make it match, keep its ID.
			id := got.ID
			*got = c.After.Clone()
			got.ID = id
			return nil
		}
		a := c.After.Clone()
		a.ID = s.newID()
		s.put(&a)
		s.sessions[a.ID] = 1
	case diff.OpUpdate, diff.OpBlock, diff.OpUnblock:
		if c.After == nil {
			return fmt.Errorf("dirsynctest: %s without an account", c.Op)
		}
		a := s.locate(c)
		if a == nil {
			return fmt.Errorf("%w: %s", ErrAccountNotFound, c.Key)
		}
		oldKey := a.Key()
		for _, f := range c.Fields {
			a.CopyField(f.Name, c.After)
		}
		if k := a.Key(); k != oldKey {
			delete(s.byKey, oldKey)
			s.put(a)
		}
		if c.Op == diff.OpBlock {
			s.sessions[a.ID] = 0
		}
	case diff.OpDelete:
		if a := s.locate(c); a != nil {
			delete(s.byID, a.ID)
			delete(s.byKey, a.Key())
			delete(s.sessions, a.ID)
		}
	default:
		return fmt.Errorf("dirsynctest: cannot apply op %s", c.Op)
	}
	return nil
}

var _ dirsync.AccountLookup = (*MemorySink)(nil)

// LookupAccounts implements dirsync.AccountLookup: every account managed
// under source with one of the external IDs (all of them when a create ran
// twice), and every account with one of the emails (compared as
// diff.NormalizeEmail compares them), sorted by ID.
func (s *MemorySink) LookupAccounts(ctx context.Context, source string, externalIDs, emails []string) ([]diff.Account, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ids := map[string]bool{}
	for _, id := range externalIDs {
		if id != "" {
			ids[id] = true
		}
	}
	want := map[string]bool{}
	for _, e := range emails {
		if n := diff.NormalizeEmail(e); n != "" {
			want[n] = true
		}
	}
	var found []string
	for id, a := range s.byID {
		if (a.Source == source && ids[a.ExternalID]) || (len(want) > 0 && want[diff.NormalizeEmail(a.Email)]) {
			found = append(found, id)
		}
	}
	slices.Sort(found)
	out := make([]diff.Account, 0, len(found))
	for _, id := range found {
		out = append(out, s.byID[id].Clone())
	}
	return out, nil
}
