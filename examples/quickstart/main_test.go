package main

import (
	"bytes"
	"context"
	"io"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The quickstart as its README runs it: the first run seeds the app and
// applies the plan, the second has nothing to do.
func TestRunTwice(t *testing.T) {
	ctx := context.Background()
	args := []string{"-data", t.TempDir()}
	var first, second bytes.Buffer
	require.NoError(t, run(ctx, args, &first, io.Discard))
	assert.Contains(t, first.String(), "New app store: 3 accounts")
	assert.Contains(t, first.String(), "Applied")
	assert.Regexp(t, `App now: \d+ accounts \(\d+ managed by sync, \d+ blocked\), [1-9]\d* departments`, first.String())
	require.NoError(t, run(ctx, args, &second, io.Discard))
	assert.Contains(t, second.String(), "No changes")
	assert.NotContains(t, second.String(), "New app store")
}
