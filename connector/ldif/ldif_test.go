package ldif

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"unicode/utf16"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dirsync-go/dirsync/connector"
	"github.com/dirsync-go/dirsync/connector/connectortest"
	"github.com/dirsync-go/dirsync/internal/ldaputil"
)

// IDs of the sample files. The GUIDs were worked out from the bytes by
// hand (first three groups little-endian); smithGUID is Microsoft's own
// example, {3F2504E0-4F89-11D3-9A0C-0305E82C3301}, whose bytes are
// E0 04 25 3F 89 4F D3 11 9A 0C 03 05 E8 2C 33 01.
const (
	smithGUID  = "3f2504e0-4f89-11d3-9a0c-0305e82c3301"
	mariaGUID  = "1d6e2c9b-7f4a-4c3b-8e5d-1a2b3c4d5e6f"
	adminGUID  = "04030201-0605-0807-0910-111213141516"
	salesGUID  = "f0e1d2c3-a4b5-c6d7-f8e9-fafbfcfdfeff"
	adminsGUID = "40302010-6050-8070-9000-a0b0c0d0e0f0"

	jsmithUUID  = "5d1e7e9a-3f0b-103f-9b1c-1f2e3d4c5b10"
	ipetrovUUID = "5d1e7e9a-3f0b-103f-9b1c-1f2e3d4c5b11"
	malloryUUID = "5d1e7e9a-3f0b-103f-9b1c-1f2e3d4c5b12"
	salesUUID   = "5d1e7e9a-3f0b-103f-9b1c-1f2e3d4c5b20"
	allUUID     = "5d1e7e9a-3f0b-103f-9b1c-1f2e3d4c5b21"
)

func open(t *testing.T, name string, cfg Config) *Connector {
	t.Helper()
	cfg.Path = filepath.Join("testdata", name)
	c, err := Open(t.Context(), cfg)
	require.NoError(t, err)
	return c
}

func byID(t *testing.T, c connector.Connector) map[string]connector.Entry {
	t.Helper()
	es, err := connector.ReadAll(t.Context(), c)
	require.NoError(t, err)
	m := map[string]connector.Entry{}
	for _, e := range es {
		m[e.ID] = e
	}
	require.Len(t, m, len(es))
	return m
}

func TestLdifde(t *testing.T) {
	c := open(t, "ldifde.ldf", Config{})
	es := byID(t, c)
	require.Len(t, es, 5, "3 users and 2 groups; the OU, computer and contact are left out")

	smith := es[smithGUID]
	assert.Equal(t, connector.KindUser, smith.Kind)
	assert.Equal(t, `CN=Smith\, John,OU=Sales department users,OU=Europe,DC=example,DC=test`, smith.DN)
	assert.Equal(t, []string{"Europe", "Sales department users"}, smith.Path)
	assert.Equal(t, "jsmith", smith.Attr("sAMAccountName"))
	assert.Equal(t, "Smith, John", smith.Attr("displayName"))
	assert.Equal(t, smith.DN, smith.Attr("distinguishedName"), "a folded line is joined")
	assert.Equal(t, smithGUID, smith.Attr("objectGUID"))
	assert.Equal(t, "S-1-5-21-3623829191-3361050492-30300564-1013", smith.Attr("objectSid"))
	assert.Equal(t, "CN=Мария Смирнова,OU=Moscow users,OU=Europe,DC=example,DC=test", smith.Attr("manager"))
	assert.False(t, smith.Disabled)
	assert.Equal(t, []string{salesGUID}, smith.MemberOf)
	for name := range smith.Attrs {
		assert.Equal(t, strings.ToLower(name), name)
	}
	assert.NotContains(t, smith.Attrs, "changetype")

	maria := es[mariaGUID]
	assert.Equal(t, "CN=Мария Смирнова,OU=Moscow users,OU=Europe,DC=example,DC=test", maria.DN, "a folded base64 DN")
	assert.Equal(t, []string{"Europe", "Moscow users"}, maria.Path)
	assert.Equal(t, "Мария", maria.Attr("givenName"))
	assert.Equal(t, "Смирнова", maria.Attr("sn"))
	assert.Equal(t, "Отдел продаж", maria.Attr("department"))
	assert.True(t, maria.Disabled, "userAccountControl 514")

	admin := es[adminGUID]
	assert.Empty(t, admin.Path, "CN=Users is a container, not an OU")
	assert.NotContains(t, admin.Attrs, "unicodepwd", "password attributes are dropped")
	assert.Equal(t, []string{adminsGUID}, admin.MemberOf, "filled in from the group's member")

	sales := es[salesGUID]
	assert.Equal(t, connector.KindGroup, sales.Kind)
	assert.Equal(t, []string{smithGUID, adminsGUID}, sales.Members, "the computer member is ignored; sorted")
	assert.Len(t, sales.Attrs.Values("member"), 3, "Attrs keep the raw values")
	assert.Equal(t, []string{salesGUID}, es[adminsGUID].MemberOf, "nested group")
	assert.Equal(t, []string{adminGUID}, es[adminsGUID].Members)

	require.NoError(t, connectortest.Test(t.Context(), c, smithGUID, mariaGUID, adminGUID, salesGUID, adminsGUID))
}

