// Command adbenchldif writes an LDIF file of a generated Active Directory
// company, for the AD benchmarks at scale (see BENCHMARKS.md, "AD at
// 100k"): scripts/ad-bench-load.sh imports it offline with ldbadd into a
// freshly provisioned Samba DC, which takes minutes for 100,000 users where
// adding them over LDAP takes hours.
//
//	go run ./internal/cmd/adbenchldif -users 100000 > /tmp/company.ldif
//
// The output is deterministic for given flags. Under OU=<-ou>,<-base> it
// holds:
//
//   - one OU per region (Europe, Americas, Asia Pacific) with one OU per
//     department below it ("Sales users", "Engineering users", …), plus
//     OU=Contractors and OU=Service accounts, whose names do not end in
//     "users";
//   - the users, spread over those OUs in teams of 25: each team's lead
//     reports to the OU's head, each member to the lead (manager, by DN);
//     given and family names from a list with some non-ASCII and
//     comma-bearing names (escaped in the DN, base64 in the LDIF); title,
//     department (left out for one user in ten, so the mapping falls back
//     on the OU path), telephoneNumber, mobile and displayName on some;
//     mail on 97% (the rest map their userPrincipalName); 5% disabled
//     (ACCOUNTDISABLE), 1% expired (accountExpires in the past);
//   - OU=Groups: one group per department (all its users, across regions),
//     "Team leads", and "Leadership" (the heads and the "Team leads" group,
//     nested).
//
// Users are written before anything refers to them (a manager before its
// reports, members before their group), as AD requires of DN-valued
// attributes.
package main

import (
	"bufio"
	"encoding/base64"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"unicode/utf8"

	"github.com/dirsync-go/dirsync/internal/ldaputil"
)

func main() {
	var cfg config
	flag.IntVar(&cfg.users, "users", 100000, "number of users")
	flag.StringVar(&cfg.base, "base", "DC=example,DC=test", "the domain's DN")
	flag.StringVar(&cfg.ou, "ou", "dirsync-bench", "name of the OU that holds everything")
	flag.StringVar(&cfg.domain, "domain", "example.test", "mail and UPN domain")
	flag.Parse()
	w := bufio.NewWriterSize(os.Stdout, 1<<20)
	st, err := write(w, cfg)
	if err == nil {
		err = w.Flush()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "adbenchldif:", err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "adbenchldif: %d users (%d disabled, %d expired), %d groups, %d OUs under %s\n",
		st.users, st.disabled, st.expired, st.groups, st.ous, st.root)
}

type config struct {
	users            int
	base, ou, domain string
}

type stats struct {
	root                     string
	users, disabled, expired int
	groups, ous              int
}

var (
	regions     = []string{"Europe", "Americas", "Asia Pacific"}
	departments = []string{"Sales", "Engineering", "Support", "Finance", "Marketing", "Human Resources", "Operations"}
	givenNames  = []string{"Alice", "Bob", "Carol", "Dave", "Eve", "Frank", "Grace", "Heidi", "Ivan", "Judy",
		"Mallory", "Niaj", "Olivia", "Peggy", "Rupert", "Sybil", "Trent", "Victor", "Walter", "Zoë",
		"José", "Łukasz", "Иван", "Søren", "Chloé", "Björn", "Mei", "Aarav", "Fatima", "Kwame"}
	familyNames = []string{"Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson", "Davies", "Robinson", "Wright",
		"Müller", "García", "O'Brien", "Петров", "Nguyễn", "Kowalski", "Rossi", "Dubois", "Andersson", "Tanaka",
		"Smith, Jr.", "van der Berg", "Okafor", "Silva", "Novák", "Yılmaz", "Cohen", "Singh", "Kim", "Lee"}
	levels = []string{"Associate", "Specialist", "Senior Specialist", "Analyst"}
)

// ou is one OU that holds users.
type ou struct {
	dn, dept, phone string
	users           int
}

