// Command sampledata writes the quickstart's sample directory: an LDIF
// export of "Northwind Example", a fictional company of 200 accounts, in the
// shape ldapsearch -LLL and ldifde produce from Active Directory.
//
//	go run ./internal/sampledata > examples/quickstart/company.ldif
//
// The people are a planted cast (the executives, the quickstart's story)
// and people drawn from the name tables of internal/fakenames, which
// connector/fake's generated companies use too: one source of fake people.
//
// The output is deterministic: fixed name tables, a fixed seed and its own
// small PRNG (not math/rand, whose sequences are not part of Go's
// compatibility promise), and objectGUIDs derived from a hash of the DN. The
// package test fails when the checked-in file and the generator drift apart;
// `go test ./internal/sampledata -update` rewrites the file and its copy
// in examples/console.
//
// What the file contains, and what a reader of it must cope with:
//
//   - a domain head entry (objectClass domainDNS), organizational units,
//     users and groups, parents before children, with forward references
//     (a user's manager or group may come later in the file);
//   - nested OUs: Europe and North America hold "Sales department users",
//     "Marketing Users", "Engineering users" and, inside it, "Backend users";
//     "Head Office users", "IT Users", "Russia Users", "Contractors" and
//     "Service Accounts" sit at the root, groups in OU=Groups;
//   - objectGUID as 16 raw bytes in base64 (AD byte order: the first three
//     fields little-endian), version-4 GUIDs once converted to the canonical
//     string;
//   - non-ASCII values (Cyrillic and accented names, DNs, titles) as
//     base64 "attr:: " lines, as RFC 2849 requires;
//   - lines longer than 76 characters folded, continuation lines starting
//     with one space;
//   - escaped commas in RDNs (CN=Smith\, John) in dn, manager, member and
//     memberOf values;
//   - userAccountControl 512 (normal), 514 (disabled), 66048 and 66050
//     (service accounts: normal or disabled, with DONT_EXPIRE_PASSWORD), so
//     the ACCOUNTDISABLE bit (2) must be tested, not the whole value;
//   - two people named James Miller (usernames jmiller and jmiller2),
//     service accounts without mail, usernames that start with a digit
//     (1c-integration, 2fa-admin, 365-relay);
//   - nested groups up to four levels deep (Backend Developers → Engineering
//     → All Staff → App Users), membership listed both as member on the
//     group and memberOf on the member.
package main

import (
	"bufio"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/dirsync-go/dirsync/internal/fakenames"
)

func main() {
	w := bufio.NewWriter(os.Stdout)
	if err := generate(w); err != nil {
		fmt.Fprintln(os.Stderr, "sampledata:", err)
		os.Exit(1)
	}
	if err := w.Flush(); err != nil {
		fmt.Fprintln(os.Stderr, "sampledata:", err)
		os.Exit(1)
	}
}

const (
	baseDN     = "DC=example,DC=test"
	mailDomain = "example.test"
	company    = "Northwind Example"
	seed       = 0x2a_d1_5c_0d
	lineWidth  = 76
)

// UF_ACCOUNTDISABLE and UF_DONT_EXPIRE_PASSWD combine with
// UF_NORMAL_ACCOUNT into the values Active Directory reports.
const (
	uacNormal          = 512
	uacDisabled        = 514
	uacServiceNormal   = 66048
	uacServiceDisabled = 66050
)

// rng is SplitMix64: tiny, and its output never changes with the Go
// version.
type rng struct{ s uint64 }

