package ad

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/dirsync-go/dirsync/connector"
	"github.com/dirsync-go/dirsync/internal/ldaputil"
	"github.com/go-ldap/ldap/v3"
)

const secret = "S3cret-Pa55word"

func validConfig() Config {
	return Config{URLs: []string{"ldaps://dc1.example.com"}, BindDN: "svc@example.com",
		Password: secret, BaseDN: "DC=example,DC=com"}
}

func TestOpenValidates(t *testing.T) {
	c, err := Open(t.Context(), validConfig())
	if err != nil {
		t.Fatal(err)
	}
	if c.Config().PageSize != DefaultPageSize || c.Config().Timeout != DefaultTimeout {
		t.Errorf("defaults not filled: %v", c.Config())
	}
	if c.servers[0].host != "dc1.example.com:636" {
		t.Errorf("host %q", c.servers[0].host)
	}
	for name, tc := range map[string]struct {
		mod  func(*Config)
		want string
	}{
		"no URL":       {func(c *Config) { c.URLs = nil }, "URLs is empty"},
		"bad scheme":   {func(c *Config) { c.URLs = []string{"http://dc"} }, "scheme"},
		"plaintext":    {func(c *Config) { c.URLs = []string{"ldap://dc"} }, "plaintext"},
		"no bind":      {func(c *Config) { c.BindDN = "" }, "BindDN"},
		"no password":  {func(c *Config) { c.Password = "" }, "Password is empty"},
		"bad base":     {func(c *Config) { c.BaseDN = "not a dn" }, "BaseDN"},
		"bad filter":   {func(c *Config) { c.Filter = "(&(a=b)" }, "Filter"},
		"negative":     {func(c *Config) { c.PageSize = -1 }, "PageSize"},
		"bad CA":       {func(c *Config) { c.CAPEM = "nope" }, "CAPEM"},
		"missing CA":   {func(c *Config) { c.CAFile = "/nonexistent/ca.pem" }, "CAFile"},
		"bad attr":     {func(c *Config) { c.Attributes = []string{"a b"} }, "attribute"},
		"neg. timeout": {func(c *Config) { c.Timeout = -time.Second }, "Timeout"},
	} {
		cfg := validConfig()
		tc.mod(&cfg)
		_, err := Open(t.Context(), cfg)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one mentioning %q", name, err, tc.want)
		}
	}
	cfg := validConfig()
	cfg.URLs = []string{"ldap://dc"}
	if _, err := Open(t.Context(), cfg); !errors.Is(err, ErrPlaintext) {
		t.Errorf("plaintext: %v does not wrap ErrPlaintext", err)
	}
	cfg.StartTLS = true
	if _, err := Open(t.Context(), cfg); err != nil {
		t.Errorf("ldap:// with StartTLS: %v", err)
	}
	cfg.StartTLS, cfg.InsecurePlaintext = false, true
	if _, err := Open(t.Context(), cfg); err != nil {
		t.Errorf("ldap:// with InsecurePlaintext: %v", err)
	}
}

func TestPasswordRedacted(t *testing.T) {
	cfg := validConfig()
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("config", "cfg", cfg)
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("config", "cfg", cfg)
	for _, s := range []string{cfg.String(), fmt.Sprint(cfg), fmt.Sprintf("%+v", cfg), fmt.Sprintf("%#v", cfg),
		fmt.Sprintf("%v", &cfg), buf.String()} {
		if strings.Contains(s, secret) {
			t.Errorf("password shown: %s", s)
		}
	}
	if !strings.Contains(cfg.String(), "[redacted]") {
		t.Errorf("String does not say the password is set: %s", cfg)
	}
	// Errors from Open and from a failed dial do not carry it either.
	cfg.URLs = []string{"ldaps://127.0.0.1:1"}
	cfg.BaseDN = "bad"
	_, err := Open(t.Context(), cfg)
	if err == nil || strings.Contains(err.Error(), secret) {
		t.Errorf("Open error: %v", err)
	}
	cfg.BaseDN = "DC=example,DC=com"
	c, err := Open(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	_, err = connector.ReadAll(context.Background(), c)
	if err == nil || strings.Contains(err.Error(), secret) || !strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Errorf("dial error: %v", err)
	}
	if e := scrub(errors.New("bad "+secret), secret); strings.Contains(e.Error(), secret) {
		t.Errorf("scrub kept the password: %v", e)
	}
}

