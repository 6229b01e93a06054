package scim

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Group commit through the handler, on a Journal whose syncs a test
// holds and fails (faultyFile).

type handlerClient struct {
	t     *testing.T
	srv   *Server
	token string
}

func (c handlerClient) do(method, path, body string) (int, map[string]any) {
	req := httptest.NewRequest(method, "https://app.example.com/scim/v2"+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Content-Type", "application/scim+json")
	w := httptest.NewRecorder()
	c.srv.ServeHTTP(w, req)
	var m map[string]any
	if w.Body.Len() > 0 {
		require.NoError(c.t, json.Unmarshal(w.Body.Bytes(), &m), "%s", w.Body)
	}
	return w.Code, m
}

func userBody(name string) string {
	return fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":%q,"title":"first"}`, name)
}

func openCommitServer(t *testing.T) (*Server, *faultyFile, string, handlerClient) {
	t.Helper()
	j, ff, path := openFaulty(t)
	srv, err := Open(context.Background(), Config{Resources: j})
	require.NoError(t, err)
	require.NotNil(t, srv.batcher, "a Journal is a BatchPutter")
	tok, err := srv.RotateToken(context.Background())
	require.NoError(t, err)
	return srv, ff, path, handlerClient{t: t, srv: srv, token: tok}
}

// queuedWrites waits until n writes are queued behind the batch being
// stored.
func queuedWrites(t *testing.T, s *Server, n int) {
	t.Helper()
	require.Eventually(t, func() bool {
		s.commit.mu.Lock()
		defer s.commit.mu.Unlock()
		return s.commit.next != nil && len(s.commit.next.undo) == n
	}, 5*time.Second, time.Millisecond, "%d writes queue as one batch", n)
}

// holdSync makes the next sync wait until release is closed, then
// return what fault returns.
func holdSync(t *testing.T, ff *faultyFile, fault error) (entered chan struct{}, release func()) {
	entered, held := make(chan struct{}), make(chan struct{})
	var once sync.Once
	release = func() { once.Do(func() { close(held) }) }
	t.Cleanup(release) // a failed test does not leave the writers hanging
	first := ff.syncs + 1
	ff.onSync = func(n int) error {
		if n == first {
			close(entered)
			<-held
			return fault
		}
		return nil
	}
	return entered, release
}

// Writes that arrive while a batch is stored queue as the next batch and
// are acknowledged by one sync; none is answered, nor read back by
// anyone, before it is durable.
func TestHandlerGroupCommit(t *testing.T) {
	srv, ff, path, c := openCommitServer(t)
	status, keep := c.do(http.MethodPost, "/Users", userBody("keep"))
	require.Equal(t, http.StatusCreated, status)
	keepID := keep["id"].(string)

	entered, release := holdSync(t, ff, nil)
	lead := make(chan int)
	go func() { s, _ := c.do(http.MethodPost, "/Users", userBody("lead")); lead <- s }()
	<-entered
	const n = 10
	answers := make(chan int, n+1)
	for i := range n {
		go func() { s, _ := c.do(http.MethodPost, "/Users", userBody(fmt.Sprintf("u%d", i))); answers <- s }()
	}
	go func() {
		s, _ := c.do(http.MethodPatch, "/Users/"+keepID, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"title","value":"second"}]}`)
		answers <- s
	}()
	queuedWrites(t, srv, n+1)

	// A read sees the writes in flight only once they are durable.
	read := make(chan string, 1)
	go func() { _, m := c.do(http.MethodGet, "/Users/"+keepID, ""); read <- m["title"].(string) }()
	select {
	case title := <-read:
		t.Fatalf("a read returned %q while the write it saw was not durable", title)
	case <-time.After(50 * time.Millisecond):
	}
	syncs := ff.syncs
	release()
	require.Equal(t, http.StatusCreated, <-lead)
	for range n + 1 {
		assert.Contains(t, []int{http.StatusCreated, http.StatusOK}, <-answers)
	}
	assert.Equal(t, "second", <-read)
	assert.Equal(t, syncs+1, ff.syncs, "one sync acknowledged the %d queued writes", n+1)

	_, list := c.do(http.MethodGet, "/Users", "")
	assert.EqualValues(t, n+2, list["totalResults"])
	require.NoError(t, srv.res.(*Journal).Close())
	assert.Len(t, ids(t, path), n+2)
}

// A batch that cannot be stored is rolled back with the batch queued
// behind it (validated against it): every writer of both gets 500, the
// state is the durable one again (a freed userName can be taken, a
// patched title is the old one), readers that waited read that state,
// and nothing of either batch is in the journal.
func TestHandlerGroupCommitFailedBatchRollsBack(t *testing.T) {
	srv, ff, path, c := openCommitServer(t)
	status, keep := c.do(http.MethodPost, "/Users", userBody("keep"))
	require.Equal(t, http.StatusCreated, status)
	keepID := keep["id"].(string)
	var changes int
	var cmu sync.Mutex
	srv.onChange = func(context.Context) { cmu.Lock(); changes++; cmu.Unlock() }

	entered, release := holdSync(t, ff, syscall.EIO)
	lead := make(chan int)
	go func() { s, _ := c.do(http.MethodPost, "/Users", userBody("lead")); lead <- s }()
	<-entered
	answers := make(chan int, 3)
	go func() { s, _ := c.do(http.MethodPost, "/Users", userBody("behind")); answers <- s }()
	queuedWrites(t, srv, 1)
	go func() {
		s, _ := c.do(http.MethodPatch, "/Users/"+keepID, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"title","value":"second"}]}`)
		answers <- s
	}()
	queuedWrites(t, srv, 2)
	go func() { s, _ := c.do(http.MethodDelete, "/Users/"+keepID, ""); answers <- s }()
	queuedWrites(t, srv, 3)
	read := make(chan string, 1)
	go func() { _, m := c.do(http.MethodGet, "/Users/"+keepID, ""); read <- fmt.Sprint(m["title"]) }()

	release()
	assert.Equal(t, http.StatusInternalServerError, <-lead)
	for range 3 {
		assert.Equal(t, http.StatusInternalServerError, <-answers)
	}
	assert.Equal(t, "first", <-read, "the waiting read sees the rolled-back state")
	srv.Wait()
	assert.Zero(t, changes, "no OnChange for writes that were not stored")

	_, list := c.do(http.MethodGet, "/Users", "")
	assert.EqualValues(t, 1, list["totalResults"])
	_, got := c.do(http.MethodGet, "/Users/"+keepID, "")
	assert.Equal(t, "first", got["title"])
	for _, name := range []string{"lead", "behind"} {
		status, _ := c.do(http.MethodPost, "/Users", userBody(name))
		assert.Equal(t, http.StatusCreated, status, "%s is free again", name)
	}
	entries := 0
	for _, err := range srv.Read(context.Background()) {
		require.NoError(t, err)
		entries++
	}
	assert.Equal(t, 3, entries)
	require.NoError(t, srv.res.(*Journal).Close())
	assert.Len(t, ids(t, path), 3, "keep, and lead and behind created again; nothing of the failed batches")
}

