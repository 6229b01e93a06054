package fake

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"

	"github.com/dirsync-go/dirsync/connector"
)

// Over random scripts of mutations: applying each incremental read to the
// previous state gives exactly what a full read returns.
func TestIncrementalMatchesFullReadProperty(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		d := New(Company(rapid.IntRange(0, 30).Draw(rt, "users"), rapid.Int64().Draw(rt, "seed"))...)
		if rapid.Bool().Draw(rt, "shuffle") {
			d.Shuffle(rapid.Int64().Draw(rt, "order"))
		}
		state := map[string]connector.Entry{}
		cursor, err := d.ReadChanges(t.Context(), nil, func(e connector.Entry) error {
			state[e.ID] = e
			return nil
		})
		require.NoError(rt, err)

		next := 1000
		for step := range rapid.IntRange(1, 8).Draw(rt, "steps") {
			live := ids(readAll(t, d))
			for op := range rapid.IntRange(0, 4).Draw(rt, fmt.Sprint("ops", step)) {
				label := fmt.Sprintf("%d.%d", step, op)
				pick := func(name string) string {
					if len(live) == 0 {
						return "none"
					}
					return rapid.SampledFrom(live).Draw(rt, name+label)
				}
				switch rapid.IntRange(0, 7).Draw(rt, "op"+label) {
				case 0:
					next++
					_ = d.Add(person(fmt.Sprint("new", next), fmt.Sprint("n", next), "Users"))
				case 1:
					_ = d.Set(pick("set"), "title", rapid.StringMatching(`[a-z]{0,3}`).Draw(rt, "title"+label))
				case 2:
					_ = d.Disable(pick("disable"))
				case 3:
					_ = d.Enable(pick("enable"))
				case 4:
					_ = d.Delete(pick("delete"))
				case 5:
					_ = d.Move(pick("move"), "Moved", rapid.StringMatching(`[A-Z][a-z]{0,3}`).Draw(rt, "ou"+label))
				case 6:
					_ = d.AddMember(pick("group"), pick("member"))
				case 7:
					_ = d.RemoveMember(pick("group"), pick("member"))
				}
			}
			cursor, err = d.ReadChanges(t.Context(), cursor, func(e connector.Entry) error {
				if e.Deleted {
					delete(state, e.ID)
				} else {
					state[e.ID] = e
				}
				return nil
			})
			require.NoError(rt, err)

			full := readAll(t, d)
			require.Len(rt, state, len(full))
			for _, e := range full {
				require.Equal(rt, e, state[e.ID])
			}
		}
	})
}
