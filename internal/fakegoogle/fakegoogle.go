// Package fakegoogle is an in-process fake of the Google Admin SDK Directory
// API and of Google's OAuth 2.0 token endpoint, for tests of
// connector/google through the real google.golang.org/api client.
//
// It serves users.list, groups.list, members.list and orgunits.list in the
// real JSON shape, with opaque page tokens, maxResults (capped as Google
// caps it), and errors in Google's JSON error format. Its token endpoint
// implements the JWT-bearer grant that domain-wide delegation uses: it
// verifies the assertion's RS256 signature against the registered key,
// checks that sub is the configured admin and that every requested scope is
// delegated, and issues an access token; API requests without a valid
// bearer token get 401, and requests whose token lacks the API's scope get
// 403. Faults (rate limits, 5xx, dropped connections) can be injected for
// the next N requests.
//
// groups.list takes the query parameter as "Search for groups" documents
// it: name and email with = (exact) or :{PREFIX}* (starts with; there is
// no substring search for groups), memberKey, single-quoted values; see
// groupquery.go.
//
// A users(…) fields parameter (partial response,
// https://developers.google.com/workspace/admin/directory/v1/guides/performance#partial-response)
// keeps only the named top-level fields of each user. Fields records the
// fields parameter of every request and BytesServed counts the response
// bytes, so tests can assert what a client asked for and what it cost.
package fakegoogle

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// The scopes the fake knows, as Google spells them.
const (
	ScopeUserReadonly        = "https://www.googleapis.com/auth/admin.directory.user.readonly"
	ScopeGroupReadonly       = "https://www.googleapis.com/auth/admin.directory.group.readonly"
	ScopeGroupMemberReadonly = "https://www.googleapis.com/auth/admin.directory.group.member.readonly"
	ScopeOrgUnitReadonly     = "https://www.googleapis.com/auth/admin.directory.orgunit.readonly"
)

// AllScopes lists the four read-only scopes.
var AllScopes = []string{ScopeUserReadonly, ScopeGroupReadonly, ScopeGroupMemberReadonly, ScopeOrgUnitReadonly}

// User is a directory user. Extra holds further fields of the user
// resource (e.g. "customSchemas", "emails") copied into the JSON as is.
type User struct {
	ID           string
	PrimaryEmail string
	GivenName    string
	FamilyName   string
	OrgUnitPath  string
	Suspended    bool
	Archived     bool
	Title        string
	Department   string
	WorkPhone    string
	Manager      string // the manager's email
	Extra        map[string]any
}

// Group is a directory group.
type Group struct {
	ID, Email, Name string
}

// Member is one membership; Type is "USER", "GROUP" or "CUSTOMER".
type Member struct {
	ID, Email, Type string
}

// Fault is an injected failure.
type Fault int

// The faults FailNext can inject.
const (
	RateLimit     Fault = iota // 403 rateLimitExceeded
	UserRateLimit              // 403 userRateLimitExceeded
	QuotaExceeded              // 403 quotaExceeded
	TooMany                    // 429 with Retry-After: 1
	Unavailable                // 503 backendError
	Drop                       // 200 headers and half a body, then the connection closes
)

// Server is the fake. Create it with New; it is safe for concurrent use.
type Server struct {
	*httptest.Server

	mu        sync.Mutex
	users     []*User
	userIdx   map[string]int       // ID → index in users
	rendered  map[renderKey][]byte // a user's JSON, cached until it changes
	groups    []*Group
	members   map[string][]Member
	orgUnits  []string
	key       *rsa.PublicKey
	admin     string
	delegated []string
	tokens    map[string][]string
	nextTok   int
	faults    []*Fault // nil: let the request through
	tokenFail []TokenFault
	count     map[string]int
	queries   map[string]url.Values
	fields    map[string][]string
	bytes     atomic.Int64
}

