package ldaputil

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/go-ldap/ldap/v3"
)

// MaxDNDepth is the most RDNs (levels) a DN may have. Directories nest a
// few levels, rarely more than 20; 256 leaves room for any real tree while
// bounding the work a hostile DN of thousands of levels can cause. Every
// function of this package that parses a DN refuses deeper ones with an
// error wrapping ErrDNTooDeep, before parsing.
const MaxDNDepth = 256

// ErrDNTooDeep is wrapped by the error for a DN with more than MaxDNDepth
// RDNs.
var ErrDNTooDeep = errors.New("DN too deep")

// CheckDNDepth returns an error wrapping ErrDNTooDeep if dn has more than
// MaxDNDepth RDNs. It counts the separators go-ldap's ParseDN splits on
// (',' and ';' not escaped by a backslash) in one pass, allocating only
// for the error, and stops at the first separator past the limit, so its
// cost is at most linear in len(dn) whatever the input.
func CheckDNDepth(dn string) error {
	rdns := 1
	for i := 0; i < len(dn); i++ {
		switch dn[i] {
		case '\\':
			i++ // the escaped character, or the first hex digit of "\2C"
		case ',', ';':
			rdns++
			if rdns > MaxDNDepth {
				return fmt.Errorf("%w: more than %d RDNs", ErrDNTooDeep, MaxDNDepth)
			}
		}
	}
	return nil
}

// ParseDN is ldap.ParseDN for DNs of at most MaxDNDepth RDNs.
func ParseDN(dn string) (*ldap.DN, error) {
	if err := CheckDNDepth(dn); err != nil {
		return nil, err
	}
	return ldap.ParseDN(dn)
}

// OUPath returns the names of the organizational units in a distinguished
// name, from the root down (outermost first). Other naming attributes (CN,
// DC, O, …) are left out, so a user in the default "CN=Users" container has
// an empty path:
//
//	CN=Smith\, John,OU=Sales department users,OU=Europe,DC=example,DC=test
//	→ ["Europe", "Sales department users"]
//
// Escapes (`\,`, `\2C`, hex-encoded UTF-8) are decoded. In a multi-valued
// RDN ("OU=Sales+L=Paris") the OU value is taken; several OU values in one
// RDN are sorted case-insensitively. If the leftmost RDN is
// itself an OU, it is part of the path: the path of an org-unit entry
// names the unit itself. An empty dn has an empty path.
func OUPath(dn string) ([]string, error) {
	parsed, err := ParseDN(dn)
	if err != nil {
		return nil, fmt.Errorf("ldaputil: parse DN %s: %w", quoteDN(dn), err)
	}
	var path []string
	for _, rdn := range slices.Backward(parsed.RDNs) {
		start := len(path)
		for _, atv := range rdn.Attributes {
			if !strings.EqualFold(atv.Type, "ou") {
				continue
			}
			if atv.Value == "" {
				return nil, fmt.Errorf("ldaputil: DN %q has an empty OU name", dn)
			}
			path = append(path, atv.Value)
		}
		// The values of one RDN have no order; sort them so that two
		// spellings of the same DN give the same path.
		slices.SortFunc(path[start:], compareFold)
	}
	return path, nil
}

// NormalizeDN returns a canonical form of dn for use as a map key, so that
// two spellings of one name compare equal: attribute types and values in
// lower case, insignificant spaces removed, escapes in one canonical form,
// the values of a multi-valued RDN sorted. Two DNs that differ only in case
// or escaping normalize to the same string.
//
// The result is a valid DN string but meant only for comparison: it does
// not preserve the case the directory uses.
func NormalizeDN(dn string) (string, error) {
	parsed, err := ParseDN(dn)
	if err != nil {
		return "", fmt.Errorf("ldaputil: parse DN %s: %w", quoteDN(dn), err)
	}
	var sb strings.Builder
	sb.Grow(len(dn))
	atvs := make([]string, 0, 2)
	for i, rdn := range parsed.RDNs {
		if i > 0 {
			sb.WriteByte(',')
		}
		atvs = atvs[:0]
		for _, atv := range rdn.Attributes {
			atvs = append(atvs, escapeDNPart(strings.ToLower(atv.Type))+"="+escapeDNPart(strings.ToLower(atv.Value)))
		}
		slices.Sort(atvs)
		sb.WriteString(strings.Join(atvs, "+"))
	}
	return sb.String(), nil
}

// quoteDN quotes dn for an error message, shortened to its first 200
// bytes: a hostile DN may be megabytes long.
func quoteDN(dn string) string {
	const limit = 200
	if len(dn) <= limit {
		return strconv.Quote(dn)
	}
	cut := limit
	for cut > 0 && !utf8.RuneStart(dn[cut]) {
		cut--
	}
	return strconv.Quote(dn[:cut]) + "…"
}

func compareFold(a, b string) int {
	if c := strings.Compare(strings.ToLower(a), strings.ToLower(b)); c != 0 {
		return c
	}
	return strings.Compare(a, b)
}

// IsUnder reports whether dn equals base or lies below it, comparing case-
// insensitively. An empty base contains every DN.
func IsUnder(dn, base string) (bool, error) {
	b, err := ParseDN(base)
	if err != nil {
		return false, fmt.Errorf("ldaputil: parse base DN %s: %w", quoteDN(base), err)
	}
	d, err := ParseDN(dn)
	if err != nil {
		return false, fmt.Errorf("ldaputil: parse DN %s: %w", quoteDN(dn), err)
	}
	if len(b.RDNs) == 0 {
		return true, nil
	}
	return d.EqualFold(b) || b.AncestorOfFold(d), nil
}

// EscapeRDNValue escapes a value for use in a DN string (RFC 4514 section
// 2.4): the characters `"+,;<>\` and NUL anywhere, a leading space or '#',
// and a trailing space.
func EscapeRDNValue(v string) string {
	return escapeDNPart(v)
}

func escapeDNPart(v string) string {
	var sb strings.Builder
	sb.Grow(len(v))
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case c == 0:
			sb.WriteString(`\00`)
			continue
		case c == '"' || c == '+' || c == ',' || c == ';' || c == '<' || c == '>' || c == '\\' || c == '=':
		case (c == ' ' || c == '#') && i == 0:
		case c == ' ' && i == len(v)-1:
		default:
			sb.WriteByte(c)
			continue
		}
		sb.WriteByte('\\')
		sb.WriteByte(c)
	}
	return sb.String()
}
