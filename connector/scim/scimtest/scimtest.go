// Package scimtest is the conformance suite of scim.Resources, in the
// shape of testing/fstest: TestResources runs a table of named checks on
// fresh resources and returns one error joining every finding, without a
// *testing.T, so that a host that keeps SCIM resources in its own
// database runs it in its tests or a health check. scim.MemoryResources,
// scim.Journal and scimpg's Resources pass it.
//
// Resources that implement scim.Shared also go through the checks of that
// capability: deltas after a sequence number, writes under the lock, a
// failed write that stores nothing, and writes from two handles at once
// that never share a sequence number.
package scimtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"

	"github.com/dirsync-go/dirsync/connector/scim"
)

// Open opens the resources named name. A name the suite has not used
// before must give empty resources; the same name again must give the
// same stored resources: after the suite closed the previous handle (a
// reopen, as after a restart), or, for scim.Shared resources, while it is
// still open (a second process). The suite closes every handle that
// implements io.Closer once it is done with it.
type Open func(ctx context.Context, name string) (scim.Resources, error)

// TestResources runs the conformance checks and returns their failures,
// joined, or nil.
func TestResources(ctx context.Context, open Open) error {
	var errs []error
	for _, c := range checks {
		if err := c.run(ctx, open, c.name); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", c.name, err))
		}
	}
	var probe scim.Resources
	var err error
	if probe, err = open(ctx, "shared-probe"); err != nil {
		return errors.Join(append(errs, fmt.Errorf("open: %w", err))...)
	}
	_, shared := probe.(scim.Shared)
	closeRes(probe)
	if shared {
		for _, c := range sharedChecks {
			if err := c.run(ctx, open, c.name); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", c.name, err))
			}
		}
	}
	return errors.Join(errs...)
}

type check struct {
	name string
	run  func(ctx context.Context, open Open, name string) error
}

var t0 = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

func user(id string, seq uint64, userName string) scim.Record {
	return scim.Record{ID: id, Type: "User", Seq: seq, CreatedSeq: seq, Created: t0, Modified: t0.Add(time.Duration(seq) * time.Millisecond),
		Attrs: []byte(`{"userName":"` + userName + `","active":true}`)}
}

func closeRes(r scim.Resources) {
	if c, ok := r.(io.Closer); ok {
		_ = c.Close()
	}
}

// with opens name, runs f and closes the handle.
func with(ctx context.Context, open Open, name string, f func(scim.Resources) error) error {
	r, err := open(ctx, name)
	if err != nil {
		return fmt.Errorf("open: %w", err)
	}
	defer closeRes(r)
	return f(r)
}

// sameRecords compares what Load returned with what was stored, in any
// order; times to the microsecond.
func sameRecords(got []scim.Record, want ...scim.Record) error {
	if len(got) != len(want) {
		return fmt.Errorf("%d records, want %d: %v", len(got), len(want), ids(got))
	}
	byID := map[string]scim.Record{}
	for _, r := range got {
		byID[r.ID] = r
	}
	for _, w := range want {
		g, ok := byID[w.ID]
		if !ok {
			return fmt.Errorf("record %s missing: got %v", w.ID, ids(got))
		}
		if err := sameRecord(g, w); err != nil {
			return err
		}
	}
	return nil
}

func sameRecord(g, w scim.Record) error {
	if g.ID != w.ID || g.Type != w.Type || g.Seq != w.Seq || g.CreatedSeq != w.CreatedSeq || g.Deleted != w.Deleted ||
		!g.Created.Truncate(time.Microsecond).Equal(w.Created.Truncate(time.Microsecond)) ||
		!g.Modified.Truncate(time.Microsecond).Equal(w.Modified.Truncate(time.Microsecond)) ||
		!bytes.Equal(g.Attrs, w.Attrs) {
		return fmt.Errorf("record %s:\n got %+v (attrs %s)\nwant %+v (attrs %s)", w.ID, g, g.Attrs, w, w.Attrs)
	}
	return nil
}

func ids(recs []scim.Record) []string {
	var out []string
	for _, r := range recs {
		out = append(out, r.ID)
	}
	return out
}

