package main

import (
	"bytes"
	"encoding/base64"
	"flag"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dirsync-go/dirsync/internal/fakenames"
)

const ldifPath = "../../examples/quickstart/company.ldif"

// ldifCopies are the other embedded copies of the sample company: the admin
// console's (go:embed cannot reach another directory).
var ldifCopies = []string{"../../examples/console/company.ldif"}

var update = flag.Bool("update", false, "rewrite "+ldifPath+" (and its copies) from the generator")

// TestCheckedInFile fails when examples/quickstart/company.ldif, or a copy
// of it, is not what the generator writes.
func TestCheckedInFile(t *testing.T) {
	var buf bytes.Buffer
	require.NoError(t, generate(&buf))
	for _, path := range append([]string{ldifPath}, ldifCopies...) {
		if *update {
			require.NoError(t, os.WriteFile(path, buf.Bytes(), 0o644))
		}
		got, err := os.ReadFile(path)
		require.NoError(t, err)
		if !bytes.Equal(got, buf.Bytes()) {
			t.Fatalf("%s differs from the generator's output; run\n\tgo test ./internal/sampledata -update", path)
		}
	}
}

func TestDeterministic(t *testing.T) {
	var a, b bytes.Buffer
	require.NoError(t, generate(&a))
	require.NoError(t, generate(&b))
	require.Equal(t, a.String(), b.String())
}

// record is a parsed LDIF entry: attribute names lower-cased.
type record struct {
	dn    string
	attrs map[string][]string
}

func (r record) get(name string) string {
	if v := r.attrs[name]; len(v) > 0 {
		return v[0]
	}
	return ""
}

func (r record) is(class string) bool { return slices.Contains(r.attrs["objectclass"], class) }

// parse reads the subset of LDIF the generator writes, checking the
// physical format on the way.
func parse(t *testing.T, data []byte) []record {
	t.Helper()
	text := string(data)
	require.True(t, strings.HasSuffix(text, "\n"))
	var logical []string
	for i, l := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
		require.LessOrEqual(t, len(l), lineWidth, "line %d too long", i+1)
		for _, c := range l {
			require.True(t, c < 0x7f && (c >= 0x20), "line %d: non-ASCII or control character", i+1)
		}
		if strings.HasPrefix(l, " ") {
			require.NotEmpty(t, logical, "line %d: continuation of nothing", i+1)
			logical[len(logical)-1] += l[1:]
			continue
		}
		logical = append(logical, l)
	}
	var out []record
	cur := record{attrs: map[string][]string{}}
	flush := func() {
		if cur.dn != "" {
			out = append(out, cur)
		}
		cur = record{attrs: map[string][]string{}}
	}
	for _, l := range logical {
		if l == "" {
			flush()
			continue
		}
		name, val, ok := strings.Cut(l, ":")
		require.True(t, ok, "line %q", l)
		if b64, isB64 := strings.CutPrefix(val, ": "); isB64 {
			raw, err := base64.StdEncoding.DecodeString(b64)
			require.NoError(t, err, "line %q", l)
			val = string(raw)
		} else {
			val = strings.TrimPrefix(val, " ")
		}
		if name == "dn" {
			require.Empty(t, cur.dn, "two dn lines")
			cur.dn = val
			continue
		}
		require.NotEmpty(t, cur.dn, "attribute before dn")
		n := strings.ToLower(name)
		cur.attrs[n] = append(cur.attrs[n], val)
	}
	flush()
	return out
}

// parentDN strips the first RDN, honouring escaped commas.
func parentDN(dn string) string {
	for i := 0; i < len(dn); i++ {
		switch dn[i] {
		case '\\':
			i++
		case ',':
			return dn[i+1:]
		}
	}
	return ""
}

