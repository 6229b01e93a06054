// Command replicas runs two replicas of an app against one PostgreSQL
// database, the way a SaaS runs dirsync on several app servers: the
// integrations' state lives in store/pgstore, syncs are River jobs
// (package riversync), and an admin's "Sync now" on either replica
// coalesces into one run that never overlaps another run of the same
// integration.
//
//	eval "$(bash scripts/postgres.sh start)"
//	go run ./examples/replicas            # uses DIRSYNC_PG_URL
//	bash scripts/postgres.sh stop
//
// The directory is an in-memory fake with three people and the app is an
// in-memory sink, shared by both replicas as a real directory and a real
// app database would be.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/dirsync-go/dirsync"
	"github.com/dirsync-go/dirsync/connector"
	"github.com/dirsync-go/dirsync/connector/fake"
	"github.com/dirsync-go/dirsync/dirsynctest"
	"github.com/dirsync-go/dirsync/riversync"
	"github.com/dirsync-go/dirsync/store/pgstore"
)

func person(id, name string) connector.Entry {
	e := connector.Entry{ID: id, Kind: connector.KindUser, Path: []string{"Users"}, Attrs: connector.Attrs{}}
	e.Attrs.Set("sAMAccountName", name)
	e.Attrs.Set("mail", name+"@example.test")
	e.Attrs.Set("givenName", name)
	e.Attrs.Set("sn", "Example")
	return e
}

func main() {
	url := flag.String("db", os.Getenv("DIRSYNC_PG_URL"), "PostgreSQL URL (default $DIRSYNC_PG_URL)")
	flag.Parse()
	if *url == "" {
		log.Fatal("no database: set DIRSYNC_PG_URL (eval \"$(bash scripts/postgres.sh start)\") or pass -db")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	directory := fake.New(person("1", "alice"), person("2", "bob"), person("3", "carol"))
	app := dirsynctest.NewMemorySink()
	admin, err := pgxpool.New(ctx, *url)
	check(err)
	defer admin.Close()

	// The app of this example lives in memory, so its sync state starts
	// over too; a real app keeps both.
	_, err = admin.Exec(ctx, "DROP SCHEMA IF EXISTS dirsync_example, dirsync_example_river CASCADE")
	check(err)

	// The migration step, once per deploy (safe to repeat, and from
	// several replicas at once).
	st, err := pgstore.New(admin, &pgstore.Options{Schema: "dirsync_example"})
	check(err)
	check(st.Migrate(ctx))
	check(riversync.Migrate(ctx, admin, "dirsync_example_river"))

	type replica struct {
		pool   *pgxpool.Pool
		client *river.Client[pgx.Tx]
		worker *riversync.Worker
	}
	start := func(name string) replica {
		pool, err := pgxpool.New(ctx, *url)
		check(err)
		store, err := pgstore.New(pool, &pgstore.Options{Schema: "dirsync_example"})
		check(err)
		// The three lines of wiring: a worker that finds an
		// integration's Syncer, registered with River, and a schedule.
		worker, err := riversync.NewWorker(riversync.Config{
			Resolve: func(ctx context.Context, integration string) (*dirsync.Syncer, dirsync.Mode, error) {
				sy, err := dirsync.New(directory, app, &dirsync.Options{Source: integration, Store: store})
				return sy, dirsync.ModeAutomatic, err
			},
			OnRun: func(ctx context.Context, integration string, rec dirsync.RunRecord, err error) {
				fmt.Printf("%s ran %s (%s): %s, %d applied\n", name, integration, rec.Trigger, rec.Outcome, rec.Applied)
			}})
		check(err)
		workers := river.NewWorkers()
		river.AddWorker(workers, worker)
		every, err := riversync.PeriodicJob("corp-ad", dirsync.Schedule{Every: 2 * time.Hour})
		check(err)
		client, err := river.NewClient(riverpgxv5.New(pool), &river.Config{Schema: "dirsync_example_river",
			Queues:  map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: 4}},
			Workers: workers, PeriodicJobs: []*river.PeriodicJob{every}})
		check(err)
		check(client.Start(ctx))
		return replica{pool, client, worker}
	}
	a, b := start("replica-a"), start("replica-b")

	// An admin presses "Sync now" on both replicas at once, twice.
	for _, r := range []replica{a, b, a, b} {
		inserted, err := riversync.SyncNow(ctx, r.pool, r.client, "corp-ad")
		check(err)
		fmt.Println("sync now: job inserted:", inserted)
	}
	for len(app.Snapshot()) < 3 {
		if ctx.Err() != nil {
			log.Fatal("the sync did not finish in time")
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond) // let a coalesced second run finish
	for _, r := range []replica{a, b} {
		check(r.client.Stop(ctx))
	}

	sy, err := dirsync.New(directory, app, &dirsync.Options{Source: "corp-ad", Store: st})
	check(err)
	runs, err := sy.History(ctx)
	check(err)
	fmt.Printf("%d accounts in the app; history of corp-ad, newest first:\n", len(app.Snapshot()))
	for _, r := range runs {
		fmt.Printf("  %s %-9s %-10s applied %d\n", r.Started.Format(time.TimeOnly), r.Trigger, r.Outcome, r.Applied)
	}
}

func check(err error) {
	if err != nil {
		log.Fatal(err)
	}
}
