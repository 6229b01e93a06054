package fakegraph

// $search on directory objects, as Microsoft documents it:
//
//   - It is an advanced query: without the header ConsistencyLevel:
//     eventual the request fails with 400 Request_UnsupportedQuery and
//     the message "Request with $search query parameter only works
//     through MSGraph with a special request header: 'ConsistencyLevel:
//     eventual'" (https://learn.microsoft.com/en-us/graph/aad-advanced-queries,
//     "Error handling for advanced queries on directory objects"). Unlike
//     the other advanced queries it does not need $count=true ("the
//     requestor must set the ConsistencyLevel header to eventual and,
//     except for $search, use the $count query parameter", same page).
//     $count=true with the header adds @odata.count; without the header
//     $count=true is silently ignored (same page).
//   - Syntax: "clause1" [AND | OR] "clauseX", any number of clauses,
//     parentheses for precedence; each clause "<property>:<text>" inside
//     double quotes, a double quote or backslash in it escaped with a
//     backslash; AND and OR outside the quotes, in upper case
//     (https://learn.microsoft.com/en-us/graph/search-query-parameter,
//     "Using $search on directory object collections").
//   - displayName and description are searched by tokens, not "contains":
//     the value and the search text are split at spaces, at a change from
//     lower to upper case (only that way: "HELLOworld" is one token),
//     between letters and numbers, and around symbols ("hello.world" gives
//     hello, ".", world and, joined, helloworld); tokens match regardless
//     of case and in any order (same page). A search token matches the
//     beginning of a value token: the page's example
//     $search="displayName:Guthr" finds the user "Guthrie". Other
//     properties behave as $filter startswith.
//
// Not documented, so chosen here: AND binds tighter than OR, and a
// $search the grammar above does not accept is answered 400 BadRequest.

import (
	"errors"
	"net/http"
	"slices"
	"strings"
	"unicode"
)

// searchRequired is Graph's answer to $search without the header.
const searchRequired = "Request with $search query parameter only works through MSGraph with a special request header: 'ConsistencyLevel: eventual'"

// advanced reports whether r carries the advanced-query header.
func advanced(r *http.Request) bool {
	return strings.EqualFold(strings.TrimSpace(r.Header.Get("ConsistencyLevel")), "eventual")
}

// searchExpr is a parsed $search: a clause, or AND / OR of two.
type searchExpr struct {
	op          string // "", "AND", "OR"
	left, right *searchExpr
	prop, text  string
}

// parseSearch parses a $search value.
func parseSearch(s string) (*searchExpr, error) {
	p := &searchParser{s: s}
	e, err := p.or()
	if err != nil {
		return nil, err
	}
	p.space()
	if p.i < len(p.s) {
		return nil, errors.New("unexpected " + p.s[p.i:])
	}
	return e, nil
}

type searchParser struct {
	s string
	i int
}

func (p *searchParser) space() {
	for p.i < len(p.s) && p.s[p.i] == ' ' {
		p.i++
	}
}

// keyword consumes kw (upper case, followed by a space, quote or
// parenthesis) if it comes next.
func (p *searchParser) keyword(kw string) bool {
	p.space()
	if !strings.HasPrefix(p.s[p.i:], kw) {
		return false
	}
	if j := p.i + len(kw); j < len(p.s) && !strings.ContainsRune(` "(`, rune(p.s[j])) {
		return false
	}
	p.i += len(kw)
	return true
}

func (p *searchParser) or() (*searchExpr, error) {
	e, err := p.and()
	for err == nil && p.keyword("OR") {
		var r *searchExpr
		if r, err = p.and(); err == nil {
			e = &searchExpr{op: "OR", left: e, right: r}
		}
	}
	return e, err
}

func (p *searchParser) and() (*searchExpr, error) {
	e, err := p.unary()
	for err == nil && p.keyword("AND") {
		var r *searchExpr
		if r, err = p.unary(); err == nil {
			e = &searchExpr{op: "AND", left: e, right: r}
		}
	}
	return e, err
}

