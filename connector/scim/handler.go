package scim

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	filter "github.com/scim2/filter-parser/v2"
)

const contentType = "application/scim+json"

// ServeHTTP implements http.Handler. Mount it under the integration's base
// path with http.StripPrefix (or not: the handler finds its endpoint in
// the last path segments).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rw := &statusWriter{ResponseWriter: w}
	endpoint, id := route(r.URL.Path)
	defer func() {
		if v := recover(); v != nil {
			s.log.ErrorContext(r.Context(), "scim: handler panicked", "method", r.Method, "endpoint", endpoint, "panic", fmt.Sprint(v))
			if rw.status == 0 {
				writeError(rw, http.StatusInternalServerError, "", "internal error")
			}
		}
		status := rw.status
		if status == 0 {
			status = http.StatusOK // what net/http sends for a handler that wrote nothing
		}
		level := slog.LevelInfo
		if status >= 400 {
			level = slog.LevelWarn
		}
		s.log.Log(r.Context(), level, "scim request", "method", r.Method, "endpoint", endpoint, "id", id,
			"status", status, "duration", time.Since(start))
	}()
	if err := s.catchUp(r.Context()); err != nil {
		// Shared resources that cannot be read: answering from what this
		// replica last saw could undo what another acknowledged, or
		// accept a revoked token. Providers retry a 503.
		s.log.ErrorContext(r.Context(), "scim: request refused", "err", err)
		rw.Header().Set("Retry-After", "5")
		writeError(rw, http.StatusServiceUnavailable, "", "the resources cannot be read now; retry later")
		return
	}
	if !s.authorized(r.Header.Get("Authorization")) {
		rw.Header().Set("WWW-Authenticate", `Bearer realm="SCIM", error="invalid_token"`)
		writeError(rw, http.StatusUnauthorized, "", "a valid bearer token is required")
		return
	}
	base := s.base(r, endpoint, id)
	switch endpoint {
	case "Users", "Groups":
		rt := s.user
		if endpoint == "Groups" {
			rt = s.group
		}
		s.serveResource(rw, r, rt, id, base)
	case "ServiceProviderConfig", "ResourceTypes", "Schemas":
		if r.Method != http.MethodGet {
			writeError(rw, http.StatusNotImplemented, "", "only GET is supported on "+endpoint)
			return
		}
		s.serveDiscovery(rw, endpoint, id, base)
	case "Bulk", "Me", ".search":
		writeError(rw, http.StatusNotImplemented, "", endpoint+" is not supported")
	default:
		writeError(rw, http.StatusNotFound, "", "no such endpoint")
	}
}

var endpoints = []string{"Users", "Groups", "ServiceProviderConfig", "ResourceTypes", "Schemas", "Bulk", "Me"}

// route finds the endpoint in the last two path segments, and the id
// after it.
func route(path string) (endpoint, id string) {
	parts := strings.Split(strings.Trim(path, "/"), "/")
	for _, p := range parts {
		if p == "." || p == ".." {
			// A dot segment (also sent percent-encoded, or through a
			// router that does not clean paths) names no resource:
			// /Users/../Groups/{id} must not reach a group.
			return "", ""
		}
	}
	match := func(seg string) string {
		for _, e := range endpoints {
			if strings.EqualFold(seg, e) {
				return e
			}
		}
		return ""
	}
	n := len(parts)
	if n >= 1 {
		if e := match(parts[n-1]); e != "" {
			return e, ""
		}
		if strings.EqualFold(parts[n-1], ".search") {
			return ".search", ""
		}
	}
	if n >= 2 {
		if e := match(parts[n-2]); e != "" {
			return e, parts[n-1]
		}
	}
	return "", ""
}

