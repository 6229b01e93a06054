package dirsync

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/dirsync-go/dirsync/connector"
	"github.com/dirsync-go/dirsync/diff"
	"github.com/dirsync-go/dirsync/internal/planner"
	"github.com/dirsync-go/dirsync/store"
)

// The integration's state in the Store, under "integration/<source>/":
// "cursor" (cursorState), "exceptions", "history" and "pending".

// cursorState is what the Store keeps of an integration's change stream.
type cursorState struct {
	Cursor connector.Cursor `json:"cursor"`
	// LastFull is when the last full read was applied.
	LastFull time.Time `json:"lastFull"`
	// Managed is how many accounts the integration managed after that
	// read, for the safety limits of incremental plans.
	Managed int `json:"managed,omitempty"`
	// Config fingerprints the mapping and policy of that read: when they
	// change, the next read is full, since accounts the old rules left
	// alone may now be in scope, and the other way round.
	Config string `json:"config,omitempty"`
	// JoinConflicts are the external IDs several entries map to, as the
	// last full read and the incremental plans since found them. A change
	// to an entry that maps to one is planned from a full read, so that
	// the account never follows whichever of them changed last.
	JoinConflicts []string `json:"joinConflicts,omitempty"`
}

// loadState reads what a plan needs of the integration's state, once per
// plan: the cursor with its bookkeeping, and the persisted exceptions.
func (s *Syncer) loadState(ctx context.Context) (*planner.State, error) {
	cs, err := s.loadCursor(ctx)
	if err != nil {
		return nil, err
	}
	extra, err := s.Exceptions(ctx)
	if err != nil {
		return nil, err
	}
	return &planner.State{Cursor: cs.Cursor, LastFull: cs.LastFull, Managed: cs.Managed, Config: cs.Config,
		JoinConflicts: cs.JoinConflicts, Exceptions: extra}, nil
}

func (s *Syncer) loadCursor(ctx context.Context) (cursorState, error) {
	var st cursorState
	if err := s.getJSON(ctx, s.key("cursor"), &st); err != nil && !errors.Is(err, ErrNotFound) {
		return cursorState{}, err
	}
	return st, nil
}

// saveCursor records the cursor of an applied plan. It is called only when
// every change of that plan applied, so the cursor is never ahead of the
// applied work: after a failure the next plan re-reads from the old one.
// With the cursor it keeps how many accounts the integration manages now,
// for the safety limits of later incremental plans: the count the plan was
// made with, plus the accounts it created or adopted, minus those it
// deleted. r is nil for a plan with nothing to apply.
func (s *Syncer) saveCursor(ctx context.Context, p *Plan, r *Report) error {
	managed := p.facts.managed
	if r != nil {
		for i := range r.Results {
			res := &r.Results[i]
			if res.Status != StatusApplied {
				continue
			}
			switch c := &res.Change; {
			case c.Op == diff.OpCreate:
				managed++
			case c.Op == diff.OpDelete && c.Before != nil && c.Before.Managed && c.Before.Source == s.source:
				managed--
			case c.Before != nil && !(c.Before.Managed && c.Before.Source == s.source) &&
				c.After != nil && c.After.Managed && c.After.Source == s.source:
				managed++ // adopted
			}
		}
	}
	return updateJSON(ctx, s.store, s.key("cursor"), func(st *cursorState) error {
		st.Cursor = p.cursor
		st.JoinConflicts = joinConflicts(st.JoinConflicts, p)
		st.Managed = max(managed, 0)
		if !p.facts.incremental {
			st.LastFull = p.Created
			st.Config = p.config
		}
		return nil
	})
}

// joinConflicts returns the external IDs that several entries claim,
// after p: those p found, and for an incremental p also those known before
// (only a full read sees every entry, so only it clears one).
func joinConflicts(known []string, p *Plan) []string {
	var out []string
	if p.facts.incremental {
		out = slices.Clone(known)
	}
	for i := range p.Changes {
		if c := &p.Changes[i]; c.After != nil && c.HasReason(diff.ReasonJoinConflict) {
			out = append(out, c.After.ExternalID)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func (s *Syncer) key(name string) string { return "integration/" + s.source + "/" + name }

func (s *Syncer) getJSON(ctx context.Context, key string, v any) error {
	b, err := s.store.Get(ctx, key)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%w: key %s: %v", ErrCorruptStore, store.QuoteKey(key), err)
	}
	return nil
}
