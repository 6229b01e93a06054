package main

// server.go is the web side: routes, CSRF protection, security headers and
// the page handlers. Every page is an html/template, so directory data is
// always rendered as text; secrets are never passed to a template.

import (
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"regexp/syntax"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/dirsync-go/dirsync"
	"github.com/dirsync-go/dirsync/connector"
	"github.com/dirsync-go/dirsync/diff"
	"github.com/dirsync-go/dirsync/mapping"
	"github.com/dirsync-go/dirsync/policy"
)

//go:embed templates static
var assets embed.FS

const (
	sessionCookie = "dirsync_console"
	csrfField     = "csrf"
	csrfHeader    = "X-CSRF-Token"
)

// server serves the console.
type server struct {
	c       *console
	key     []byte // signs CSRF tokens
	pages   map[string]*template.Template
	handler http.Handler
}

// newServer returns the console's handler. It answers requests for
// loopback host names and for the allowed ones only (checkHost).
func newServer(c *console, allowedHosts []string) (*server, error) {
	s := &server{c: c, key: make([]byte, 32), pages: map[string]*template.Template{}}
	rand.Read(s.key)
	funcs := template.FuncMap{
		"join": strings.Join,
		"inc":  func(i int) int { return i + 1 },
		"json": func(v any) (string, error) {
			b, err := json.Marshal(v)
			return string(b), err
		},
		"ago":   ago,
		"when":  when,
		"short": func(d string) string { return d[:min(12, len(d))] },
		"pct": func(p dirsync.Progress) int {
			if p.Total <= 0 {
				return 0
			}
			return min(100, p.Done*100/p.Total)
		},
	}
	names, err := fs.Glob(assets, "templates/*.html")
	if err != nil {
		return nil, err
	}
	for _, n := range names {
		if n == "templates/layout.html" {
			continue
		}
		t, err := template.New("").Funcs(funcs).ParseFS(assets, "templates/layout.html", n)
		if err != nil {
			return nil, err
		}
		s.pages[strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")] = t
	}
	mux := http.NewServeMux()
	static, _ := fs.Sub(assets, "static")
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	mux.HandleFunc("GET /{$}", s.integrations)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.fail(w, r, http.StatusNotFound, "There is no such page. Start from the list of integrations.")
	})
	mux.HandleFunc("GET /users", s.users)
	mux.HandleFunc("POST /i/{name}/syncnow", s.withIntegration(s.syncNow))
	mux.HandleFunc("GET /i/{name}/preview", s.withIntegration(s.preview))
	mux.HandleFunc("POST /i/{name}/exceptions", s.withIntegration(s.addExceptions))
	mux.HandleFunc("POST /i/{name}/exceptions/remove", s.withIntegration(s.removeException))
	mux.HandleFunc("POST /i/{name}/sync", s.withIntegration(s.sync))
	mux.HandleFunc("GET /i/{name}/sync", s.withIntegration(s.syncStatus))
	mux.HandleFunc("GET /i/{name}/settings", s.withIntegration(s.settings))
	mux.HandleFunc("POST /i/{name}/settings", s.withIntegration(s.saveSettings))
	mux.HandleFunc("GET /i/{name}/groups", s.withIntegration(s.groups))
	mux.HandleFunc("GET /i/{name}/history", s.withIntegration(s.history))
	mux.HandleFunc("GET /i/{name}/history/{run}", s.withIntegration(s.run))
	mux.HandleFunc("GET /i/{name}/pending", s.withIntegration(s.pending))
	mux.HandleFunc("POST /i/{name}/pending", s.withIntegration(s.approvePending))
	mux.HandleFunc("GET /i/{name}/remove", s.withIntegration(s.removal))
	mux.HandleFunc("POST /i/{name}/remove", s.withIntegration(s.remove))
	// The Host check first (DNS rebinding), then Go's cross-origin
	// protection (Sec-Fetch-Site / Origin), then the per-session token on
	// every POST.
	s.handler = checkHost(allowedHosts, http.NewCrossOriginProtection().Handler(s.secure(mux)))
	return s, nil
}

func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

type ctxKey struct{}

