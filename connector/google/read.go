package google

import (
	"context"
	"encoding/json"
	"fmt"
	"iter"
	"slices"
	"strconv"
	"strings"
	"sync"

	admin "google.golang.org/api/admin/directory/v1"
	"google.golang.org/api/googleapi"

	"github.com/dirsync-go/dirsync/connector"
)

// userResourceFields are the top-level fields of the user resource the
// connector turns into attributes, in the order it asks for them.
var userResourceFields = []string{"id", "primaryEmail", "name", "suspended", "archived", "orgUnitPath",
	"emails", "aliases", "organizations", "phones", "relations", "customSchemas"}

// ownUserFields are the fields the connector reads whatever the
// projection: the ID, the primary email, the disabled state and the Path.
var ownUserFields = []string{"id", "primaryEmail", "suspended", "archived", "orgUnitPath"}

// userFields is the partial response users.list is asked for by default:
// only what the connector turns into entries.
var userFields = usersSelector(userResourceFields)

func usersSelector(fields []string) string {
	return "nextPageToken,users(" + strings.Join(fields, ",") + ")"
}

// Project implements connector.Projector: the returned connector asks
// users.list (its fields selector) only for the top-level user fields the
// attributes in attrs come from (the part of a dotted name before the
// first dot, any case: name.givenname asks for name, relations.manager
// for relations, customschemas.s.f for customSchemas), plus the ones it
// needs itself: id, primaryEmail, suspended, archived and orgUnitPath.
// Other names (an AD attribute of a shared spec) are ignored. Groups,
// members and org units are read as before. c is not changed.
//
// ReadChanges compares entries by hash, so a cursor from another
// projection is accepted: entries whose projected attributes differ from
// the cursor's are yielded again, complete.
func (c *Connector) Project(attrs []string) connector.Connector {
	want := map[string]bool{}
	for _, a := range append(slices.Clone(attrs), ownUserFields...) {
		top, _, _ := strings.Cut(a, ".")
		want[strings.ToLower(top)] = true
	}
	var fields []string
	for _, f := range userResourceFields {
		if want[strings.ToLower(f)] {
			fields = append(fields, f)
		}
	}
	p := *c
	p.userFields = usersSelector(fields)
	return &p
}

// Read yields every user the configuration selects, then every group,
// then every org unit.
// It reads everything before it yields the first entry, so memberships
// can be resolved; any failed page fails the whole read.
func (c *Connector) Read(ctx context.Context) iter.Seq2[connector.Entry, error] {
	return connector.ReadAllThenYield(ctx, "google", c.readAll)
}

func (c *Connector) readAll(ctx context.Context) ([]connector.Entry, error) {
	users, err := c.listUsers(ctx)
	if err != nil {
		return nil, err
	}
	groups, err := c.listGroups(ctx)
	if err != nil {
		return nil, err
	}
	ous, err := c.listOrgUnits(ctx)
	if err != nil {
		return nil, err
	}
	entries := make([]connector.Entry, 0, len(users)+len(groups)+len(ous))
	index := make(map[string]int, len(users)+len(groups))
	for _, e := range users {
		index[e.ID] = len(entries)
		entries = append(entries, e)
	}
	for _, g := range groups {
		index[g.Id] = len(entries)
		entries = append(entries, groupEntry(g))
	}
	// Direct members of every group, kept when the read holds them
	// (members outside Query, external addresses and the CUSTOMER
	// pseudo-member are dropped).
	members, err := c.allMembers(ctx, groups)
	if err != nil {
		return nil, err
	}
	parents := map[string][]string{} // member ID → groups listing it
	for gi, g := range groups {
		ms := members[gi]
		ge := &entries[index[g.Id]]
		for _, m := range ms {
			if _, ok := index[m.Id]; ok && m.Id != g.Id {
				ge.Members = append(ge.Members, m.Id)
			}
		}
		slices.Sort(ge.Members)
		ge.Members = slices.Compact(ge.Members)
		for _, id := range ge.Members {
			parents[id] = append(parents[id], g.Id)
		}
	}
	// MemberOf is transitive: nested groups are expanded, cycles are safe.
	closure := map[string][]string{}
	ancestors := func(id string) []string {
		if a, ok := closure[id]; ok {
			return a
		}
		seen := map[string]bool{id: true}
		queue := slices.Clone(parents[id])
		var out []string
		for len(queue) > 0 {
			g := queue[0]
			queue = queue[1:]
			if seen[g] {
				continue
			}
			seen[g] = true
			out = append(out, g)
			queue = append(queue, parents[g]...)
		}
		slices.Sort(out)
		closure[id] = out
		return out
	}
	for i := range entries {
		if a := ancestors(entries[i].ID); len(a) > 0 {
			entries[i].MemberOf = slices.Clone(a)
		}
	}
	for _, ou := range ous {
		if _, dup := index[ou.ID]; !dup {
			entries = append(entries, ou)
		}
	}
	return entries, nil
}

