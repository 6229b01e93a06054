package ldaputil

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSID(t *testing.T) {
	tests := []struct {
		name string
		raw  []byte
		text string
	}{
		{
			name: "BUILTIN Administrators",
			raw:  []byte{1, 2, 0, 0, 0, 0, 0, 5, 0x20, 0, 0, 0, 0x20, 0x02, 0, 0},
			text: "S-1-5-32-544",
		},
		{
			name: "Everyone",
			raw:  []byte{1, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0},
			text: "S-1-1-0",
		},
		{
			name: "no sub-authorities",
			raw:  []byte{1, 0, 0, 0, 0, 0, 0, 5},
			text: "S-1-5",
		},
		{
			name: "domain user",
			raw: []byte{1, 5, 0, 0, 0, 0, 0, 5,
				0x15, 0, 0, 0,
				0xC7, 0x3E, 0xFF, 0xD7,
				0x7C, 0x8F, 0x55, 0xC8,
				0x94, 0x59, 0xCE, 0x01,
				0xF5, 0x03, 0, 0},
			text: "S-1-5-21-3623829191-3361050492-30300564-1013",
		},
		{
			name: "authority above 32 bits",
			raw:  []byte{1, 1, 0x01, 0, 0, 0, 0, 0, 7, 0, 0, 0},
			text: "S-1-0x010000000000-7",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := SIDFromBytes(tt.raw)
			require.NoError(t, err)
			assert.Equal(t, tt.text, got)
			back, err := SIDToBytes(tt.text)
			require.NoError(t, err)
			assert.Equal(t, tt.raw, back)
		})
	}
}

func TestSIDErrors(t *testing.T) {
	for _, raw := range [][]byte{
		nil,
		{1, 0, 0, 0, 0, 0, 0},
		{2, 0, 0, 0, 0, 0, 0, 5},
		{1, 1, 0, 0, 0, 0, 0, 5},
		{1, 16, 0, 0, 0, 0, 0, 5},
		{1, 0, 0, 0, 0, 0, 0, 5, 0},
	} {
		_, err := SIDFromBytes(raw)
		assert.Error(t, err, "% x", raw)
	}
	for _, text := range []string{
		"", "S-1", "S-2-5-32", "X-1-5-32", "S-1-x-32", "S-1-5-32-4294967296", "S-1-5--1",
		"S-1-5-1-2-3-4-5-6-7-8-9-10-11-12-13-14-15-16",
	} {
		_, err := SIDToBytes(text)
		assert.Error(t, err, "%q", text)
	}
}

func FuzzSID(f *testing.F) {
	f.Add([]byte{1, 2, 0, 0, 0, 0, 0, 5, 0x20, 0, 0, 0, 0x20, 0x02, 0, 0})
	f.Add([]byte{1, 0, 0, 0, 0, 0, 0, 5})
	f.Add([]byte("S-1-5-32-544"))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := SIDFromBytes(b)
		if err == nil {
			back, err := SIDToBytes(s)
			require.NoError(t, err, s)
			require.Equal(t, b, back)
		}
		if raw, err := SIDToBytes(string(b)); err == nil {
			_, err := SIDFromBytes(raw)
			require.NoError(t, err)
		}
	})
}
