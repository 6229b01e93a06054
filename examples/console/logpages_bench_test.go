package main

import (
	"context"
	"html"
	"net/url"
	"testing"

	"github.com/dirsync-go/dirsync"
)

// BenchmarkLogPages measures the log pages over HTTP after a first sync
// of a generated company of DIRSYNC_CONSOLE_BENCH_USERS people (default
// 105,400: 100,076 creates and 8 departments in one run):
//
//   - run-ms / run-KB: the run's details with the first page of its
//     changes; next-ms the page after (its Next link);
//   - search-ms / search-rows: a regex search over the run's changes
//     (`^Mar(y|ia) `), its first page;
//   - none-ms: a filter no change matches (status failed): the whole run
//     is read to say so;
//   - person-ms: a person's page (the run's account index).
//
// Run it once: -benchtime 1x.
func BenchmarkLogPages(b *testing.B) {
	bc := newBenchConsole(b, benchConsoleUsers(b))
	get := bc.get
	in, _ := bc.c.get("generated")
	rec, err := in.Syncer().RunOnce(context.Background(), dirsync.TriggerStart, dirsync.ModeAutomatic)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(rec.Applied), "changes")
	for range b.N {
		path := runLink("generated", &rec)
		took, page := get(path)
		b.ReportMetric(ms(took), "run-ms")
		b.ReportMetric(float64(len(page))/1024, "run-KB")
		if len(logRows(page)) != logPageSize {
			b.Fatalf("the first page has %d rows", len(logRows(page)))
		}
		m := logNextRE.FindStringSubmatch(page)
		if m == nil {
			b.Fatal("no Next link")
		}
		took, _ = get(html.UnescapeString(m[1]))
		b.ReportMetric(ms(took), "next-ms")
		took, page = get(path + "?q=" + url.QueryEscape("^Mar(y|ia) "))
		b.ReportMetric(ms(took), "search-ms")
		b.ReportMetric(float64(len(logRows(page))), "search-rows")
		took, page = get(path + "?status=failed")
		b.ReportMetric(ms(took), "none-ms")
		if len(logRows(page)) != 0 {
			b.Fatal("a change failed")
		}
		_, first := get(path)
		who := personLinkRE.FindStringSubmatch(first)
		if who == nil {
			b.Fatal("no person in the run")
		}
		took, page = get(html.UnescapeString(who[1]))
		b.ReportMetric(ms(took), "person-ms")
		if len(logRows(page)) != 1 {
			b.Fatalf("the person has %d entries", len(logRows(page)))
		}
	}
}
