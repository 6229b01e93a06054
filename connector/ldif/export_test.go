package ldif

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"

	"github.com/dirsync-go/dirsync/connector"
	"github.com/dirsync-go/dirsync/internal/ldaputil"
)

func readTestdata(t *testing.T, name string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	require.NoError(t, err)
	return string(data)
}

// The sample export in the shapes ldapsearch writes it (see
// clients/tools/ldapsearch.c of OpenLDAP: a header block of comments, then
// the entries, then one search result per request and a "# numResponses"
// block at the very end).
func ldapsearchVariants(t *testing.T) map[string]string {
	extended := readTestdata(t, "ldapsearch.ldif")
	const result = "# search result\nsearch: 2\nresult: 0 Success\n"
	require.Contains(t, extended, result)

	// With -L the header loses "# extended LDIF" and gains the version
	// line, and of the result only the comment is left.
	dashL := strings.Replace(extended, "# extended LDIF\n", "version: 1\n\n", 1)
	dashL = strings.Replace(dashL, "\nversion: 1\n", "\n", 1)
	dashL = strings.Replace(dashL, result, "# search result\n", 1)

	// With paged results every page ends with its own search result, and
	// the counts come once, after the last page.
	i := strings.Index(extended, "# mallory")
	require.Positive(t, i)
	paged := extended[:i] + "# search result\nsearch: 2\nresult: 0 Success\ncontrol: 1.2.840.113556.1.4.319 false MA0CAQAECEFBQUFBQUFB\n\n" +
		strings.Replace(extended[i:], "search: 2", "search: 3", 1)
	paged = strings.Replace(paged, "# numResponses: 9", "# numResponses: 10", 1)
	paged = strings.Replace(paged, "# requesting: * entryUUID\n", "# requesting: * entryUUID\n# with pagedResults control: size=4\n", 1)

	return map[string]string{"extended": extended, "-L": dashL, "paged": paged}
}

func requireIncomplete(t *testing.T, data, msg string) *ParseError {
	t.Helper()
	err := readErr(t, data)
	require.ErrorIs(t, err, ErrIncomplete, msg)
	var pe *ParseError
	require.ErrorAs(t, err, &pe, msg)
	require.Positive(t, pe.Line, msg)
	return pe
}

// An ldapsearch export whose header promises the closing counts is read
// only whole: every shorter prefix, cut anywhere, fails as incomplete and
// yields nothing.
func TestLdapsearchPrefixesAreIncomplete(t *testing.T) {
	for name, full := range ldapsearchVariants(t) {
		t.Run(name, func(t *testing.T) {
			es := readString(t, full, Config{})
			require.Len(t, es, 5)
			whole := strings.TrimRight(full, "\n")
			step := 1
			if name != "extended" {
				step = 7 // keep the run short; the extended form is cut at every byte
			}
			// From the end of the header block on: a cut inside the
			// header leaves no recognisable header, and a file of
			// comments only holds no entries.
			start := strings.Index(full, "#\n\n") + 2
			require.Greater(t, start, 2)
			for n := start; n < len(whole); n += step {
				requireIncomplete(t, full[:n], fmt.Sprintf("cut after %d bytes: …%q", n, full[max(0, n-30):n]))
			}
		})
	}
}

// The counts in the trailer must match the file: a lost entry, or a count
// edited by hand, is an incomplete export.
func TestLdapsearchCountsMustMatch(t *testing.T) {
	for name, full := range ldapsearchVariants(t) {
		t.Run(name, func(t *testing.T) {
			for n := range 20 {
				data := strings.Replace(full, "# numEntries: 8", fmt.Sprintf("# numEntries: %d", n), 1)
				if n == 8 {
					readString(t, data, Config{})
					continue
				}
				pe := requireIncomplete(t, data, fmt.Sprint(n))
				assert.Contains(t, pe.Error(), "8 entries")
			}
			// Without a numEntries line ldapsearch read no entry.
			requireIncomplete(t, strings.Replace(full, "# numEntries: 8\n", "", 1), "no numEntries")

			// Any one entry missing from the middle of the file.
			records := strings.Split(full, "\n\n")
			dropped := 0
			for i, r := range records {
				if !strings.Contains(r, "\ndn:") && !strings.HasPrefix(r, "dn:") {
					continue
				}
				data := strings.Join(append(append([]string{}, records[:i]...), records[i+1:]...), "\n\n")
				requireIncomplete(t, data, fmt.Sprintf("record %d dropped", i))
				dropped++
			}
			assert.Equal(t, 8, dropped)
		})
	}
}

