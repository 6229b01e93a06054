package main

// logpages.go shows the provisioning log (dirsync.Syncer.Log): a run's
// changes on its details page, searchable by regular expression, filtered
// by operation and status, a page at a time; and a person's page, their
// entries across runs. Both are GET pages that change nothing.

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"regexp/syntax"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/dirsync-go/dirsync"
	"github.com/dirsync-go/dirsync/diff"
)

// logPageSize is how many log entries a page shows.
const logPageSize = 50

// logRow is one log entry as a page shows it.
type logRow struct {
	Time       time.Time
	Run        string // the run's details page; empty when the run left the history
	Op         string
	Status     string
	Name       string
	Email      string
	ExternalID string
	Person     string // the person's page; empty for a department
	Reasons    []diff.Reason
	Skip       string
	Fields     []diff.FieldChange
	Error      string
}

// logView is a page of the log with its search, filters and links.
type logView struct {
	Path       string // the page's path, for the search form
	Rows       []logRow
	Query      string
	QueryError string
	Op         string
	Status     string
	Ops        []string
	Statuses   []string
	// Next links the page after, First the first page (when this is not
	// it).
	Next, First string
	// Notice says why a page link was not followed.
	Notice    string
	ReadError string
	// Missing says why a run has no log.
	Missing string
	// Filtered is set when a search or filter narrows the entries.
	Filtered bool
}

// runView is a run's details page: its History record and its log.
type runView struct {
	dirsync.RunRecord
	Log logView
}

// personView is a person's page.
type personView struct {
	Account string // as asked for: external ID or email
	// Name, Email, ExternalID and State describe the person, as the app
	// holds the account (InApp) or else as the newest log entry has them.
	Name, Email, ExternalID, State string
	InApp                          bool
	Log                            logView
}

// personLink is the page of the person with external ID externalID (or,
// without one, email) in integration in; empty when neither is known.
func personLink(in, externalID, email string) string {
	key := cmp.Or(externalID, email)
	if key == "" {
		return ""
	}
	return "/i/" + url.PathEscape(in) + "/person?" + url.Values{"account": {key}}.Encode()
}

// runLink is the details page of a run recorded in History.
func runLink(in string, rec *dirsync.RunRecord) string {
	return "/i/" + url.PathEscape(in) + "/history/" + strconv.FormatInt(rec.Started.UnixNano(), 10)
}

// regexError is the inline message for a search that does not compile,
// as the preview's search words it.
func regexError(err error) string {
	if se, ok := errors.AsType[*syntax.Error](err); ok {
		return fmt.Sprintf("Not a valid regular expression: %s in %q.", se.Code, se.Expr)
	}
	return "Not a valid regular expression: " + err.Error()
}

// loggedOps are the operations the log can hold: those that change the
// app.
func loggedOps() []string {
	var out []string
	for _, op := range diff.Ops {
		if op.Actionable() {
			out = append(out, op.String())
		}
	}
	return out
}

var loggedStatuses = []string{string(dirsync.StatusApplied), string(dirsync.StatusFailed), string(dirsync.StatusSkipped)}

// logPage reads a page of sy's log for q from the cursor after into lv,
// and links the page after it; keep are the query parameters the links
// carry. runs maps run IDs to their details pages. It returns the HTTP
// status of the page.
func (s *server) logPage(ctx context.Context, in *integration, lv *logView, q dirsync.LogQuery, after string, keep url.Values, runs map[string]string) int {
	q.Limit = logPageSize
	q.After = after
	sy := in.Syncer()
	page, err := sy.Log(ctx, q)
	if errors.Is(err, dirsync.ErrLogCursor) {
		lv.Notice = "That page link is not one this page gave, so the first page is shown."
		q.After, after = "", ""
		page, err = sy.Log(ctx, q)
	}
	if err != nil {
		lv.ReadError = "The log could not be read: " + err.Error()
		return http.StatusInternalServerError
	}
	link := func(after string) string {
		v := url.Values{}
		for k, vs := range keep {
			if len(vs) > 0 && vs[0] != "" {
				v[k] = vs[:1]
			}
		}
		if after != "" {
			v.Set("after", after)
		}
		if len(v) == 0 {
			return lv.Path
		}
		return lv.Path + "?" + v.Encode()
	}
	if page.Next != "" {
		lv.Next = link(page.Next)
	}
	if after != "" {
		lv.First = link("")
	}
	for _, e := range page.Entries {
		row := logRow{Time: e.Time, Run: runs[e.Run], Op: e.Op.String(), Status: string(e.Status), Name: e.Name,
			Email: e.Email, ExternalID: e.ExternalID, Person: personLink(in.Name, e.ExternalID, e.Email),
			Reasons: e.Reasons, Fields: e.Fields, Error: e.Error}
		if e.Op == diff.OpCreateDepartment {
			row.Person = ""
		}
		if e.Skip != nil {
			row.Skip = e.Skip.String()
		}
		lv.Rows = append(lv.Rows, row)
	}
	return http.StatusOK
}

// runLinks maps the IDs of the runs in the history to their pages.
func runLinks(in string, runs []dirsync.RunRecord) map[string]string {
	m := make(map[string]string, len(runs))
	for i := range runs {
		if runs[i].ID != "" {
			m[runs[i].ID] = runLink(in, &runs[i])
		}
	}
	return m
}

