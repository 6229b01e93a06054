package google

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/dirsync-go/dirsync/connector"
)

// cursorVersion changes whenever the hash input changes, so an old cursor
// is refused (ErrCursorExpired) rather than reporting every entry changed.
const cursorVersion = 1

// cursor is what ReadChanges remembers: one hash per entry read, and the
// part of the configuration that decides what a read contains.
type cursor struct {
	V      int               `json:"v"`
	Scope  string            `json:"scope"`
	Hashes map[string]string `json:"h"` // ID → kind letter + hash
}

func (c *Connector) scopeKey() string {
	return fmt.Sprintf("customer=%s;domain=%s;query=%s;schemas=%v", c.cfg.Customer, c.cfg.Domain, c.cfg.Query, c.cfg.CustomSchemas)
}

// ReadChanges implements connector.Incremental. Google has no delta
// token, so every call does a full read; it then yields only the entries
// whose content (attributes, Path, Disabled, memberships) differs from the
// read that produced since, and a tombstone (Deleted, with ID and Kind) for
// every entry that is gone. Groups are compared like users: a group whose
// name or direct members changed is yielded complete, with its current
// Members, and so is every user whose transitive MemberOf changed with it
// (see the package documentation). A nil since yields everything. A cursor that is
// malformed, of another version, or from a configuration with another
// customer, domain, query or custom-schema list fails with
// connector.ErrCursorExpired.
func (c *Connector) ReadChanges(ctx context.Context, since connector.Cursor, yield func(connector.Entry) error) (connector.Cursor, error) {
	var prev *cursor
	if since != nil {
		var cur cursor
		if err := json.Unmarshal(since, &cur); err != nil || cur.V != cursorVersion || cur.Hashes == nil {
			return nil, fmt.Errorf("google: cursor is not one of this connector's: %w", connector.ErrCursorExpired)
		}
		if cur.Scope != c.scopeKey() {
			return nil, fmt.Errorf("google: cursor is for another configuration: %w", connector.ErrCursorExpired)
		}
		prev = &cur
	}
	entries, err := c.readAll(ctx)
	if err != nil {
		return nil, err
	}
	next := cursor{V: cursorVersion, Scope: c.scopeKey(), Hashes: make(map[string]string, len(entries))}
	for i := range entries {
		e := &entries[i]
		h := kindLetter(e.Kind) + hashEntry(e)
		next.Hashes[e.ID] = h
		if prev != nil && prev.Hashes[e.ID] == h {
			continue
		}
		if err := yield(*e); err != nil {
			return nil, err
		}
	}
	if prev != nil {
		var gone []string
		for id := range prev.Hashes {
			if _, ok := next.Hashes[id]; !ok {
				gone = append(gone, id)
			}
		}
		slices.Sort(gone)
		for _, id := range gone {
			kind := connector.KindUser
			if h := prev.Hashes[id]; h != "" {
				switch h[0] {
				case 'g':
					kind = connector.KindGroup
				case 'o':
					kind = connector.KindOrgUnit
				}
			}
			if err := yield(connector.Entry{ID: id, Kind: kind, Deleted: true}); err != nil {
				return nil, err
			}
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	b, err := json.Marshal(next)
	if err != nil {
		return nil, fmt.Errorf("google: encode cursor: %w", err)
	}
	return b, nil
}

func kindLetter(k connector.Kind) string {
	switch k {
	case connector.KindGroup:
		return "g"
	case connector.KindOrgUnit:
		return "o"
	}
	return "u"
}

// hashEntry hashes everything a consumer sees of e, in a fixed order.
func hashEntry(e *connector.Entry) string {
	h := sha256.New()
	var n [8]byte
	put := func(s string) {
		binary.LittleEndian.PutUint64(n[:], uint64(len(s)))
		h.Write(n[:])
		h.Write([]byte(s))
	}
	list := func(tag string, vs []string) {
		put(tag)
		binary.LittleEndian.PutUint64(n[:], uint64(len(vs)))
		h.Write(n[:])
		for _, v := range vs {
			put(v)
		}
	}
	put(string(e.Kind))
	if e.Disabled {
		put("disabled")
	}
	list("path", e.Path)
	list("memberOf", e.MemberOf)
	list("members", e.Members)
	for _, k := range sortedKeys(e.Attrs) {
		list(k, e.Attrs[k])
	}
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil)[:15])
}