// A result other than success, on any page, and a trailer without any
// result (the connection dropped before the server answered) are
// incomplete exports.
func TestLdapsearchResult(t *testing.T) {
	vs := ldapsearchVariants(t)
	for _, code := range []string{"1 Operations error", "3 Time limit exceeded", "4 Size limit exceeded", "11 Administrative limit exceeded", "51 Server is busy"} {
		for _, name := range []string{"extended", "paged"} {
			for _, page := range []string{"search: 2", "search: 3"} {
				if name == "extended" && page == "search: 3" {
					continue
				}
				data := strings.Replace(vs[name], page+"\nresult: 0 Success", page+"\nresult: "+code, 1)
				pe := requireIncomplete(t, data, name+" "+page+" "+code)
				assert.Contains(t, pe.Error(), code)
			}
		}
	}
	noResult := strings.Replace(vs["extended"], "# search result\nsearch: 2\nresult: 0 Success\n", "", 1)
	pe := requireIncomplete(t, noResult, "no result")
	assert.Contains(t, pe.Error(), "no search result")
	noResultL := strings.Replace(vs["-L"], "# search result\n", "", 1)
	requireIncomplete(t, noResultL, "no result with -L")
	noCode := strings.Replace(vs["extended"], "result: 0 Success\n", "", 1)
	requireIncomplete(t, noCode, "search without result")
}

// Files without ldapsearch's header promise nothing: ldifde output and
// ldapsearch -LLL output read at every record boundary.
func TestNoHeaderNoTrailerNeeded(t *testing.T) {
	lll := regexp.MustCompile(`(?m)^#.*\n`).ReplaceAllString(readTestdata(t, "ldapsearch.ldif"), "")
	lll = strings.Replace(lll, "search: 2\nresult: 0 Success\n", "", 1)
	for name, full := range map[string]string{"ldifde": readTestdata(t, "ldifde.ldf"), "-LLL": lll} {
		t.Run(name, func(t *testing.T) {
			records := strings.Split(full, "\n\n")
			for n := 1; n <= len(records); n++ {
				data := strings.Join(records[:n], "\n\n")
				c, err := fromBytes([]byte(data), Config{})
				require.NoError(t, err)
				require.NoError(t, c.Check(t.Context()), "first %d records", n)
			}
		})
	}
}

// A base64 value that is not exactly what an encoder writes (characters
// missing, padding missing or extra, characters outside the alphabet,
// stray bits in the last character) is an error naming its line, for the
// dn and for any attribute, folded or not. Well-formed values read back.
func TestBase64IsStrict(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		raw := rapid.SliceOfN(rapid.Byte(), 1, 48).Draw(t, "raw")
		enc := base64.StdEncoding.EncodeToString(raw)
		bad := enc
		switch rapid.IntRange(0, 4).Draw(t, "damage") {
		case 0: // nothing
		case 1: // characters missing at the end
			bad = enc[:len(enc)-rapid.IntRange(1, min(3, len(enc)-1)).Draw(t, "cut")]
		case 2: // a character outside the standard alphabet
			at := rapid.IntRange(1, len(enc)).Draw(t, "at")
			bad = enc[:at] + rapid.SampledFrom([]string{"!", "-", "_", ".", "*", "é", " ", "%"}).Draw(t, "char") + enc[at:]
		case 3: // one padding character too many
			bad = enc + "="
		case 4: // a character dropped from the middle
			at := rapid.IntRange(0, len(enc)-1).Draw(t, "drop")
			bad = enc[:at] + enc[at+1:]
		}
		// Fold the value at some point, as ldapsearch and ldifde do.
		fold := func(name, v string) string {
			line := name + ":: " + v
			at := rapid.IntRange(len(name)+3, len(line)).Draw(t, "fold")
			if at == len(line) {
				return line + "\n"
			}
			return line[:at] + "\n " + line[at:] + "\n"
		}

		inDN := rapid.Bool().Draw(t, "inDN")
		fillers := rapid.IntRange(0, 5).Draw(t, "fillers")
		var sb strings.Builder
		sb.WriteString("# export\n\n")
		line := 3
		if inDN {
			sb.WriteString(fold("dn", bad))
		} else {
			sb.WriteString("dn: CN=a,DC=t\n")
		}
		sb.WriteString("objectClass: user\nentryUUID: 1\n")
		for i := range fillers {
			fmt.Fprintf(&sb, "description: %d\n", i)
		}
		if !inDN {
			line += 3 + fillers
			sb.WriteString(fold("sn", bad))
		}
		sb.WriteString("title: x\n")

		c, err := fromBytes([]byte(sb.String()), Config{})
		require.NoError(t, err)
		err = c.Check(context.Background())
		if bad == enc {
			if inDN {
				// A random DN rarely parses; the value decoded, though.
				var pe *ParseError
				if errors.As(err, &pe) {
					assert.NotContains(t, err.Error(), "base64")
				}
				return
			}
			require.NoError(t, err)
			es, err := connector.ReadAll(context.Background(), c)
			require.NoError(t, err)
			want := string(raw)
			if !printable(want) {
				want = enc
			}
			assert.Equal(t, want, es[0].Attr("sn"))
			return
		}
		var pe *ParseError
		require.ErrorAs(t, err, &pe, "%q accepted", bad)
		assert.Equal(t, line, pe.Line, err.Error())
		assert.Contains(t, err.Error(), "base64")
	})
}

