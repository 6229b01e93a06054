package pgstore_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dirsync-go/dirsync"
	"github.com/dirsync-go/dirsync/connector/fake"
	"github.com/dirsync-go/dirsync/dirsynctest"
	"github.com/dirsync-go/dirsync/internal/pgtest"
	"github.com/dirsync-go/dirsync/store"
	"github.com/dirsync-go/dirsync/store/filestore"
	"github.com/dirsync-go/dirsync/store/pgstore"
)

// BenchmarkRunAfterOneChange is one sync run of a 1,000-user integration
// after one user changed (an incremental read, one update applied), with
// the integration's state in each store. The run reads and writes the
// store several times (cursor, exceptions, fingerprint, pending, history
// of up to 100 runs), so the difference between stores is the store's
// cost per run; "postgres" includes the integration's lock (pgstore is a
// store.Locker), "postgres-without-lock" hides it.
func BenchmarkRunAfterOneChange(b *testing.B) {
	ctx := context.Background()
	stores := []struct {
		name string
		open func(b *testing.B) dirsync.Store
	}{
		{"memory", func(b *testing.B) dirsync.Store { return store.NewMemory() }},
		{"file", func(b *testing.B) dirsync.Store {
			st, err := filestore.Open(filepath.Join(b.TempDir(), "state.json"))
			require.NoError(b, err)
			return st
		}},
		{"postgres", func(b *testing.B) dirsync.Store {
			pool := pgtest.Pool(b, 4)
			st, err := pgstore.New(pool, &pgstore.Options{Schema: pgtest.Schema(b, pool)})
			require.NoError(b, err)
			require.NoError(b, st.Migrate(ctx))
			return st
		}},
		// The same store without its lock: the difference is what a run
		// pays for the integration's lock.
		{"postgres-without-lock", func(b *testing.B) dirsync.Store {
			pool := pgtest.Pool(b, 4)
			st, err := pgstore.New(pool, &pgstore.Options{Schema: pgtest.Schema(b, pool)})
			require.NoError(b, err)
			require.NoError(b, st.Migrate(ctx))
			return struct {
				store.Store
				store.Updater
			}{st, st}
		}},
	}
	for _, s := range stores {
		b.Run(s.name, func(b *testing.B) {
			dir := fake.New(fake.Company(1000, 1)...)
			sink := dirsynctest.NewMemorySink()
			sy, err := dirsync.New(dir, sink, &dirsync.Options{Source: "corp", Store: s.open(b), HistoryLimit: 100})
			require.NoError(b, err)
			_, err = sy.RunOnce(ctx, "setup", dirsync.ModeAutomatic)
			require.NoError(b, err)
			var id string
			for e, err := range dir.Read(ctx) {
				require.NoError(b, err)
				if e.Attrs.Get("mail") != "" {
					id = e.ID
					break
				}
			}
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				b.StopTimer()
				require.NoError(b, dir.Set(id, "title", fmt.Sprintf("Title %d", i)))
				b.StartTimer()
				rec, err := sy.RunOnce(ctx, "bench", dirsync.ModeAutomatic)
				if err != nil || rec.Applied != 1 {
					b.Fatalf("run: %+v, %v", rec, err)
				}
			}
		})
	}
}
