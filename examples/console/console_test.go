package main

import (
	"bytes"
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
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dirsync-go/dirsync"
	"github.com/dirsync-go/dirsync/connector/fake"
	"github.com/dirsync-go/dirsync/policy"
)

// hostileNames are display names a directory may hold that must render
// as text: markup, attribute breakouts, script URLs.
var hostileNames = []string{
	`<img src=x onerror=alert(1)>`,
	`"><script>alert(2)</script>`,
	`</td></tr><tr><td>forged row`,
	`' onmouseover='alert(3)`,
	`javascript:alert(4)`,
}

// labLDIF is a small directory: one OU of users whose display names are
// the hostile ones, with entryUUID as the ID (OpenLDAP style).
func labLDIF(names []string, title string) string {
	var b strings.Builder
	b.WriteString("dn: OU=Lab users,DC=lab,DC=test\nobjectClass: organizationalUnit\nou: Lab users\nentryUUID: 00000000-0000-4000-8000-000000000000\n\n")
	for i, n := range names {
		fmt.Fprintf(&b, "dn: CN=lab%d,OU=Lab users,DC=lab,DC=test\nobjectClass: user\ncn: lab%d\nsAMAccountName: lab%d\nmail: lab%d@lab.test\n", i, i, i, i)
		fmt.Fprintf(&b, "displayName: %s\ntitle: %s\nuserAccountControl: 512\nentryUUID: 00000000-0000-4000-8000-%012d\n\n", n, title, i+1)
	}
	return b.String()
}

type testConsole struct {
	*testing.T
	c      *console
	srv    *httptest.Server
	client *http.Client
	lab    string // the lab LDIF file
}

