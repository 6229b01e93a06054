package main

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dirsync-go/dirsync"
	"github.com/dirsync-go/dirsync/dirsynctest"
)

// The console's app store follows the Sink contract, as every host's
// sink should (dirsynctest.TestSink).
func TestAppStoreIsASink(t *testing.T) {
	dir := t.TempDir()
	n := 0
	err := dirsynctest.TestSink(context.Background(), func(context.Context) (dirsync.Sink, error) {
		n++
		s, err := openAppStore(filepath.Join(dir, fmt.Sprintf("app%d.db", n)))
		if err != nil {
			return nil, err
		}
		t.Cleanup(func() { s.Close() })
		return s, nil
	})
	require.NoError(t, err)
}