func (c *Connector) listUsers(ctx context.Context) ([]connector.Entry, error) {
	call := c.svc.Users.List().MaxResults(int64(c.cfg.PageSize)).Fields(googleapi.Field(c.userFields))
	c.scopeFilter(call)
	if len(c.cfg.CustomSchemas) > 0 {
		call.Projection("custom").CustomFieldMask(strings.Join(c.cfg.CustomSchemas, ","))
	} else {
		call.Projection("full")
	}
	var out []connector.Entry
	seen := map[string]bool{}
	pages := 0
	err := call.Pages(ctx, func(p *admin.Users) error {
		pages++
		for _, u := range p.Users {
			if u.Id == "" {
				return fmt.Errorf("users.list page %d: a user without id", pages)
			}
			if seen[u.Id] {
				return &connector.DuplicateIDError{ID: u.Id}
			}
			seen[u.Id] = true
			out = append(out, userEntry(u))
		}
		return nil
	})
	if err != nil {
		return nil, c.classify(ctx, fmt.Sprintf("users.list (page %d)", pages+1), ScopeUser, err)
	}
	c.log.DebugContext(ctx, "users read", "users", len(out), "pages", pages)
	return out, nil
}

func (c *Connector) listGroups(ctx context.Context) ([]*admin.Group, error) {
	return c.listGroupsQuery(ctx, "")
}

// listGroupsQuery is listGroups with groups.list's query parameter.
func (c *Connector) listGroupsQuery(ctx context.Context, query string) ([]*admin.Group, error) {
	call := c.svc.Groups.List().MaxResults(groupsPageSize).Fields("nextPageToken,groups(id,email,name,description)")
	if c.cfg.Domain != "" {
		call.Domain(c.cfg.Domain)
	} else {
		call.Customer(c.cfg.Customer)
	}
	if query != "" {
		call.Query(query)
	}
	var out []*admin.Group
	pages := 0
	err := call.Pages(ctx, func(p *admin.Groups) error {
		pages++
		out = append(out, p.Groups...)
		return nil
	})
	if err != nil {
		return nil, c.classify(ctx, fmt.Sprintf("groups.list (page %d)", pages+1), ScopeGroup, err)
	}
	return out, nil
}

// memberConcurrency is how many members.list calls run at once: enough to
// hide the latency of one call per group, few enough to stay well inside
// the default quota of 2,400 queries a minute.
const memberConcurrency = 4

// allMembers lists the members of every group, memberConcurrency groups at
// a time; out[i] holds groups[i]'s. The first error cancels the rest and
// is returned.
func (c *Connector) allMembers(ctx context.Context, groups []*admin.Group) ([][]*admin.Member, error) {
	out := make([][]*admin.Member, len(groups))
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg    sync.WaitGroup
		once  sync.Once
		first error
	)
	next := make(chan int)
	for range min(memberConcurrency, len(groups)) {
		wg.Go(func() {
			for i := range next {
				ms, err := c.listMembers(wctx, groups[i].Id)
				if err != nil {
					once.Do(func() { first = err; cancel() })
					continue
				}
				out[i] = ms
			}
		})
	}