// base returns the URL the handler is mounted at.
func (s *Server) base(r *http.Request, endpoint, id string) string {
	if s.baseURL != "" {
		return s.baseURL
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	p := r.URL.Path
	if u, err := url.ParseRequestURI(r.RequestURI); err == nil && r.RequestURI != "" {
		p = u.Path
	}
	p = strings.TrimRight(p, "/")
	if id != "" {
		p = strings.TrimSuffix(p, "/"+id)
	}
	if i := strings.LastIndex(strings.ToLower(p), "/"+strings.ToLower(endpoint)); i >= 0 && endpoint != "" {
		p = p[:i]
	}
	return scheme + "://" + r.Host + p
}

func (s *Server) serveResource(w http.ResponseWriter, r *http.Request, rt *resourceType, id, base string) {
	ctx := r.Context()
	// attributes and excludedAttributes apply to every response that
	// returns a resource (RFC 7644 section 3.9), and are checked before
	// anything is written.
	proj, err := rt.parseProjection(foldQuery(r.URL.Query()))
	if err != nil {
		writeErr(w, err)
		return
	}
	switch {
	case id == "" && r.Method == http.MethodGet:
		s.list(w, r, rt, base)
	case id == "" && r.Method == http.MethodPost:
		body, err := s.readBody(w, r)
		if err != nil {
			writeErr(w, err)
			return
		}
		// Normalised before the write lock: it depends on the body alone.
		doc, nerr := rt.normalizeResource(body)
		rec, _, err := s.write(ctx, rt, "", func(*record) (map[string]any, error) { return doc, nerr })
		if err == nil {
			s.logUndeclared(ctx, rt, rec)
		}
		if err != nil {
			s.writeFailure(ctx, w, err)
			return
		}
		s.changed(ctx)
		loc := base + rt.endpoint + "/" + rec.ID
		w.Header().Set("Location", loc)
		s.writeResource(w, http.StatusCreated, rt, rec, base, proj)
	case id == "":
		writeError(w, http.StatusNotImplemented, "", "use GET or POST on "+rt.endpoint)
	case r.Method == http.MethodGet:
		var rec *record
		if err := s.read(ctx, func() { rec = s.lookup(rt, id) }); err != nil {
			s.writeFailure(ctx, w, err)
			return
		}
		if rec == nil {
			writeError(w, http.StatusNotFound, "", rt.name+" not found")
			return
		}
		s.writeResource(w, http.StatusOK, rt, rec, base, proj)
	case r.Method == http.MethodPut:
		body, err := s.readBody(w, r)
		if err != nil {
			writeErr(w, err)
			return
		}
		doc, nerr := rt.normalizeResource(body)
		rec, changed, err := s.write(ctx, rt, id, func(*record) (map[string]any, error) { return doc, nerr })
		if err != nil {
			s.writeFailure(ctx, w, err)
			return
		}
		s.logUndeclared(ctx, rt, rec)
		if changed {
			s.changed(ctx)
		}
		s.writeResource(w, http.StatusOK, rt, rec, base, proj)
	case r.Method == http.MethodPatch:
		body, err := s.readBody(w, r)
		if err != nil {
			writeErr(w, err)
			return
		}
		ops, err := rt.parsePatch(body)
		if err != nil {
			writeErr(w, err)
			return
		}
		rec, changed, err := s.write(ctx, rt, id, func(cur *record) (map[string]any, error) { return rt.applyPatch(cur.doc, ops) })
		if err != nil {
			s.writeFailure(ctx, w, err)
			return
		}
		s.logUndeclared(ctx, rt, rec)
		if changed {
			s.changed(ctx)
		}
		s.writeResource(w, http.StatusOK, rt, rec, base, proj)
	case r.Method == http.MethodDelete:
		if _, _, err := s.write(ctx, rt, id, func(*record) (map[string]any, error) { return nil, nil }); err != nil {
			s.writeFailure(ctx, w, err)
			return
		}
		s.changed(ctx)
		w.WriteHeader(http.StatusNoContent)
	default:
		writeError(w, http.StatusNotImplemented, "", "use GET, PUT, PATCH or DELETE on "+rt.endpoint+"/{id}")
	}
}

// readBody reads a JSON object body of at most MaxBodyBytes.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) (map[string]any, error) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.maxBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, &protoError{status: http.StatusRequestEntityTooLarge, detail: "the body is larger than " + strconv.FormatInt(s.maxBody, 10) + " bytes"}
		}
		return nil, badRequest(scimInvalidSyntax, "the body cannot be read")
	}
	return decodeJSON(b)
}

