package entra

import (
	"cmp"
	"context"
	"fmt"
	"iter"
	"slices"
	"strconv"
	"strings"
	"time"

	abs "github.com/microsoft/kiota-abstractions-go"
	"github.com/microsoftgraph/msgraph-sdk-go/groups"
	"github.com/microsoftgraph/msgraph-sdk-go/models"
	"github.com/microsoftgraph/msgraph-sdk-go/users"

	"github.com/dirsync-go/dirsync/connector"
)

// userSelect lists the user properties the connector asks for ($select)
// by default: those the default mapping (mapping.EntraSpec) reads and
// those the connector needs. userEntry reads exactly these (and manager).
var userSelect = []string{
	"id", "userPrincipalName", "mail", "givenName", "surname", "displayName",
	"jobTitle", "department", "companyName", "officeLocation", "mobilePhone",
	"businessPhones", "employeeId", "accountEnabled", "onPremisesSyncEnabled",
	"onPremisesImmutableId",
}

// managerExpand asks for the manager's object id with a user read by id.
var managerExpand = []string{"manager($select=id)"}

// withManager is a user $select plus the manager relationship, which
// /users/delta returns as manager@delta. Listing users through a delta
// round rather than /users?$expand=manager keeps the page size at 999:
// Graph caps a page of directory objects at 100 once $expand is used.
func withManager(sel []string) []string {
	return append(slices.Clone(sel), "manager")
}

var groupSelect = []string{"id", "displayName", "mail", "description", "securityEnabled", "mailEnabled"}

// Project implements connector.Projector: the returned connector selects
// only the user and group properties named in attrs (Graph property
// names, any case; names the connector does not read, such as AD
// attribute names of a shared spec, are ignored), besides what it needs
// itself: id and accountEnabled (Disabled), Config.OrgPathAttribute
// (Path), the manager relationship (the manager attribute, read with
// every user), and a group's displayName (SearchGroups sorts by it).
// MemberOf and Members come from the membership reads, which select id
// only, whatever the projection. c is not changed.
//
// Through /users/delta the $select travels in the delta link, and Graph
// then reports only changes of the selected properties: a cursor of a
// projection does not see changes of properties outside it (see
// connector.Projector; the Syncer reads in full when its projection
// changes).
func (c *Connector) Project(attrs []string) connector.Connector {
	p := *c
	p.users = project(userSelect, attrs, "id", "accountEnabled", c.cfg.OrgPathAttribute)
	p.groups = project(groupSelect, attrs, "id", "displayName")
	return &p
}

// project returns the names of known (in its order) that attrs or own
// name, ignoring case.
func project(known, attrs []string, own ...string) []string {
	want := make(map[string]bool, len(attrs)+len(own))
	for _, a := range append(slices.Clone(attrs), own...) {
		want[strings.ToLower(a)] = true
	}
	var out []string
	for _, k := range known {
		if want[strings.ToLower(k)] {
			out = append(out, k)
		}
	}
	return out
}

const (
	odataUser  = "#microsoft.graph.user"
	odataGroup = "#microsoft.graph.group"
)

func (c *Connector) headers() *abs.RequestHeaders {
	h := abs.NewRequestHeaders()
	h.Add("Prefer", "odata.maxpagesize="+strconv.Itoa(c.cfg.PageSize))
	return h
}

func setString(a connector.Attrs, name string, p *string) {
	if p != nil && *p != "" {
		a.Set(name, *p)
	}
}

func setBool(a connector.Attrs, name string, p *bool) {
	if p != nil {
		a.Set(name, strconv.FormatBool(*p))
	}
}