func (r *rng) next() uint64 {
	r.s += 0x9e3779b97f4a7c15
	z := r.s
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

func (r *rng) intn(n int) int { return int(r.next() % uint64(n)) }

func pick[T any](r *rng, list []T) T { return list[r.intn(len(list))] }

// person is one planted or generated employee.
type person struct {
	given, family string
	title         string
	// lastFirst names the entry "Family, Given" (CN and displayName), as
	// some companies' legacy HR imports do.
	lastFirst bool
	disabled  bool
	// ASCII forms of the names for username and mail; derived with
	// fakenames.ASCII when empty.
	givenLatin, familyLatin string
	// department overrides the OU's department attribute.
	department string
}

// city is an office: locality, country code and a phone number pattern
// whose %d verbs take random digits.
type city struct {
	name, country, phone string
	digits               []int // upper bounds of the %d verbs
}

var (
	london    = city{"London", "GB", "+44 20 7946 0%03d", []int{1000}}
	berlin    = city{"Berlin", "DE", "+49 30 9018 %04d", []int{10000}}
	paris     = city{"Paris", "FR", "+33 1 99 00 %02d %02d", []int{100, 100}}
	amsterdam = city{"Amsterdam", "NL", "+31 20 794 %04d", []int{10000}}
	dublin    = city{"Dublin", "IE", "+353 1 555 %04d", []int{10000}}
	seattle   = city{"Seattle", "US", "+1 206 555 %04d", []int{10000}}
	toronto   = city{"Toronto", "CA", "+1 416 555 %04d", []int{10000}}
	newYork   = city{"New York", "US", "+1 212 555 %04d", []int{10000}}
	moscow    = city{"Москва", "RU", "+7 495 %03d-%02d-%02d", []int{1000, 100, 100}}
)

// ouSpec describes one organizational unit and the people in it.
type ouSpec struct {
	// path is the OU path from the root, outermost first.
	path        []string
	description string
	// users is the number of user objects in the OU (0 for a container).
	users      int
	department string
	cities     []city
	titles     []string
	planted    []person
	// roles are the titles and departments of generated people, one
	// each, in order; titles is drawn from for the rest.
	roles []person
	// russian people are named from the Russian tables of
	// internal/fakenames; the others from its Latin-script ones.
	russian bool
	// manager of the OU head: the index of an earlier OU and the person's
	// index in it; -1 for none.
	headManager [2]int
	// disabled lists indexes (in the OU) of disabled people.
	disabled []int
	// lastFirstEvery names every n-th generated person "Family, Given".
	lastFirstEvery int
	contractor     bool
	service        bool
}

// The Moscow office: what each person does. Their names are drawn from
// the Russian tables of internal/fakenames, in Cyrillic, with the tables'
// transliteration for username and mail.
var russianRoles = []person{
	{title: "Руководитель офиса", department: "Администрация"},
	{title: "Главный бухгалтер", department: "Бухгалтерия"},
	{title: "Менеджер по продажам", department: "Продажи"},
	{title: "Бухгалтер", department: "Бухгалтерия"},
	{title: "Инженер поддержки", department: "Техническая поддержка"},
	{title: "Менеджер по продажам", department: "Продажи"},
	{title: "Инженер поддержки", department: "Техническая поддержка"},
	{title: "Юрист", department: "Администрация"},
	{title: "Старший инженер поддержки", department: "Техническая поддержка"},
	{title: "Бухгалтер", department: "Бухгалтерия"},
	{title: "Менеджер по продажам", department: "Продажи"},
	{title: "HR-менеджер", department: "Администрация"},
	{title: "Инженер поддержки", department: "Техническая поддержка"},
	{title: "Офис-менеджер", department: "Администрация"},
	{title: "Руководитель отдела продаж", department: "Продажи"},
}

// Indexes into ous, for managers and groups.
const (
	ouHead = iota
	ouEurope
	ouEUSales
	ouEUMarketing
	ouNA
	ouNASales
	ouNAEngineering
	ouNABackend
	ouIT
	ouRussia
	ouContractors
	ouService
	ouGroups
)

var ous = []ouSpec{
	ouHead: {
		path: []string{"Head Office users"}, description: "Executive team and their assistants",
		users: 6, department: "Management", cities: []city{newYork},
		planted: []person{
			{given: "Olivia", family: "Bennett", title: "Chief Executive Officer"},
			{given: "Rahul", family: "Mehta", title: "Chief Financial Officer", department: "Finance"},
			{given: "Grace", family: "Okafor", title: "Chief Technology Officer", department: "Engineering"},
			{given: "Daniel", family: "Schwartz", title: "Chief Operating Officer", department: "Operations"},
			{given: "Amélie", family: "Dubois", title: "Chief People Officer", department: "People"},
			{given: "Hannah", family: "Cole", title: "Executive Assistant"},
		},
		headManager: [2]int{-1, -1},
	},
	ouEurope: {path: []string{"Europe"}, description: "European offices"},
	ouEUSales: {
		path: []string{"Europe", "Sales department users"}, description: "Sales, EMEA",
		users: 34, department: "Sales", cities: []city{london, london, berlin, paris},
		titles: []string{"Account Executive", "Account Executive", "Senior Account Executive",
			"Sales Development Representative", "Sales Engineer", "Customer Success Manager"},
		planted: []person{
			{given: "Jürgen", family: "Müller", title: "Head of Sales EMEA"},
		},
		headManager: [2]int{ouHead, 3}, disabled: []int{7},
	},
	ouEUMarketing: {
		path: []string{"Europe", "Marketing Users"}, description: "Marketing",
		users: 20, department: "Marketing", cities: []city{amsterdam, amsterdam, dublin},
		titles: []string{"Marketing Manager", "Content Writer", "Product Marketing Manager",
			"Designer", "Events Coordinator", "SEO Specialist"},
		planted: []person{
			{given: "Siobhan", family: "O'Brien", title: "Marketing Director"},
		},
		headManager: [2]int{ouHead, 0}, disabled: []int{9},
	},
	ouNA: {path: []string{"North America"}, description: "North American offices"},
	ouNASales: {
		path: []string{"North America", "Sales department users"}, description: "Sales, Americas",
		users: 36, department: "Sales", cities: []city{seattle, seattle, toronto, newYork},
		titles: []string{"Account Executive", "Account Executive", "Senior Account Executive",
			"Sales Development Representative", "Sales Engineer", "Customer Success Manager"},
		planted: []person{
			{given: "Mary Ann", family: "Johnson", title: "Head of Sales Americas", lastFirst: true, givenLatin: "MaryAnn"},
			{given: "John", family: "Smith", title: "Senior Account Executive", lastFirst: true},
			{given: "James", family: "Miller", title: "Account Executive"},
			{given: "Ethan", family: "Walker", title: "Account Executive", disabled: true},
		},
		headManager: [2]int{ouHead, 3}, lastFirstEvery: 3,
	},
	ouNAEngineering: {
		path: []string{"North America", "Engineering users"}, description: "Product engineering",
		users: 24, department: "Engineering", cities: []city{seattle, seattle, toronto},
		titles: []string{"Frontend Engineer", "Senior Frontend Engineer", "QA Engineer",
			"Engineering Manager", "Product Designer", "Site Reliability Engineer", "Product Manager"},
		planted: []person{
			{given: "Carlos", family: "Mendoza", title: "VP Engineering"},
		},
		headManager: [2]int{ouHead, 2},
	},
	ouNABackend: {
		path: []string{"North America", "Engineering users", "Backend users"}, description: "Backend and data",
		users: 28, department: "Engineering", cities: []city{seattle, toronto},
		titles: []string{"Backend Engineer", "Backend Engineer", "Senior Backend Engineer",
			"Staff Engineer", "Database Engineer", "Data Engineer"},
		planted: []person{
			{given: "Wei", family: "Zhang", title: "Backend Lead"},
			{given: "James", family: "Miller", title: "Senior Backend Engineer"},
		},
		headManager: [2]int{ouNAEngineering, 0}, disabled: []int{13},
	},
	ouIT: {
		path: []string{"IT Users"}, description: "Internal IT",
		users: 14, department: "IT", cities: []city{seattle, london},
		titles: []string{"System Administrator", "Helpdesk Technician", "Network Engineer",
			"Security Analyst"},
		planted: []person{
			{given: "Aisha", family: "Khan", title: "IT Manager"},
			// 2fa-admin: a break-glass admin account; see makeUser.
			{given: "", family: "", title: "Break-glass administrator"},
		},
		headManager: [2]int{ouHead, 2},
	},
	ouRussia: {
		path: []string{"Russia Users"}, description: "Moscow office",
		users: len(russianRoles), department: "Московский офис", cities: []city{moscow},
		roles: russianRoles, russian: true,
		headManager: [2]int{ouHead, 3}, disabled: []int{9},
	},
	ouContractors: {
		path: []string{"Contractors"}, description: "External contractors with a directory account",
		users: 14, department: "Contractors", cities: []city{seattle, london, toronto},
		titles: []string{"Contract Developer", "Contract QA Tester", "Consultant",
			"Contract Designer", "Interim Project Manager"},
		disabled: []int{4, 9}, contractor: true,
	},
	ouService: {
		path: []string{"Service Accounts"}, description: "Non-personal accounts used by software",
		users: len(serviceAccounts), service: true,
	},
	ouGroups: {path: []string{"Groups"}, description: "Security and distribution groups"},
}

// Service accounts: no mail, no names, a description instead.
var serviceAccounts = []struct {
	name, description string
	disabled          bool
}{
	{"svc-backup", "Nightly backup agent", false},
	{"svc-print", "Print server spooler", false},
	{"svc-scan", "Scan-to-mail on the office copiers", false},
	{"svc-monitoring", "Monitoring probes", false},
	{"svc-sql", "SQL Server engine", false},
	{"svc-deploy", "Deployment pipeline", false},
	{"svc-fax", "Fax gateway (decommissioned)", true},
	{"1c-integration", "1C:Enterprise accounting integration", false},
	{"365-relay", "SMTP relay for Microsoft 365", false},
}

var contractorCompanies = []string{"Contoso Consulting", "Fabrikam Staffing", "Adventure Works Partners"}

// entry is one LDIF record; attribute order is kept.
type entry struct {
	dn    string
	attrs [][2]string
}

func (e *entry) add(name string, values ...string) {
	for _, v := range values {
		if v != "" {
			e.attrs = append(e.attrs, [2]string{name, v})
		}
	}
}

// user is a generated user object before it becomes an entry.
type user struct {
	dn, cn       string
	p            person
	sam, upn     string
	mail         string
	display      string
	title        string
	department   string
	company      string
	employeeID   string
	phone        string
	city         city
	uac          int
	manager      string
	whenCreated  string
	description  string
	ou           int
	index        int
	memberOf     []string
	isService    bool
	isContractor bool
}

type group struct {
	name, description string
	members           []string // DNs
	memberOf          []string
}

func (g *group) dn() string { return "CN=" + escapeRDN(g.name) + ",OU=Groups," + baseDN }

type generator struct {
	r        rng
	names    map[string]bool // full names used by generated people
	sams     map[string]bool
	mails    map[string]bool
	users    [][]*user // per OU
	groups   []*group
	groupIdx map[string]*group
	empNo    int
}

// generate writes the sample directory as LDIF to w.
func generate(w io.Writer) error {
	g := &generator{
		r:     rng{s: seed},
		names: map[string]bool{}, sams: map[string]bool{}, mails: map[string]bool{},
		users:    make([][]*user, len(ous)),
		groupIdx: map[string]*group{},
	}
	for _, spec := range ous {
		for _, p := range spec.planted {
			g.names[p.given+"|"+p.family] = true
		}
	}
	// Names the quickstart's app uses for accounts that are not in the
	// directory.
	g.names["Priya|Raman"] = true
	for i := range ous {
		if err := g.makeOU(i); err != nil {
			return err
		}
	}
	g.makeManagers()
	g.makeGroups()
	return g.write(w)
}

func ouDN(path []string) string {
	var b strings.Builder
	for i := len(path) - 1; i >= 0; i-- {
		b.WriteString("OU=" + escapeRDN(path[i]) + ",")
	}
	return b.String() + baseDN
}

func (g *generator) makeOU(i int) error {
	spec := &ous[i]
	if spec.service {
		for j, s := range serviceAccounts {
			u := &user{
				ou: i, index: j, isService: true,
				cn: s.name, sam: s.name, upn: s.name + "@" + mailDomain,
				display: s.name, description: s.description, uac: uacServiceNormal,
			}
			if s.disabled {
				u.uac = uacServiceDisabled
			}
			u.dn = "CN=" + escapeRDN(u.cn) + "," + ouDN(spec.path)
			u.whenCreated = g.when()
			if g.sams[u.sam] {
				return fmt.Errorf("duplicate sAMAccountName %q", u.sam)
			}
			g.sams[u.sam] = true
			g.users[i] = append(g.users[i], u)
		}
		return nil
	}
	generated := 0
	for j := 0; j < spec.users; j++ {
		var p person
		if j < len(spec.planted) {
			p = spec.planted[j]
		} else {
			p = g.newPerson(spec)
			generated++
			if spec.lastFirstEvery > 0 && generated%spec.lastFirstEvery == 0 {
				p.lastFirst = true
			}
			if k := generated - 1; k < len(spec.roles) {
				p.title, p.department = spec.roles[k].title, spec.roles[k].department
			} else {
				p.title = pick(&g.r, spec.titles)
			}
		}
		for _, d := range spec.disabled {
			if d == j {
				p.disabled = true
			}
		}
		u, err := g.makeUser(i, j, p)
		if err != nil {
			return err
		}
		g.users[i] = append(g.users[i], u)
	}
	return nil
}

// newPerson draws a person not named yet from the tables of
// internal/fakenames, the one source of fake people.
func (g *generator) newPerson(spec *ouSpec) person {
	for {
		var p person
		if spec.russian {
			given := pick(&g.r, fakenames.RussianGiven[:])
			family := pick(&g.r, fakenames.RussianFamily[:])
			if given.Female {
				family = family.Feminine()
			}
			p = person{given: given.Name, family: family.Name, givenLatin: given.Latin, familyLatin: family.Latin}
		} else {
			p = person{given: pick(&g.r, fakenames.Given[:]), family: pick(&g.r, fakenames.Family[:])}
		}
		k := p.given + "|" + p.family
		if !g.names[k] {
			g.names[k] = true
			return p
		}
	}
}

func (g *generator) when() string {
	// A creation time between 2015 and the end of 2024.
	y := 2015 + g.r.intn(10)
	return fmt.Sprintf("%04d%02d%02d%02d%02d%02d.0Z", y, 1+g.r.intn(12), 1+g.r.intn(28),
		7+g.r.intn(11), g.r.intn(60), g.r.intn(60))
}

func (g *generator) makeUser(ouIndex, j int, p person) (*user, error) {
	spec := &ous[ouIndex]
	u := &user{ou: ouIndex, index: j, p: p, title: p.title, uac: uacNormal,
		department: spec.department, company: company, isContractor: spec.contractor}
	if p.disabled {
		u.uac = uacDisabled
	}
	if p.department != "" {
		u.department = p.department
	}
	u.city = pick(&g.r, spec.cities)
	if ouIndex == ouIT && j == 1 {
		// The break-glass admin: no person behind it.
		u.cn, u.display, u.sam = "2FA Admin", "2FA Admin", "2fa-admin"
		u.mail = "2fa-admin@" + mailDomain
		u.description = "Emergency access; MFA enrolment for the admin team"
	} else {
		if p.lastFirst {
			u.cn = p.family + ", " + p.given
		} else {
			u.cn = p.given + " " + p.family
		}
		u.display = u.cn
		given := p.givenLatin
		if given == "" {
			given = fakenames.ASCII(p.given)
		}
		family := p.familyLatin
		if family == "" {
			family = fakenames.ASCII(p.family)
		}
		given, family = alnum(given), alnum(family)
		if given == "" || family == "" {
			return nil, fmt.Errorf("no ASCII form for %q %q", p.given, p.family)
		}
		base := given[:1] + family
		local := given + "." + family
		if spec.contractor {
			base = "ext-" + base
		}
		sam, mail := base, local
		for n := 2; g.sams[sam] || g.mails[mail]; n++ {
			sam, mail = fmt.Sprintf("%s%d", base, n), fmt.Sprintf("%s%d", local, n)
		}
		if len(sam) > 20 { // sAMAccountName's limit
			sam = sam[:20]
		}
		u.sam, u.mail = sam, mail+"@"+mailDomain
		u.phone = g.phone(u.city)
		if spec.contractor {
			u.company = pick(&g.r, contractorCompanies)
		} else {
			g.empNo++
			u.employeeID = fmt.Sprintf("E%05d", 1000+g.empNo)
		}
	}
	if g.sams[u.sam] {
		return nil, fmt.Errorf("duplicate sAMAccountName %q", u.sam)
	}
	g.sams[u.sam] = true
	g.mails[strings.TrimSuffix(u.mail, "@"+mailDomain)] = true
	u.upn = u.sam + "@" + mailDomain
	u.dn = "CN=" + escapeRDN(u.cn) + "," + ouDN(spec.path)
	u.whenCreated = g.when()
	return u, nil
}

func (g *generator) phone(c city) string {
	if g.r.intn(6) == 0 {
		return "" // not everyone has a desk phone
	}
	args := make([]any, len(c.digits))
	for i, d := range c.digits {
		args[i] = g.r.intn(d)
	}
	return fmt.Sprintf(c.phone, args...)
}

func (g *generator) makeManagers() {
	for i, spec := range ous {
		us := g.users[i]
		if len(us) == 0 {
			continue
		}
		switch {
		case spec.service:
			for _, u := range us {
				u.manager = g.users[ouIT][0].dn // owner of the account
			}
		case spec.contractor:
			sponsors := []*user{g.users[ouNAEngineering][0], g.users[ouNABackend][0],
				g.users[ouIT][0], g.users[ouEUMarketing][0]}
			for k, u := range us {
				u.manager = sponsors[k%len(sponsors)].dn
			}
		default:
			if m := spec.headManager; m[0] >= 0 {
				us[0].manager = g.users[m[0]][m[1]].dn
			}
			for _, u := range us[1:] {
				u.manager = us[0].dn
			}
		}
	}
}

func (g *generator) group(name, description string, members ...string) *group {
	gr := &group{name: name, description: description, members: members}
	g.groups = append(g.groups, gr)
	g.groupIdx[name] = gr
	return gr
}

func (g *generator) dns(ou int, keep func(*user) bool) []string {
	var out []string
	for _, u := range g.users[ou] {
		if keep == nil || keep(u) {
			out = append(out, u.dn)
		}
	}
	return out
}

func (g *generator) makeGroups() {
	gdn := func(name string) string { return g.groupIdx[name].dn() }
	g.group("Head Office", "Executive team", g.dns(ouHead, nil)...)
	g.group("Sales EMEA", "Sales in Europe", g.dns(ouEUSales, nil)...)
	g.group("Sales Americas", "Sales in North America", g.dns(ouNASales, nil)...)
	g.group("Sales", "All sales staff (nested groups)", gdn("Sales EMEA"), gdn("Sales Americas"))
	g.group("Marketing", "Marketing team", g.dns(ouEUMarketing, nil)...)
	g.group("Backend Developers", "Backend engineers", g.dns(ouNABackend, nil)...)
	g.group("Engineering", "Product engineering; Backend Developers nested",
		append(g.dns(ouNAEngineering, nil), gdn("Backend Developers"))...)
	g.group("IT Department", "Internal IT", g.dns(ouIT, nil)...)
	g.group("Московский офис", "Moscow office", g.dns(ouRussia, nil)...)
	g.group("All Staff", "Every employee, through the department groups",
		gdn("Head Office"), gdn("Sales"), gdn("Marketing"), gdn("Engineering"),
		gdn("IT Department"), gdn("Московский офис"))
	g.group("External Contractors", "Contractors allowed into the app", g.dns(ouContractors, func(u *user) bool {
		return u.index != 6 && u.index != 11
	})...)
	g.group("App Users", "Everyone who gets an app account (nested groups)",
		gdn("All Staff"), gdn("External Contractors"))
	g.group("Helpdesk", "First-line support", g.dns(ouIT, func(u *user) bool {
		return u.title == "Helpdesk Technician"
	})...)
	g.group("App Admins", "Administrators of the app",
		g.users[ouHead][2].dn, g.users[ouIT][0].dn, g.users[ouIT][1].dn, gdn("Helpdesk"))
	var vpn []string
	for _, ou := range []int{ouEUSales, ouNASales, ouNAEngineering, ouNABackend, ouIT, ouContractors} {
		vpn = append(vpn, g.dns(ou, func(u *user) bool { return u.index%4 == 1 })...)
	}
	g.group("VPN Users", "Remote access", vpn...)
	g.group("No App Access", "Members never get an app account",
		g.users[ouNASales][20].dn, g.users[ouNASales][27].dn, g.users[ouContractors][2].dn)

	// memberOf, the other side of member.
	byDN := map[string]*user{}
	for _, us := range g.users {
		for _, u := range us {
			byDN[u.dn] = u
		}
	}
	groupByDN := map[string]*group{}
	for _, gr := range g.groups {
		groupByDN[gr.dn()] = gr
	}
	for _, gr := range g.groups {
		for _, m := range gr.members {
			if u, ok := byDN[m]; ok {
				u.memberOf = append(u.memberOf, gr.dn())
			} else {
				groupByDN[m].memberOf = append(groupByDN[m].memberOf, gr.dn())
			}
		}
	}
}

func guid(dn string) string {
	h := sha256.Sum256([]byte("northwind-example objectGUID\x00" + strings.ToLower(dn)))
	b := h[:16]
	// AD stores Data3 little-endian: the version nibble is byte 7's high
	// nibble. The variant bits are in byte 8.
	b[7] = b[7]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return string(b)
}

func (g *generator) write(w io.Writer) error {
	var entries []entry
	dom := entry{dn: baseDN}
	dom.add("objectClass", "top", "domain", "domainDNS")
	dom.add("dc", "example")
	dom.add("description", company)
	dom.add("objectGUID", guid(baseDN))
	entries = append(entries, dom)
	for i, spec := range ous {
		ou := entry{dn: ouDN(spec.path)}
		ou.add("objectClass", "top", "organizationalUnit")
		ou.add("ou", spec.path[len(spec.path)-1])
		ou.add("description", spec.description)
		ou.add("objectGUID", guid(ou.dn))
		entries = append(entries, ou)
		for _, u := range g.users[i] {
			entries = append(entries, u.entry())
		}
		if i == ouGroups {
			for _, gr := range g.groups {
				entries = append(entries, gr.entry())
			}
		}
	}
	for i, e := range entries {
		if i > 0 {
			if _, err := io.WriteString(w, "\n"); err != nil {
				return err
			}
		}
		if err := writeLine(w, "dn", e.dn); err != nil {
			return err
		}
		for _, a := range e.attrs {
			if err := writeLine(w, a[0], a[1]); err != nil {
				return err
			}
		}
	}
	return nil
}

func (u *user) entry() entry {
	e := entry{dn: u.dn}
	e.add("objectClass", "top", "person", "organizationalPerson", "user")
	e.add("cn", u.cn)
	e.add("sn", u.p.family)
	e.add("givenName", u.p.given)
	e.add("displayName", u.display)
	e.add("description", u.description)
	e.add("title", u.title)
	e.add("department", u.department)
	if !u.isService {
		e.add("company", u.company)
		e.add("l", u.city.name)
		e.add("c", u.city.country)
	}
	e.add("employeeID", u.employeeID)
	e.add("telephoneNumber", u.phone)
	e.add("mail", u.mail)
	e.add("manager", u.manager)
	e.add("memberOf", u.memberOf...)
	e.add("sAMAccountName", u.sam)
	e.add("userPrincipalName", u.upn)
	e.add("userAccountControl", fmt.Sprint(u.uac))
	e.add("whenCreated", u.whenCreated)
	e.add("objectGUID", guid(u.dn))
	return e
}

func (gr *group) entry() entry {
	e := entry{dn: gr.dn()}
	e.add("objectClass", "top", "group")
	e.add("cn", gr.name)
	e.add("description", gr.description)
	e.add("groupType", "-2147483646") // global security group
	e.add("member", gr.members...)
	e.add("memberOf", gr.memberOf...)
	e.add("sAMAccountName", gr.name)
	e.add("objectGUID", guid(gr.dn()))
	return e
}

// writeLine writes "name: value", or "name:: base64" for a value that is
// not an RFC 2849 SAFE-STRING, folded at lineWidth.
func writeLine(w io.Writer, name, value string) error {
	line := name + ": " + value
	if !safeString(value) {
		line = name + ":: " + base64.StdEncoding.EncodeToString([]byte(value))
	}
	var b strings.Builder
	// Every line is ASCII by now, so byte offsets are character offsets.
	n := min(len(line), lineWidth)
	b.WriteString(line[:n])
	line = line[n:]
	for line != "" {
		// A continuation line starts with a space, so one less character
		// of content fits.
		n := min(len(line), lineWidth-1)
		b.WriteString("\n ")
		b.WriteString(line[:n])
		line = line[n:]
	}
	b.WriteString("\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// safeString reports whether v may be written as is: printable ASCII, not
// starting with a space, colon or '<', not ending with a space.
func safeString(v string) bool {
	if v == "" {
		return true
	}
	if v[0] == ' ' || v[0] == ':' || v[0] == '<' || v[len(v)-1] == ' ' {
		return false
	}
	for i := 0; i < len(v); i++ {
		if v[i] < 0x20 || v[i] > 0x7e {
			return false
		}
	}
	return true
}

// escapeRDN escapes an attribute value for a DN (RFC 4514).
func escapeRDN(v string) string {
	var b strings.Builder
	for i, r := range v {
		switch {
		case strings.ContainsRune(`,+"\<>;=`, r):
			b.WriteByte('\\')
		case r == '#' && i == 0, r == ' ' && (i == 0 || i == len(v)-1):
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// alnum keeps lower-case ASCII letters and digits.
func alnum(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		}
	}
	return b.String()
}
