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

// -demo reads the fake tenant through the real Graph SDK and prints the
// plan and the report of the sync into the in-memory store.
func TestDemo(t *testing.T) {
	var out bytes.Buffer
	require.NoError(t, run(t.Context(), []string{"-demo"}, &out, io.Discard))
	s := out.String()
	assert.Contains(t, s, "Demo: a fake Microsoft Graph on http://127.0.0.1:")
	assert.Regexp(t, `(?m)^create +Alice Smith +alice@contoso\.example `, s)
	assert.Contains(t, s, "manager: ∅ → carol@contoso.example")
	assert.Regexp(t, `(?m)^skip +Chen Wei .*Disabled in the directory`, s)
	assert.Regexp(t, `Plan for entra: \d+ create-department, 9 create, 1 skip\n`, s)
	assert.Regexp(t, `Applied \d+, failed 0, skipped 0, not attempted 0\n`, s)
	assert.Less(t, bytes.Index(out.Bytes(), []byte("Plan for entra")), bytes.Index(out.Bytes(), []byte("RESULT")))
}

func TestDemoGroups(t *testing.T) {
	var out bytes.Buffer
	require.NoError(t, run(t.Context(), []string{"-demo", "-groups", "Sales"}, &out, io.Discard))
	assert.Regexp(t, `Sales team  \(3 members\)`, out.String())
	assert.NotContains(t, out.String(), "Engineering")
}

func TestDemoRefusesRealSettings(t *testing.T) {
	err := run(context.Background(), []string{"-demo", "-tenant", "contoso.onmicrosoft.com"}, io.Discard, io.Discard)
	assert.ErrorContains(t, err, "drop -tenant")
}

func TestHelp(t *testing.T) {
	for _, arg := range []string{"-h", "--help"} {
		var stderr bytes.Buffer
		err := run(context.Background(), []string{arg}, io.Discard, &stderr)
		assert.ErrorIs(t, err, flag.ErrHelp)
		assert.Contains(t, stderr.String(), "Usage: entra")
		assert.Contains(t, stderr.String(), "-demo")
	}
}