// userEntry converts a Graph user into an Entry. Attribute names are the
// Graph property names in lower case.
func (c *Connector) userEntry(u models.Userable) connector.Entry {
	a := make(connector.Attrs, 20)
	setString(a, "id", u.GetId())
	setString(a, "userPrincipalName", u.GetUserPrincipalName())
	setString(a, "mail", u.GetMail())
	setString(a, "givenName", u.GetGivenName())
	setString(a, "surname", u.GetSurname())
	setString(a, "displayName", u.GetDisplayName())
	setString(a, "jobTitle", u.GetJobTitle())
	setString(a, "department", u.GetDepartment())
	setString(a, "companyName", u.GetCompanyName())
	setString(a, "officeLocation", u.GetOfficeLocation())
	setString(a, "mobilePhone", u.GetMobilePhone())
	setString(a, "employeeId", u.GetEmployeeId())
	setString(a, "onPremisesImmutableId", u.GetOnPremisesImmutableId())
	setBool(a, "accountEnabled", u.GetAccountEnabled())
	setBool(a, "onPremisesSyncEnabled", u.GetOnPremisesSyncEnabled())
	if p := u.GetBusinessPhones(); len(p) > 0 {
		a.Set("businessPhones", slices.Clone(p)...)
	}
	if m := u.GetManager(); m != nil {
		setString(a, "manager", m.GetId())
	} else if id, ok := deltaManager(u.GetAdditionalData()); ok && id != "" {
		a.Set("manager", id)
	}
	e := connector.Entry{ID: deref(u.GetId()), Kind: connector.KindUser, Attrs: a}
	if v := a.Get(c.cfg.OrgPathAttribute); v != "" {
		e.Path = []string{v}
	}
	if en := u.GetAccountEnabled(); en != nil && !*en {
		e.Disabled = true
	}
	return e
}

