// Command adplan runs one dry-run dirsync plan against an Active Directory
// DC, as a host would: process start, TLS, bind, one full read through the
// default AD mapping, and a plan against an empty in-memory app. It prints
// the plan's summary. It measures the whole process (see BENCHMARKS.md):
//
//	go build -o /tmp/adplan ./internal/cmd/adplan
//	/usr/bin/time -v /tmp/adplan
//
// The DC comes from DIRSYNC_AD_URL, DIRSYNC_AD_BIND, DIRSYNC_AD_PASSWORD,
// DIRSYNC_AD_BASE and DIRSYNC_AD_CA (as scripts/samba.sh prints them).
package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/dirsync-go/dirsync"
	"github.com/dirsync-go/dirsync/connector/ad"
	"github.com/dirsync-go/dirsync/dirsynctest"
)

func main() {
	if err := run(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, "adplan:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	c, err := ad.Open(ad.Config{
		URLs:     []string{os.Getenv("DIRSYNC_AD_URL")},
		BindDN:   os.Getenv("DIRSYNC_AD_BIND"),
		Password: os.Getenv("DIRSYNC_AD_PASSWORD"),
		BaseDN:   os.Getenv("DIRSYNC_AD_BASE"),
		CAFile:   os.Getenv("DIRSYNC_AD_CA"),
		Timeout:  time.Minute,
	}, nil)
	if err != nil {
		return err
	}
	sy, err := dirsync.New(c, dirsynctest.NewMemorySink(), nil)
	if err != nil {
		return err
	}
	start := time.Now()
	p, err := sy.Plan(ctx)
	if err != nil {
		return err
	}
	fmt.Printf("%d users: %s (plan %s)\n", p.SourceUsers, p.Summary(), time.Since(start).Round(time.Millisecond))
	return nil
}
