package fake

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
)

// companyDigest hashes every field of every entry of a company, attribute
// names in order.
func companyDigest(n int, seed int64) string {
	h := sha256.New()
	for _, e := range Company(n, seed) {
		fmt.Fprintf(h, "%q %v %q %v %q %q %q\n", e.ID, e.Kind, e.DN, e.Disabled, e.Path, e.Members, e.MemberOf)
		for _, k := range slices.Sorted(maps.Keys(e.Attrs)) {
			fmt.Fprintf(h, "\t%q %q\n", k, e.Attrs[k])
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Company's output is pinned: benchmarks and other packages' tests build on
// it, and its name tables (internal/fakenames) are shared with the sample
// data generator, so a change to them must not slip into fake companies
// unnoticed. A deliberate change updates these digests.
func TestCompanyStable(t *testing.T) {
	for _, c := range []struct {
		n    int
		seed int64
		want string
	}{
		{9, -7, "f376a34a5a010d258113057625859d4a2c8e1c610f19edb3db4703eea2ce7efb"},
		{300, 42, "e4e8f2376486e7ba2cc4c566af7bb0294cb378139bec0334b404907985f08aa9"},
		{2000, 1, "1d6fa826aedc96e4e9ca6d8f57fb4b90d8bbf9d8a2d3ca9a604c63406dd11809"},
	} {
		assert.Equal(t, c.want, companyDigest(c.n, c.seed), "Company(%d, %d)", c.n, c.seed)
	}
}
