// Package dirsynctest holds test helpers for hosts of dirsync: an in-memory
// Sink (MemorySink, the memblob of dirsync) and TestSink, the conformance
// suite a host runs against its own sink.
package dirsynctest

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"iter"
	"maps"
	"slices"
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
	depts  map[string][]string
	nextID int
	// Sessions counts open sessions per account ID; a block ends them.
	sessions map[string]int
	// Fail, if set, is called before each change; a non-nil error fails
	// that change and leaves the sink untouched.
	Fail func(c diff.Change) error
}

var (
	_ dirsync.Sink             = (*MemorySink)(nil)
	_ dirsync.DepartmentLister = (*MemorySink)(nil)
)

// NewMemorySink returns a sink holding copies of the accounts. Accounts
// without an ID get one.
func NewMemorySink(accounts ...diff.Account) *MemorySink {
	s := &MemorySink{byID: map[string]*diff.Account{}, depts: map[string][]string{}, sessions: map[string]int{}}
	for _, a := range accounts {
		a = a.Clone()
		if a.ID == "" {
			a.ID = s.newID()
		}
		s.byID[a.ID] = &a
		s.sessions[a.ID] = 1
	}
	return s
}

func (s *MemorySink) newID() string {
	s.nextID++
	return fmt.Sprintf("app-%06d", s.nextID)
}

// Accounts implements dirsync.Sink; accounts come sorted by ID.
func (s *MemorySink) Accounts(ctx context.Context) iter.Seq2[diff.Account, error] {
	return func(yield func(diff.Account, error) bool) {
		for _, a := range s.Snapshot() {
			if err := ctx.Err(); err != nil {
				yield(diff.Account{}, err)
				return
			}
			if !yield(a, nil) {
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
	for _, k := range slices.Sorted(maps.Keys(s.depts)) {
		out = append(out, slices.Clone(s.depts[k]))
	}
	return out, nil
}

func (s *MemorySink) find(source, externalID string) *diff.Account {
	if externalID == "" {
		return nil
	}
	for _, a := range s.byID {
		if a.Source == source && a.ExternalID == externalID {
			return a
		}
	}
	return nil
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
		s.depts[strings.Join(c.Department, "\x00")] = slices.Clone(c.Department)
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
		s.byID[a.ID] = &a
		s.sessions[a.ID] = 1
	case diff.OpUpdate, diff.OpBlock, diff.OpUnblock:
		if c.After == nil {
			return fmt.Errorf("dirsynctest: %s without an account", c.Op)
		}
		a := s.locate(c)
		if a == nil {
			return fmt.Errorf("%w: %s", ErrAccountNotFound, c.Key)
		}
		for _, f := range c.Fields {
			a.CopyField(f.Name, c.After)
		}
		if c.Op == diff.OpBlock {
			s.sessions[a.ID] = 0
		}
	case diff.OpDelete:
		if a := s.locate(c); a != nil {
			delete(s.byID, a.ID)
			delete(s.sessions, a.ID)
		}
	default:
		return fmt.Errorf("dirsynctest: cannot apply op %s", c.Op)
	}
	return nil
}

// sortAccounts orders accounts by ID (helper for the suite).
func sortAccounts(as []diff.Account) {
	slices.SortFunc(as, func(a, b diff.Account) int { return cmp.Compare(a.ID, b.ID) })
}