func TestLdapsearch(t *testing.T) {
	c := open(t, "ldapsearch.ldif", Config{})
	es := byID(t, c)
	require.Len(t, es, 5)

	smith := es[jsmithUUID]
	assert.Equal(t, `cn=Smith\, John,ou=Sales department users,ou=Europe,dc=example,dc=org`, smith.DN)
	assert.Equal(t, []string{"Europe", "Sales department users"}, smith.Path)
	assert.Equal(t, "John looks after the largest accounts in the region, and has done so since the first office opened.",
		smith.Attr("description"), "a folded line")
	assert.Equal(t, []string{salesUUID}, smith.MemberOf)

	ivan := es[ipetrovUUID]
	assert.Equal(t, "cn=Иван Петров,ou=Moscow users,ou=Europe,dc=example,dc=org", ivan.DN)
	assert.Equal(t, "Иван", ivan.Attr("givenName"), "base64 Cyrillic")
	assert.Equal(t, "Петров", ivan.Attr("sn"))
	assert.Equal(t, []string{salesUUID}, ivan.MemberOf, "matched case-insensitively from the group's member")

	mallory := es[malloryUUID]
	assert.Equal(t, []string{"Contractors"}, mallory.Path)
	assert.Equal(t, "/9j/4AAQSkZJRgAB", mallory.Attr("jpegPhoto"), "binary values stay base64")
	assert.NotContains(t, mallory.Attrs, "userpassword")
	assert.Equal(t, []string{allUUID}, mallory.MemberOf, "uniqueMember with a UID suffix")

	sales := es[salesUUID]
	assert.Equal(t, []string{jsmithUUID, ipetrovUUID}, sales.Members, "the ghost member is ignored")
	assert.Equal(t, []string{allUUID}, sales.MemberOf)
	assert.Equal(t, []string{malloryUUID, salesUUID}, es[allUUID].Members)

	require.NoError(t, connectortest.Test(t.Context(), c, jsmithUUID, ipetrovUUID, malloryUUID, salesUUID, allUUID))
}

func TestBaseDN(t *testing.T) {
	c := open(t, "ldifde.ldf", Config{BaseDN: "ou=europe,dc=EXAMPLE,dc=test"})
	es := byID(t, c)
	require.Len(t, es, 2)
	assert.Equal(t, []string{"Europe", "Sales department users"}, es[smithGUID].Path, "Path is from the root, whatever the base")
	assert.Empty(t, es[smithGUID].MemberOf, "the group is outside the base")
	require.NoError(t, connectortest.Test(t.Context(), c, smithGUID, mariaGUID))
}

func TestIDAttribute(t *testing.T) {
	es := byID(t, open(t, "ldifde.ldf", Config{IDAttribute: "sAMAccountName"}))
	assert.Contains(t, es, "jsmith")
	assert.Contains(t, es, "Sales Europe")
	assert.Equal(t, []string{"Sales Europe"}, es["jsmith"].MemberOf)

	// A binary ID attribute is converted like any value: objectSid to
	// "S-1-…".
	es = byID(t, open(t, "ldifde.ldf", Config{IDAttribute: "objectSid", BaseDN: "OU=Sales department users,OU=Europe,DC=example,DC=test"}))
	assert.Contains(t, es, "S-1-5-21-3623829191-3361050492-30300564-1013")
}

