package entra

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	abs "github.com/microsoft/kiota-abstractions-go"
	"github.com/microsoftgraph/msgraph-sdk-go/models/odataerrors"
	"github.com/microsoftgraph/msgraph-sdk-go/users"

	"github.com/dirsync-go/dirsync/connector"
)

// cursor is the JSON form of a connector.Cursor: the @odata.deltaLink of
// the last /users/delta round.
type cursor struct {
	V         int    `json:"v"`
	DeltaLink string `json:"deltaLink"`
}

const cursorVersion = 1

// ReadChanges reads the users that changed since the cursor through
// /users/delta. See the package documentation.
func (c *Connector) ReadChanges(ctx context.Context, since connector.Cursor, yield func(connector.Entry) error) (connector.Cursor, error) {
	if since == nil {
		// Take the delta link first, then read everything: a change made
		// during the read is seen again next time rather than lost.
		link, err := c.deltaRound(ctx, "", nil)
		if err != nil {
			return nil, err
		}
		entries, err := c.readAll(ctx)
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
		return encodeCursor(link)
	}
	var cur cursor
	if err := json.Unmarshal(since, &cur); err != nil || cur.V != cursorVersion || cur.DeltaLink == "" {
		return nil, fmt.Errorf("entra: read changes: the cursor is not one of this connector's: %w", connector.ErrCursorExpired)
	}
	if !sameHost(cur.DeltaLink, c.cfg.GraphBaseURL) {
		return nil, fmt.Errorf("entra: read changes: the cursor is for another Graph endpoint: %w", connector.ErrCursorExpired)
	}
	var order []string
	removed := map[string]bool{}
	link, err := c.deltaRound(ctx, cur.DeltaLink, func(id string, gone bool) {
		if _, seen := removed[id]; !seen {
			order = append(order, id)
		}
		removed[id] = gone
	})
	if err != nil {
		return nil, err
	}
	for _, id := range order {
		e := connector.Entry{ID: id, Kind: connector.KindUser, Deleted: true}
		if !removed[id] {
			full, found, err := c.getUser(ctx, id)
			if err != nil {
				return nil, err
			}
			if found {
				e = full
			}
		}
		if err := yield(e); err != nil {
			return nil, err
		}
	}
	return encodeCursor(link)
}

func encodeCursor(link string) (connector.Cursor, error) {
	b, err := json.Marshal(cursor{V: cursorVersion, DeltaLink: link})
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

// deltaRound pages through a /users/delta round, from the start when link
// is empty, and returns the final @odata.deltaLink. f, if not nil, gets
// each user's id and whether it was removed (@removed).
func (c *Connector) deltaRound(ctx context.Context, link string, f func(id string, removed bool)) (string, error) {
	d := c.client.Users().Delta()
	cfg := &users.DeltaRequestBuilderGetRequestConfiguration{Headers: c.headers()}
	if link == "" {
		cfg.QueryParameters = &users.DeltaRequestBuilderGetQueryParameters{Select: userSelect}
	} else {
		d = d.WithUrl(link)
	}
	resp, err := d.GetAsDeltaGetResponse(ctx, cfg)
	for page := 1; ; page++ {
		if err != nil {
			return "", graphError(ctx, fmt.Sprintf("read user changes (delta page %d)", page), err)
		}
		if f != nil {
			for _, u := range resp.GetValue() {
				_, gone := u.GetAdditionalData()["@removed"]
				f(deref(u.GetId()), gone)
			}
		}
		if dl := deref(resp.GetOdataDeltaLink()); dl != "" {
			return dl, nil
		}
		next := deref(resp.GetOdataNextLink())
		if next == "" {
			return "", fmt.Errorf("entra: read user changes (delta page %d): Graph returned neither a next link nor a delta link", page)
		}
		resp, err = c.client.Users().Delta().WithUrl(next).GetAsDeltaGetResponse(ctx,
			&users.DeltaRequestBuilderGetRequestConfiguration{Headers: c.headers()})
	}
}

// getUser reads one user in full, with its groups. found is false when
// the user no longer exists.
func (c *Connector) getUser(ctx context.Context, id string) (e connector.Entry, found bool, err error) {
	u, err := c.client.Users().ByUserId(id).Get(ctx, &users.UserItemRequestBuilderGetRequestConfiguration{
		QueryParameters: &users.UserItemRequestBuilderGetQueryParameters{Select: userSelect, Expand: managerExpand},
	})
	if err != nil {
		if statusOf(err) == http.StatusNotFound {
			return e, false, nil
		}
		return e, false, graphError(ctx, "read user "+id, err)
	}
	e = c.userEntry(u)
	if e.MemberOf, err = c.transitiveMemberOf(ctx, id); err != nil {
		return e, false, err
	}
	return e, true, nil
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