// runDetails is a run's page: its History record, then its changes from
// the log, searched with the regular expression q and filtered by op and
// status.
func (s *server) runDetails(w http.ResponseWriter, r *http.Request, in *integration) {
	ctx := r.Context()
	runs, err := in.Syncer().History(ctx)
	if err != nil {
		s.fail(w, r, http.StatusInternalServerError, "The history could not be read: "+err.Error())
		return
	}
	id := r.PathValue("run")
	i := slices.IndexFunc(runs, func(rec dirsync.RunRecord) bool {
		return strconv.FormatInt(rec.Started.UnixNano(), 10) == id
	})
	if i < 0 {
		s.fail(w, r, http.StatusNotFound, "That run is not in the history (only the last 100 runs are kept).")
		return
	}
	rv := runView{RunRecord: runs[i]}
	qv := r.URL.Query()
	lv := &rv.Log
	lv.Path, lv.Ops, lv.Statuses = runLink(in.Name, &runs[i]), loggedOps(), loggedStatuses
	lv.Query, lv.Op, lv.Status = qv.Get("q"), qv.Get("op"), qv.Get("status")
	q := dirsync.LogQuery{Run: rv.ID}
	if lv.Op != "" {
		if err := q.Op.UnmarshalText([]byte(lv.Op)); err != nil || !q.Op.Actionable() {
			lv.QueryError = fmt.Sprintf("There is no operation %q in the log: pick one from the list.", lv.Op)
			q.Op, lv.Op = 0, ""
		}
	}
	if lv.Status != "" {
		if !slices.Contains(loggedStatuses, lv.Status) {
			lv.QueryError = fmt.Sprintf("There is no status %q in the log: pick one from the list.", lv.Status)
			lv.Status = ""
		}
		q.Status = dirsync.Status(lv.Status)
	}
	if lv.Query != "" {
		re, err := regexp.Compile(lv.Query)
		if err != nil {
			lv.QueryError = regexError(err)
		} else {
			q.Search = re
		}
	}
	lv.Filtered = q.Search != nil || q.Op != 0 || q.Status != ""
	status := http.StatusOK
	if rv.ID == "" {
		lv.Missing = "This run was recorded before the console kept a log of each change: only its failures and skips are listed above."
	} else {
		// Every row is of this run: no row links it.
		status = s.logPage(ctx, in, lv, q, qv.Get("after"), url.Values{"q": {lv.Query}, "op": {lv.Op}, "status": {lv.Status}}, nil)
	}
	s.render(w, r, status, "run", view{Title: "Run of " + in.Name, Nav: "history", In: in, Data: rv})
}

// personLog is a person's page: who they are in the app, and their log
// entries across runs, the newest run first. The person is named by
// external ID or email (?account=).
func (s *server) personLog(w http.ResponseWriter, r *http.Request, in *integration) {
	ctx := r.Context()
	qv := r.URL.Query()
	acct := strings.TrimSpace(qv.Get("account"))
	if acct == "" {
		s.fail(w, r, http.StatusBadRequest, "Say whose log to show: open a person from the Users page or from a run's changes.")
		return
	}
	pv := personView{Account: acct}
	pv.Log.Path = "/i/" + url.PathEscape(in.Name) + "/person"
	accts, err := s.c.app.LookupAccounts(ctx, in.Name, []string{acct}, []string{acct})
	if err != nil {
		s.fail(w, r, http.StatusInternalServerError, "The app's accounts could not be read: "+err.Error())
		return
	}
	// The integration's own account first, then one found by email.
	slices.SortStableFunc(accts, func(a, b diff.Account) int {
		return cmp.Compare(boolInt(a.Source != in.Name), boolInt(b.Source != in.Name))
	})
	if len(accts) > 0 {
		a := accts[0]
		pv.InApp, pv.Name, pv.Email, pv.ExternalID = true, a.Name(), a.Email, a.ExternalID
		switch {
		case a.Blocked && a.BlockedBySync:
			pv.State = "blocked by sync"
		case a.Blocked:
			pv.State = "blocked by an admin"
		default:
			pv.State = "active"
		}
		if a.Source != in.Name {
			pv.State += ", " + cmp.Or(a.Source, "not managed by directory sync")
		}
	}
	runs, err := in.Syncer().History(ctx)
	if err != nil {
		s.fail(w, r, http.StatusInternalServerError, "The history could not be read: "+err.Error())
		return
	}
	after := qv.Get("after")
	status := s.logPage(ctx, in, &pv.Log, dirsync.LogQuery{Account: acct}, after, url.Values{"account": {acct}}, runLinks(in.Name, runs))
	if !pv.InApp && len(pv.Log.Rows) == 0 && after == "" && pv.Log.ReadError == "" {
		s.fail(w, r, http.StatusNotFound, fmt.Sprintf("No one with the external ID or email %q is in the app or in the log of %s.", acct, in.Name))
		return
	}
	if !pv.InApp && len(pv.Log.Rows) > 0 {
		e := pv.Log.Rows[0]
		pv.Name, pv.Email, pv.ExternalID, pv.State = e.Name, e.Email, e.ExternalID, "not in the app"
	}
	title := "Log of " + cmp.Or(pv.Name, acct)
	s.render(w, r, status, "person", view{Title: title, Nav: "users", In: in, Data: pv})
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
