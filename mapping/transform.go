package mapping

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/mozillazg/go-unidecode"
)

// transform is one compiled entry of Rule.Transforms.
type transform func(string) string

// transformNames lists the transforms in the order the documentation and
// error messages give them. A trailing ":" marks one that takes an argument.
var transformNames = []string{
	"lower", "upper", "trim", "title", "localpart", "domain:",
	"translit", "translit:ru-icao",
}

// parseTransform compiles a transform name such as "lower" or
// "domain:example.com".
func parseTransform(s string) (transform, error) {
	name, arg, hasArg := strings.Cut(s, ":")
	switch {
	case s == "lower":
		return strings.ToLower, nil
	case s == "upper":
		return strings.ToUpper, nil
	case s == "trim":
		return collapseSpace, nil
	case s == "title":
		return titleCase, nil
	case s == "localpart":
		return localPart, nil
	case s == "translit":
		return translitAny, nil
	case s == "translit:ru-icao":
		return translitRuICAO, nil
	case name == "domain" && hasArg:
		if err := checkDomain(arg); err != nil {
			return nil, fmt.Errorf("transform %q: %w", s, err)
		}
		return func(v string) string { return withDomain(v, arg) }, nil
	case name == "translit" && hasArg:
		return nil, fmt.Errorf("unknown transliteration scheme %q in transform %q (known: ru-icao)", arg, s)
	}
	return nil, fmt.Errorf("unknown transform %q (known: %s)", s, knownTransforms())
}

func knownTransforms() string {
	var b strings.Builder
	for i, n := range transformNames {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(n)
		if strings.HasSuffix(n, ":") {
			b.WriteString("<domain>")
		}
	}
	return b.String()
}

// titleCase upper-cases the first letter of each word and lower-cases the
// rest: "ANNE-MARIE o'neil" becomes "Anne-Marie O'neil". Words are separated
// by anything but letters, digits, marks and apostrophes.
func titleCase(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	inWord := false
	for _, r := range s {
		switch {
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			if inWord {
				b.WriteRune(unicode.ToLower(r))
			} else {
				b.WriteRune(unicode.ToTitle(r))
			}
			inWord = true
		case unicode.IsMark(r) || (inWord && (r == '\'' || r == '’')):
			b.WriteRune(r)
		default:
			b.WriteRune(r)
			inWord = false
		}
	}
	return b.String()
}

// localPart returns what comes before the last "@": the user part of an
// email address or a user principal name. Values without "@" are unchanged.
func localPart(s string) string {
	if i := strings.LastIndexByte(s, '@'); i >= 0 {
		return s[:i]
	}
	return s
}

// withDomain replaces the domain of an address, or appends one to a bare
// user name. An empty value stays empty.
func withDomain(s, domain string) string {
	s = strings.TrimSpace(localPart(s))
	if s == "" {
		return ""
	}
	return s + "@" + domain
}

func checkDomain(d string) error {
	if d == "" {
		return fmt.Errorf("empty domain")
	}
	if !utf8.ValidString(d) {
		return fmt.Errorf("domain %q is not valid UTF-8", d)
	}
	for _, r := range d {
		if r == '@' || unicode.IsSpace(r) || unicode.IsControl(r) {
			return fmt.Errorf("domain %q contains %q", d, r)
		}
	}
	return nil
}

// translitAny transliterates any script to Latin (ASCII) with unidecode and
// tidies the spaces it leaves between syllables.
func translitAny(s string) string {
	return collapseSpace(unidecode.Unidecode(s))
}
