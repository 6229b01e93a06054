package ad

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dirsync-go/dirsync/internal/ldaputil"
	"github.com/go-ldap/ldap/v3"
)

// The integration tests run against the DC named by these variables, as
// printed by scripts/samba.sh env. Without DIRSYNC_AD_URL they skip, except
// under CI=true, where a missing DC is a failure.
type dcEnv struct {
	url, bind, password, base, ca string
}

func loadEnv() dcEnv {
	return dcEnv{
		url: os.Getenv("DIRSYNC_AD_URL"), bind: os.Getenv("DIRSYNC_AD_BIND"),
		password: os.Getenv("DIRSYNC_AD_PASSWORD"), base: os.Getenv("DIRSYNC_AD_BASE"),
		ca: os.Getenv("DIRSYNC_AD_CA"),
	}
}

// bulkUsers is the size of the large group: above AD's MaxValRange of 1,500.
// DIRSYNC_AD_BULK sets another size, for benchmarks at 10,000 users (the
// fixture then takes a minute or two to load).
var bulkUsers = func() int {
	if n, err := strconv.Atoi(os.Getenv("DIRSYNC_AD_BULK")); err == nil && n > 1500 {
		return n
	}
	return 1600
}()

// fixture is the directory the tests load once per test binary:
//
//	OU=dirsync-test-<tag>
//	  OU=Sales department users: alice, bob (disabled), "Smith, John",
//	                             Иван Петров, expired (accountExpires past)
//	  OU=IT Users: carol, dave (disabled)
//	  OU=Contractors: eve
//	  OU=Bulk: 1,600 users
//	  CN=Staff (group: alice, IT Team), CN=IT Team (group: carol, dave),
//	  CN=Big (group: the 1,600 bulk users)
type fixture struct {
	env  dcEnv
	tag  string
	base string // the test OU
	dn   map[string]string
	err  error
	// extra lists more OUs the tests created, removed at the end.
	extra []string
	// reused marks a fixture loaded by an earlier run (see reuse).
	reused bool
}

var (
	fixOnce sync.Once
	fix     fixture
)

// needDC returns the loaded fixture, skipping the test when no DC is
// configured (failing under CI=true).
func needDC(t testing.TB) *fixture {
	t.Helper()
	env := loadEnv()
	if env.url == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("Samba AD DC missing: DIRSYNC_AD_URL is not set (run via scripts/test.sh, which starts scripts/samba.sh)")
		}
		t.Skip("no AD DC: set DIRSYNC_AD_* (eval \"$(bash scripts/samba.sh start)\")")
	}
	fixOnce.Do(func() {
		fix = fixture{env: env, dn: map[string]string{}}
		if base := os.Getenv("DIRSYNC_AD_FIXTURE"); base != "" {
			fix.err = fix.reuse(base)
			return
		}
		fix.err = fix.load()
	})
	if fix.err != nil {
		t.Fatalf("loading the fixture: %v", fix.err)
	}
	return &fix
}

func TestMain(m *testing.M) {
	code := m.Run()
	// A DC that is thrown away after the run (scripts/samba.sh) is not
	// worth the time a tree delete of the fixture takes.
	if fix.base != "" && !fix.reused && os.Getenv("DIRSYNC_AD_THROWAWAY") != "1" {
		fix.cleanup()
	}
	os.Exit(code)
}

func (f *fixture) config(base string) Config {
	return Config{URLs: []string{f.env.url}, BindDN: f.env.bind, Password: f.env.password,
		BaseDN: base, CAFile: f.env.ca, Timeout: time.Minute}
}

// admin dials a connection that writes to the DC.
func (f *fixture) admin() (*ldap.Conn, error) {
	c, err := Open(context.Background(), f.config(f.env.base))
	if err != nil {
		return nil, err
	}
	s, err := c.dial(context.Background())
	if err != nil {
		return nil, err
	}
	s.stop()
	return s.conn, nil
}

