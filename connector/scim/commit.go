package scim

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// BatchPutter is the optional capability of Resources that store several
// records as one write: a Server on such resources commits the writes of
// concurrent requests in groups, one PutBatch (for a Journal, one write
// and one sync) acknowledging every write of the group.
//
// PutBatch stores recs durably, in order, or none of them: when it
// fails, no record of recs may be found by a later Load (a Journal cuts
// the batch off its file). The Server calls it for one batch at a time.
// Journal implements it.
type BatchPutter interface {
	PutBatch(ctx context.Context, recs []Record) error
}

var _ BatchPutter = (*Journal)(nil)

// errRolledBack answers the writes that were applied after a write whose
// batch failed: they were validated against a state that never became
// durable, so they are rolled back with it.
var errRolledBack = errors.New("scim: an earlier write this one depended on could not be stored; it was rolled back")

// Group commit through the handler (Resources that are a BatchPutter):
//
//  1. under wmu, a write is validated against the Server's state, which
//     includes the writes still in flight, applied to it at once (so the
//     next write is validated against it, in order), and queued in the
//     next batch; wmu is released;
//  2. the first writer that finds no batch being stored stores the queued
//     batch with one PutBatch, outside every lock; the writes that arrive
//     meanwhile queue as the following batch;
//  3. each write is answered once its batch is durable.
//
// Reads (read, snapshot) wait until what they saw is durable, so no
// client ever sees a write that is not. When a batch fails, the Server
// rolls back that batch and the following one (whose writes were
// validated against it), in reverse order, back to the durable state,
// under wmu so that no write slips in meanwhile: the writers of the
// failed batch get its error (500), those of the following one
// errRolledBack (500), and readers that waited read the rolled-back
// state.

// commitQueue is the Server's batches in flight.
type commitQueue struct {
	mu       sync.Mutex
	done     sync.Cond   // signalled (on mu) when a batch is done
	flushing bool        // a batch is being stored (by its leader, outside mu)
	next     *pending    // the batch that writes join; nil when none waits
	ops      []*sharedOp // Shared resources: the writes that wait for the next Write
}

func (q *commitQueue) init() { q.done.L = &q.mu }

// pending is one batch of writes: their records and, to roll them back,
// what each replaced.
type pending struct {
	recs []Record
	undo []undo
	done bool  // stored or failed; guarded by commitQueue.mu
	err  error // the answer to every write of the batch
}

type undo struct {
	rec  *record
	prev *record // nil: rec created the resource
}

// writeBatched is write for a BatchPutter.
func (s *Server) writeBatched(ctx context.Context, rt *resourceType, id string, mutate func(cur *record) (map[string]any, error)) (*record, bool, error) {
	s.wmu.Lock()
	rec, changed, err := s.prepare(rt, id, mutate, s.currentSeq()+1)
	if err != nil || !changed {
		s.mu.RLock()
		gen := s.gen
		s.mu.RUnlock()
		s.wmu.Unlock()
		if err != nil {
			return nil, false, err
		}
		// Nothing to write; the version it equals may be in flight.
		if err := s.read(ctx, func() {}); err != nil {
			return nil, false, err
		}
		s.mu.RLock()
		kept := s.gen == gen || s.lookup(rt, rec.ID) == rec
		s.mu.RUnlock()
		if !kept {
			return nil, false, errRolledBack
		}
		return rec, false, nil
	}
	s.mu.Lock()
	var prev *record
	if i, ok := s.index[rec.ID]; ok {
		prev = s.recs[i]
	}
	s.putLocked(rec)
	s.seq = rec.Seq
	s.mu.Unlock()

	q := &s.commit
	q.mu.Lock()
	if q.next == nil {
		q.next = &pending{}
	}
	bt := q.next
	bt.recs = append(bt.recs, rec.Record)
	bt.undo = append(bt.undo, undo{rec: rec, prev: prev})
	s.wmu.Unlock()
	for q.flushing && !bt.done {
		q.done.Wait()
	}
	if bt.done {
		q.mu.Unlock()
		return s.answer(rt, rec, bt.err)
	}
	// This writer stores the batch; writes that arrive meanwhile form
	// the next one.
	q.next = nil
	q.flushing = true
	q.mu.Unlock()
	// The batch is shared: one client going away must not fail the
	// others' writes.
	err = s.batcher.PutBatch(context.WithoutCancel(ctx), bt.recs)
	if err != nil {
		s.rollback(bt, err)
		return s.answer(rt, rec, err)
	}
	last := bt.recs[len(bt.recs)-1].Seq
	q.mu.Lock()
	s.mu.Lock()
	s.durable = last
	s.signalLocked()
	s.mu.Unlock()
	bt.done = true
	q.flushing = false
	q.done.Broadcast()
	q.mu.Unlock()
	return rec, true, nil
}

func (s *Server) answer(rt *resourceType, rec *record, err error) (*record, bool, error) {
	if err != nil {
		return nil, false, fmt.Errorf("scim: store %s %s: %w", rt.name, rec.ID, err)
	}
	return rec, true, nil
}

// rollback undoes the failed batch bt and the batch queued behind it,
// and answers their writers.
func (s *Server) rollback(bt *pending, err error) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	q := &s.commit
	q.mu.Lock()
	defer q.mu.Unlock()
	later := q.next
	q.next = nil
	s.mu.Lock()
	if later != nil {
		s.undoLocked(later.undo)
	}
	s.undoLocked(bt.undo)
	s.seq = bt.recs[0].Seq - 1
	s.gen++
	s.signalLocked()
	s.mu.Unlock()
	if later != nil {
		later.done, later.err = true, errRolledBack
	}
	bt.done, bt.err = true, err
	q.flushing = false
	q.done.Broadcast()
	s.log.Error("scim: a batch of writes could not be stored; rolled back", "writes", len(bt.recs),
		"rolled back after it", countUndo(later), "err", err)
}

