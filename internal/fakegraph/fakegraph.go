// Package fakegraph is an in-process fake of the Microsoft Graph v1.0
// endpoints the Entra connector uses, speaking Graph's JSON wire format
// over TLS (httptest), so the real msgraph-sdk-go client can be tested
// against it.
//
// Endpoints (under /v1.0): GET /users, /users/delta, /users/{id},
// /users/{id}/transitiveMemberOf, /groups, /groups/delta, /groups/{id},
// /groups/{id}/transitiveMembers and /groups/{id}/transitiveMemberOf.
// It honours $select, $expand=manager, $top, $filter=startswith(displayName,'…')
// and $search (see below) on groups, $count=true with ConsistencyLevel:
// eventual, and Prefer: odata.maxpagesize=N, and returns absolute
// @odata.nextLink and @odata.deltaLink URLs pointing back at itself.
// Errors use Graph's shape {"error":{"code":…,"message":…}}.
//
// # $select
//
// With $select, an object carries only the selected properties, its id
// (always returned) and the @odata annotations; a selected property the
// object has no value for is null
// (https://learn.microsoft.com/en-us/graph/query-parameters#select).
// A later delta round tracks only the selected properties (see Delta).
// Selects records the $select of every request and BytesServed counts the
// response bytes, so tests can assert what a client asked for and what it
// cost.
//
// # Page sizes
//
// The page size follows Graph's documented limits for directory objects:
//
//   - The default page size is 100 and the maximum 999 ("The default and
//     maximum page sizes are 100 and 999 user objects respectively",
//     https://learn.microsoft.com/en-us/graph/api/user-list; the same for
//     groups, https://learn.microsoft.com/en-us/graph/api/group-list). A
//     $top outside 1..999 is answered 400 ("Invalid page size specified:
//     'N'. Must be between 1 and 999 inclusive."); a larger Prefer:
//     odata.maxpagesize is a preference and is capped at 999.
//   - With $expand on a collection of directory objects a page holds at
//     most 100 objects, whatever $top or Prefer asks for; Graph does not
//     fail the request, it silently returns short pages with an
//     @odata.nextLink (Graph known issue 13635, "$expand on directory
//     objects: Returns a maximum of 100 objects",
//     https://developer.microsoft.com/en-us/graph/known-issues/?search=13635,
//     and the $expand notes of
//     https://learn.microsoft.com/en-us/graph/query-parameters#expand-parameter).
//
// # Delta
//
// /users/delta and /groups/delta follow
// https://learn.microsoft.com/en-us/graph/delta-query-overview. The
// first round returns every object with the selected properties; a later
// round (from an @odata.deltaLink) returns only the objects that changed,
// a changed user with only its changed properties (as with Prefer:
// return=minimal), a changed group with all selected properties, and
// removed objects as {"id":…,"@removed":{"reason":"changed"}}.
//
// A user delta that selects manager carries the manager as manager@delta
// (a list of one directory object reference), as Graph does
// (https://learn.microsoft.com/en-us/graph/api/user-delta). A group
// delta that selects members carries members@delta: in the first round
// every direct member, in later rounds the members added and, with
// @removed, the members removed since the delta link was issued
// (https://learn.microsoft.com/en-us/graph/api/group-delta and
// https://learn.microsoft.com/en-us/graph/delta-query-groups). A large
// group's members are split over several pages, the group repeated on
// each, as that page documents.
//
// An expired delta link is answered with ExpireDeltaTokensWith's status
// and code (by default 400 SyncStateNotFound, the service's spelling).
//
// # $search
//
// GET /groups takes $search as Graph documents it for directory objects:
// only with the header ConsistencyLevel: eventual (else 400
// Request_UnsupportedQuery, in the service's words), quoted clauses
// joined by AND and OR, and displayName and description matched by
// tokens: "adm" finds "App Admins", "dmin" does not. search.go cites the
// documentation for each rule. Searches records the $search and the
// ConsistencyLevel header of every request.
//
// # Faults
//
// Every request must carry "Authorization: Bearer " + Token, or it is
// answered 401 InvalidAuthenticationToken. Faults are queued with
// FailNext, DropNext and PassNext and consumed one per request, in order.
// Unreplicated makes GET /users/{id} answer 404 for a user that the
// lists and the delta already report, as Graph may shortly after the
// user was created ("This request might have replication delays for
// users that were recently created, updated, or deleted",
// https://learn.microsoft.com/en-us/graph/api/user-get).
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

