package connector

import "context"

// StatusChecker is an optional capability: a connector that can ask the
// directory, for one user and at once, whether it still holds that user
// and whether the user may sign in there. Sign-in (package signin) asks it
// on every sign-in, so a person suspended or deleted in the directory is
// refused at once rather than at the next sync.
//
// id is the user's ID as the connector yields it in Entry.ID (AD
// objectGUID, Entra object id, Google user id). A user the directory does
// not hold (deleted, or never there) is UserStatus{} and a nil error, not
// an error. An error means the directory did not answer (unreachable,
// refused credentials: wrapping ErrAuth, as in Read); a caller must then
// treat the user as neither gone nor active, and fail closed.
type StatusChecker interface {
	UserStatus(ctx context.Context, id string) (UserStatus, error)
}

// UserStatus is what a directory says of one user right now.
//
// For Google Workspace (users.get): Exists is false for a user id the
// Directory API does not find (404); Disabled is set for a suspended or an
// archived user, as Entry.Disabled is; Archived is set for an archived
// user. For directories without the notion, Archived is never set.
type UserStatus struct {
	// Exists is false when the directory holds no user with the ID.
	Exists bool `json:"exists"`
	// Disabled is set when the user cannot sign in at the source: the
	// same condition as Entry.Disabled (AD ACCOUNTDISABLE, Entra
	// accountEnabled=false, Google suspended or archived).
	Disabled bool `json:"disabled,omitempty"`
	// Archived is set for a user the directory keeps as a former member
	// (Google Workspace's archived users). A checker that sets Archived
	// sets Disabled too, so a caller asking "may this person sign in?"
	// reads Exists and Disabled only.
	Archived bool `json:"archived,omitempty"`
}
