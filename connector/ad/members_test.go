package ad

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/dirsync-go/dirsync/connector"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func guidN(n int) string { return fmt.Sprintf("%08x-0000-4000-8000-%012x", n, n) }

func TestMembershipsPackRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 50 {
		m := memberships{}
		for g := range r.IntN(20) {
			var ms []string
			for range r.IntN(40) {
				ms = append(ms, guidN(r.IntN(1000)))
			}
			m[guidN(100000+g)] = slices.Compact(slices.Sorted(slices.Values(ms)))
		}
		p, err := m.pack()
		require.NoError(t, err)
		back, err := unpackMemberships(p)
		require.NoError(t, err)
		for g := range m {
			if len(m[g]) == 0 {
				assert.Empty(t, back[g])
			} else {
				assert.Equal(t, m[g], back[g])
			}
		}
		assert.Len(t, back, len(m))
		cur := cursor{V: cursorVersion, DC: "ldaps://dc", Base: "DC=x", USN: 1}
		enc, err := cur.finish(m)
		require.NoError(t, err)
		dec, err := decodeCursor(enc)
		require.NoError(t, err)
		got, err := dec.members()
		require.NoError(t, err)
		assert.Len(t, got, len(m))
	}
	_, err := unpackMemberships(map[string][]byte{guidN(1): make([]byte, 17)})
	assert.Error(t, err)
	bad := cursor{V: cursorVersion, DC: "x", USN: 1, Groups: map[string][]byte{guidN(1): {1, 2, 3}}}
	_, err = bad.members()
	assert.True(t, errors.Is(err, connector.ErrCursorExpired), "a corrupt membership list expires the cursor: %v", err)
}

func TestSymmetricDiffAndClosure(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for range 200 {
		var a, b []string
		for range r.IntN(30) {
			a = append(a, guidN(r.IntN(40)))
		}
		for range r.IntN(30) {
			b = append(b, guidN(r.IntN(40)))
		}
		a, b = slices.Compact(slices.Sorted(slices.Values(a))), slices.Compact(slices.Sorted(slices.Values(b)))
		var want []string
		for _, x := range a {
			if !slices.Contains(b, x) {
				want = append(want, x)
			}
		}
		for _, x := range b {
			if !slices.Contains(a, x) {
				want = append(want, x)
			}
		}
		slices.Sort(want)
		assert.Equal(t, want, symmetricDiff(a, b), "%v Δ %v", a, b)
	}
	// Nested groups, with a cycle: the closure ends and holds every
	// member reachable in either graph.
	before := memberships{"g1": {"g2", "u1"}, "g2": {"g1", "u2"}}
	after := memberships{"g2": {"g1", "u3"}}
	assert.Equal(t, []string{"g1", "g2", "u1", "u2", "u3"}, closure([]string{"g2"}, before, after))
	assert.Equal(t, []string{"u9"}, closure([]string{"u9"}, before, after))
}