// New starts a fake whose only admin is admin and whose domain-wide
// delegation grants every scope in AllScopes. Close it when done.
func New(admin string) *Server {
	s := &Server{admin: admin, delegated: slices.Clone(AllScopes), members: map[string][]Member{}, userIdx: map[string]int{}, rendered: map[renderKey][]byte{},
		tokens: map[string][]string{}, count: map[string]int{}, queries: map[string]url.Values{}, fields: map[string][]string{}}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

// TokenURL is the OAuth token endpoint, for a key's token_uri.
func (s *Server) TokenURL() string { return s.URL + "/token" }

// ServiceAccountJSON returns a service-account key file for key with its
// token_uri pointing at the fake, and registers key's public half as the
// one the fake trusts.
func (s *Server) ServiceAccountJSON(key *rsa.PrivateKey) []byte {
	s.mu.Lock()
	s.key = &key.PublicKey
	s.mu.Unlock()
	return ServiceAccountJSON(key, s.TokenURL())
}

// ServiceAccountJSON builds a key file for key with the given token_uri.
func ServiceAccountJSON(key *rsa.PrivateKey, tokenURI string) []byte {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		panic(err)
	}
	b, _ := json.Marshal(map[string]string{
		"type":           "service_account",
		"project_id":     "dirsync-test",
		"private_key_id": "fake-key-1",
		"private_key":    string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		"client_email":   "dirsync@dirsync-test.iam.gserviceaccount.com",
		"client_id":      "123456789012345678901",
		"token_uri":      tokenURI,
	})
	return b
}

// NewKey generates an RSA key for a test service account.
func NewKey() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
}

// RevokeKey forgets the registered key, as deleting it in the Cloud console
// does: token requests signed with it fail with invalid_grant.
func (s *Server) RevokeKey() { s.mu.Lock(); s.key = nil; s.mu.Unlock() }

// SetDelegatedScopes replaces the scopes domain-wide delegation grants.
func (s *Server) SetDelegatedScopes(scopes ...string) {
	s.mu.Lock()
	s.delegated = slices.Clone(scopes)
	s.mu.Unlock()
}

// StaticToken issues an access token carrying scopes (all four when none
// are given), for clients configured with an oauth2.TokenSource.
func (s *Server) StaticToken(scopes ...string) string {
	if len(scopes) == 0 {
		scopes = AllScopes
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.issue(scopes)
}

func (s *Server) issue(scopes []string) string {
	s.nextTok++
	t := "ya29.fake-" + strconv.Itoa(s.nextTok)
	s.tokens[t] = slices.Clone(scopes)
	return t
}

// AddUser adds or replaces a user (by ID).
func (s *Server) AddUser(u User) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if i, ok := s.userIdx[u.ID]; ok {
		s.forget(s.users[i])
		s.users[i] = &u
		return
	}
	s.userIdx[u.ID] = len(s.users)
	s.users = append(s.users, &u)
}

// UpdateUser changes a user in place; it reports whether the user exists.
func (s *Server) UpdateUser(id string, f func(*User)) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	i, ok := s.userIdx[id]
	if ok {
		s.forget(s.users[i])
		f(s.users[i])
	}
	return ok
}

// DeleteUser removes a user and its memberships.
func (s *Server) DeleteUser(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.users = slices.DeleteFunc(s.users, func(u *User) bool { return u.ID == id })
	clear(s.userIdx)
	clear(s.rendered)
	for i, u := range s.users {
		s.userIdx[u.ID] = i
	}
	for g, ms := range s.members {
		s.members[g] = slices.DeleteFunc(ms, func(m Member) bool { return m.ID == id })
	}
}

// AddGroup adds a group.
func (s *Server) AddGroup(g Group) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.groups = append(s.groups, &g)
}

// AddMember adds a member (a user or group ID) to group.
func (s *Server) AddMember(group string, m Member) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.members[group] = append(s.members[group], m)
}

// RemoveMember removes member (a user or group ID) from group; it reports
// whether the membership existed.
func (s *Server) RemoveMember(group, member string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := len(s.members[group])
	s.members[group] = slices.DeleteFunc(s.members[group], func(m Member) bool { return m.ID == member })
	return len(s.members[group]) < n
}