// Page size limits of Graph for directory objects (see the package doc).
const (
	DefaultPageSize = 100
	MaxPageSize     = 999
	MaxExpandPage   = 100
)

// Server is a fake Graph. Its methods are safe for concurrent use.
type Server struct {
	*httptest.Server

	mu            sync.Mutex
	users         []*user // in creation order
	byID          map[string]*user
	groups        []*group
	version       int
	tokenFloor    int
	expiredStatus int
	expiredCode   string
	removals      []removal
	groupRemovals []removal
	faults        []fault
	requests      map[string]int
	selects       map[string][]string
	total         int
	bytes         int64
	nextID        int
	denyGroups    bool
	unreplicated  map[string]bool
	isGroup       map[string]bool // every group ID ever added, deleted ones too
	searches      []Search
}

type user struct {
	props   map[string]any
	manager string
	created int
	changed map[string]int // property → version of its last change
}

type group struct {
	id            string
	props         map[string]any
	members       []string // direct members: user or group IDs
	created       int
	changed       int            // version of the last property change
	memberChanged map[string]int // member ID → version of its last addition or removal
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
func New() *Server { return start(httptest.NewTLSServer) }

// NewHTTP starts a fake Graph on plain HTTP, on loopback, for a client
// that cannot be handed the TLS server's certificate: entra.Config takes
// an http:// GraphBaseURL but no HTTP client or TLS roots (examples/entra
// -demo). Close it when done.
func NewHTTP() *Server { return start(httptest.NewServer) }

func start(listen func(http.Handler) *httptest.Server) *Server {
	s := &Server{byID: map[string]*user{}, requests: map[string]int{}, selects: map[string][]string{}, unreplicated: map[string]bool{},
		isGroup: map[string]bool{}, expiredStatus: http.StatusBadRequest, expiredCode: "SyncStateNotFound"}
	s.Server = listen(http.HandlerFunc(s.serve))
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

// SetManager sets a user's manager ("" for none). A user delta that
// selects manager reports the change.
func (s *Server) SetManager(id, managerID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.mustUser(id)
	s.version++
	u.manager = managerID
	u.changed["manager"] = s.version
}

// DeleteUser deletes a user and removes it from every group (as a
// permanent deletion does).
func (s *Server) DeleteUser(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.mustUser(id)
	s.version++
	s.removals = append(s.removals, removal{id: id, created: u.created, version: s.version})
	delete(s.byID, id)
	s.users = slices.DeleteFunc(s.users, func(x *user) bool { return x == u })
	for _, g := range s.groups {
		if slices.Contains(g.members, id) {
			g.members = slices.DeleteFunc(g.members, func(m string) bool { return m == id })
			g.memberChanged[id] = s.version
		}
	}
}

// Unreplicated makes GET /users/{id} and /users/{id}/transitiveMemberOf
// answer 404 for a user that exists (and that /users and /users/delta
// report), as during Graph's replication delay; false ends it.
func (s *Server) Unreplicated(id string, on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if on {
		s.unreplicated[id] = true
	} else {
		delete(s.unreplicated, id)
	}
}

func (s *Server) mustUser(id string) *user {
	u, ok := s.byID[id]
	if !ok {
		panic("fakegraph: no user " + id)
	}
	return u
}

func (s *Server) mustGroup(id string) *group {
	if g := s.group(id); g != nil {
		return g
	}
	panic("fakegraph: no group " + id)
}

func (s *Server) group(id string) *group {
	for _, g := range s.groups {
		if g.id == id {
			return g
		}
	}
	return nil
}

// AddGroup adds a security group with direct members (user or group IDs)
// and returns its id.
func (s *Server) AddGroup(displayName string, members ...string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nextID++
	s.version++
	g := &group{id: ID(s.nextID), members: slices.Clone(members), created: s.version, memberChanged: map[string]int{},
		props: map[string]any{"displayName": displayName, "mail": nil, "description": nil,
			"securityEnabled": true, "mailEnabled": false}}
	g.props["id"] = g.id
	s.groups = append(s.groups, g)
	s.isGroup[g.id] = true
	return g.id
}

// UpdateGroup changes properties of a group (displayName, description,
// mail, securityEnabled, mailEnabled); a nil value clears one.
func (s *Server) UpdateGroup(id string, props map[string]any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.mustGroup(id)
	s.version++
	for k, v := range props {
		g.props[k] = v
	}
	g.changed = s.version
}

// AddMember adds a direct member (a user or group ID) to a group.
func (s *Server) AddMember(groupID, memberID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.mustGroup(groupID)
	if slices.Contains(g.members, memberID) {
		return
	}
	s.version++
	g.members = append(g.members, memberID)
	g.memberChanged[memberID] = s.version
}

// RemoveMember removes a direct member from a group.
func (s *Server) RemoveMember(groupID, memberID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.mustGroup(groupID)
	if !slices.Contains(g.members, memberID) {
		return
	}
	s.version++
	g.members = slices.DeleteFunc(g.members, func(m string) bool { return m == memberID })
	g.memberChanged[memberID] = s.version
}

// DeleteGroup deletes a group and removes it from the groups it was a
// member of.
func (s *Server) DeleteGroup(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.mustGroup(id)
	s.version++
	s.groupRemovals = append(s.groupRemovals, removal{id: id, created: g.created, version: s.version})
	s.groups = slices.DeleteFunc(s.groups, func(x *group) bool { return x == g })
	for _, p := range s.groups {
		if slices.Contains(p.members, id) {
			p.members = slices.DeleteFunc(p.members, func(m string) bool { return m == id })
			p.memberChanged[id] = s.version
		}
	}
}

// ExpireDeltaTokens makes every delta link issued so far answer 400
// SyncStateNotFound.
func (s *Server) ExpireDeltaTokens() {
	s.ExpireDeltaTokensWith(http.StatusBadRequest, "SyncStateNotFound")
}

// ExpireDeltaTokensWith makes every delta link issued so far answer
// status with the error code code (Graph answers 400 or 410, with
// SyncStateNotFound, syncStateInvalid or resyncRequired).
func (s *Server) ExpireDeltaTokensWith(status int, code string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.version++
	s.tokenFloor = s.version
	s.expiredStatus, s.expiredCode = status, code
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
// "groups/delta", "groups/{id}", "groups/{id}/transitiveMembers",
// "groups/{id}/transitiveMemberOf".
func (s *Server) RequestsTo(endpoint string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests[endpoint]
}

// Selects returns the $select of every request to one endpoint (named
// as for RequestsTo), in the order they were served; "" for a request
// without $select.
func (s *Server) Selects(endpoint string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.selects[endpoint])
}

// BytesServed returns the bytes of the response bodies served in total.
func (s *Server) BytesServed() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.bytes
}

// ResetCounts zeroes the request and byte counters and forgets the
// recorded $select and $search values.
func (s *Server) ResetCounts() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.total = 0
	s.bytes = 0
	clear(s.requests)
	clear(s.selects)
	s.searches = nil
}

