// Package fakegraph is an in-process fake of the Microsoft Graph v1.0
// endpoints the Entra connector uses, speaking Graph's JSON wire format
// over TLS (httptest), so the real msgraph-sdk-go client can be tested
// against it.
//
// Endpoints (under /v1.0): GET /users, /users/delta, /users/{id},
// /users/{id}/transitiveMemberOf, /groups and /groups/{id}/transitiveMembers.
// It honours $select, $expand=manager, $top, $filter=startswith(displayName,'…')
// on groups, and Prefer: odata.maxpagesize=N (default page size 100), and
// returns absolute @odata.nextLink and @odata.deltaLink URLs pointing back
// at itself. A delta round after the first returns only the users that
// changed, each with only its changed properties (a new user in full), and
// removed users as {"id":…,"@removed":{"reason":"changed"}}. Errors use
// Graph's shape {"error":{"code":…,"message":…}}.
//
// Every request must carry "Authorization: Bearer " + Token, or it is
// answered 401 InvalidAuthenticationToken. Faults are queued with
// FailNext, DropNext and PassNext and consumed one per request, in order.
package fakegraph

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// Token is the bearer token the server accepts.
const Token = "fake-graph-token"

// Server is a fake Graph. Its methods are safe for concurrent use.
type Server struct {
	*httptest.Server

	mu         sync.Mutex
	users      []*user // in creation order
	byID       map[string]*user
	groups     []*group
	version    int
	tokenFloor int
	removals   []removal
	faults     []fault
	requests   map[string]int
	total      int
	nextID     int
	denyGroups bool
}

type user struct {
	props   map[string]any
	manager string
	created int
	changed map[string]int // property → version of its last change
}

type group struct {
	id, displayName string
	members         []string // direct members: user or group IDs
}

type removal struct {
	id               string
	created, version int
}

type fault struct {
	status int  // 0: pass through
	drop   bool // hijack and close the connection mid-body
}

// New starts a TLS fake Graph. Close it when done.
func New() *Server {
	s := &Server{byID: map[string]*user{}, requests: map[string]int{}}
	s.Server = httptest.NewTLSServer(http.HandlerFunc(s.serve))
	return s
}

// BaseURL is the Graph base URL to configure: the server's URL plus /v1.0.
func (s *Server) BaseURL() string { return s.URL + "/v1.0" }

// ID returns the deterministic object id for n.
func ID(n int) string { return fmt.Sprintf("00000000-0000-4000-8000-%012d", n) }

// SampleUser returns the properties of the n-th generated user.
func SampleUser(n int) map[string]any {
	depts := []string{"Sales", "Engineering", "Finance", "Support"}
	return map[string]any{
		"userPrincipalName": fmt.Sprintf("user%06d@contoso.test", n),
		"mail":              fmt.Sprintf("user%06d@contoso.test", n),
		"givenName":         "Given" + strconv.Itoa(n),
		"surname":           "Surname" + strconv.Itoa(n),
		"displayName":       fmt.Sprintf("Given%d Surname%d", n, n),
		"jobTitle":          "Engineer",
		"department":        depts[n%len(depts)],
		"companyName":       "Contoso",
		"officeLocation":    "Building " + strconv.Itoa(n%7),
		"mobilePhone":       fmt.Sprintf("+1 555 %04d", n%10000),
		"businessPhones":    []any{fmt.Sprintf("+1 425 %04d", n%10000)},
		"employeeId":        strconv.Itoa(10000 + n),
	}
}

// AddUser adds a user and returns its id (props["id"], or a new one).
// accountEnabled defaults to true.
func (s *Server) AddUser(props map[string]any) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := maps.Clone(props)
	id, _ := p["id"].(string)
	if id == "" {
		s.nextID++
		id = ID(s.nextID)
		p["id"] = id
	}
	if _, ok := p["accountEnabled"]; !ok {
		p["accountEnabled"] = true
	}
	if _, ok := p["onPremisesSyncEnabled"]; !ok {
		p["onPremisesSyncEnabled"] = nil
	}
	s.version++
	u := &user{props: p, created: s.version, changed: map[string]int{}}
	s.users = append(s.users, u)
	s.byID[id] = u
	return id
}

// AddUsers adds n generated users (SampleUser) and returns their ids.
func (s *Server) AddUsers(n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = s.AddUser(SampleUser(i + 1))
	}
	return ids
}

// UpdateUser changes properties of a user; a nil value clears one.
func (s *Server) UpdateUser(id string, props map[string]any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.mustUser(id)
	s.version++
	for k, v := range props {
		u.props[k] = v
		u.changed[k] = s.version
	}
}