// A batch's journal lines read back as the records, whatever they hold:
// the bytes json.Marshal gives, but for attributes already on one line,
// which are kept as they are.
func TestAppendRecordLineIsJSONMarshal(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 9, 0, 0, 123_000_000, time.UTC)
	for _, r := range []Record{
		{ID: "0b7c", Type: "User", Seq: 7, CreatedSeq: 3, Created: t0, Modified: t0.Add(time.Second), Attrs: json.RawMessage(`{"userName":"a<b>&c","n":1}`)},
		{ID: "x", Type: "Group", Seq: 1, Created: t0.In(time.FixedZone("X", 3600)), Modified: time.Time{}},
		{ID: "gone", Type: "User", Seq: 9, CreatedSeq: 2, Deleted: true, Attrs: json.RawMessage(`{"externalId":"e"}`)},
		{ID: `quote"d<id>`, Type: "User", Seq: 2, Attrs: json.RawMessage("{\n  \"pretty\": true\n}")},
		{ID: "é", Type: "User", Seq: 3, Created: time.Date(12000, 1, 1, 0, 0, 0, 0, time.UTC)},
	} {
		want, wantErr := json.Marshal(journalLine{Record: &r})
		got, err := appendRecordLine([]byte("prefix"), &r)
		if wantErr != nil {
			assert.Error(t, err, "%+v", r)
			continue
		}
		require.NoError(t, err)
		line, ok := strings.CutPrefix(string(got), "prefix")
		require.True(t, ok)
		require.Equal(t, 1, strings.Count(line, "\n"))
		require.True(t, strings.HasSuffix(line, "\n"))
		var back, ref journalLine
		require.NoError(t, json.Unmarshal([]byte(line), &back), line)
		require.NoError(t, json.Unmarshal(want, &ref))
		if len(ref.Record.Attrs) > 0 {
			assert.JSONEq(t, string(ref.Record.Attrs), string(back.Record.Attrs))
		} else {
			assert.Empty(t, back.Record.Attrs)
		}
		back.Record.Attrs, ref.Record.Attrs = nil, nil
		assert.Equal(t, ref, back)
		if !bytes.ContainsAny(r.Attrs, "<>&\n") {
			assert.Equal(t, string(want)+"\n", line, "the same bytes")
		}
	}
}

// queuedOps returns how many writes wait for the next Shared.Write.
func queuedOps(s *Server) int {
	s.commit.mu.Lock()
	defer s.commit.mu.Unlock()
	return len(s.commit.ops)
}