// writeFailure answers a failed write: the client's error as it is, a
// store failure as 500 without its detail (logged instead).
func (s *Server) writeFailure(ctx context.Context, w http.ResponseWriter, err error) {
	var pe *protoError
	if errors.As(err, &pe) {
		writeErr(w, err)
		return
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		// A read that waited for writes in flight, given up by the client.
		s.log.WarnContext(ctx, "scim: request given up", "err", err)
		writeError(w, http.StatusServiceUnavailable, "", "the request was given up")
		return
	}
	s.log.ErrorContext(ctx, "scim: write failed", "err", err)
	writeError(w, http.StatusInternalServerError, "", "the change could not be stored; nothing was changed")
}

func (s *Server) list(w http.ResponseWriter, r *http.Request, rt *resourceType, base string) {
	q := foldQuery(r.URL.Query()) // unknown parameters, such as Entra's aadOptscim062020, are ignored
	var expr filter.Expression
	if fs, given := q["filter"]; given {
		// A filter given empty, or twice, is refused: answering it with a
		// full listing (or with one of the two) would tell a provider
		// probing before a create that someone else is its user.
		f := strings.TrimSpace(fs[0])
		switch {
		case len(fs) > 1:
			writeError(w, http.StatusBadRequest, scimInvalidFilter, "give one filter")
			return
		case f == "":
			writeError(w, http.StatusBadRequest, scimInvalidFilter, "the filter is empty")
			return
		}
		var err error
		if expr, err = rt.parseFilter(f); err != nil {
			writeErr(w, err)
			return
		}
	}
	start, err := intParam(q, "startindex", 1)
	if err != nil {
		writeErr(w, err)
		return
	}
	start = max(start, 1)
	count, err := intParam(q, "count", s.maxPage)
	if err != nil {
		writeErr(w, err)
		return
	}
	count = min(max(count, 0), s.maxPage)
	proj, err := rt.parseProjection(q)
	if err != nil {
		writeErr(w, err)
		return
	}
	var hits []*record
	if u, ok := nameEq(rt, expr); ok {
		// The probe before a create (Entra, Okta): an index lookup,
		// with the comparison the filter would make (foldName).
		err := s.read(r.Context(), func() {
			hits = hits[:0]
			if k := nameKeyOf(rt.name, map[string]any{"userName": u, "displayName": u}); k != "" {
				if id, taken := s.names[k]; taken {
					hits = append(hits, s.recs[s.index[id]])
				}
			}
		})
		if err != nil {
			s.writeFailure(r.Context(), w, err)
			return
		}
	} else {
		recs, _, err := s.snapshot(r.Context())
		if err != nil {
			s.writeFailure(r.Context(), w, err)
			return
		}
		match := func(*record) bool { return true }
		if expr != nil {
			match = rt.compileFilter(expr)
		}
		for _, rec := range recs {
			if rec.Deleted || rec.Type != rt.name {
				continue
			}
			if match(rec) {
				hits = append(hits, rec)
			}
		}
	}
	page := []any{}
	for i := start - 1; i < len(hits) && len(page) < count; i++ {
		page = append(page, s.render(rt, hits[i], base, proj))
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"schemas": []string{urnListResponse}, "totalResults": len(hits),
		"startIndex": start, "itemsPerPage": len(page), "Resources": page,
	})
}

