package ad

import (
	"encoding/binary"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/dirsync-go/dirsync/internal/ldaputil"
	ber "github.com/go-asn1-ber/asn1-ber"
	"github.com/go-ldap/ldap/v3"
)

// countingDC is an in-memory LDAP server that counts what a client asks
// for and what it answers: searches by kind, entries returned, and the
// attribute lists requested. It models a directory with a USN per object
// so DirSync cookies mean something: a cookie is the highest USN the DC
// had when it issued it, and a DirSync search with a cookie returns the
// objects changed after it. That is the documented contract ("the cookie
// identifies the directory state at the time of the previous DirSync
// search"; with a valid cookie "the search results include only data for
// objects that match the filter and that changed since the state indicated
// by the cookie"):
// https://learn.microsoft.com/windows/win32/ad/polling-for-changes-using-the-dirsync-control
//
// Filters are evaluated only as far as the connector needs: equality
// terms on objectGUID or distinguishedName restrict the result to those
// objects; any other filter matches every object.
type countingDC struct {
	t    testing.TB
	base string

	mu      sync.Mutex
	objs    []*fakeObj
	usn     int64
	counts  dcCounts
	attrs   [][]string      // attribute list of every subtree search
	onPage  func(page int)  // called (unlocked) after each page of a paged full read, and after an unpaged full read (page 0)
	dirSync map[string]bool // cookie → issued
	// maxPageSize, when positive, caps an unpaged search as Windows AD's
	// MaxPageSize policy does: at most that many entries, then
	// sizeLimitExceeded. "DCs limit the number of objects that can be
	// returned in a single search operation to the value specified by the
	// MaxPageSize policy"; the paged results control gets more:
	// https://learn.microsoft.com/en-us/openspecs/windows_protocols/ms-adts/1b4a637c-c682-4b5e-9397-fe9142a38887
	maxPageSize int
	// unpagedCode, when not 0, ends every unpaged subtree search after
	// its first entry with this result code.
	unpagedCode int
	// ignoreSizeLimit makes the DC ignore the size limit of a request, as
	// Samba 4.17 does for an administrator's search (measured with
	// ldapsearch -z at 100,000 users: every entry, then success).
	ignoreSizeLimit bool
}

type fakeObj struct {
	dn    string
	guid  []byte
	usn   int64
	attrs map[string][]string
}

// dcCounts is what the DC saw.
type dcCounts struct {
	Binds                   int // bind requests (one per connection)
	RootDSE, DirSync, Paged int // search requests by kind (Paged: with the paged results control)
	Unpaged                 int // subtree searches without the paged results control
	Cut                     int // of which ended in sizeLimitExceeded
	Entries                 int // entries returned by subtree searches
	DirSyncEntries          int // of which by DirSync
	// GroupIndex counts the page requests of the narrow search of the
	// groups alone ((objectClass=group): see memberIndex), and
	// GroupIndexEntries what they returned; neither is in Paged or
	// Entries.
	GroupIndex, GroupIndexEntries int
}

func newCountingDC(t testing.TB, users int) *countingDC {
	t.Helper()
	d := &countingDC{t: t, base: "DC=fake,DC=test", dirSync: map[string]bool{}}
	group := fmt.Sprintf("CN=Staff,OU=Groups,%s", d.base)
	var members []string
	for i := range users {
		dn := fmt.Sprintf("CN=User %05d,OU=Staff users,%s", i, d.base)
		members = append(members, dn)
		d.add(dn, map[string][]string{
			"objectClass":        {"top", "person", "organizationalPerson", "user"},
			"sAMAccountName":     {fmt.Sprintf("u%05d", i)},
			"mail":               {fmt.Sprintf("u%05d@fake.test", i)},
			"givenName":          {"User"},
			"sn":                 {strconv.Itoa(i)},
			"title":              {"Engineer"},
			"userAccountControl": {"512"},
			"accountExpires":     {"0"},
			"memberOf":           {group},
			"description":        {"not used by any mapping"},
		})
	}
	d.add(group, map[string][]string{
		"objectClass":    {"top", "group"},
		"cn":             {"Staff"},
		"sAMAccountName": {"staff"},
		"member":         members,
	})
	return d
}

