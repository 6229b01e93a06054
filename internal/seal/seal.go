// Package seal hashes a plan's changes: what Apply trusts of a Plan value
// whatever a host does to its exported fields.
package seal

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"hash"
	"hash/maphash"
	"io"
	"slices"
	"strconv"

	"github.com/dirsync-go/dirsync/diff"
)

// A plan's integrity rests on a hash of each actionable change: its op, its
// key, its field changes, and the identity of the app account it touches
// (app ID, integration, external ID, managed and blocked flags). Timestamps
// such as BlockedAt are left out, so that the same directory planned twice
// hashes the same.
//
// Two uses:
//   - the Syncer records the hash of the whole plan when it makes it; Apply
//     saves the connector's cursor only when the plan it is given still
//     hashes the same, so a subset (Search, or any selection) never moves
//     the cursor past the changes left out;
//   - Approve records the hash of every change; Apply lets a plan over the
//     safety limits through only when each of its changes is among them.
//
// Inside a process the fast maphash serves; Digest, which crosses
// processes (a host shows it and hands it back to ApprovePending), is a
// SHA-256 of the same encoding.

var sealSeed = maphash.MakeSeed()

// changeWriter encodes changes into a hash, each value length-prefixed so
// that no two different changes encode alike.
type changeWriter struct {
	h   io.Writer
	buf []byte
}

func (w *changeWriter) str(s string) {
	w.buf = strconv.AppendInt(w.buf[:0], int64(len(s)), 10)
	w.buf = append(w.buf, ':')
	w.buf = append(w.buf, s...)
	_, _ = w.h.Write(w.buf)
}

func (w *changeWriter) flag(b bool) {
	if b {
		w.str("1")
	} else {
		w.str("0")
	}
}

func (w *changeWriter) account(a *diff.Account) {
	if a == nil {
		w.str("-")
		return
	}
	w.str("+")
	w.str(a.ID)
	w.str(a.Source)
	w.str(a.ExternalID)
	w.str(a.Email)
	w.flag(a.Managed)
	w.flag(a.Blocked)
}

func (w *changeWriter) change(c *diff.Change) {
	w.str(c.Op.String())
	w.str(c.Key)
	w.str(strconv.Itoa(len(c.Fields)))
	for _, f := range c.Fields {
		w.str(f.Name)
		w.str(f.Old)
		w.str(f.New)
	}
	w.str(strconv.Itoa(len(c.Department)))
	for _, d := range c.Department {
		w.str(d)
	}
	w.account(c.Before)
	w.account(c.After)
}

// Change is the in-process hash of one change.
func Change(c *diff.Change) uint64 {
	var h maphash.Hash
	h.SetSeed(sealSeed)
	w := changeWriter{h: &h}
	w.change(c)
	return h.Sum64()
}

// Plan is the in-process hash of a plan's actionable changes, in order,
// and how many there are. With hashes set, it also returns the hash of
// each actionable change, in order (the whole hash is made of them).
func Plan(p *diff.Plan, hashes bool) (whole uint64, n int, each []uint64) {
	var h maphash.Hash
	h.SetSeed(sealSeed)
	var one maphash.Hash
	one.SetSeed(sealSeed)
	w := changeWriter{h: &one}
	var b [8]byte
	h.WriteString(p.Source)
	for i := range p.Changes {
		if c := &p.Changes[i]; c.Op.Actionable() {
			one.Reset()
			w.change(c)
			x := one.Sum64()
			if hashes {
				each = append(each, x)
			}
			binary.LittleEndian.PutUint64(b[:], x)
			h.Write(b[:])
			n++
		}
	}
	return h.Sum64(), n, each
}

// AsMade marks the changes of p that are, in order, among the changes
// made (the hashes seal returned when the plan was made): a host's subset
// of the plan keeps them, an edited, added or reordered change is foreign.
func AsMade(p *diff.Plan, made []uint64) []bool {
	out := make([]bool, len(p.Changes))
	j := 0
	for i := range p.Changes {
		c := &p.Changes[i]
		if !c.Op.Actionable() {
			continue
		}
		h := Change(c)
		for j < len(made) && made[j] != h {
			j++
		}
		if j < len(made) {
			out[i] = true
			j++
		}
	}
	return out
}

// Approvals returns the sorted hashes of the plan's actionable changes.
func Approvals(p *diff.Plan) []uint64 {
	set := make([]uint64, 0, len(p.Changes))
	for i := range p.Changes {
		if c := &p.Changes[i]; c.Op.Actionable() {
			set = append(set, Change(c))
		}
	}
	slices.Sort(set)
	return slices.Compact(set)
}

// Digest is the SHA-256 of a plan's actionable changes, in hex.
func Digest(p *diff.Plan) string {
	var h hash.Hash = sha256.New()
	w := changeWriter{h: h}
	w.str(p.Source)
	for i := range p.Changes {
		if c := &p.Changes[i]; c.Op.Actionable() {
			w.change(c)
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}
