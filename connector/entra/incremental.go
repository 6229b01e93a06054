package entra

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	abs "github.com/microsoft/kiota-abstractions-go"
	"github.com/microsoftgraph/msgraph-sdk-go/groups"
	"github.com/microsoftgraph/msgraph-sdk-go/models"
	"github.com/microsoftgraph/msgraph-sdk-go/models/odataerrors"
	"github.com/microsoftgraph/msgraph-sdk-go/users"

	"github.com/dirsync-go/dirsync/connector"
)

// ErrNotYetReplicated reports that a delta round named a user or group
// that Graph does not return yet when it is read by id (404), as happens
// for a few seconds to minutes after an object was created (Graph's
// replication delay). ReadChanges then yields nothing and returns no
// cursor: the caller keeps its old cursor and the next ReadChanges reads
// the same changes again.
var ErrNotYetReplicated = errors.New("entra: object reported by the delta round is not readable yet (replication delay)")

// cursor is the JSON form of a connector.Cursor: the @odata.deltaLink of
// the last /users/delta round and of the last /groups/delta round.
//
// Version 1 held the users' link only; such a cursor is refused with
// connector.ErrCursorExpired (a full read follows), because group changes
// made since it was issued cannot be recovered from it.
type cursor struct {
	V      int    `json:"v"`
	Users  string `json:"users"`
	Groups string `json:"groups"`
}

const cursorVersion = 2

// ReadChanges reads the users and groups that changed since the cursor
// through /users/delta and /groups/delta. See the package documentation.
func (c *Connector) ReadChanges(ctx context.Context, since connector.Cursor, yield func(connector.Entry) error) (connector.Cursor, error) {
	if since == nil {
		return c.readAllChanges(ctx, yield)
	}
	var cur cursor
	if err := json.Unmarshal(since, &cur); err != nil || cur.V != cursorVersion || cur.Users == "" || cur.Groups == "" {
		return nil, fmt.Errorf("entra: read changes: the cursor is not one of this connector's (or from an older version that did not track groups): %w", connector.ErrCursorExpired)
	}
	if !sameHost(cur.Users, c.cfg.GraphBaseURL) || !sameHost(cur.Groups, c.cfg.GraphBaseURL) {
		return nil, fmt.Errorf("entra: read changes: the cursor is for another Graph endpoint: %w", connector.ErrCursorExpired)
	}
	start := time.Now()
	entries, next, err := c.changes(ctx, cur)
	if err != nil {
		return nil, err
	}
	c.log.DebugContext(ctx, "read changes", "entries", len(entries), "took", time.Since(start))
	for _, e := range entries {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("entra: read changes: %w", err)
		}
		if err := yield(e); err != nil {
			return nil, err
		}
	}
	return encodeCursor(next)
}

// readAllChanges is ReadChanges without a cursor: take the groups' delta
// link first, then read everything (the users through a delta round that
// yields their link too), so a change made during the read is seen again
// next time rather than lost.
func (c *Connector) readAllChanges(ctx context.Context, yield func(connector.Entry) error) (connector.Cursor, error) {
	groupsLink, err := c.groupDelta(ctx, "", nil)
	if err != nil {
		return nil, err
	}
	entries, usersLink, err := c.readAllWithLink(ctx)
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("entra: read changes: %w", err)
		}
		if err := yield(e); err != nil {
			return nil, err
		}
	}
	return encodeCursor(cursor{V: cursorVersion, Users: usersLink, Groups: groupsLink})
}

// orderedSet keeps IDs in the order they were first added.
type orderedSet struct {
	ids  []string
	seen map[string]bool
}

func (s *orderedSet) add(id string) {
	if s.seen == nil {
		s.seen = map[string]bool{}
	}
	if id != "" && !s.seen[id] {
		s.seen[id] = true
		s.ids = append(s.ids, id)
	}
}

