package scim_test

import (
	"context"
	"net/http"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/dirsync-go/dirsync/connector/scim"
)

// OnChange calls never overlap; writes accepted while one runs coalesce
// into exactly one more call; refused requests and reads call nothing; a
// panicking OnChange is recovered and later writes still call it.
func TestOnChangeCoalesces(t *testing.T) {
	var mu sync.Mutex
	calls, running, most := 0, 0, 0
	gate := make(chan struct{})
	first := make(chan struct{})
	var once sync.Once
	onChange := func(context.Context) {
		mu.Lock()
		calls++
		n := calls
		running++
		most = max(most, running)
		mu.Unlock()
		if n == 1 {
			once.Do(func() { close(first) })
			<-gate
		}
		if n == 3 {
			panic("host bug")
		}
		mu.Lock()
		running--
		mu.Unlock()
	}
	srv, c := open(t, scim.Config{OnChange: onChange})
	id := newUser(t, c, "a@x")
	<-first
	for i := range 10 {
		c.do(http.MethodPatch, "/Users/"+id, patchOp(map[string]any{"op": "replace", "path": "title", "value": itoa(i)})).mustStatus(t, http.StatusOK)
	}
	c.do(http.MethodGet, "/Users", nil).mustStatus(t, http.StatusOK)
	c.do(http.MethodPost, "/Users", map[string]any{"schemas": []string{scim.URNUser}, "userName": "a@x"}).scimError(t, http.StatusConflict, "uniqueness")
	close(gate)
	srv.Wait()
	mu.Lock()
	assert.Equal(t, 2, calls, "the first call, then one for the ten writes made during it")
	assert.Equal(t, 1, most, "calls never overlap")
	mu.Unlock()

	// An unchanged PATCH, a refused request and reads call nothing.
	c.do(http.MethodPatch, "/Users/"+id, patchOp(map[string]any{"op": "replace", "path": "title", "value": "9"})).mustStatus(t, http.StatusOK)
	c.do(http.MethodGet, "/Users/"+id, nil).mustStatus(t, http.StatusOK)
	srv.Wait()
	mu.Lock()
	assert.Equal(t, 2, calls)
	mu.Unlock()

	// The third call panics; the fourth still comes.
	newUser(t, c, "b@x")
	srv.Wait()
	mu.Lock()
	running = 0
	mu.Unlock()
	newUser(t, c, "c@x")
	srv.Wait()
	mu.Lock()
	assert.Equal(t, 4, calls)
	mu.Unlock()
}