func (p *searchParser) unary() (*searchExpr, error) {
	p.space()
	if p.i >= len(p.s) {
		return nil, errors.New("a clause is missing")
	}
	switch p.s[p.i] {
	case '(':
		p.i++
		e, err := p.or()
		if err != nil {
			return nil, err
		}
		p.space()
		if p.i >= len(p.s) || p.s[p.i] != ')' {
			return nil, errors.New("a parenthesis is not closed")
		}
		p.i++
		return e, nil
	case '"':
		p.i++
		var b strings.Builder
		for {
			if p.i >= len(p.s) {
				return nil, errors.New("a quoted clause is not closed")
			}
			c := p.s[p.i]
			p.i++
			switch c {
			case '\\':
				if p.i >= len(p.s) || p.s[p.i] != '"' && p.s[p.i] != '\\' {
					return nil, errors.New(`a backslash escapes only " and \`)
				}
				b.WriteByte(p.s[p.i])
				p.i++
				continue
			case '"':
			default:
				b.WriteByte(c)
				continue
			}
			break
		}
		prop, text, ok := strings.Cut(b.String(), ":")
		if !ok || prop == "" {
			return nil, errors.New(`a clause is "<property>:<text>"`)
		}
		return &searchExpr{prop: prop, text: text}, nil
	}
	return nil, errors.New("a clause must be in double quotes")
}

// matches evaluates e on an object's properties.
func (e *searchExpr) matches(props map[string]any) bool {
	switch e.op {
	case "AND":
		return e.left.matches(props) && e.right.matches(props)
	case "OR":
		return e.left.matches(props) || e.right.matches(props)
	}
	var value string
	for k, v := range props {
		if strings.EqualFold(k, e.prop) {
			value, _ = v.(string)
		}
	}
	if !strings.EqualFold(e.prop, "displayName") && !strings.EqualFold(e.prop, "description") {
		return strings.HasPrefix(strings.ToLower(value), strings.ToLower(e.text))
	}
	have := searchTokens(value)
next:
	for _, q := range searchTokens(e.text) {
		for _, h := range have {
			if strings.HasPrefix(h, q) {
				continue next
			}
		}
		return false
	}
	return true
}

// searchTokens splits s into lower-case tokens as Graph's $search does
// (see the top of this file).
func searchTokens(s string) []string {
	var out []string
	for _, part := range strings.Fields(s) {
		var (
			tok       []rune
			joined    []rune
			symbols   bool
			prevLower bool
			prevKind  byte // 'l' letter, 'd' digit, 's' symbol
		)
		flush := func() {
			if len(tok) > 0 {
				out = append(out, strings.ToLower(string(tok)))
				tok = tok[:0]
			}
		}
		for _, r := range part {
			kind := byte('s')
			if unicode.IsLetter(r) {
				kind = 'l'
			} else if unicode.IsDigit(r) {
				kind = 'd'
			}
			switch {
			case kind == 's':
				flush()
				out = append(out, strings.ToLower(string(r)))
				symbols = true
			case kind != prevKind, kind == 'l' && prevLower && unicode.IsUpper(r):
				flush()
				tok = append(tok, r)
				joined = append(joined, r)
			default:
				tok = append(tok, r)
				joined = append(joined, r)
			}
			prevKind, prevLower = kind, unicode.IsLower(r)
		}
		flush()
		if symbols && len(joined) > 0 {
			out = append(out, strings.ToLower(string(joined)))
		}
	}
	return out
}

// search parses the request's $search, or answers the error Graph gives
// and returns false. It returns nil when there is no $search.
func (s *Server) search(w http.ResponseWriter, r *http.Request) (*searchExpr, bool) {
	q := r.URL.Query()
	if !q.Has("$search") {
		return nil, true
	}
	s.searches = append(s.searches, Search{Query: q.Get("$search"), ConsistencyLevel: r.Header.Get("ConsistencyLevel"), Count: q.Get("$count")})
	if !advanced(r) {
		writeError(w, 400, "Request_UnsupportedQuery", searchRequired)
		return nil, false
	}
	e, err := parseSearch(q.Get("$search"))
	if err != nil {
		writeError(w, 400, "BadRequest", "Invalid $search: "+err.Error())
		return nil, false
	}
	return e, true
}

// Search is one $search request as the server received it.
type Search struct {
	Query            string // the $search value, URL-decoded
	ConsistencyLevel string // the header
	Count            string // the $count value
}

// Searches returns the $search requests received, in order.
func (s *Server) Searches() []Search {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.searches)
}
