package main

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestFormatCounts(t *testing.T) {
	for _, tc := range []struct {
		in   map[string]int
		want string
	}{
		{nil, "no changes"},
		{map[string]int{"create": 3}, "3 create"},
		{map[string]int{"block": 1, "create": 3, "skip": 0}, "3 create, 1 block"},
		{map[string]int{"skip": 12, "update": 2, "create-department": 1, "zzz": 4, "aaa": 5}, "1 create-department, 2 update, 12 skip, 5 aaa, 4 zzz"},
	} {
		assert.Equal(t, tc.want, formatCounts(tc.in), "%v", tc.in)
	}
}
