package store

import (
	"context"
	"fmt"
	"slices"
	"sync"
)

// Memory is a Store in memory, for tests, examples and one-shot runs. Its
// zero value is not ready for use: call NewMemory.
type Memory struct {
	mu sync.Mutex
	m  map[string][]byte
}

var (
	_ Store   = (*Memory)(nil)
	_ Updater = (*Memory)(nil)
)

// NewMemory returns an empty Memory.
func NewMemory() *Memory { return &Memory{m: map[string][]byte{}} }

// Get implements Store.
func (s *Memory) Get(ctx context.Context, key string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.m[key]
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, QuoteKey(key))
	}
	return slices.Clone(v), nil
}

// Put implements Store.
func (s *Memory) Put(ctx context.Context, key string, value []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[key] = slices.Clone(value)
	return nil
}

// Update implements Updater.
func (s *Memory) Update(ctx context.Context, key string, f func(old []byte, found bool) ([]byte, error)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	old, found := s.m[key]
	v, err := f(slices.Clone(old), found)
	if err != nil {
		return err
	}
	s.m[key] = slices.Clone(v)
	return nil
}

// Delete implements Store.
func (s *Memory) Delete(ctx context.Context, key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, key)
	return nil
}
