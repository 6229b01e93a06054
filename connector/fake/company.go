package fake

import (
	"math/rand/v2"
	"strconv"
	"strings"

	"github.com/dirsync-go/dirsync/connector"
	"github.com/dirsync-go/dirsync/internal/fakenames"
)

// The domain of the generated company.
const (
	companyDomain = "example.test"
	companyBaseDN = "DC=example,DC=test"
)

// userAccountControl values (decimal text, as LDAP returns them).
const (
	uacNormal          = "512"   // NORMAL_ACCOUNT
	uacDisabled        = "514"   // NORMAL_ACCOUNT | ACCOUNTDISABLE
	uacServiceNoExpiry = "66048" // NORMAL_ACCOUNT | DONT_EXPIRE_PASSWORD
)

type ouStyle uint8

const (
	stylePeople ouStyle = iota
	styleCyrillic
	styleContractor
	styleService
)

// ouSpec describes one org unit of the generated company and the people in
// it.
type ouSpec struct {
	path   []string
	dept   string
	group  string // the department group every user of the OU is in
	titles []string
	phone  string
	weight int
	style  ouStyle
}

// companyOUs is the org-unit tree. The first users go round-robin into
// each unit, so a company of len(companyOUs) users or more has every kind
// of account; the rest are spread by weight.
var companyOUs = []ouSpec{
	{path: []string{"Europe", "Sales department users"}, dept: "Sales", group: "Sales Europe", phone: "+44 20 7946 ", weight: 20,
		titles: []string{"Account Executive", "Sales Representative", "Sales Manager", "Inside Sales Representative"}},
	{path: []string{"Europe", "Marketing Users"}, dept: "Marketing", group: "Marketing Europe", phone: "+33 1 5550 ", weight: 8,
		titles: []string{"Marketing Specialist", "Content Manager", "Brand Manager"}},
	{path: []string{"Europe", "Russia", "Moscow users"}, dept: "Продажи", group: "Moscow Office", phone: "+7 495 555 ", weight: 10, style: styleCyrillic,
		titles: []string{"Менеджер по продажам", "Руководитель отдела", "Бухгалтер", "Инженер"}},
	{path: []string{"North America", "Engineering", "Platform Users"}, dept: "Engineering", group: "Platform Engineering", phone: "+1 415 555 ", weight: 15,
		titles: []string{"Software Engineer", "Senior Software Engineer", "Site Reliability Engineer", "Engineering Manager"}},
	{path: []string{"North America", "Support users"}, dept: "Support", group: "Support North America", phone: "+1 312 555 ", weight: 12,
		titles: []string{"Support Engineer", "Support Team Lead", "Customer Success Manager"}},
	{path: []string{"IT Users"}, dept: "IT", group: "IT", phone: "+1 415 556 ", weight: 10,
		titles: []string{"Systems Administrator", "IT Support Specialist", "Network Engineer"}},
	{path: []string{"Asia Pacific", "Sales department users"}, dept: "Sales", group: "Sales APAC", phone: "+65 6555 ", weight: 10,
		titles: []string{"Account Executive", "Sales Manager"}},
	{path: []string{"Contractors"}, dept: "External", group: "Contractors", phone: "+1 646 555 ", weight: 10, style: styleContractor,
		titles: []string{"Contractor", "Consultant"}},
	{path: []string{"Service Accounts"}, group: "Service Accounts", weight: 5, style: styleService},
}

// Groups besides the department groups.
const (
	groupAllStaff   = "All Staff"
	groupVPN        = "VPN Users"
	groupITAdmins   = "IT Admins"
	groupPrivileged = "Privileged Access"
	groupFormer     = "Former Employees"
)

var extraGroups = []struct{ name, description string }{
	{groupAllStaff, "Every employee, through the department groups"},
	{groupVPN, "Remote access"},
	{groupITAdmins, "Administrators of IT systems"},
	{groupPrivileged, "Privileged access, through nested groups"},
	{groupFormer, "Kept empty on purpose"},
}

var (
	ouDN          []string // "OU=…,OU=…,DC=example,DC=test" per companyOUs index
	ouCumWeight   []int
	asciiFirst    [len(fakenames.Given)]string
	asciiLast     [len(fakenames.Family)]string
	companyGroups []string // names of all groups, department groups first

	serviceDisplay     [len(serviceNames)]string
	serviceDescription [len(serviceNames)]string
)

