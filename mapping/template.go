package mapping

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/dirsync-go/dirsync/connector"
)

// template is a parsed Rule.Template: literal text and attribute
// placeholders, alternating.
type template struct {
	parts []tmplPart
	attrs int // number of placeholders
}

type tmplPart struct {
	text string // literal text, when attr is empty
	attr string // attribute name
}

// parseTemplate parses "{givenName} {sn}". "{{" and "}}" are literal braces;
// any other brace must open or close a placeholder, so a brace without its
// partner ("givenName} {sn}", "{sn", "}{") is an error wherever it stands.
// Spaces around a name inside braces are ignored.
func parseTemplate(s string) (*template, error) {
	t := &template{}
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			t.parts = append(t.parts, tmplPart{text: lit.String()})
			lit.Reset()
		}
	}
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '{' && i+1 < len(s) && s[i+1] == '{':
			lit.WriteByte('{')
			i += 2
		case c == '}' && i+1 < len(s) && s[i+1] == '}':
			lit.WriteByte('}')
			i += 2
		case c == '{':
			end := strings.IndexAny(s[i+1:], "{}")
			if end < 0 || s[i+1+end] == '{' {
				return nil, fmt.Errorf("template %q: unmatched { at offset %d (write {{ for a literal brace)", s, i)
			}
			name := strings.TrimSpace(s[i+1 : i+1+end])
			if err := checkAttrName(name); err != nil {
				return nil, fmt.Errorf("template %q: placeholder at offset %d: %w", s, i, err)
			}
			flush()
			t.parts = append(t.parts, tmplPart{attr: strings.ToLower(name)})
			t.attrs++
			i += end + 2
		case c == '}':
			return nil, fmt.Errorf("template %q: unmatched } at offset %d (write }} for a literal brace)", s, i)
		default:
			lit.WriteByte(c)
			i++
		}
	}
	flush()
	return t, nil
}

// render fills the template from e. The result has white space collapsed;
// it is empty when the template has placeholders and all of them are empty.
func (t *template) render(e *connector.Entry) string {
	var b strings.Builder
	filled := false
	for _, p := range t.parts {
		if p.attr == "" {
			b.WriteString(p.text)
			continue
		}
		v := strings.TrimSpace(e.Attr(p.attr))
		if v != "" {
			filled = true
			b.WriteString(v)
		}
	}
	if t.attrs > 0 && !filled {
		return ""
	}
	return collapseSpace(b.String())
}

// collapseSpace trims s and replaces every run of white space inside it by
// one space.
func collapseSpace(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

var errEmptyName = errors.New("empty attribute name")

// checkAttrName accepts any non-empty name without white space, braces or
// control characters: AD names ("userPrincipalName", "member;range=0-*"),
// Graph names, dotted Google names ("name.givenName").
func checkAttrName(name string) error {
	if name == "" {
		return errEmptyName
	}
	if !utf8.ValidString(name) {
		return fmt.Errorf("attribute name %q is not valid UTF-8", name)
	}
	for _, r := range name {
		if unicode.IsSpace(r) || unicode.IsControl(r) || r == '{' || r == '}' {
			return fmt.Errorf("attribute name %q contains %q", name, r)
		}
	}
	return nil
}
