package entra

import (
	"cmp"
	"context"
	"fmt"
	"iter"
	"slices"
	"strconv"
	"strings"

	abs "github.com/microsoft/kiota-abstractions-go"
	"github.com/microsoftgraph/msgraph-sdk-go/groups"
	"github.com/microsoftgraph/msgraph-sdk-go/models"
	"github.com/microsoftgraph/msgraph-sdk-go/users"

	"github.com/dirsync-go/dirsync/connector"
)

// userSelect lists the user properties the connector asks for ($select):
// those the default mapping (mapping.EntraSpec) reads and those the
// connector needs.
var userSelect = []string{
	"id", "userPrincipalName", "mail", "givenName", "surname", "displayName",
	"jobTitle", "department", "companyName", "officeLocation", "mobilePhone",
	"businessPhones", "employeeId", "accountEnabled", "onPremisesSyncEnabled",
	"onPremisesImmutableId",
}

// managerExpand asks for the manager's object id with each user.
var managerExpand = []string{"manager($select=id)"}

var groupSelect = []string{"id", "displayName", "mail", "description", "securityEnabled", "mailEnabled"}

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
	var entries []connector.Entry
	err := c.listUsers(ctx, func(u models.Userable) {
		entries = append(entries, c.userEntry(u))
	})
	if err != nil {
		return nil, err
	}
	nUsers := len(entries)
	var gs []connector.Entry
	if err := c.listGroups(ctx, "", func(g models.Groupable) { gs = append(gs, groupEntry(g)) }); err != nil {
		return nil, err
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
			return nil, err
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
	return entries, nil
}

// listUsers pages through /users.
func (c *Connector) listUsers(ctx context.Context, f func(models.Userable)) error {
	resp, err := c.client.Users().Get(ctx, &users.UsersRequestBuilderGetRequestConfiguration{
		Headers:         c.headers(),
		QueryParameters: &users.UsersRequestBuilderGetQueryParameters{Select: userSelect, Expand: managerExpand},
	})
	for page := 1; ; page++ {
		if err != nil {
			return graphError(ctx, fmt.Sprintf("list users (page %d)", page), err)
		}
		for _, u := range resp.GetValue() {
			f(u)
		}
		next := deref(resp.GetOdataNextLink())
		if next == "" {
			return nil
		}
		resp, err = c.client.Users().WithUrl(next).Get(ctx, &users.UsersRequestBuilderGetRequestConfiguration{Headers: c.headers()})
	}
}

// listGroups pages through /groups, filtered by a displayName prefix when
// prefix is not empty.
func (c *Connector) listGroups(ctx context.Context, prefix string, f func(models.Groupable)) error {
	q := &groups.GroupsRequestBuilderGetQueryParameters{Select: groupSelect}
	if prefix != "" {
		filter := "startswith(displayName,'" + strings.ReplaceAll(prefix, "'", "''") + "')"
		q.Filter = &filter
	}
	resp, err := c.client.Groups().Get(ctx, &groups.GroupsRequestBuilderGetRequestConfiguration{
		Headers: c.headers(), QueryParameters: q,
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
		resp, err = c.client.Groups().WithUrl(next).Get(ctx, &groups.GroupsRequestBuilderGetRequestConfiguration{Headers: c.headers()})
	}
}

// transitiveMembers returns the IDs of the users and groups in a group,
// nested membership resolved by Graph.
func (c *Connector) transitiveMembers(ctx context.Context, groupID string) ([]string, error) {
	b := c.client.Groups().ByGroupId(groupID).TransitiveMembers()
	resp, err := b.Get(ctx, &groups.ItemTransitiveMembersRequestBuilderGetRequestConfiguration{
		Headers:         c.headers(),
		QueryParameters: &groups.ItemTransitiveMembersRequestBuilderGetQueryParameters{Select: []string{"id"}},
	})
	var ids []string
	for page := 1; ; page++ {
		if err != nil {
			return nil, graphError(ctx, fmt.Sprintf("list transitive members of group %s (page %d)", groupID, page), err)
		}
		for _, o := range resp.GetValue() {
			if t := deref(o.GetOdataType()); t == odataUser || t == odataGroup {
				ids = append(ids, deref(o.GetId()))
			}
		}
		next := deref(resp.GetOdataNextLink())
		if next == "" {
			return ids, nil
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
	var ids []string
	for page := 1; ; page++ {
		if err != nil {
			return nil, graphError(ctx, fmt.Sprintf("list groups of user %s (page %d)", userID, page), err)
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
		resp, err = b.WithUrl(next).Get(ctx, &users.ItemTransitiveMemberOfRequestBuilderGetRequestConfiguration{Headers: c.headers()})
	}
}

// SearchGroups returns the groups whose displayName starts with prefix
// (Graph's startswith filter, which ignores case), sorted by name, with
// their transitive Members (users and groups); limit <= 0 means no limit.
// MemberOf is not filled in.
func (c *Connector) SearchGroups(ctx context.Context, prefix string, limit int) ([]connector.Entry, error) {
	var gs []connector.Entry
	if err := c.listGroups(ctx, prefix, func(g models.Groupable) { gs = append(gs, groupEntry(g)) }); err != nil {
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
