// Command console is an admin console for directory sync in the browser,
// built only on dirsync's public API: the "Active Directory Sync" page a
// host application gives its admins.
//
//	go run ./examples/console                      # http://127.0.0.1:8080/
//	go run ./examples/console -addr 127.0.0.1:0    # any free port
//	go run ./examples/console -config integrations.json
//	go run ./examples/console -ldif lab=export.ldf
//	go run ./examples/console -generate 100000      # plus a generated company
//
// The app is one tenant whose user store is the examples' app store
// (examples/internal/appstore, a bbolt file under -data), prefilled with
// three accounts people created themselves. The first integration,
// northwind-ad, is the bundled sample company (the quickstart's LDIF
// export), so the console works without a network. Real Active
// Directory, Entra ID and Google Workspace integrations come from the
// -config file (see fileConfig), their secrets from environment variables
// it names.
//
// Pages: Integrations (schedule and mode, last and next run, Sync now,
// Remove with approval), Preview (Sync, then the plan in pages with its
// reasons, regex search, exceptions listed above it with name and email;
// Sync shows its read and its apply as two phases, then the report in
// pages), Settings (mapping, scope with a group picker, lifecycle,
// schedule, mode), Users (in pages, each managed person linking their
// log) and History. A run's details list its changes from the
// provisioning log (dirsync.Syncer.Log) with a regex search, operation and
// status filters and Next links; a person's page (/i/NAME/person?account=
// external ID or email) lists their entries across runs (logpages.go).
//
// A new integration is in review mode: each run's plan, scheduled or
// "Sync now", waits for an admin (a scheduled run's as a plan waiting for
// approval, "Sync now"'s on the preview), and automatic mode may be
// chosen only after a first reviewed sync. The plan shown is made once and
// reused across pages and searches while nothing it depends on moved (see
// plancache.go); Sync applies only the plan on screen, by its digest.
//
// Every POST carries a per-session CSRF token and passes Go's
// cross-origin protection; pages are html/template, so directory values
// are text; no secret is ever rendered. A request whose Host header is not
// localhost, 127.0.0.0/8 or [::1] (any port), the host name of -addr or
// one given with -allow-host is refused with 421 before any page runs, so
// a web page that rebinds its own DNS name to 127.0.0.1 cannot read the
// console or press its buttons. Ctrl-C stops it cleanly.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/dirsync-go/dirsync/connector/fake"
	"github.com/dirsync-go/dirsync/examples/internal/appstore"
	"github.com/dirsync-go/dirsync/store/filestore"
)

// appConcurrency is how many changes the app store takes at once; the
// changes applied together share a commit.
const appConcurrency = 256

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr, nil); err != nil {
		fmt.Fprintln(os.Stderr, "console:", err)
		os.Exit(1)
	}
}

type options struct {
	addr    string
	data    string
	config  string
	ldif    ldifFlag
	verbose bool
	// generate, above 0, adds the integration "generated": a company of
	// that many people made by connector/fake (for trying the console at
	// scale).
	generate int
	// allowHosts are host names the console answers to besides the
	// loopback ones (see hosts.go).
	allowHosts hostFlag
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("console", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.addr, "addr", "127.0.0.1:8080", "address to listen on (keep it on loopback: the console has no login)")
	fs.StringVar(&o.data, "data", "console-data", "directory for the app store, dirsync's state and the settings")
	fs.StringVar(&o.config, "config", "", "JSON file adding AD, Entra ID, Google or LDIF integrations")
	fs.Var(&o.ldif, "ldif", "add an LDIF export as an integration: name=path (repeatable)")
	fs.BoolVar(&o.verbose, "v", false, "log to stderr")
	fs.IntVar(&o.generate, "generate", 0, "also add the integration \"generated\": a made-up company of this many people, in memory")
	fs.Var(&o.allowHosts, "allow-host", "also answer requests for this host name (repeatable); by default only localhost, 127.0.0.1 and [::1] are served")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	return o, nil
}

// run serves the console until ctx is done. ready, if set, receives the
// console's URL once it listens (for tests).
func run(ctx context.Context, args []string, stdout, stderr io.Writer, ready chan<- string) error {
	o, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	log := slog.New(slog.DiscardHandler)
	if o.verbose {
		log = slog.New(slog.NewTextHandler(stderr, nil))
	}
	c, err := openConsole(ctx, o, log)
	if err != nil {
		return err
	}
	defer c.close()
	srv, err := newServer(c, o.allowedHosts())
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		return fmt.Errorf("%w (another program may use the port; try -addr 127.0.0.1:0 for any free one)", err)
	}
	if a, ok := ln.Addr().(*net.TCPAddr); !ok || !a.IP.IsLoopback() {
		ln.Close()
		return fmt.Errorf("-addr %s is not a loopback address: this example console has no sign-in, so it serves only this machine (127.0.0.1)", o.addr)
	}
	url := "http://" + ln.Addr().String() + "/"
	fmt.Fprintf(stdout, "dirsync admin console: %s (Ctrl-C to stop)\n", url)
	if ready != nil {
		ready <- url
	}
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second,
		BaseContext: func(net.Listener) context.Context { return ctx }}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	err = hs.Shutdown(shutdown)
	fmt.Fprintln(stdout, "console stopped")
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// openConsole opens the data directory and builds the integrations.
func openConsole(ctx context.Context, o options, log *slog.Logger) (*console, error) {
	if err := os.MkdirAll(o.data, 0o700); err != nil {
		return nil, err
	}
	// Concurrency: the Syncer applies up to appConcurrency changes at
	// once, and the store commits those together.
	app, err := appstore.Open(filepath.Join(o.data, "app.db"), &appstore.Options{Concurrency: appConcurrency})
	if err != nil {
		return nil, err
	}
	if _, err := app.Seed(ctx, appstore.SampleSignups()); err != nil {
		app.Close()
		return nil, err
	}
	store, err := filestore.Open(filepath.Join(o.data, "dirsync-state.json"))
	if err != nil {
		app.Close()
		return nil, err
	}
	base, cancel := context.WithCancel(context.WithoutCancel(ctx))
	c := &console{dataDir: o.data, app: app, store: store, log: log, base: base, cancel: cancel}
	if err := c.loadState(); err != nil {
		c.close()
		return nil, err
	}
	fail := func(err error) (*console, error) {
		c.close()
		return nil, err
	}
	in, st, err := sampleIntegration(ctx)
	if err != nil {
		return fail(err)
	}
	if err := c.add(in, st); err != nil {
		return fail(err)
	}
	var configs []integrationConfig
	if o.config != "" {
		fc, err := readConfig(o.config)
		if err != nil {
			return fail(err)
		}
		configs = fc.Integrations
	}
	configs = append(configs, o.ldif...)
	if o.generate > 0 {
		in := &integration{Name: "generated", Kind: "fake", conn: fake.New(fake.Company(o.generate, 1)...),
			Summary: []kv{{"Directory", fmt.Sprintf("a generated company of %d people (connector/fake), in memory", o.generate)}}}
		// Everyone in scope: fake.Company's OUs are not all "…Users".
		st := defaultSettings("ad")
		st.Policy.Scope.Rules = nil
		if err := c.add(in, st); err != nil {
			return fail(err)
		}
	}
	for _, ic := range configs {
		in, st, err := ic.open(ctx, log)
		if err != nil {
			return fail(err)
		}
		if err := c.add(in, st); err != nil {
			return fail(err)
		}
	}
	return c, nil
}

// close stops every schedule and sync and closes the stores.
func (c *console) close() {
	c.cancel()
	c.wg.Wait()
	c.app.Close()
}