func (d *countingDC) add(dn string, attrs map[string][]string) {
	d.usn++
	guid := make([]byte, 16)
	binary.BigEndian.PutUint64(guid[8:], uint64(len(d.objs)+1))
	guid[0] = 0xd5
	attrs["distinguishedName"] = []string{dn}
	d.objs = append(d.objs, &fakeObj{dn: dn, guid: guid, usn: d.usn, attrs: attrs})
}

// modify sets attr of the object at index i, as a change on the DC.
func (d *countingDC) modify(i int, attr string, values ...string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.usn++
	d.objs[i].attrs[attr] = values
	d.objs[i].usn = d.usn
}

func (d *countingDC) snapshot() (dcCounts, [][]string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.counts, slices.Clone(d.attrs)
}

// config returns a Config for the fake.
func (d *countingDC) config(addr string) Config {
	return Config{URLs: []string{"ldap://" + addr}, InsecurePlaintext: true,
		BindDN: "svc@fake.test", Password: "x", BaseDN: d.base, PageSize: 100}
}

// start listens on loopback and returns the address.
func (d *countingDC) start() string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		d.t.Fatal(err)
	}
	d.t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go d.serve(conn)
		}
	}()
	return ln.Addr().String()
}

func (d *countingDC) serve(conn net.Conn) {
	defer conn.Close()
	for {
		p, err := ber.ReadPacket(conn)
		if err != nil || len(p.Children) < 2 {
			return
		}
		id := p.Children[0].Value
		op := p.Children[1]
		switch op.Tag {
		case 0:
			d.mu.Lock()
			d.counts.Binds++
			d.mu.Unlock()
			write(conn, id, result(1, 0))
		case 3:
			var ctrls []ldap.Control
			if len(p.Children) > 2 {
				for _, c := range p.Children[2].Children {
					if dc, err := ldap.DecodeControl(c); err == nil {
						ctrls = append(ctrls, dc)
					}
				}
			}
			d.search(conn, id, op, ctrls)
		default:
			return
		}
	}
}

// under reports whether dn is base or below it.
func (d *countingDC) under(dn, base string) bool {
	in, err := ldaputil.IsUnder(dn, base)
	return err == nil && in
}

// equalities collects the values of equality terms on attr in a filter.
func equalities(f *ber.Packet, attr string) []string {
	var out []string
	if f.ClassType == ber.ClassContext && f.Tag == ldap.FilterEqualityMatch && len(f.Children) == 2 {
		if strings.EqualFold(fmt.Sprint(f.Children[0].Value), attr) {
			out = append(out, f.Children[1].Data.String())
		}
		return out
	}
	for _, c := range f.Children {
		out = append(out, equalities(c, attr)...)
	}
	return out
}

func (d *countingDC) matches(o *fakeObj, guids, dns []string) bool {
	if len(guids) == 0 && len(dns) == 0 {
		return true
	}
	return slices.Contains(guids, string(o.guid)) ||
		slices.ContainsFunc(dns, func(dn string) bool { return strings.EqualFold(dn, o.dn) })
}

func (d *countingDC) entry(o *fakeObj, attrs []string) *ber.Packet {
	out := map[string][]string{}
	all := len(attrs) == 0 || slices.Contains(attrs, "*")
	for name, v := range o.attrs {
		if all || slices.ContainsFunc(attrs, func(a string) bool { return strings.EqualFold(a, name) }) {
			out[name] = v
		}
	}
	if all || slices.ContainsFunc(attrs, func(a string) bool { return strings.EqualFold(a, "objectGUID") }) {
		out["objectGUID"] = []string{string(o.guid)}
	}
	return entryPacket(o.dn, out)
}