// changes runs both delta rounds from cur and resolves every change into
// complete entries: users first, then groups. It reads everything before
// it returns, so a failure yields nothing and advances nothing.
func (c *Connector) changes(ctx context.Context, cur cursor) ([]connector.Entry, cursor, error) {
	next := cursor{V: cursorVersion}

	// Users: changed or new ones are re-read in full; removed ones are
	// tombstones.
	var userIDs orderedSet
	goneUsers := map[string]bool{}
	var err error
	next.Users, err = c.userDelta(ctx, cur.Users, func(u models.Userable) {
		id := deref(u.GetId())
		userIDs.add(id)
		goneUsers[id] = removedMark(u.GetAdditionalData())
	})
	if err != nil {
		return nil, next, err
	}

	// Groups: a group whose properties or direct members changed is
	// re-read in full; so are the groups it is nested in when its members
	// changed (their transitive Members changed), and the groups added to
	// or removed from it. The users added or removed, directly or through
	// a nested group, are re-read so that their MemberOf is current.
	var groupIDs, membersChanged, moved, affectedUsers orderedSet
	goneGroups := map[string]bool{}
	next.Groups, err = c.groupDelta(ctx, cur.Groups, func(g models.Groupable) {
		id := deref(g.GetId())
		data := g.GetAdditionalData()
		groupIDs.add(id)
		if removedMark(data) {
			goneGroups[id] = true
			return
		}
		refs, _ := deltaRefs(data, "members@delta")
		if len(refs) > 0 {
			membersChanged.add(id)
		}
		for _, r := range refs {
			switch r.odataType {
			case odataUser:
				affectedUsers.add(r.id)
			case odataGroup:
				groupIDs.add(r.id)
				moved.add(r.id)
			}
		}
	})
	if err != nil {
		return nil, next, err
	}
	// The groups a group with changed members is nested in have changed
	// transitive Members.
	for _, id := range membersChanged.ids {
		if goneGroups[id] {
			continue
		}
		parents, err := c.groupTransitiveMemberOf(ctx, id)
		if err := notReplicated(err, "group", id); err != nil {
			return nil, next, err
		}
		for _, p := range parents {
			groupIDs.add(p)
		}
	}
	// A group added to or removed from another changes the MemberOf of
	// everyone in it, nested groups included. (A deleted group's former
	// members cannot be read any more; see the package documentation.)
	for _, id := range moved.ids {
		if goneGroups[id] {
			continue
		}
		us, gs, err := c.transitiveMembersByType(ctx, id)
		if err := notReplicated(err, "group", id); err != nil {
			return nil, next, err
		}
		for _, u := range us {
			affectedUsers.add(u)
		}
		for _, g := range gs {
			groupIDs.add(g)
		}
	}

	// Resolve users.
	slices.Sort(affectedUsers.ids)
	for _, id := range affectedUsers.ids {
		userIDs.add(id)
	}
	var out []connector.Entry
	for _, id := range userIDs.ids {
		if goneUsers[id] {
			out = append(out, connector.Entry{ID: id, Kind: connector.KindUser, Deleted: true})
			continue
		}
		e, err := c.getUser(ctx, id)
		if err := notReplicated(err, "user", id); err != nil {
			return nil, next, err
		}
		out = append(out, e)
	}

	// Resolve groups.
	for _, id := range groupIDs.ids {
		if goneGroups[id] {
			out = append(out, connector.Entry{ID: id, Kind: connector.KindGroup, Deleted: true})
			continue
		}
		e, err := c.getGroup(ctx, id)
		if err := notReplicated(err, "group", id); err != nil {
			return nil, next, err
		}
		out = append(out, e)
	}
	return out, next, nil
}

// notReplicated turns a 404 for an object a delta round just reported
// into ErrNotYetReplicated; other errors pass through.
func notReplicated(err error, kind, id string) error {
	if err == nil || !errors.Is(err, errNotFound) {
		return err
	}
	return fmt.Errorf("entra: read changes: the delta round reports %s %s, but Graph does not find it yet; nothing was yielded and the cursor stays where it was, so the next read retries: %w: %w",
		kind, id, ErrNotYetReplicated, err)
}