// UpdateGroup changes a group in place (its ID must stay); it reports
// whether the group exists.
func (s *Server) UpdateGroup(id string, f func(*Group)) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, g := range s.groups {
		if g.ID == id {
			f(g)
			g.ID = id
			return true
		}
	}
	return false
}

// DeleteGroup removes a group, its member list and its membership in
// other groups, as deleting a group in the Admin console does.
func (s *Server) DeleteGroup(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.groups = slices.DeleteFunc(s.groups, func(g *Group) bool { return g.ID == id })
	delete(s.members, id)
	for g, ms := range s.members {
		s.members[g] = slices.DeleteFunc(ms, func(m Member) bool { return m.ID == id })
	}
}

// AddOrgUnit adds an org unit path such as "/Sales".
func (s *Server) AddOrgUnit(path string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.orgUnits = append(s.orgUnits, path)
}

// FailNext makes the next n API requests (not token requests) fail with f.
func (s *Server) FailNext(n int, f Fault) { s.FailAfter(0, n, f) }

// FailAfter lets skip API requests through, then fails the n after them
// with f. Faults queue: a second call applies after the first's.
func (s *Server) FailAfter(skip, n int, f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range skip {
		s.faults = append(s.faults, nil)
	}
	for range n {
		s.faults = append(s.faults, &f)
	}
}

// FailTokenNext makes the next n token requests fail with 503.
func (s *Server) FailTokenNext(n int) {
	s.FailTokenNextWith(n, TokenFault{Status: http.StatusServiceUnavailable, Error: "internal_failure", Description: "Backend Error"})
}

// TokenFault is an answer of the token endpoint: an HTTP status and, when
// Error is set, an OAuth 2.0 error body {"error": …, "error_description":
// …} (RFC 6749 §5.2). Google's token endpoint answers refusals of a
// service account's JWT-bearer grant with such bodies: invalid_grant,
// unauthorized_client, access_denied, admin_policy_enforced,
// invalid_client, invalid_scope, disabled_client, org_internal (see
// https://developers.google.com/identity/protocols/oauth2/service-account#error-codes).
// With Error empty the body is Body as is (an HTML error page, say), and
// RetryAfter, when set, is sent as the Retry-After header.
type TokenFault struct {
	Status      int
	Error       string
	Description string
	Body        string
	RetryAfter  string
}

// FailTokenNextWith makes the next n token requests answer f. Faults
// queue after those already injected.
func (s *Server) FailTokenNextWith(n int, f TokenFault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.tokenFail = append(s.tokenFail, f)
	}
}

// TokenFaultsLeft returns how many injected token faults are still queued.
func (s *Server) TokenFaultsLeft() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.tokenFail)
}

// Requests returns how many requests reached an endpoint: "token",
// "users", "groups", "members" or "orgunits" (faulted ones included).
func (s *Server) Requests(endpoint string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.count[endpoint]
}

// LastQuery returns the query parameters of the last request to endpoint.
func (s *Server) LastQuery(endpoint string) url.Values {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.queries[endpoint]
}

// Fields returns the fields parameter (partial response) of every request
// to endpoint, in the order they arrived; "" for a request without one.
func (s *Server) Fields(endpoint string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.fields[endpoint])
}

// BytesServed returns the bytes of the response bodies served, token
// endpoint included.
func (s *Server) BytesServed() int64 { return s.bytes.Load() }

// ResetCounts zeroes the request and byte counters and forgets the
// recorded queries and fields.
func (s *Server) ResetCounts() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.count)
	clear(s.queries)
	clear(s.fields)
	s.bytes.Store(0)
}

// countingWriter adds the bytes of a response body to *n.
type countingWriter struct {
	http.ResponseWriter
	n *atomic.Int64
}

func (w countingWriter) Write(b []byte) (int, error) {
	n, err := w.ResponseWriter.Write(b)
	w.n.Add(int64(n))
	return n, err
}

