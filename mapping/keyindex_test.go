package mapping

import (
	"testing"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"
)

// keyIndex answers as a map keyed by the strings does, even when every
// string has the same hash (its exact fallback, which real 64-bit hashes
// practically never reach).
func TestKeyIndexCollisions(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		var keys []string // by entry number
		hashes := map[string]uint64{}
		x := keyIndex{hashed: map[uint64]int32{}, eq: func(o int32, k string) bool { return keys[o] == k }}
		x.hash = func(s string) uint64 { return hashes[s] }
		want := map[string]int32{}
		pool := []string{"a", "b", "c", "d", ""}
		for range rapid.IntRange(0, 30).Draw(t, "ops") {
			k := rapid.SampledFrom(pool).Draw(t, "key")
			if _, ok := hashes[k]; !ok {
				hashes[k] = uint64(rapid.IntRange(0, 1).Draw(t, "hash")) // few hashes: collisions
			}
			if rapid.Bool().Draw(t, "set") {
				keys = append(keys, k)
				o := int32(len(keys) - 1)
				x.set(k, o)
				want[k] = o
			}
			for _, q := range pool {
				if _, ok := hashes[q]; !ok {
					continue
				}
				o, ok := x.get(q)
				w, wok := want[q]
				require.Equal(t, wok, ok, "key %q", q)
				require.Equal(t, w, o, "key %q", q)
			}
		}
	})
}