func TestGUIDFilter(t *testing.T) {
	g, err := ldaputil.GUIDToBytes("3f2504e0-4f89-11d3-9a0c-0305e82c3301")
	if err != nil {
		t.Fatal(err)
	}
	got := guidFilter([][]byte{g, {0x28, 0x29, 0x2a, 0x5c, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}})
	want := `(|(objectGUID=\e0\04\25\3f\89\4f\d3\11\9a\0c\03\05\e8\2c\33\01)(objectGUID=\28\29\2a\5c\00\01\02\03\04\05\06\07\08\09\0a\0b))`
	if got != want {
		t.Errorf("guidFilter:\n got %s\nwant %s", got, want)
	}
	if _, err := ldap.CompileFilter(got); err != nil {
		t.Errorf("filter does not compile: %v", err)
	}
}

func TestAccountExpires(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	toFT := func(t time.Time) string { return fmt.Sprint(t.UnixNano()/100 + 116444736000000000) }
	for v, want := range map[string]bool{
		"":                         false,
		"0":                        false,
		"9223372036854775807":      false, // never
		"garbage":                  false,
		toFT(now.Add(-time.Hour)):  true,
		toFT(now.Add(time.Hour)):   false,
		"116444736000000000":       true, // 1970
		toFT(now.AddDate(1, 0, 0)): false,
	} {
		if got := expired(v, now); got != want {
			t.Errorf("expired(%q) = %t, want %t", v, got, want)
		}
	}
	if got := fileTime(116444736000000000); !got.Equal(time.Unix(0, 0)) {
		t.Errorf("fileTime epoch = %v", got)
	}
}

