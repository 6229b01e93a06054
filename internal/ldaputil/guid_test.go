package ldaputil

import (
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// msGUID is the example GUID {3F2504E0-4F89-11D3-9A0C-0305E82C3301} in the
// byte order AD stores it: the first three groups little-endian.
var msGUID = []byte{0xE0, 0x04, 0x25, 0x3F, 0x89, 0x4F, 0xD3, 0x11, 0x9A, 0x0C, 0x03, 0x05, 0xE8, 0x2C, 0x33, 0x01}

var canonicalGUID = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

func TestGUIDFromBytes(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		want string
		err  bool
	}{
		{name: "microsoft example", in: msGUID, want: "3f2504e0-4f89-11d3-9a0c-0305e82c3301"},
		{name: "zero", in: make([]byte, 16), want: "00000000-0000-0000-0000-000000000000"},
		{name: "ordered bytes", in: []byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}, want: "03020100-0504-0706-0809-0a0b0c0d0e0f"},
		{name: "nil", in: nil, err: true},
		{name: "short", in: msGUID[:15], err: true},
		{name: "long", in: append(append([]byte{}, msGUID...), 0), err: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := GUIDFromBytes(tt.in)
			if tt.err {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestGUIDToBytes(t *testing.T) {
	for _, in := range []string{
		"3f2504e0-4f89-11d3-9a0c-0305e82c3301",
		"3F2504E0-4F89-11D3-9A0C-0305E82C3301",
		"{3F2504E0-4F89-11D3-9A0C-0305E82C3301}",
	} {
		got, err := GUIDToBytes(in)
		require.NoError(t, err, in)
		assert.Equal(t, msGUID, got, in)
		c, err := CanonicalGUID(in)
		require.NoError(t, err, in)
		assert.Equal(t, "3f2504e0-4f89-11d3-9a0c-0305e82c3301", c)
	}
	for _, bad := range []string{
		"",
		"3f2504e04f8911d39a0c0305e82c3301",
		"3f2504e0-4f89-11d3-9a0c-0305e82c330",
		"3f2504e0-4f89-11d3-9a0c-0305e82c33011",
		"3f2504e0+4f89-11d3-9a0c-0305e82c3301",
		"zf2504e0-4f89-11d3-9a0c-0305e82c3301",
		"{3f2504e0-4f89-11d3-9a0c-0305e82c3301",
		"4AOAAPtzAUiV7xlXFhq34g==",
	} {
		_, err := GUIDToBytes(bad)
		assert.Error(t, err, "%q", bad)
	}
}

func FuzzGUID(f *testing.F) {
	f.Add(msGUID)
	f.Add(make([]byte, 16))
	f.Add([]byte("3f2504e0-4f89-11d3-9a0c-0305e82c3301"))
	f.Add([]byte("{3F2504E0-4F89-11D3-9A0C-0305E82C3301}"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := GUIDFromBytes(b)
		if len(b) == 16 {
			require.NoError(t, err)
			require.Regexp(t, canonicalGUID, s)
			back, err := GUIDToBytes(s)
			require.NoError(t, err)
			require.Equal(t, b, back)
		} else {
			require.Error(t, err)
		}

		// Any text that parses as a GUID comes back in canonical form.
		raw, err := GUIDToBytes(string(b))
		if err != nil {
			return
		}
		c, err := GUIDFromBytes(raw)
		require.NoError(t, err)
		want := strings.ToLower(strings.TrimSuffix(strings.TrimPrefix(string(b), "{"), "}"))
		require.Equal(t, want, c)
	})
}