func init() {
	total := 0
	for _, ou := range companyOUs {
		var sb strings.Builder
		for i := len(ou.path) - 1; i >= 0; i-- {
			sb.WriteString("OU=")
			sb.WriteString(escapeRDN(ou.path[i]))
			sb.WriteByte(',')
		}
		sb.WriteString(companyBaseDN)
		ouDN = append(ouDN, sb.String())
		total += ou.weight
		ouCumWeight = append(ouCumWeight, total)
		companyGroups = append(companyGroups, ou.group)
	}
	for _, g := range extraGroups {
		companyGroups = append(companyGroups, g.name)
	}
	for i, svc := range serviceNames {
		serviceDisplay[i] = strings.ToUpper(svc[:1]) + svc[1:] + " service"
		serviceDescription[i] = "Service account for " + svc
	}
	for i, n := range fakenames.Given {
		asciiFirst[i] = fakenames.ASCII(n)
	}
	for i, n := range fakenames.Family {
		asciiLast[i] = fakenames.ASCII(n)
	}
}

// Company generates a deterministic company directory of n users plus its
// groups, for tests, examples and benchmarks. The same n and seed always
// give the same entries, in the same order: users first, then groups.
//
// The company looks like an Active Directory domain (example.test):
//
//   - Users in org units such as ["Europe", "Sales department users"],
//     ["Europe", "Russia", "Moscow users"], ["North America",
//     "Engineering", "Platform Users"], ["IT Users"], ["Contractors"] and
//     ["Service Accounts"]. The first users go round-robin into every
//     unit, so any company of 9 users or more has each kind of account.
//   - Attributes named as in AD: sAMAccountName, userPrincipalName, mail
//     (equal to the UPN), givenName, sn, displayName, title, department,
//     telephoneNumber, manager (the manager's DN; managers form a tree
//     within each unit) and userAccountControl. Some display names are
//     "Last, First", so DNs carry escaped commas. Users in the Moscow unit
//     have Cyrillic given names, surnames and titles, with transliterated
//     account names. Service accounts have no mail, name or manager.
//   - About 3% of employees and a quarter of contractors are disabled,
//     among them the first contractor; Disabled and userAccountControl
//     agree.
//   - Groups in ["Groups"]: one per unit, "All Staff" (holding the
//     employee department groups: nested membership), "VPN Users", "IT
//     Admins" nested in "Privileged Access", and the empty "Former
//     Employees". Members and MemberOf are set on both sides and list
//     direct membership only.
//   - IDs are UUID-shaped strings derived from the seed.
//
// Company is built for size: a million users take about three seconds and
// 1.4 GB (roughly 1.4 KB a user, half of it the Attrs map), in six
// allocations a user. An entry's own strings are substrings of one
// allocation, its slices share one backing array, and entries share the
// immutable strings of the tables (OU names, titles) and the manager's DN.
// Every slice is capped, so appending to one never writes into another.
func Company(n int, seed int64) []connector.Entry {
	n = max(n, 0)
	g := &generator{
		rng:      rand.New(rand.NewPCG(uint64(seed), 0x6469727379e3)),
		seed:     uint64(seed),
		ouUsers:  make([][]int32, len(companyOUs)),
		members:  make(map[string][]string, len(companyGroups)),
		groupIDs: make(map[string]string, len(companyGroups)),
	}
	for i, name := range companyGroups {
		g.groupIDs[name] = makeID(g.seed, saltGroup, i)
	}
	out := make([]connector.Entry, 0, n+len(companyGroups))
	for i := range n {
		out = append(out, g.user(i, out))
	}
	return g.appendGroups(out)
}

// Salts that keep the ID streams of users and groups apart.
const (
	saltUser  = 0x75736572
	saltGroup = 0x67726f7570
)

type generator struct {
	buf      []byte // scratch space for one entry's strings
	rng      *rand.Rand
	seed     uint64
	ouUsers  [][]int32 // indexes in out of each unit's users, in order
	members  map[string][]string
	groupIDs map[string]string
}

