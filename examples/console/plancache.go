package main

// plancache.go keeps each integration's last plan, so that page loads,
// page turns and searches reuse it while the directory and the app have
// not moved, instead of reading 100,000 people again for every click.
//
// A cached plan is only ever shown. "Sync" goes through
// Syncer.ApplyShown with the digest on screen: it plans again and applies
// nothing when the directory, the app or the exceptions moved since, so a
// stale page can never apply what it does not show.
//
// A plan is reused while
//   - the app store's Version is the one it was planned at (any account
//     written, by any integration or by an admin, moves it),
//   - the directory's fingerprint, where the connector has a cheap one
//     (an LDIF file's size and modification time), is the same, and
//   - nothing in the console invalidated it: a sync, a scheduled run, an
//     approval, new settings, an exception added or removed.
//
// Past planTTL a plan is still shown (the fingerprints say nothing moved
// that the console can see), and a fresh one is made in the background
// for the next page: a directory without a fingerprint is read again at
// most every planTTL while someone looks at it.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/dirsync-go/dirsync"
	"github.com/dirsync-go/dirsync/diff"
)

// planTTL is how long a plan is shown without checking the directory
// again in the background.
const planTTL = 2 * time.Minute

// planWait is how long a page waits for a plan being made before it shows
// "Planning…" and refreshes itself.
var planWait = 1500 * time.Millisecond

// cachedPlan is a plan and what the pages derive from it once.
type cachedPlan struct {
	plan    *dirsync.Plan
	err     error // nil or wrapping dirsync.ErrSafetyLimit
	made    time.Time
	took    time.Duration
	finger  string
	summary string
	digest  string
	// people maps an external ID to the name and email the plan gives.
	people map[string]person

	mu       sync.Mutex
	searches map[string]*searchResult // the last few searches
	order    []string
}

type person struct{ Name, Email string }

type searchResult struct {
	plan *dirsync.Plan
	err  error
}

// search returns the plan's changes matching the regular expression q,
// remembering the last few searches.
func (cp *cachedPlan) search(q string) (*dirsync.Plan, error) {
	if q == "" {
		return cp.plan, nil
	}
	cp.mu.Lock()
	defer cp.mu.Unlock()
	if r, ok := cp.searches[q]; ok {
		return r.plan, r.err
	}
	sub, err := cp.plan.Search(q)
	if cp.searches == nil {
		cp.searches = map[string]*searchResult{}
	}
	cp.searches[q] = &searchResult{plan: sub, err: err}
	cp.order = append(cp.order, q)
	if len(cp.order) > 8 {
		delete(cp.searches, cp.order[0])
		cp.order = cp.order[1:]
	}
	return sub, err
}

// planState is an integration's cache: the plan shown, and the planning
// going on.
type planState struct {
	mu      sync.Mutex
	cur     *cachedPlan
	gen     uint64        // bumped by invalidate; a plan made before is dropped
	running chan struct{} // closed when the planning going on ends
	lastErr error         // the last planning's failure, when cur is nil
	readN   int           // entries read by the planning going on
}

func newCachedPlan(p *dirsync.Plan, err error, made time.Time, took time.Duration, finger string) *cachedPlan {
	cp := &cachedPlan{plan: p, err: err, made: made, took: took, finger: finger,
		summary: p.Summary(), digest: p.Digest(), people: map[string]person{}}
	for i := range p.Changes {
		c := &p.Changes[i]
		for _, a := range []*diff.Account{c.After, c.Before} {
			if a != nil && a.ExternalID != "" {
				cp.people[a.ExternalID] = person{Name: c.Label(), Email: a.Email}
				break
			}
		}
	}
	return cp
}

// fingerprint says what the plan depends on that the console can see
// cheaply: the app store's version and the directory's fingerprint.
func (c *console) fingerprint(in *integration) string {
	v, err := c.app.Version()
	if err != nil {
		return "" // never equal to a cached one's
	}
	f := fmt.Sprint("app:", v)
	if in.fingerprint != nil {
		f += " dir:" + in.fingerprint()
	}
	return f
}