func encodeCursor(cur cursor) (connector.Cursor, error) {
	b, err := json.Marshal(cur)
	if err != nil {
		return nil, fmt.Errorf("entra: encode cursor: %w", err)
	}
	return b, nil
}

func sameHost(link, base string) bool {
	a, err1 := url.Parse(link)
	b, err2 := url.Parse(base)
	return err1 == nil && err2 == nil && strings.EqualFold(a.Host, b.Host)
}

// userDelta pages through a /users/delta round, from the start (with the
// user properties selected and manager) when link is empty, and returns the final
// @odata.deltaLink. f, if not nil, gets each user item of the round.
func (c *Connector) userDelta(ctx context.Context, link string, f func(models.Userable)) (string, error) {
	d := c.client.Users().Delta()
	cfg := &users.DeltaRequestBuilderGetRequestConfiguration{Headers: c.headers()}
	if link == "" {
		cfg.QueryParameters = &users.DeltaRequestBuilderGetQueryParameters{Select: withManager(c.users)}
	} else {
		d = d.WithUrl(link)
	}
	resp, err := d.GetAsDeltaGetResponse(ctx, cfg)
	return deltaRound(ctx, "users", resp, err, f, func(next string) (users.DeltaGetResponseable, error) {
		return c.client.Users().Delta().WithUrl(next).GetAsDeltaGetResponse(ctx,
			&users.DeltaRequestBuilderGetRequestConfiguration{Headers: c.headers()})
	})
}

// groupDelta pages through a /groups/delta round like userDelta, with
// the group properties selected and the members relationship
// (members@delta). A group may come more than once in a round (Graph
// splits a large group's members@delta over several pages).
func (c *Connector) groupDelta(ctx context.Context, link string, f func(models.Groupable)) (string, error) {
	d := c.client.Groups().Delta()
	cfg := &groups.DeltaRequestBuilderGetRequestConfiguration{Headers: c.headers()}
	if link == "" {
		cfg.QueryParameters = &groups.DeltaRequestBuilderGetQueryParameters{Select: append(slices.Clone(c.groups), "members")}
	} else {
		d = d.WithUrl(link)
	}
	resp, err := d.GetAsDeltaGetResponse(ctx, cfg)
	return deltaRound(ctx, "groups", resp, err, f, func(next string) (groups.DeltaGetResponseable, error) {
		return c.client.Groups().Delta().WithUrl(next).GetAsDeltaGetResponse(ctx,
			&groups.DeltaRequestBuilderGetRequestConfiguration{Headers: c.headers()})
	})
}

// deltaPage is a page of a delta round, of users or of groups.
type deltaPage[T any] interface {
	GetValue() []T
	GetOdataDeltaLink() *string
	GetOdataNextLink() *string
}

// deltaRound follows a delta round from its first page (resp, err) to
// its @odata.deltaLink, which it returns; f, if not nil, gets each item,
// and next fetches the page a next link names.
func deltaRound[T any, P deltaPage[T]](ctx context.Context, what string, resp P, err error, f func(T), next func(link string) (P, error)) (string, error) {
	for page := 1; ; page++ {
		if err != nil {
			return "", graphError(ctx, fmt.Sprintf("read %s (delta page %d)", what, page), err)
		}
		if f != nil {
			for _, v := range resp.GetValue() {
				f(v)
			}
		}
		if dl := deref(resp.GetOdataDeltaLink()); dl != "" {
			return dl, nil
		}
		link := deref(resp.GetOdataNextLink())
		if link == "" {
			return "", fmt.Errorf("entra: read %s (delta page %d): Graph returned neither a next link nor a delta link", what, page)
		}
		resp, err = next(link)
	}
}

