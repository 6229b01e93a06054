// Command quickstart syncs a fictional company's Active Directory export
// into a small app store, offline, the way a host application embeds
// dirsync.
//
// The directory is company.ldif (about 200 people of "Northwind Example",
// embedded in the binary), read by the LDIF connector. The app is the
// examples' app store (examples/internal/appstore): accounts, sessions and
// departments in a bbolt file under --data, so the second run knows what
// the first one did. Only OUs whose name ends with "user" or "users" are
// synced; contractors and service accounts are listed as skipped with the
// reason.
//
//	go run ./examples/quickstart              # plan, apply, report
//	go run ./examples/quickstart              # again: no changes
//	go run ./examples/quickstart --dry-run    # plan only
//	go run ./examples/quickstart --search '^[0-9]'
//	go run ./examples/quickstart --except jdoe@example.test
//	go run ./examples/quickstart -v           # with each change's fields
//
// The output starts with the plan's counts and what needs an admin's
// attention (conflicts, entries that cannot be mapped, the plan's
// warnings, a safety hold), then lists the changes one line each; -v adds
// the fields each change sets, old → new.
package main

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"

	"github.com/dirsync-go/dirsync"
	"github.com/dirsync-go/dirsync/connector/ldif"
	"github.com/dirsync-go/dirsync/examples/internal/appstore"
	"github.com/dirsync-go/dirsync/mapping"
	"github.com/dirsync-go/dirsync/policy"
	"github.com/dirsync-go/dirsync/store/filestore"
)

//go:embed company.ldif
var companyLDIF []byte

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return // -h: the usage is printed
		}
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		if errors.Is(err, dirsync.ErrSafetyLimit) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

type options struct {
	data    string
	dryRun  bool
	search  string
	except  string
	asJSON  bool
	verbose bool
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("quickstart", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "Usage: quickstart [flags]\n\nSyncs the sample company (company.ldif) into an app store under --data.\n\nFlags:")
		fs.PrintDefaults()
	}
	fs.StringVar(&o.data, "data", "quickstart-data", "directory for the app store and dirsync's state")
	fs.BoolVar(&o.dryRun, "dry-run", false, "print the plan without applying it")
	fs.StringVar(&o.search, "search", "", "show only accounts whose name, email or username matches this regular expression")
	fs.StringVar(&o.except, "except", "", "never touch this account (directory ID or email); saved for later runs (with --dry-run: planned as if saved, not saved)")
	fs.BoolVar(&o.asJSON, "json", false, "print the plan as JSON")
	fs.BoolVar(&o.verbose, "v", false, "show the fields each change sets, and log progress to stderr")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	return o, nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(o.data, 0o755); err != nil {
		return err
	}
	app, err := appstore.Open(filepath.Join(o.data, "app.db"), &appstore.Options{IDPrefix: "u-", Sessions: 2})
	if err != nil {
		return err
	}
	defer app.Close()
	if seeded, err := app.Seed(ctx, appstore.SampleSignups()); err != nil {
		return err
	} else if seeded {
		fmt.Fprintln(stdout, "New app store: 3 accounts that signed up by themselves exist before any sync.")
	}
	store, err := filestore.Open(filepath.Join(o.data, "dirsync-state.json"))
	if err != nil {
		return err
	}
	var except *policy.Exception
	if o.except != "" {
		x := policy.Exception{ID: o.except, Note: "added with --except"}
		if strings.Contains(o.except, "@") {
			x = policy.Exception{Email: o.except, Note: "added with --except"}
		}
		except = &x
	}
	// A dry run saves nothing: the exception goes into this run's policy
	// only, so the plan shows it as if it were saved.
	var planOnly []policy.Exception
	if except != nil && o.dryRun {
		planOnly = append(planOnly, *except)
	}
	sy, err := newSyncer(ctx, app, store, o, planOnly, stderr)
	if err != nil {
		return err
	}
	if except != nil {
		if o.dryRun {
			fmt.Fprintf(stdout, "Dry run: exception for %s NOT saved; the plan below shows it as if it were. Run without --dry-run to save it.\n", o.except)
		} else {
			if err := sy.AddException(ctx, *except); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "Exception saved: %s is never touched by sync.\n", o.except)
		}
	}

	plan, err := sy.Plan(ctx)
	if err != nil && !errors.Is(err, dirsync.ErrSafetyLimit) {
		return err
	}
	safetyErr := err
	view := plan
	if o.search != "" {
		if view, err = plan.Search(o.search); err != nil {
			return err
		}
	}
	if o.asJSON {
		if err := printJSON(stdout, view); err != nil {
			return err
		}
	}
	if plan.Empty() && safetyErr == nil {
		if o.search != "" && !o.asJSON {
			if err := writeChanges(stdout, plan, view, o.verbose); err != nil {
				return err
			}
		}
		fmt.Fprintln(stdout, "No changes: the app already matches the directory.")
		if n := plan.Count(dirsync.OpSkip); n > 0 && o.search == "" {
			fmt.Fprintf(stdout, "%d accounts are left alone on purpose (out of scope, disabled, exceptions, not managed by sync); list them with --search .\n", n)
		}
		return nil
	}
	if !o.asJSON {
		if err := writeSummary(stdout, plan); err != nil {
			return err
		}
		if err := writeChanges(stdout, plan, view, o.verbose); err != nil {
			return err
		}
	}
	if safetyErr != nil {
		return fmt.Errorf("plan not applied: %w", safetyErr)
	}
	if o.dryRun {
		fmt.Fprintln(stdout, "Dry run: nothing applied.")
		return nil
	}

	before, err := app.Stats(ctx)
	if err != nil {
		return err
	}
	report, applyErr := sy.Apply(ctx, plan)
	if report != nil {
		fmt.Fprintln(stdout)
		if err := writeReport(stdout, report, o.verbose); err != nil {
			return err
		}
	}
	after, err := app.Stats(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "App now: %d accounts (%d managed by sync, %d blocked), %d departments; %d sessions ended by this run.\n",
		after.Accounts, after.Managed, after.Blocked, after.Departments, after.SessionsEnded-before.SessionsEnded)
	return applyErr
}