// fileFingerprint is an LDIF file's size and modification time.
func fileFingerprint(path string) func() string {
	return func() string {
		fi, err := os.Stat(path)
		if err != nil {
			return "missing " + err.Error()
		}
		return fmt.Sprint(fi.Size(), " ", fi.ModTime().UnixNano())
	}
}

// invalidate drops the integration's plan (something it was made from
// changed) and starts a new one in the background.
func (c *console) invalidate(in *integration) {
	ps := &in.plans
	ps.mu.Lock()
	ps.cur = nil
	ps.gen++
	ps.mu.Unlock()
	c.startPlanning(in)
}

// startPlanning plans the integration in the background unless a
// planning is going on; it returns the channel closed when it ends.
func (c *console) startPlanning(in *integration) chan struct{} {
	ps := &in.plans
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if ps.running != nil {
		return ps.running
	}
	done := make(chan struct{})
	if j := in.Job(); j != nil && j.Running {
		// The sync plans for itself, and its progress is the page's;
		// the plan is made again when it ends (invalidate).
		close(done)
		return done
	}
	ps.running = done
	gen := ps.gen
	ps.readN = 0
	c.wg.Go(func() {
		defer close(done)
		for {
			finger := c.fingerprint(in)
			start := time.Now()
			p, err := in.Syncer().Plan(c.base)
			took := time.Since(start)
			ps.mu.Lock()
			if gen != ps.gen && c.base.Err() == nil {
				// Invalidated meanwhile: plan again, the same pages
				// waiting.
				gen = ps.gen
				ps.readN = 0
				ps.mu.Unlock()
				continue
			}
			ps.running = nil
			if err != nil && !errors.Is(err, dirsync.ErrSafetyLimit) {
				ps.lastErr = err
			} else {
				ps.cur, ps.lastErr = newCachedPlan(p, err, start, took, finger), nil
			}
			ps.mu.Unlock()
			return
		}
	})
	return done
}

// remember makes p, just made by ApplyShown (which found the plan had
// moved), the plan shown.
func (c *console) remember(in *integration, p *dirsync.Plan, err error) {
	if p == nil {
		return
	}
	ps := &in.plans
	ps.mu.Lock()
	defer ps.mu.Unlock()
	ps.gen++
	ps.cur, ps.lastErr = newCachedPlan(p, err, time.Now(), 0, c.fingerprint(in)), nil
}

// errPlanning means a plan is being made and the page should come back.
var errPlanning = errors.New("planning")

// plan returns the plan to show: the cached one while it holds, else a
// new one, waiting up to planWait for it. It returns errPlanning when the
// plan is not ready by then, and a read's failure as it is.
func (c *console) plan(ctx context.Context, in *integration) (*cachedPlan, error) {
	ps := &in.plans
	finger := c.fingerprint(in)
	ps.mu.Lock()
	cur := ps.cur
	ps.mu.Unlock()
	if cur != nil && cur.finger == finger {
		if time.Since(cur.made) > planTTL {
			c.startPlanning(in) // for the next page; this one shows cur
		}
		return cur, nil
	}
	if cur != nil {
		// The app or the directory moved: this plan is not shown again.
		ps.mu.Lock()
		if ps.cur == cur {
			ps.cur = nil
			ps.gen++
		}
		ps.mu.Unlock()
	}
	done := c.startPlanning(in)
	select {
	case <-done:
	case <-time.After(planWait):
		return nil, errPlanning
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if ps.cur != nil {
		return ps.cur, nil
	}
	if ps.lastErr != nil {
		return nil, ps.lastErr
	}
	return nil, errPlanning
}

// shownPlan is the cached plan, or nil.
func (in *integration) shownPlan() *cachedPlan {
	in.plans.mu.Lock()
	defer in.plans.mu.Unlock()
	return in.plans.cur
}

// planningRead is how many entries the planning going on has read.
func (in *integration) planningRead() (int, bool) {
	ps := &in.plans
	ps.mu.Lock()
	defer ps.mu.Unlock()
	return ps.readN, ps.running != nil
}
