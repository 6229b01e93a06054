package main

// integrations.go holds the console's integrations: each is one directory
// feeding the app, with its connector, its settings (mapping, scope,
// lifecycle, schedule, approval mode), its dirsync.Syncer and the Run loop
// that syncs it on schedule. Settings live in settings.json in the data
// directory; changing them replaces the Syncer (same Store, same Source),
// so cursor, exceptions and history carry over.

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/dirsync-go/dirsync"
	"github.com/dirsync-go/dirsync/connector"
	"github.com/dirsync-go/dirsync/examples/internal/appstore"
	"github.com/dirsync-go/dirsync/internal/atomicfile"
	"github.com/dirsync-go/dirsync/mapping"
	"github.com/dirsync-go/dirsync/policy"
)

// Settings are what an admin edits on the Settings page.
type Settings struct {
	Mapping mapping.Spec  `json:"mapping"`
	Policy  policy.Config `json:"policy"`
	// Every is the interval of scheduled syncs, as policy.ParseDuration
	// reads it ("2h", "1d").
	Every string `json:"every"`
	// Mode is "approval" (review mode: each run's plan waits for an
	// admin's approval, and "Sync now" shows the preview) or "automatic"
	// (runs apply within the safety limits). A new integration starts in
	// review mode; the console accepts "automatic" only after a first
	// reviewed sync (reviewed), and runs one configured "automatic" in
	// review mode until then.
	Mode string `json:"mode"`
}

const (
	modeAutomatic = "automatic"
	modeApproval  = "approval"
)

// compiled is a validated Settings.
type compiled struct {
	mapper *mapping.RuleMapper
	policy *policy.Policy
	every  time.Duration
	mode   dirsync.Mode
}

// settingsError is a problem with one part of Settings, named for the form.
type settingsError struct {
	Part string // "mapping", "scope", "lifecycle", "schedule"
	Rule int    // the failing mapping rule's index, or -1
	Err  error
}

func (e *settingsError) Error() string { return e.Part + ": " + e.Err.Error() }
func (e *settingsError) Unwrap() error { return e.Err }

// compile validates st. The error is a *settingsError naming the part, and
// for the mapping the rule (mapping.RuleError).
func (st Settings) compile() (compiled, error) {
	var c compiled
	m, err := mapping.New(st.Mapping)
	if err != nil {
		se := &settingsError{Part: "mapping", Rule: -1, Err: err}
		if re, ok := errors.AsType[*mapping.RuleError](err); ok && re.Target != "roles" {
			se.Rule = re.Index
		}
		return c, se
	}
	p, err := policy.New(st.Policy)
	if err != nil {
		return c, &settingsError{Part: "policy", Rule: -1, Err: err}
	}
	every, err := policy.ParseDuration(st.Every)
	if st.Every == "" {
		err = errors.New("give the interval between syncs, such as 2h")
	} else if err == nil && every < time.Minute {
		err = fmt.Errorf("%q is shorter than a minute", st.Every)
	}
	if err != nil {
		return c, &settingsError{Part: "schedule", Rule: -1, Err: err}
	}
	c = compiled{mapper: m, policy: p, every: every, mode: dirsync.ModeApproval}
	switch st.Mode {
	case modeAutomatic:
		c.mode = dirsync.ModeAutomatic
	case modeApproval, "":
	default:
		return c, &settingsError{Part: "schedule", Rule: -1, Err: fmt.Errorf("unknown approval mode %q", st.Mode)}
	}
	return c, nil
}

// job is the console's last "Sync" of an integration's previewed plan.
type job struct {
	Running  bool
	Started  time.Time
	Progress dirsync.Progress
	// Read is how many directory entries the sync's plan read; Planned
	// is set once the plan was made and the apply begins (ApplyStarted).
	Read         int
	Planned      bool
	ApplyStarted time.Time
	// rate holds the apply's progress over the last seconds, for the
	// time-left estimate (timeLeft).
	rate   rateWindow
	Shown  string        // the digest the admin synced
	Plan   *dirsync.Plan // the plan made at the click
	Report *dirsync.Report
	Err    error
}

// integration is one directory feeding the app.
type integration struct {
	Name    string
	Kind    string // "ldif", "ad", "entra", "google"
	Summary []kv   // what the connection is, without secrets
	conn    connector.Connector

	// reconf serialises replacing the Syncer and its Run loop (settings
	// saved twice at once, or saved while the integration is removed).
	reconf sync.Mutex

	mu       sync.Mutex
	settings Settings
	sy       *dirsync.Syncer
	stopRun  context.CancelFunc
	runDone  chan struct{}
	progress dirsync.Progress // of the run or apply going on
	job      *job

	// fingerprint, if set, changes when the directory may have (see
	// plancache.go).
	fingerprint func() string
	plans       planState
}