feed:
	for i := range groups {
		select {
		case next <- i:
		case <-wctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if first != nil {
		return nil, first
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

func (c *Connector) listMembers(ctx context.Context, group string) ([]*admin.Member, error) {
	var out []*admin.Member
	pages := 0
	err := c.svc.Members.List(group).MaxResults(membersPageSize).Fields("nextPageToken,members(id,type)").
		Pages(ctx, func(p *admin.Members) error {
			pages++
			for _, m := range p.Members {
				if m.Type == "USER" || m.Type == "GROUP" {
					out = append(out, m)
				}
			}
			return nil
		})
	if err != nil {
		return nil, c.classify(ctx, fmt.Sprintf("members.list of group %s (page %d)", group, pages+1), ScopeGroupMember, err)
	}
	return out, nil
}

// listOrgUnits reads every org unit (orgunits.list type=all, which is not
// paged) as KindOrgUnit entries.
func (c *Connector) listOrgUnits(ctx context.Context) ([]connector.Entry, error) {
	resp, err := c.svc.Orgunits.List(c.customerID()).Type("all").
		Fields("organizationUnits(orgUnitId,name,orgUnitPath,description)").Context(ctx).Do()
	if err != nil {
		return nil, c.classify(ctx, "orgunits.list", ScopeOrgUnit, err)
	}
	out := make([]connector.Entry, 0, len(resp.OrganizationUnits))
	for _, ou := range resp.OrganizationUnits {
		if ou.OrgUnitId == "" {
			continue
		}
		e := connector.Entry{ID: ou.OrgUnitId, Kind: connector.KindOrgUnit, Attrs: connector.Attrs{}, Path: splitPath(ou.OrgUnitPath)}
		set(e.Attrs, "name", ou.Name)
		set(e.Attrs, "orgunitpath", ou.OrgUnitPath)
		set(e.Attrs, "description", ou.Description)
		out = append(out, e)
	}
	slices.SortFunc(out, func(a, b connector.Entry) int { return strings.Compare(a.Attr("orgunitpath"), b.Attr("orgunitpath")) })
	return out, nil
}

func splitPath(p string) []string {
	var out []string
	for _, s := range strings.Split(p, "/") {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

func groupEntry(g *admin.Group) connector.Entry {
	e := connector.Entry{ID: g.Id, Kind: connector.KindGroup, Attrs: connector.Attrs{}}
	set(e.Attrs, "name", g.Name)
	set(e.Attrs, "email", g.Email)
	set(e.Attrs, "description", g.Description)
	return e
}

func set(a connector.Attrs, name string, v string) {
	if v != "" {
		a.Set(name, v)
	}
}

// userEntry flattens a user resource into dotted lower-case attributes.
func userEntry(u *admin.User) connector.Entry {
	e := connector.Entry{ID: u.Id, Kind: connector.KindUser, Attrs: connector.Attrs{},
		Disabled: u.Suspended || u.Archived}
	a := e.Attrs
	set(a, "id", u.Id)
	set(a, "primaryemail", u.PrimaryEmail)
	if u.Name != nil {
		set(a, "name.givenname", u.Name.GivenName)
		set(a, "name.familyname", u.Name.FamilyName)
		set(a, "name.fullname", u.Name.FullName)
	}
	if u.Suspended {
		a.Set("suspended", "true")
	}
	if u.Archived {
		a.Set("archived", "true")
	}
	if u.OrgUnitPath != "" {
		a.Set("orgunitpath", u.OrgUnitPath)
		e.Path = splitPath(u.OrgUnitPath)
	}
	if len(u.Aliases) > 0 {
		a.Set("aliases", slices.Clone(u.Aliases)...)
	}
	// emails: every address, the primary first.
	var emails []string
	for _, m := range primaryFirst(u.Emails) {
		if s := str(m["address"]); s != "" && !slices.Contains(emails, s) {
			emails = append(emails, s)
		}
	}
	if len(emails) > 0 {
		a.Set("emails.address", emails...)
	}
	// organizations: the fields of the primary (or first) one.
	if orgs := primaryFirst(u.Organizations); len(orgs) > 0 {
		for _, f := range []string{"title", "department", "name", "costCenter", "location", "description"} {
			set(a, "organizations."+f, str(orgs[0][f]))
		}
	}
	// phones: phones.value is the primary (or first); phones.<type> the
	// first of each type.
	if phones := primaryFirst(u.Phones); len(phones) > 0 {
		set(a, "phones.value", str(phones[0]["value"]))
		byType(a, "phones", phones)
	}
	// relations: relations.<type>, e.g. relations.manager (an email).
	byType(a, "relations", primaryFirst(u.Relations))
	for _, schema := range sortedKeys(u.CustomSchemas) {
		var fields map[string]any
		if json.Unmarshal(u.CustomSchemas[schema], &fields) != nil {
			continue
		}
		for _, f := range sortedKeys(fields) {
			if vs := customValues(fields[f]); len(vs) > 0 {
				a.Set("customschemas."+schema+"."+f, vs...)
			}
		}
	}
	return e
}

func byType(a connector.Attrs, prefix string, items []map[string]any) {
	for _, m := range items {
		t := str(m["type"])
		if t == "custom" {
			t = str(m["customType"])
		}
		v := str(m["value"])
		if t == "" || v == "" || strings.ContainsAny(t, " .") {
			continue
		}
		name := prefix + "." + strings.ToLower(t)
		if a.Get(name) == "" {
			a.Set(name, v)
		}
	}
}

// primaryFirst turns a decoded JSON list of objects into maps, the one
// marked primary first, the others in their order.
func primaryFirst(v any) []map[string]any {
	list, _ := v.([]any)
	out := make([]map[string]any, 0, len(list))
	for _, x := range list {
		if m, ok := x.(map[string]any); ok {
			out = append(out, m)
		}
	}
	for i, m := range out {
		if p, _ := m["primary"].(bool); p && i > 0 {
			copy(out[1:i+1], out[:i])
			out[0] = m
			break
		}
	}
	return out
}

func str(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	}
	return ""
}

// customValues renders a custom-schema field: a scalar, or a
// multi-valued field's list of {"value": …, "type": …}.
func customValues(v any) []string {
	if list, ok := v.([]any); ok {
		var out []string
		for _, x := range list {
			if m, ok := x.(map[string]any); ok {
				x = m["value"]
			}
			if s := str(x); s != "" {
				out = append(out, s)
			}
		}
		return out
	}
	if s := str(v); s != "" {
		return []string{s}
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
