package main

import (
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// chromium finds Debian's chromium: $DIRSYNC_CHROMIUM (scripts/test.sh
// sets it), else chromium on PATH. Missing, the test fails under CI=true
// and is skipped otherwise.
func chromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("DIRSYNC_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("chromium is missing (apt-get install chromium; scripts/test.sh does it) and CI=true")
	}
	t.Skip("chromium not installed; scripts/test.sh installs it (apt-get install chromium)")
	return ""
}

// TestBrowser drives the console in headless Chromium through the issue's
// scenario: integrations in review mode, "Sync now" showing the preview
// and applying nothing, the plan in pages with Sync in view, a regex
// search, an exception named at the top that shrinks the plan and keeps
// the search, sync with its report, the run in history, automatic mode
// refused before and allowed after that reviewed sync, the exception
// removed with its button, a mapping change that changes the preview, the
// group picker after three letters, directory markup rendered as text, a
// bad regex's inline error, a POST without the CSRF token refused, and
// the removal of an integration with its approval. Screenshots of each page go to a
// temporary directory, or to $DIRSYNC_CONSOLE_SHOTS when set.
func TestBrowser(t *testing.T) {
	exe := chromium(t)
	shots := os.Getenv("DIRSYNC_CONSOLE_SHOTS")
	if shots == "" {
		shots = t.TempDir()
	}
	require.NoError(t, os.MkdirAll(shots, 0o755))

	dir := t.TempDir()
	lab := filepath.Join(dir, "lab.ldif")
	require.NoError(t, os.WriteFile(lab, []byte(labLDIF(hostileNames, "Engineer")), 0o600))
	ctx, stop := context.WithTimeout(context.Background(), 2*time.Minute)
	defer stop()
	srvCtx, stopServer := context.WithCancel(ctx)
	ready := make(chan string, 1)
	served := make(chan error, 1)
	go func() {
		served <- run(srvCtx, []string{"-addr", "127.0.0.1:0", "-data", filepath.Join(dir, "data"), "-ldif", "lab=" + lab}, io.Discard, io.Discard, ready)
	}()
	var base string
	select {
	case base = <-ready:
	case err := <-served:
		t.Fatal(err)
	}
	base = strings.TrimSuffix(base, "/")
	defer func() {
		stopServer()
		assert.NoError(t, <-served, "the console stops cleanly")
	}()

	alloc, cancelAlloc := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(exe),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 860),
	)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(alloc)
	defer cancelBrowser()

	require.NoError(t, chromedp.Do(bctx), "start chromium")

	// Any JavaScript dialog (alert) means injected markup ran.
	var dialogs atomic.Int32
	opened := chromedp.Events(bctx, page.JavascriptDialogOpening)
	go func() {
		for _, err := range opened {
			if err != nil {
				return
			}
			dialogs.Add(1)
			_, _ = chromedp.Call(bctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: true})
		}
	}()

	step := func() (context.Context, context.CancelFunc) { return context.WithTimeout(bctx, 20*time.Second) }
	do := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		ctx, cancel := step()
		defer cancel()
		if err := chromedp.Do(ctx, steps...); err != nil {
			// Say where the browser was, for the failure message.
			ctx, cancel := step()
			defer cancel()
			loc, _ := chromedp.Run(ctx, chromedp.Location())
			body, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText.slice(0, 2000) : ""`))
			t.Fatalf("%s: %v\nat %s:\n%s", what, err, loc, body)
		}
	}
	shot := func(name string) {
		t.Helper()
		ctx, cancel := step()
		defer cancel()
		png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
		require.NoError(t, err, "screenshot "+name)
		require.NoError(t, os.WriteFile(filepath.Join(shots, name+".png"), png, 0o644))
	}
	text := func(sel string) string {
		t.Helper()
		ctx, cancel := step()
		defer cancel()
		s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
		require.NoError(t, err, "text of "+sel)
		return s
	}
	actionable := func() int {
		t.Helper()
		ctx, cancel := step()
		defer cancel()
		v, err := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.CSS("#summary"), "data-actionable"))
		require.NoError(t, err)
		require.True(t, v.Exists)
		n, err := strconv.Atoi(v.Value)
		require.NoError(t, err)
		return n
	}
	const np = "/i/northwind-ad"

	// Integrations.
	do("open", chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.CSS("#integrations")))
	list := text("#integrations")
	assert.Contains(t, list, "northwind-ad")
	assert.Contains(t, list, "lab")
	assert.Contains(t, list, "every 2h, review mode: each run waits for approval")
	assert.NotContains(t, list, "automatic,")
	shot("integrations")

	// Review mode: Sync now shows the plan and applies nothing.
	do("sync now", chromedp.Click(chromedp.CSS(`tr[data-name="northwind-ad"] button`)), chromedp.WaitVisible(chromedp.CSS("#flash")),
		chromedp.WaitVisible(chromedp.CSS("#plan")))
	assert.Contains(t, text("#flash"), "Review mode: this is the plan a sync would apply now")
	before := actionable()
	require.Greater(t, before, 150, "the sample company is about 200 people")
	// The plan comes in pages, Sync in view above the rows.
	assert.Equal(t, "1", text("#page-no"))
	assert.Len(t, eval[[]string](t, bctx, `[...document.querySelectorAll("#plan tbody tr")].map(tr => tr.dataset.op)`), pageSize)
	inView := `(() => { const r = document.getElementById("sync").getBoundingClientRect(); return r.top >= 0 && r.bottom <= window.innerHeight; })()`
	assert.True(t, eval[bool](t, bctx, inView), "Sync is reachable without scrolling")
	shot("preview")
	do("next page", chromedp.Click(chromedp.CSS("#next-page")), chromedp.WaitVisible(chromedp.CSS("#plan")))
	assert.Equal(t, "2", text("#page-no"))
	assert.Equal(t, before, actionable(), "the same plan on every page")
	assert.True(t, eval[bool](t, bctx, inView))
	do("users before any sync", chromedp.Navigate(base+"/users"), chromedp.WaitVisible(chromedp.CSS("#users")))
	assert.NotContains(t, text("#users"), "northwind-ad", "Sync now applied nothing")
	do("mode before a reviewed sync", chromedp.Navigate(base+np+"/settings"), chromedp.WaitVisible(chromedp.CSS("#mode-note")))
	assert.True(t, eval[bool](t, bctx, `document.querySelector('#mode option[value="automatic"]').disabled`))
	do("back to the preview", chromedp.Navigate(base+np+"/preview"), chromedp.WaitVisible(chromedp.CSS("#plan")))

	// Search ^[0-9]: only the accounts whose name starts with a digit.
	do("search", chromedp.SetValue(chromedp.CSS("#q"), "^[0-9]"), chromedp.Submit(chromedp.CSS("#q")),
		chromedp.WaitVisible(chromedp.CSS("#shown")))
	names := eval[[]string](t, bctx, `[...document.querySelectorAll("#plan tbody td.name")].map(td => td.textContent.trim())`)
	require.NotEmpty(t, names)
	for _, n := range names {
		assert.Regexp(t, `^[0-9]`, strings.Fields(n)[0])
	}
	assert.Contains(t, strings.Join(names, "|"), "2FA Admin")
	// A row expands to its field changes, old → new.
	do("expand a row", chromedp.Click(chromedp.CSS(`#plan tr.op-create details summary`)),
		chromedp.WaitVisible(chromedp.CSS(`#plan tr.op-create details[open] ul.fields`)))
	assert.Contains(t, text(`#plan tr.op-create details[open] ul.fields`), "username: ∅ → 2fa-admin")
	do("top", chromedp.Evaluate[chromedp.Void](`window.scrollTo(0, 0)`))
	shot("search")

	// Add 2FA Admin to the exceptions: the plan shrinks by one, the
	// search stays, the page names who was added and lists the exception
	// at the top with name and email.
	do("add exception", chromedp.Click(chromedp.CSS(`input[aria-label="select 2FA Admin"]`)),
		chromedp.Click(chromedp.CSS("#add-exceptions")), chromedp.WaitVisible(chromedp.CSS("#flash")))
	after := actionable()
	assert.Equal(t, before-1, after, "one change fewer")
	assert.Contains(t, text("#flash"), "Added to the exceptions: 2FA Admin (2fa-admin@example.test)")
	assert.Equal(t, "^[0-9]", eval[string](t, bctx, `document.getElementById("q").value`), "the search is kept")
	assert.NotEmpty(t, text("#shown"))
	exc := text("#exceptions")
	assert.Contains(t, exc, "2FA Admin")
	assert.Contains(t, exc, "2fa-admin@example.test")
	assert.Contains(t, exc, "Remove exception")
	assert.True(t, eval[bool](t, bctx, `document.getElementById("exceptions").getBoundingClientRect().top < document.getElementById("plan").getBoundingClientRect().top`),
		"exceptions are listed above the plan")
	shot("exceptions")

	// A bad regex: an inline error, the plan still there.
	do("bad regex", chromedp.SetValue(chromedp.CSS("#q"), "([0-9]"), chromedp.Submit(chromedp.CSS("#q")),
		chromedp.WaitVisible(chromedp.CSS("#q-error")))
	assert.Contains(t, text("#q-error"), "Not a valid regular expression")
	do("plan still shown", chromedp.WaitVisible(chromedp.CSS("#plan")))
	shot("bad-regex")

	// Sync: the report says every change applied.
	do("sync", chromedp.Navigate(base+np+"/preview"), chromedp.WaitVisible(chromedp.CSS("#sync")),
		chromedp.Click(chromedp.CSS("#sync")), chromedp.WaitVisible(chromedp.CSS("#report")))
	assert.Equal(t, strconv.Itoa(after), text("#applied"))
	assert.Equal(t, "0", text("#failed"))
	shot("report")

	// History: the run, and its details.
	do("history", chromedp.Navigate(base+np+"/history"), chromedp.WaitVisible(chromedp.CSS("#history")))
	hist := text("#history")
	assert.Contains(t, hist, "apply")
	assert.Contains(t, hist, "applied")
	shot("history")
	do("run details", chromedp.Click(chromedp.CSS(`#history a`)), chromedp.WaitVisible(chromedp.CSS("#run")))
	assert.Contains(t, text("#run"), strconv.Itoa(after))
	shot("run")

	// The run's changes from the provisioning log: searched, then a
	// person's log opened from a row.
	rows := `[...document.querySelectorAll("#log tbody tr[data-op]")].length`
	assert.Equal(t, logPageSize, eval[int](t, bctx, rows), "the first page of the run's changes")
	do("search the run", chromedp.SetValue(chromedp.CSS("#log-q"), "Okafor$"), chromedp.Submit(chromedp.CSS("#log-q")),
		chromedp.WaitVisible(chromedp.CSS("#log-clear")))
	who := eval[[]string](t, bctx, `[...document.querySelectorAll("#log a.person-link")].map(a => a.textContent)`)
	require.NotEmpty(t, who)
	for _, n := range who {
		assert.True(t, strings.HasSuffix(n, "Okafor"), n)
	}
	assert.Equal(t, len(who), eval[int](t, bctx, rows))
	assert.Contains(t, text("#log"), "New in the directory", "each change says why")
	shot("run-log")
	do("a person's log", chromedp.Click(chromedp.CSS("#log a.person-link")), chromedp.WaitVisible(chromedp.CSS("#person")))
	assert.Equal(t, who[0], text("#person-name"))
	assert.Contains(t, text("#log"), "create")
	assert.Contains(t, text("#log"), "applied")
	shot("person")

	// Nothing left to do; a mapping change (title from the department
	// attribute) shows as updates in the preview.
	do("preview after sync", chromedp.Navigate(base+np+"/preview"), chromedp.WaitVisible(chromedp.CSS("#summary")))
	require.Equal(t, 0, actionable())

	// The exception's button removes it: 2FA Admin is planned again.
	do("remove exception", chromedp.Click(chromedp.CSS(`button[aria-label="Remove the exception for 2FA Admin"]`)),
		chromedp.WaitVisible(chromedp.CSS("#flash")))
	assert.Contains(t, text("#flash"), "Exception removed: 2FA Admin is synced again")
	assert.Equal(t, 1, actionable())
	assert.Zero(t, eval[int](t, bctx, `document.querySelectorAll("#exceptions").length`))

	// After this reviewed sync, automatic mode may be chosen.
	do("automatic", chromedp.Navigate(base+np+"/settings"), chromedp.WaitVisible(chromedp.CSS("#mode")),
		chromedp.SetValue(chromedp.CSS("#mode"), "automatic"), chromedp.Click(chromedp.CSS("#save")), chromedp.WaitVisible(chromedp.CSS("#flash")))
	assert.Zero(t, eval[int](t, bctx, `document.querySelectorAll("#mode-note").length`))
	do("integrations in automatic", chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.CSS("#integrations")))
	assert.Contains(t, text(`tr[data-name="northwind-ad"] td.mode`), "every 2h, automatic")
	do("settings", chromedp.Navigate(base+np+"/settings"), chromedp.WaitVisible(chromedp.CSS("#rules")))
	changed := eval[bool](t, bctx, `(() => {
		for (const t of document.querySelectorAll('#rules input[name$=".target"]')) {
			if (t.value === "title") { t.closest("tr").querySelector('input[name$=".from"]').value = "department"; return true; }
		}
		return false; })()`)
	require.True(t, changed, "the mapping has a title rule")
	do("save", chromedp.Click(chromedp.CSS("#save")), chromedp.WaitVisible(chromedp.CSS("#flash")))
	do("preview after mapping", chromedp.Navigate(base+np+"/preview"), chromedp.WaitVisible(chromedp.CSS("#summary")))
	mapped := actionable()
	assert.Greater(t, mapped, 100, "titles now come from the department")
	assert.Contains(t, text("#plan"), "title")

	// Group picker: nothing for two letters, the group after three, found
	// by a part of its name ("ont" in "External Contractors").
	do("settings again", chromedp.Navigate(base+np+"/settings"), chromedp.WaitVisible(chromedp.CSS("#group-search")),
		chromedp.SendKeys(chromedp.CSS("#group-search"), "on"), chromedp.WaitVisible(chromedp.CSS("#group-hits li")))
	assert.Contains(t, text("#group-hits"), "at least three letters")
	do("third letter", chromedp.SendKeys(chromedp.CSS("#group-search"), "t"),
		chromedp.WaitVisible(chromedp.CSS("#group-hits button.hit")))
	assert.Contains(t, text("#group-hits"), "External Contractors")
	assert.NotContains(t, text("#group-hits"), "from the start only", "the sample's LDIF file is searched for substrings")
	do("scroll", chromedp.ScrollIntoView(chromedp.CSS("#group-search")))
	shot("settings")
	do("pick", chromedp.Click(chromedp.CSS("#group-hits button.hit")), chromedp.WaitVisible(chromedp.CSS("#picked li")))
	assert.Contains(t, text("#picked"), "External Contractors")
	do("save group", chromedp.Click(chromedp.CSS("#save")), chromedp.WaitVisible(chromedp.CSS("#flash")))
	assert.Contains(t, text("#picked"), "External Contractors", "saved")
	do("preview with the group", chromedp.Navigate(base+np+"/preview"), chromedp.WaitVisible(chromedp.CSS("#plan")))
	assert.Greater(t, actionable(), mapped, "contractors are in scope through the group")
	assert.Contains(t, text("#plan"), "External Contractors")

	// Directory markup renders as text and runs nothing.
	do("lab preview", chromedp.Navigate(base+"/i/lab/preview"), chromedp.WaitVisible(chromedp.CSS("#plan")))
	plan := text("#plan")
	for _, n := range hostileNames {
		assert.Contains(t, plan, n)
	}
	imgs := eval[int](t, bctx, `document.querySelectorAll("#plan img, #plan script").length`)
	assert.Zero(t, imgs)
	shot("untrusted-text")

	// A POST without the token is refused.
	status := eval[int](t, bctx, `fetch("/i/lab/syncnow", {method: "POST"}).then(r => r.status)`, chromedp.EvalAwaitPromise)
	assert.Equal(t, 403, status)

	// Users, before the removal.
	do("users", chromedp.Navigate(base+"/users"), chromedp.WaitVisible(chromedp.CSS("#users")))
	users := text("#users")
	assert.Contains(t, users, "Priya Raman")
	assert.Contains(t, users, "sync keeps a block set here")
	shot("users")

	// Remove the sample integration: a plan to approve first.
	do("remove", chromedp.Navigate(base+"/"), chromedp.Click(chromedp.CSS(`tr[data-name="northwind-ad"] a.danger`)),
		chromedp.WaitVisible(chromedp.CSS("#approve-removal")))
	assert.Contains(t, text("#removal"), "block")
	shot("remove")
	do("approve removal", chromedp.Click(chromedp.CSS("#approve-removal")), chromedp.WaitVisible(chromedp.CSS("#flash")))
	assert.NotContains(t, text("#integrations"), "northwind-ad")
	do("users after removal", chromedp.Navigate(base+"/users"), chromedp.WaitVisible(chromedp.CSS("#users")))
	active := eval[int](t, bctx, `[...document.querySelectorAll("#users tbody tr")].filter(tr => tr.cells[4].textContent === "active").length`)
	assert.Equal(t, 2, active, "only the accounts no integration manages (Priya Raman, Ethan Walker) stay active")

	assert.Zero(t, dialogs.Load(), "a JavaScript dialog opened: directory data ran as code")
	t.Logf("screenshots in %s", shots)
}

// eval runs JavaScript in the page and decodes its result.
func eval[T any](t *testing.T, ctx context.Context, expr string, opts ...chromedp.EvaluateOption) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, opts...))
	require.NoError(t, err, expr)
	return v
}