type kv struct{ K, V string }

// Syncer returns the integration's current Syncer.
func (in *integration) Syncer() *dirsync.Syncer {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.sy
}

// Settings returns a copy of the settings.
func (in *integration) Settings() Settings {
	in.mu.Lock()
	defer in.mu.Unlock()
	b, _ := json.Marshal(in.settings)
	var st Settings
	_ = json.Unmarshal(b, &st)
	return st
}

// Job returns a copy of the last console sync, or nil.
func (in *integration) Job() *job {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.job == nil {
		return nil
	}
	j := *in.job
	return &j
}

func (in *integration) setProgress(p dirsync.Progress) {
	in.mu.Lock()
	in.progress = p
	running := in.job != nil && in.job.Running
	if running {
		j := in.job
		j.Progress = p
		switch {
		case p.Phase == dirsync.PhaseRead:
			j.Read = max(j.Read, p.Done)
		case p.Phase == dirsync.PhaseApply && !j.Planned:
			j.Planned, j.ApplyStarted = true, time.Now()
			j.rate.add(j.ApplyStarted, p.Done)
		case p.Phase == dirsync.PhaseApply:
			j.rate.add(time.Now(), p.Done)
		}
	}
	in.mu.Unlock()
	if !running && p.Phase == dirsync.PhaseRead {
		in.plans.mu.Lock()
		in.plans.readN = max(in.plans.readN, p.Done)
		in.plans.mu.Unlock()
	}
}

// console is the tenant's state: the app store, dirsync's store and the
// integrations.
type console struct {
	dataDir string
	app     *appstore.Store
	store   dirsync.Store
	log     *slog.Logger
	base    context.Context // background work; cancelled at shutdown
	cancel  context.CancelFunc
	wg      sync.WaitGroup

	mu    sync.Mutex
	list  []*integration // sorted by name
	saved savedState
}

// savedState is settings.json.
type savedState struct {
	Settings map[string]Settings `json:"settings"`
	// Removed lists integrations an admin removed, so that a configured
	// one does not come back at the next start.
	Removed []string `json:"removed,omitempty"`
}

func (c *console) statePath() string { return filepath.Join(c.dataDir, "settings.json") }

func (c *console) loadState() error {
	b, err := os.ReadFile(c.statePath())
	if errors.Is(err, os.ErrNotExist) {
		c.saved = savedState{Settings: map[string]Settings{}}
		return nil
	}
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, &c.saved); err != nil {
		return fmt.Errorf("%s: %w", c.statePath(), err)
	}
	if c.saved.Settings == nil {
		c.saved.Settings = map[string]Settings{}
	}
	return nil
}

// saveStateLocked writes settings.json atomically; c.mu is held.
func (c *console) saveStateLocked() error {
	b, err := json.MarshalIndent(c.saved, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(c.statePath(), b, 0o600)
}

// add registers an integration with its default settings (or the saved
// ones) and starts its schedule. A removed integration is not added.
func (c *console) add(in *integration, defaults Settings) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if slices.Contains(c.saved.Removed, in.Name) {
		c.log.Info("integration was removed in the console; not added", "name", in.Name)
		return nil
	}
	for _, other := range c.list {
		if other.Name == in.Name {
			return fmt.Errorf("two integrations are named %q", in.Name)
		}
	}
	st := defaults
	if saved, ok := c.saved.Settings[in.Name]; ok {
		st = saved
	}
	if err := c.apply(in, st); err != nil {
		return fmt.Errorf("integration %q: %w", in.Name, err)
	}
	c.list = append(c.list, in)
	slices.SortFunc(c.list, func(a, b *integration) int { return cmp.Compare(a.Name, b.Name) })
	return nil
}

// apply validates st, replaces the integration's Syncer with one built
// from it and restarts the schedule. On error nothing changes.
func (c *console) apply(in *integration, st Settings) error {
	in.reconf.Lock()
	defer in.reconf.Unlock()
	return c.applyLocked(in, st)
}

// applyLocked is apply with in.reconf held.
func (c *console) applyLocked(in *integration, st Settings) error {
	comp, err := st.compile()
	if err != nil {
		return err
	}
	sy, err := dirsync.New(in.conn, c.app, &dirsync.Options{
		Source: in.Name, Mapper: comp.mapper, Policy: comp.policy, Store: c.store,
		Logger: c.log.With("integration", in.Name), Progress: in.setProgress,
	})
	if err != nil {
		return err
	}
	in.mu.Lock()
	stop, done := in.stopRun, in.runDone
	in.mu.Unlock()
	if stop != nil {
		stop()
		<-done
	}
	ctx, cancel := context.WithCancel(c.base)
	runDone := make(chan struct{})
	in.mu.Lock()
	in.settings, in.sy, in.stopRun, in.runDone = st, sy, cancel, runDone
	in.mu.Unlock()
	mode := comp.mode
	if mode == dirsync.ModeAutomatic && !reviewed(c.base, sy) {
		// Configured automatic, but nobody has reviewed a sync yet.
		mode = dirsync.ModeApproval
	}
	c.wg.Go(func() {
		defer close(runDone)
		// SkipInitial: nothing runs before the first scheduled time; in
		// review mode a run only leaves its plan waiting for approval.
		_ = sy.Run(ctx, &dirsync.RunOptions{SkipInitial: true, Mode: mode,
			Schedule: dirsync.Schedule{Every: comp.every},
			OnRun:    func(dirsync.RunRecord) { c.invalidate(in) }})
	})
	c.invalidate(in)
	return nil
}