func write(w io.Writer, cfg config) (stats, error) {
	if cfg.users < 1 {
		return stats{}, fmt.Errorf("-users must be at least 1, not %d", cfg.users)
	}
	root := "OU=" + ldaputil.EscapeRDNValue(cfg.ou) + "," + cfg.base
	st := stats{root: root}
	e := &ldifWriter{w: w}
	e.ou(root)
	st.ous++
	var ous []*ou
	for r, region := range regions {
		rdn := "OU=" + ldaputil.EscapeRDNValue(region) + "," + root
		e.ou(rdn)
		st.ous++
		for _, d := range departments {
			o := &ou{dn: "OU=" + ldaputil.EscapeRDNValue(d+" users") + "," + rdn, dept: d,
				phone: []string{"+44 20 7946 ", "+1 212 555 ", "+61 2 9876 "}[r]}
			e.ou(o.dn)
			st.ous++
			ous = append(ous, o)
		}
	}
	for _, name := range []string{"Contractors", "Service accounts"} {
		o := &ou{dn: "OU=" + name + "," + root, phone: "+44 20 7000 "}
		e.ou(o.dn)
		st.ous++
		ous = append(ous, o)
	}
	groupsOU := "OU=Groups," + root
	e.ou(groupsOU)
	st.ous++
	// Users are dealt to the OUs in proportion (Contractors and Service
	// accounts get a small share), then written OU by OU.
	weights := make([]int, len(ous))
	total := 0
	for i := range ous {
		weights[i] = 10
		if ous[i].dept == "" {
			weights[i] = 1
		}
		total += weights[i]
	}
	left := cfg.users
	for i, o := range ous {
		o.users = cfg.users * weights[i] / total
		left -= o.users
	}
	for i := 0; left > 0; i = (i + 1) % len(ous) {
		ous[i].users++
		left--
	}
	members := map[string][]string{}
	var leads, heads []string
	n := 0
	for _, o := range ous {
		var head, lead string
		for k := range o.users {
			n++
			u := user(cfg, n)
			dn := "CN=" + ldaputil.EscapeRDNValue(u.cn) + "," + o.dn
			e.start(dn)
			e.attr("objectClass", "top", "person", "organizationalPerson", "user")
			e.attr("sAMAccountName", u.sam)
			e.attr("userPrincipalName", u.sam+"@"+cfg.domain)
			e.attr("givenName", u.given)
			e.attr("sn", u.family)
			if n%2 == 0 {
				e.attr("displayName", u.given+" "+u.family)
			}
			if n%33 != 0 {
				e.attr("mail", u.sam+"@"+cfg.domain)
			}
			if n%10 != 0 && o.dept != "" {
				e.attr("department", o.dept)
			}
			switch {
			case k == 0:
				e.attr("title", "Head of "+orDefault(o.dept, "Contractors"))
				head = dn
				heads = append(heads, dn)
			case k%25 == 0:
				e.attr("title", orDefault(o.dept, "Contractor")+" Team Lead")
				e.attr("manager", head)
				lead = dn
				leads = append(leads, dn)
			default:
				e.attr("title", orDefault(o.dept, "Contractor")+" "+levels[n%len(levels)])
				e.attr("manager", orDefault(lead, head))
			}
			if n%10 < 7 {
				e.attr("telephoneNumber", fmt.Sprintf("%s%04d", o.phone, n%10000))
			}
			if n%5 < 2 {
				e.attr("mobile", fmt.Sprintf("+44 7700 %06d", n%1000000))
			}
			uac := 0x220 // NORMAL_ACCOUNT | PASSWD_NOTREQD: enabled, no password
			if n%20 == 7 {
				uac |= 0x2 // ACCOUNTDISABLE
				st.disabled++
			}
			if n%3 == 0 {
				uac |= 0x10000 // DONT_EXPIRE_PASSWORD
			}
			e.attr("userAccountControl", fmt.Sprint(uac))
			if n%100 == 42 {
				e.attr("accountExpires", "116444736000000000") // 1970-01-01
				st.expired++
			}
			e.end()
			st.users++
			if o.dept != "" {
				members[o.dept] = append(members[o.dept], dn)
			}
		}
	}
	group := func(name string, member []string) {
		e.start("CN=" + ldaputil.EscapeRDNValue(name) + "," + groupsOU)
		e.attr("objectClass", "top", "group")
		e.attr("sAMAccountName", samFold(name))
		e.attr("description", "dirsync benchmark group")
		if len(member) > 0 {
			e.attr("member", member...)
		}
		e.end()
		st.groups++
	}
	for _, d := range departments {
		group(d, members[d])
	}
	group("Team leads", leads)
	group("Leadership", append(heads, "CN=Team leads,"+groupsOU))
	return st, e.err
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

type person struct{ given, family, cn, sam string }

// user returns the n-th user (n from 1): names cycle through the lists
// independently, so neighbours differ; the number keeps CN and
// sAMAccountName unique.
func user(cfg config, n int) person {
	p := person{given: givenNames[n%len(givenNames)], family: familyNames[(n/len(givenNames)+n)%len(familyNames)]}
	p.cn = fmt.Sprintf("%s %s %06d", p.given, p.family, n) // "Smith, Jr." puts a comma to escape in the DN
	// sAMAccountName: at most 20 characters, ASCII.
	name := samFold(p.given[:1] + p.family)
	if len(name) > 12 {
		name = name[:12]
	}
	p.sam = fmt.Sprintf("%s%06d", name, n)
	return p
}

// samFold keeps the ASCII letters and digits of s, lower-cased, and folds
// a few Latin letters with marks to their base letter.
func samFold(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		case strings.ContainsRune("éëè", r):
			b.WriteByte('e')
		case strings.ContainsRune("üúù", r):
			b.WriteByte('u')
		case r == 'ı':
			b.WriteByte('i')
		case strings.ContainsRune("óöø", r):
			b.WriteByte('o')
		case strings.ContainsRune("áàå", r):
			b.WriteByte('a')
		case r == 'ł':
			b.WriteByte('l')
		case r == 'ễ':
			b.WriteByte('e')
		}
	}
	if b.Len() == 0 {
		return "x"
	}
	return b.String()
}

