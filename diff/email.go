package diff

import (
	"strings"

	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"
)

// NormalizeEmail returns the form in which two emails are compared:
// surrounding white space removed, Unicode full case folding over NFC (the
// comparison connector/scim uses for userNames). "Jose@X.test" and
// " jose@x.test" are one email, and so are "José" with a precomposed é
// and "José" with e and a combining acute accent, "ΟΔΟΣ" and "οδος" (final
// sigma), "STRASSE" and "straße"; "İSTANBUL" and "istanbul" are two (no
// Turkish rules). Compute compares every
// email (adoption, duplicates, conflicts) in this form; a host that looks
// accounts up by email (AccountLookup) should compare the same way.
func NormalizeEmail(s string) string {
	s = strings.TrimSpace(s)
	if s == "" {
		return ""
	}
	ascii := true
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			ascii = false
			break
		}
	}
	if ascii {
		return strings.ToLower(s) // case folding of ASCII; allocates only when s has capitals
	}
	return norm.NFC.String(cases.Fold().String(norm.NFC.String(s)))
}