func countUndo(p *pending) int {
	if p == nil {
		return 0
	}
	return len(p.undo)
}

// undoLocked restores what the writes replaced, the last first. The
// caller holds mu.
func (s *Server) undoLocked(us []undo) {
	for i := len(us) - 1; i >= 0; i-- {
		u := us[i]
		if u.prev != nil {
			s.putLocked(u.prev)
			continue
		}
		// A created resource: the last one appended.
		if k := nameKey(u.rec); k != "" && s.names[k] == u.rec.ID {
			delete(s.names, k)
		}
		if k := goneKey(u.rec.Type, u.rec.gone); u.rec.Deleted && u.rec.gone != "" && s.gone[k] == u.rec.ID {
			delete(s.gone, k)
		}
		n := s.index[u.rec.ID]
		s.recs = append(s.recs[:n], s.recs[n+1:]...)
		delete(s.index, u.rec.ID)
		for j := n; j < len(s.recs); j++ {
			s.index[s.recs[j].ID] = j
		}
	}
}

// signalLocked wakes the reads that wait for durable or gen. The caller
// holds mu for writing.
func (s *Server) signalLocked() {
	close(s.settled)
	s.settled = make(chan struct{})
}

// read runs f under the read lock and returns once every write f could
// have seen is durable. When a rollback happened meanwhile, f runs again
// on the rolled-back state. Without writes in flight it returns at once.
func (s *Server) read(ctx context.Context, f func()) error {
	for {
		s.mu.RLock()
		f()
		target, gen, durable, ch := s.seq, s.gen, s.durable, s.settled
		s.mu.RUnlock()
		if durable >= target {
			return nil
		}
		for again := false; !again; {
			select {
			case <-ch:
			case <-ctx.Done():
				return ctx.Err()
			}
			s.mu.RLock()
			g := s.gen
			durable, ch = s.durable, s.settled
			s.mu.RUnlock()
			switch {
			case g != gen:
				again = true
			case durable >= target:
				return nil
			}
		}
	}
}

// Group commit on Shared resources: the requests that arrive while one
// Shared.Write runs queue, and the first of them, once it is done, makes
// the next Write for all of them. Under the integration's lock it catches
// up, then validates and applies each request in order (each against the
// state the ones before it left), and stores them in one transaction;
// each request is answered once that transaction committed. Readers wait
// for the writes applied meanwhile to be durable (read); when the Write
// fails, all of them are rolled back and every request of the batch gets
// 500 (even one that was refused: it was refused against a state that
// never became durable).

// sharedOp is one request's write waiting for a Shared.Write.
type sharedOp struct {
	rt      *resourceType
	id      string
	mutate  func(cur *record) (map[string]any, error)
	rec     *record
	changed bool
	err     error
	done    bool // guarded by commitQueue.mu
}

// writeShared is write for Shared resources.
func (s *Server) writeShared(ctx context.Context, rt *resourceType, id string, mutate func(cur *record) (map[string]any, error)) (*record, bool, error) {
	op := &sharedOp{rt: rt, id: id, mutate: mutate}
	q := &s.commit
	q.mu.Lock()
	q.ops = append(q.ops, op)
	for q.flushing && !op.done {
		q.done.Wait()
	}
	if !op.done {
		ops := q.ops
		q.ops = nil
		q.flushing = true
		q.mu.Unlock()
		// The batch is shared: one client going away must not fail the
		// others' writes.
		s.storeShared(context.WithoutCancel(ctx), ops)
		q.mu.Lock()
		for _, o := range ops {
			o.done = true
		}
		q.flushing = false
		q.done.Broadcast()
	}
	q.mu.Unlock()
	return op.rec, op.changed, op.err
}

// storeShared validates, applies and stores ops in one Shared.Write, and
// sets each op's answer.
func (s *Server) storeShared(ctx context.Context, ops []*sharedOp) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	var undos []undo
	var base uint64
	err := s.shared.Write(ctx, s.currentSeq(), func(d *Delta) ([]Write, error) {
		if err := s.applyDelta(d); err != nil {
			return nil, err
		}
		if seq := s.currentSeq(); seq != d.Seq {
			return nil, fmt.Errorf("%w: the shared resources are at sequence number %d, behind this server's %d (restored from a backup? restart the servers)",
				ErrCorruptResources, d.Seq, seq)
		}
		base = d.Seq
		var ws []Write
		for _, op := range ops {
			op.rec, op.changed, op.err = s.prepare(op.rt, op.id, op.mutate, d.Seq+uint64(len(ws))+1)
			if op.err != nil || !op.changed {
				continue
			}
			s.mu.Lock()
			var prev *record
			if i, ok := s.index[op.rec.ID]; ok {
				prev = s.recs[i]
			}
			s.putLocked(op.rec)
			s.seq = op.rec.Seq
			s.mu.Unlock()
			undos = append(undos, undo{rec: op.rec, prev: prev})
			ws = append(ws, Write{Seq: op.rec.Seq, Record: &op.rec.Record})
		}
		return ws, nil
	})
	s.mu.Lock()
	defer s.mu.Unlock()
	if err == nil {
		if s.durable < s.seq {
			s.durable = s.seq
			s.signalLocked()
		}
		return
	}
	if len(undos) > 0 {
		// A commit whose outcome is unknown may have stored them after
		// all: the next catch-up brings them back then.
		s.undoLocked(undos)
		s.seq = base
		s.gen++
		s.signalLocked()
	}
	for _, op := range ops {
		op.rec, op.changed = nil, false
		op.err = fmt.Errorf("scim: store %s: %w", op.rt.name, err)
	}
}
