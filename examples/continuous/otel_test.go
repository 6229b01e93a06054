package main

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dirsync-go/dirsync"
	"github.com/dirsync-go/dirsync/connector/fake"
	"github.com/dirsync-go/dirsync/dirsynctest"
	"github.com/dirsync-go/dirsync/telemetry"
)

// With -otel FILE, a run's spans and metrics reach the file through the
// global providers that telemetry.New(nil) picks up.
func TestOTelToFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "otel.json")
	shutdown, err := setupOTel(path, time.Hour)
	require.NoError(t, err)
	sy, err := dirsync.New(fake.New(fake.Company(10, 1)...), dirsynctest.NewMemorySink(),
		&dirsync.Options{Source: "demo-ad", Observer: telemetry.New(nil)})
	require.NoError(t, err)
	_, err = sy.RunOnce(context.Background(), dirsync.TriggerStart, dirsync.ModeAutomatic)
	require.NoError(t, err)
	require.NoError(t, shutdown(context.Background()))
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	for _, want := range []string{`"Name":"dirsync.run"`, `"Name":"dirsync.read"`, `"Name":"dirsync.changes"`,
		`"Name":"dirsync.run.duration"`, `"Value":"demo-ad"`} {
		assert.Contains(t, string(b), want)
	}
}