func load(ctx context.Context, r scim.Resources) (*scim.State, error) {
	st, err := r.Load(ctx)
	if err != nil {
		return nil, fmt.Errorf("load: %w", err)
	}
	if st == nil {
		return nil, errors.New("load returned no state")
	}
	return st, nil
}

var checks = []check{
	{"empty", func(ctx context.Context, open Open, name string) error {
		return with(ctx, open, name, func(r scim.Resources) error {
			st, err := load(ctx, r)
			if err != nil {
				return err
			}
			if len(st.Records) != 0 || st.TokenHash != nil {
				return fmt.Errorf("new resources hold %d records and token %x", len(st.Records), st.TokenHash)
			}
			return nil
		})
	}},
	{"load-after-put", func(ctx context.Context, open Open, name string) error {
		return with(ctx, open, name, func(r scim.Resources) error {
			a, b := user("a", 1, "ada"), user("b", 2, "bob")
			g := scim.Record{ID: "g", Type: "Group", Seq: 3, CreatedSeq: 3, Created: t0, Modified: t0,
				Attrs: []byte(`{"displayName":"Admins","members":[{"value":"a"}]}`)}
			for _, x := range []scim.Record{a, b, g} {
				if err := r.Put(ctx, x); err != nil {
					return fmt.Errorf("put %s: %w", x.ID, err)
				}
			}
			st, err := load(ctx, r)
			if err != nil {
				return err
			}
			return sameRecords(st.Records, a, b, g)
		})
	}},
	{"replace", func(ctx context.Context, open Open, name string) error {
		return with(ctx, open, name, func(r scim.Resources) error {
			a := user("a", 1, "ada")
			a2 := a
			a2.Seq, a2.Modified, a2.Attrs = 2, t0.Add(time.Second), []byte(`{"userName":"ada","active":false}`)
			for _, x := range []scim.Record{a, a2} {
				if err := r.Put(ctx, x); err != nil {
					return fmt.Errorf("put: %w", err)
				}
			}
			st, err := load(ctx, r)
			if err != nil {
				return err
			}
			return sameRecords(st.Records, a2)
		})
	}},
	{"tombstone", func(ctx context.Context, open Open, name string) error {
		return with(ctx, open, name, func(r scim.Resources) error {
			a := user("a", 1, "ada")
			gone := scim.Record{ID: "a", Type: "User", Seq: 2, CreatedSeq: 1, Created: t0, Modified: t0.Add(time.Second),
				Deleted: true, Attrs: []byte(`{"externalId":"ext-a"}`)}
			bare := scim.Record{ID: "b", Type: "User", Seq: 3, CreatedSeq: 3, Created: t0, Modified: t0, Deleted: true}
			for _, x := range []scim.Record{a, gone, bare} {
				if err := r.Put(ctx, x); err != nil {
					return fmt.Errorf("put: %w", err)
				}
			}
			st, err := load(ctx, r)
			if err != nil {
				return err
			}
			return sameRecords(st.Records, gone, bare)
		})
	}},
	{"token", func(ctx context.Context, open Open, name string) error {
		return with(ctx, open, name, func(r scim.Resources) error {
			h1, h2 := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32)
			for _, step := range []struct{ set, want []byte }{{h1, h1}, {h2, h2}, {nil, nil}, {h1, h1}} {
				if err := r.SetTokenHash(ctx, step.set); err != nil {
					return fmt.Errorf("set token hash: %w", err)
				}
				st, err := load(ctx, r)
				if err != nil {
					return err
				}
				if !bytes.Equal(st.TokenHash, step.want) || (step.want == nil) != (len(st.TokenHash) == 0) {
					return fmt.Errorf("token hash %x, want %x", st.TokenHash, step.want)
				}
			}
			return nil
		})
	}},
	{"durable-after-reopen", func(ctx context.Context, open Open, name string) error {
		a, b := user("a", 1, "ada"), user("b", 2, "bob")
		h := bytes.Repeat([]byte{7}, 32)
		if err := with(ctx, open, name, func(r scim.Resources) error {
			for _, x := range []scim.Record{a, b} {
				if err := r.Put(ctx, x); err != nil {
					return fmt.Errorf("put: %w", err)
				}
			}
			return r.SetTokenHash(ctx, h)
		}); err != nil {
			return err
		}
		return with(ctx, open, name, func(r scim.Resources) error {
			st, err := load(ctx, r)
			if err != nil {
				return fmt.Errorf("after reopen: %w", err)
			}
			if !bytes.Equal(st.TokenHash, h) {
				return fmt.Errorf("after reopen: token hash %x, want %x", st.TokenHash, h)
			}
			if err := sameRecords(st.Records, a, b); err != nil {
				return fmt.Errorf("after reopen: %w", err)
			}
			// And writable again.
			c := user("c", 3, "cy")
			if err := r.Put(ctx, c); err != nil {
				return fmt.Errorf("put after reopen: %w", err)
			}
			st, err = load(ctx, r)
			if err != nil {
				return err
			}
			return sameRecords(st.Records, a, b, c)
		})
	}},
	{"cancelled-write-stores-nothing", func(ctx context.Context, open Open, name string) error {
		return with(ctx, open, name, func(r scim.Resources) error {
			a := user("a", 1, "ada")
			if err := r.Put(ctx, a); err != nil {
				return fmt.Errorf("put: %w", err)
			}
			done, cancel := context.WithCancel(ctx)
			cancel()
			if err := r.Put(done, user("b", 2, "bob")); err == nil {
				return errors.New("a Put with a cancelled context succeeded")
			}
			if err := r.SetTokenHash(done, bytes.Repeat([]byte{3}, 32)); err == nil {
				return errors.New("a SetTokenHash with a cancelled context succeeded")
			}
			if _, err := r.Load(done); err == nil {
				return errors.New("a Load with a cancelled context succeeded")
			}
			st, err := load(ctx, r)
			if err != nil {
				return err
			}
			if st.TokenHash != nil {
				return fmt.Errorf("the refused token hash was stored: %x", st.TokenHash)
			}
			return sameRecords(st.Records, a)
		})
	}},
	{"separate-names", func(ctx context.Context, open Open, name string) error {
		r1, err := open(ctx, name+"-1")
		if err != nil {
			return fmt.Errorf("open: %w", err)
		}
		defer closeRes(r1)
		r2, err := open(ctx, name+"-2")
		if err != nil {
			return fmt.Errorf("open: %w", err)
		}
		defer closeRes(r2)
		a := user("a", 1, "ada")
		if err := r1.Put(ctx, a); err != nil {
			return err
		}
		if err := r1.SetTokenHash(ctx, bytes.Repeat([]byte{1}, 32)); err != nil {
			return err
		}
		st, err := load(ctx, r2)
		if err != nil {
			return err
		}
		if len(st.Records) != 0 || st.TokenHash != nil {
			return fmt.Errorf("another name's resources show %v and token %x", ids(st.Records), st.TokenHash)
		}
		return nil
	}},
}

