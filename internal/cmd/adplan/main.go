// Command adplan runs one dry-run dirsync plan against an Active Directory
// DC, as a host would: process start, TLS, bind, one full read through the
// default AD mapping, and a plan against an in-memory app. It prints the
// plan's summary. It measures the whole process (see BENCHMARKS.md):
//
//	go build -o /tmp/adplan ./internal/cmd/adplan
//	/usr/bin/time -v /tmp/adplan
//
// By default the app is empty, so the plan invites everyone. To measure
// the plan of an app that already holds the directory:
//
//	/tmp/adplan -save /tmp/app.json   # plan, apply into the app, save it
//	/tmp/adplan -retitle 100          # change 100 users' titles on the DC
//	/usr/bin/time -v /tmp/adplan -app /tmp/app.json   # plans 100 updates
//
// -groups adds role links to the mapping ("Leadership" and "Team leads"
// of scripts/ad-bench-load.sh's company), so the plan reads memberOf and
// member and resolves memberships. -cpuprofile writes a CPU profile of the
// plan; -stats prints the process's allocations and GC cycles on stderr;
// -dump writes the plan as JSON, so that two builds' plans can be compared
// with cmp.
//
// The DC comes from DIRSYNC_AD_URL, DIRSYNC_AD_BIND, DIRSYNC_AD_PASSWORD,
// DIRSYNC_AD_BASE and DIRSYNC_AD_CA (as scripts/samba.sh prints them).
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"time"

	"github.com/dirsync-go/dirsync"
	"github.com/dirsync-go/dirsync/connector/ad"
	"github.com/dirsync-go/dirsync/diff"
	"github.com/dirsync-go/dirsync/dirsynctest"
	"github.com/dirsync-go/dirsync/mapping"
	"github.com/go-ldap/ldap/v3"
)