func TestConvertFlags(t *testing.T) {
	guid := make([]byte, 16)
	guid[0] = 1
	mk := func(attrs map[string][]string) *ldap.Entry {
		le := ldap.NewEntry("CN=Smith\\, John,OU=IT Users,CN=Users,DC=example,DC=com", attrs)
		le.Attributes = append(le.Attributes, &ldap.EntryAttribute{Name: "objectGUID", Values: []string{string(guid)}, ByteValues: [][]byte{guid}})
		return le
	}
	e, err := convert(mk(map[string][]string{"objectClass": {"top", "user"}, "userAccountControl": {"514"},
		"msDS-User-Account-Control-Computed": {"16"}, "sAMAccountName": {"jsmith"}}), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if !e.Disabled || e.Attr("lockedout") != "true" || e.Attr("samaccountname") != "jsmith" || e.Kind != connector.KindUser {
		t.Errorf("entry %+v", e)
	}
	if len(e.Path) != 1 || e.Path[0] != "IT Users" {
		t.Errorf("path %q (CN=Users is not an OU)", e.Path)
	}
	e, err = convert(mk(map[string][]string{"objectClass": {"group"}, "lockoutTime": {"0"}}), time.Now())
	if err != nil || e.Kind != connector.KindGroup || e.Disabled || e.Attr("lockedout") != "" {
		t.Errorf("group %+v, %v", e, err)
	}
	e, _ = convert(mk(map[string][]string{"objectClass": {"user"}, "userAccountControl": {"512"}, "lockoutTime": {"133000000000000000"}}), time.Now())
	if e.Disabled || e.Attr("lockedout") != "true" {
		t.Errorf("lockoutTime fallback: %+v", e)
	}
	if _, err := convert(ldap.NewEntry("CN=x,DC=y", nil), time.Now()); err == nil {
		t.Error("entry without objectGUID accepted")
	}
}

func TestRangeOption(t *testing.T) {
	for in, want := range map[string][3]int{
		"member;range=0-1499":    {0, 1499, 1},
		"member;range=1500-*":    {1500, -1, 1},
		"member":                 {0, 0, 0},
		"Member;Range=10-20;x=y": {10, 20, 1},
	} {
		base, lo, hi, ok, err := rangeOption(in)
		if err != nil || base != strings.Split(in, ";")[0] || lo != want[0] || hi != want[1] || ok != (want[2] == 1) {
			t.Errorf("rangeOption(%q) = %q %d %d %t %v", in, base, lo, hi, ok, err)
		}
	}
	for _, in := range []string{"member;range=5", "member;range=a-b", "member;range=9-3"} {
		if _, _, _, _, err := rangeOption(in); err == nil {
			t.Errorf("rangeOption(%q) accepted", in)
		}
	}
}

func TestCursor(t *testing.T) {
	c := cursor{V: cursorVersion, DC: "ldaps://dc1", Base: "DC=x", Cookie: []byte{0, 1, 2, 0xff}, Groups: map[string][]byte{}}
	got, err := decodeCursor(c.encode())
	if err != nil || got.DC != c.DC || !bytes.Equal(got.Cookie, c.Cookie) {
		t.Errorf("round trip: %+v, %v", got, err)
	}
	u := cursor{V: cursorVersion, DC: "ldaps://dc1", Base: "DC=x", USN: 42, Groups: map[string][]byte{}}
	if got, err := decodeCursor(u.encode()); err != nil || got.USN != 42 {
		t.Errorf("USN round trip: %+v, %v", got, err)
	}
	for _, bad := range []string{"garbage", "{}", `{"v":3,"dc":"x","cookie":"AA==","groups":{}}`, `{"v":2,"dc":"x","groups":{}}`,
		`{"v":1,"dc":"x","cookie":"AA=="}`, // before memberships were remembered
		`{"v":2,"dc":"x","cookie":"AA=="}`} {
		if _, err := decodeCursor(connector.Cursor(bad)); !errors.Is(err, connector.ErrCursorExpired) {
			t.Errorf("decodeCursor(%s): %v, want ErrCursorExpired", bad, err)
		}
	}
	// A cursor from another DC is refused before anything is read.
	cfg := validConfig()
	cfg.URLs = []string{"ldaps://127.0.0.1:1"}
	conn, err := Open(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	_, err = conn.ReadChanges(context.Background(), connector.Cursor("garbage"), func(connector.Entry) error { return nil })
	if !errors.Is(err, connector.ErrCursorExpired) {
		t.Errorf("garbage cursor: %v", err)
	}
}

func TestCancelledBeforeDial(t *testing.T) {
	c, err := Open(t.Context(), validConfig())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := connector.ReadAll(ctx, c); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled read: %v", err)
	}
}

func TestStripExtendedDN(t *testing.T) {
	for in, want := range map[string]string{
		"<GUID=abc>;<SID=S-1-5>;OU=A,DC=x": "OU=A,DC=x",
		"<GUID=abc>;OU=A,DC=x":             "OU=A,DC=x",
		"OU=A,DC=x":                        "OU=A,DC=x",
		"":                                 "",
	} {
		if got := stripExtendedDN(in); got != want {
			t.Errorf("stripExtendedDN(%q) = %q, want %q", in, got, want)
		}
	}
}

// Config.Logger receives the connector's messages, marked connector=ad;
// the password is not among them. A cancelled ctx fails Open.
func TestOpenLogger(t *testing.T) {
	var buf bytes.Buffer
	cfg := validConfig()
	// Nothing listens on port 1: the DC is skipped, with a warning.
	cfg.URLs = []string{"ldaps://127.0.0.1:1"}
	cfg.Timeout = time.Second
	cfg.Logger = slog.New(slog.NewTextHandler(&buf, nil))
	c, err := Open(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Check(t.Context()); err == nil {
		t.Fatal("Check against a closed port succeeded")
	}
	if !strings.Contains(buf.String(), "connector=ad") || !strings.Contains(buf.String(), "127.0.0.1:1") {
		t.Errorf("log %q: want a line with connector=ad naming the DC", buf.String())
	}
	if strings.Contains(buf.String(), secret) {
		t.Error("the log shows the password")
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := Open(ctx, validConfig()); !errors.Is(err, context.Canceled) {
		t.Errorf("Open with a cancelled ctx: %v", err)
	}
}
