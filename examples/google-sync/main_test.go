package main

import (
	"bytes"
	"context"
	"flag"
	"io"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// -demo signs in to the fake Google by domain-wide delegation, reads the
// generated company through the real API client, and prints the plan
// and the report of the sync into the in-memory store.
func TestDemo(t *testing.T) {
	var out bytes.Buffer
	require.NoError(t, run(t.Context(), []string{"-demo"}, &out, io.Discard))
	s := out.String()
	assert.Contains(t, s, "Demo: a fake Google Workspace on http://127.0.0.1:")
	assert.Regexp(t, `(?m)^create +Farah Fischer +farah@demo\.example `, s)
	assert.Contains(t, s, "manager: ∅ → farah@demo.example")
	assert.Regexp(t, `(?m)^skip +Kofi Kumi .*Disabled in the directory`, s)
	assert.Contains(t, s, "Plan for google: 4 create-department, 10 create, 2 skip\n")
	assert.Contains(t, s, "Applied 14, failed 0, skipped 0, not attempted 0\n")
	assert.Less(t, bytes.Index(out.Bytes(), []byte("Plan for google")), bytes.Index(out.Bytes(), []byte("RESULT")))
}

func TestDemoRefusesRealSettings(t *testing.T) {
	err := run(context.Background(), []string{"-demo", "-key", "key.json"}, io.Discard, io.Discard)
	assert.ErrorContains(t, err, "-demo brings its own")
}

func TestHelp(t *testing.T) {
	for _, arg := range []string{"-h", "--help"} {
		var stderr bytes.Buffer
		err := run(context.Background(), []string{arg}, io.Discard, &stderr)
		assert.ErrorIs(t, err, flag.ErrHelp)
		assert.Contains(t, stderr.String(), "Usage: google-sync")
		assert.Contains(t, stderr.String(), "-demo")
	}
}
