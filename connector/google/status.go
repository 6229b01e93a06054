package google

import (
	"context"
	"errors"
	"net/http"

	"google.golang.org/api/googleapi"

	"github.com/dirsync-go/dirsync/connector/google/login"
)

var _ login.DirectoryChecker = (*Connector)(nil)

// UserStatus asks the Directory API (users.get) whether the user with the
// Google user id exists and is suspended or archived. It implements
// login.DirectoryChecker, so sign-in with Google refuses people suspended
// or deleted in Google Workspace. It needs the
// admin.directory.user.readonly scope.
func (c *Connector) UserStatus(ctx context.Context, userID string) (login.UserStatus, error) {
	u, err := c.svc.Users.Get(userID).Fields("id,suspended,archived").Context(ctx).Do()
	var ge *googleapi.Error
	if errors.As(err, &ge) && ge.Code == http.StatusNotFound {
		return login.UserStatus{}, nil
	}
	if err != nil {
		return login.UserStatus{}, c.classify(ctx, "users.get", ScopeUser, err)
	}
	return login.UserStatus{Exists: true, Suspended: u.Suspended, Archived: u.Archived}, nil
}
