package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/dirsync-go/dirsync/diff"
	"github.com/dirsync-go/dirsync/examples/internal/appstore"
)

// BenchmarkConsoleScale measures the console from outside, over HTTP (and
// in Chromium when DIRSYNC_CHROMIUM names it), on a generated company of
// DIRSYNC_CONSOLE_BENCH_USERS people (default 105,400: 100,076 of them
// are enabled, so the first sync creates 100,076 accounts):
//
//   - plan-s: the first plan (read, map, diff), made once;
//   - preview-ms / preview-KB: the preview's first page, the plan cached;
//   - page-ms / page-KB: a page in the middle;
//   - search-ms / search-KB: a regex search (first time, then cached);
//   - first-rows-ms: Chromium from navigation to the first row on screen;
//   - sync-s: "Sync" from the click to the report (ApplyShown reads and
//     plans again, then applies), apply-s its apply phase, changes-s the
//     apply up to its last change (the rest is the run's bookkeeping:
//     cursor, history), and
//     eta-error-%: how far the page's time-left estimate at a quarter of
//     the apply was from the time it really took;
//   - sync-cpu-s, apply-cpu-s: the process's CPU time over the same
//     spans, which the machine's other load moves less than wall time;
//   - bulk-s, bulk-cpu-s: the app store's own bulk insert (appstore.Import) of the
//     same changes into a fresh file, beside it;
//   - report-ms / report-KB and users-ms / users-KB: the report and the
//     Users page, paged.
//
// Run it once: -benchtime 1x.
func BenchmarkConsoleScale(b *testing.B) {
	n := benchConsoleUsers(b)
	for range b.N {
		benchConsoleScale(b, n)
	}
}

// benchConsoleUsers is DIRSYNC_CONSOLE_BENCH_USERS, else 105,400 people
// (100,076 creates and 8 departments in a first sync).
func benchConsoleUsers(b *testing.B) int {
	n := 105400
	if v := os.Getenv("DIRSYNC_CONSOLE_BENCH_USERS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil {
			b.Fatal(err)
		}
	}
	return n
}

// benchConsole is a console on a fresh data directory with a generated
// company of n people, integration "generated", served over HTTP for
// the rest of the benchmark; get times a GET of a page that must be 200,
// through a client that keeps the session's cookie and does not follow
// redirects.
type benchConsole struct {
	c      *console
	srv    *httptest.Server
	client *http.Client
	b      *testing.B
}