// DisableUser sets accountEnabled to false.
func (s *Server) DisableUser(id string) { s.UpdateUser(id, map[string]any{"accountEnabled": false}) }

// SetManager sets a user's manager (not reported by delta, as with a
// delta round that does not select manager).
func (s *Server) SetManager(id, managerID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mustUser(id).manager = managerID
}

// DeleteUser deletes a user and removes it from every group.
func (s *Server) DeleteUser(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.mustUser(id)
	s.version++
	s.removals = append(s.removals, removal{id: id, created: u.created, version: s.version})
	delete(s.byID, id)
	s.users = slices.DeleteFunc(s.users, func(x *user) bool { return x == u })
	for _, g := range s.groups {
		g.members = slices.DeleteFunc(g.members, func(m string) bool { return m == id })
	}
}

func (s *Server) mustUser(id string) *user {
	u, ok := s.byID[id]
	if !ok {
		panic("fakegraph: no user " + id)
	}
	return u
}

// AddGroup adds a group with direct members (user or group IDs) and
// returns its id.
func (s *Server) AddGroup(displayName string, members ...string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nextID++
	g := &group{id: ID(s.nextID), displayName: displayName, members: slices.Clone(members)}
	s.groups = append(s.groups, g)
	return g.id
}

// ExpireDeltaTokens makes every delta link issued so far answer 400
// syncStateNotFound.
func (s *Server) ExpireDeltaTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.version++
	s.tokenFloor = s.version
}

// DenyGroups makes /groups requests answer 403 Authorization_RequestDenied,
// as for an app without GroupMember.Read.All.
func (s *Server) DenyGroups(deny bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.denyGroups = deny
}

// FailNext answers the next n requests with status (429 or 503, say),
// with Retry-After: 1.
func (s *Server) FailNext(n, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.faults = append(s.faults, fault{status: status})
	}
}

// PassNext lets the next n requests through; combine with DropNext or
// FailNext to hit a later request.
func (s *Server) PassNext(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.faults = append(s.faults, fault{})
	}
}

// DropNext answers the next request with the start of a 200 response and
// then closes the connection.
func (s *Server) DropNext() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, fault{drop: true})
}

// Requests returns the number of requests served in total.
func (s *Server) Requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.total
}

// RequestsTo returns the number of requests to one endpoint: "users",
// "users/delta", "users/{id}", "users/{id}/transitiveMemberOf", "groups",
// "groups/{id}/transitiveMembers".
func (s *Server) RequestsTo(endpoint string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests[endpoint]
}

// ResetCounts zeroes the request counters.
func (s *Server) ResetCounts() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.total = 0
	clear(s.requests)
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"code": code, "message": msg,
		"innerError": map[string]any{"request-id": "00000000-0000-0000-0000-000000000000"}}})
}