func TestMissingIDNamesEntryAndLine(t *testing.T) {
	_, err := connector.ReadAll(t.Context(), open(t, "ldifde.ldf", Config{IDAttribute: "mail"}))
	var pe *ParseError
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, filepath.Join("testdata", "ldifde.ldf"), pe.File)
	assert.Equal(t, 34, pe.Line)
	assert.Contains(t, err.Error(), `ldif: testdata/ldifde.ldf: line 34: entry "CN=Мария Смирнова,OU=Moscow users,OU=Europe,DC=example,DC=test": no mail attribute`)
}

func TestKnownGUIDValue(t *testing.T) {
	data := "dn: CN=x,DC=example,DC=test\nobjectClass: user\nobjectGUID:: 4AQlP4lP0xGaDAMF6CwzAQ==\n"
	es := readString(t, data, Config{})
	require.Len(t, es, 1)
	assert.Equal(t, "3f2504e0-4f89-11d3-9a0c-0305e82c3301", es[0].ID)

	raw, err := ldaputil.GUIDToBytes("{3F2504E0-4F89-11D3-9A0C-0305E82C3301}")
	require.NoError(t, err)
	assert.Equal(t, []byte{0xE0, 0x04, 0x25, 0x3F, 0x89, 0x4F, 0xD3, 0x11, 0x9A, 0x0C, 0x03, 0x05, 0xE8, 0x2C, 0x33, 0x01}, raw)

	// A GUID printed as text, and 16 printable bytes left unencoded.
	es = readString(t, "dn: CN=x,DC=t\nobjectClass: user\nobjectGUID: {3F2504E0-4F89-11D3-9A0C-0305E82C3301}\n", Config{})
	assert.Equal(t, "3f2504e0-4f89-11d3-9a0c-0305e82c3301", es[0].ID)
	es = readString(t, "dn: CN=x,DC=t\nobjectClass: user\nobjectGUID: ABCDEFGHIJKLMNOP\n", Config{})
	assert.Equal(t, "44434241-4645-4847-494a-4b4c4d4e4f50", es[0].ID)
}

func readString(t *testing.T, data string, cfg Config) []connector.Entry {
	t.Helper()
	c, err := fromBytes([]byte(data), cfg)
	require.NoError(t, err)
	es, err := connector.ReadAll(t.Context(), c)
	require.NoError(t, err)
	return es
}

func readErr(t *testing.T, data string) error {
	t.Helper()
	c, err := New(t.Context(), strings.NewReader(data), Config{})
	require.NoError(t, err)
	n := 0
	var last error
	for _, err := range c.Read(t.Context()) {
		if err != nil {
			last = err
			continue
		}
		n++
	}
	require.Zero(t, n, "a malformed file yields nothing")
	require.Error(t, last)
	return last
}