func groupEntry(g models.Groupable) connector.Entry {
	a := make(connector.Attrs, 6)
	setString(a, "id", g.GetId())
	setString(a, "displayName", g.GetDisplayName())
	setString(a, "mail", g.GetMail())
	setString(a, "description", g.GetDescription())
	setBool(a, "securityEnabled", g.GetSecurityEnabled())
	setBool(a, "mailEnabled", g.GetMailEnabled())
	return connector.Entry{ID: deref(g.GetId()), Kind: connector.KindGroup, Attrs: a}
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// Read yields every user, then every group. It reads all pages of users,
// groups and the groups' transitive members before it yields the first
// entry, so that each user's MemberOf is complete. Any failed page fails
// the read.
func (c *Connector) Read(ctx context.Context) iter.Seq2[connector.Entry, error] {
	return connector.ReadAllThenYield(ctx, "entra", c.readAll)
}

func (c *Connector) readAll(ctx context.Context) ([]connector.Entry, error) {
	entries, _, err := c.readAllWithLink(ctx)
	return entries, err
}

// readAllWithLink reads everything and also returns the
// @odata.deltaLink of the /users/delta round that listed the users.
func (c *Connector) readAllWithLink(ctx context.Context) ([]connector.Entry, string, error) {
	start := time.Now()
	entries, link, err := c.listUsers(ctx)
	if err != nil {
		return nil, "", err
	}
	nUsers := len(entries)
	var gs []connector.Entry
	if err := c.listGroups(ctx, "", func(g models.Groupable) { gs = append(gs, groupEntry(g)) }); err != nil {
		return nil, "", err
	}
	known := make(map[string]int, len(entries)+len(gs))
	for i, e := range entries {
		known[e.ID] = i
	}
	for i, g := range gs {
		known[g.ID] = nUsers + i
	}
	entries = append(entries, gs...)
	for gi := range gs {
		g := &entries[nUsers+gi]
		members, err := c.transitiveMembers(ctx, g.ID)
		if err != nil {
			return nil, "", err
		}
		for _, m := range members {
			i, ok := known[m]
			if !ok || m == g.ID {
				continue // a device, contact or service principal: not read
			}
			g.Members = append(g.Members, m)
			entries[i].MemberOf = append(entries[i].MemberOf, g.ID)
		}
		slices.Sort(g.Members)
		g.Members = slices.Compact(g.Members)
	}
	for i := range entries {
		slices.Sort(entries[i].MemberOf)
		entries[i].MemberOf = slices.Compact(entries[i].MemberOf)
	}
	c.log.DebugContext(ctx, "read directory", "users", nUsers, "groups", len(gs), "took", time.Since(start))
	return entries, link, nil
}

// listUsers lists every user with its manager through a full
// /users/delta round (manager selected, so each user carries
// manager@delta) and returns them in the order Graph sent them, with the
// round's delta link. A user Graph repeats within the round keeps its
// last state; one marked @removed is left out.
func (c *Connector) listUsers(ctx context.Context) ([]connector.Entry, string, error) {
	var entries []connector.Entry
	index := map[string]int{}
	gone := map[string]bool{}
	link, err := c.userDelta(ctx, "", func(u models.Userable) {
		id := deref(u.GetId())
		if removedMark(u.GetAdditionalData()) {
			gone[id] = true
			return
		}
		delete(gone, id)
		e := c.userEntry(u)
		if i, ok := index[id]; ok {
			entries[i] = e
			return
		}
		index[id] = len(entries)
		entries = append(entries, e)
	})
	if err != nil {
		return nil, "", err
	}
	if len(gone) > 0 {
		entries = slices.DeleteFunc(entries, func(e connector.Entry) bool { return gone[e.ID] })
	}
	return entries, link, nil
}

// removedMark reports whether a delta item carries @removed.
func removedMark(data map[string]any) bool {
	_, ok := data["@removed"]
	return ok
}

// str reads a string the JSON parse node stored in additional data.
func str(v any) string {
	switch s := v.(type) {
	case string:
		return s
	case *string:
		return deref(s)
	}
	return ""
}

// deltaRef is one directory object reference of a delta item's
// manager@delta or members@delta list.
type deltaRef struct {
	id, odataType string
	removed       bool
}

// deltaRefs reads the references under key (manager@delta,
// members@delta) of a delta item's additional data.
func deltaRefs(data map[string]any, key string) (refs []deltaRef, present bool) {
	v, ok := data[key]
	if !ok {
		return nil, false
	}
	list, _ := v.([]any)
	for _, x := range list {
		m, ok := x.(map[string]any)
		if !ok {
			continue
		}
		r := deltaRef{id: str(m["id"]), odataType: str(m["@odata.type"])}
		_, r.removed = m["@removed"]
		if r.id != "" {
			refs = append(refs, r)
		}
	}
	return refs, true
}

// deltaManager reads the manager from manager@delta: the last reference
// not marked @removed, or "" when there is none; ok is false when the
// item does not carry manager@delta at all.
func deltaManager(data map[string]any) (id string, ok bool) {
	refs, ok := deltaRefs(data, "manager@delta")
	for _, r := range refs {
		if !r.removed {
			id = r.id
		}
	}
	return id, ok
}

// listGroups pages through /groups; a non-empty search is sent as
// $search="displayName:<search>", an advanced query, with the header
// ConsistencyLevel: eventual on every page.
func (c *Connector) listGroups(ctx context.Context, search string, f func(models.Groupable)) error {
	q := &groups.GroupsRequestBuilderGetQueryParameters{Select: c.groups}
	h := c.headers()
	if search != "" {
		clause := searchClause("displayName", search)
		q.Search = &clause
		h.Add("ConsistencyLevel", "eventual")
	}
	resp, err := c.client.Groups().Get(ctx, &groups.GroupsRequestBuilderGetRequestConfiguration{
		Headers: h, QueryParameters: q,
	})
	for page := 1; ; page++ {
		if err != nil {
			return graphError(ctx, fmt.Sprintf("list groups (page %d)", page), err)
		}
		for _, g := range resp.GetValue() {
			f(g)
		}
		next := deref(resp.GetOdataNextLink())
		if next == "" {
			return nil
		}
		resp, err = c.client.Groups().WithUrl(next).Get(ctx, &groups.GroupsRequestBuilderGetRequestConfiguration{Headers: h})
	}
}

// searchClause is one $search clause, "<prop>:<text>", with the double
// quotes and backslashes in text escaped by a backslash, as Graph asks
// ("The whole clause must be declared inside double quotes. If it
// contains double quotes or backslash, it should be escaped with a
// backslash",
// https://learn.microsoft.com/en-us/graph/search-query-parameter). The
// client URL-encodes the rest.
func searchClause(prop, text string) string {
	return `"` + prop + ":" + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(text) + `"`
}

// transitiveMembers returns the IDs of the users and groups in a group,
// nested membership resolved by Graph.
func (c *Connector) transitiveMembers(ctx context.Context, groupID string) ([]string, error) {
	us, gs, err := c.transitiveMembersByType(ctx, groupID)
	return append(us, gs...), err
}

// transitiveMembersByType returns the IDs of the users and of the groups
// in a group, nested membership resolved by Graph; devices, contacts and
// service principals are left out.
func (c *Connector) transitiveMembersByType(ctx context.Context, groupID string) (userIDs, groupIDs []string, err error) {
	b := c.client.Groups().ByGroupId(groupID).TransitiveMembers()
	resp, err := b.Get(ctx, &groups.ItemTransitiveMembersRequestBuilderGetRequestConfiguration{
		Headers:         c.headers(),
		QueryParameters: &groups.ItemTransitiveMembersRequestBuilderGetQueryParameters{Select: []string{"id"}},
	})
	for page := 1; ; page++ {
		if err != nil {
			return nil, nil, graphError(ctx, fmt.Sprintf("list transitive members of group %s (page %d)", groupID, page), err)
		}
		for _, o := range resp.GetValue() {
			switch deref(o.GetOdataType()) {
			case odataUser:
				userIDs = append(userIDs, deref(o.GetId()))
			case odataGroup:
				groupIDs = append(groupIDs, deref(o.GetId()))
			}
		}
		next := deref(resp.GetOdataNextLink())
		if next == "" {
			return userIDs, groupIDs, nil
		}
		resp, err = b.WithUrl(next).Get(ctx, &groups.ItemTransitiveMembersRequestBuilderGetRequestConfiguration{Headers: c.headers()})
	}
}

// transitiveMemberOf returns the sorted IDs of the groups a user is a
// member of, nesting resolved by Graph.
func (c *Connector) transitiveMemberOf(ctx context.Context, userID string) ([]string, error) {
	b := c.client.Users().ByUserId(userID).TransitiveMemberOf()
	resp, err := b.Get(ctx, &users.ItemTransitiveMemberOfRequestBuilderGetRequestConfiguration{
		Headers:         c.headers(),
		QueryParameters: &users.ItemTransitiveMemberOfRequestBuilderGetQueryParameters{Select: []string{"id"}},
	})
	return c.groupIDs(ctx, "list groups of user "+userID, resp, err,
		func(next string) (models.DirectoryObjectCollectionResponseable, error) {
			return b.WithUrl(next).Get(ctx, &users.ItemTransitiveMemberOfRequestBuilderGetRequestConfiguration{Headers: c.headers()})
		})
}

// groupTransitiveMemberOf returns the sorted IDs of the groups a group
// is nested in, directly or not.
func (c *Connector) groupTransitiveMemberOf(ctx context.Context, groupID string) ([]string, error) {
	b := c.client.Groups().ByGroupId(groupID).TransitiveMemberOf()
	resp, err := b.Get(ctx, &groups.ItemTransitiveMemberOfRequestBuilderGetRequestConfiguration{
		Headers:         c.headers(),
		QueryParameters: &groups.ItemTransitiveMemberOfRequestBuilderGetQueryParameters{Select: []string{"id"}},
	})
	return c.groupIDs(ctx, "list groups of group "+groupID, resp, err,
		func(next string) (models.DirectoryObjectCollectionResponseable, error) {
			return b.WithUrl(next).Get(ctx, &groups.ItemTransitiveMemberOfRequestBuilderGetRequestConfiguration{Headers: c.headers()})
		})
}

// groupIDs pages through a collection of directory objects and returns
// the sorted IDs of the groups in it.
func (c *Connector) groupIDs(ctx context.Context, op string, resp models.DirectoryObjectCollectionResponseable, err error,
	nextPage func(string) (models.DirectoryObjectCollectionResponseable, error)) ([]string, error) {
	var ids []string
	for page := 1; ; page++ {
		if err != nil {
			return nil, graphError(ctx, fmt.Sprintf("%s (page %d)", op, page), err)
		}
		for _, o := range resp.GetValue() {
			if deref(o.GetOdataType()) == odataGroup {
				ids = append(ids, deref(o.GetId()))
			}
		}
		next := deref(resp.GetOdataNextLink())
		if next == "" {
			slices.Sort(ids)
			return slices.Compact(ids), nil
		}
		resp, err = nextPage(next)
	}
}

var _ connector.GroupSearchMatcher = (*Connector)(nil)

// GroupSearchMatch reports that SearchGroups matches the beginning of
// words.
func (c *Connector) GroupSearchMatch() connector.GroupMatch { return connector.MatchWordPrefix }

// SearchGroups returns the groups whose displayName has, for each word of
// query, a word that starts with it (connector.MatchWordPrefix), sorted by
// name, with their transitive Members (users and groups);
// limit <= 0 means no limit. MemberOf is not filled in.
//
// The search is Graph's $search="displayName:<query>" (query quoted, see
// searchClause), sent with the header ConsistencyLevel: eventual, without
// which Graph refuses $search on directory objects (400
// Request_UnsupportedQuery). $search does not need $count=true, unlike
// Graph's other advanced queries
// (https://learn.microsoft.com/en-us/graph/aad-advanced-queries), so none
// is sent. Graph splits displayName and the query into words (at spaces,
// case changes, digits and symbols) and finds the groups where every word
// of the query starts a word of the name, ignoring case: "adm" finds "App
// Admins", "dmin" does not
// (https://learn.microsoft.com/en-us/graph/search-query-parameter). The
// index is eventually consistent: a group created or renamed moments ago
// may not be found yet. A query that holds NUL finds nothing, without a
// request (no name holds one); an empty or blank query lists every group.
func (c *Connector) SearchGroups(ctx context.Context, query string, limit int) ([]connector.Entry, error) {
	if strings.ContainsRune(query, 0) {
		return nil, ctx.Err()
	}
	var gs []connector.Entry
	if err := c.listGroups(ctx, strings.TrimSpace(query), func(g models.Groupable) { gs = append(gs, groupEntry(g)) }); err != nil {
		return nil, err
	}
	slices.SortFunc(gs, func(a, b connector.Entry) int {
		return cmp.Or(cmp.Compare(strings.ToLower(a.Attr("displayName")), strings.ToLower(b.Attr("displayName"))),
			cmp.Compare(a.ID, b.ID))
	})
	if limit > 0 && len(gs) > limit {
		gs = gs[:limit]
	}
	for i := range gs {
		m, err := c.transitiveMembers(ctx, gs[i].ID)
		if err != nil {
			return nil, err
		}
		slices.Sort(m)
		gs[i].Members = slices.Compact(m)
	}
	return gs, nil
}

// listGroupsTop reads one group's id, for Check.
func (c *Connector) listGroupsTop(ctx context.Context, id *string) error {
	top := int32(1)
	resp, err := c.client.Groups().Get(ctx, &groups.GroupsRequestBuilderGetRequestConfiguration{
		QueryParameters: &groups.GroupsRequestBuilderGetQueryParameters{Select: []string{"id"}, Top: &top},
	})
	if err != nil {
		return err
	}
	if v := resp.GetValue(); len(v) > 0 {
		*id = deref(v[0].GetId())
	}
	return nil
}