// getUser reads one user in full, with its manager and its groups, as
// Read yields it. A user Graph does not find is an error wrapping
// errNotFound.
func (c *Connector) getUser(ctx context.Context, id string) (connector.Entry, error) {
	u, err := c.client.Users().ByUserId(id).Get(ctx, &users.UserItemRequestBuilderGetRequestConfiguration{
		QueryParameters: &users.UserItemRequestBuilderGetQueryParameters{Select: c.users, Expand: managerExpand},
	})
	if err != nil {
		return connector.Entry{}, graphError(ctx, "read user "+id, err)
	}
	e := c.userEntry(u)
	if e.MemberOf, err = c.transitiveMemberOf(ctx, id); err != nil {
		return connector.Entry{}, err
	}
	return e, nil
}

// getGroup reads one group in full, as Read yields it: its properties,
// its transitive Members (users and groups) and the groups it is nested
// in (MemberOf).
func (c *Connector) getGroup(ctx context.Context, id string) (connector.Entry, error) {
	g, err := c.client.Groups().ByGroupId(id).Get(ctx, &groups.GroupItemRequestBuilderGetRequestConfiguration{
		QueryParameters: &groups.GroupItemRequestBuilderGetQueryParameters{Select: c.groups},
	})
	if err != nil {
		return connector.Entry{}, graphError(ctx, "read group "+id, err)
	}
	e := groupEntry(g)
	members, err := c.transitiveMembers(ctx, id)
	if err != nil {
		return connector.Entry{}, err
	}
	members = slices.DeleteFunc(members, func(m string) bool { return m == id })
	slices.Sort(members)
	e.Members = slices.Compact(members)
	if e.MemberOf, err = c.groupTransitiveMemberOf(ctx, id); err != nil {
		return connector.Entry{}, err
	}
	e.MemberOf = slices.DeleteFunc(e.MemberOf, func(m string) bool { return m == id })
	return e, nil
}

func statusOf(err error) int {
	var oe *odataerrors.ODataError
	if errors.As(err, &oe) {
		return oe.ResponseStatusCode
	}
	var ae *abs.ApiError
	if errors.As(err, &ae) {
		return ae.ResponseStatusCode
	}
	return 0
}

// Check makes one small request each for users, groups and group
// members, and reports what fails: a credential Graph refuses, or the
// application permission missing for each (User.Read.All,
// GroupMember.Read.All, or Directory.Read.All for all three).
func (c *Connector) Check(ctx context.Context) error {
	top := int32(1)
	_, err := c.client.Users().Get(ctx, &users.UsersRequestBuilderGetRequestConfiguration{
		QueryParameters: &users.UsersRequestBuilderGetQueryParameters{Select: []string{"id"}, Top: &top},
	})
	if err != nil {
		switch statusOf(err) {
		case http.StatusForbidden:
			err = fmt.Errorf("entra: check: cannot read users: the app lacks the application permission User.Read.All (or Directory.Read.All), or an admin has not consented: %w", connector.ErrAuth)
		default:
			return fmt.Errorf("entra: check: %w", graphError(ctx, "read users", err))
		}
	}
	var errs []error
	if err != nil {
		errs = append(errs, err)
	}
	var firstGroup string
	err = c.listGroupsTop(ctx, &firstGroup)
	if err != nil {
		if statusOf(err) == http.StatusForbidden {
			err = fmt.Errorf("entra: check: cannot read groups: the app lacks the application permission GroupMember.Read.All (or Directory.Read.All), or an admin has not consented: %w", connector.ErrAuth)
		} else {
			err = fmt.Errorf("entra: check: %w", graphError(ctx, "read groups", err))
		}
		errs = append(errs, err)
	} else if firstGroup != "" {
		if _, err := c.client.Groups().ByGroupId(firstGroup).TransitiveMembers().Get(ctx, nil); err != nil {
			if statusOf(err) == http.StatusForbidden {
				err = fmt.Errorf("entra: check: cannot read group members: the app lacks the application permission GroupMember.Read.All (or Directory.Read.All): %w", connector.ErrAuth)
			} else {
				err = fmt.Errorf("entra: check: %w", graphError(ctx, "read group members", err))
			}
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
