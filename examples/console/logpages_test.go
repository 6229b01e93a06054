package main

import (
	"context"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dirsync-go/dirsync"
	"github.com/dirsync-go/dirsync/diff"
	"github.com/dirsync-go/dirsync/policy"
)

var (
	logRowRE     = regexp.MustCompile(`<tr class="op-[^"]*" data-op="([^"]+)" data-status="([^"]+)">`)
	personLinkRE = regexp.MustCompile(`<a href="([^"]+)" class="person-link">([^<]*)</a>`)
	detailsRE    = regexp.MustCompile(`<a href="(/i/[^"]+/history/[0-9]+)">details</a>`)
	logNextRE    = regexp.MustCompile(`<a href="([^"]+)" rel="next" id="log-next">`)
)

// logRows are the rows of a page's log table: op and status of each.
func logRows(page string) [][2]string {
	var out [][2]string
	for _, m := range logRowRE.FindAllStringSubmatch(page, -1) {
		out = append(out, [2]string{m[1], m[2]})
	}
	return out
}

// syncShown syncs the integration's previewed plan in the console and
// returns the details page of the run, the newest in its history.
func (tc *testConsole) syncShown(name string) (path, page string) {
	tc.Helper()
	_, preview := tc.get("/i/" + name + "/preview")
	res, _ := tc.post("/i/"+name+"/sync", url.Values{"csrf": {tc.token()}, "digest": {digestOf(tc.T, preview)}})
	require.Equal(tc, http.StatusSeeOther, res.StatusCode)
	tc.waitSync(name)
	return tc.newestRun(name)
}

// newestRun returns the path and page of the integration's newest run.
func (tc *testConsole) newestRun(name string) (path, page string) {
	tc.Helper()
	_, hist := tc.get("/i/" + name + "/history")
	m := detailsRE.FindStringSubmatch(hist)
	require.Len(tc, m, 2, "no run in the history")
	code, page := tc.get(m[1])
	require.Equal(tc, http.StatusOK, code, page)
	return m[1], page
}