func TestMalformed(t *testing.T) {
	const user = "dn: CN=a,DC=t\nobjectClass: user\nobjectGUID:: 4AQlP4lP0xGaDAMF6CwzAQ==\n"
	tests := []struct {
		name string
		data string
		line int
		want string
	}{
		{"no colon", user + "\ndn: CN=b,DC=t\nobjectClass: user\nthis line is broken\n", 7, `expected "attribute: value", found "this line is broken"`},
		{"bad base64", user + "sn:: !!!notbase64\n", 4, `sn: invalid base64 value`},
		{"no dn", user + "\nobjectClass: user\n", 5, `expected "dn:" at the start of an entry`},
		{"missing separator", user + "dn: CN=b,DC=t\n", 4, "a second dn: line"},
		{"continuation first", " folded\n" + user, 1, "continuation line"},
		{"url value", user + "jpegPhoto:< file:///etc/passwd\n", 4, "values that refer to files are not accepted"},
		{"modify record", "dn: CN=a,DC=t\nchangetype: modify\nreplace: sn\nsn: x\n-\n", 2, `changetype "modify": this is a change file`},
		{"bad version", "version: 2\n\n" + user, 1, `unsupported LDIF version "2"`},
		{"bad attribute name", user + "s_n: x\n", 4, `invalid attribute name "s_n"`},
		{"bad DN", "dn: CN=a,DC\nobjectClass: user\nobjectGUID:: 4AQlP4lP0xGaDAMF6CwzAQ==\n", 1, "invalid DN"},
		{"bad objectGUID", "dn: CN=a,DC=t\nobjectClass: user\nobjectGUID:: AAEC\n", 3, "objectGUID \"AAEC\" is neither 16 bytes nor a GUID"},
		{"two IDs", "dn: CN=a,DC=t\nobjectClass: user\nentryUUID: 1\nentryUUID: 2\n", 4, "entryUUID has 2 values"},
		{"missing ID", "# comment\n\ndn: CN=a,DC=t\nobjectClass: person\n", 3, "no objectGUID or entryUUID attribute"},
		{"bad userAccountControl", user + "userAccountControl: lots\n", 4, `userAccountControl "lots" is not a 32-bit integer`},
		{"duplicate ID", user + "\n" + strings.Replace(user, "CN=a", "CN=b", 1), 5, `ID "3f2504e0-4f89-11d3-9a0c-0305e82c3301" is also the ID of the entry at line 1`},
		{"duplicate DN", "dn: CN=a,DC=t\nobjectClass: user\nentryUUID: 1\n\ndn: cn=A,dc=T\nobjectClass: user\nentryUUID: 2\n", 5, "the DN of the entry at line 1 again"},
		{"truncated ldapsearch", user + "\n# search result\nsearch: 2\nresult: 4 Size limit exceeded\n", 7, `ldapsearch reported "4 Size limit exceeded": the export is incomplete`},
		{"partial range", "dn: CN=g,DC=t\nobjectClass: group\nentryUUID: 1\nmember;range=0-1499: CN=a,DC=t\n", 4, "holds only the values in range 0-1499"},
		{"last range only", "dn: CN=g,DC=t\nobjectClass: group\nentryUUID: 1\nmember;range=1500-*: CN=a,DC=t\n", 4, "only the last range"},
		{"control", "dn: CN=a,DC=t\ncontrol: 1.2.840.113556.1.4.417\nobjectClass: user\n", 2, "controls belong to change records"},
		{"dash", user + "-\n", 4, `"-" belongs to a modify change record`},
		{"odd UTF-16", "\xff\xfeA", 1, "UTF-16 file with an odd number of bytes"},
		{"no objectClass", user + "\ndn: CN=b,DC=t\nentryUUID: 2\n", 5, "no objectClass"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := readErr(t, tt.data)
			var pe *ParseError
			require.ErrorAs(t, err, &pe)
			assert.Equal(t, tt.line, pe.Line, err.Error())
			assert.Contains(t, err.Error(), tt.want)
			assert.Contains(t, err.Error(), "line ")
		})
	}
}

func TestDuplicateIDIsErrDuplicateID(t *testing.T) {
	const user = "dn: CN=a,DC=t\nobjectClass: user\nentryUUID: same\n"
	err := readErr(t, user+"\n"+strings.Replace(user, "CN=a", "CN=b", 1))
	assert.ErrorIs(t, err, connector.ErrDuplicateID)
	var dup *connector.DuplicateIDError
	require.ErrorAs(t, err, &dup)
	assert.Equal(t, "same", dup.ID)
}