// reviewed reports whether an admin has reviewed a sync of the
// integration: a plan applied from the preview or approved while
// waiting, recorded in its History.
func reviewed(ctx context.Context, sy *dirsync.Syncer) bool {
	runs, err := sy.History(ctx)
	if err != nil {
		return false
	}
	for _, r := range runs {
		if (r.Trigger == dirsync.TriggerApply || r.Trigger == dirsync.TriggerApproval) &&
			(r.Outcome == dirsync.OutcomeApplied || r.Outcome == dirsync.OutcomeNoChanges || r.Applied > 0) {
			return true
		}
	}
	return false
}

// effectiveMode is how the integration's runs apply now: "automatic" only
// when so set and a sync has been reviewed.
func (in *integration) effectiveMode(ctx context.Context) string {
	if in.Settings().Mode == modeAutomatic && reviewed(ctx, in.Syncer()) {
		return modeAutomatic
	}
	return modeApproval
}

// errNotReviewed refuses automatic mode before a first reviewed sync.
var errNotReviewed = errors.New("automatic mode needs a first reviewed sync: open the preview, check the plan and press Sync (or approve a plan waiting for approval), then switch to automatic")

// update saves new settings for an integration after validating them.
func (c *console) update(in *integration, st Settings) error {
	in.reconf.Lock()
	defer in.reconf.Unlock()
	if st.Mode == modeAutomatic && in.Settings().Mode != modeAutomatic && !reviewed(c.base, in.Syncer()) {
		return &settingsError{Part: "schedule", Rule: -1, Err: errNotReviewed}
	}
	if err := c.applyLocked(in, st); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.saved.Settings[in.Name] = st
	return c.saveStateLocked()
}

// get returns the integration by name.
func (c *console) get(name string) (*integration, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, in := range c.list {
		if in.Name == name {
			return in, true
		}
	}
	return nil, false
}

// integrations returns the integrations, sorted by name.
func (c *console) integrations() []*integration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.list)
}

// remove stops an integration's schedule and forgets it. The accounts it
// managed were handled by the approved removal plan before.
func (c *console) remove(in *integration) error {
	in.reconf.Lock()
	defer in.reconf.Unlock()
	in.mu.Lock()
	stop, done := in.stopRun, in.runDone
	in.mu.Unlock()
	if stop != nil {
		stop()
		<-done
	}
	in.mu.Lock()
	in.stopRun = nil
	in.mu.Unlock()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.list = slices.DeleteFunc(c.list, func(x *integration) bool { return x == in })
	delete(c.saved.Settings, in.Name)
	if !slices.Contains(c.saved.Removed, in.Name) {
		c.saved.Removed = append(c.saved.Removed, in.Name)
		slices.Sort(c.saved.Removed)
	}
	return c.saveStateLocked()
}

// startSync runs ApplyShown for the digest the admin saw, in the
// background, so the page can show its progress. It refuses a second sync
// while one is going.
func (c *console) startSync(in *integration, digest string, approve bool) bool {
	in.mu.Lock()
	if in.job != nil && in.job.Running {
		in.mu.Unlock()
		return false
	}
	j := &job{Running: true, Started: time.Now(), Shown: digest}
	in.job = j
	sy := in.sy
	in.mu.Unlock()
	c.wg.Go(func() {
		wasReviewed := reviewed(c.base, sy)
		plan, rep, err := sy.ApplyShown(c.base, digest, approve)
		in.mu.Lock()
		j.Running, j.Plan, j.Report, j.Err = false, plan, rep, err
		in.mu.Unlock()
		if rep == nil && plan != nil {
			// Nothing applied: the plan ApplyShown made is the one to
			// show next.
			perr := error(nil)
			if plan.Safety != nil {
				perr = dirsync.ErrSafetyLimit
			}
			c.remember(in, plan, perr)
			return
		}
		c.invalidate(in)
		if rep != nil && !wasReviewed && in.Settings().Mode == modeAutomatic {
			// The first reviewed sync lets a configured automatic mode
			// take effect.
			_ = c.apply(in, in.Settings())
		}
	})
	return true
}