func (d *countingDC) search(conn net.Conn, id any, op *ber.Packet, ctrls []ldap.Control) {
	base := fmt.Sprint(op.Children[0].Value)
	scope, _ := op.Children[1].Value.(int64)
	var attrs []string
	for _, a := range op.Children[7].Children {
		attrs = append(attrs, fmt.Sprint(a.Value))
	}
	guids := equalities(op.Children[6], "objectGUID")
	dns := equalities(op.Children[6], "distinguishedName")
	groupsOnly := slices.Equal(equalities(op.Children[6], "objectClass"), []string{"group"})

	d.mu.Lock()
	if base == "" && scope == 0 {
		d.counts.RootDSE++
		usn := d.usn
		d.mu.Unlock()
		write(conn, id, entryPacket("", map[string][]string{
			"namingContexts":      {d.base},
			"highestCommittedUSN": {strconv.FormatInt(usn, 10)},
		}))
		write(conn, id, result(5, 0))
		return
	}
	d.attrs = append(d.attrs, attrs)
	if ds, ok := ldap.FindControl(ctrls, ldap.ControlTypeDirSync).(*ldap.ControlDirSync); ok {
		d.counts.DirSync++
		var since int64
		if len(ds.Cookie) > 0 {
			if !d.dirSync[string(ds.Cookie)] {
				d.mu.Unlock()
				write(conn, id, result(5, ldap.LDAPResultUnwillingToPerform))
				return
			}
			since, _ = strconv.ParseInt(strings.TrimPrefix(string(ds.Cookie), "usn:"), 10, 64)
		}
		var out []*ber.Packet
		for _, o := range d.objs {
			if o.usn > since && d.matches(o, guids, dns) {
				out = append(out, d.entry(o, attrs))
			}
		}
		d.counts.Entries += len(out)
		d.counts.DirSyncEntries += len(out)
		cookie := "usn:" + strconv.FormatInt(d.usn, 10)
		d.dirSync[cookie] = true
		d.mu.Unlock()
		for _, e := range out {
			write(conn, id, e)
		}
		writeDone(conn, id, ldap.NewRequestControlDirSync(0, 0, []byte(cookie)))
		return
	}
	paging, _ := ldap.FindControl(ctrls, ldap.ControlTypePaging).(*ldap.ControlPaging)
	switch {
	case groupsOnly:
		d.counts.GroupIndex++
	case paging != nil:
		d.counts.Paged++
	case scope != 0:
		d.counts.Unpaged++
	}
	var hits []*fakeObj
	for _, o := range d.objs {
		if scope == 0 && !strings.EqualFold(o.dn, base) {
			continue
		}
		if scope != 0 && !strings.EqualFold(base, d.base) && !d.under(o.dn, base) {
			continue
		}
		if groupsOnly && !slices.Contains(o.attrs["objectClass"], "group") {
			continue
		}
		if d.matches(o, guids, dns) {
			hits = append(hits, o)
		}
	}
	from := 0
	size := len(hits)
	if paging != nil {
		if len(paging.Cookie) > 0 {
			from, _ = strconv.Atoi(string(paging.Cookie))
		}
		if paging.PagingSize > 0 {
			size = int(paging.PagingSize)
		}
	}
	to := min(from+size, len(hits))
	code := 0
	if paging == nil {
		limit, _ := op.Children[3].Value.(int64)
		if d.ignoreSizeLimit {
			limit = 0
		}
		if d.maxPageSize > 0 && (limit == 0 || int64(d.maxPageSize) < limit) {
			limit = int64(d.maxPageSize)
		}
		if limit > 0 && int64(len(hits)) > limit {
			to, code = int(limit), ldap.LDAPResultSizeLimitExceeded
			d.counts.Cut++
		}
		if d.unpagedCode != 0 && scope != 0 {
			to, code = min(1, len(hits)), d.unpagedCode
			d.counts.Cut++
		}
	}
	var out []*ber.Packet
	for _, o := range hits[from:to] {
		out = append(out, d.entry(o, attrs))
	}
	if groupsOnly {
		d.counts.GroupIndexEntries += len(out)
	} else {
		d.counts.Entries += len(out)
	}
	hook := d.onPage
	if groupsOnly {
		hook = nil
	}
	d.mu.Unlock()
	for _, e := range out {
		write(conn, id, e)
	}
	next := ""
	if to < len(hits) {
		next = strconv.Itoa(to)
	}
	if hook != nil && len(guids) == 0 && len(dns) == 0 && scope != 0 {
		hook(from / max(size, 1))
	}
	if paging == nil {
		write(conn, id, result(5, code))
		return
	}
	pc := ldap.NewControlPaging(0)
	pc.SetCookie([]byte(next))
	writeDone(conn, id, pc)
}

// writeDone writes a successful SearchResultDone carrying one control.
func writeDone(conn net.Conn, id any, c ldap.Control) {
	msg := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "")
	msg.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, id, ""))
	msg.AppendChild(result(5, 0))
	ctrls := ber.Encode(ber.ClassContext, ber.TypeConstructed, 0, nil, "Controls")
	ctrls.AppendChild(c.Encode())
	msg.AppendChild(ctrls)
	_, _ = conn.Write(msg.Bytes())
}