func TestLenientInput(t *testing.T) {
	// BOM, CRLF, several blank lines, a folded comment, no final newline,
	// an empty value, a value without the space after the colon, a
	// complete range, attribute options kept.
	data := "\xef\xbb\xbf\r\n\r\n# a comment\r\n  that is folded\r\ndn: CN=a,OU=x,DC=t\r\nobjectClass: user\r\n" +
		"entryUUID:abc\r\ndescription:\r\nmember;range=0-*: CN=b,DC=t\r\ncn;lang-ru:: 0JjQstCw0L0=\r\n\r\n\r\n" +
		"dn: CN=g,DC=t\nobjectClass: group\nentryUUID: g\nmember;range=0-*: CN=a,OU=x,DC=t"
	es := readString(t, data, Config{})
	require.Len(t, es, 2)
	assert.Equal(t, "abc", es[0].ID)
	assert.Equal(t, []string{""}, es[0].Attrs.Values("description"))
	assert.Equal(t, "Иван", es[0].Attr("cn;lang-ru"))
	assert.Equal(t, []string{"g"}, es[0].MemberOf)
	assert.Equal(t, []string{"abc"}, es[1].Members)
	assert.Equal(t, []string{"CN=a,OU=x,DC=t"}, es[1].Attrs.Values("member"), "the range option is dropped when complete")
}

func TestUTF16(t *testing.T) {
	text := "dn: CN=Иван,OU=Москва,DC=t\r\nobjectClass: user\r\nentryUUID: 1\r\n"
	u := utf16.Encode([]rune(text))
	le := []byte{0xFF, 0xFE}
	be := []byte{0xFE, 0xFF}
	for _, r := range u {
		le = append(le, byte(r), byte(r>>8))
		be = append(be, byte(r>>8), byte(r))
	}
	for _, data := range [][]byte{le, be} {
		c, err := fromBytes(data, Config{})
		require.NoError(t, err)
		es, err := connector.ReadAll(t.Context(), c)
		require.NoError(t, err)
		require.Len(t, es, 1)
		assert.Equal(t, []string{"Москва"}, es[0].Path)
	}
}

func TestEmptyInput(t *testing.T) {
	for _, data := range []string{"", "\n\n", "version: 1\n", "# only a comment\n", "version: 1\n\n# search result\nsearch: 2\nresult: 0 Success\n"} {
		assert.Empty(t, readString(t, data, Config{}), "%q", data)
	}
	c, err := fromBytes(nil, Config{})
	require.NoError(t, err)
	require.NoError(t, connectortest.Test(t.Context(), c))
}

func TestVersionThenEntry(t *testing.T) {
	es := readString(t, "version: 1\ndn: CN=a,DC=t\nobjectClass: user\nentryUUID: 1\n", Config{})
	require.Len(t, es, 1)
}

func TestOpen(t *testing.T) {
	_, err := Open(t.Context(), Config{})
	assert.ErrorContains(t, err, "Path is empty")
	_, err = Open(t.Context(), Config{Path: filepath.Join("testdata", "nope.ldif")})
	assert.ErrorIs(t, err, fs.ErrNotExist)
	_, err = Open(t.Context(), Config{Path: "testdata"})
	assert.ErrorContains(t, err, "not a regular file")
	_, err = Open(t.Context(), Config{Path: filepath.Join("testdata", "ldifde.ldf"), BaseDN: "OU"})
	assert.ErrorContains(t, err, "BaseDN")
	_, err = fromBytes(nil, Config{IDAttribute: "bad name"})
	assert.ErrorContains(t, err, "IDAttribute")
	_, err = New(t.Context(), nil, Config{})
	assert.Error(t, err)
	_, err = New(t.Context(), errReader{}, Config{})
	assert.ErrorContains(t, err, "disk on fire")
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("disk on fire") }

// Open reads the file on every read: a new export replaces the old one.
func TestOpenRereads(t *testing.T) {
	path := filepath.Join(t.TempDir(), "export.ldif")
	require.NoError(t, os.WriteFile(path, []byte("dn: CN=a,DC=t\nobjectClass: user\nentryUUID: 1\n"), 0o600))
	c, err := Open(t.Context(), Config{Path: path})
	require.NoError(t, err)
	assert.Len(t, byID(t, c), 1)
	require.NoError(t, os.WriteFile(path, []byte("dn: CN=a,DC=t\nobjectClass: user\nentryUUID: 1\n\ndn: CN=b,DC=t\nobjectClass: user\nentryUUID: 2\n"), 0o600))
	assert.Len(t, byID(t, c), 2)
	require.NoError(t, os.WriteFile(path, []byte("dn: CN=a,DC=t\nobjectClass: user\nbroken\n"), 0o600))
	err = c.Check(t.Context())
	assert.ErrorContains(t, err, "line 3")
	require.NoError(t, os.Remove(path))
	_, err = connector.ReadAll(t.Context(), c)
	assert.ErrorIs(t, err, fs.ErrNotExist)
}