// A run's details list its changes from the log a page at a time; the
// Next links walk every change once; a search, an operation and a status
// narrow them; a bad regular expression is an inline error with the
// changes still shown; a page link no page gave shows the first page.
func TestRunDetailsListTheLog(t *testing.T) {
	tc := newTestConsole(t)
	path, page := tc.syncShown("northwind-ad")
	in, _ := tc.c.get("northwind-ad")
	runs, err := in.Syncer().History(context.Background())
	require.NoError(t, err)
	applied := runs[0].Applied
	require.Greater(t, applied, 2*logPageSize, "the sample company makes several pages")

	// Paging: every change once, in pages of logPageSize.
	seen := map[string]bool{}
	total, pages := 0, 0
	for {
		pages++
		rows := logRows(page)
		require.NotEmpty(t, rows)
		assert.LessOrEqual(t, len(rows), logPageSize)
		for _, r := range rows {
			assert.Equal(t, "applied", r[1])
		}
		for _, m := range personLinkRE.FindAllStringSubmatch(page, -1) {
			assert.False(t, seen[m[1]], "%s on two pages", m[2])
			seen[m[1]] = true
		}
		total += len(rows)
		m := logNextRE.FindStringSubmatch(page)
		if m == nil {
			break
		}
		assert.Len(t, rows, logPageSize, "a page before the last is full")
		var code int
		code, page = tc.get(html.UnescapeString(m[1]))
		require.Equal(t, http.StatusOK, code)
		assert.Contains(t, page, `id="log-first"`)
		assert.NotContains(t, page, `class="run-link"`, "no row links the run it is on")
		require.Less(t, pages, 100)
	}
	assert.Equal(t, applied, total, "every applied change is listed once")
	assert.Equal(t, (applied+logPageSize-1)/logPageSize, pages)

	// Search (name, email, directory ID or key), kept in the box.
	_, page = tc.get(path + "?q=" + url.QueryEscape("^2FA|Patel$"))
	names := personLinkRE.FindAllStringSubmatch(page, -1)
	require.Len(t, names, len(logRows(page)))
	require.Greater(t, len(names), 2)
	for _, m := range names {
		assert.Regexp(t, `^2FA|Patel$`, m[2])
	}
	assert.Contains(t, page, "2FA Admin")
	assert.Contains(t, page, `value="^2FA|Patel$"`)
	assert.NotContains(t, page, `id="log-next"`)

	// An operation and a status.
	_, page = tc.get(path + "?op=create-department")
	rows := logRows(page)
	require.NotEmpty(t, rows)
	for _, r := range rows {
		assert.Equal(t, "create-department", r[0])
	}
	assert.Contains(t, page, `<option value="create-department" selected>`)
	_, page = tc.get(path + "?op=create&q=" + url.QueryEscape("a") + "&status=failed")
	assert.Empty(t, logRows(page))
	assert.Contains(t, page, "No change of this run matches.")
	m := logNextRE.FindStringSubmatch(tc.mustGet(path + "?op=create"))
	require.Len(t, m, 2)
	next, err := url.Parse(html.UnescapeString(m[1]))
	require.NoError(t, err)
	assert.Equal(t, "create", next.Query().Get("op"), "the filter is kept across pages")

	// A bad regular expression: an inline error, the changes still shown.
	for _, q := range []string{"(", "[0-9", "a{2,1}"} {
		code, page := tc.get(path + "?q=" + url.QueryEscape(q))
		assert.Equal(t, http.StatusOK, code, q)
		assert.Contains(t, page, `id="log-q-error"`, q)
		assert.Contains(t, page, "Not a valid regular expression", q)
		assert.Len(t, logRows(page), logPageSize, "the changes are still shown for %q", q)
	}
	code, page := tc.get(path + "?op=nuke")
	assert.Equal(t, http.StatusOK, code)
	assert.Contains(t, page, `There is no operation &#34;nuke&#34;`)

	// A page link no page gave: the first page, said so.
	code, page = tc.get(path + "?after=" + url.QueryEscape("not-a-cursor"))
	assert.Equal(t, http.StatusOK, code)
	assert.Contains(t, page, `id="log-notice"`)
	assert.Len(t, logRows(page), logPageSize)

	// The search is a GET form: it carries no CSRF token, so none lands in
	// a URL; the pages answer a GET without one.
	form := regexp.MustCompile(`(?s)<form [^>]*id="log-search">.*?</form>`).FindString(page)
	require.NotEmpty(t, form)
	assert.Contains(t, form, `method="get"`)
	assert.NotContains(t, form, `name="csrf"`)
	res, err := http.Get(tc.srv.URL + path + "?q=x") // a fresh client: no session
	require.NoError(t, err)
	res.Body.Close()
	assert.Equal(t, http.StatusOK, res.StatusCode)
	res, _ = tc.post(path, url.Values{"q": {"x"}})
	assert.Equal(t, http.StatusForbidden, res.StatusCode, "a POST without the token is refused there too")
}

func (tc *testConsole) mustGet(path string) string {
	tc.Helper()
	code, body := tc.get(path)
	require.Equal(tc, http.StatusOK, code, body)
	return body
}

// A run with a failed and a skipped change lists them with the sink's
// error and the skip's reason; the status filter finds each.
func TestRunDetailsShowFailuresAndSkips(t *testing.T) {
	tc := newTestConsole(t)
	ctx := context.Background()
	tc.syncShown("lab")
	require.NoError(t, os.WriteFile(tc.lab, []byte(labLDIF(hostileNames, "Scientist")), 0o600))
	in, _ := tc.c.get("lab")
	sy := in.Syncer()
	p, err := sy.Plan(ctx)
	require.NoError(t, err)
	require.Equal(t, len(hostileNames), p.Actionable())

	// Between plan and apply: lab0's account is deleted in the app (its
	// update fails), lab1 becomes an exception (its update is skipped).
	gone, err := tc.c.app.LookupAccounts(ctx, "lab", []string{"00000000-0000-4000-8000-000000000001"}, nil)
	require.NoError(t, err)
	require.Len(t, gone, 1)
	require.NoError(t, tc.c.app.Apply(ctx, diff.Change{Op: diff.OpDelete, Key: "x", Before: &gone[0]}))
	require.NoError(t, sy.AddException(ctx, policy.Exception{ID: "00000000-0000-4000-8000-000000000002"}))
	rep, err := sy.Apply(ctx, p)
	require.Error(t, err)
	require.Equal(t, 1, rep.Count(dirsync.StatusFailed))
	require.Equal(t, 1, rep.Count(dirsync.StatusSkipped))

	path, page := tc.newestRun("lab")
	rows := logRows(page)
	require.Len(t, rows, len(hostileNames))
	count := map[string]int{}
	for _, r := range rows {
		assert.Equal(t, "update", r[0])
		count[r[1]]++
	}
	assert.Equal(t, map[string]int{"applied": len(hostileNames) - 2, "failed": 1, "skipped": 1}, count)
	assert.Contains(t, page, "title</code>: <del>Engineer</del> → <ins>Scientist</ins>")
	assert.Contains(t, page, "account not found")
	assert.Contains(t, page, "became an exception after the plan was made")

	_, failed := tc.get(path + "?status=failed")
	require.Len(t, logRows(failed), 1)
	assert.Contains(t, failed, "lab0@lab.test")
	assert.Contains(t, failed, "account not found")
	_, skipped := tc.get(path + "?status=skipped")
	require.Len(t, logRows(skipped), 1)
	assert.Contains(t, skipped, "lab1@lab.test")
	assert.NotContains(t, skipped, "lab0@lab.test")
}

