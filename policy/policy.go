package policy

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/dirsync-go/dirsync/connector"
	"github.com/dirsync-go/dirsync/diff"
)

// Config is a sync policy as plain data: an admin UI can edit it, a host
// can store it as JSON. The zero Config is valid and means the defaults
// listed in the package documentation.
type Config struct {
	Scope      ScopeConfig `json:"scope"`
	Exceptions []Exception `json:"exceptions,omitempty"`
	Lifecycle  Lifecycle   `json:"lifecycle"`
	Safety     Safety      `json:"safety"`
}

// Policy is a validated, compiled Config. It is immutable and safe for
// concurrent use. A nil *Policy behaves as New(Config{}).
type Policy struct {
	cfg         Config
	scope       *scope
	exceptions  *Exceptions
	missing     diff.MissingAction
	deleteAfter time.Duration
	appBlock    diff.AppBlockPolicy
	safety      safety
}

// New validates and compiles cfg. The error lists every problem (joined
// with errors.Join, one per line), each naming its place in the
// configuration, e.g.
//
//	policy: invalid configuration: scope.rules[2] ("No contractors"): ouRegex: error parsing regexp: missing closing ): `(contract`
//	lifecycle.missing: unknown value "archive" (want "block", "delete" or "leave")
func New(cfg Config) (*Policy, error) {
	p := &Policy{cfg: cloneConfig(cfg)}
	var errs []error
	var err error
	if p.scope, err = compileScope(cfg.Scope); err != nil {
		errs = append(errs, err)
	}
	if p.exceptions, err = compileExceptions("exceptions", cfg.Exceptions); err != nil {
		errs = append(errs, err)
	}
	if p.missing, p.appBlock, err = cfg.Lifecycle.compile(); err != nil {
		errs = append(errs, err)
	}
	p.deleteAfter = cfg.Lifecycle.DeleteAfter.Duration
	if p.safety, err = cfg.Safety.compile(); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("policy: invalid configuration: %w", err)
	}
	return p, nil
}

var defaultPolicy = func() *Policy {
	p, err := New(Config{})
	if err != nil {
		panic(err)
	}
	return p
}()

func (p *Policy) get() *Policy {
	if p == nil {
		return defaultPolicy
	}
	return p
}

// Config returns a copy of the configuration the policy was made from.
func (p *Policy) Config() Config { return cloneConfig(p.get().cfg) }

func cloneConfig(c Config) Config {
	c.Scope.Rules = slices.Clone(c.Scope.Rules)
	c.Exceptions = slices.Clone(c.Exceptions)
	return c
}

// Decide returns the scope decision for a user entry: whether sync manages
// it, and the sentence that says which rule decided. dir is the snapshot the
// entry comes from; group rules look up transitive membership in it. With
// a nil dir, group rules see only the entry's MemberOf IDs. Entries that are
// not users (groups, org units) are out of scope.
//
// The snapshot caches lookups and is not safe for concurrent use, so calls
// that share a snapshot must not run concurrently.
func (p *Policy) Decide(e *connector.Entry, dir *connector.Snapshot) Decision {
	return p.get().scope.decide(e, dir)
}

// Exceptions returns the compiled exceptions of the configuration.
func (p *Policy) Exceptions() *Exceptions { return p.get().exceptions }

// Options returns the diff options of the lifecycle policy at time now.
// Except reports the configuration's exceptions and then the extra ones, in
// order; the first match gives the reason.
//
// Extra exceptions are typically those a host persisted (the Syncer's
// AddException validates them with NewExceptions). Options cannot fail: an
// extra exception that names no account is ignored, and one with an invalid
// pattern matches every account, so that sync stops touching anyone, with
// that reason in the plan, rather than touch the account it was meant to
// protect.
func (p *Policy) Options(now time.Time, extra ...Exception) diff.Options {
	p = p.get()
	o := diff.Options{Missing: p.missing, DeleteAfter: p.deleteAfter, AppBlock: p.appBlock, Now: now}
	if x := p.exceptions.with(extra); x.Len() > 0 {
		o.Except = x.Match
	}
	return o
}

// CheckSafety checks a plan against the safety limits. It returns nil or
// a *SafetyError wrapping ErrSafetyLimit.
//
// Removals are the blocks and deletes of accounts sync manages (see
// Removals). A plan is refused, unless in.Approved is set, when:
//
//   - it removes any managed account while the directory returned no
//     user at all (in.SourceUsers == 0): even with Safety.Disabled;
//   - it removes every managed account (from a full read, unless
//     Safety.Disabled; from an incremental read, always);
//   - with the removals applied within the window (in.Recent), it removes
//     more than MaxRemovals accounts, or more than MaxPercent of those
//     managed at the window's start (in.Managed + in.Recent), when those
//     are at least MinManagedForPercent.
func (p *Policy) CheckSafety(plan *diff.Plan, in SafetyInput) error {
	return p.get().safety.check(plan, in)
}

// Limits returns the safety limits in force: the most removals within
// the window (-1: off), the most as a percentage (-1: off), and the
// window (0: each plan alone). With Safety.Disabled both limits are -1.
func (p *Policy) Limits() (maxRemovals int, maxPercent float64, window time.Duration) {
	s := p.get().safety
	if s.disabled {
		return -1, -1, s.window
	}
	return s.maxRemovals, s.maxPercent, s.window
}

// UsesGroups reports whether a scope rule selects by group membership,
// which needs the whole directory's groups to decide.
func (p *Policy) UsesGroups() bool {
	for _, r := range p.get().cfg.Scope.Rules {
		if r.Group != "" {
			return true
		}
	}
	return false
}

// Attributes returns the entry attributes the scope rules read, lower
// case and sorted. A Syncer that keeps slim copies of entries keeps these.
func (p *Policy) Attributes() []string {
	var out []string
	for _, r := range p.get().cfg.Scope.Rules {
		if r.Attr != "" {
			out = append(out, strings.ToLower(r.Attr))
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}