func TestCancelled(t *testing.T) {
	c := open(t, "ldifde.ldf", Config{})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := connector.ReadAll(ctx, c)
	assert.ErrorIs(t, err, context.Canceled)
	assert.ErrorIs(t, c.Check(ctx), context.Canceled)
	_, err = c.SearchGroups(ctx, "", 0)
	assert.ErrorIs(t, err, context.Canceled)
}

func TestSearchGroups(t *testing.T) {
	c := open(t, "ldifde.ldf", Config{})
	gs, err := c.SearchGroups(t.Context(), "", 0)
	require.NoError(t, err)
	require.Len(t, gs, 2)
	assert.Equal(t, "Domain Admins", gs[0].Attr("cn"))
	assert.Equal(t, "Sales Europe", gs[1].Attr("cn"))
	gs, err = c.SearchGroups(t.Context(), "sAL", 5)
	require.NoError(t, err)
	require.Len(t, gs, 1)
	assert.Equal(t, salesGUID, gs[0].ID)
	gs, err = c.SearchGroups(t.Context(), "", 1)
	require.NoError(t, err)
	assert.Len(t, gs, 1)
	// Anywhere in the name, as GroupSearchMatch declares.
	assert.Equal(t, connector.MatchSubstring, connector.GroupSearchMatchOf(c))
	gs, err = c.SearchGroups(t.Context(), "ADM", 0)
	require.NoError(t, err)
	require.Len(t, gs, 1)
	assert.Equal(t, "Domain Admins", gs[0].Attr("cn"))
	gs, err = c.SearchGroups(t.Context(), "rope", 0)
	require.NoError(t, err)
	require.Len(t, gs, 1)
	assert.Equal(t, salesGUID, gs[0].ID)
}

// A larger file, generated, to keep the parser honest about scale and
// ordering.
func TestGeneratedFile(t *testing.T) {
	var b bytes.Buffer
	const n = 3000
	b.WriteString("version: 1\n\n")
	for i := range n {
		b.WriteString("dn: uid=u" + itoa(i) + ",ou=People,dc=example,dc=org\nobjectClass: inetOrgPerson\nentryUUID: id-" + itoa(i) + "\n")
		b.WriteString("memberOf: cn=everyone,ou=Groups,dc=example,dc=org\n\n")
	}
	b.WriteString("dn: cn=everyone,ou=Groups,dc=example,dc=org\nobjectClass: groupOfNames\nentryUUID: everyone\n")
	c, err := fromBytes(b.Bytes(), Config{})
	require.NoError(t, err)
	es, err := connector.ReadAll(t.Context(), c)
	require.NoError(t, err)
	require.Len(t, es, n+1)
	assert.Equal(t, "id-0", es[0].ID, "file order")
	assert.Len(t, es[n].Members, n)
	require.NoError(t, connectortest.Test(t.Context(), c, "id-0", "everyone"))
}

func itoa(i int) string { return strconv.Itoa(i) }

// Open and New honour a cancelled ctx; Config.Logger gets the connector's
// messages, marked connector=ldif.
func TestCtxAndLogger(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := Open(ctx, Config{Path: filepath.Join("testdata", "ldifde.ldf")})
	assert.ErrorIs(t, err, context.Canceled)
	_, err = New(ctx, strings.NewReader("dn: CN=a,DC=t\nobjectClass: user\nentryUUID: 1\n"), Config{})
	assert.ErrorIs(t, err, context.Canceled)

	var buf bytes.Buffer
	c := open(t, "ldifde.ldf", Config{Logger: slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	_, err = connector.ReadAll(t.Context(), c)
	require.NoError(t, err)
	assert.Contains(t, buf.String(), "connector=ldif")
}