func main() {
	app := flag.String("app", "", "load the app's accounts from this JSON file (written by -save) before planning")
	save := flag.String("save", "", "apply the plan to the app and write its accounts to this JSON file")
	retitle := flag.Int("retitle", 0, "change the title of this many users on the DC (the first by DN) and exit")
	unpaged := flag.Int("unpaged-limit", 0, "ad.Config.UnpagedLimit: 0 (the default) reads in pages; N > 0 first tries one unpaged search of at most N entries")
	groups := flag.Bool("groups", false, "map with role links, so that the plan reads and resolves group memberships")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the plan to this file")
	stats := flag.Bool("stats", false, "print allocations and GC cycles on stderr at the end")
	dump := flag.String("dump", "", "write the plan (diff.Plan and SourceUsers, as JSON) to this file, to compare two builds")
	flag.Parse()
	ctx := context.Background()
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "adplan:", err)
			os.Exit(1)
		}
		defer pprof.StopCPUProfile()
	}
	var err error
	if *retitle > 0 {
		err = retitleUsers(*retitle)
	} else {
		err = run(ctx, *app, *save, *dump, *unpaged, *groups)
	}
	if *stats {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		fmt.Fprintf(os.Stderr, "adplan: %d MB allocated in %d allocations, %d GC cycles\n", ms.TotalAlloc>>20, ms.Mallocs, ms.NumGC)
	}
	if err != nil {
		pprof.StopCPUProfile()
		fmt.Fprintln(os.Stderr, "adplan:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, appFile, saveFile, dumpFile string, unpagedLimit int, groups bool) error {
	c, err := ad.Open(context.Background(), ad.Config{
		URLs:         []string{os.Getenv("DIRSYNC_AD_URL")},
		BindDN:       os.Getenv("DIRSYNC_AD_BIND"),
		Password:     os.Getenv("DIRSYNC_AD_PASSWORD"),
		BaseDN:       os.Getenv("DIRSYNC_AD_BASE"),
		CAFile:       os.Getenv("DIRSYNC_AD_CA"),
		Timeout:      time.Minute,
		UnpagedLimit: unpagedLimit,
	})
	if err != nil {
		return err
	}
	var app appState
	if appFile != "" {
		b, err := os.ReadFile(appFile)
		if err != nil {
			return err
		}
		if err := json.Unmarshal(b, &app); err != nil {
			return fmt.Errorf("%s: %w", appFile, err)
		}
	}
	accounts := app.Accounts
	sink := dirsynctest.NewMemorySink(accounts...)
	for _, d := range app.Departments {
		if err := sink.Apply(ctx, diff.Change{Op: diff.OpCreateDepartment, Department: d}); err != nil {
			return err
		}
	}
	var opts *dirsync.Options
	if groups {
		spec := mapping.ADSpec()
		spec.Roles = []mapping.RoleLink{{Group: "Leadership", Role: "leader"}, {Group: "Team leads", Role: "lead"}}
		m, err := mapping.New(spec)
		if err != nil {
			return err
		}
		opts = &dirsync.Options{Mapper: m}
	}
	sy, err := dirsync.New(c, sink, opts)
	if err != nil {
		return err
	}
	start := time.Now()
	p, err := sy.Plan(ctx)
	if err != nil {
		return err
	}
	fmt.Printf("%d users, app holds %d: %s (plan %s)\n", p.SourceUsers, len(accounts), p.Summary(), time.Since(start).Round(time.Millisecond))
	if dumpFile != "" {
		b, err := json.Marshal(struct {
			Plan        diff.Plan
			SourceUsers int
		}{p.Plan, p.SourceUsers})
		if err != nil {
			return err
		}
		if err := os.WriteFile(dumpFile, b, 0o600); err != nil {
			return err
		}
	}
	if saveFile == "" {
		return nil
	}
	if _, err := sy.Apply(ctx, p); err != nil {
		return err
	}
	depts, err := sink.Departments(ctx)
	if err != nil {
		return err
	}
	b, err := json.Marshal(appState{Accounts: sink.Snapshot(), Departments: depts})
	if err != nil {
		return err
	}
	return os.WriteFile(saveFile, b, 0o600)
}

// appState is what -save writes and -app reads: the in-memory app.
type appState struct {
	Accounts    []diff.Account `json:"accounts"`
	Departments [][]string     `json:"departments"`
}

// retitleUsers sets a new title, unique to this run, on the first n
// enabled users under the base DN (sorted by DN), so a plan against a
// saved app shows n updates.
func retitleUsers(n int) error {
	pem, err := os.ReadFile(os.Getenv("DIRSYNC_AD_CA"))
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return errors.New("no certificate in DIRSYNC_AD_CA")
	}
	conn, err := ldap.DialURL(os.Getenv("DIRSYNC_AD_URL"), ldap.DialWithTLSConfig(&tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}))
	if err != nil {
		return err
	}
	defer conn.Close()
	if err := conn.Bind(os.Getenv("DIRSYNC_AD_BIND"), os.Getenv("DIRSYNC_AD_PASSWORD")); err != nil {
		return err
	}
	req := ldap.NewSearchRequest(os.Getenv("DIRSYNC_AD_BASE"), ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false,
		"(&(objectCategory=person)(objectClass=user)(!(userAccountControl:1.2.840.113556.1.4.803:=2))(|(accountExpires=0)(accountExpires=9223372036854775807)(!(accountExpires=*))))",
		[]string{"objectGUID"}, nil)
	res, err := conn.SearchWithPaging(req, 1000)
	if err != nil {
		return err
	}
	dns := make([]string, 0, len(res.Entries))
	for _, e := range res.Entries {
		dns = append(dns, e.DN)
	}
	slices.Sort(dns)
	if len(dns) < n {
		return fmt.Errorf("only %d users under the base DN", len(dns))
	}
	stamp := time.Now().UTC().Format("2006-01-02T15:04:05")
	for i, dn := range dns[:n] {
		m := ldap.NewModifyRequest(dn, nil)
		m.Replace("title", []string{fmt.Sprintf("Retitled %s #%d", stamp, i)})
		if err := conn.Modify(m); err != nil {
			return fmt.Errorf("modify %s: %w", dn, err)
		}
	}
	fmt.Printf("%d titles changed (%s)\n", n, stamp)
	return nil
}