func writeJSON(w http.ResponseWriter, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		writeError(w, 500, "generalException", err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json;odata.metadata=minimal;odata.streaming=true")
	_, _ = w.Write(b)
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.total++
	path, ok := strings.CutPrefix(r.URL.Path, "/v1.0/")
	if !ok {
		writeError(w, 404, "BadRequest", "unknown version")
		return
	}
	seg := strings.Split(strings.TrimSuffix(path, "/"), "/")
	for i := range seg {
		seg[i] = strings.TrimSuffix(seg[i], "()")
	}
	endpoint := endpointOf(seg)
	s.requests[endpoint]++
	if len(s.faults) > 0 {
		f := s.faults[0]
		s.faults = s.faults[1:]
		if f.drop {
			drop(w)
			return
		}
		if f.status != 0 {
			w.Header().Set("Retry-After", "1")
			code := "TooManyRequests"
			if f.status == 503 {
				code = "serviceNotAvailable"
			}
			writeError(w, f.status, code, "injected fault")
			return
		}
	}
	if r.Header.Get("Authorization") != "Bearer "+Token {
		writeError(w, 401, "InvalidAuthenticationToken", "Access token validation failure. Invalid audience.")
		return
	}
	if r.Method != http.MethodGet {
		writeError(w, 405, "Request_BadRequest", "only GET is supported")
		return
	}
	q := r.URL.Query()
	if seg[0] == "groups" && s.denyGroups {
		writeError(w, 403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")
		return
	}
	switch endpoint {
	case "users":
		s.pageFunc(w, r, len(s.users), func(i int) map[string]any { return s.userJSON(s.users[i], q, nil) }, "users")
	case "users/delta":
		s.delta(w, r)
	case "users/{id}":
		u, ok := s.byID[seg[1]]
		if !ok {
			writeError(w, 404, "Request_ResourceNotFound", fmt.Sprintf("Resource '%s' does not exist or one of its queried reference-property objects are not present.", seg[1]))
			return
		}
		v := s.userJSON(u, q, nil)
		v["@odata.context"] = s.BaseURL() + "/$metadata#users/$entity"
		writeJSON(w, v)
	case "users/{id}/transitiveMemberOf":
		if _, ok := s.byID[seg[1]]; !ok {
			writeError(w, 404, "Request_ResourceNotFound", "Resource '"+seg[1]+"' does not exist.")
			return
		}
		var items []map[string]any
		for _, g := range s.groups {
			if slices.Contains(s.transitive(g), seg[1]) {
				items = append(items, map[string]any{"@odata.type": "#microsoft.graph.group", "id": g.id})
			}
		}
		s.page(w, r, items, "directoryObjects")
	case "groups":
		prefix, ok := "", true
		if f := q.Get("$filter"); f != "" {
			if prefix, ok = parseStartsWith(f); !ok {
				writeError(w, 400, "Request_UnsupportedQuery", "Unsupported query: "+f)
				return
			}
		}
		var items []map[string]any
		for _, g := range s.groups {
			if strings.HasPrefix(strings.ToLower(g.displayName), strings.ToLower(prefix)) {
				items = append(items, selectProps(map[string]any{"id": g.id, "displayName": g.displayName,
					"mail": nil, "description": nil, "securityEnabled": true, "mailEnabled": false}, q))
			}
		}
		s.page(w, r, items, "groups")
	case "groups/{id}/transitiveMembers":
		var g *group
		for _, x := range s.groups {
			if x.id == seg[1] {
				g = x
			}
		}
		if g == nil {
			writeError(w, 404, "Request_ResourceNotFound", "Resource '"+seg[1]+"' does not exist.")
			return
		}
		members := s.transitive(g)
		s.pageFunc(w, r, len(members), func(i int) map[string]any {
			t := "#microsoft.graph.group"
			if _, ok := s.byID[members[i]]; ok {
				t = "#microsoft.graph.user"
			}
			return map[string]any{"@odata.type": t, "id": members[i]}
		}, "directoryObjects")
	default:
		writeError(w, 400, "BadRequest", "Resource not found for the segment '"+path+"'.")
	}
}

func endpointOf(seg []string) string {
	switch {
	case len(seg) == 1:
		return seg[0]
	case len(seg) == 2 && seg[0] == "users" && seg[1] == "delta":
		return "users/delta"
	case len(seg) == 2:
		return seg[0] + "/{id}"
	default:
		return seg[0] + "/{id}/" + strings.Join(seg[2:], "/")
	}
}

// drop writes the start of a response and closes the connection.
func drop(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic("fakegraph: cannot hijack")
	}
	conn, buf, err := hj.Hijack()
	if err != nil {
		return
	}
	defer conn.Close()
	_, _ = buf.WriteString("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{\"value\":[{\"id\":\"")
	_ = buf.Flush()
}

var startsWith = regexp.MustCompile(`^startswith\(displayName,\s*'((?:[^']|'')*)'\)$`)

func parseStartsWith(f string) (string, bool) {
	m := startsWith.FindStringSubmatch(f)
	if m == nil {
		return "", false
	}
	return strings.ReplaceAll(m[1], "''", "'"), true
}

// transitive returns a group's members, nested groups expanded (each
// nested group listed as well), without duplicates, in a stable order.
func (s *Server) transitive(g *group) []string {
	seen := map[string]bool{g.id: true}
	var out []string
	var walk func(*group)
	walk = func(g *group) {
		for _, m := range g.members {
			if seen[m] {
				continue
			}
			seen[m] = true
			out = append(out, m)
			for _, x := range s.groups {
				if x.id == m {
					walk(x)
				}
			}
		}
	}
	walk(g)
	return out
}

func selectList(q url.Values) []string {
	sel := q.Get("$select")
	if sel == "" {
		return nil
	}
	return strings.Split(sel, ",")
}

func selectProps(p map[string]any, q url.Values) map[string]any {
	sel := selectList(q)
	if sel == nil {
		return p
	}
	out := map[string]any{"id": p["id"]}
	for _, k := range sel {
		if v, ok := p[k]; ok {
			out[k] = v
		}
	}
	return out
}

// userJSON renders a user with the selected properties (only those in
// only, when not nil) and the expanded manager.
func (s *Server) userJSON(u *user, q url.Values, only []string) map[string]any {
	var v map[string]any
	if only != nil {
		v = map[string]any{"id": u.props["id"]}
		for _, k := range only {
			v[k] = u.props[k]
		}
	} else {
		v = selectProps(u.props, q)
		if sel := selectList(q); sel != nil {
			for _, k := range sel { // selected but never set: null, as Graph
				if _, ok := v[k]; !ok {
					v[k] = nil
				}
			}
		}
	}
	if strings.Contains(q.Get("$expand"), "manager") && u.manager != "" {
		v["manager"] = map[string]any{"@odata.type": "#microsoft.graph.user", "id": u.manager}
	}
	return v
}

// pageSize reads Prefer: odata.maxpagesize, then $top, else 100.
func pageSize(r *http.Request) int {
	for _, pref := range strings.Split(r.Header.Get("Prefer"), ",") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(pref), "odata.maxpagesize="); ok {
			if n, err := strconv.Atoi(v); err == nil && n > 0 {
				return n
			}
		}
	}
	if n, err := strconv.Atoi(r.URL.Query().Get("$top")); err == nil && n > 0 {
		return n
	}
	return 100
}

