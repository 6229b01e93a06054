package dirsync

import (
	"context"
	"errors"
	"slices"

	"github.com/dirsync-go/dirsync/policy"
)

// Exceptions returns the exceptions persisted in the Store for this
// integration (those in the policy's config come on top).
func (s *Syncer) Exceptions(ctx context.Context) ([]policy.Exception, error) {
	var list []policy.Exception
	if err := s.getJSON(ctx, s.key("exceptions"), &list); err != nil && !errors.Is(err, ErrNotFound) {
		return nil, err
	}
	return list, nil
}

// AddException persists an exception: the matching accounts are never
// touched by this integration and are listed in plans as skipped. A plan
// made before still holds changes to them; Apply skips those. Concurrent
// calls lose no update (see Updater).
func (s *Syncer) AddException(ctx context.Context, x policy.Exception) error {
	if _, err := policy.NewExceptions([]policy.Exception{x}); err != nil {
		return err
	}
	return updateJSON(ctx, s.store, s.key("exceptions"), func(list *[]policy.Exception) error {
		if !slices.Contains(*list, x) {
			*list = append(*list, x)
		}
		return nil
	})
}

// RemoveException removes a persisted exception equal to x.
func (s *Syncer) RemoveException(ctx context.Context, x policy.Exception) error {
	return updateJSON(ctx, s.store, s.key("exceptions"), func(list *[]policy.Exception) error {
		*list = slices.DeleteFunc(*list, func(have policy.Exception) bool { return have == x })
		if *list == nil {
			*list = []policy.Exception{}
		}
		return nil
	})
}