// secure sets the security headers, gives every browser a session cookie,
// and refuses a POST whose CSRF token is not the session's.
func (s *server) secure(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-store")
		sess := ""
		if ck, err := r.Cookie(sessionCookie); err == nil && len(ck.Value) == 64 {
			sess = ck.Value
		} else {
			b := make([]byte, 32)
			rand.Read(b)
			sess = hex.EncodeToString(b)
			http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: sess, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode})
		}
		token := s.token(sess)
		if r.Method == http.MethodPost {
			got := r.Header.Get(csrfHeader)
			if got == "" {
				r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
				if err := r.ParseForm(); err != nil {
					s.fail(w, r, http.StatusBadRequest, "The form could not be read: "+err.Error())
					return
				}
				got = r.PostForm.Get(csrfField)
			}
			if !hmac.Equal([]byte(got), []byte(token)) {
				s.fail(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, token)), http.StatusForbidden,
					"Refused: this request did not carry the page's security token (CSRF protection). Reload the page and try again.")
				return
			}
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, token)))
	})
}

func (s *server) token(session string) string {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte(session))
	return hex.EncodeToString(m.Sum(nil))
}

// view is what every page template gets.
type view struct {
	Title string
	Nav   string
	CSRF  string
	Flash string
	Error string
	In    *integration
	Data  any
	// Refresh reloads the page every second (a sync in progress).
	Refresh bool
}