// page writes one page of items; $skiptoken is the offset.
func (s *Server) page(w http.ResponseWriter, r *http.Request, items []map[string]any, context string) {
	s.pageFunc(w, r, len(items), func(i int) map[string]any { return items[i] }, context)
}

// pageFunc writes one page of n items, rendering only those on the page.
func (s *Server) pageFunc(w http.ResponseWriter, r *http.Request, n int, item func(int) map[string]any, context string) {
	q := r.URL.Query()
	off, _ := strconv.Atoi(q.Get("$skiptoken"))
	size := pageSize(r)
	end := min(off+size, n)
	off = max(min(off, end), 0)
	items := make([]map[string]any, 0, end-off)
	for i := off; i < end; i++ {
		items = append(items, item(i))
	}
	out := map[string]any{"@odata.context": s.BaseURL() + "/$metadata#" + context, "value": items}
	if end < n && q.Get("$top") == "" {
		q.Set("$skiptoken", strconv.Itoa(end))
		out["@odata.nextLink"] = s.URL + r.URL.Path + "?" + q.Encode()
	}
	writeJSON(w, out)
}

func nonNil(v []map[string]any) []map[string]any {
	if v == nil {
		return []map[string]any{}
	}
	return v
}

// delta serves /users/delta. $deltatoken is the version the previous
// round ended at; $skiptoken "base:offset" pages through one round.
func (s *Server) delta(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	base := -1
	off := 0
	if t := q.Get("$deltatoken"); t != "" {
		n, err := strconv.Atoi(t)
		if err != nil {
			writeError(w, 400, "badRequest", "malformed delta token")
			return
		}
		base = n
	}
	if t := q.Get("$skiptoken"); t != "" {
		b, o, ok := strings.Cut(t, ":")
		bn, err1 := strconv.Atoi(b)
		on, err2 := strconv.Atoi(o)
		if !ok || err1 != nil || err2 != nil {
			writeError(w, 400, "badRequest", "malformed skip token")
			return
		}
		base, off = bn, on
	}
	if base >= 0 && base < s.tokenFloor {
		writeError(w, 400, "syncStateNotFound", "The sync state generation is not found. Please restart the sync from the beginning.")
		return
	}
	var items []map[string]any
	for _, u := range s.users {
		switch {
		case base < 0 || u.created > base:
			items = append(items, s.userJSON(u, q, nil))
		default:
			var changed []string
			for k, v := range u.changed {
				if v > base {
					changed = append(changed, k)
				}
			}
			if len(changed) > 0 {
				slices.Sort(changed)
				items = append(items, s.userJSON(u, url.Values{}, changed))
			}
		}
	}
	if base >= 0 {
		for _, rm := range s.removals {
			if rm.version > base && rm.created <= base {
				items = append(items, map[string]any{"id": rm.id, "@removed": map[string]any{"reason": "changed"}})
			}
		}
	}
	size := pageSize(r)
	end := min(off+size, len(items))
	off = min(off, end)
	out := map[string]any{"@odata.context": s.BaseURL() + "/$metadata#users", "value": nonNil(items[off:end])}
	if end < len(items) {
		nq := url.Values{}
		if sel := q.Get("$select"); sel != "" {
			nq.Set("$select", sel)
		}
		nq.Set("$skiptoken", strconv.Itoa(base)+":"+strconv.Itoa(end))
		out["@odata.nextLink"] = s.BaseURL() + "/users/delta()?" + nq.Encode()
	} else {
		out["@odata.deltaLink"] = s.BaseURL() + "/users/delta()?$deltatoken=" + strconv.Itoa(s.version)
	}
	writeJSON(w, out)
}
