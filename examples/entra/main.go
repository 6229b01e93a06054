// Command entra previews a sync from a Microsoft Entra ID tenant: it
// checks the app's credential and permissions, reads the tenant through
// Microsoft Graph and prints the plan that would bring an (empty,
// in-memory) app store in step with it. It changes nothing, neither in
// the tenant nor anywhere else.
//
//	export ENTRA_TENANT_ID=contoso.onmicrosoft.com
//	export ENTRA_CLIENT_ID=00000000-0000-0000-0000-000000000000
//	export ENTRA_CLIENT_SECRET=...   # or --cert app.pem
//	go run ./examples/entra
//	go run ./examples/entra --search '^a' --graph https://graph.microsoft.us/v1.0
//	go run ./examples/entra --groups Sales   # groups whose name starts with Sales
//
// The app registration needs the application permissions User.Read.All
// and GroupMember.Read.All (or Directory.Read.All), with admin consent.
//
// Without a tenant, -demo starts a fake of Microsoft Graph on loopback
// (internal/fakegraph, the one the connector's tests use) with a small
// generated tenant, reads it through the real Graph SDK as above, and
// syncs it into the in-memory app store, printing the plan and the report:
//
//	go run ./examples/entra -demo
//	go run ./examples/entra -demo --groups Sales
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
	"strings"

	"github.com/dirsync-go/dirsync"
	"github.com/dirsync-go/dirsync/connector"
	"github.com/dirsync-go/dirsync/connector/entra"
	"github.com/dirsync-go/dirsync/dirsynctest"
	"github.com/dirsync-go/dirsync/internal/fakegraph"
	"github.com/dirsync-go/dirsync/mapping"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return // -h: the usage is printed
		}
		fmt.Fprintln(os.Stderr, "entra:", err)
		if errors.Is(err, connector.ErrAuth) {
			fmt.Fprintln(os.Stderr, "entra: check the tenant, client ID and secret, the app's application permissions and the admin consent")
		}
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, out, stderr io.Writer) error {
	fs := flag.NewFlagSet("entra", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "Usage: entra [flags]   (credentials from ENTRA_TENANT_ID, ENTRA_CLIENT_ID, ENTRA_CLIENT_SECRET)\n       entra -demo      (offline, against a fake Graph on loopback)\n\nFlags:")
		fs.PrintDefaults()
	}
	cfg := entra.Config{}
	fs.StringVar(&cfg.TenantID, "tenant", os.Getenv("ENTRA_TENANT_ID"), "tenant ID or domain (env ENTRA_TENANT_ID)")
	fs.StringVar(&cfg.ClientID, "client", os.Getenv("ENTRA_CLIENT_ID"), "application (client) ID (env ENTRA_CLIENT_ID)")
	fs.StringVar(&cfg.CertificatePath, "cert", os.Getenv("ENTRA_CERTIFICATE_PATH"), "PEM file with the app's certificate and key, instead of a secret (env ENTRA_CERTIFICATE_PATH)")
	fs.StringVar(&cfg.GraphBaseURL, "graph", entra.DefaultGraphBaseURL, "Graph base URL (national clouds)")
	fs.StringVar(&cfg.OrgPathAttribute, "org-path", entra.DefaultOrgPathAttribute, "user property used as the org path")
	search := fs.String("search", "", "print only the plan lines of accounts matching this regexp")
	groups := fs.String("groups", "", "list the groups with a word of their name starting with this (Graph $search), and stop")
	verbose := fs.Bool("v", false, "log requests and progress to stderr")
	demo := fs.Bool("demo", false, "offline: sync a fake tenant on loopback into the in-memory store")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	if *demo {
		var set []string
		fs.Visit(func(f *flag.Flag) {
			switch f.Name {
			case "tenant", "client", "cert", "graph":
				set = append(set, "-"+f.Name)
			}
		})
		if len(set) > 0 {
			return fmt.Errorf("-demo brings its own tenant and credential: drop %s", strings.Join(set, " "))
		}
		fg := startDemo()
		defer fg.Close()
		// The demo's credential: the fake accepts one fixed token, as a
		// host's own token source (azcore.TokenCredential) would hand out.
		cfg = entra.Config{Credential: fixedToken(fakegraph.Token), GraphBaseURL: fg.BaseURL(), OrgPathAttribute: cfg.OrgPathAttribute}
		fmt.Fprintf(out, "Demo: a fake Microsoft Graph on %s with %d users; nothing leaves this machine.\n", fg.BaseURL(), demoUsers)
	} else if cfg.CertificatePath == "" {
		// From the environment only: a secret on the command line ends up
		// in the shell history and the process list.
		cfg.ClientSecret = os.Getenv("ENTRA_CLIENT_SECRET")
	}
	logger := slog.New(slog.DiscardHandler)
	if *verbose {
		logger = slog.New(slog.NewTextHandler(stderr, nil))
	}
	logger.Info("configuration", "cfg", cfg)
	cfg.Logger = logger
	c, err := entra.Open(ctx, cfg)
	if err != nil {
		return err
	}
	if err := c.Check(ctx); err != nil {
		return err
	}
	if *groups != "" {
		gs, err := c.SearchGroups(ctx, *groups, 50)
		if err != nil {
			return err
		}
		for _, g := range gs {
			fmt.Fprintf(out, "%s  %s  (%d members)\n", g.ID, g.Attr("displayName"), len(g.Members))
		}
		return nil
	}
	m, err := mapping.New(mapping.EntraSpec())
	if err != nil {
		return err
	}
	sy, err := dirsync.New(c, dirsynctest.NewMemorySink(), &dirsync.Options{Source: "entra", Mapper: m, Logger: logger})
	if err != nil {
		return err
	}
	plan, err := sy.Plan(ctx)
	if err != nil {
		return err
	}
	view := plan
	if *search != "" {
		if view, err = plan.Search(*search); err != nil {
			return err
		}
	}
	if err := view.WriteText(out); err != nil {
		return err
	}
	if !*demo {
		fmt.Fprintln(out, "Dry run: nothing was applied.")
		return nil
	}
	// The demo's app store is in memory: applying changes nothing outside
	// this process.
	rep, err := sy.Apply(ctx, view)
	if rep != nil {
		fmt.Fprintln(out)
		if werr := rep.WriteText(out); werr != nil {
			return werr
		}
	}
	return err
}