// newTestConsole starts a console on a fresh data directory with the
// sample company and the lab directory.
func newTestConsole(t *testing.T, args ...string) *testConsole {
	t.Helper()
	dir := t.TempDir()
	lab := filepath.Join(dir, "lab.ldif")
	require.NoError(t, os.WriteFile(lab, []byte(labLDIF(hostileNames, "Engineer")), 0o600))
	o, err := parseFlags(append([]string{"-data", filepath.Join(dir, "data"), "-ldif", "lab=" + lab}, args...), io.Discard)
	require.NoError(t, err)
	c, err := openConsole(context.Background(), o, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	s, err := newServer(c, o.allowedHosts())
	require.NoError(t, err)
	srv := httptest.NewServer(s)
	t.Cleanup(func() { srv.Close(); c.close() })
	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return &testConsole{T: t, c: c, srv: srv, client: client, lab: lab}
}

func (tc *testConsole) get(path string) (int, string) {
	tc.Helper()
	res, err := tc.client.Get(tc.srv.URL + path)
	require.NoError(tc, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(tc, err)
	return res.StatusCode, string(b)
}

var csrfRE = regexp.MustCompile(`data-csrf="([0-9a-f]+)"`)

// token is the CSRF token of this client's session, read from a page.
func (tc *testConsole) token() string {
	tc.Helper()
	_, body := tc.get("/")
	m := csrfRE.FindStringSubmatch(body)
	require.Len(tc, m, 2, "no CSRF token in the page")
	return m[1]
}

func (tc *testConsole) post(path string, form url.Values) (*http.Response, string) {
	tc.Helper()
	req, err := http.NewRequest(http.MethodPost, tc.srv.URL+path, strings.NewReader(form.Encode()))
	require.NoError(tc, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", tc.srv.URL)
	res, err := tc.client.Do(req)
	require.NoError(tc, err)
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res, string(b)
}

var digestRE = regexp.MustCompile(`name="digest" value="([0-9a-f]+)"`)

func digestOf(t *testing.T, page string) string {
	t.Helper()
	m := digestRE.FindStringSubmatch(page)
	require.Len(t, m, 2, "no digest in the page")
	return m[1]
}

// Every POST route refuses a request without the session's token, one
// with another session's token, and a cross-site one with the right token.
func TestEveryPOSTNeedsTheCSRFToken(t *testing.T) {
	tc := newTestConsole(t)
	other := newTestConsole(t)
	tok, otherTok := tc.token(), other.token()
	require.NotEqual(t, tok, otherTok)
	paths := []string{"/i/lab/syncnow", "/i/lab/exceptions", "/i/lab/exceptions/remove", "/i/lab/sync",
		"/i/lab/settings", "/i/lab/pending", "/i/lab/remove"}
	for _, p := range paths {
		for name, form := range map[string]url.Values{
			"none":    {"id": {"x"}, "digest": {"d"}},
			"empty":   {"csrf": {""}, "digest": {"d"}},
			"other":   {"csrf": {otherTok}, "digest": {"d"}},
			"mangled": {"csrf": {tok[:len(tok)-1] + "0"}, "digest": {"d"}},
		} {
			if name == "mangled" && strings.HasSuffix(tok, "0") {
				form.Set("csrf", tok[:len(tok)-1]+"1")
			}
			res, body := tc.post(p, form)
			assert.Equal(t, http.StatusForbidden, res.StatusCode, "%s with %s token", p, name)
			assert.Contains(t, body, "security token", p)
		}
	}
	// Nothing happened: the integration is there, with no exception.
	_, page := tc.get("/i/lab/preview")
	assert.NotContains(t, page, `id="exceptions"`)

	// Cross-site, even with the right token: refused by
	// http.CrossOriginProtection.
	req, _ := http.NewRequest(http.MethodPost, tc.srv.URL+"/i/lab/syncnow", strings.NewReader(url.Values{"csrf": {tok}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	res, err := tc.client.Do(req)
	require.NoError(t, err)
	res.Body.Close()
	assert.Equal(t, http.StatusForbidden, res.StatusCode)

	// With the token it goes through.
	res, _ = tc.post("/i/lab/syncnow", url.Values{"csrf": {tok}})
	assert.Equal(t, http.StatusSeeOther, res.StatusCode)
}

// Directory values are rendered as text on every page that shows them:
// the markup arrives escaped, never as markup.
func TestDirectoryDataRendersAsText(t *testing.T) {
	tc := newTestConsole(t)
	_, preview := tc.get("/i/lab/preview")
	tok := tc.token()
	res, _ := tc.post("/i/lab/sync", url.Values{"csrf": {tok}, "digest": {digestOf(t, preview)}})
	require.Equal(t, http.StatusSeeOther, res.StatusCode)
	report := tc.waitSync("lab")
	_, users := tc.get("/users")
	_, run := tc.newestRun("lab")                                 // the run's changes from the log
	person := tc.mustGet("/i/lab/person?account=lab0%40lab.test") // a person's log
	for _, page := range []string{preview, report, users, run, person} {
		for _, n := range hostileNames {
			if strings.ContainsAny(n, `<>"'`) {
				assert.NotContains(t, page, n, "raw markup in a page")
			}
		}
		assert.NotContains(t, page, "<img src=x")
		assert.NotContains(t, page, "<script>alert")
		assert.Contains(t, page, "&lt;img src=x onerror=alert(1)&gt;")
	}
	// And no response lets a page run inline script even if escaping
	// failed.
	r, err := tc.client.Get(tc.srv.URL + "/users")
	require.NoError(t, err)
	r.Body.Close()
	assert.Contains(t, r.Header.Get("Content-Security-Policy"), "script-src 'self'")
}

// waitSync waits for the console's sync of the integration to finish and
// returns its report page.
func (tc *testConsole) waitSync(name string) string {
	tc.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		_, body := tc.get("/i/" + name + "/sync")
		if !strings.Contains(body, `id="running"`) {
			return body
		}
		require.True(tc, time.Now().Before(deadline), "sync did not finish")
		time.Sleep(50 * time.Millisecond)
	}
}

// Unknown pages and integrations are clear errors, not blank pages.
func TestNotFoundIsAClearError(t *testing.T) {
	tc := newTestConsole(t)
	for path, want := range map[string]string{
		"/nope":                  "There is no such page",
		"/i/ghost/preview":       `no integration named &#34;ghost&#34;`,
		"/i/lab/history/123":     "not in the history",
		"/i/lab/preview/extra/x": "There is no such page",
	} {
		code, body := tc.get(path)
		assert.Equal(t, http.StatusNotFound, code, path)
		assert.Contains(t, body, want, path)
		assert.Contains(t, body, `id="error"`, path)
	}
}

// A bad regular expression shows an inline error and still the plan.
func TestBadRegexIsAnInlineError(t *testing.T) {
	tc := newTestConsole(t)
	for _, q := range []string{"(", "[0-9", `\`, "a{2,1}", "*x"} {
		code, body := tc.get("/i/northwind-ad/preview?q=" + url.QueryEscape(q))
		assert.Equal(t, http.StatusOK, code, q)
		assert.Contains(t, body, `id="q-error"`, q)
		assert.Contains(t, body, "Not a valid regular expression", q)
		assert.Contains(t, body, `id="plan"`, "the plan is still shown for %q", q)
	}
	_, body := tc.get("/i/northwind-ad/preview?q=" + url.QueryEscape("^[0-9]"))
	assert.NotContains(t, body, `id="q-error"`)
	assert.Contains(t, body, "2fa-admin@example.test")
	assert.NotContains(t, body, "olivia.bennett@example.test")
}

// Sync applies the plan on screen; when the directory moved after the
// preview, it applies nothing and shows the new plan.
func TestSyncAppliesThePlanOnScreen(t *testing.T) {
	tc := newTestConsole(t)
	tok := tc.token()
	_, preview := tc.get("/i/lab/preview")
	shown := digestOf(t, preview)

	// The export is replaced between preview and click.
	require.NoError(t, os.WriteFile(tc.lab, []byte(labLDIF(hostileNames, "Scientist")), 0o600))
	res, _ := tc.post("/i/lab/sync", url.Values{"csrf": {tok}, "digest": {shown}})
	require.Equal(t, http.StatusSeeOther, res.StatusCode)
	page := tc.waitSync("lab")
	assert.Contains(t, page, `id="moved"`)
	all, err := tc.c.app.All(context.Background())
	require.NoError(t, err)
	for _, a := range all {
		assert.NotEqual(t, "lab", a.Source, "nothing of lab was applied")
	}

	_, preview = tc.get("/i/lab/preview")
	fresh := digestOf(t, preview)
	assert.NotEqual(t, shown, fresh)
	res, _ = tc.post("/i/lab/sync", url.Values{"csrf": {tok}, "digest": {fresh}})
	require.Equal(t, http.StatusSeeOther, res.StatusCode)
	page = tc.waitSync("lab")
	assert.Contains(t, page, fmt.Sprintf(`<strong id="applied">%d</strong> applied`, len(hostileNames)+1)) // + the department
	all, err = tc.c.app.All(context.Background())
	require.NoError(t, err)
	n := 0
	for _, a := range all {
		if a.Source == "lab" {
			n++
			assert.Equal(t, "Scientist", a.Title)
		}
	}
	assert.Equal(t, len(hostileNames), n)
	_, hist := tc.get("/i/lab/history")
	assert.Contains(t, hist, "applied")
	code, list := tc.get("/")
	require.Equal(t, http.StatusOK, code, list)
	assert.Contains(t, list, `<a href="/i/lab/history">`, "the last run is listed")

	// Remove the integration: a plan first, applied only when approved.
	code, removal := tc.get("/i/lab/remove")
	require.Equal(t, http.StatusOK, code, removal)
	assert.Contains(t, removal, `id="approve-removal"`)
	assert.NotContains(t, removal, `type="checkbox"`, "nothing to pick on the removal plan")
	res, body := tc.post("/i/lab/remove", url.Values{"csrf": {tok}, "digest": {"0000"}})
	assert.Equal(t, http.StatusConflict, res.StatusCode, "a removal plan not shown is refused")
	assert.Contains(t, body, "Nothing was removed")
	_, ok := tc.c.get("lab")
	require.True(t, ok)
	res, body = tc.post("/i/lab/remove", url.Values{"csrf": {tok}, "digest": {digestOf(t, removal)}})
	require.Equal(t, http.StatusSeeOther, res.StatusCode, body)
	_, ok = tc.c.get("lab")
	assert.False(t, ok, "the integration is gone")
	all, err = tc.c.app.All(context.Background())
	require.NoError(t, err)
	for _, a := range all {
		if a.Source == "lab" {
			assert.True(t, a.Blocked && a.BlockedBySync, a.Username)
		} else {
			assert.False(t, a.BlockedBySync, "no other account is touched: %s", a.Username)
		}
	}
	assert.Contains(t, tc.c.saved.Removed, "lab", "it does not come back at the next start")
}

// A mapping rule that cannot work is refused on save, naming the rule;
// the saved settings stay as they were.
func TestSettingsNameTheFailingRule(t *testing.T) {
	tc := newTestConsole(t)
	tok := tc.token()
	before := tc.c.saved
	_, page := tc.get("/i/northwind-ad/settings")
	form := settingsForm(t, page)
	form.Set("csrf", tok)
	form.Set("r2.transforms", "lower, shout") // an unknown transform in rule 3
	res, body := tc.post("/i/northwind-ad/settings", form)
	assert.Equal(t, http.StatusUnprocessableEntity, res.StatusCode)
	assert.Contains(t, body, "mapping rule 3")
	assert.Contains(t, body, "shout")
	assert.Contains(t, body, `id="failing-rule" data-rule="2"`)
	errorText := func(page string) string { return regexp.MustCompile(`id="error"[^<]*`).FindString(page) }
	assert.NotRegexp(t, `rule [02]\b`, errorText(body), "rules are numbered one way, from 1")
	assert.Equal(t, before, tc.c.saved)

	// A skip that is not a number: the same numbering, the rule kept.
	form.Set("r2.transforms", "lower")
	form.Set("r2.skip", "two")
	res, body = tc.post("/i/northwind-ad/settings", form)
	assert.Equal(t, http.StatusUnprocessableEntity, res.StatusCode)
	assert.Contains(t, body, "mapping rule 3")
	assert.Contains(t, body, `id="failing-rule" data-rule="2"`)
	assert.NotRegexp(t, `rule [02]\b`, errorText(body))
	assert.Equal(t, before, tc.c.saved)
	form.Set("r2.skip", "")

	form.Set("r2.transforms", "lower")
	form.Set("every", "5s")
	res, body = tc.post("/i/northwind-ad/settings", form)
	assert.Equal(t, http.StatusUnprocessableEntity, res.StatusCode)
	assert.Contains(t, body, "schedule")

	form.Set("every", "4h")
	res, _ = tc.post("/i/northwind-ad/settings", form)
	assert.Equal(t, http.StatusSeeOther, res.StatusCode)
	assert.Equal(t, "4h", tc.c.saved.Settings["northwind-ad"].Every)
}

var (
	inputTagRE = regexp.MustCompile(`<input [^>]*>`)
	attrRE     = regexp.MustCompile(`([a-zA-Z-]+)(?:="([^"]*)")?`)
)

// settingsForm reads the settings form's fields as a browser would send
// them.
func settingsForm(t *testing.T, page string) url.Values {
	t.Helper()
	f := url.Values{}
	for _, tag := range inputTagRE.FindAllString(page, -1) {
		attrs := map[string]string{}
		for _, m := range attrRE.FindAllStringSubmatch(strings.TrimPrefix(tag, "<input "), -1) {
			attrs[m[1]] = htmlUnescape(m[2])
			if m[2] == "" && !strings.Contains(m[0], "=") {
				attrs[m[1]] = "present"
			}
		}
		name, ok := attrs["name"]
		if !ok || attrs["type"] == "search" {
			continue
		}
		if attrs["type"] == "checkbox" {
			if attrs["checked"] != "" {
				f.Add(name, "on")
			}
			continue
		}
		f.Add(name, attrs["value"])
	}
	for _, sel := range []string{"missing", "appBlock", "mode"} {
		re := regexp.MustCompile(`(?s)<select name="` + sel + `".*?</select>`)
		block := re.FindString(page)
		m := regexp.MustCompile(`<option value="([^"]+)" selected`).FindStringSubmatch(block)
		require.Len(t, m, 2, sel)
		f.Set(sel, m[1])
	}
	require.NotEmpty(t, f.Get("rules"))
	require.NotEmpty(t, f.Get("every"))
	return f
}

func htmlUnescape(s string) string {
	return strings.NewReplacer("&#43;", "+", "&#34;", `"`, "&#39;", "'", "&lt;", "<", "&gt;", ">", "&amp;", "&").Replace(s)
}

// No page shows a secret: the AD password and the Entra client secret
// come from the environment and stay in the connectors, also when the
// directory cannot be reached.
func TestNoSecretRendered(t *testing.T) {
	const adSecret, entraSecret = "AD-pa55-w0rd-XYZ", "entra~s3cret~value"
	t.Setenv("TEST_AD_PASSWORD", adSecret)
	t.Setenv("TEST_ENTRA_SECRET", entraSecret)
	cfg := filepath.Join(t.TempDir(), "c.json")
	require.NoError(t, os.WriteFile(cfg, []byte(`{"integrations": [
	  {"name": "corp-ad", "kind": "ad", "secretEnv": "TEST_AD_PASSWORD",
	   "ad": {"urls": ["ldaps://127.0.0.1:1"], "bindDN": "svc@corp.test", "baseDN": "DC=corp,DC=test", "timeout": 2000000000}},
	  {"name": "corp-entra", "kind": "entra", "secretEnv": "TEST_ENTRA_SECRET",
	   "entra": {"tenantID": "corp.onmicrosoft.com", "clientID": "11111111-2222-3333-4444-555555555555"}}
	]}`), 0o600))
	tc := newTestConsole(t, "-config", cfg)
	var pages []string
	for _, p := range []string{"/", "/users", "/i/corp-ad/preview", "/i/corp-ad/settings", "/i/corp-ad/history",
		"/i/corp-ad/groups?prefix=abc", "/i/corp-entra/settings", "/i/corp-ad/remove", "/i/corp-ad/person?account=svc%40corp.test"} {
		_, body := tc.get(p)
		pages = append(pages, body)
	}
	for i, body := range pages {
		assert.NotContains(t, body, adSecret, i)
		assert.NotContains(t, body, entraSecret, i)
	}
	assert.Contains(t, pages[0], "svc@corp.test")
	assert.Contains(t, pages[2], `id="read-error"`, "an unreachable DC is a clear error")
	b, err := os.ReadFile(filepath.Join(tc.c.dataDir, "settings.json"))
	if err == nil {
		assert.NotContains(t, string(b), adSecret)
	}
}

// A configuration problem is an error at start that names it.
func TestConfigErrors(t *testing.T) {
	for name, tt := range map[string]struct{ json, want string }{
		"unknown kind":   {`{"integrations":[{"name":"x","kind":"okta"}]}`, `unknown kind "okta"`},
		"bad name":       {`{"integrations":[{"name":"Has Space","kind":"ldif","ldif":{"path":"x"}}]}`, "integration name"},
		"missing secret": {`{"integrations":[{"name":"x","kind":"ad","secretEnv":"NOPE_NOT_SET","ad":{}}]}`, "NOPE_NOT_SET"},
		"unknown field":  {`{"integrations":[{"name":"x","kind":"ad","password":"p"}]}`, "unknown field"},
		"duplicate":      {`{"integrations":[{"name":"northwind-ad","kind":"ldif","ldif":{"path":"x.ldif"}}]}`, "two integrations"},
		"invalid ad":     {`{"integrations":[{"name":"x","kind":"ad","ad":{"urls":["ldap://dc"],"bindDN":"a","baseDN":"DC=x"}}]}`, "integration \"x\""},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := filepath.Join(dir, "c.json")
			require.NoError(t, os.WriteFile(cfg, []byte(tt.json), 0o600))
			if name == "duplicate" {
				require.NoError(t, os.WriteFile(filepath.Join(dir, "x.ldif"), []byte(labLDIF(nil, "")), 0o600))
				t.Chdir(dir)
			}
			err := run(context.Background(), []string{"-addr", "127.0.0.1:0", "-data", filepath.Join(dir, "d"), "-config", cfg}, io.Discard, io.Discard, nil)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}

// The console has no sign-in, so it refuses to listen beyond loopback.
func TestListensOnLoopbackOnly(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:0", ":0"} {
		err := run(context.Background(), []string{"-addr", addr, "-data", t.TempDir()}, io.Discard, io.Discard, nil)
		require.Error(t, err, addr)
		assert.Contains(t, err.Error(), "not a loopback address", addr)
	}
}

// The console prints its URL, serves, and stops cleanly when its context
// ends (SIGINT in main); a second start on the same data finds its state.
func TestServesAndStopsCleanly(t *testing.T) {
	dir := t.TempDir()
	for range 2 {
		ctx, cancel := context.WithCancel(context.Background())
		ready := make(chan string, 1)
		var out bytes.Buffer
		done := make(chan error, 1)
		go func() {
			done <- run(ctx, []string{"-addr", "127.0.0.1:0", "-data", dir}, &out, io.Discard, ready)
		}()
		var u string
		select {
		case u = <-ready:
		case err := <-done:
			t.Fatal(err)
		}
		require.True(t, strings.HasPrefix(u, "http://127.0.0.1:"), u)
		res, err := http.Get(u)
		require.NoError(t, err)
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		assert.Contains(t, string(b), "northwind-ad")
		cancel()
		require.NoError(t, <-done)
		assert.Contains(t, out.String(), u)
		assert.Contains(t, out.String(), "console stopped")
	}
}

// While a sync runs, its page shows the phase and a progress bar fed by
// Options.Progress, refreshes itself, and a second Sync is refused; the
// report follows.
func TestSyncShowsProgress(t *testing.T) {
	tc := newTestConsole(t)
	dir := fake.New(fake.Company(40, 1)...)
	in := &integration{Name: "slow", Kind: "fake", conn: dir}
	st := defaultSettings("ad")
	st.Policy = policy.Config{}
	require.NoError(t, tc.c.add(in, st))
	tok := tc.token()
	_, preview := tc.get("/i/slow/preview")
	dir.SetDelay(20 * time.Millisecond) // a slow directory: the read takes about a second

	res, _ := tc.post("/i/slow/sync", url.Values{"csrf": {tok}, "digest": {digestOf(t, preview)}})
	require.Equal(t, http.StatusSeeOther, res.StatusCode)
	_, page := tc.get("/i/slow/sync")
	assert.Contains(t, page, `id="running"`)
	assert.Contains(t, page, `<progress id="progress"`)
	assert.Contains(t, page, `http-equiv="refresh"`)
	res, body := tc.post("/i/slow/sync", url.Values{"csrf": {tok}, "digest": {digestOf(t, preview)}})
	assert.Equal(t, http.StatusConflict, res.StatusCode)
	assert.Contains(t, body, "already running")

	sawRead, sawApply := false, false
	readRE := regexp.MustCompile(`class="phase now" id="phase-read">.*\n.*read: \d+ entries read`)
	applyRE := regexp.MustCompile(`(?s)class="phase done" id="phase-read">.*<progress id="progress-read" max="100" value="100">.*class="phase now" id="phase-apply">.*<progress id="progress" max="100" value="\d+">`)
	for strings.Contains(page, `id="running"`) {
		sawRead = sawRead || readRE.MatchString(page)
		if applyRE.MatchString(page) {
			sawApply = true
			assert.False(t, readRE.MatchString(page), "the read phase stays done while the apply runs")
		}
		time.Sleep(20 * time.Millisecond)
		_, page = tc.get("/i/slow/sync")
	}
	assert.True(t, sawRead, "the page named the read phase while it ran")
	assert.True(t, sawApply, "the apply showed as the second phase, with the read done")
	assert.Contains(t, page, `id="report"`)
	assert.NotContains(t, page, `http-equiv="refresh"`)
}

// A new integration is in review mode: "Sync now" plans and shows the
// preview, applying nothing; a scheduled run leaves its plan waiting for
// approval; automatic mode is refused until a first reviewed sync, and
// once chosen, "Sync now" runs and applies. A digest that is not the
// pending plan's applies nothing.
func TestReviewMode(t *testing.T) {
	tc := newTestConsole(t)
	tok := tc.token()
	ctx := context.Background()
	labAccounts := func() int {
		all, err := tc.c.app.All(ctx)
		require.NoError(t, err)
		n := 0
		for _, a := range all {
			if a.Source == "lab" {
				n++
			}
		}
		return n
	}
	_, list := tc.get("/")
	assert.Contains(t, list, "every 2h, review mode: each run waits for approval")
	assert.NotContains(t, list, "automatic</td>")

	// Sync now: the preview of the plan, nothing applied.
	res, _ := tc.post("/i/lab/syncnow", url.Values{"csrf": {tok}})
	require.Equal(t, http.StatusSeeOther, res.StatusCode)
	require.Equal(t, "/i/lab/preview?done=review", res.Header.Get("Location"))
	_, preview := tc.get("/i/lab/preview?done=review")
	assert.Contains(t, preview, "Review mode: this is the plan a sync would apply now")
	assert.Contains(t, preview, `id="sync"`)
	time.Sleep(100 * time.Millisecond)
	assert.Zero(t, labAccounts(), "Sync now applied nothing")

	// Automatic is refused before a reviewed sync.
	_, page := tc.get("/i/lab/settings")
	assert.Contains(t, page, `id="mode-note"`)
	form := settingsForm(t, page)
	form.Set("csrf", tok)
	form.Set("mode", modeAutomatic)
	res, body := tc.post("/i/lab/settings", form)
	assert.Equal(t, http.StatusUnprocessableEntity, res.StatusCode)
	assert.Contains(t, body, "automatic mode needs a first reviewed sync")
	_, saved := tc.c.saved.Settings["lab"]
	assert.False(t, saved, "nothing saved")
	in, _ := tc.c.get("lab")
	assert.Equal(t, modeApproval, in.Settings().Mode)

	// A scheduled run leaves its plan waiting.
	rec, err := in.Syncer().RunOnce(ctx, dirsync.TriggerSchedule, dirsync.ModeApproval)
	require.NoError(t, err)
	assert.Equal(t, dirsync.OutcomeWaiting, rec.Outcome)
	_, list = tc.get("/")
	assert.Contains(t, list, "A plan is waiting for approval")
	assert.Zero(t, labAccounts(), "nothing applied before approval")

	_, pending := tc.get("/i/lab/pending")
	res, body = tc.post("/i/lab/pending", url.Values{"csrf": {tok}, "digest": {"not-the-digest"}})
	assert.Equal(t, http.StatusConflict, res.StatusCode)
	assert.Contains(t, body, "Nothing was applied")
	res, _ = tc.post("/i/lab/pending", url.Values{"csrf": {tok}, "digest": {digestOf(t, pending)}})
	require.Equal(t, http.StatusSeeOther, res.StatusCode)
	assert.Equal(t, len(hostileNames), labAccounts())
	_, hist := tc.get("/i/lab/history")
	assert.Contains(t, hist, "approval")
	assert.Contains(t, hist, "waiting-for-approval")

	// Reviewed: automatic may be chosen now, and Sync now runs.
	_, page = tc.get("/i/lab/settings")
	assert.NotContains(t, page, `id="mode-note"`)
	form = settingsForm(t, page)
	form.Set("csrf", tok)
	form.Set("mode", modeAutomatic)
	res, body = tc.post("/i/lab/settings", form)
	require.Equal(t, http.StatusSeeOther, res.StatusCode, regexp.MustCompile(`id="error"[^<]*`).FindString(body))
	_, list = tc.get("/")
	assert.Contains(t, list, "every 2h, automatic")
	require.NoError(t, os.WriteFile(tc.lab, []byte(labLDIF(hostileNames, "Scientist")), 0o600))
	res, _ = tc.post("/i/lab/syncnow", url.Values{"csrf": {tok}})
	require.Equal(t, http.StatusSeeOther, res.StatusCode)
	assert.Equal(t, "/?done=syncnow", res.Header.Get("Location"))
	deadline := time.Now().Add(30 * time.Second)
	for {
		if a, ok, err := tc.c.app.Lookup(ctx, "lab", "00000000-0000-4000-8000-000000000001"); err == nil && ok && a.Title == "Scientist" {
			break
		}
		require.True(t, time.Now().Before(deadline), "Sync now in automatic mode did not apply")
		time.Sleep(20 * time.Millisecond)
	}
}

// A plan over the safety limits (here: everyone disabled at once) shows
// the limit on the preview, and Sync applies it only with the approval
// box ticked.
func TestSafetyLimitNeedsTheApprovalBox(t *testing.T) {
	tc := newTestConsole(t)
	tok := tc.token()
	_, preview := tc.get("/i/lab/preview")
	res, _ := tc.post("/i/lab/sync", url.Values{"csrf": {tok}, "digest": {digestOf(t, preview)}})
	require.Equal(t, http.StatusSeeOther, res.StatusCode)
	tc.waitSync("lab")

	disabled := strings.ReplaceAll(labLDIF(hostileNames, "Engineer"), "userAccountControl: 512", "userAccountControl: 514")
	require.NoError(t, os.WriteFile(tc.lab, []byte(disabled), 0o600))
	_, preview = tc.get("/i/lab/preview")
	assert.Contains(t, preview, `id="safety"`)
	assert.Contains(t, preview, `name="approve"`)

	res, _ = tc.post("/i/lab/sync", url.Values{"csrf": {tok}, "digest": {digestOf(t, preview)}})
	require.Equal(t, http.StatusSeeOther, res.StatusCode)
	page := tc.waitSync("lab")
	assert.Contains(t, page, `id="safety"`)
	assert.Contains(t, page, "Nothing was applied")
	all, err := tc.c.app.All(context.Background())
	require.NoError(t, err)
	for _, a := range all {
		assert.False(t, a.Blocked && a.Source == "lab", "blocked without approval: %s", a.Username)
	}

	res, _ = tc.post("/i/lab/sync", url.Values{"csrf": {tok}, "digest": {digestOf(t, preview)}, "approve": {"on"}})
	require.Equal(t, http.StatusSeeOther, res.StatusCode)
	page = tc.waitSync("lab")
	assert.Contains(t, page, fmt.Sprintf(`<strong id="applied">%d</strong> applied`, len(hostileNames)))
	all, err = tc.c.app.All(context.Background())
	require.NoError(t, err)
	for _, a := range all {
		if a.Source == "lab" {
			assert.True(t, a.Blocked, a.Username)
		}
	}
}

// Lifecycle and "who wins" settings reach the policy, show on the Users
// page, and a value the policy does not know is refused with its name.
func TestSettingsLifecycle(t *testing.T) {
	tc := newTestConsole(t)
	tok := tc.token()
	_, page := tc.get("/i/lab/settings")
	form := settingsForm(t, page)
	form.Set("csrf", tok)

	form.Set("missing", "archive") // not an option of the form: a crafted POST
	res, body := tc.post("/i/lab/settings", form)
	assert.Equal(t, http.StatusUnprocessableEntity, res.StatusCode)
	assert.Contains(t, body, "lifecycle.missing")

	form.Set("missing", "delete")
	form.Set("deleteDays", "thirty")
	res, body = tc.post("/i/lab/settings", form)
	assert.Equal(t, http.StatusUnprocessableEntity, res.StatusCode)
	assert.Contains(t, body, "number of days")

	form.Set("deleteDays", "30")
	form.Set("appBlock", "directory")
	res, _ = tc.post("/i/lab/settings", form)
	require.Equal(t, http.StatusSeeOther, res.StatusCode)
	lc := tc.c.saved.Settings["lab"].Policy.Lifecycle
	assert.Equal(t, "delete", lc.Missing)
	assert.Equal(t, 30*24*time.Hour, lc.DeleteAfter.Duration)
	assert.Equal(t, "directory", lc.AppBlock)
	_, page = tc.get("/i/lab/settings")
	assert.Contains(t, page, `name="deleteDays" size="3" value="30"`)

	_, preview := tc.get("/i/lab/preview")
	res, _ = tc.post("/i/lab/sync", url.Values{"csrf": {tok}, "digest": {digestOf(t, preview)}})
	require.Equal(t, http.StatusSeeOther, res.StatusCode)
	tc.waitSync("lab")
	_, users := tc.get("/users")
	assert.Contains(t, users, "no: the directory wins")             // lab's accounts
	assert.Contains(t, users, "yes: not managed by directory sync") // Priya Raman
}

// Settings saved by two admins at once leave one schedule running, with
// one of the two settings.
func TestConcurrentSettingsSaves(t *testing.T) {
	tc := newTestConsole(t)
	tok := tc.token()
	_, page := tc.get("/i/lab/settings")
	var wg sync.WaitGroup
	for i := range 8 {
		form := settingsForm(t, page)
		form.Set("csrf", tok)
		form.Set("every", fmt.Sprintf("%dh", i+1))
		wg.Go(func() {
			res, _ := tc.post("/i/lab/settings", form)
			assert.Equal(t, http.StatusSeeOther, res.StatusCode)
		})
	}
	wg.Wait()
	in, ok := tc.c.get("lab")
	require.True(t, ok)
	assert.Equal(t, tc.c.saved.Settings["lab"].Every, in.Settings().Every)
	// The Run loop of the last save waits for its schedule.
	require.Eventually(t, func() bool { return !in.Syncer().NextRun().IsZero() }, 10*time.Second, 10*time.Millisecond)
}

var selectRE = regexp.MustCompile(`name="id" value="([^"]+)" aria-label="select ([^"]+)"`)

// Exceptions are listed above the plan with the person's name and email,
// adding one keeps the search and names who was added, and each has a
// button that removes it.
func TestExceptionsNamedAndRemovable(t *testing.T) {
	tc := newTestConsole(t)
	tok := tc.token()
	const np = "/i/northwind-ad"
	_, page := tc.get(np + "/preview?q=" + url.QueryEscape("^[0-9]"))
	var id string
	for _, m := range selectRE.FindAllStringSubmatch(page, -1) {
		if m[2] == "2FA Admin" {
			id = m[1]
		}
	}
	require.NotEmpty(t, id, "2FA Admin can be picked")
	res, _ := tc.post(np+"/exceptions", url.Values{"csrf": {tok}, "id": {id}, "q": {"^[0-9]"}})
	require.Equal(t, http.StatusSeeOther, res.StatusCode)
	loc := res.Header.Get("Location")
	assert.Equal(t, np+"/preview?q=%5E%5B0-9%5D&done=note", loc, "the search is kept")
	_, page = tc.get(loc)
	assert.Contains(t, page, "Added to the exceptions: 2FA Admin (2fa-admin@example.test).")
	assert.Contains(t, page, `value="^[0-9]"`, "the search box keeps the search")
	exc := strings.Index(page, `id="exceptions"`)
	require.Positive(t, exc)
	assert.Less(t, exc, strings.Index(page, `id="summary"`), "exceptions come first")
	section := page[exc:strings.Index(page, "</section>")]
	assert.Contains(t, section, `<td class="x-name">2FA Admin</td>`)
	assert.Contains(t, section, "2fa-admin@example.test")
	assert.Contains(t, section, `aria-label="Remove the exception for 2FA Admin">Remove exception</button>`)
	_, again := tc.get(loc)
	assert.NotContains(t, again, "Added to the exceptions", "the note shows once")

	// The note saved with the exception keeps the name and email for
	// when neither the app nor the plan holds them.
	in, _ := tc.c.get("northwind-ad")
	xs, err := in.Syncer().Exceptions(context.Background())
	require.NoError(t, err)
	require.Len(t, xs, 1)
	assert.Equal(t, "2FA Admin <2fa-admin@example.test>, added in the admin console", xs[0].Note)

	// Remove it with its button.
	m := regexp.MustCompile(`name="exception" value="([^"]+)"`).FindStringSubmatch(section)
	require.Len(t, m, 2)
	res, _ = tc.post(np+"/exceptions/remove", url.Values{"csrf": {tok}, "exception": {htmlUnescape(m[1])}, "who": {"2FA Admin"}})
	require.Equal(t, http.StatusSeeOther, res.StatusCode)
	_, page = tc.get(res.Header.Get("Location"))
	assert.Contains(t, page, "Exception removed: 2FA Admin is synced again")
	assert.NotContains(t, page, `id="exceptions"`)
	xs, err = in.Syncer().Exceptions(context.Background())
	require.NoError(t, err)
	assert.Empty(t, xs)
}

// A large plan comes in pages of pageSize rows, a search pages too and
// keeps its query in the page links, the Sync button sits above the
// rows, and the plan is made once for all these pages.
func TestPreviewPages(t *testing.T) {
	tc := newTestConsole(t)
	dir := fake.New(fake.Company(450, 1)...)
	in := &integration{Name: "big", Kind: "fake", conn: dir}
	st := defaultSettings("ad")
	st.Policy = policy.Config{}
	require.NoError(t, tc.c.add(in, st))
	rowsRE := regexp.MustCompile(`<tr class="op-`)

	_, page := tc.get("/i/big/preview")
	require.Contains(t, page, `id="plan"`)
	assert.Len(t, rowsRE.FindAllString(page, -1), pageSize)
	assert.Less(t, strings.Index(page, `id="sync"`), strings.Index(page, `id="plan"`), "Sync comes before the rows")
	assert.Contains(t, page, `page <strong id="page-no">1</strong> of 5`)
	assert.Contains(t, page, `href="/i/big/preview?page=2" rel="next"`)
	made := in.shownPlan()
	require.NotNil(t, made)

	_, page5 := tc.get("/i/big/preview?page=5")
	assert.Contains(t, page5, `page <strong id="page-no">5</strong> of 5`)
	n5 := len(rowsRE.FindAllString(page5, -1))
	assert.Positive(t, n5)
	assert.LessOrEqual(t, n5, pageSize)
	_, over := tc.get("/i/big/preview?page=99")
	assert.Contains(t, over, `page <strong id="page-no">5</strong> of 5`, "past the end is the last page")

	_, found := tc.get("/i/big/preview?q=" + url.QueryEscape("example"))
	assert.Contains(t, found, `href="/i/big/preview?page=2&amp;q=example" rel="next"`)
	assert.Same(t, made, in.shownPlan(), "pages and searches reuse the plan")
	assert.Equal(t, digestOf(t, page), digestOf(t, found))

	// Sync, then the report and the users come in pages too.
	res, _ := tc.post("/i/big/sync", url.Values{"csrf": {tc.token()}, "digest": {digestOf(t, page)}})
	require.Equal(t, http.StatusSeeOther, res.StatusCode)
	report := tc.waitSync("big")
	assert.Contains(t, report, `id="report"`)
	assert.Len(t, regexp.MustCompile(`<tr class="res-`).FindAllString(report, -1), pageSize)
	assert.Contains(t, report, `href="/i/big/sync?page=2" rel="next"`)
	_, users := tc.get("/users?page=2")
	assert.Contains(t, users, `page <strong id="page-no">2</strong> of`)
	assert.Len(t, regexp.MustCompile(`<tr class="(blocked)?"><td>`).FindAllString(users, -1), pageSize)

	// The sync moved the app: the next preview is a new plan.
	_, after := tc.get("/i/big/preview")
	assert.NotSame(t, made, in.shownPlan())
	assert.Contains(t, after, `data-actionable="0"`)
}

// The time left is the changes left at the rate of the last seconds; in
// the apply's first second, at the mean rate.
func TestTimeLeft(t *testing.T) {
	t0 := time.Date(2026, 12, 8, 1, 0, 0, 0, time.UTC)
	j := &job{Planned: true, ApplyStarted: t0, Progress: dirsync.Progress{Phase: dirsync.PhaseApply, Done: 250, Total: 100000}}
	j.rate.add(t0, 0)
	left, ok := j.timeLeft(t0.Add(500 * time.Millisecond))
	require.True(t, ok)
	assert.Equal(t, 199*time.Second+500*time.Millisecond, left, "mean rate: 500/s")
	_, ok = (&job{}).timeLeft(t0)
	assert.False(t, ok, "no estimate before the apply")

	// 1,000 changes a second for 10 s, then 250 a second: the estimate
	// follows the slower rate once the faster one is out of the window.
	now := t0
	done := 0
	for range 40 {
		now = now.Add(250 * time.Millisecond)
		done += 250
		j.rate.add(now, done)
	}
	for range 40 {
		now = now.Add(250 * time.Millisecond)
		done += 62
		j.rate.add(now, done)
	}
	j.Progress.Done = done
	left, ok = j.timeLeft(now)
	require.True(t, ok)
	assert.InDelta(t, float64(100000-done)/248, left.Seconds(), 1, "the last seconds' rate, 248/s")
	mean := now.Sub(t0).Seconds() / float64(done) * float64(100000-done)
	assert.Greater(t, left.Seconds(), 2*mean, "the mean rate would promise less than half")
}

// While a plan is being made longer than a page waits, the preview says
// so and refreshes itself; nothing can be synced from it.
func TestPreviewWhilePlanning(t *testing.T) {
	tc := newTestConsole(t)
	dir := fake.New(fake.Company(40, 1)...)
	in := &integration{Name: "slow", Kind: "fake", conn: dir}
	st := defaultSettings("ad")
	st.Policy = policy.Config{}
	require.NoError(t, tc.c.add(in, st))
	_, page := tc.get("/i/slow/preview")
	require.Contains(t, page, `id="plan"`)
	dir.SetDelay(20 * time.Millisecond) // the read takes about a second
	old := planWait
	planWait = 0
	defer func() { planWait = old }()
	tc.c.invalidate(in)
	_, page = tc.get("/i/slow/preview")
	assert.Contains(t, page, `id="planning"`)
	assert.Contains(t, page, `http-equiv="refresh"`)
	assert.NotContains(t, page, `id="sync"`)
	deadline := time.Now().Add(30 * time.Second)
	for strings.Contains(page, `id="planning"`) {
		require.True(t, time.Now().Before(deadline), "the plan never came")
		time.Sleep(50 * time.Millisecond)
		_, page = tc.get("/i/slow/preview")
	}
	assert.Contains(t, page, `id="plan"`)
	assert.NotContains(t, page, `http-equiv="refresh"`)
}
