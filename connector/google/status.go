package google

import (
	"context"
	"errors"
	"net/http"

	"google.golang.org/api/googleapi"

	"github.com/dirsync-go/dirsync/connector"
)

var _ connector.StatusChecker = (*Connector)(nil)

// UserStatus implements connector.StatusChecker: it asks the Directory API
// (users.get, one call) about the user with the Google user id. A user it
// does not find (404) is connector.UserStatus{}; a suspended or archived
// user is Disabled, an archived one also Archived, as Read sets
// Entry.Disabled. Sign-in (package signin) asks it, so people suspended or
// deleted in Google Workspace are refused at once. It needs the
// admin.directory.user.readonly scope; errors are classified as Read's
// (a refused credential wraps connector.ErrAuth).
func (c *Connector) UserStatus(ctx context.Context, userID string) (connector.UserStatus, error) {
	u, err := c.svc.Users.Get(userID).Fields("id,suspended,archived").Context(ctx).Do()
	var ge *googleapi.Error
	if errors.As(err, &ge) && ge.Code == http.StatusNotFound {
		return connector.UserStatus{}, nil
	}
	if err != nil {
		return connector.UserStatus{}, c.classify(ctx, "users.get", ScopeUser, err)
	}
	return connector.UserStatus{Exists: true, Disabled: u.Suspended || u.Archived, Archived: u.Archived}, nil
}