func (s *server) render(w http.ResponseWriter, r *http.Request, status int, page string, v view) {
	v.CSRF, _ = r.Context().Value(ctxKey{}).(string)
	t, ok := s.pages[page]
	if !ok {
		http.Error(w, "no page "+page, http.StatusInternalServerError)
		return
	}
	var b strings.Builder
	if err := t.ExecuteTemplate(&b, "layout", v); err != nil {
		s.c.log.Error("render", "page", page, "err", err)
		http.Error(w, "The page could not be rendered: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(b.String()))
}

// fail renders an error page with a message an admin can act on.
func (s *server) fail(w http.ResponseWriter, r *http.Request, status int, msg string) {
	s.render(w, r, status, "error", view{Title: http.StatusText(status), Error: msg})
}

func (s *server) withIntegration(h func(http.ResponseWriter, *http.Request, *integration)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		in, ok := s.c.get(r.PathValue("name"))
		if !ok {
			s.fail(w, r, http.StatusNotFound, fmt.Sprintf("There is no integration named %q (it may have been removed).", r.PathValue("name")))
			return
		}
		h(w, r, in)
	}
}

func redirect(w http.ResponseWriter, r *http.Request, path string, flash string) {
	if flash != "" {
		path += "?done=" + flash
	}
	http.Redirect(w, r, path, http.StatusSeeOther)
}

// flashes are the messages a redirect may show, by code, so that no text
// travels in a URL.
var flashes = map[string]string{
	"syncnow":    "Sync requested: it runs in the background; see History for its outcome.",
	"exceptions": "Exceptions saved: those accounts are never touched by this integration. The plan below is recomputed without them.",
	"unexcepted": "Exception removed.",
	"settings":   "Settings saved. The preview now uses them.",
	"approved":   "The pending plan was approved and applied; see History.",
	"removed":    "The integration was removed. The accounts it managed were handled as its removal plan said.",
}

func flash(r *http.Request) string { return flashes[r.URL.Query().Get("done")] }

// ---- Integrations

type integrationRow struct {
	In      *integration
	Every   string
	Mode    string
	Last    *dirsync.RunRecord
	Next    time.Time
	Pending bool
	Running bool
	Err     string
}

func (s *server) integrations(w http.ResponseWriter, r *http.Request) {
	var rows []integrationRow
	for _, in := range s.c.integrations() {
		st, sy := in.Settings(), in.Syncer()
		row := integrationRow{In: in, Every: st.Every, Mode: cmp.Or(st.Mode, modeAutomatic), Next: sy.NextRun()}
		runs, err := sy.History(r.Context())
		if err != nil {
			row.Err = "History could not be read: " + err.Error()
		} else if len(runs) > 0 {
			row.Last = &runs[0]
		}
		if p, err := sy.PendingPlan(r.Context()); err == nil && p != nil {
			row.Pending = true
		}
		if j := in.Job(); j != nil && j.Running {
			row.Running = true
		}
		rows = append(rows, row)
	}
	s.render(w, r, http.StatusOK, "integrations", view{Title: "Integrations", Nav: "integrations", Flash: flash(r), Data: rows})
}

func (s *server) syncNow(w http.ResponseWriter, r *http.Request, in *integration) {
	in.Syncer().SyncNow()
	redirect(w, r, "/", "syncnow")
}

// ---- Preview

type row struct {
	Op         string
	Name       string
	Email      string
	Department string
	Status     string
	Fields     []diff.FieldChange
	ExternalID string
	Excepted   bool
	Actionable bool
	// Select shows a checkbox to pick the row for "Add to exceptions"
	// (on the preview only).
	Select bool
}

func rowsOf(p *dirsync.Plan) []row {
	out := make([]row, 0, len(p.Changes))
	for i := range p.Changes {
		c := &p.Changes[i]
		rw := row{Op: c.Op.String(), Name: c.Label(), Status: c.Status(), Fields: c.Fields, Actionable: c.Op.Actionable()}
		a := cmp.Or(c.After, c.Before)
		if a != nil {
			rw.Email, rw.ExternalID = a.Email, a.ExternalID
			rw.Department = strings.Join(a.Department, " / ")
		}
		if c.Op == diff.OpCreateDepartment {
			rw.Department = strings.Join(c.Department, " / ")
		}
		for _, why := range c.Reasons {
			if why.Code == diff.ReasonException {
				rw.Excepted = true
			}
		}
		out = append(out, rw)
	}
	return out
}

type planView struct {
	Rows       []row
	Summary    string
	Actionable int
	Total      int
	Digest     string
	Safety     string
	Query      string
	QueryError string
	Shown      int
	Exceptions []policy.Exception
	ReadError  string
	Moved      bool
}

func (s *server) preview(w http.ResponseWriter, r *http.Request, in *integration) {
	q := r.URL.Query().Get("q")
	pv, status := s.planView(r.Context(), in, q)
	if j := in.Job(); j != nil && j.Running {
		redirect(w, r, "/i/"+in.Name+"/sync", "")
		return
	}
	s.render(w, r, status, "preview", view{Title: "Preview: " + in.Name, Nav: "preview", In: in, Flash: flash(r), Data: pv})
}

// planView plans the integration and renders the plan, filtered by the
// regular expression q.
func (s *server) planView(ctx context.Context, in *integration, q string) (planView, int) {
	sy := in.Syncer()
	pv := planView{Query: q}
	pv.Exceptions, _ = sy.Exceptions(ctx)
	p, err := sy.Plan(ctx)
	if err != nil && !errors.Is(err, dirsync.ErrSafetyLimit) {
		pv.ReadError = "The plan could not be made, so nothing will change: " + err.Error()
		return pv, http.StatusBadGateway
	}
	fillPlan(&pv, p)
	if q != "" {
		if sub, err := p.Search(q); err != nil {
			pv.QueryError = "Not a valid regular expression: " + err.Error()
			if se, ok := errors.AsType[*syntax.Error](err); ok {
				pv.QueryError = fmt.Sprintf("Not a valid regular expression: %s in %q.", se.Code, se.Expr)
			}
		} else {
			pv.Rows = rowsOf(sub)
			pv.Shown = len(sub.Changes)
		}
	}
	// Rows of the preview can be picked for "Add to exceptions".
	for i := range pv.Rows {
		pv.Rows[i].Select = pv.Rows[i].ExternalID != "" && !pv.Rows[i].Excepted
	}
	return pv, http.StatusOK
}

func fillPlan(pv *planView, p *dirsync.Plan) {
	pv.Rows = rowsOf(p)
	pv.Summary = p.Summary()
	pv.Actionable = p.Actionable()
	pv.Total = len(p.Changes)
	pv.Shown = len(p.Changes)
	pv.Digest = p.Digest()
	if p.Safety != nil {
		pv.Safety = p.Safety.Error()
	}
}

func (s *server) addExceptions(w http.ResponseWriter, r *http.Request, in *integration) {
	ids := r.PostForm["id"]
	if len(ids) == 0 {
		pv, status := s.planView(r.Context(), in, r.PostForm.Get("q"))
		s.render(w, r, status, "preview", view{Title: "Preview: " + in.Name, Nav: "preview", In: in,
			Error: "Select at least one account to add to the exceptions.", Data: pv})
		return
	}
	sy := in.Syncer()
	for _, id := range ids {
		if err := sy.AddException(r.Context(), policy.Exception{ID: id, Note: "added in the admin console"}); err != nil {
			s.fail(w, r, http.StatusInternalServerError, "The exception could not be saved: "+err.Error())
			return
		}
	}
	redirect(w, r, "/i/"+in.Name+"/preview", "exceptions")
}

func (s *server) removeException(w http.ResponseWriter, r *http.Request, in *integration) {
	var x policy.Exception
	if err := json.Unmarshal([]byte(r.PostForm.Get("exception")), &x); err != nil {
		s.fail(w, r, http.StatusBadRequest, "The exception to remove could not be read: "+err.Error())
		return
	}
	if err := in.Syncer().RemoveException(r.Context(), x); err != nil {
		s.fail(w, r, http.StatusInternalServerError, "The exception could not be removed: "+err.Error())
		return
	}
	redirect(w, r, "/i/"+in.Name+"/preview", "unexcepted")
}

func (s *server) sync(w http.ResponseWriter, r *http.Request, in *integration) {
	digest := r.PostForm.Get("digest")
	if digest == "" {
		s.fail(w, r, http.StatusBadRequest, "The sync form did not say which plan it was for. Open the preview again.")
		return
	}
	if !s.c.startSync(in, digest, r.PostForm.Get("approve") == "on") {
		s.fail(w, r, http.StatusConflict, "A sync of this integration is already running. Wait for its report.")
		return
	}
	redirect(w, r, "/i/"+in.Name+"/sync", "")
}

type syncView struct {
	Job      *job
	Moved    bool
	Safety   bool
	Plan     planView
	Results  []resultRow
	Applied  int
	Failed   int
	Skipped  int
	NotTried int
}

type resultRow struct {
	Op, Name, Status, Detail string
}

func (s *server) syncStatus(w http.ResponseWriter, r *http.Request, in *integration) {
	j := in.Job()
	if j == nil {
		redirect(w, r, "/i/"+in.Name+"/preview", "")
		return
	}
	sv := syncView{Job: j}
	if !j.Running {
		sv.Moved = errors.Is(j.Err, dirsync.ErrPlanChanged)
		sv.Safety = errors.Is(j.Err, dirsync.ErrSafetyLimit) && j.Report == nil
		if (sv.Moved || sv.Safety) && j.Plan != nil {
			fillPlan(&sv.Plan, j.Plan)
		}
		if j.Report != nil {
			for _, res := range j.Report.Results {
				rr := resultRow{Op: res.Change.Op.String(), Name: res.Change.Label(), Status: string(res.Status)}
				switch res.Status {
				case dirsync.StatusFailed:
					rr.Detail = fmt.Sprint(res.Err)
				case dirsync.StatusSkipped:
					rr.Detail = res.Reason.Detail
				default:
					rr.Detail = res.Change.Status()
				}
				sv.Results = append(sv.Results, rr)
			}
			sv.Applied = j.Report.Count(dirsync.StatusApplied)
			sv.Failed = j.Report.Count(dirsync.StatusFailed)
			sv.Skipped = j.Report.Count(dirsync.StatusSkipped)
			sv.NotTried = j.Report.Count(dirsync.StatusNotAttempted)
		}
	}
	s.render(w, r, http.StatusOK, "sync", view{Title: "Sync: " + in.Name, Nav: "preview", In: in, Data: sv, Refresh: j.Running})
}

// ---- Settings

type ruleRow struct {
	Index                                                                  int
	Target, From, Value, Template, Lookup, Split, TrimSuffixes, Transforms string
	FromPath                                                               bool
	Skip                                                                   int
	Failing                                                                bool
}

type settingsView struct {
	St          Settings
	Rules       []ruleRow
	OUPreset    bool
	Groups      []string
	OtherRules  int
	DeleteDays  int
	CanSearch   bool
	PrefixOnly  bool // the group search matches names from the start only
	Targets     []string
	FailingRule int
}

func newSettingsView(in *integration, st Settings, failing int) settingsView {
	sv := settingsView{St: st, FailingRule: failing}
	if gs, ok := in.conn.(connector.GroupSearcher); ok {
		sv.CanSearch, sv.PrefixOnly = true, connector.GroupSearchMatchOf(gs) == connector.MatchPrefix
	}
	for i, ru := range st.Mapping.Rules {
		sv.Rules = append(sv.Rules, ruleRow{Index: i, Target: ru.Target, From: strings.Join(ru.From, ", "), Value: ru.Value,
			Template: ru.Template, Lookup: ru.Lookup, Split: ru.Split, TrimSuffixes: strings.Join(ru.TrimSuffixes, ", "),
			Transforms: strings.Join(ru.Transforms, ", "), FromPath: ru.FromPath, Skip: ru.Skip, Failing: i == failing})
	}
	// One empty row to add a rule.
	sv.Rules = append(sv.Rules, ruleRow{Index: len(st.Mapping.Rules)})
	for _, ru := range st.Policy.Scope.Rules {
		switch {
		case ru.OUEndsWithUsers && ru.Action == policy.ActionInclude:
			sv.OUPreset = true
		case ru.Group != "" && ru.Action == policy.ActionInclude:
			sv.Groups = append(sv.Groups, ru.Group)
		default:
			sv.OtherRules++
		}
	}
	sv.DeleteDays = int(st.Policy.Lifecycle.DeleteAfter.Hours() / 24)
	sv.Targets = append(slices.Clone(diff.Fields), mapping.TargetExternalID)
	return sv
}

func (s *server) settings(w http.ResponseWriter, r *http.Request, in *integration) {
	s.render(w, r, http.StatusOK, "settings", view{Title: "Settings: " + in.Name, Nav: "settings", In: in, Flash: flash(r),
		Data: newSettingsView(in, in.Settings(), -1)})
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// formSettings reads the settings form over the current settings (role
// links and scope rules the form does not show are kept).
func formSettings(r *http.Request, cur Settings) (Settings, error) {
	f := r.PostForm
	st := cur
	st.Mapping.Rules = nil
	n, _ := strconv.Atoi(f.Get("rules"))
	for i := range min(n, 500) {
		p := func(k string) string { return strings.TrimSpace(f.Get(fmt.Sprintf("r%d.%s", i, k))) }
		if p("target") == "" || p("delete") == "on" {
			continue
		}
		ru := mapping.Rule{Target: p("target"), From: splitList(p("from")), Value: p("value"), Template: p("template"),
			Lookup: p("lookup"), Split: p("split"), TrimSuffixes: splitList(p("trimSuffixes")),
			Transforms: splitList(p("transforms")), FromPath: p("fromPath") == "on"}
		if sk := p("skip"); sk != "" {
			v, err := strconv.Atoi(sk)
			if err != nil || v < 0 {
				return st, &settingsError{Part: "mapping", Rule: len(st.Mapping.Rules), Err: fmt.Errorf("rule %d (%s): skip %q is not a number of path elements", i+1, ru.Target, sk)}
			}
			ru.Skip = v
		}
		st.Mapping.Rules = append(st.Mapping.Rules, ru)
	}
	var rules []policy.ScopeRule
	if f.Get("ouPreset") == "on" {
		rules = append(rules, policy.ScopeRule{Action: policy.ActionInclude, OUEndsWithUsers: true})
	}
	for _, g := range f["group"] {
		if g = strings.TrimSpace(g); g != "" && !slices.ContainsFunc(rules, func(x policy.ScopeRule) bool { return x.Group == g }) {
			rules = append(rules, policy.ScopeRule{Action: policy.ActionInclude, Group: g})
		}
	}
	for _, ru := range cur.Policy.Scope.Rules {
		if !(ru.Action == policy.ActionInclude && (ru.OUEndsWithUsers || ru.Group != "")) {
			rules = append(rules, ru)
		}
	}
	st.Policy.Scope.Rules = rules
	st.Policy.Lifecycle.Missing = f.Get("missing")
	st.Policy.Lifecycle.AppBlock = f.Get("appBlock")
	st.Policy.Lifecycle.DeleteAfter = policy.Duration{}
	if d := strings.TrimSpace(f.Get("deleteDays")); d != "" && st.Policy.Lifecycle.Missing == policy.MissingDelete {
		v, err := strconv.Atoi(d)
		if err != nil || v < 0 {
			return st, &settingsError{Part: "lifecycle", Rule: -1, Err: fmt.Errorf("delete after %q: give a number of days", d)}
		}
		st.Policy.Lifecycle.DeleteAfter = policy.Days(v)
	}
	st.Every = strings.TrimSpace(f.Get("every"))
	st.Mode = f.Get("mode")
	return st, nil
}

func (s *server) saveSettings(w http.ResponseWriter, r *http.Request, in *integration) {
	st, err := formSettings(r, in.Settings())
	if err == nil {
		err = s.c.update(in, st)
	}
	if err != nil {
		failing := -1
		var se *settingsError
		msg := "The settings could not be saved: " + err.Error()
		if errors.As(err, &se) {
			failing = se.Rule
			msg = "Not saved: the " + se.Part + " is invalid: " + se.Err.Error()
			if failing >= 0 && failing < len(st.Mapping.Rules) {
				msg = fmt.Sprintf("Not saved: mapping rule %d (target %q) is invalid: %s", failing+1, st.Mapping.Rules[failing].Target, se.Err.Error())
			}
		}
		s.render(w, r, http.StatusUnprocessableEntity, "settings", view{Title: "Settings: " + in.Name, Nav: "settings", In: in,
			Error: msg, Data: newSettingsView(in, st, failing)})
		return
	}
	redirect(w, r, "/i/"+in.Name+"/settings", "settings")
}

type groupHit struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	DN   string `json:"dn,omitempty"`
}

// prefixOnlyNote tells the admin why "adm" does not find "App Admins".
const prefixOnlyNote = "This directory matches names from the start only."

// groups answers the group picker: the groups the directory finds for
// what was typed (by substring, word prefix or prefix, as it declares:
// "match" in the answer), once at least three letters are typed. For a
// directory that matches from the start only, "note" says so.
func (s *server) groups(w http.ResponseWriter, r *http.Request, in *integration) {
	w.Header().Set("Content-Type", "application/json")
	prefix := strings.TrimSpace(r.URL.Query().Get("prefix"))
	gs, ok := in.conn.(connector.GroupSearcher)
	switch {
	case !ok:
		w.WriteHeader(http.StatusNotImplemented)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": "This directory cannot search groups."})
		return
	case len([]rune(prefix)) < 3:
		_ = json.NewEncoder(w).Encode(map[string]any{"groups": []groupHit{}, "hint": "Type at least three letters."})
		return
	}
	found, err := gs.SearchGroups(r.Context(), prefix, 20)
	if err != nil {
		w.WriteHeader(http.StatusBadGateway)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": "The directory could not be searched: " + err.Error()})
		return
	}
	hits := []groupHit{}
	for _, g := range found {
		name := cmp.Or(g.Attrs.Get("cn"), g.Attrs.Get("name"), g.Attrs.Get("displayName"), g.ID)
		hits = append(hits, groupHit{ID: g.ID, Name: name, DN: g.DN})
	}
	m := connector.GroupSearchMatchOf(gs)
	res := map[string]any{"groups": hits, "match": m.String()}
	if m == connector.MatchPrefix {
		res["note"] = prefixOnlyNote
	}
	_ = json.NewEncoder(w).Encode(res)
}

// ---- History

func (s *server) history(w http.ResponseWriter, r *http.Request, in *integration) {
	runs, err := in.Syncer().History(r.Context())
	if err != nil {
		s.fail(w, r, http.StatusInternalServerError, "The history could not be read: "+err.Error())
		return
	}
	s.render(w, r, http.StatusOK, "history", view{Title: "History: " + in.Name, Nav: "history", In: in, Data: runs})
}

func (s *server) run(w http.ResponseWriter, r *http.Request, in *integration) {
	runs, err := in.Syncer().History(r.Context())
	if err != nil {
		s.fail(w, r, http.StatusInternalServerError, "The history could not be read: "+err.Error())
		return
	}
	id := r.PathValue("run")
	for _, rec := range runs {
		if strconv.FormatInt(rec.Started.UnixNano(), 10) == id {
			s.render(w, r, http.StatusOK, "run", view{Title: "Run of " + in.Name, Nav: "history", In: in, Data: rec})
			return
		}
	}
	s.fail(w, r, http.StatusNotFound, "That run is not in the history (only the last 100 runs are kept).")
}

// ---- Pending approval (ModeApproval, or a run over the safety limits)

func (s *server) pending(w http.ResponseWriter, r *http.Request, in *integration) {
	p, err := in.Syncer().PendingPlan(r.Context())
	if err != nil {
		s.fail(w, r, http.StatusInternalServerError, "The pending plan could not be read: "+err.Error())
		return
	}
	var pv planView
	if p != nil {
		fillPlan(&pv, p)
	}
	s.render(w, r, http.StatusOK, "pending", view{Title: "Waiting for approval: " + in.Name, Nav: "integrations", In: in, Data: pv})
}

func (s *server) approvePending(w http.ResponseWriter, r *http.Request, in *integration) {
	_, err := in.Syncer().ApprovePending(r.Context(), r.PostForm.Get("digest"))
	switch {
	case errors.Is(err, dirsync.ErrPlanChanged):
		s.fail(w, r, http.StatusConflict, "Nothing was applied: the directory or the app changed since this plan was shown. Review the new plan waiting for approval.")
	case errors.Is(err, dirsync.ErrNoPendingPlan):
		s.fail(w, r, http.StatusConflict, "No plan is waiting for approval any more (a later run or another admin handled it).")
	case err != nil:
		s.fail(w, r, http.StatusInternalServerError, "The plan was approved but did not apply completely: "+err.Error())
	default:
		redirect(w, r, "/", "approved")
	}
}

// ---- Removal

func (s *server) removal(w http.ResponseWriter, r *http.Request, in *integration) {
	p, err := in.Syncer().PlanRemoval(r.Context())
	if err != nil && !errors.Is(err, dirsync.ErrSafetyLimit) {
		s.fail(w, r, http.StatusInternalServerError, "The removal could not be planned: "+err.Error())
		return
	}
	var pv planView
	fillPlan(&pv, p)
	s.render(w, r, http.StatusOK, "remove", view{Title: "Remove " + in.Name, Nav: "integrations", In: in, Data: pv})
}

func (s *server) remove(w http.ResponseWriter, r *http.Request, in *integration) {
	sy := in.Syncer()
	p, err := sy.PlanRemoval(r.Context())
	if err != nil && !errors.Is(err, dirsync.ErrSafetyLimit) {
		s.fail(w, r, http.StatusInternalServerError, "The removal could not be planned: "+err.Error())
		return
	}
	if err := p.ApproveDigest(r.PostForm.Get("digest")); err != nil {
		s.fail(w, r, http.StatusConflict, "Nothing was removed: the accounts of this integration changed since the removal plan was shown. Review it again.")
		return
	}
	if _, err := sy.Apply(r.Context(), p); err != nil {
		s.fail(w, r, http.StatusInternalServerError, "The removal did not apply completely, so the integration is kept; see its History: "+err.Error())
		return
	}
	if err := s.c.remove(in); err != nil {
		s.fail(w, r, http.StatusInternalServerError, "The accounts were handled, but the integration could not be forgotten: "+err.Error())
		return
	}
	redirect(w, r, "/", "removed")
}

// ---- Users

type userRow struct {
	A             diff.Account
	Source        string
	Status        string
	MayDeactivate string
}

func (s *server) users(w http.ResponseWriter, r *http.Request) {
	all, err := s.c.app.All(r.Context())
	if err != nil {
		s.fail(w, r, http.StatusInternalServerError, "The app's accounts could not be read: "+err.Error())
		return
	}
	slices.SortFunc(all, func(a, b diff.Account) int {
		return cmp.Or(cmp.Compare(strings.ToLower(a.Name()), strings.ToLower(b.Name())), cmp.Compare(a.ID, b.ID))
	})
	rows := make([]userRow, 0, len(all))
	for _, a := range all {
		ur := userRow{A: a, Status: "active", Source: "—", MayDeactivate: "yes: not managed by directory sync"}
		switch {
		case a.Blocked && a.BlockedBySync:
			ur.Status = "blocked by sync"
		case a.Blocked:
			ur.Status = "blocked by an admin"
		}
		if a.Managed {
			ur.Source = a.Source
			in, ok := s.c.get(a.Source)
			switch {
			case !ok:
				ur.MayDeactivate = "yes: its integration was removed"
			case in.Settings().Policy.Lifecycle.AppBlock == policy.AppBlockDirectory:
				ur.MayDeactivate = "no: the directory wins, sync lifts a block set here"
			default:
				ur.MayDeactivate = "yes: sync keeps a block set here"
			}
		}
		rows = append(rows, ur)
	}
	s.render(w, r, http.StatusOK, "users", view{Title: "Users", Nav: "users", Data: rows})
}

func when(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.Local().Format("2006-01-02 15:04:05")
}

func ago(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	d := time.Until(t).Round(time.Second)
	if d >= 0 {
		return "in " + d.String()
	}
	return (-d).String() + " ago"
}
