package storetest_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dirsync-go/dirsync/store"
	"github.com/dirsync-go/dirsync/store/storetest"
)

// brokenStore breaks the Store contract in the ways Test looks for.
type brokenStore struct {
	mu sync.Mutex
	m  map[string][]byte
}

func (s *brokenStore) Get(ctx context.Context, key string) ([]byte, error) {
	s.mu.Lock()
	v, ok := s.m[key]
	s.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("no such key %q", key) // not ErrNotFound, and the whole key
	}
	runtime.Gosched() // widen the window between a read and a write
	return v, nil     // the store's own slice
}

func (s *brokenStore) Put(ctx context.Context, key string, value []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(value) > 1<<20 {
		value = value[:1<<20] // truncates large values
	}
	s.m[key] = value // keeps the caller's slice
	return nil
}

func (s *brokenStore) Delete(ctx context.Context, key string) error { return nil } // forgets to delete

// Update is not atomic: it reads, yields, and writes.
func (s *brokenStore) Update(ctx context.Context, key string, f func([]byte, bool) ([]byte, error)) error {
	s.mu.Lock()
	old, found := s.m[key]
	s.mu.Unlock()
	runtime.Gosched()
	v, err := f(old, found)
	if err != nil {
		return err
	}
	return s.Put(ctx, key, v)
}

func TestFindsBrokenStores(t *testing.T) {
	err := storetest.Test(context.Background(), func(context.Context) (store.Store, error) {
		return &brokenStore{m: map[string][]byte{}}, nil
	})
	require.Error(t, err)
	for _, check := range []string{"round trip", "missing key", "copies", "large values", "long keys",
		"concurrent updates (if implemented)", "concurrent UpdateJSON"} {
		assert.Contains(t, err.Error(), check+":", "Test did not report %q", check)
	}
	assert.Less(t, len(err.Error()), 8<<10, "the report repeats huge keys or values")
}

// verboseStore is correct but repeats the whole key in its errors.
type verboseStore struct{ *store.Memory }

func (s verboseStore) Get(ctx context.Context, key string) ([]byte, error) {
	b, err := s.Memory.Get(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("%w: %q", store.ErrNotFound, key)
	}
	return b, nil
}

func TestFindsLongErrors(t *testing.T) {
	err := storetest.Test(context.Background(), func(context.Context) (store.Store, error) {
		return verboseStore{store.NewMemory()}, nil
	})
	require.Error(t, err)
	assert.True(t, strings.HasPrefix(err.Error(), "long keys: a 1048588-byte key: the error of Get is "), "%.300s", err)
	assert.NotContains(t, err.Error(), "\n", "only the long-key check fails")
}

func TestNewStoreFails(t *testing.T) {
	boom := errors.New("boom")
	err := storetest.Test(context.Background(), func(context.Context) (store.Store, error) { return nil, boom })
	assert.ErrorIs(t, err, boom)
	assert.Contains(t, err.Error(), "round trip: new store: boom")
}
