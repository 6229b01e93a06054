// Command google-sync plans (and with -apply, applies) a sync from a
// Google Workspace directory into an in-memory app store, and prints the
// plan. It shows the wiring a host needs; a real host passes its own Sink
// and a persistent Store.
//
// It needs a service-account key with domain-wide delegation of the scopes
// in google.Scopes (see the connector/google package documentation):
//
//	go run ./examples/google-sync -key key.json -subject admin@example.com
//	go run ./examples/google-sync -key key.json -subject admin@example.com -query "orgUnitPath='/Sales'"
//	go run ./examples/google-sync -key key.json -subject admin@example.com -check
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"

	"github.com/dirsync-go/dirsync"
	"github.com/dirsync-go/dirsync/connector/google"
	"github.com/dirsync-go/dirsync/dirsynctest"
	"github.com/dirsync-go/dirsync/mapping"
)

func main() {
	var cfg google.Config
	flag.StringVar(&cfg.ServiceAccountFile, "key", "", "service-account JSON key file")
	flag.StringVar(&cfg.Subject, "subject", "", "admin to impersonate")
	flag.StringVar(&cfg.Customer, "customer", "", "customer ID (default my_customer)")
	flag.StringVar(&cfg.Domain, "domain", "", "read only this domain")
	flag.StringVar(&cfg.Query, "query", "", "users.list query, e.g. orgUnitPath='/Sales'")
	check := flag.Bool("check", false, "only check the key, delegation and scopes")
	apply := flag.Bool("apply", false, "apply the plan to the in-memory store")
	verbose := flag.Bool("v", false, "log debug messages (retries) to stderr")
	flag.Parse()
	if err := run(cfg, *check, *apply, *verbose); err != nil {
		fmt.Fprintln(os.Stderr, "google-sync:", err)
		os.Exit(1)
	}
}

func run(cfg google.Config, check, apply, verbose bool) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	level := slog.LevelInfo
	if verbose {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	logger.Info("opening", "config", cfg)

	cfg.Logger = logger
	conn, err := google.Open(ctx, cfg)
	if err != nil {
		return err
	}
	if check {
		if err := conn.Check(ctx); err != nil {
			return err
		}
		fmt.Println("key, delegation and scopes are fine")
		return nil
	}
	m, err := mapping.New(mapping.GoogleSpec())
	if err != nil {
		return err
	}
	sink := dirsynctest.NewMemorySink()
	sy, err := dirsync.New(conn, sink, &dirsync.Options{Source: "google", Mapper: m, Logger: logger})
	if err != nil {
		return err
	}
	plan, err := sy.Plan(ctx)
	if err != nil {
		return err
	}
	if err := plan.WriteText(os.Stdout); err != nil {
		return err
	}
	if !apply {
		return nil
	}
	rep, err := sy.Apply(ctx, plan)
	if err != nil {
		return err
	}
	return rep.WriteText(os.Stdout)
}