func newBenchConsole(b *testing.B, n int) *benchConsole {
	ctx := context.Background()
	o, err := parseFlags([]string{"-data", filepath.Join(b.TempDir(), "data"), "-generate", strconv.Itoa(n)}, io.Discard)
	if err != nil {
		b.Fatal(err)
	}
	c, err := openConsole(ctx, o, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(c.close)
	s, err := newServer(c, nil)
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(s)
	b.Cleanup(srv.Close)
	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return &benchConsole{c: c, srv: srv, client: client, b: b}
}

func (bc *benchConsole) get(path string) (time.Duration, string) {
	start := time.Now()
	res, err := bc.client.Get(bc.srv.URL + path)
	if err != nil {
		bc.b.Fatal(err)
	}
	body, err := io.ReadAll(res.Body)
	res.Body.Close()
	took := time.Since(start)
	if err != nil || res.StatusCode != http.StatusOK {
		bc.b.Fatalf("GET %s: %d %v", path, res.StatusCode, err)
	}
	return took, string(body)
}

func benchConsoleScale(b *testing.B, n int) {
	old := planWait
	planWait = 10 * time.Minute // the first page waits for the first plan
	defer func() { planWait = old }()
	bc := newBenchConsole(b, n)
	c, srv, client, get := bc.c, bc.srv, bc.client, bc.get
	kb := func(s string) float64 { return float64(len(s)) / 1024 }
	in, _ := c.get("generated")

	get("/i/generated/preview") // waits for the first plan
	b.ReportMetric(in.shownPlan().took.Seconds(), "plan-s")
	took, page := get("/i/generated/preview")
	b.ReportMetric(ms(took), "preview-ms")
	b.ReportMetric(kb(page), "preview-KB")
	digest := digestRE.FindStringSubmatch(page)[1]
	cp := in.shownPlan()
	creates := 0
	for i := range cp.plan.Changes {
		if cp.plan.Changes[i].Op == diff.OpCreate {
			creates++
		}
	}
	b.ReportMetric(float64(creates), "creates")
	b.ReportMetric(float64(cp.plan.Actionable()), "changes")

	took, mid := get(fmt.Sprintf("/i/generated/preview?page=%d", cp.plan.Actionable()/pageSize/2))
	b.ReportMetric(ms(took), "page-ms")
	b.ReportMetric(kb(mid), "page-KB")
	took, found := get("/i/generated/preview?q=" + url.QueryEscape("^Mar(y|ia) "))
	b.ReportMetric(ms(took), "search-ms")
	b.ReportMetric(kb(found), "search-KB")
	took, _ = get("/i/generated/preview?page=3&q=" + url.QueryEscape("^Mar(y|ia) "))
	b.ReportMetric(ms(took), "search-page-ms")
	if !strings.Contains(found, `id="shown"`) {
		b.Fatal("the search found nothing")
	}

	var bctx context.Context
	if exe := os.Getenv("DIRSYNC_CHROMIUM"); exe != "" {
		var stop func()
		bctx, stop = browser(b, exe)
		defer stop()
		b.ReportMetric(firstRows(b, bctx, srv.URL+"/i/generated/preview?page=7"), "first-rows-ms")
	}
	shots := os.Getenv("DIRSYNC_CONSOLE_SHOTS")

	// Sync, watching the page's estimate.
	tok := csrfRE.FindStringSubmatch(page)[1]
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/i/generated/sync", strings.NewReader(url.Values{"csrf": {tok}, "digest": {digest}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", srv.URL)
	start := time.Now()
	cpuStart := cpuTime()
	var cpuApply time.Duration
	res, err := client.Do(req)
	if err != nil || res.StatusCode != http.StatusSeeOther {
		b.Fatalf("sync: %v %v", err, res)
	}
	res.Body.Close()
	var estimate time.Duration
	var estimatedAt time.Time
	var statusTook time.Duration
	var lastChange time.Time
	for {
		j := in.Job()
		if !j.Running {
			break
		}
		if j.Planned && cpuApply == 0 {
			cpuApply = cpuTime()
		}
		if j.Planned && j.Progress.Done < j.Progress.Total {
			lastChange = time.Now()
		}
		if estimate == 0 && j.Planned && j.Progress.Total > 0 && j.Progress.Done >= j.Progress.Total/4 {
			estimatedAt = time.Now()
			estimate, _ = j.timeLeft(estimatedAt)
			statusTook, _ = get("/i/generated/sync") // the page while it runs
			if bctx != nil && shots != "" {
				// The two phases, for the README.
				if err := chromedp.Do(bctx, chromedp.Navigate(srv.URL+"/i/generated/sync")); err != nil {
					b.Fatal(err)
				}
				png, err := chromedp.Run(bctx, chromedp.CaptureScreenshot())
				if err != nil {
					b.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(shots, "progress.png"), png, 0o644); err != nil {
					b.Fatal(err)
				}
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	end := time.Now()
	cpuEnd := cpuTime()
	j := in.Job()
	b.ReportMetric((cpuEnd - cpuStart).Seconds(), "sync-cpu-s")
	b.ReportMetric((cpuEnd - cpuApply).Seconds(), "apply-cpu-s")
	// The apply's last change: the rest is the run's bookkeeping (cursor,
	// history).
	b.ReportMetric(end.Sub(lastChange).Seconds(), "after-apply-s")
	if j.Err != nil || j.Report == nil {
		b.Fatalf("sync: %v", j.Err)
	}
	b.ReportMetric(end.Sub(start).Seconds(), "sync-s")
	b.ReportMetric(end.Sub(j.ApplyStarted).Seconds(), "apply-s")
	b.ReportMetric(lastChange.Sub(j.ApplyStarted).Seconds(), "changes-s")
	b.ReportMetric(ms(statusTook), "progress-page-ms")
	if estimate > 0 {
		actual := end.Sub(estimatedAt)
		b.ReportMetric(100*(estimate.Seconds()-actual.Seconds())/actual.Seconds(), "eta-error-%")
	}

	took, report := get(fmt.Sprintf("/i/generated/sync?page=%d", len(j.Report.Results)/pageSize/2))
	b.ReportMetric(ms(took), "report-ms")
	b.ReportMetric(kb(report), "report-KB")
	took, users := get(fmt.Sprintf("/users?page=%d", creates/pageSize/2))
	b.ReportMetric(ms(took), "users-ms")
	b.ReportMetric(kb(users), "users-KB")

	// Beside it: the store's own bulk insert of the same changes, once
	// the console's new plan (the sync moved the app) is made, so that
	// nothing else runs.
	for {
		if _, running := in.planningRead(); !running {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	bulk, err := appstore.Open(filepath.Join(b.TempDir(), "bulk.db"), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer bulk.Close()
	start = time.Now()
	cpuStart = cpuTime()
	if err := bulk.Import(context.Background(), j.Plan.Changes); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(time.Since(start).Seconds(), "bulk-s")
	b.ReportMetric((cpuTime() - cpuStart).Seconds(), "bulk-cpu-s")
}

// cpuTime is the process's CPU time so far, user and system: on a
// machine others share, it says what the work cost where wall time also
// says how busy the machine was.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// browser starts headless Chromium.
func browser(b *testing.B, exe string) (context.Context, func()) {
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), chromedp.ExecPath(exe), chromedp.Flag("headless", true),
		chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun, chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("hide-scrollbars", true), chromedp.UserDataDir(b.TempDir()), chromedp.WindowSize(1280, 600))
	bctx, cancelBrowser := chromedp.NewContext(alloc)
	if err := chromedp.Do(bctx, chromedp.Navigate("about:blank")); err != nil {
		b.Fatal(err)
	}
	return bctx, func() { cancelBrowser(); cancelAlloc() }
}

// firstRows opens url in Chromium and returns the milliseconds from the
// navigation to the first row of the plan on screen, the slowest of
// three.
func firstRows(b *testing.B, bctx context.Context, url string) float64 {
	ctx, cancel := context.WithTimeout(bctx, 2*time.Minute)
	defer cancel()
	best := time.Duration(0)
	for i := range 3 {
		start := time.Now()
		if err := chromedp.Do(ctx, chromedp.Navigate(url), chromedp.WaitVisible(chromedp.CSS("#plan tbody tr"))); err != nil {
			b.Fatal(err)
		}
		if d := time.Since(start); i == 0 || d > best {
			best = d
		}
	}
	return ms(best)
}