// user generates user i. out holds the users generated so far, so that the
// manager's DN can be shared.
func (g *generator) user(i int, out []connector.Entry) connector.Entry {
	ouIdx := i
	if i >= len(companyOUs) {
		ouIdx = pickWeighted(g.rng.IntN(ouCumWeight[len(ouCumWeight)-1]))
	}
	ou := &companyOUs[ouIdx]
	k := len(g.ouUsers[ouIdx]) // position of this user in its unit
	g.ouUsers[ouIdx] = append(g.ouUsers[ouIdx], int32(i))
	e := connector.Entry{Kind: connector.KindUser}

	// The entry's own strings are built in one buffer and become
	// substrings of one allocation.
	b := appendID(g.buf[:0], g.seed, saltUser, i)
	idEnd := len(b)
	var given, sn, title string
	female := false
	samStart := len(b)
	svc := k % len(serviceNames)
	switch ou.style {
	case styleService:
		b = append(b, "svc-"...)
		b = append(b, serviceNames[svc]...)
	case styleCyrillic:
		f := &fakenames.RussianGiven[g.rng.IntN(len(fakenames.RussianGiven))]
		l := &fakenames.RussianFamily[g.rng.IntN(len(fakenames.RussianFamily))]
		given, sn, female = f.Name, l.Name, f.Female
		b = append(b, f.Latin[0])
		b = append(b, l.Latin...)
		if female {
			b = append(b, 'a')
		}
	default:
		fi, li := g.rng.IntN(len(fakenames.Given)), g.rng.IntN(len(fakenames.Family))
		given, sn = fakenames.Given[fi], fakenames.Family[li]
		b = append(b, asciiFirst[fi][0])
		b = append(b, asciiLast[li]...)
	}
	b = strconv.AppendInt(b, int64(i), 10)
	samEnd := len(b)
	b = append(b, "@"+companyDomain...)
	upnEnd := len(b)
	snStart, snEnd := 0, 0
	if female {
		// The feminine form of a Russian surname.
		snStart = len(b)
		b = append(b, sn...)
		b = append(b, "а"...)
		snEnd = len(b)
	}
	surname := func(b []byte) []byte {
		if female {
			return append(b, b[snStart:snEnd]...)
		}
		return append(b, sn...)
	}
	dispStart := len(b)
	switch {
	case ou.style == styleService:
		b = append(b, serviceDisplay[svc]...)
	case i%7 == 3:
		b = surname(b)
		b = append(b, ", "...)
		b = append(b, given...)
	default:
		b = append(b, given...)
		b = append(b, ' ')
		b = surname(b)
	}
	dispEnd := len(b)
	dnStart := len(b)
	b = append(b, "CN="...)
	if ou.style == styleService {
		b = append(b, b[samStart:samEnd]...)
	} else {
		b = appendEscaped(b, b[dispStart:dispEnd])
		b = append(b, ' ')
		b = strconv.AppendInt(b, int64(i), 10)
	}
	b = append(b, ',')
	b = append(b, ouDN[ouIdx]...)
	dnEnd := len(b)
	phoneStart := len(b)
	if ou.phone != "" {
		b = appendPhone(b, ou.phone, i)
	}
	phoneEnd := len(b)
	blob := string(b)
	g.buf = b

	e.ID = blob[:idEnd]
	e.DN = blob[dnStart:dnEnd]
	if female {
		sn = blob[snStart:snEnd]
	}

	// One backing array for every small slice of the entry: attribute
	// values, path and group IDs.
	nAttrs := 5 // a service account's
	if ou.style != styleService {
		nAttrs = 10
		if k > 0 {
			nAttrs++ // manager
		}
	}
	const maxGroups = 3
	slab := make([]string, 0, nAttrs+len(ou.path)+maxGroups)
	attrs := make(connector.Attrs, nAttrs)
	set := func(name, value string) {
		slab = append(slab, value)
		attrs[name] = slab[len(slab)-1 : len(slab) : len(slab)]
	}
	set("samaccountname", blob[samStart:samEnd])
	set("userprincipalname", blob[samStart:upnEnd])
	set("displayname", blob[dispStart:dispEnd])
	if ou.style == styleService {
		set("description", serviceDescription[svc])
		set("useraccountcontrol", uacServiceNoExpiry)
	} else {
		title = ou.titles[g.rng.IntN(len(ou.titles))]
		set("givenname", given)
		set("sn", sn)
		set("mail", blob[samStart:upnEnd])
		set("title", title)
		set("department", ou.dept)
		set("telephonenumber", blob[phoneStart:phoneEnd])
		if k > 0 {
			set("manager", out[g.ouUsers[ouIdx][(k-1)/8]].DN)
		}
		if ou.style == styleContractor {
			e.Disabled = k == 0 || g.rng.IntN(4) == 0
		} else {
			e.Disabled = g.rng.IntN(100) < 3
		}
		if e.Disabled {
			set("useraccountcontrol", uacDisabled)
		} else {
			set("useraccountcontrol", uacNormal)
		}
	}
	e.Attrs = attrs

	start := len(slab)
	slab = append(slab, ou.path...)
	e.Path = slab[start:len(slab):len(slab)]

	start = len(slab)
	slab = append(slab, g.join(ou.group, e.ID))
	if ou.style != styleService && g.rng.IntN(3) == 0 {
		slab = append(slab, g.join(groupVPN, e.ID))
	}
	if ou.group == "IT" && k%4 == 0 {
		slab = append(slab, g.join(groupITAdmins, e.ID))
	}
	e.MemberOf = slab[start:len(slab):len(slab)]
	return e
}