func randomTag() string {
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

type user struct {
	key, cn, sam, given, sn, title, dept string
	ou                                   string
	uac                                  int
	expires                              string
}

func (f *fixture) addUser(conn *ldap.Conn, u user) error {
	dn := "CN=" + ldaputil.EscapeRDNValue(u.cn) + "," + u.ou
	req := ldap.NewAddRequest(dn, nil)
	req.Attribute("objectClass", []string{"top", "person", "organizationalPerson", "user"})
	req.Attribute("sAMAccountName", []string{u.sam})
	req.Attribute("userPrincipalName", []string{u.sam + "@example.test"})
	if u.given != "" {
		req.Attribute("givenName", []string{u.given})
	}
	if u.sn != "" {
		req.Attribute("sn", []string{u.sn})
	}
	if u.title != "" {
		req.Attribute("title", []string{u.title})
	}
	if u.dept != "" {
		req.Attribute("department", []string{u.dept})
	}
	if u.given != "" {
		req.Attribute("mail", []string{strings.ToLower(u.sam) + "@example.test"})
	}
	uac := u.uac
	if uac == 0 {
		uac = 0x220 // NORMAL_ACCOUNT | PASSWD_NOTREQD: enabled, no password
	}
	req.Attribute("userAccountControl", []string{fmt.Sprint(uac)})
	if u.expires != "" {
		req.Attribute("accountExpires", []string{u.expires})
	}
	if err := conn.Add(req); err != nil {
		return fmt.Errorf("add %s: %w", dn, err)
	}
	if u.key != "" {
		f.dn[u.key] = dn
	}
	return nil
}

func addOU(conn *ldap.Conn, dn string) error {
	req := ldap.NewAddRequest(dn, nil)
	req.Attribute("objectClass", []string{"top", "organizationalUnit"})
	if err := conn.Add(req); err != nil {
		return fmt.Errorf("add %s: %w", dn, err)
	}
	return nil
}

func addGroup(conn *ldap.Conn, dn, sam string, members []string) error {
	req := ldap.NewAddRequest(dn, nil)
	req.Attribute("objectClass", []string{"top", "group"})
	req.Attribute("sAMAccountName", []string{sam})
	if len(members) > 0 {
		req.Attribute("member", members)
	}
	if err := conn.Add(req); err != nil {
		return fmt.Errorf("add %s: %w", dn, err)
	}
	return nil
}

func (f *fixture) load() error {
	start := time.Now()
	conn, err := f.admin()
	if err != nil {
		return err
	}
	defer conn.Close()
	f.tag = randomTag()
	f.base = "OU=dirsync-test-" + f.tag + "," + f.env.base
	sales := "OU=Sales department users," + f.base
	it := "OU=IT Users," + f.base
	contractors := "OU=Contractors," + f.base
	bulk := "OU=Bulk," + f.base
	for _, ou := range []string{f.base, sales, it, contractors, bulk} {
		if err := addOU(conn, ou); err != nil {
			return err
		}
	}
	t := f.tag
	past := "116444736000000000" // 1970-01-01
	users := []user{
		{key: "alice", cn: "Alice Smith", sam: "alice" + t, given: "Alice", sn: "Smith", title: "Sales lead", dept: "Sales", ou: sales},
		{key: "bob", cn: "Bob Jones", sam: "bob" + t, given: "Bob", sn: "Jones", ou: sales, uac: 0x222},
		{key: "john", cn: "Smith, John", sam: "john" + t, given: "John", sn: "Smith", ou: sales},
		{key: "ivan", cn: "Иван Петров", sam: "ivan" + t, given: "Иван", sn: "Петров", ou: sales},
		{key: "expired", cn: "Old Contract", sam: "old" + t, given: "Old", sn: "Contract", ou: sales, expires: past},
		{key: "carol", cn: "Carol White", sam: "carol" + t, given: "Carol", sn: "White", title: "Admin", ou: it},
		{key: "dave", cn: "Dave Black", sam: "dave" + t, given: "Dave", sn: "Black", ou: it, uac: 0x222},
		{key: "eve", cn: "Eve Green", sam: "eve" + t, given: "Eve", sn: "Green", ou: contractors},
	}
	for _, u := range users {
		if err := f.addUser(conn, u); err != nil {
			return err
		}
	}
	mgr := ldap.NewModifyRequest(f.dn["alice"], nil)
	mgr.Replace("manager", []string{f.dn["carol"]})
	if err := conn.Modify(mgr); err != nil {
		return fmt.Errorf("set alice's manager: %w", err)
	}
	// The bulk users, on four connections at once.
	bulkDNs := make([]string, bulkUsers)
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := f.admin()
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			for i := w; i < bulkUsers; i += 4 {
				cn := fmt.Sprintf("Bulk %04d", i)
				if err := f.addUser(c, user{cn: cn, sam: fmt.Sprintf("b%s%04d", t, i), ou: bulk}); err != nil {
					errs <- err
					return
				}
				bulkDNs[i] = "CN=" + cn + "," + bulk
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	f.dn["itteam"] = "CN=IT Team," + f.base
	f.dn["staff"] = "CN=Staff," + f.base
	f.dn["big"] = "CN=Big," + f.base
	if err := addGroup(conn, f.dn["itteam"], "itteam"+t, []string{f.dn["carol"], f.dn["dave"]}); err != nil {
		return err
	}
	if err := addGroup(conn, f.dn["staff"], "staff"+t, []string{f.dn["alice"], f.dn["itteam"]}); err != nil {
		return err
	}
	if err := addGroup(conn, f.dn["big"], "big"+t, bulkDNs); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "ad fixture: %d entries under %s in %v\n", len(users)+bulkUsers+3+5, f.base, time.Since(start).Round(time.Millisecond))
	return nil
}

// fixtureKeys are the fixture's named objects by the sAMAccountName
// prefix they are created with (the tag follows).
var fixtureKeys = map[string]string{
	"alice": "alice", "bob": "bob", "john": "john", "ivan": "ivan", "old": "expired",
	"carol": "carol", "dave": "dave", "eve": "eve", "itteam": "itteam", "staff": "staff", "big": "big",
}

// reuse takes the fixture an earlier test binary loaded under base (left
// in place with DIRSYNC_AD_THROWAWAY=1) instead of loading a new one: set
// DIRSYNC_AD_FIXTURE to its OU, as the earlier run logged it, to run the
// 10,000-user benchmarks again without the minutes of loading. It is not
// removed at the end.
func (f *fixture) reuse(base string) error {
	tag, ok := strings.CutPrefix(base, "OU=dirsync-test-")
	if !ok {
		return fmt.Errorf("DIRSYNC_AD_FIXTURE %q is not a fixture OU (OU=dirsync-test-<tag>,…)", base)
	}
	tag, _, _ = strings.Cut(tag, ",")
	conn, err := f.admin()
	if err != nil {
		return err
	}
	defer conn.Close()
	var filter strings.Builder
	filter.WriteString("(|")
	for prefix := range fixtureKeys {
		filter.WriteString("(sAMAccountName=" + ldap.EscapeFilter(prefix+tag) + ")")
	}
	filter.WriteString(")")
	res, err := conn.Search(ldap.NewSearchRequest(base, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false,
		filter.String(), []string{"sAMAccountName"}, nil))
	if err != nil {
		return fmt.Errorf("DIRSYNC_AD_FIXTURE %q: %w", base, err)
	}
	for _, e := range res.Entries {
		f.dn[fixtureKeys[strings.TrimSuffix(e.GetAttributeValue("sAMAccountName"), tag)]] = e.DN
	}
	if len(f.dn) != len(fixtureKeys) {
		return fmt.Errorf("DIRSYNC_AD_FIXTURE %q: found %d of the fixture's %d named objects", base, len(f.dn), len(fixtureKeys))
	}
	f.tag, f.base = tag, base
	f.reused = true
	return nil
}

// cleanup removes the test OUs with the tree-delete control.
func (f *fixture) cleanup() {
	conn, err := f.admin()
	if err != nil {
		return
	}
	defer conn.Close()
	for _, dn := range append([]string{f.base}, f.extra...) {
		req := ldap.NewDelRequest(dn, []ldap.Control{ldap.NewControlString("1.2.840.113556.1.4.805", true, "")})
		if err := conn.Del(req); err != nil {
			fmt.Fprintf(os.Stderr, "ad fixture: cleanup of %s: %v\n", dn, err)
		}
	}
}
