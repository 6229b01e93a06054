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
	"net/url"
	"regexp/syntax"
	"slices"
	"strconv"
	"strings"
	"sync"
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

	// notes are one-time messages naming people ("Added to the
	// exceptions: …"), by session, shown by the page a POST redirects
	// to: such text never travels in a URL.
	notesMu sync.Mutex
	notes   map[string]string
}

// newServer returns the console's handler. It answers requests for
// loopback host names and for the allowed ones only (checkHost).
func newServer(c *console, allowedHosts []string) (*server, error) {
	s := &server{c: c, key: make([]byte, 32), pages: map[string]*template.Template{}, notes: map[string]string{}}
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
		"num": func(n int) string {
			// 100000 as 100,000.
			s := strconv.Itoa(n)
			for i := len(s) - 3; i > 0 && s[i-1] != '-'; i -= 3 {
				s = s[:i] + "," + s[i:]
			}
			return s
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
	mux.HandleFunc("GET /i/{name}/history/{run}", s.withIntegration(s.runDetails))
	mux.HandleFunc("GET /i/{name}/person", s.withIntegration(s.personLog))
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

type sessionKey struct{}

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
		ctx := context.WithValue(context.WithValue(r.Context(), ctxKey{}, token), sessionKey{}, sess)
		next.ServeHTTP(w, r.WithContext(ctx))
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
	"syncnow":    "Sync requested: it runs in the background and applies its plan within the safety limits (automatic mode); see History for its outcome.",
	"review":     "Review mode: this is the plan a sync would apply now. Nothing changes until you press Sync below.",
	"unexcepted": "Exception removed.",
	"settings":   "Settings saved. The preview now uses them.",
	"approved":   "The pending plan was approved and applied; see History.",
	"removed":    "The integration was removed. The accounts it managed were handled as its removal plan said.",
}

func (s *server) flash(r *http.Request) string {
	if r.URL.Query().Get("done") == "note" {
		sess, _ := r.Context().Value(sessionKey{}).(string)
		s.notesMu.Lock()
		defer s.notesMu.Unlock()
		n := s.notes[sess]
		delete(s.notes, sess)
		return n
	}
	return flashes[r.URL.Query().Get("done")]
}

// note keeps msg for the session's next page (redirect with done=note).
func (s *server) note(r *http.Request, msg string) {
	sess, _ := r.Context().Value(sessionKey{}).(string)
	s.notesMu.Lock()
	defer s.notesMu.Unlock()
	if len(s.notes) > 10000 {
		clear(s.notes) // abandoned sessions; a note is a courtesy
	}
	s.notes[sess] = msg
}

// ---- Integrations

type integrationRow struct {
	In       *integration
	Every    string
	Mode     string // the mode runs have now: "automatic" or "approval"
	Reviewed bool
	Last     *dirsync.RunRecord
	Next     time.Time
	Pending  bool
	Running  bool
	Err      string
}

func (s *server) integrations(w http.ResponseWriter, r *http.Request) {
	var rows []integrationRow
	for _, in := range s.c.integrations() {
		st, sy := in.Settings(), in.Syncer()
		row := integrationRow{In: in, Every: st.Every, Next: sy.NextRun(), Reviewed: reviewed(r.Context(), sy)}
		row.Mode = in.effectiveMode(r.Context())
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
	s.render(w, r, http.StatusOK, "integrations", view{Title: "Integrations", Nav: "integrations", Flash: s.flash(r), Data: rows})
}

// syncNow is the "Sync now" button. In review mode it plans afresh and
// shows the preview, where Sync applies what it shows; in automatic mode
// it asks the schedule for a run at once.
func (s *server) syncNow(w http.ResponseWriter, r *http.Request, in *integration) {
	if in.effectiveMode(r.Context()) != modeAutomatic {
		s.c.invalidate(in)
		redirect(w, r, "/i/"+in.Name+"/preview", "review")
		return
	}
	in.Syncer().SyncNow()
	redirect(w, r, "/", "syncnow")
}

// ---- Preview

// pageSize is how many rows a page of the preview, a report or the users
// shows.
const pageSize = 100

// pager is the position in a long list and the links to its neighbours.
type pager struct {
	Page, Pages, From, To, Total int
	Prev, Next, First, Last      string
}

// newPager places page (1-based; out of range is clamped) in a list of
// total rows; link makes the URL of a page.
func newPager(total, page int, link func(page int) string) pager {
	pages := max(1, (total+pageSize-1)/pageSize)
	page = min(max(page, 1), pages)
	pg := pager{Page: page, Pages: pages, Total: total, From: (page - 1) * pageSize, To: min(total, page*pageSize)}
	if page > 1 {
		pg.Prev, pg.First = link(page-1), link(1)
	}
	if page < pages {
		pg.Next, pg.Last = link(page+1), link(pages)
	}
	return pg
}

// pageLink returns the links of path's pages, keeping the query q.
func pageLink(path, param string, q url.Values) func(int) string {
	return func(page int) string {
		v := url.Values{}
		for k, vs := range q {
			if k != param && k != "done" {
				v[k] = vs
			}
		}
		if page > 1 {
			v.Set(param, strconv.Itoa(page))
		}
		if len(v) == 0 {
			return path
		}
		return path + "?" + v.Encode()
	}
}

func pageParam(r *http.Request, name string) int {
	n, _ := strconv.Atoi(r.URL.Query().Get(name))
	return n
}

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

func rowsOf(changes []diff.Change) []row {
	out := make([]row, 0, len(changes))
	for i := range changes {
		c := &changes[i]
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
	Pager      pager
	Summary    string
	Actionable int
	Total      int
	Digest     string
	Safety     string
	Query      string
	QueryError string
	Shown      int
	Exceptions []exceptionRow
	ReadError  string
	// Planning is set while the plan is being made (Read entries so far).
	Planning bool
	Read     int
	// Age is how long ago the plan shown was made, Took how long that
	// took.
	Age, Took string
}

// exceptionRow is an exception as the preview lists it: with the name
// and email of the person it protects.
type exceptionRow struct {
	X     policy.Exception
	JSON  string
	Name  string
	Email string
	What  string // "directory ID …", "email", "pattern …"
}

func (s *server) preview(w http.ResponseWriter, r *http.Request, in *integration) {
	if j := in.Job(); j != nil && j.Running {
		redirect(w, r, "/i/"+in.Name+"/sync", "")
		return
	}
	q := r.URL.Query().Get("q")
	pv, status := s.planView(r, in, q, pageParam(r, "page"))
	s.render(w, r, status, "preview", view{Title: "Preview: " + in.Name, Nav: "preview", In: in, Flash: s.flash(r), Data: pv,
		Refresh: pv.Planning})
}

// planView renders a page of the integration's plan, filtered by the
// regular expression q.
func (s *server) planView(r *http.Request, in *integration, q string, page int) (planView, int) {
	ctx := r.Context()
	pv := planView{Query: q}
	cp, err := s.c.plan(ctx, in)
	pv.Exceptions = s.exceptionRows(ctx, in, cp)
	switch {
	case errors.Is(err, errPlanning):
		pv.Planning = true
		pv.Read, _ = in.planningRead()
		return pv, http.StatusOK
	case err != nil:
		pv.ReadError = "The plan could not be made, so nothing will change: " + err.Error()
		return pv, http.StatusBadGateway
	}
	p := cp.plan
	pv.Summary, pv.Digest = cp.summary, cp.digest
	pv.Actionable, pv.Total = p.Actionable(), len(p.Changes)
	if p.Safety != nil {
		pv.Safety = p.Safety.Error()
	}
	pv.Age = time.Since(cp.made).Round(time.Second).String()
	pv.Took = cp.took.Round(10 * time.Millisecond).String()
	shown := p
	if q != "" {
		if sub, err := cp.search(q); err != nil {
			pv.QueryError = "Not a valid regular expression: " + err.Error()
			if se, ok := errors.AsType[*syntax.Error](err); ok {
				pv.QueryError = fmt.Sprintf("Not a valid regular expression: %s in %q.", se.Code, se.Expr)
			}
		} else {
			shown = sub
		}
	}
	pv.Shown = len(shown.Changes)
	pv.Pager = newPager(len(shown.Changes), page, pageLink("/i/"+in.Name+"/preview", "page", r.URL.Query()))
	pv.Rows = rowsOf(shown.Changes[pv.Pager.From:pv.Pager.To])
	// Rows of the preview can be picked for "Add to exceptions".
	for i := range pv.Rows {
		pv.Rows[i].Select = pv.Rows[i].ExternalID != "" && !pv.Rows[i].Excepted
	}
	return pv, http.StatusOK
}

// exceptionRows lists the integration's exceptions with the people they
// protect: the name and email the app holds for a directory ID, else the
// plan's, else the note saved with the exception.
func (s *server) exceptionRows(ctx context.Context, in *integration, cp *cachedPlan) []exceptionRow {
	xs, _ := in.Syncer().Exceptions(ctx)
	var ids []string
	for _, x := range xs {
		if x.ID != "" {
			ids = append(ids, x.ID)
		}
	}
	known := map[string]person{}
	if len(ids) > 0 {
		accts, _ := s.c.app.LookupAccounts(ctx, in.Name, ids, nil)
		for _, a := range accts {
			known[strings.ToLower(a.ExternalID)] = person{Name: a.Name(), Email: a.Email}
		}
	}
	out := make([]exceptionRow, 0, len(xs))
	for _, x := range xs {
		b, _ := json.Marshal(x)
		er := exceptionRow{X: x, JSON: string(b)}
		switch {
		case x.ID != "":
			er.What = "directory ID " + x.ID
			p, ok := known[strings.ToLower(x.ID)]
			if !ok && cp != nil {
				p, ok = cp.people[x.ID]
			}
			if ok {
				er.Name, er.Email = p.Name, p.Email
			} else {
				er.Name, er.Email = noteName(x.Note)
			}
		case x.Email != "":
			er.What, er.Email = "email", x.Email
		default:
			er.What = "names matching " + x.Pattern
		}
		out = append(out, er)
	}
	return out
}

// exceptionNote is the note saved with an exception added here: it keeps
// the person's name and email for when neither the app nor the plan
// holds them any more.
func exceptionNote(p person) string {
	return fmt.Sprintf("%s <%s>, added in the admin console", p.Name, p.Email)
}

// noteName reads the name and email back from exceptionNote's text.
func noteName(note string) (name, email string) {
	head, _, ok := strings.Cut(note, ", added in the admin console")
	if !ok {
		return "", ""
	}
	name, rest, _ := strings.Cut(head, " <")
	return name, strings.TrimSuffix(rest, ">")
}

func fillPlan(pv *planView, p *dirsync.Plan, r *http.Request, path string) {
	pv.Summary = p.Summary()
	pv.Actionable = p.Actionable()
	pv.Total = len(p.Changes)
	pv.Shown = len(p.Changes)
	pv.Digest = p.Digest()
	if p.Safety != nil {
		pv.Safety = p.Safety.Error()
	}
	pv.Pager = newPager(len(p.Changes), pageParam(r, "page"), pageLink(path, "page", r.URL.Query()))
	pv.Rows = rowsOf(p.Changes[pv.Pager.From:pv.Pager.To])
}

func (s *server) addExceptions(w http.ResponseWriter, r *http.Request, in *integration) {
	ids := r.PostForm["id"]
	q := r.PostForm.Get("q")
	back := "/i/" + in.Name + "/preview"
	if q != "" {
		back += "?" + url.Values{"q": {q}}.Encode()
	}
	if len(ids) == 0 {
		pv, status := s.planView(r, in, q, 1)
		s.render(w, r, status, "preview", view{Title: "Preview: " + in.Name, Nav: "preview", In: in,
			Error: "Select at least one account to add to the exceptions.", Data: pv})
		return
	}
	sy := in.Syncer()
	cp, _ := s.c.plan(r.Context(), in)
	var names []string
	for _, id := range ids {
		p, ok := person{}, false
		if cp != nil {
			p, ok = cp.people[id]
		}
		if !ok {
			if accts, err := s.c.app.LookupAccounts(r.Context(), in.Name, []string{id}, nil); err == nil && len(accts) > 0 {
				p, ok = person{Name: accts[0].Name(), Email: accts[0].Email}, true
			}
		}
		x := policy.Exception{ID: id, Note: "added in the admin console"}
		who := "directory ID " + id
		if ok {
			x.Note = exceptionNote(p)
			who = p.Name
			if p.Email != "" {
				who += " (" + p.Email + ")"
			}
		}
		if err := sy.AddException(r.Context(), x); err != nil {
			s.c.invalidate(in)
			s.fail(w, r, http.StatusInternalServerError, "The exception could not be saved: "+err.Error())
			return
		}
		names = append(names, who)
	}
	s.c.invalidate(in)
	s.note(r, "Added to the exceptions: "+strings.Join(names, ", ")+". This integration never touches them; the plan below is made again without them.")
	sep := "?"
	if q != "" {
		sep = "&"
	}
	http.Redirect(w, r, back+sep+"done=note", http.StatusSeeOther)
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
	s.c.invalidate(in)
	who := cmp.Or(r.PostForm.Get("who"), "the account")
	s.note(r, "Exception removed: "+who+" is synced again; the plan below shows what that changes.")
	redirect(w, r, "/i/"+in.Name+"/preview", "note")
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
	Pager    pager
	Applied  int
	Failed   int
	Skipped  int
	NotTried int
	// Phase is 1 while the sync reads the directory and plans, 2 while it
	// applies. ReadPct is how far the read came against the last plan's
	// size (0 when unknown), ApplyPct the apply's share done, Left the
	// estimate of the time the apply still needs.
	Phase    int
	ReadPct  int
	ApplyPct int
	Left     string
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
	if j.Running {
		sv.Phase = 1
		if j.Planned {
			sv.Phase = 2
			if p := j.Progress; p.Total > 0 {
				sv.ApplyPct = min(100, p.Done*100/p.Total)
				if left, ok := j.timeLeft(time.Now()); ok {
					sv.Left = roundLeft(left)
				}
			}
		}
	} else {
		sv.Moved = errors.Is(j.Err, dirsync.ErrPlanChanged)
		sv.Safety = errors.Is(j.Err, dirsync.ErrSafetyLimit) && j.Report == nil
		if (sv.Moved || sv.Safety) && j.Plan != nil {
			fillPlan(&sv.Plan, j.Plan, r, "/i/"+in.Name+"/sync")
		}
		if rep := j.Report; rep != nil {
			sv.Pager = newPager(len(rep.Results), pageParam(r, "page"), pageLink("/i/"+in.Name+"/sync", "page", r.URL.Query()))
			for _, res := range rep.Results[sv.Pager.From:sv.Pager.To] {
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
			sv.Applied = rep.Count(dirsync.StatusApplied)
			sv.Failed = rep.Count(dirsync.StatusFailed)
			sv.Skipped = rep.Count(dirsync.StatusSkipped)
			sv.NotTried = rep.Count(dirsync.StatusNotAttempted)
		}
	}
	if sv.Phase == 1 {
		if cur := in.shownPlan(); cur != nil && cur.plan.SourceUsers > 0 {
			sv.ReadPct = min(99, j.Read*100/cur.plan.SourceUsers)
		}
	}
	s.render(w, r, http.StatusOK, "sync", view{Title: "Sync: " + in.Name, Nav: "preview", In: in, Data: sv, Refresh: j.Running})
}

// timeLeft estimates the time the apply still needs at now: the changes
// left at the rate of the last few seconds (rateWindow), or, in the
// apply's first second, at the mean rate so far. A store's cost per
// change grows as it fills, so the rate of the last seconds promises
// less than the mean over the whole apply would, and follows the apply
// as it slows (see BENCHMARKS.md).
func (j *job) timeLeft(now time.Time) (time.Duration, bool) {
	p := j.Progress
	if !j.Planned || p.Done <= 0 || p.Total <= 0 {
		return 0, false
	}
	left := float64(p.Total - p.Done)
	if at, done, ok := j.rate.since(now); ok && p.Done > done {
		return time.Duration(float64(now.Sub(at)) / float64(p.Done-done) * left), true
	}
	el := now.Sub(j.ApplyStarted)
	if el <= 0 {
		return 0, false
	}
	return time.Duration(float64(el) / float64(p.Done) * left), true
}

// rateWindow keeps a sample of the apply's progress every rateEvery, the
// last len(s) of them: about rateSpan of history, in a fixed array so
// that a job copied by value (integration.Job) carries its own.
type rateWindow struct {
	s [16]rateSample
	n int // samples taken
}

type rateSample struct {
	at   time.Time
	done int
}

const (
	rateEvery = 250 * time.Millisecond
	rateSpan  = 16 * rateEvery
)

func (w *rateWindow) add(at time.Time, done int) {
	if w.n > 0 && at.Sub(w.s[(w.n-1)%len(w.s)].at) < rateEvery {
		return
	}
	w.s[w.n%len(w.s)] = rateSample{at, done}
	w.n++
}

// since returns the oldest sample kept, once the samples span a second.
func (w *rateWindow) since(now time.Time) (time.Time, int, bool) {
	if w.n == 0 {
		return time.Time{}, 0, false
	}
	first := w.s[max(0, w.n-len(w.s))%len(w.s)]
	if now.Sub(first.at) < time.Second {
		return time.Time{}, 0, false
	}
	return first.at, first.done, true
}

// roundLeft says a remaining time as a person would.
func roundLeft(d time.Duration) string {
	switch {
	case d < 5*time.Second:
		return "a few seconds"
	case d < 90*time.Second:
		return fmt.Sprintf("about %d s", int(d.Round(5*time.Second).Seconds()))
	default:
		return fmt.Sprintf("about %d min", int(d.Round(time.Minute).Minutes()))
	}
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
	// Reviewed is set once a sync was reviewed: automatic mode may be
	// chosen.
	Reviewed bool
}

func newSettingsView(in *integration, st Settings, failing int) settingsView {
	sv := settingsView{St: st, FailingRule: failing, Reviewed: reviewed(context.Background(), in.Syncer())}
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
	s.render(w, r, http.StatusOK, "settings", view{Title: "Settings: " + in.Name, Nav: "settings", In: in, Flash: s.flash(r),
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
				// Kept in the form, marked as the failing rule.
				st.Mapping.Rules = append(st.Mapping.Rules, ru)
				return st, &settingsError{Part: "mapping", Rule: len(st.Mapping.Rules) - 1, Err: fmt.Errorf("skip %q is not a number of path elements", sk)}
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
			if errors.Is(err, errNotReviewed) {
				msg = "Not saved: " + errNotReviewed.Error() + "."
			}
			if failing >= 0 && failing < len(st.Mapping.Rules) {
				// The rule's own error, without mapping's 0-based
				// "rule N": the page numbers rules from 1.
				why := se.Err
				if re, ok := errors.AsType[*mapping.RuleError](why); ok {
					why = re.Err
				}
				msg = fmt.Sprintf("Not saved: mapping rule %d (target %q) is invalid: %s", failing+1, st.Mapping.Rules[failing].Target, why)
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

// ---- Pending approval (ModeApproval, or a run over the safety limits)

func (s *server) pending(w http.ResponseWriter, r *http.Request, in *integration) {
	p, err := in.Syncer().PendingPlan(r.Context())
	if err != nil {
		s.fail(w, r, http.StatusInternalServerError, "The pending plan could not be read: "+err.Error())
		return
	}
	var pv planView
	if p != nil {
		fillPlan(&pv, p, r, "/i/"+in.Name+"/pending")
	}
	s.render(w, r, http.StatusOK, "pending", view{Title: "Waiting for approval: " + in.Name, Nav: "integrations", In: in, Data: pv})
}

func (s *server) approvePending(w http.ResponseWriter, r *http.Request, in *integration) {
	wasReviewed := reviewed(r.Context(), in.Syncer())
	rep, err := in.Syncer().ApprovePending(r.Context(), r.PostForm.Get("digest"))
	s.c.invalidate(in)
	if rep != nil && !wasReviewed && in.Settings().Mode == modeAutomatic {
		// A configured automatic mode takes effect after this first
		// reviewed sync.
		_ = s.c.apply(in, in.Settings())
	}
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
	fillPlan(&pv, p, r, "/i/"+in.Name+"/remove")
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
	Person        string // the person's log page, while their integration is kept
}

type usersView struct {
	Rows  []userRow
	Pager pager
}

// users lists a page of the app's accounts, in the order the app created
// them: only the page's accounts are read.
func (s *server) users(w http.ResponseWriter, r *http.Request) {
	page := max(1, pageParam(r, "page"))
	all, total, err := s.c.app.Page(r.Context(), (page-1)*pageSize, pageSize)
	if err == nil && len(all) == 0 && total > 0 {
		// Past the end: the last page.
		page = (total + pageSize - 1) / pageSize
		all, total, err = s.c.app.Page(r.Context(), (page-1)*pageSize, pageSize)
	}
	if err != nil {
		s.fail(w, r, http.StatusInternalServerError, "The app's accounts could not be read: "+err.Error())
		return
	}
	uv := usersView{Pager: newPager(total, page, pageLink("/users", "page", r.URL.Query()))}
	uv.Rows = make([]userRow, 0, len(all))
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
			if ok {
				ur.Person = personLink(a.Source, a.ExternalID, a.Email)
			}
			switch {
			case !ok:
				ur.MayDeactivate = "yes: its integration was removed"
			case in.Settings().Policy.Lifecycle.AppBlock == policy.AppBlockDirectory:
				ur.MayDeactivate = "no: the directory wins, sync lifts a block set here"
			default:
				ur.MayDeactivate = "yes: sync keeps a block set here"
			}
		}
		uv.Rows = append(uv.Rows, ur)
	}
	s.render(w, r, http.StatusOK, "users", view{Title: "Users", Nav: "users", Data: uv})
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