// write stores rec (or, when rec is nil, the token hash) at the next
// sequence number through Shared.Write, and returns the delta f saw.
func write(ctx context.Context, sh scim.Shared, since uint64, rec *scim.Record, token []byte) (*scim.Delta, error) {
	var seen *scim.Delta
	err := sh.Write(ctx, since, func(d *scim.Delta) ([]scim.Write, error) {
		seen = d
		if rec == nil {
			return []scim.Write{{Seq: d.Seq + 1, TokenHash: token}}, nil
		}
		r := *rec
		r.Seq = d.Seq + 1
		if r.CreatedSeq == 0 {
			r.CreatedSeq = r.Seq
		}
		return []scim.Write{{Seq: r.Seq, Record: &r}}, nil
	})
	return seen, err
}

func openShared(ctx context.Context, open Open, name string) (scim.Shared, func(), error) {
	r, err := open(ctx, name)
	if err != nil {
		return nil, nil, fmt.Errorf("open: %w", err)
	}
	sh, ok := r.(scim.Shared)
	if !ok {
		closeRes(r)
		return nil, nil, fmt.Errorf("%T is not scim.Shared on every open", r)
	}
	return sh, func() { closeRes(r) }, nil
}

var errRefused = errors.New("scimtest: refused by f")

var sharedChecks = []check{
	{"shared/since", func(ctx context.Context, open Open, name string) error {
		sh, done, err := openShared(ctx, open, name)
		if err != nil {
			return err
		}
		defer done()
		d, err := sh.Since(ctx, 0)
		if err != nil {
			return fmt.Errorf("since 0 on empty resources: %w", err)
		}
		if d.Seq != 0 || len(d.Records) != 0 || d.TokenHash != nil {
			return fmt.Errorf("empty resources: delta %+v", d)
		}
		a, b := user("a", 0, "ada"), user("b", 0, "bob")
		h := bytes.Repeat([]byte{9}, 32)
		for i, step := range []*scim.Record{&a, &b, nil, &a} { // a, b, the token, a again
			if i == 3 {
				a.CreatedSeq = 1
			}
			seen, err := write(ctx, sh, uint64(i), step, h)
			if err != nil {
				return fmt.Errorf("write %d: %w", i+1, err)
			}
			if seen.Seq != uint64(i) || len(seen.Records) != 0 {
				return fmt.Errorf("write %d saw delta seq %d with %d records, want %d and none", i+1, seen.Seq, len(seen.Records), i)
			}
		}
		d, err = sh.Since(ctx, 0)
		if err != nil {
			return err
		}
		if d.Seq != 4 || !bytes.Equal(d.TokenHash, h) {
			return fmt.Errorf("since 0: seq %d token %x, want 4 and %x", d.Seq, d.TokenHash, h)
		}
		if got := ids(d.Records); !slices.Equal(got, []string{"b", "a"}) {
			return fmt.Errorf("since 0: records %v, want [b a] (Seq order, latest versions)", got)
		}
		if d.Records[1].Seq != 4 || d.Records[1].CreatedSeq != 1 {
			return fmt.Errorf("record a: seq %d created %d, want 4 and 1", d.Records[1].Seq, d.Records[1].CreatedSeq)
		}
		for since, want := range map[uint64][]string{1: {"b", "a"}, 2: {"a"}, 3: {"a"}, 4: nil} {
			d, err := sh.Since(ctx, since)
			if err != nil {
				return err
			}
			if got := ids(d.Records); !slices.Equal(got, want) || d.Seq != 4 {
				return fmt.Errorf("since %d: records %v seq %d, want %v and 4", since, got, d.Seq, want)
			}
		}
		// A write that starts behind sees what it missed.
		seen, err := write(ctx, sh, 2, &b, nil)
		if err != nil {
			return err
		}
		if got := ids(seen.Records); seen.Seq != 4 || !slices.Equal(got, []string{"a"}) || !bytes.Equal(seen.TokenHash, h) {
			return fmt.Errorf("write from seq 2 saw seq %d records %v token %x, want 4, [a], %x", seen.Seq, got, seen.TokenHash, h)
		}
		return nil
	}},
	{"shared/refused-write-stores-nothing", func(ctx context.Context, open Open, name string) error {
		sh, done, err := openShared(ctx, open, name)
		if err != nil {
			return err
		}
		defer done()
		a := user("a", 0, "ada")
		if _, err := write(ctx, sh, 0, &a, nil); err != nil {
			return err
		}
		err = sh.Write(ctx, 1, func(d *scim.Delta) ([]scim.Write, error) { return nil, errRefused })
		if !errors.Is(err, errRefused) {
			return fmt.Errorf("write returned %v, want f's error", err)
		}
		if err := sh.Write(ctx, 1, func(d *scim.Delta) ([]scim.Write, error) { return nil, nil }); err != nil {
			return fmt.Errorf("a Write of nothing: %w", err)
		}
		b := user("b", 5, "bob")
		if err := sh.Write(ctx, 1, func(d *scim.Delta) ([]scim.Write, error) {
			return []scim.Write{{Seq: 5, Record: &b}}, nil // not the next sequence number
		}); err == nil {
			return errors.New("a write at sequence number 5 after 1 was stored")
		}
		c1, c2 := user("c1", 2, "c1"), user("c2", 4, "c2")
		if err := sh.Write(ctx, 1, func(d *scim.Delta) ([]scim.Write, error) {
			return []scim.Write{{Seq: 2, Record: &c1}, {Seq: 4, Record: &c2}}, nil // the second skips 3
		}); err == nil {
			return errors.New("writes at sequence numbers 2 and 4 after 1 were stored")
		}
		done2, cancel := context.WithCancel(ctx)
		cancel()
		if err := sh.Write(done2, 1, func(d *scim.Delta) ([]scim.Write, error) {
			c := user("c", d.Seq+1, "cy")
			return []scim.Write{{Seq: d.Seq + 1, Record: &c}}, nil
		}); err == nil {
			return errors.New("a Write with a cancelled context succeeded")
		}
		d, err := sh.Since(ctx, 0)
		if err != nil {
			return err
		}
		if d.Seq != 1 || !slices.Equal(ids(d.Records), []string{"a"}) {
			return fmt.Errorf("after refused writes: seq %d records %v, want 1 and [a]", d.Seq, ids(d.Records))
		}
		return nil
	}},
	{"shared/several-writes-at-once", func(ctx context.Context, open Open, name string) error {
		sh, done, err := openShared(ctx, open, name)
		if err != nil {
			return err
		}
		defer done()
		a, b := user("a", 1, "ada"), user("b", 2, "bob")
		a2 := a
		a2.Seq, a2.Attrs = 4, []byte(`{"userName":"ada","active":false}`)
		h := bytes.Repeat([]byte{5}, 32)
		if err := sh.Write(ctx, 0, func(d *scim.Delta) ([]scim.Write, error) {
			return []scim.Write{{Seq: 1, Record: &a}, {Seq: 2, Record: &b}, {Seq: 3, TokenHash: h}, {Seq: 4, Record: &a2}}, nil
		}); err != nil {
			return err
		}
		d, err := sh.Since(ctx, 0)
		if err != nil {
			return err
		}
		if d.Seq != 4 || !bytes.Equal(d.TokenHash, h) || !slices.Equal(ids(d.Records), []string{"b", "a"}) {
			return fmt.Errorf("seq %d token %x records %v, want 4, %x, [b a]", d.Seq, d.TokenHash, ids(d.Records), h)
		}
		return sameRecords(d.Records, b, a2)
	}},
	{"shared/two-handles-serialise", func(ctx context.Context, open Open, name string) error {
		// Two handles (two replicas) write at once; each write reads the
		// previous one's sequence number under the lock, so the numbers
		// are 1..n, once each, and no write is lost.
		const perHandle, workers = 20, 4
		var handles []scim.Shared
		for range 2 {
			sh, done, err := openShared(ctx, open, name)
			if err != nil {
				return err
			}
			defer done()
			handles = append(handles, sh)
		}
		var mu sync.Mutex
		var errs []error
		var wg sync.WaitGroup
		for h, sh := range handles {
			for w := range workers {
				wg.Go(func() {
					for i := range perHandle / workers {
						id := fmt.Sprintf("h%d-w%d-%d", h, w, i)
						r := user(id, 0, id)
						if _, err := write(ctx, sh, 0, &r, nil); err != nil {
							mu.Lock()
							errs = append(errs, err)
							mu.Unlock()
						}
					}
				})
			}
		}
		wg.Wait()
		if len(errs) > 0 {
			return errors.Join(errs...)
		}
		d, err := handles[1].Since(ctx, 0)
		if err != nil {
			return err
		}
		n := 2 * perHandle
		if d.Seq != uint64(n) || len(d.Records) != n {
			return fmt.Errorf("seq %d with %d records, want %d and %d", d.Seq, len(d.Records), n, n)
		}
		for i, r := range d.Records {
			if r.Seq != uint64(i+1) {
				return fmt.Errorf("record %d has seq %d: sequence numbers repeat or skip", i, r.Seq)
			}
		}
		return nil
	}},
}
