// Package pgtest connects tests to the throwaway PostgreSQL cluster that
// scripts/postgres.sh starts (scripts/test.sh does it before go test): its
// URL is in DIRSYNC_PG_URL. Without it the tests skip, except under
// CI=true, where they fail: CI must not pass by testing nothing.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// URL returns DIRSYNC_PG_URL, or ends the test: a skip, or a failure
// under CI=true.
func URL(t testing.TB) string {
	t.Helper()
	u := os.Getenv("DIRSYNC_PG_URL")
	if u == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("DIRSYNC_PG_URL is not set under CI=true: start PostgreSQL with scripts/postgres.sh (scripts/test.sh does)")
		}
		t.Skip("DIRSYNC_PG_URL not set; run eval \"$(bash scripts/postgres.sh start)\" or scripts/test.sh")
	}
	return u
}

// Pool opens a pool on the test database, closed when the test ends.
// maxConns 0 keeps pgx's default.
func Pool(t testing.TB, maxConns int32) *pgxpool.Pool {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(URL(t))
	if err != nil {
		t.Fatalf("pgtest: DIRSYNC_PG_URL: %v", err)
	}
	if maxConns > 0 {
		cfg.MaxConns = maxConns
	}
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatalf("pgtest: connect: %v", err)
	}
	t.Cleanup(pool.Close)
	if err := pool.Ping(context.Background()); err != nil {
		t.Fatalf("pgtest: ping %s: %v", cfg.ConnConfig.Host, err)
	}
	return pool
}

// Schema returns a new schema name, dropped (with everything in it) when
// the test ends.
func Schema(t testing.TB, pool *pgxpool.Pool) string {
	t.Helper()
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "t_" + hex.EncodeToString(b)
	t.Cleanup(func() {
		_, _ = pool.Exec(context.Background(), "DROP SCHEMA IF EXISTS "+pgx.Identifier{name}.Sanitize()+" CASCADE")
	})
	return name
}
