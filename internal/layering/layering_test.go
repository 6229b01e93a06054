package layering

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The module as it is keeps every rule (non-test imports, transitively).
func TestModuleKeepsTheLayering(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", "{{.ImportPath}} {{join .Deps \" \"}}", Module+"/...").Output()
	require.NoError(t, err, "go list")
	deps := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		deps[f[0]] = f[1:]
	}
	require.Contains(t, deps, Module+"/internal/planner", "go list saw the module")
	assert.Empty(t, Check(deps, Rules), "imports that run back up the pipeline")
}

// The check finds an upward import added anywhere, directly or through
// another package, and leaves allowed ones alone.
func TestCheckFindsUpwardImports(t *testing.T) {
	m := func(rel string) string {
		if rel == "" {
			return Module
		}
		return Module + "/" + rel
	}
	graph := map[string][]string{
		m("connector/ad"):     {m("connector"), m("internal/ldaputil"), "github.com/go-ldap/ldap/v3"},
		m("store/pgstore"):    {m("store"), "github.com/jackc/pgx/v5"},
		m("scimpg"):           {m("connector/scim"), m("connector"), "github.com/jackc/pgx/v5"},
		m("internal/planner"): {m("connector"), m("diff"), m("mapping"), m("policy")},
		m("mapping"):          {m("connector"), m("diff")},
		m(""):                 {m("internal/planner"), m("store")},
		m("telemetry"):        {m(""), m("connector"), m("store"), m("diff"), "go.opentelemetry.io/otel/metric"},
	}
	require.Empty(t, Check(graph, Rules), "the intended layout")

	for _, bad := range []struct{ from, to, want string }{
		{"connector/ad", "mapping", "connector/ad imports mapping"},
		{"connector/google", "signin", "connector/google imports signin"},
		{"connector/scim", "", "connector/scim imports dirsync (root)"},
		{"store/pgstore", "", "store/pgstore imports dirsync (root)"},
		{"store/filestore", "diff", "store/filestore imports diff"},
		{"internal/planner", "", "internal/planner imports dirsync (root)"},
		{"diff", "connector", "diff imports connector"},
		{"policy", "mapping", "policy imports mapping"},
		{"", "riversync", "dirsync (root) imports riversync"},
		{"connector/scim", "scimpg", "connector/scim imports scimpg"},
		{"scimpg", "", "scimpg imports dirsync (root)"},
		{"scimpg", "store/pgstore", "scimpg imports store/pgstore"},
		{"", "telemetry", "dirsync (root) imports telemetry"},
		{"policy", "telemetry", "policy imports telemetry"},
		{"telemetry", "connector/entra", "telemetry imports connector/entra"},
		{"telemetry", "store/pgstore", "telemetry imports store/pgstore"},
	} {
		g := map[string][]string{}
		for k, v := range graph {
			g[k] = v
		}
		g[m(bad.from)] = append(g[m(bad.from)], m(bad.to))
		found := Check(g, Rules)
		require.Len(t, found, 1, "%s → %s", bad.from, bad.to)
		assert.True(t, strings.HasPrefix(found[0], bad.want), found[0])
	}

	// OpenTelemetry reaches the engine neither directly nor through a
	// dependency outside the module; package telemetry may import it.
	for _, from := range []string{"", "diff", "mapping", "policy", "internal/planner", "connector", "connector/ad", "store/filestore"} {
		g := map[string][]string{}
		for k, v := range graph {
			g[k] = v
		}
		g[m(from)] = append(g[m(from)], "go.opentelemetry.io/otel/trace")
		found := Check(g, Rules)
		require.Len(t, found, 1, "%s → OpenTelemetry", from)
		assert.True(t, strings.HasPrefix(found[0], show(from)+" imports go.opentelemetry.io/otel/trace"), found[0])
	}
}