// join records id as a direct member of the named group and returns the
// group's ID.
func (g *generator) join(group, id string) string {
	g.members[group] = append(g.members[group], id)
	return g.groupIDs[group]
}

func (g *generator) appendGroups(out []connector.Entry) []connector.Entry {
	nested := map[string]string{groupITAdmins: groupPrivileged}
	for _, ou := range companyOUs {
		if ou.style == stylePeople || ou.style == styleCyrillic {
			nested[ou.group] = groupAllStaff
			g.members[groupAllStaff] = append(g.members[groupAllStaff], g.groupIDs[ou.group])
		}
	}
	g.members[groupPrivileged] = append(g.members[groupPrivileged], g.groupIDs[groupITAdmins])
	descriptions := map[string]string{}
	for _, x := range extraGroups {
		descriptions[x.name] = x.description
	}
	for _, name := range companyGroups {
		desc, ok := descriptions[name]
		if !ok {
			desc = "Department group"
		}
		sam := strings.ReplaceAll(strings.ToLower(name), " ", "-")
		e := connector.Entry{
			ID:   g.groupIDs[name],
			Kind: connector.KindGroup,
			DN:   "CN=" + escapeRDN(name) + ",OU=Groups," + companyBaseDN,
			Path: []string{"Groups"},
			Attrs: connector.Attrs{
				"cn":             {name},
				"samaccountname": {sam},
				"description":    {desc},
				"grouptype":      {"-2147483646"}, // global security group
			},
			Members: g.members[name],
		}
		if parent, ok := nested[name]; ok {
			e.MemberOf = []string{g.groupIDs[parent]}
		}
		out = append(out, e)
	}
	return out
}

func pickWeighted(r int) int {
	for i, w := range ouCumWeight {
		if r < w {
			return i
		}
	}
	return len(ouCumWeight) - 1
}

// appendPhone appends prefix and four digits derived from i.
func appendPhone(b []byte, prefix string, i int) []byte {
	d := (i*7919 + 1234) % 10000
	b = append(b, prefix...)
	return append(b, byte('0'+d/1000), byte('0'+d/100%10), byte('0'+d/10%10), byte('0'+d%10))
}

// makeID returns a UUID-shaped (version 4 layout) ID for the i-th object of
// a stream.
func makeID(seed, salt uint64, i int) string {
	return string(appendID(nil, seed, salt, i))
}

// appendID appends the ID of makeID. Within a stream the first 64 bits are
// a bijection of i, so IDs never collide.
func appendID(b []byte, seed, salt uint64, i int) []byte {
	hi := mix64(mix64(seed^salt) + uint64(i))
	lo := mix64(hi ^ 0xd1b54a32d192ed03)
	hi = hi&^0xf000 | 0x4000
	lo = lo&^(3<<62) | 2<<62
	const digits = "0123456789abcdef"
	for n := range 32 {
		if n == 8 || n == 12 || n == 16 || n == 20 {
			b = append(b, '-')
		}
		v := hi
		if n >= 16 {
			v = lo
		}
		b = append(b, digits[v>>(60-4*uint(n%16))&0xf])
	}
	return b
}

// mix64 is the SplitMix64 finalizer, a bijection on 64-bit values.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// escapeRDN escapes a value for a DN string (RFC 4514).
func escapeRDN(v string) string {
	return string(appendEscaped(nil, []byte(v)))
}

// appendEscaped appends v escaped for a DN string (RFC 4514).
func appendEscaped(b, v []byte) []byte {
	for i, c := range v {
		switch {
		case strings.IndexByte(`,+"\<>;=`, c) >= 0,
			c == '#' && i == 0,
			c == ' ' && (i == 0 || i == len(v)-1):
			b = append(b, '\\')
		}
		b = append(b, c)
	}
	return b
}
