package ldaputil

import (
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"
)

// maxSubAuthorities is the largest number of sub-authorities a Windows SID
// may carry.
const maxSubAuthorities = 15

// SIDFromBytes converts a binary security identifier (objectSid,
// sIDHistory) to its text form, e.g. "S-1-5-21-3623811015-3361044348-30300820-1013".
//
// The binary layout is: revision (1 byte, always 1), sub-authority count
// (1 byte), identifier authority (6 bytes, big-endian), then each
// sub-authority as a 4-byte little-endian integer.
func SIDFromBytes(b []byte) (string, error) {
	if len(b) < 8 {
		return "", fmt.Errorf("ldaputil: SID has %d bytes, want at least 8", len(b))
	}
	if b[0] != 1 {
		return "", fmt.Errorf("ldaputil: SID revision %d, want 1", b[0])
	}
	n := int(b[1])
	if n > maxSubAuthorities {
		return "", fmt.Errorf("ldaputil: SID has %d sub-authorities, at most %d allowed", n, maxSubAuthorities)
	}
	if len(b) != 8+4*n {
		return "", fmt.Errorf("ldaputil: SID with %d sub-authorities has %d bytes, want %d", n, len(b), 8+4*n)
	}
	var auth uint64
	for _, c := range b[2:8] {
		auth = auth<<8 | uint64(c)
	}
	var sb strings.Builder
	sb.WriteString("S-1-")
	if auth >= 1<<32 {
		// Windows prints authorities that do not fit 32 bits in hex.
		fmt.Fprintf(&sb, "0x%012X", auth)
	} else {
		sb.WriteString(strconv.FormatUint(auth, 10))
	}
	for i := range n {
		sb.WriteByte('-')
		sb.WriteString(strconv.FormatUint(uint64(binary.LittleEndian.Uint32(b[8+4*i:])), 10))
	}
	return sb.String(), nil
}

// SIDToBytes converts a SID in text form ("S-1-5-21-…") back to its binary
// layout, for example to build an LDAP filter on objectSid.
func SIDToBytes(s string) ([]byte, error) {
	parts := strings.Split(s, "-")
	if len(parts) < 3 || !strings.EqualFold(parts[0], "S") || parts[1] != "1" {
		return nil, fmt.Errorf("ldaputil: %q is not a SID in the form S-1-…", s)
	}
	subs := parts[3:]
	if len(subs) > maxSubAuthorities {
		return nil, fmt.Errorf("ldaputil: SID %q has %d sub-authorities, at most %d allowed", s, len(subs), maxSubAuthorities)
	}
	var auth uint64
	var err error
	if h, ok := strings.CutPrefix(strings.ToLower(parts[2]), "0x"); ok {
		auth, err = strconv.ParseUint(h, 16, 48)
	} else {
		auth, err = strconv.ParseUint(parts[2], 10, 32)
	}
	if err != nil {
		return nil, fmt.Errorf("ldaputil: SID %q: bad identifier authority: %w", s, err)
	}
	b := make([]byte, 8+4*len(subs))
	b[0] = 1
	b[1] = byte(len(subs))
	for i := 7; i >= 2; i-- {
		b[i] = byte(auth)
		auth >>= 8
	}
	for i, p := range subs {
		v, err := strconv.ParseUint(p, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("ldaputil: SID %q: bad sub-authority %q: %w", s, p, err)
		}
		binary.LittleEndian.PutUint32(b[8+4*i:], uint32(v))
	}
	return b, nil
}