// WriteError writes an error in Google's JSON error format.
func WriteError(w http.ResponseWriter, code int, reason, status, message string) {
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{
		"code":    code,
		"message": message,
		"errors":  []map[string]string{{"message": message, "domain": "global", "reason": reason}},
		"status":  status,
	}})
}

func (s *Server) serve(rw http.ResponseWriter, r *http.Request) {
	w := countingWriter{rw, &s.bytes}
	if r.URL.Path == "/token" {
		s.token(w, r)
		return
	}
	const prefix = "/admin/directory/v1/"
	if !strings.HasPrefix(r.URL.Path, prefix) {
		WriteError(w, 404, "notFound", "NOT_FOUND", "no such endpoint")
		return
	}
	parts := strings.Split(strings.TrimPrefix(r.URL.Path, prefix), "/")
	var endpoint, scope string
	switch {
	case len(parts) == 1 && parts[0] == "users":
		endpoint, scope = "users", ScopeUserReadonly
	case len(parts) == 2 && parts[0] == "users":
		endpoint, scope = "user", ScopeUserReadonly
	case len(parts) == 1 && parts[0] == "groups":
		endpoint, scope = "groups", ScopeGroupReadonly
	case len(parts) == 3 && parts[0] == "groups" && parts[2] == "members":
		endpoint, scope = "members", ScopeGroupMemberReadonly
	case len(parts) == 3 && parts[0] == "customer" && parts[2] == "orgunits":
		endpoint, scope = "orgunits", ScopeOrgUnitReadonly
	default:
		WriteError(w, 404, "notFound", "NOT_FOUND", "no such endpoint")
		return
	}
	q := r.URL.Query()

	s.mu.Lock()
	s.count[endpoint]++
	s.queries[endpoint] = q
	s.fields[endpoint] = append(s.fields[endpoint], q.Get("fields"))
	var fault *Fault
	if len(s.faults) > 0 {
		fault = s.faults[0]
		s.faults = s.faults[1:]
	}
	tok, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	scopes, known := s.tokens[tok]
	s.mu.Unlock()

	if !known {
		WriteError(w, 401, "authError", "UNAUTHENTICATED", "Request had invalid authentication credentials.")
		return
	}
	// The member scope is enough for members; the group scope also covers it.
	ok := slices.Contains(scopes, scope) || endpoint == "members" && slices.Contains(scopes, ScopeGroupReadonly)
	if !ok {
		WriteError(w, 403, "insufficientPermissions", "PERMISSION_DENIED", "Request had insufficient authentication scopes.")
		return
	}
	if fault != nil {
		s.fail(rw, *fault)
		return
	}
	switch endpoint {
	case "users":
		s.listUsers(w, q)
	case "user":
		s.getUser(w, q, parts[1])
	case "groups":
		s.listGroups(w, q)
	case "members":
		s.listMembers(w, q, parts[1])
	case "orgunits":
		s.listOrgUnits(w)
	}
}

func (s *Server) fail(w http.ResponseWriter, f Fault) {
	switch f {
	case RateLimit:
		WriteError(w, 403, "rateLimitExceeded", "PERMISSION_DENIED", "Rate Limit Exceeded")
	case UserRateLimit:
		WriteError(w, 403, "userRateLimitExceeded", "PERMISSION_DENIED", "User Rate Limit Exceeded")
	case QuotaExceeded:
		WriteError(w, 403, "quotaExceeded", "PERMISSION_DENIED", "Quota exceeded for quota metric 'Queries'")
	case TooMany:
		w.Header().Set("Retry-After", "1")
		WriteError(w, 429, "rateLimitExceeded", "RESOURCE_EXHAUSTED", "Too many requests")
	case Unavailable:
		WriteError(w, 503, "backendError", "UNAVAILABLE", "The service is currently unavailable.")
	case Drop:
		conn, buf, err := w.(http.Hijacker).Hijack()
		if err != nil {
			return
		}
		_, _ = buf.WriteString("HTTP/1.1 200 OK\r\nContent-Type: application/json; charset=UTF-8\r\nContent-Length: 4096\r\n\r\n{\"kind\": \"admin#directory#users\", \"users\": [{\"id\": ")
		_ = buf.Flush()
		_ = conn.Close()
	}
}

