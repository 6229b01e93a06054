// Package pgmigrate applies a package's embedded SQL migrations to a
// PostgreSQL schema: the one runner behind store/pgstore's and scimpg's
// Migrate.
//
// Migrations are files named migrations/NNNN_name.sql in an fs.FS, applied
// in order of their number; "{{schema}}" in their text stands for the
// quoted schema. Every migration not yet recorded in the schema's version
// table is applied in one transaction, under a transaction-scoped
// advisory lock, so replicas migrating at once take turns and a failed
// migration leaves the schema as it was.
package pgmigrate

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Set is one package's migrations and where it records them.
type Set struct {
	// FS holds migrations/NNNN_name.sql.
	FS fs.FS
	// Prefix starts every error ("pgstore"), and names the advisory lock.
	Prefix string
	// Table is the version table, in the schema ("migrations").
	Table string
	// TooNew is wrapped by the error Migrate returns when the schema was
	// migrated by a newer version of the package.
	TooNew error
}

// Migration is one embedded migration.
type Migration struct {
	Version int
	Name    string
	SQL     string
}

// Load returns the set's migrations in order.
func (s Set) Load() ([]Migration, error) {
	names, err := fs.Glob(s.FS, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	var out []Migration
	for _, name := range names {
		base := strings.TrimPrefix(name, "migrations/")
		v, err := strconv.Atoi(strings.SplitN(base, "_", 2)[0])
		if err != nil {
			return nil, fmt.Errorf("%s: migration %s: no version number", s.Prefix, base)
		}
		b, err := fs.ReadFile(s.FS, name)
		if err != nil {
			return nil, err
		}
		out = append(out, Migration{Version: v, Name: base, SQL: string(b)})
	}
	if len(out) == 0 {
		return nil, errors.New(s.Prefix + ": no migrations embedded")
	}
	slices.SortFunc(out, func(a, b Migration) int { return a.Version - b.Version })
	return out, nil
}

// Migrate creates schema when missing and applies the migrations it has
// not recorded yet.
func (s Set) Migrate(ctx context.Context, pool *pgxpool.Pool, schema string) error {
	ms, err := s.Load()
	if err != nil {
		return err
	}
	q := pgx.Identifier{schema}.Sanitize()
	versions := pgx.Identifier{schema, s.Table}.Sanitize()
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		// Replicas migrating at once take turns; the lock ends with the
		// transaction.
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('dirsync.'||$1||'.migrate.'||$2, 0))`, s.Prefix, schema); err != nil {
			return fmt.Errorf("%s: migrate: lock: %w", s.Prefix, err)
		}
		if _, err := tx.Exec(ctx, `CREATE SCHEMA IF NOT EXISTS `+q); err != nil {
			return fmt.Errorf("%s: migrate: create schema %s: %w", s.Prefix, q, err)
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS `+versions+` (
			version    integer     PRIMARY KEY,
			name       text        NOT NULL,
			applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
			return fmt.Errorf("%s: migrate: %w", s.Prefix, err)
		}
		var current int
		if err := tx.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM `+versions).Scan(&current); err != nil {
			return fmt.Errorf("%s: migrate: %w", s.Prefix, err)
		}
		if latest := ms[len(ms)-1].Version; current > latest {
			return fmt.Errorf("%w: schema %s is at version %d, this program knows up to %d", s.TooNew, schema, current, latest)
		}
		for _, m := range ms {
			if m.Version <= current {
				continue
			}
			if _, err := tx.Exec(ctx, strings.ReplaceAll(m.SQL, "{{schema}}", q)); err != nil {
				return fmt.Errorf("%s: migrate: %s: %w", s.Prefix, m.Name, err)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO `+versions+` (version, name) VALUES ($1, $2)`, m.Version, m.Name); err != nil {
				return fmt.Errorf("%s: migrate: %s: %w", s.Prefix, m.Name, err)
			}
		}
		return nil
	})
}
