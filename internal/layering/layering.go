// Package layering states the import rules of the module's packages and
// checks a package graph against them. Its test runs the check on the
// module as it is (go list), so that an import running back up the
// pipeline fails the test suite.
//
// Dependencies point one way, like database/sql and its drivers:
//
//	connector/…          → connector (and internal helpers), never the rules
//	store/…              → store (and internal/atomicfile), never the engine
//	diff                 → nothing of the module
//	mapping, policy      → connector, diff
//	internal/planner     → connector, diff, mapping, policy; never the root
//	dirsync (root)       → all of the above
//	signin, riversync, … → the root and below; nothing imports them
//	scimpg               → connector/scim (and connector) only; nothing imports it
//	telemetry            → the root and below, and OpenTelemetry; no
//	                       connector, store driver or job queue
//
// A rule names what a package may not depend on, directly or through
// another package of the module, and which modules outside it (Vendor):
// OpenTelemetry stays out of the engine, so only a host that imports
// telemetry pays for it.
package layering

import (
	"fmt"
	"slices"
	"strings"
)

// Module is the module path.
const Module = "github.com/dirsync-go/dirsync"

// Rule forbids the packages matching From to depend on those matching any
// of Not. A pattern is a package path relative to the module ("" is the
// root package); a trailing "/..." matches the package and everything
// under it.
type Rule struct {
	From string
	Not  []string
	// Vendor lists import path prefixes outside the module
	// ("go.opentelemetry.io/").
	Vendor []string
	Why    string
}

// Rules are the module's import rules.
var Rules = []Rule{
	{From: "connector/...", Not: []string{"", "diff", "mapping", "policy", "signin/...", "store/...",
		"internal/planner", "riversync/...", "dirsynctest/...", "telemetry/...", "scimpg/..."},
		Why: "a connector is a source: it reads a directory and knows nothing of the rules or the engine"},
	{From: "store/...", Not: []string{"", "connector/...", "diff", "mapping", "policy", "signin/...",
		"internal/planner", "riversync/...", "dirsynctest/...", "telemetry/..."},
		Why: "a store driver imports only the store interface package, as database/sql drivers import only driver"},
	{From: "diff", Not: []string{"...", "internal/..."},
		Why: "the diff is a pure function of plain data"},
	{From: "mapping", Not: []string{"", "policy", "store/...", "internal/planner", "signin/...", "riversync/...", "telemetry/..."},
		Why: "mapping sees connector entries and diff accounts only"},
	{From: "policy", Not: []string{"", "mapping", "store/...", "internal/planner", "signin/...", "riversync/...", "telemetry/..."},
		Why: "policy sees connector entries and diff accounts only"},
	{From: "internal/planner", Not: []string{"", "store/...", "signin/...", "riversync/...", "dirsynctest/...", "telemetry/..."},
		Why: "the planner sits below the root package, which calls it"},
	{From: "internal/seal", Not: []string{"", "connector/...", "mapping", "policy", "store/...", "internal/planner"},
		Why: "the seal hashes diff plans and nothing else"},
	{From: "", Not: []string{"signin/...", "riversync/...", "dirsynctest/...", "telemetry/...", "store/filestore", "store/pgstore", "scimpg/..."},
		Why: "the root package does not depend on its consumers or on a store driver"},
	{From: "scimpg/...", Not: []string{"", "diff", "mapping", "policy", "signin/...", "store/...", "internal/planner",
		"riversync/...", "dirsynctest/...", "telemetry/..."},
		Why: "scimpg is a driver of connector/scim's Resources on PostgreSQL: it imports connector/scim and pgx, nothing of the engine, so hosts pay for pgx only where they keep SCIM state on PostgreSQL"},
	{From: "telemetry/...", Not: []string{"connector/ad", "connector/entra", "connector/google", "connector/ldif", "connector/scim",
		"connector/fake", "store/filestore", "store/pgstore", "signin/...", "riversync/...", "dirsynctest/...", "examples/...", "scimpg/..."},
		Why: "telemetry observes the Syncer through dirsync.Observer; a host that imports it gets no connector, store driver or job queue with it"},
}

// otelFree are the packages that never depend on OpenTelemetry: the
// engine, and the connectors whose SDKs do not bring it (the Entra and
// Google SDKs instrument their HTTP clients with it).
var otelFree = []string{"", "diff", "mapping", "policy", "internal/planner", "internal/seal", "connector", "connector/ad",
	"connector/fake", "connector/ldif", "connector/scim", "connector/connectortest", "store/...", "dirsynctest", "signin/...", "scimpg/..."}

func init() {
	for _, p := range otelFree {
		Rules = append(Rules, Rule{From: p, Vendor: []string{"go.opentelemetry.io/"},
			Why: "OpenTelemetry is for package telemetry, which a host imports when it wants it"})
	}
}

// match reports whether the relative package path rel matches pattern.
func match(pattern, rel string) bool {
	if pattern == "..." {
		return true
	}
	if base, ok := strings.CutSuffix(pattern, "/..."); ok {
		return rel == base || strings.HasPrefix(rel, base+"/")
	}
	return rel == pattern
}

// rel returns the module-relative path of pkg, and false for a package
// outside the module.
func rel(pkg string) (string, bool) {
	if pkg == Module {
		return "", true
	}
	r, ok := strings.CutPrefix(pkg, Module+"/")
	return r, ok
}

// Check returns one line per forbidden dependency in deps, which maps each
// package path to every package it depends on (as go list -deps gives
// them), sorted.
func Check(deps map[string][]string, rules []Rule) []string {
	var out []string
	for pkg, ds := range deps {
		from, ok := rel(pkg)
		if !ok {
			continue
		}
		for _, r := range rules {
			if !match(r.From, from) {
				continue
			}
			for _, d := range ds {
				to, ok := rel(d)
				if !ok {
					for _, v := range r.Vendor {
						if strings.HasPrefix(d, v) {
							out = append(out, fmt.Sprintf("%s imports %s: %s", show(from), d, r.Why))
							break
						}
					}
					continue
				}
				if to == from {
					continue
				}
				for _, not := range r.Not {
					if match(not, to) {
						out = append(out, fmt.Sprintf("%s imports %s: %s", show(from), show(to), r.Why))
						break
					}
				}
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func show(rel string) string {
	if rel == "" {
		return "dirsync (root)"
	}
	return rel
}
