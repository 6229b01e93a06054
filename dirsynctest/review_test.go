package dirsynctest_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dirsync-go/dirsync/diff"
	"github.com/dirsync-go/dirsync/dirsynctest"
)

// Departments are told apart by their parts: a name holding a NUL byte is
// not another department's path, so a plan that created both does not
// plan one of them again.
func TestMemorySinkDepartmentsByParts(t *testing.T) {
	ctx := context.Background()
	s := dirsynctest.NewMemorySink()
	for _, p := range [][]string{{"a", "b"}, {"a\x00b"}, {"a"}} {
		require.NoError(t, s.Apply(ctx, diff.Change{Op: diff.OpCreateDepartment, Key: "department/x", Department: p}))
	}
	got, err := s.Departments(ctx)
	require.NoError(t, err)
	require.Equal(t, [][]string{{"a"}, {"a", "b"}, {"a\x00b"}}, got)
}
