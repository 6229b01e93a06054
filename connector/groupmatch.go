package connector

import (
	"strconv"
	"strings"
	"unicode"
)

// GroupMatch is how a GroupSearcher matches its query against a group's
// names. Directories differ: an LDAP server can search substrings,
// Microsoft Graph's $search matches the beginning of words, and Google's
// groups.list matches the beginning of the name only. An admin UI says so
// when the directory cannot find "App Admins" from "adm".
type GroupMatch int

// The ways a GroupSearcher matches. Each ignores case, and an empty query
// matches every group.
const (
	// MatchPrefix: a name starts with the query ("app a" finds "App
	// Admins", "adm" does not). A GroupSearcher that does not implement
	// GroupSearchMatcher is taken to match this way.
	MatchPrefix GroupMatch = iota
	// MatchWordPrefix: each word of the query starts a word of a name, in
	// any order ("adm" and "adm app" find "App Admins", "dmin" does not).
	// Words are as Microsoft Graph's $search splits them: at spaces, at a
	// change from a lower-case to an upper-case letter, between letters
	// and digits, and around symbols (each symbol a word of its own).
	MatchWordPrefix
	// MatchSubstring: the query appears anywhere in a name ("dmin" finds
	// "App Admins").
	MatchSubstring
)

// String returns "prefix", "word-prefix" or "substring".
func (m GroupMatch) String() string {
	switch m {
	case MatchPrefix:
		return "prefix"
	case MatchWordPrefix:
		return "word-prefix"
	case MatchSubstring:
		return "substring"
	}
	return "GroupMatch(" + strconv.Itoa(int(m)) + ")"
}

// Matches reports whether a group named name matches query this way,
// ignoring case. It is the reference a GroupSearcher that filters in
// memory can use, and what connectortest holds a searcher's results to.
//
// MatchWordPrefix is lenient where Graph's rules leave room: besides the
// words above, the letters and digits of each space-separated part of the
// name, joined, count as one more word (Graph documents this for parts
// split by symbols, "hello-world" found by "helloworld").
func (m GroupMatch) Matches(name, query string) bool {
	switch m {
	case MatchSubstring:
		return strings.Contains(strings.ToLower(name), strings.ToLower(query))
	case MatchWordPrefix:
		have := searchWords(name, true)
	next:
		for _, q := range searchWords(query, false) {
			for _, w := range have {
				if strings.HasPrefix(w, q) {
					continue next
				}
			}
			return false
		}
		return true
	default:
		return strings.HasPrefix(strings.ToLower(name), strings.ToLower(query))
	}
}

// searchWords splits s into lower-case words as MatchWordPrefix says;
// joined adds, for each space-separated part with more than one word, its
// letters and digits joined.
func searchWords(s string, joined bool) []string {
	var out []string
	for _, part := range strings.FieldsFunc(s, unicode.IsSpace) {
		var (
			word  []rune
			all   []rune
			n     int
			prev  rune
			class int // 0 none, 1 letter, 2 digit
		)
		flush := func() {
			if len(word) > 0 {
				out = append(out, strings.ToLower(string(word)))
				n++
				word = word[:0]
			}
		}
		for _, r := range part {
			c := 0
			switch {
			case unicode.IsLetter(r):
				c = 1
			case unicode.IsDigit(r):
				c = 2
			}
			if c == 0 { // a symbol is a word of its own
				flush()
				out = append(out, strings.ToLower(string(r)))
				n++
				class, prev = 0, r
				continue
			}
			if c != class || c == 1 && unicode.IsLower(prev) && unicode.IsUpper(r) {
				flush()
			}
			word = append(word, r)
			all = append(all, r)
			class, prev = c, r
		}
		flush()
		if joined && n > 1 && len(all) > 0 {
			out = append(out, strings.ToLower(string(all)))
		}
	}
	return out
}

// GroupSearchMatcher is an optional capability of a GroupSearcher: it
// says how SearchGroups matches, so that an admin UI can tell the admin
// (for a prefix-only directory: "this directory matches names from the
// start only"). GroupSearchMatch returns a constant for the connector's
// configuration; connectortest checks that searches keep to it.
type GroupSearchMatcher interface {
	GroupSearchMatch() GroupMatch
}

// GroupSearchMatchOf returns how gs matches: what it declares through
// GroupSearchMatcher, else MatchPrefix.
func GroupSearchMatchOf(gs GroupSearcher) GroupMatch {
	if m, ok := gs.(GroupSearchMatcher); ok {
		return m.GroupSearchMatch()
	}
	return MatchPrefix
}