func TestSampleShape(t *testing.T) {
	var buf bytes.Buffer
	require.NoError(t, generate(&buf))
	recs := parse(t, buf.Bytes())

	byDN := map[string]record{}
	guids := map[string]string{}
	guidRE := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	for _, r := range recs {
		key := strings.ToLower(r.dn)
		_, dup := byDN[key]
		require.False(t, dup, "duplicate DN %s", r.dn)
		// Parents come first.
		if p := parentDN(r.dn); r.dn != baseDN {
			_, ok := byDN[strings.ToLower(p)]
			require.True(t, ok, "%s: parent %s not before it", r.dn, p)
		}
		byDN[key] = r
		g := r.get("objectguid")
		require.Len(t, g, 16, r.dn)
		s := canonicalGUID([]byte(g))
		require.Regexp(t, guidRE, s, r.dn)
		require.NotContains(t, guids, s, "GUID of %s reused", r.dn)
		guids[s] = r.dn
	}

	resolve := func(from, attr, dn string) record {
		r, ok := byDN[strings.ToLower(dn)]
		require.True(t, ok, "%s: %s %q does not resolve", from, attr, dn)
		return r
	}

	users := map[string]int{}
	var disabled, cyrillic, groups, ous, lastFirst int
	sams, mails := map[string]bool{}, map[string]bool{}
	for _, r := range recs {
		switch {
		case r.is("user"):
			ou := parentDN(r.dn)
			users[ou]++
			uac, err := strconv.Atoi(r.get("useraccountcontrol"))
			require.NoError(t, err, r.dn)
			if uac&2 != 0 {
				disabled++
			}
			if strings.ContainsFunc(r.get("cn"), func(c rune) bool { return unicode.Is(unicode.Cyrillic, c) }) {
				cyrillic++
				require.NotEmpty(t, r.get("mail"), r.dn)
			}
			if strings.Contains(r.dn, `\,`) {
				lastFirst++
				require.Contains(t, r.get("cn"), ", ")
			}
			sam := r.get("samaccountname")
			require.Regexp(t, `^[a-z0-9][a-z0-9-]{0,19}$`, sam, r.dn)
			require.False(t, sams[sam], "sAMAccountName %s reused", sam)
			sams[sam] = true
			if m := r.get("mail"); m != "" {
				require.Regexp(t, `^[a-z0-9.-]+@example\.test$`, m, r.dn)
				require.False(t, mails[m], "mail %s reused", m)
				mails[m] = true
			}
			require.Equal(t, sam+"@example.test", r.get("userprincipalname"))
			if m := r.get("manager"); m != "" {
				require.True(t, resolve(r.dn, "manager", m).is("user"))
			}
		case r.is("group"):
			groups++
			require.NotEmpty(t, r.attrs["member"], r.dn)
			for _, m := range r.attrs["member"] {
				mr := resolve(r.dn, "member", m)
				require.Contains(t, mr.attrs["memberof"], r.dn, "%s lacks memberOf %s", m, r.dn)
			}
		case r.is("organizationalUnit"):
			ous++
		}
		for _, g := range r.attrs["memberof"] {
			gr := resolve(r.dn, "memberOf", g)
			require.True(t, gr.is("group"))
			require.Contains(t, gr.attrs["member"], r.dn)
		}
	}

	total := 0
	for _, n := range users {
		total += n
	}
	assert.Equal(t, 200, total)
	assert.Equal(t, 8, disabled)
	assert.Equal(t, 15, cyrillic)
	assert.Equal(t, 16, groups)
	assert.Equal(t, 13, ous)
	assert.GreaterOrEqual(t, lastFirst, 5)
	assert.Equal(t, 9, users["OU=Service Accounts,DC=example,DC=test"])

	// What the quickstart's app and its README rely on.
	for _, sam := range []string{"1c-integration", "2fa-admin", "365-relay", "jmiller", "jmiller2"} {
		assert.True(t, sams[sam], sam)
	}
	ceo := byDN[strings.ToLower("CN=Olivia Bennett,OU=Head Office users,"+baseDN)]
	assert.Equal(t, "olivia.bennett@example.test", ceo.get("mail"))
	assert.Equal(t, "512", ceo.get("useraccountcontrol"))
	ethan := byDN[strings.ToLower("CN=Ethan Walker,OU=Sales department users,OU=North America,"+baseDN)]
	assert.Equal(t, "ethan.walker@example.test", ethan.get("mail"))
	assert.Equal(t, "514", ethan.get("useraccountcontrol"))
	assert.False(t, mails["priya.raman@example.test"])
	smith := byDN[strings.ToLower(`CN=Smith\, John,OU=Sales department users,OU=North America,`+baseDN)]
	assert.Equal(t, "Smith, John", smith.get("cn"))
	// The Moscow office is named from the Russian tables of
	// internal/fakenames, mail in their transliteration.
	latin := map[string]string{}
	for _, n := range fakenames.RussianGiven {
		latin[n.Name] = n.Latin
	}
	for _, n := range fakenames.RussianFamily {
		latin[n.Name] = n.Latin
		latin[n.Feminine().Name] = n.Feminine().Latin
	}
	moscow := 0
	for _, r := range recs {
		if r.is("user") && parentDN(r.dn) == "OU=Russia Users,"+baseDN {
			moscow++
			given, family := latin[r.get("givenname")], latin[r.get("sn")]
			require.NotEmpty(t, given, r.dn)
			require.NotEmpty(t, family, r.dn)
			assert.Regexp(t, `^`+given+`\.`+family+`[0-9]*@example\.test$`, r.get("mail"), r.dn)
		}
	}
	assert.Equal(t, len(russianRoles), moscow)
	for _, svc := range recs {
		if parentDN(svc.dn) == "OU=Service Accounts,"+baseDN {
			assert.Empty(t, svc.get("mail"), svc.dn)
		}
	}

	if testing.Verbose() {
		var keys []string
		for k := range users {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			t.Logf("%3d  %s", users[k], k)
		}
		t.Logf("users %d, disabled %d, Cyrillic %d, CN with escaped comma %d, groups %d, OUs %d",
			total, disabled, cyrillic, lastFirst, groups, ous)
		for _, r := range recs {
			if r.is("group") {
				t.Logf("group %-22s %3d members", r.get("cn"), len(r.attrs["member"]))
			}
		}
	}
}

