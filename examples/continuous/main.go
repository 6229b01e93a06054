// Command continuous runs dirsync the way a host does in production: on a
// schedule, with "sync now" on demand, printing each run as the admin
// console's "import sessions" would.
//
// The directory is a generated company (connector/fake) that changes a
// little before every run, so each run has something to do; the app is an
// in-memory sink.
//
//	go run ./examples/continuous            # a run every 10 seconds
//	go run ./examples/continuous -approve   # runs wait for approval
//	go run ./examples/continuous -otel otel.json  # spans and metrics as JSON to otel.json
//
// Press Enter to sync now (or send SIGUSR1), type "a" and Enter to approve
// the pending plan, Ctrl-C to stop: the run in progress finishes the change
// it is on, and the history is printed.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/dirsync-go/dirsync"
	"github.com/dirsync-go/dirsync/connector"
	"github.com/dirsync-go/dirsync/connector/fake"
	"github.com/dirsync-go/dirsync/dirsynctest"
	"github.com/dirsync-go/dirsync/telemetry"
)

func main() {
	every := flag.Duration("every", 10*time.Second, "interval between runs")
	approve := flag.Bool("approve", false, "stop each run at 'plan ready, waiting for approval'")
	users := flag.Int("users", 200, "size of the generated company")
	otelOut := flag.String("otel", "", "write OpenTelemetry spans and metrics as JSON to this file ('-': stdout)")
	flag.Parse()
	shutdown, err := setupOTel(*otelOut, *every)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer shutdown(context.Background())

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	entries := fake.Company(*users, 1)
	dir := fake.New(entries...)
	var mu sync.Mutex
	rng := rand.New(rand.NewPCG(1, 2))
	var ids []string
	for _, e := range entries {
		if e.Kind == connector.KindUser {
			ids = append(ids, e.ID)
		}
	}
	// Someone changes the directory between runs.
	churn := func() {
		mu.Lock()
		defer mu.Unlock()
		id := ids[rng.IntN(len(ids))]
		switch rng.IntN(3) {
		case 0:
			_ = dir.Set(id, "title", fmt.Sprintf("Senior %d", rng.IntN(100)))
		case 1:
			_ = dir.Disable(id)
		default:
			_ = dir.Enable(id)
		}
	}

	sink := dirsynctest.NewMemorySink()
	sy, err := dirsync.New(dir, sink, &dirsync.Options{
		Source:   "demo-ad",
		Observer: telemetry.New(nil), // metrics and traces, to the providers setupOTel installed
		OnApplied: func(_ context.Context, r dirsync.Result) {
			if r.Change.Op != dirsync.OpCreate { // creates are many on the first run
				fmt.Printf("  applied: %s %s — %s\n", r.Change.Op, r.Change.Label(), r.Change.Status())
			}
		},
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	mode := dirsync.ModeAutomatic
	if *approve {
		mode = dirsync.ModeApproval
	}

	var (
		shownMu sync.Mutex
		shown   string // digest of the pending plan last printed
	)
	usr1 := make(chan os.Signal, 1)
	signal.Notify(usr1, syscall.SIGUSR1)
	go func() {
		for range usr1 {
			sy.SyncNow()
		}
	}()
	go func() {
		in := bufio.NewScanner(os.Stdin)
		for in.Scan() {
			if strings.TrimSpace(in.Text()) == "a" {
				// Approve the plan this program printed, not whatever is
				// pending by now.
				shownMu.Lock()
				digest := shown
				shownMu.Unlock()
				rep, err := sy.ApprovePending(ctx, digest)
				if err != nil {
					fmt.Println("approve:", err)
					continue
				}
				fmt.Printf("approved: %d applied\n", rep.Count(dirsync.StatusApplied))
				continue
			}
			churn()
			sy.SyncNow()
		}
	}()

	fmt.Printf("Syncing every %s. Enter: sync now; a+Enter: approve; Ctrl-C: stop.\n", *every)
	err = sy.Run(ctx, &dirsync.RunOptions{
		Mode:     mode,
		Schedule: dirsync.Schedule{Every: *every},
		OnRun: func(r dirsync.RunRecord) {
			fmt.Printf("%s run (%s): %s, %s", r.Started.Format("15:04:05"), r.Trigger, r.Outcome, formatCounts(r.Counts))
			if r.Safety != "" {
				fmt.Printf(" — %s", r.Safety)
			}
			fmt.Println()
			if p, err := sy.PendingPlan(ctx); err == nil && r.Outcome == dirsync.OutcomeWaiting && p != nil {
				fmt.Print(p)
				fmt.Printf("plan %s is waiting: a+Enter approves it\n", p.Digest()[:12])
				shownMu.Lock()
				shown = p.Digest()
				shownMu.Unlock()
			}
			churn()
		},
	})
	fmt.Println("stopped:", err)

	runs, err := sy.History(context.Background())
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println("\nHistory (newest first):")
	for _, r := range runs {
		fmt.Printf("  %s  %-9s %-21s applied %3d failed %d  planned: %s\n",
			r.Started.Format("15:04:05"), r.Trigger, r.Outcome, r.Applied, r.Failed, formatCounts(r.Counts))
	}
}