// ldifWriter writes LDIF records (RFC 2849); the first error sticks.
type ldifWriter struct {
	w   io.Writer
	err error
}

func (e *ldifWriter) printf(format string, a ...any) {
	if e.err == nil {
		_, e.err = fmt.Fprintf(e.w, format, a...)
	}
}

func (e *ldifWriter) ou(dn string) {
	e.start(dn)
	e.attr("objectClass", "top", "organizationalUnit")
	e.end()
}

func (e *ldifWriter) start(dn string) { e.line("dn", dn) }
func (e *ldifWriter) end()            { e.printf("\n") }

func (e *ldifWriter) attr(name string, values ...string) {
	for _, v := range values {
		e.line(name, v)
	}
}

// line writes "name: value", or "name:: base64" when the value is not an
// RFC 2849 SAFE-STRING (non-ASCII, or starting with a space, colon or <).
func (e *ldifWriter) line(name, v string) {
	if safe(v) {
		e.printf("%s: %s\n", name, v)
		return
	}
	e.printf("%s:: %s\n", name, base64.StdEncoding.EncodeToString([]byte(v)))
}

func safe(v string) bool {
	if v == "" {
		return true
	}
	if v[0] == ' ' || v[0] == ':' || v[0] == '<' || v[len(v)-1] == ' ' || !utf8.ValidString(v) {
		return false
	}
	for i := 0; i < len(v); i++ {
		if c := v[i]; c == 0 || c == '\n' || c == '\r' || c >= 0x80 {
			return false
		}
	}
	return true
}
