package main

import (
	"bytes"
	"context"
	"flag"
	"io"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The offline demo prints each request before the plan and report of the
// sync it caused: every "--- plan" follows a request line, and the block
// of the deactivated user follows the PATCH that deactivated him.
func TestDemoOrder(t *testing.T) {
	var out bytes.Buffer
	require.NoError(t, run(context.Background(), nil, &out, io.Discard))
	s := out.String()
	assert.Contains(t, s, "applied  block      Alan Turing")
	assert.Contains(t, s, "GET /Users → 401")

	request := regexp.MustCompile(`^(GET|POST|PUT|PATCH|DELETE) /\S+ → \d{3}$`)
	var last string // the last request or plan line
	plans := 0
	for _, line := range strings.Split(s, "\n") {
		switch {
		case request.MatchString(line):
			last = line
		case strings.HasPrefix(line, "--- plan"):
			plans++
			assert.Regexp(t, `^(POST|PUT|PATCH) `, last, "a plan before the request that caused it: %q", line)
			last = line
		}
	}
	assert.Equal(t, 5, plans, "one sync per write:\n%s", s)

	patch := strings.Index(s, "PATCH /Users/")
	block := strings.Index(s, "applied  block      Alan Turing")
	require.Positive(t, patch)
	assert.Less(t, patch, block)
	assert.NotContains(t, s[patch:block], "PUT /Users/")
}

func TestHelp(t *testing.T) {
	for _, arg := range []string{"-h", "--help"} {
		var stderr bytes.Buffer
		err := run(context.Background(), []string{arg}, io.Discard, &stderr)
		assert.ErrorIs(t, err, flag.ErrHelp)
		assert.Contains(t, stderr.String(), "Usage: scim")
	}
	assert.ErrorContains(t, run(context.Background(), []string{"-data", t.TempDir()}, io.Discard, io.Discard), "-data needs -serve")
}
