// Package pgtest connects tests to the throwaway PostgreSQL cluster that
// scripts/postgres.sh starts (scripts/test.sh does it before go test): its
// URL is in DIRSYNC_PG_URL. Without it the tests skip, except under
// CI=true, where they fail: CI must not pass by testing nothing. A test
// that restarts PostgreSQL starts a cluster of its own (NewCluster) and
// never touches the shared one.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
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
	return open(t, URL(t), maxConns)
}

func open(t testing.TB, url string, maxConns int32) *pgxpool.Pool {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
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

// Cluster is a PostgreSQL cluster of one test's own, under t.TempDir(),
// for tests that stop or restart the server (never the shared one of
// DIRSYNC_PG_URL): started as scripts/postgres.sh starts one (initdb as
// the "postgres" user when the test runs as root, a Unix socket in the
// cluster's directory and no TCP port, fsync off), with a database
// "dirsync", and stopped when the test ends.
type Cluster struct {
	// URL connects to the cluster's database "dirsync".
	URL    string
	pgCtl  string
	data   string
	dir    string
	asUser *user.User // nil: the current user
}

// NewCluster creates and starts a cluster. Without initdb it skips the
// test, except under CI=true, where it fails.
func NewCluster(t testing.TB) *Cluster {
	t.Helper()
	initdb, pgCtl := findBin("initdb"), findBin("pg_ctl")
	if initdb == "" || pgCtl == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("pgtest: initdb or pg_ctl not found under CI=true: install Debian's postgresql package")
		}
		t.Skip("pgtest: initdb or pg_ctl not found; install Debian's postgresql package")
	}
	dir := t.TempDir()
	c := &Cluster{pgCtl: pgCtl, data: filepath.Join(dir, "data"), dir: dir}
	if os.Getuid() == 0 {
		// initdb refuses to run as root: the cluster belongs to the
		// postgres user, who must reach the directory.
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatalf("pgtest: running as root needs a \"postgres\" user (Debian's postgresql package makes it): %v", err)
		}
		c.asUser = u
		for d := dir; d != os.TempDir() && d != "/" && d != "."; d = filepath.Dir(d) {
			if err := os.Chmod(d, 0o755); err != nil {
				t.Fatalf("pgtest: %v", err)
			}
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatalf("pgtest: %v", err)
		}
	}
	c.run(t, initdb, "-D", c.data, "-U", "postgres", "--auth=trust", "--encoding=UTF8", "--no-sync")
	opts := fmt.Sprintf("-c listen_addresses='' -c unix_socket_directories=%s -c fsync=off -c synchronous_commit=off -c full_page_writes=off", dir)
	c.run(t, pgCtl, "-D", c.data, "-l", filepath.Join(dir, "server.log"), "-w", "-t", "60", "-o", opts, "start")
	t.Cleanup(func() { _ = c.command(pgCtl, "-D", c.data, "-m", "immediate", "-w", "stop").Run() })
	admin := "postgres://postgres@/postgres?host=" + dir + "&sslmode=disable"
	conn, err := pgx.Connect(context.Background(), admin)
	if err != nil {
		t.Fatalf("pgtest: connect to the new cluster: %v", err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(context.Background(), "CREATE DATABASE dirsync"); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	c.URL = "postgres://postgres@/dirsync?host=" + dir + "&sslmode=disable"
	return c
}

// Restart stops the server with pg_ctl's fast mode (every session is
// ended, as in a restart or failover) and starts it again, waiting until
// it accepts connections.
func (c *Cluster) Restart(t testing.TB) {
	t.Helper()
	c.run(t, c.pgCtl, "-D", c.data, "-l", filepath.Join(c.dir, "server.log"), "-m", "fast", "-w", "-t", "60", "restart")
}

// Pool opens a pool on the cluster's database, closed when the test ends.
func (c *Cluster) Pool(t testing.TB, maxConns int32) *pgxpool.Pool {
	t.Helper()
	return open(t, c.URL, maxConns)
}

func (c *Cluster) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	cmd.Dir = c.dir
	if c.asUser != nil {
		uid, _ := strconv.ParseUint(c.asUser.Uid, 10, 32)
		gid, _ := strconv.ParseUint(c.asUser.Gid, 10, 32)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
		cmd.Env = append(os.Environ(), "HOME="+c.dir)
	}
	return cmd
}

// run runs a PostgreSQL program to its end. Its output goes to a file,
// not a pipe: a server that pg_ctl starts inherits pg_ctl's descriptors
// and would hold a pipe open for as long as it runs.
func (c *Cluster) run(t testing.TB, name string, args ...string) {
	t.Helper()
	out, err := os.CreateTemp(c.dir, "cmd-*.log")
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	defer os.Remove(out.Name())
	defer out.Close()
	cmd := c.command(name, args...)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Run(); err != nil {
		b, _ := os.ReadFile(out.Name())
		log, _ := os.ReadFile(filepath.Join(c.dir, "server.log"))
		t.Fatalf("pgtest: %s %s: %v\n%s\n%s", filepath.Base(name), strings.Join(args, " "), err, b, log)
	}
}

// findBin finds a PostgreSQL program where Debian puts it, or on PATH.
func findBin(name string) string {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	slices.Sort(dirs)
	for i := len(dirs) - 1; i >= 0; i-- { // the newest version first
		p := filepath.Join(dirs[i], name)
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	p, _ := exec.LookPath(name)
	return p
}