// nameEq reports a filter that is exactly userName eq "…" on users or
// displayName eq "…" on groups.
func nameEq(rt *resourceType, e filter.Expression) (string, bool) {
	x, ok := e.(*filter.AttributeExpression)
	field := "userName"
	if rt.name == groupType.name {
		field = "displayName"
	}
	if !ok || x.Operator != filter.EQ || x.AttributePath.SubAttribute != nil ||
		!strings.EqualFold(x.AttributePath.AttributeName, field) ||
		(x.AttributePath.URIPrefix != nil && !strings.EqualFold(*x.AttributePath.URIPrefix, rt.core.id)) {
		return "", false
	}
	v, ok := x.CompareValue.(string)
	return v, ok && strings.TrimSpace(v) != ""
}

// foldQuery returns the query with its parameter names in lower case, the
// values of names that differ only in case together: FILTER= is a filter
// too, never ignored into a full listing.
func foldQuery(q url.Values) url.Values {
	out := make(url.Values, len(q))
	for _, k := range sortedKeys(q) {
		lk := strings.ToLower(k)
		out[lk] = append(out[lk], q[k]...)
	}
	return out
}

func intParam(q url.Values, name string, def int) (int, error) {
	v := strings.TrimSpace(q.Get(name))
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, badRequest(scimInvalidValue, "%s must be an integer", name)
	}
	return n, nil
}

// projection is the attributes / excludedAttributes of a request (RFC
// 7644 section 3.9), by lower-case top-level name.
type projection struct {
	only    map[string]bool
	exclude map[string]bool
}

func (rt *resourceType) parseProjection(q url.Values) (*projection, error) {
	split := func(v string) map[string]bool {
		if strings.TrimSpace(v) == "" {
			return nil
		}
		m := map[string]bool{}
		for _, p := range strings.Split(v, ",") {
			p = strings.ToLower(strings.TrimSpace(p))
			if rt.ext(p) != nil || isExtensionURN(p) || isUndeclaredURN(rt, p) {
				m[p] = true // the whole extension
				continue
			}
			// urn:…:User:department → department; name.givenName → name
			if i := strings.LastIndex(p, ":"); i >= 0 {
				p = p[i+1:]
			}
			p, _, _ = strings.Cut(p, ".")
			if p != "" {
				m[p] = true
			}
		}
		return m
	}
	only, excl := split(q.Get("attributes")), split(q.Get("excludedattributes"))
	if only != nil && excl != nil {
		return nil, badRequest(scimInvalidValue, "attributes and excludedAttributes cannot both be given")
	}
	if only == nil && excl == nil {
		return nil, nil
	}
	return &projection{only: only, exclude: excl}, nil
}

// keepExt reports whether the attribute name of the extension urn is
// returned: named itself, or the extension named as a whole.
func (p *projection) keepExt(urn, name string) bool {
	if p == nil {
		return true
	}
	u, n := strings.ToLower(urn), strings.ToLower(name)
	if p.only != nil {
		return p.only[u] || p.only[n]
	}
	return !p.exclude[u] && !p.exclude[n]
}

func (p *projection) keep(name string) bool {
	if p == nil {
		return true
	}
	n := strings.ToLower(name)
	if p.only != nil {
		return p.only[n]
	}
	return !p.exclude[n]
}

// render returns the resource as the provider wrote it, with schemas, id
// and meta.
func (s *Server) render(rt *resourceType, rec *record, base string, proj *projection) map[string]any {
	out := make(map[string]any, len(rec.doc)+3)
	schemas := []string{rt.core.id}
	for _, k := range sortedKeys(rec.doc) {
		v := rec.doc[k]
		urn := ""
		if ext := rt.ext(k); ext != nil {
			urn = ext.id
		} else if isUndeclaredURN(rt, k) {
			urn = k // an undeclared extension, as sent (see normalize.go)
		}
		if em, ok := v.(map[string]any); ok && urn != "" {
			kept := map[string]any{}
			for ek, ev := range em {
				if proj.keepExt(urn, ek) {
					kept[ek] = ev
				}
			}
			if len(kept) > 0 {
				out[urn] = kept
				schemas = append(schemas, urn)
			}
			continue
		}
		if proj.keep(k) {
			out[k] = v
		}
	}
	out["schemas"] = schemas
	out["id"] = rec.ID
	out["meta"] = map[string]any{
		"resourceType": rt.name,
		"created":      rec.Created.UTC().Format(time.RFC3339Nano),
		"lastModified": rec.Modified.UTC().Format(time.RFC3339Nano),
		"location":     base + rt.endpoint + "/" + rec.ID,
		"version":      rec.version(),
	}
	return out
}

