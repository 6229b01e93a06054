package mapping

import (
	"strings"
)

// normDN puts a distinguished name in a form where equal DNs compare equal
// as strings: lower case, no white space around the "," between RDNs or
// around the "=" inside one. Escapes ("\,", "\ ") are kept as they are, so
// an escaped comma or space never splits or disappears. It is a comparison
// key, not a canonical DN; values written in hex escapes do not match their
// plain spelling.
func normDN(dn string) string {
	dn = strings.ToLower(dn)
	var b strings.Builder
	b.Grow(len(dn))
	start := 0
	for i := 0; i <= len(dn); i++ {
		if i < len(dn) {
			if dn[i] == '\\' && i+1 < len(dn) {
				i++ // skip the escaped byte
				continue
			}
			if dn[i] != ',' && dn[i] != ';' {
				continue
			}
		}
		if start > 0 {
			b.WriteByte(',')
		}
		b.WriteString(normRDN(dn[start:i]))
		start = i + 1
	}
	return b.String()
}

// normRDN trims white space around one RDN and around its first unescaped
// "=".
func normRDN(rdn string) string {
	for i := 0; i < len(rdn); i++ {
		switch rdn[i] {
		case '\\':
			i++
		case '=':
			return trimDN(rdn[:i]) + "=" + trimDN(rdn[i+1:])
		}
	}
	return trimDN(rdn)
}

// trimDN trims spaces on both ends, except a trailing space that is escaped.
func trimDN(s string) string {
	s = strings.TrimLeft(s, " \t")
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		// Count the backslashes before the space: an odd number escapes it.
		n := 0
		for j := len(s) - 2; j >= 0 && s[j] == '\\'; j-- {
			n++
		}
		if n%2 == 1 {
			break
		}
		s = s[:len(s)-1]
	}
	return s
}