// page slices n items by the request's pageToken and maxResults (default
// def, at most max), returning the range and the next token.
func page(q url.Values, n, def, max int) (lo, hi int, next string, err error) {
	size := def
	if v := q.Get("maxResults"); v != "" {
		size, err = strconv.Atoi(v)
		if err != nil || size < 1 {
			return 0, 0, "", fmt.Errorf("invalid maxResults %q", v)
		}
	}
	size = min(size, max)
	if t := q.Get("pageToken"); t != "" {
		b, err := base64.RawURLEncoding.DecodeString(t)
		off, err2 := strconv.Atoi(strings.TrimPrefix(string(b), "offset:"))
		if err != nil || err2 != nil || off < 0 || off > n {
			return 0, 0, "", fmt.Errorf("invalid pageToken")
		}
		lo = off
	}
	hi = min(lo+size, n)
	if hi < n {
		next = base64.RawURLEncoding.EncodeToString([]byte("offset:" + strconv.Itoa(hi)))
	}
	return lo, hi, next, nil
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	_ = json.NewEncoder(w).Encode(v)
}

func (u *User) resource() map[string]any {
	m := map[string]any{
		"kind":         "admin#directory#user",
		"id":           u.ID,
		"primaryEmail": u.PrimaryEmail,
		"name": map[string]any{"givenName": u.GivenName, "familyName": u.FamilyName,
			"fullName": strings.TrimSpace(u.GivenName + " " + u.FamilyName)},
		"suspended":   u.Suspended,
		"archived":    u.Archived,
		"orgUnitPath": cmpOr(u.OrgUnitPath, "/"),
		"emails":      []any{map[string]any{"address": u.PrimaryEmail, "primary": true}},
	}
	if u.Title != "" || u.Department != "" {
		m["organizations"] = []any{map[string]any{"title": u.Title, "department": u.Department, "primary": true, "customType": ""}}
	}
	if u.WorkPhone != "" {
		m["phones"] = []any{map[string]any{"value": u.WorkPhone, "type": "work"}}
	}
	if u.Manager != "" {
		m["relations"] = []any{map[string]any{"value": u.Manager, "type": "manager"}}
	}
	for k, v := range u.Extra {
		m[k] = v
	}
	b, _ := json.Marshal(m)
	sum := sha256.Sum256(b)
	m["etag"] = `"` + base64.RawURLEncoding.EncodeToString(sum[:12]) + `"`
	return m
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// matchQuery implements the one query form the fake understands,
// orgUnitPath='/X' (which also matches the org units below /X).
func matchQuery(query string, u *User) bool {
	if query == "" {
		return true
	}
	v, ok := strings.CutPrefix(query, "orgUnitPath=")
	if !ok {
		return false
	}
	v = strings.Trim(v, `'"`)
	p := cmpOr(u.OrgUnitPath, "/")
	return p == v || strings.HasPrefix(p, strings.TrimSuffix(v, "/")+"/")
}

type renderKey struct {
	u      *User
	fields string
}

func (s *Server) forget(u *User) {
	for k := range s.rendered {
		if k.u == u {
			delete(s.rendered, k)
		}
	}
}

// selectFields applies a partial-response fields parameter such as
// "nextPageToken,users(id,name,emails)" to one user resource: only the
// top-level fields named inside users(…) are kept (kind is always kept).
// Without a users(…) selector the resource is returned whole.
func selectFields(m map[string]any, fields string) map[string]any {
	_, inner, ok := strings.Cut(fields, "users(")
	if !ok {
		return m
	}
	inner, _, _ = strings.Cut(inner, ")")
	keep := map[string]bool{"kind": true}
	for _, f := range strings.Split(inner, ",") {
		f, _, _ = strings.Cut(strings.TrimSpace(f), "/")
		keep[f] = true
	}
	for k := range m {
		if !keep[k] {
			delete(m, k)
		}
	}
	return m
}

// getUser answers users.get by ID or primary email.
func (s *Server) getUser(w http.ResponseWriter, q url.Values, key string) {
	s.mu.Lock()
	var found *User
	for _, u := range s.users {
		if u.ID == key || strings.EqualFold(u.PrimaryEmail, key) {
			found = u
		}
	}
	var b []byte
	if found != nil {
		b, _ = json.Marshal(selectFields(found.resource(), q.Get("fields")))
	}
	s.mu.Unlock()
	if found == nil {
		WriteError(w, 404, "notFound", "NOT_FOUND", "Resource Not Found: userKey")
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	_, _ = w.Write(b)
}

func (s *Server) listUsers(w http.ResponseWriter, q url.Values) {
	if q.Get("customer") == "" && q.Get("domain") == "" {
		WriteError(w, 400, "badRequest", "INVALID_ARGUMENT", "Bad Request")
		return
	}
	if qs := q.Get("query"); qs != "" && !strings.HasPrefix(qs, "orgUnitPath=") {
		WriteError(w, 400, "invalid", "INVALID_ARGUMENT", "Invalid Input")
		return
	}
	s.mu.Lock()
	var sel []*User
	for _, u := range s.users {
		if matchQuery(q.Get("query"), u) {
			sel = append(sel, u)
		}
	}
	lo, hi, next, err := page(q, len(sel), 100, 500)
	var buf bytes.Buffer
	if err == nil {
		buf.WriteString(`{"kind":"admin#directory#users","etag":"\"list\"","users":[`)
		for i, u := range sel[lo:hi] {
			if i > 0 {
				buf.WriteByte(',')
			}
			key := renderKey{u, q.Get("fields")}
			b, ok := s.rendered[key]
			if !ok {
				b, _ = json.Marshal(selectFields(u.resource(), key.fields))
				s.rendered[key] = b
			}
			buf.Write(b)
		}
		buf.WriteByte(']')
		if next != "" {
			buf.WriteString(`,"nextPageToken":"` + next + `"`)
		}
		buf.WriteString("}\n")
	}
	s.mu.Unlock()
	if err != nil {
		WriteError(w, 400, "invalid", "INVALID_ARGUMENT", err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	_, _ = w.Write(buf.Bytes())
}

func (s *Server) listGroups(w http.ResponseWriter, q url.Values) {
	clauses, err := parseGroupQuery(q.Get("query"))
	if err != nil {
		WriteError(w, 400, "invalid", "INVALID_ARGUMENT", "Invalid Input")
		return
	}
	s.mu.Lock()
	var sel []*Group
	for _, g := range s.groups {
		if s.matchGroup(clauses, g) {
			sel = append(sel, g)
		}
	}
	lo, hi, next, err := page(q, len(sel), 200, 200)
	var out []any
	if err == nil {
		for _, g := range sel[lo:hi] {
			out = append(out, map[string]any{"kind": "admin#directory#group", "id": g.ID,
				"email": g.Email, "name": g.Name, "etag": `"g-` + g.ID + `"`})
		}
	}
	s.mu.Unlock()
	if err != nil {
		WriteError(w, 400, "invalid", "INVALID_ARGUMENT", err.Error())
		return
	}
	resp := map[string]any{"kind": "admin#directory#groups", "groups": out}
	if next != "" {
		resp["nextPageToken"] = next
	}
	writeJSON(w, resp)
}

func (s *Server) listMembers(w http.ResponseWriter, q url.Values, group string) {
	s.mu.Lock()
	found := slices.ContainsFunc(s.groups, func(g *Group) bool { return g.ID == group || g.Email == group })
	ms := s.members[group]
	lo, hi, next, err := page(q, len(ms), 200, 200)
	var out []any
	if err == nil {
		for _, m := range ms[lo:hi] {
			out = append(out, map[string]any{"kind": "admin#directory#member", "id": m.ID,
				"email": m.Email, "type": m.Type, "role": "MEMBER", "status": "ACTIVE"})
		}
	}
	s.mu.Unlock()
	if !found {
		WriteError(w, 404, "notFound", "NOT_FOUND", "Resource Not Found: groupKey")
		return
	}
	if err != nil {
		WriteError(w, 400, "invalid", "INVALID_ARGUMENT", err.Error())
		return
	}
	resp := map[string]any{"kind": "admin#directory#members", "members": out}
	if next != "" {
		resp["nextPageToken"] = next
	}
	writeJSON(w, resp)
}

func (s *Server) listOrgUnits(w http.ResponseWriter) {
	s.mu.Lock()
	var out []any
	for _, p := range s.orgUnits {
		name := p[strings.LastIndex(p, "/")+1:]
		out = append(out, map[string]any{"kind": "admin#directory#orgUnit", "name": name,
			"orgUnitPath": p, "orgUnitId": "id:" + strings.TrimPrefix(p, "/"), "parentOrgUnitPath": cmpOr(p[:strings.LastIndex(p, "/")], "/")})
	}
	s.mu.Unlock()
	writeJSON(w, map[string]any{"kind": "admin#directory#orgUnits", "organizationUnits": out})
}

// token implements the JWT-bearer grant (RFC 7523) as Google's token
// endpoint does for service accounts.
func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.count["token"]++
	key, admin, delegated := s.key, s.admin, slices.Clone(s.delegated)
	var fault *TokenFault
	if len(s.tokenFail) > 0 {
		fault = &s.tokenFail[0]
		s.tokenFail = s.tokenFail[1:]
	}
	s.mu.Unlock()
	if fault != nil {
		if fault.RetryAfter != "" {
			w.Header().Set("Retry-After", fault.RetryAfter)
		}
		if fault.Error == "" {
			w.Header().Set("Content-Type", "text/html; charset=UTF-8")
			w.WriteHeader(fault.Status)
			_, _ = w.Write([]byte(fault.Body))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(fault.Status)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": fault.Error, "error_description": fault.Description})
		return
	}
	oauthErr := func(code int, e, desc string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": e, "error_description": desc})
	}
	if err := r.ParseForm(); err != nil || r.PostForm.Get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer" {
		oauthErr(400, "unsupported_grant_type", "Invalid grant_type")
		return
	}
	parts := strings.Split(r.PostForm.Get("assertion"), ".")
	if len(parts) != 3 {
		oauthErr(400, "invalid_grant", "Invalid JWT")
		return
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		oauthErr(400, "invalid_grant", "Invalid JWT Signature.")
		return
	}
	digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if key == nil || rsa.VerifyPKCS1v15(key, crypto.SHA256, digest[:], sig) != nil {
		oauthErr(400, "invalid_grant", "Invalid JWT Signature.")
		return
	}
	body, err := base64.RawURLEncoding.DecodeString(parts[1])
	var claims struct {
		Iss, Sub, Aud, Scope string
	}
	if err != nil || json.Unmarshal(body, &claims) != nil {
		oauthErr(400, "invalid_grant", "Invalid JWT")
		return
	}
	if claims.Sub != admin {
		// Google answers a subject that does not exist or is not an admin
		// with invalid_grant.
		oauthErr(400, "invalid_grant", "Invalid email or User ID")
		return
	}
	scopes := strings.Fields(claims.Scope)
	for _, sc := range scopes {
		if !slices.Contains(delegated, sc) {
			oauthErr(401, "unauthorized_client", "Client is unauthorized to retrieve access tokens using this method, or client not authorized for any of the scopes requested.")
			return
		}
	}
	s.mu.Lock()
	tok := s.issue(scopes)
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"access_token": tok, "token_type": "Bearer", "expires_in": 3599})
}