func (s *Server) writeResource(w http.ResponseWriter, status int, rt *resourceType, rec *record, base string, proj *projection) {
	w.Header().Set("ETag", rec.version())
	writeJSON(w, status, s.render(rt, rec, base, proj))
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"schemas":["`+urnError+`"],"status":"500","detail":"internal error"}`)
	}
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

func writeError(w http.ResponseWriter, status int, scimType, detail string) {
	writeJSON(w, status, errorBody(status, scimType, detail))
}

func writeErr(w http.ResponseWriter, err error) {
	var pe *protoError
	if errors.As(err, &pe) {
		writeError(w, pe.status, pe.scimType, pe.detail)
		return
	}
	writeError(w, http.StatusInternalServerError, "", "internal error")
}

// statusWriter records the status for the log line.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// serveDiscovery answers /ServiceProviderConfig, /ResourceTypes and
// /Schemas (RFC 7644 section 4).
func (s *Server) serveDiscovery(w http.ResponseWriter, endpoint, id, base string) {
	switch endpoint {
	case "ServiceProviderConfig":
		writeJSON(w, http.StatusOK, map[string]any{
			"schemas":          []string{urnSPConfig},
			"documentationUri": "https://pkg.go.dev/github.com/dirsync-go/dirsync/connector/scim",
			"patch":            map[string]any{"supported": true},
			"bulk":             map[string]any{"supported": false, "maxOperations": 0, "maxPayloadSize": 0},
			"filter":           map[string]any{"supported": true, "maxResults": s.maxPage},
			"changePassword":   map[string]any{"supported": false},
			"sort":             map[string]any{"supported": false},
			"etag":             map[string]any{"supported": false},
			"authenticationSchemes": []any{map[string]any{
				"type": "oauthbearertoken", "name": "OAuth Bearer Token", "primary": true,
				"description": "A bearer token per integration, issued by the application.",
			}},
			"meta": map[string]any{"resourceType": "ServiceProviderConfig", "location": base + "/ServiceProviderConfig"},
		})
	case "ResourceTypes":
		var list []any
		for _, rt := range []*resourceType{s.user, s.group} {
			exts := []any{}
			for _, e := range rt.exts {
				exts = append(exts, map[string]any{"schema": e.id, "required": false})
			}
			doc := map[string]any{
				"schemas": []string{urnResourceType}, "id": rt.name, "name": rt.name,
				"endpoint": rt.endpoint, "schema": rt.core.id, "schemaExtensions": exts,
				"meta": map[string]any{"resourceType": "ResourceType", "location": base + "/ResourceTypes/" + rt.name},
			}
			if id != "" && strings.EqualFold(id, rt.name) {
				writeJSON(w, http.StatusOK, doc)
				return
			}
			list = append(list, doc)
		}
		s.writeList(w, id, list)
	case "Schemas":
		var list []any
		for _, sc := range append(append([]*schema{s.user.core}, s.user.exts...), s.group.core) {
			doc := sc.json(base)
			if id != "" && strings.EqualFold(id, sc.id) {
				writeJSON(w, http.StatusOK, doc)
				return
			}
			list = append(list, doc)
		}
		s.writeList(w, id, list)
	}
}

func (s *Server) writeList(w http.ResponseWriter, id string, list []any) {
	if id != "" {
		writeError(w, http.StatusNotFound, "", "not found")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"schemas": []string{urnListResponse}, "totalResults": len(list),
		"startIndex": 1, "itemsPerPage": len(list), "Resources": list,
	})
}
