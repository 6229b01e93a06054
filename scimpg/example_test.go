package scimpg_test

import (
	"context"
	"log"
	"net/http"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/dirsync-go/dirsync/connector/scim"
	"github.com/dirsync-go/dirsync/scimpg"
)

// Every replica runs the same wiring: one Server per integration on the
// shared resources, mounted behind any load balancer. (Not run: it needs
// a database.)
func Example() {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, "postgres://app@db/app")
	if err != nil {
		log.Fatal(err)
	}
	st, err := scimpg.New(pool, nil)
	if err != nil {
		log.Fatal(err)
	}
	if err := st.Migrate(ctx); err != nil { // replicas take turns
		log.Fatal(err)
	}
	srv, err := scim.Open(ctx, scim.Config{
		Resources: st.Resources("acme-okta"),
		OnChange: func(ctx context.Context) {
			// riversync.SyncNow(ctx, pool, riverClient, "acme-okta"): the
			// writes of every replica coalesce into one job.
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	http.Handle("/scim/v2/acme/", http.StripPrefix("/scim/v2/acme", srv))
}