// countingWriter counts the bytes of a response body into *n.
type countingWriter struct {
	http.ResponseWriter
	n *int64
}

func (w countingWriter) Write(b []byte) (int, error) {
	n, err := w.ResponseWriter.Write(b)
	*w.n += int64(n)
	return n, err
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

func notFound(w http.ResponseWriter, id string) {
	writeError(w, 404, "Request_ResourceNotFound", fmt.Sprintf("Resource '%s' does not exist or one of its queried reference-property objects are not present.", id))
}

func (s *Server) serve(rw http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.total++
	var w http.ResponseWriter = countingWriter{rw, &s.bytes}
	path, ok := strings.CutPrefix(r.URL.Path, "/v1.0/")
	if !ok {
		writeError(w, 404, "BadRequest", "unknown version")
		return
	}
	seg := strings.Split(strings.TrimSuffix(path, "/"), "/")
	for i := range seg {
		seg[i] = strings.TrimSuffix(seg[i], "()")
		seg[i] = strings.TrimPrefix(seg[i], "microsoft.graph.")
	}
	endpoint := endpointOf(seg)
	s.requests[endpoint]++
	s.selects[endpoint] = append(s.selects[endpoint], r.URL.Query().Get("$select"))
	if len(s.faults) > 0 {
		f := s.faults[0]
		s.faults = s.faults[1:]
		if f.drop {
			drop(rw)
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
	size, ok := pageSize(w, r)
	if !ok {
		return
	}
	switch endpoint {
	case "users":
		s.pageFunc(w, r, size, len(s.users), func(i int) map[string]any { return s.userJSON(s.users[i], q, nil) }, "users")
	case "users/delta":
		s.userDelta(w, r, size)
	case "users/{id}":
		u, ok := s.byID[seg[1]]
		if !ok || s.unreplicated[seg[1]] {
			notFound(w, seg[1])
			return
		}
		v := s.userJSON(u, q, nil)
		v["@odata.context"] = s.BaseURL() + "/$metadata#users/$entity"
		writeJSON(w, v)
	case "users/{id}/transitiveMemberOf":
		if _, ok := s.byID[seg[1]]; !ok || s.unreplicated[seg[1]] {
			notFound(w, seg[1])
			return
		}
		s.memberOf(w, r, size, seg[1])
	case "groups":
		prefix, ok := "", true
		if f := q.Get("$filter"); f != "" {
			if prefix, ok = parseStartsWith(f); !ok {
				writeError(w, 400, "Request_UnsupportedQuery", "Unsupported query: "+f)
				return
			}
		}
		search, ok := s.search(w, r)
		if !ok {
			return
		}
		var items []map[string]any
		for _, g := range s.groups {
			name, _ := g.props["displayName"].(string)
			if strings.HasPrefix(strings.ToLower(name), strings.ToLower(prefix)) && (search == nil || search.matches(g.props)) {
				items = append(items, selectProps(g.props, q))
			}
		}
		s.pageFunc(w, r, size, len(items), func(i int) map[string]any { return items[i] }, "groups")
	case "groups/delta":
		s.groupDelta(w, r, size)
	case "groups/{id}":
		g := s.group(seg[1])
		if g == nil {
			notFound(w, seg[1])
			return
		}
		v := selectProps(g.props, q)
		v["@odata.context"] = s.BaseURL() + "/$metadata#groups/$entity"
		writeJSON(w, v)
	case "groups/{id}/transitiveMembers":
		g := s.group(seg[1])
		if g == nil {
			notFound(w, seg[1])
			return
		}
		members := s.transitive(g)
		s.pageFunc(w, r, size, len(members), func(i int) map[string]any {
			return map[string]any{"@odata.type": s.typeOf(members[i]), "id": members[i]}
		}, "directoryObjects")
	case "groups/{id}/transitiveMemberOf":
		if s.group(seg[1]) == nil {
			notFound(w, seg[1])
			return
		}
		s.memberOf(w, r, size, seg[1])
	default:
		writeError(w, 400, "BadRequest", "Resource not found for the segment '"+path+"'.")
	}
}

func (s *Server) typeOf(id string) string {
	if s.isGroup[id] {
		return "#microsoft.graph.group"
	}
	return "#microsoft.graph.user"
}

// memberOf writes the groups that id is a transitive member of.
func (s *Server) memberOf(w http.ResponseWriter, r *http.Request, size int, id string) {
	var items []map[string]any
	for _, g := range s.groups {
		if slices.Contains(s.transitive(g), id) {
			items = append(items, map[string]any{"@odata.type": "#microsoft.graph.group", "id": g.id})
		}
	}
	s.pageFunc(w, r, size, len(items), func(i int) map[string]any { return items[i] }, "directoryObjects")
}

func endpointOf(seg []string) string {
	switch {
	case len(seg) == 1:
		return seg[0]
	case len(seg) == 2 && seg[1] == "delta":
		return seg[0] + "/delta"
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
			if x := s.group(m); x != nil {
				walk(x)
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
		return maps.Clone(p)
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
			if k != "manager" {
				v[k] = u.props[k]
			}
		}
	} else {
		v = selectProps(u.props, q)
		if sel := selectList(q); sel != nil {
			for _, k := range sel { // selected but never set: null, as Graph
				if _, ok := v[k]; !ok && k != "manager" && k != "members" {
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

// pageSize reads Prefer: odata.maxpagesize, then $top, else 100, within
// Graph's limits (see the package doc). It answers 400 for a $top out of
// range and returns false.
func pageSize(w http.ResponseWriter, r *http.Request) (int, bool) {
	q := r.URL.Query()
	size := DefaultPageSize
	if t := q.Get("$top"); t != "" {
		n, err := strconv.Atoi(t)
		if err != nil || n < 1 || n > MaxPageSize {
			writeError(w, 400, "Request_BadRequest", fmt.Sprintf("Invalid page size specified: '%s'. Must be between 1 and %d inclusive.", t, MaxPageSize))
			return 0, false
		}
		size = n
	}
	for _, pref := range strings.Split(r.Header.Get("Prefer"), ",") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(pref), "odata.maxpagesize="); ok {
			if n, err := strconv.Atoi(v); err == nil && n > 0 {
				size = min(n, MaxPageSize)
			}
		}
	}
	if q.Get("$expand") != "" {
		size = min(size, MaxExpandPage)
	}
	return size, true
}

// pageFunc writes one page of n items, rendering only those on the page;
// $skiptoken is the offset.
func (s *Server) pageFunc(w http.ResponseWriter, r *http.Request, size, n int, item func(int) map[string]any, context string) {
	q := r.URL.Query()
	off, _ := strconv.Atoi(q.Get("$skiptoken"))
	end := min(off+size, n)
	off = max(min(off, end), 0)
	items := make([]map[string]any, 0, end-off)
	for i := off; i < end; i++ {
		items = append(items, item(i))
	}
	out := map[string]any{"@odata.context": s.BaseURL() + "/$metadata#" + context, "value": items}
	if q.Get("$count") == "true" && advanced(r) {
		out["@odata.count"] = n
	}
	if end < n {
		q.Set("$skiptoken", strconv.Itoa(end))
		out["@odata.nextLink"] = s.URL + r.URL.Path + "?" + q.Encode()
	}
	writeJSON(w, out)
}

// deltaState parses the state of a delta request: base is the version
// the previous round ended at (-1 for a first round), off the offset in
// this round. It answers an error and returns false for an expired or
// malformed token.
func (s *Server) deltaState(w http.ResponseWriter, q url.Values) (base, off int, ok bool) {
	base = -1
	if t := q.Get("$deltatoken"); t != "" {
		n, err := strconv.Atoi(t)
		if err != nil {
			writeError(w, 400, "badRequest", "malformed delta token")
			return 0, 0, false
		}
		base = n
	}
	if t := q.Get("$skiptoken"); t != "" {
		b, o, ok := strings.Cut(t, ":")
		bn, err1 := strconv.Atoi(b)
		on, err2 := strconv.Atoi(o)
		if !ok || err1 != nil || err2 != nil {
			writeError(w, 400, "badRequest", "malformed skip token")
			return 0, 0, false
		}
		base, off = bn, on
	}
	if base >= 0 && base < s.tokenFloor {
		writeError(w, s.expiredStatus, s.expiredCode, "The sync state generation is not found. Please restart the sync from the beginning.")
		return 0, 0, false
	}
	return base, off, true
}

// deltaItem is one object of a delta round, rendered only when it is on
// the page asked for (a round of 100,000 users is paged through 100
// times).
type deltaItem struct {
	refs   int // member references it carries
	render func() map[string]any
}

// deltaPage writes one page of a delta round: the items from off, at
// most size of them and (for groups) at most size member references, and
// a next link or, at the end, a delta link that keeps $select.
func (s *Server) deltaPage(w http.ResponseWriter, q url.Values, resource string, base, off, size int, items []deltaItem) {
	end, refs := off, 0
	for end < len(items) && end-off < size {
		if end > off && refs+items[end].refs > size {
			break
		}
		refs += items[end].refs
		end++
	}
	off = min(off, end)
	value := make([]map[string]any, 0, end-off)
	for _, it := range items[off:end] {
		value = append(value, it.render())
	}
	out := map[string]any{"@odata.context": s.BaseURL() + "/$metadata#" + resource, "value": value}
	nq := url.Values{}
	if sel := q.Get("$select"); sel != "" {
		nq.Set("$select", sel) // Graph encodes it in the state token
	}
	if end < len(items) {
		nq.Set("$skiptoken", strconv.Itoa(base)+":"+strconv.Itoa(end))
		out["@odata.nextLink"] = s.BaseURL() + "/" + resource + "/delta()?" + nq.Encode()
	} else {
		nq.Set("$deltatoken", strconv.Itoa(s.version))
		out["@odata.deltaLink"] = s.BaseURL() + "/" + resource + "/delta()?" + nq.Encode()
	}
	writeJSON(w, out)
}

func ref(id, typ string, removed bool) map[string]any {
	m := map[string]any{"@odata.type": typ, "id": id}
	if removed {
		m["@removed"] = map[string]any{"reason": "deleted"}
	}
	return m
}

func removedItem(id string) deltaItem {
	return deltaItem{render: func() map[string]any {
		return map[string]any{"id": id, "@removed": map[string]any{"reason": "changed"}}
	}}
}

// userDelta serves /users/delta. $deltatoken is the version the previous
// round ended at; $skiptoken "base:offset" pages through one round.
func (s *Server) userDelta(w http.ResponseWriter, r *http.Request, size int) {
	q := r.URL.Query()
	base, off, ok := s.deltaState(w, q)
	if !ok {
		return
	}
	sel := selectList(q)
	withManager := slices.Contains(sel, "manager")
	// A later round reports a user only for a change of a selected
	// property (manager only when selected): with $select, Graph tracks
	// changes of the selected properties and relationships only, and a
	// user whose other properties changed is not in the next round
	// (https://learn.microsoft.com/en-us/graph/api/user-delta, optional
	// query parameters). The $select travels in the delta link.
	tracked := func(k string) bool {
		if sel == nil {
			return k != "manager"
		}
		return slices.Contains(sel, k)
	}
	var items []deltaItem
	for _, u := range s.users {
		switch {
		case base < 0 || u.created > base:
			items = append(items, deltaItem{render: func() map[string]any {
				v := s.userJSON(u, q, nil)
				if withManager && u.manager != "" {
					v["manager@delta"] = []map[string]any{ref(u.manager, "#microsoft.graph.user", false)}
				}
				return v
			}})
		default:
			var changed []string
			for k, v := range u.changed {
				if v > base && tracked(k) {
					changed = append(changed, k)
				}
			}
			if len(changed) == 0 {
				continue
			}
			slices.Sort(changed)
			items = append(items, deltaItem{render: func() map[string]any {
				v := s.userJSON(u, url.Values{}, changed)
				if slices.Contains(changed, "manager") {
					v["manager@delta"] = []map[string]any{}
					if u.manager != "" {
						v["manager@delta"] = []map[string]any{ref(u.manager, "#microsoft.graph.user", false)}
					}
				}
				return v
			}})
		}
	}
	if base >= 0 {
		for _, rm := range s.removals {
			if rm.version > base && rm.created <= base {
				items = append(items, removedItem(rm.id))
			}
		}
	}
	s.deltaPage(w, q, "users", base, off, size, items)
}

// memberRef is a member reference of members@delta before rendering.
type memberRef struct {
	id      string
	removed bool
}

// groupDelta serves /groups/delta like userDelta; members@delta is
// rendered when members is selected (or nothing is), a large group's
// members split over several items of at most size references.
func (s *Server) groupDelta(w http.ResponseWriter, r *http.Request, size int) {
	q := r.URL.Query()
	base, off, ok := s.deltaState(w, q)
	if !ok {
		return
	}
	sel := selectList(q)
	withMembers := sel == nil || slices.Contains(sel, "members")
	var items []deltaItem
	add := func(g *group, refs []memberRef) {
		if len(refs) == 0 || !withMembers {
			items = append(items, deltaItem{render: func() map[string]any { return selectProps(g.props, q) }})
			return
		}
		for chunk := range slices.Chunk(refs, size) {
			items = append(items, deltaItem{refs: len(chunk), render: func() map[string]any {
				v := selectProps(g.props, q)
				list := make([]map[string]any, len(chunk))
				for i, m := range chunk {
					list[i] = ref(m.id, s.typeOf(m.id), m.removed)
				}
				v["members@delta"] = list
				return v
			}})
		}
	}
	for _, g := range s.groups {
		var refs []memberRef
		switch {
		case base < 0 || g.created > base:
			for _, m := range g.members {
				refs = append(refs, memberRef{id: m})
			}
			add(g, refs)
		default:
			var ids []string
			for m, v := range g.memberChanged {
				if v > base {
					ids = append(ids, m)
				}
			}
			slices.Sort(ids)
			for _, m := range ids {
				refs = append(refs, memberRef{id: m, removed: !slices.Contains(g.members, m)})
			}
			if g.changed > base || (len(refs) > 0 && withMembers) {
				add(g, refs)
			}
		}
	}
	if base >= 0 {
		for _, rm := range s.groupRemovals {
			if rm.version > base && rm.created <= base {
				items = append(items, removedItem(rm.id))
			}
		}
	}
	s.deltaPage(w, q, "groups", base, off, size, items)
}
