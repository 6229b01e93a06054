package connectortest

import (
	"context"
	"fmt"
	"iter"
	"sync"

	"github.com/dirsync-go/dirsync/connector"
)

// testConn is a connector whose faults the tests switch on one by one.
type testConn struct {
	mu      sync.Mutex
	entries []connector.Entry
	reads   int

	ignoreCancel  bool            // never looks at ctx
	wrongCancel   error           // yields this instead of ctx.Err()
	hangOnCancel  bool            // blocks when ctx is done
	unstable      bool            // IDs change from read to read
	shared        bool            // yields the stored entries, not copies
	ignoreBreak   bool            // goes on calling yield after false
	yieldAfterErr bool            // yields an entry after an error
	failRead      error           // every read fails at once
	stop          <-chan struct{} // closed when the test ends, frees hangs
}

func (c *testConn) Read(ctx context.Context) iter.Seq2[connector.Entry, error] {
	return func(yield func(connector.Entry, error) bool) {
		c.mu.Lock()
		c.reads++
		read := c.reads
		c.mu.Unlock()
		if c.failRead != nil {
			yield(connector.Entry{}, c.failRead)
			return
		}
		for _, e := range c.entries {
			if !c.ignoreCancel && ctx.Err() != nil {
				switch {
				case c.hangOnCancel:
					<-c.stop
					return
				case c.wrongCancel != nil:
					yield(connector.Entry{}, c.wrongCancel)
				default:
					yield(connector.Entry{}, fmt.Errorf("testconn: %w", ctx.Err()))
				}
				if c.yieldAfterErr {
					yield(c.entries[0].Clone(), nil)
				}
				return
			}
			if !c.shared {
				e = e.Clone()
			}
			if c.unstable {
				e.ID = fmt.Sprintf("%s-%d", e.ID, read)
			}
			if !yield(e, nil) && !c.ignoreBreak {
				return
			}
		}
	}
}

func user(id string, memberOf ...string) connector.Entry {
	return connector.Entry{ID: id, Kind: connector.KindUser, DN: "CN=" + id + ",OU=Users,DC=example,DC=test",
		Path: []string{"Users"}, Attrs: connector.Attrs{"samaccountname": {id}}, MemberOf: memberOf}
}

func group(id string, members ...string) connector.Entry {
	return connector.Entry{ID: id, Kind: connector.KindGroup, DN: "CN=" + id + ",OU=Groups,DC=example,DC=test",
		Path: []string{"Groups"}, Attrs: connector.Attrs{"cn": {id}}, Members: members}
}

func sample() []connector.Entry {
	return []connector.Entry{user("u1", "g1"), user("u2"), user("u3", "g1"), group("g1", "u1", "u3")}
}