// newSyncer wires the LDIF connector, the mapping and the policy. The
// exceptions in planOnly are part of this run's policy and are not saved.
func newSyncer(ctx context.Context, app *appstore.Store, store dirsync.Store, o options, planOnly []policy.Exception, stderr io.Writer) (*dirsync.Syncer, error) {
	conn, err := ldif.New(ctx, bytes.NewReader(companyLDIF), ldif.Config{})
	if err != nil {
		return nil, err
	}
	spec := mapping.ADSpec()
	spec.Roles = append(spec.Roles, mapping.RoleLink{Group: "App Admins", Role: "admin"})
	// The Moscow office's names in Latin letters (ICAO Doc 9303, as in
	// Russian passports; other scripts through unidecode), for colleagues
	// abroad.
	spec.Rules = append(spec.Rules, mapping.Rule{Target: "extra.latinName",
		Template: "{givenName} {sn}", Transforms: []string{"translit:ru-icao", "translit"}})
	mapper, err := mapping.New(spec)
	if err != nil {
		return nil, err
	}
	pol, err := policy.New(policy.Config{
		Scope:      policy.ScopeConfig{Rules: []policy.ScopeRule{{Action: "include", OUEndsWithUsers: true}}},
		Exceptions: planOnly,
	})
	if err != nil {
		return nil, err
	}
	logger := slog.New(slog.DiscardHandler)
	var progress func(dirsync.Progress)
	if o.verbose {
		logger = slog.New(slog.NewTextHandler(stderr, nil))
		progress = func(p dirsync.Progress) {
			fmt.Fprintf(stderr, "progress: %s %d/%d\n", p.Phase, p.Done, p.Total)
		}
	}
	return dirsync.New(conn, app, &dirsync.Options{
		Source: "northwind-ad", Mapper: mapper, Policy: pol, Store: store,
		Logger: logger, Progress: progress,
	})
}

func printJSON(w io.Writer, p *dirsync.Plan) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(p)
}