// canonicalGUID renders AD's objectGUID bytes in the canonical string
// form: the first three fields are little-endian.
func canonicalGUID(b []byte) string {
	return fmt.Sprintf("%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%x",
		b[3], b[2], b[1], b[0], b[5], b[4], b[7], b[6], b[8], b[9], b[10:16])
}

func TestWriteLineFolds(t *testing.T) {
	var buf bytes.Buffer
	long := strings.Repeat("x", 200)
	require.NoError(t, writeLine(&buf, "description", long))
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	require.Len(t, lines, 3)
	assert.Len(t, lines[0], 76)
	assert.Len(t, lines[1], 76)
	assert.Equal(t, "description: "+long, lines[0]+lines[1][1:]+lines[2][1:])

	buf.Reset()
	require.NoError(t, writeLine(&buf, "cn", "Пётр"))
	assert.Equal(t, "cn:: 0J/RkdGC0YA=\n", buf.String())
	buf.Reset()
	require.NoError(t, writeLine(&buf, "description", " leading space"))
	assert.True(t, strings.HasPrefix(buf.String(), "description:: "))
}

func TestEscapeRDN(t *testing.T) {
	assert.Equal(t, `Smith\, John`, escapeRDN("Smith, John"))
	assert.Equal(t, `a\+b\=c\\d`, escapeRDN(`a+b=c\d`))
	assert.Equal(t, `\#1`, escapeRDN("#1"))
	assert.Equal(t, "O'Brien", escapeRDN("O'Brien"))
}
