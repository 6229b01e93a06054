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
//
// Without a Google Workspace, -demo starts a fake of the Directory API and
// of Google's token endpoint on loopback (internal/fakegoogle, the one the
// connector's tests use) with a small generated company, signs in to it
// with a generated service-account key by domain-wide delegation, as
// against Google, and syncs from it, printing the plan and the report:
//
//	go run ./examples/google-sync -demo
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"

	"github.com/dirsync-go/dirsync"
	"github.com/dirsync-go/dirsync/connector/google"
	"github.com/dirsync-go/dirsync/dirsynctest"
	"github.com/dirsync-go/dirsync/internal/fakegoogle"
	"github.com/dirsync-go/dirsync/mapping"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return // -h: the usage is printed
		}
		fmt.Fprintln(os.Stderr, "google-sync:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("google-sync", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "Usage: google-sync -key KEY.json -subject ADMIN [flags]\n       google-sync -demo   (offline, against a fake Google on loopback)\n\nFlags:")
		fs.PrintDefaults()
	}
	var cfg google.Config
	fs.StringVar(&cfg.ServiceAccountFile, "key", "", "service-account JSON key file")
	fs.StringVar(&cfg.Subject, "subject", "", "admin to impersonate")
	fs.StringVar(&cfg.Customer, "customer", "", "customer ID (default my_customer)")
	fs.StringVar(&cfg.Domain, "domain", "", "read only this domain")
	fs.StringVar(&cfg.Query, "query", "", "users.list query, e.g. orgUnitPath='/Sales'")
	check := fs.Bool("check", false, "only check the key, delegation and scopes")
	apply := fs.Bool("apply", false, "apply the plan to the in-memory store")
	demo := fs.Bool("demo", false, "offline: sync from a fake Google Workspace on loopback (implies -apply)")
	verbose := fs.Bool("v", false, "log debug messages (retries) to stderr")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	if *demo {
		if cfg.ServiceAccountFile != "" || cfg.Subject != "" || cfg.Customer != "" || cfg.Domain != "" {
			return errors.New("-demo brings its own fake tenant, key and admin: drop -key, -subject, -customer and -domain")
		}
		fk := startDemo()
		defer fk.Close()
		cfg.ServiceAccountJSON = string(fk.ServiceAccountJSON(fakegoogle.NewKey()))
		cfg.Subject = demoAdmin
		cfg.Endpoint = fk.URL
		*apply = true
		fmt.Fprintf(stdout, "Demo: a fake Google Workspace on %s with %d users; nothing leaves this machine.\n", fk.URL, demoUsers)
	}
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	logger.Info("opening", "config", cfg)

	cfg.Logger = logger
	conn, err := google.Open(ctx, cfg)
	if err != nil {
		return err
	}
	if *check {
		if err := conn.Check(ctx); err != nil {
			return err
		}
		fmt.Fprintln(stdout, "key, delegation and scopes are fine")
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
	if err := plan.WriteText(stdout); err != nil {
		return err
	}
	if !*apply {
		fmt.Fprintln(stdout, "Dry run: nothing applied (-apply applies the plan to the in-memory store).")
		return nil
	}
	rep, err := sy.Apply(ctx, plan)
	if rep != nil {
		fmt.Fprintln(stdout)
		if werr := rep.WriteText(stdout); werr != nil {
			return werr
		}
	}
	return err
}
