package store_test

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dirsync-go/dirsync/store"
	"github.com/dirsync-go/dirsync/store/storetest"
)

func TestMemory(t *testing.T) {
	require.NoError(t, storetest.Test(context.Background(), func(context.Context) (store.Store, error) {
		return store.NewMemory(), nil
	}))
}

// plain is a Store without Updater, so UpdateJSON takes its own lock. Get
// yields between the read and the write to widen the window a lost update
// would need.
type plain struct{ m *store.Memory }

func (p plain) Get(ctx context.Context, key string) ([]byte, error) {
	b, err := p.m.Get(ctx, key)
	runtime.Gosched()
	return b, err
}
func (p plain) Put(ctx context.Context, key string, v []byte) error { return p.m.Put(ctx, key, v) }
func (p plain) Delete(ctx context.Context, key string) error        { return p.m.Delete(ctx, key) }

// unhashable is a comparable type holding a value that is not: it cannot
// be a map key, so UpdateJSON locks by key alone.
type unhashable struct {
	plain
	tag any
}

func TestStoreWithoutUpdater(t *testing.T) {
	require.NoError(t, storetest.Test(context.Background(), func(context.Context) (store.Store, error) {
		return plain{store.NewMemory()}, nil
	}))
	require.NoError(t, storetest.Test(context.Background(), func(context.Context) (store.Store, error) {
		return unhashable{plain{store.NewMemory()}, []int{1}}, nil
	}))
}

// TestUpdateJSONSharedLock has two values of one plain store (as two
// Syncers sharing a Store hold it): their cycles on one key are serialised
// too.
func TestUpdateJSONSharedLock(t *testing.T) {
	ctx := context.Background()
	m := store.NewMemory()
	var wg sync.WaitGroup
	for w := range 8 {
		st := plain{m}
		wg.Go(func() {
			for range 50 {
				assert.NoError(t, store.UpdateJSON(ctx, st, "n", func(n *int) error { *n++; return nil }), "writer %d", w)
			}
		})
	}
	wg.Wait()
	var n int
	require.NoError(t, store.GetJSON(ctx, m, "n", &n))
	assert.Equal(t, 400, n)
}

func TestUpdateJSON(t *testing.T) {
	ctx := context.Background()
	for name, st := range map[string]store.Store{"updater": store.NewMemory(), "plain": plain{store.NewMemory()}} {
		t.Run(name, func(t *testing.T) {
			// A missing key starts at zero.
			require.NoError(t, store.UpdateJSON(ctx, st, "k", func(v *map[string]int) error {
				assert.Nil(t, *v)
				*v = map[string]int{"a": 1}
				return nil
			}))
			var got map[string]int
			require.NoError(t, store.GetJSON(ctx, st, "k", &got))
			assert.Equal(t, map[string]int{"a": 1}, got)

			// An error from f writes nothing.
			boom := errors.New("boom")
			err := store.UpdateJSON(ctx, st, "k", func(v *map[string]int) error { (*v)["a"] = 2; return boom })
			assert.ErrorIs(t, err, boom)
			require.NoError(t, store.GetJSON(ctx, st, "k", &got))
			assert.Equal(t, map[string]int{"a": 1}, got)
			err = store.UpdateJSON(ctx, st, "none", func(*int) error { return boom })
			assert.ErrorIs(t, err, boom)
			_, err = st.Get(ctx, "none")
			assert.ErrorIs(t, err, store.ErrNotFound)

			// GetJSON of a missing key is the store's ErrNotFound.
			assert.ErrorIs(t, store.GetJSON(ctx, st, "none", &got), store.ErrNotFound)

			// A corrupt value under a huge key: the error names it briefly,
			// and the value stays.
			key := strings.Repeat("k", 1<<20)
			require.NoError(t, st.Put(ctx, key, []byte("{")))
			err = store.UpdateJSON(ctx, st, key, func(*int) error { return nil })
			assert.ErrorIs(t, err, store.ErrCorruptStore)
			assert.Less(t, len(err.Error()), 200, "%.300s", err)
			err = store.GetJSON(ctx, st, key, &got)
			assert.ErrorIs(t, err, store.ErrCorruptStore)
			assert.Less(t, len(err.Error()), 200, "%.300s", err)
			b, err := st.Get(ctx, key)
			require.NoError(t, err)
			assert.Equal(t, "{", string(b))
		})
	}
}

func TestQuoteKey(t *testing.T) {
	for _, tc := range []struct{ key, want string }{
		{"", `""`},
		{"integration/corp/cursor", `"integration/corp/cursor"`},
		{"line\nbreak", `"line\nbreak"`},
		{strings.Repeat("k", 64), `"` + strings.Repeat("k", 64) + `"`},
		{strings.Repeat("k", 65), `"` + strings.Repeat("k", 64) + `"…(65 bytes)`},
		// A cut inside a character backs off to its start.
		{strings.Repeat("k", 63) + "ü" + "x", `"` + strings.Repeat("k", 63) + `"…(66 bytes)`},
		{strings.Repeat("日", 30), `"` + strings.Repeat("日", 21) + `"…(90 bytes)`},
	} {
		assert.Equal(t, tc.want, store.QuoteKey(tc.key), "%q", tc.key)
	}
	// Invalid UTF-8 is escaped and cut at 64 bytes.
	q := store.QuoteKey(strings.Repeat("\x80", 1000))
	assert.True(t, utf8.ValidString(q))
	assert.Equal(t, `"`+strings.Repeat(`\x80`, 64)+`"…(1000 bytes)`, q)
}