// A person's page lists their entries across runs, the newest run first,
// a page at a time; it is reached from the Users page and from a run's
// changes, by external ID or by email in any case. An unknown person is
// a clear error.
func TestPersonPage(t *testing.T) {
	tc := newTestConsole(t)
	ctx := context.Background()
	_, runPage := tc.syncShown("lab")
	in, _ := tc.c.get("lab")
	sy := in.Syncer()
	const runs = logPageSize + 2
	for i := range runs {
		require.NoError(t, os.WriteFile(tc.lab, []byte(labLDIF(hostileNames, fmt.Sprintf("T%d", i))), 0o600))
		rec, err := sy.RunOnce(ctx, dirsync.TriggerSchedule, dirsync.ModeAutomatic)
		require.NoError(t, err)
		require.Equal(t, len(hostileNames), rec.Applied)
	}

	// From the Users page.
	_, users := tc.get("/users")
	var link string
	for _, m := range personLinkRE.FindAllStringSubmatch(users, -1) {
		if html.UnescapeString(m[2]) == hostileNames[0] {
			link = html.UnescapeString(m[1])
		}
	}
	require.NotEmpty(t, link, "the Users page links the person")
	assert.Equal(t, "/i/lab/person?account=00000000-0000-4000-8000-000000000001", link)
	code, page := tc.get(link)
	require.Equal(t, http.StatusOK, code, page)
	assert.Contains(t, page, `id="person"`)
	assert.Contains(t, page, "lab0@lab.test")
	rows := logRows(page)
	require.Len(t, rows, logPageSize)
	assert.Contains(t, page, fmt.Sprintf("<ins>T%d</ins>", runs-1), "the newest run first")
	assert.Less(t, strings.Index(page, fmt.Sprintf("<ins>T%d</ins>", runs-1)), strings.Index(page, fmt.Sprintf("<ins>T%d</ins>", runs-2)))
	assert.NotContains(t, page, "lab1@lab.test", "only this person")
	assert.Regexp(t, `<a href="/i/lab/history/[0-9]+" class="run-link">`, page, "each entry links its run")
	m := logNextRE.FindStringSubmatch(page)
	require.Len(t, m, 2)
	_, page = tc.get(html.UnescapeString(m[1]))
	rows = logRows(page)
	require.Len(t, rows, runs+1-logPageSize, "the rest, down to the create")
	assert.Equal(t, [2]string{"create", "applied"}, rows[len(rows)-1])
	assert.NotContains(t, page, `id="log-next"`)

	// From a run's changes, and by email in another case.
	var fromRun string
	for _, m := range personLinkRE.FindAllStringSubmatch(runPage, -1) {
		if html.UnescapeString(m[2]) == hostileNames[1] {
			fromRun = html.UnescapeString(m[1])
		}
	}
	require.NotEmpty(t, fromRun)
	_, page = tc.get(fromRun)
	assert.Contains(t, page, "lab1@lab.test")
	_, byEmail := tc.get("/i/lab/person?account=" + url.QueryEscape("LAB1@Lab.Test"))
	assert.Len(t, logRows(byEmail), logPageSize)
	assert.Contains(t, byEmail, "lab1@lab.test")

	// Unknown, or nobody named.
	code, page = tc.get("/i/lab/person?account=" + url.QueryEscape("nobody@nowhere.test"))
	assert.Equal(t, http.StatusNotFound, code)
	assert.Contains(t, page, "No one with the external ID or email &#34;nobody@nowhere.test&#34;")
	code, page = tc.get("/i/lab/person")
	assert.Equal(t, http.StatusBadRequest, code)
	assert.Contains(t, page, "Say whose log to show")
	code, _ = tc.get("/i/ghost/person?account=x")
	assert.Equal(t, http.StatusNotFound, code)
}
