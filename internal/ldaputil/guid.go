package ldaputil

import (
	"encoding/hex"
	"fmt"
	"strings"
)

// GUIDFromBytes converts a 16-byte Active Directory objectGUID to its
// canonical text form: lower-case hex in the 8-4-4-4-12 layout, without
// braces, e.g. "3f2504e0-4f89-11d3-9a0c-0305e82c3301".
//
// AD stores a GUID in Microsoft's mixed-endian layout: the first three
// groups (4, 2 and 2 bytes) are little-endian, the last two (2 and 6 bytes)
// are in order. The text form is the one Windows tools display, so an ID
// read over LDAP matches the one an admin copies from PowerShell.
func GUIDFromBytes(b []byte) (string, error) {
	if len(b) != 16 {
		return "", fmt.Errorf("ldaputil: objectGUID has %d bytes, want 16", len(b))
	}
	var ordered [16]byte
	for i, j := range guidOrder {
		ordered[i] = b[j]
	}
	var out [36]byte
	hex.Encode(out[0:8], ordered[0:4])
	out[8] = '-'
	hex.Encode(out[9:13], ordered[4:6])
	out[13] = '-'
	hex.Encode(out[14:18], ordered[6:8])
	out[18] = '-'
	hex.Encode(out[19:23], ordered[8:10])
	out[23] = '-'
	hex.Encode(out[24:36], ordered[10:16])
	return string(out[:]), nil
}

// guidOrder maps a position in the text (big-endian) order to the position
// of that byte in the mixed-endian wire layout. The mapping is its own
// inverse, so it serves both directions.
var guidOrder = [16]int{3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15}

// GUIDToBytes converts a GUID in text form back to the 16-byte layout AD
// stores, for example to search by objectGUID. It accepts upper or lower
// case and optional surrounding braces ("{3F2504E0-4F89-11D3-9A0C-0305E82C3301}").
func GUIDToBytes(s string) ([]byte, error) {
	t := s
	if strings.HasPrefix(t, "{") && strings.HasSuffix(t, "}") {
		t = t[1 : len(t)-1]
	}
	if len(t) != 36 || t[8] != '-' || t[13] != '-' || t[18] != '-' || t[23] != '-' {
		return nil, fmt.Errorf("ldaputil: %q is not a GUID in the form xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx", s)
	}
	digits := t[0:8] + t[9:13] + t[14:18] + t[19:23] + t[24:36]
	var ordered [16]byte
	if _, err := hex.Decode(ordered[:], []byte(digits)); err != nil {
		return nil, fmt.Errorf("ldaputil: %q is not a GUID: %w", s, err)
	}
	b := make([]byte, 16)
	for i, j := range guidOrder {
		b[j] = ordered[i]
	}
	return b, nil
}

// CanonicalGUID returns the canonical text form of a GUID given in text
// form (any case, optional braces).
func CanonicalGUID(s string) (string, error) {
	b, err := GUIDToBytes(s)
	if err != nil {
		return "", err
	}
	return GUIDFromBytes(b)
}