// deepDNFile is an export with one user whose DN has n RDNs, folded at 76
// columns as ldapsearch folds it.
func deepDNFile(n int) []byte {
	var dn strings.Builder
	dn.WriteString("dn: cn=deep")
	for range n - 1 {
		dn.WriteString(",ou=x")
	}
	s := dn.String()
	var out strings.Builder
	out.WriteString("# deep\n\n")
	out.WriteString(s[:min(76, len(s))])
	for i := 76; i < len(s); i += 75 {
		out.WriteString("\n ")
		out.WriteString(s[i:min(i+75, len(s))])
	}
	out.WriteString("\nobjectClass: user\nentryUUID: 1\n")
	return []byte(out.String())
}

// DNs deeper than ldaputil.MaxDNDepth are refused with the line of the dn;
// up to the limit they are read.
func TestDNDepthCap(t *testing.T) {
	es := readString(t, string(deepDNFile(ldaputil.MaxDNDepth)), Config{})
	require.Len(t, es, 1)
	assert.Len(t, es[0].Path, ldaputil.MaxDNDepth-1)

	for _, n := range []int{ldaputil.MaxDNDepth + 1, 5000, 100_000} {
		err := readErr(t, string(deepDNFile(n)))
		var pe *ParseError
		require.ErrorAs(t, err, &pe)
		assert.Equal(t, 3, pe.Line)
		assert.ErrorIs(t, err, ldaputil.ErrDNTooDeep)
		assert.Contains(t, err.Error(), fmt.Sprintf("more than %d RDNs", ldaputil.MaxDNDepth))
		assert.Less(t, len(err.Error()), 1000, "the error does not carry the whole DN")
	}

	// A deep DN in a member value is a DN that names no entry.
	group := "dn: cn=g,dc=t\nobjectClass: group\nentryUUID: g\nmember: " + strings.Repeat("ou=x,", 100_000) + "dc=t\n"
	es = readString(t, group, Config{})
	require.Len(t, es, 1)
	assert.Empty(t, es[0].Members)
}

// Reading a DN of many levels costs memory in proportion to the file, not
// to its square: ten times the levels allocate about ten times the bytes.
// (Measured with testing.Benchmark's allocation counters, not the clock.)
func TestDeepDNCostIsLinear(t *testing.T) {
	if testing.Short() {
		t.Skip("allocation measurement takes a few seconds under -race")
	}
	measure := func(n int) (input int, alloc int64) {
		data := deepDNFile(n)
		c, err := fromBytes(data, Config{})
		require.NoError(t, err)
		res := testing.Benchmark(func(b *testing.B) {
			b.ReportAllocs()
			for range b.N {
				err = c.Check(t.Context())
			}
		})
		require.Error(t, err)
		return len(data), res.AllocedBytesPerOp()
	}
	in1, a1 := measure(10_000)
	in2, a2 := measure(100_000)
	t.Logf("10k RDNs: %d bytes in, %d bytes allocated; 100k RDNs: %d bytes in, %d bytes allocated", in1, a1, in2, a2)
	assert.Less(t, a2, 8*int64(in2), "allocation bounded by a small multiple of the input")
	assert.Less(t, float64(a2)/float64(a1), 15.0, "ten times the levels, about ten times the bytes")
}

func BenchmarkDeepDN(b *testing.B) {
	for _, n := range []int{1_000, 10_000, 100_000} {
		data := deepDNFile(n)
		c, err := fromBytes(data, Config{})
		if err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(data)))
			for range b.N {
				if c.Check(b.Context()) == nil {
					b.Fatal("a DN too deep was accepted")
				}
			}
		})
	}
}
