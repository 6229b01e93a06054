package scim

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"iter"
	"log/slog"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"

	"github.com/dirsync-go/dirsync/connector"
)

// Defaults of Config.
const (
	DefaultMaxBodyBytes = 1 << 20
	DefaultMaxPageSize  = 1000
)

// Config configures a Server. The zero value is usable: it keeps the
// resources in memory.
type Config struct {
	// Resources keeps what the provider wrote: a Journal (one file per
	// integration), the host's own Resources on its database, or Shared
	// resources that every replica serves (scimpg on PostgreSQL).
	// Default: a new MemoryResources (nothing survives a restart).
	Resources Resources `json:"-"`
	// OnChange is called after writes the Server accepted, so that the
	// integration syncs: wire it to a dirsync.Syncer's SyncNow or to
	// riversync.SyncNow. It runs on a goroutine of its own, never on the
	// request's: the provider's request is answered without waiting for
	// it. Calls never overlap, and writes accepted while one runs lead
	// to one more call after it (they coalesce, never get lost). ctx
	// carries the values of the request that caused it, not its
	// cancellation. A panic in OnChange is logged and recovered.
	OnChange func(ctx context.Context) `json:"-"`
	// Logger receives one line per request, "scim request" with method,
	// endpoint, resource id, status and duration: at Info, or at Warn
	// when the request was answered with an error (status 400 or more). A
	// write the Resources refused and a panic are logged at Error with
	// their cause. No line holds a token or a resource's content. Every
	// line carries connector=scim. Default: discard.
	Logger *slog.Logger `json:"-"`
	// BaseURL is the absolute URL the handler is mounted at, such as
	// "https://app.example.com/scim/v2/acme", used for meta.location.
	// Default: derived from each request's Host and path.
	BaseURL string `json:"baseURL,omitempty"`
	// MaxBodyBytes caps a request body; a larger one gets 413. Default
	// DefaultMaxBodyBytes (1 MiB).
	MaxBodyBytes int64 `json:"maxBodyBytes,omitempty"`
	// MaxPageSize caps the count of one list response. Default
	// DefaultMaxPageSize.
	MaxPageSize int `json:"maxPageSize,omitempty"`
	// Now returns the current time. Default time.Now.
	Now func() time.Time `json:"-"`
	// Extensions declares the custom User attributes this integration's
	// provider sends (Entra's custom extension attributes, Okta's custom
	// profile attributes), with their types. Attributes no schema
	// declares are stored as sent and read back, and otherwise ignored:
	// see the package doc.
	Extensions []Extension `json:"extensions,omitempty"`
}

// Server is a SCIM 2.0 service provider for one integration: an
// http.Handler for the identity provider, and a connector.Connector with
// incremental reads for the integration's dirsync.Syncer. All methods are
// safe for concurrent use.
type Server struct {
	res      Resources
	shared   Shared // res, when several processes share it; else nil
	onChange func(context.Context)
	log      *slog.Logger
	baseURL  string
	maxBody  int64
	maxPage  int
	now      func() time.Time
	user     *resourceType // the User type with Config.Extensions
	group    *resourceType

	undeclared sync.Map // names of undeclared attributes already logged

	wmu sync.Mutex // one write (and its Resources I/O) at a time

	batcher BatchPutter // res, when its writes go in batches (group commit); else nil
	commit  commitQueue // the batches of writes in flight; see commit.go

	mu  sync.RWMutex // guards what follows; held only in memory
	seq uint64
	// durable is the Seq up to which every write is durable: seq, except
	// while batched writes are in flight. gen counts the rollbacks of
	// failed batches; settled is closed (and replaced) when durable or
	// gen changes.
	durable uint64
	gen     uint64
	settled chan struct{}
	recs    []*record         // creation order
	index   map[string]int    // id → position in recs
	names   map[string]string // nameKey of a live user's userName or group's displayName → its id
	gone    map[string]string // goneKey of a tombstone → its id
	token   []byte

	nmu     sync.Mutex // the OnChange goroutine
	idle    *sync.Cond // signalled when running turns false
	running bool
	pending bool
}

// record is a stored Record with its decoded attributes. Both are never
// modified once stored: a write stores a new record.
type record struct {
	Record
	doc  map[string]any // nil for a tombstone
	gone string         // a tombstone's externalId, if the resource had one
}

// decodeRecord decodes a stored Record.
func decodeRecord(r Record) (*record, error) {
	rec := &record{Record: r}
	if !r.Deleted {
		if err := json.Unmarshal(r.Attrs, &rec.doc); err != nil || rec.doc == nil {
			return nil, fmt.Errorf("%w: resource %s: attributes are not a JSON object", ErrCorruptResources, r.ID)
		}
	} else if len(r.Attrs) > 0 {
		var t struct {
			ExternalID string `json:"externalId"`
		}
		if err := json.Unmarshal(r.Attrs, &t); err != nil {
			return nil, fmt.Errorf("%w: tombstone %s: %v", ErrCorruptResources, r.ID, err)
		}
		rec.gone = t.ExternalID
	}
	return rec, nil
}

// byCreation orders records as lists page them: by creation, the same
// before and after a restart.
func byCreation(a, b *record) int {
	if c := cmp.Compare(a.CreatedSeq, b.CreatedSeq); c != 0 {
		return c
	}
	if c := a.Created.Compare(b.Created); c != 0 {
		return c
	}
	return strings.Compare(a.ID, b.ID)
}

func (r *record) version() string { return `W/"` + strconv.FormatUint(r.Seq, 10) + `"` }

// Compile-time checks of the capabilities a Server offers.
var (
	_ connector.Connector   = (*Server)(nil)
	_ connector.Incremental = (*Server)(nil)
	_ connector.Checker     = (*Server)(nil)
)

// Open loads the integration's resources (Config.Resources) and returns
// its Server. ctx bounds the load; it is not kept.
func Open(ctx context.Context, cfg Config) (*Server, error) {
	s := &Server{res: cfg.Resources, onChange: cfg.OnChange, log: cfg.Logger, baseURL: strings.TrimRight(cfg.BaseURL, "/"),
		maxBody: cfg.MaxBodyBytes, maxPage: cfg.MaxPageSize, now: cfg.Now,
		index: map[string]int{}, names: map[string]string{}, gone: map[string]string{}, group: groupType}
	var err error
	if s.user, err = buildUserType(cfg.Extensions); err != nil {
		return nil, err
	}
	s.idle = sync.NewCond(&s.nmu)
	if s.res == nil {
		s.res = NewMemoryResources()
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.log = s.log.With("connector", "scim")
	if s.maxBody <= 0 {
		s.maxBody = DefaultMaxBodyBytes
	}
	if s.maxPage <= 0 {
		s.maxPage = DefaultMaxPageSize
	}
	if s.now == nil {
		s.now = time.Now
	}
	st := &State{}
	var seq uint64
	var err2 error
	if sh, ok := s.res.(Shared); ok {
		s.shared = sh
		var d *Delta
		if d, err2 = sh.Since(ctx, 0); err2 == nil {
			st.Records, st.TokenHash, seq = d.Records, d.TokenHash, d.Seq
		}
	} else {
		st, err2 = s.res.Load(ctx)
	}
	if err2 != nil {
		return nil, fmt.Errorf("scim: load resources: %w", err2)
	}
	recs := make([]*record, 0, len(st.Records))
	for _, r := range st.Records {
		rec, err := decodeRecord(r)
		if err != nil {
			return nil, err
		}
		recs = append(recs, rec)
	}
	// Creation order, so that paging is stable while a provider adds
	// resources, and the same as before the restart.
	slices.SortFunc(recs, byCreation)
	for _, rec := range recs {
		if _, dup := s.index[rec.ID]; dup {
			return nil, fmt.Errorf("%w: resource %s stored twice", ErrCorruptResources, rec.ID)
		}
		s.putLocked(rec)
		s.seq = max(s.seq, rec.Seq)
	}
	s.seq = max(s.seq, seq)
	s.durable = s.seq
	s.settled = make(chan struct{})
	if b, ok := s.res.(BatchPutter); ok && s.shared == nil {
		s.batcher = b
	}
	s.commit.init()
	if len(st.TokenHash) > 0 {
		s.token = slices.Clone(st.TokenHash)
	}
	return s, nil
}

// putLocked makes rec the current version of its resource (a new
// resource goes last, or into the slot reserved for it), and keeps the
// name and tombstone indexes. The caller holds mu.
func (s *Server) putLocked(rec *record) {
	i, known := s.index[rec.ID]
	if known {
		if prev := s.recs[i]; prev != nil {
			if k := nameKey(prev); k != "" && s.names[k] == prev.ID {
				delete(s.names, k)
			}
			if k := goneKey(prev.Type, prev.gone); prev.Deleted && prev.gone != "" && s.gone[k] == prev.ID {
				delete(s.gone, k)
			}
		}
		s.recs[i] = rec
	} else {
		s.index[rec.ID] = len(s.recs)
		s.recs = append(s.recs, rec)
	}
	if k := nameKey(rec); k != "" {
		s.names[k] = rec.ID
	}
	if rec.Deleted && rec.gone != "" {
		s.gone[goneKey(rec.Type, rec.gone)] = rec.ID
	}
}

// catchUp brings the Server up to date with Shared resources: what other
// processes wrote since its sequence number, and the token. It does
// nothing on resources that are not Shared.
func (s *Server) catchUp(ctx context.Context) error {
	if s.shared == nil {
		return nil
	}
	s.mu.RLock()
	seq := s.seq
	s.mu.RUnlock()
	d, err := s.shared.Since(ctx, seq)
	if err != nil {
		return fmt.Errorf("scim: catch up with the shared resources: %w", err)
	}
	return s.applyDelta(d)
}

// applyDelta applies what Shared resources stored after the Server's
// sequence number. A delta no newer than the Server (read before another
// goroutine's catch-up or write was applied) changes nothing; a newer
// one skips the records the Server already holds in that version or a
// later one, so deltas and the Server's own writes may be applied in any
// order.
func (s *Server) applyDelta(d *Delta) error {
	recs := make([]*record, 0, len(d.Records))
	for _, r := range d.Records {
		rec, err := decodeRecord(r)
		if err != nil {
			return err
		}
		recs = append(recs, rec)
	}
	slices.SortFunc(recs, func(a, b *record) int { return cmp.Compare(a.Seq, b.Seq) })
	s.mu.Lock()
	defer s.mu.Unlock()
	if d.Seq <= s.seq {
		return nil
	}
	// Resources new to this Server were created after everything it
	// holds: reserve their slots in creation order, then apply every
	// record in write order, so the name indexes pass through the states
	// the writers saw.
	var fresh []*record
	for _, r := range recs {
		if _, ok := s.index[r.ID]; !ok {
			fresh = append(fresh, r)
		}
	}
	slices.SortFunc(fresh, byCreation)
	for _, r := range fresh {
		if _, ok := s.index[r.ID]; !ok {
			s.index[r.ID] = len(s.recs)
			s.recs = append(s.recs, nil)
		}
	}
	for _, r := range recs {
		if prev := s.recs[s.index[r.ID]]; prev != nil && prev.Seq >= r.Seq {
			continue
		}
		s.putLocked(r)
	}
	s.token = slices.Clone(d.TokenHash)
	s.seq, s.durable = d.Seq, d.Seq
	return nil
}

// goneKey keys a deleted resource by its type and externalId.
func goneKey(typ, externalID string) string { return typ + "\x00" + externalID }

func externalIDOf(doc map[string]any) string {
	s, _ := doc["externalId"].(string)
	return s
}

// nameKey returns the key a live resource's unique name is kept under:
// a user's folded userName, a group's folded displayName; "" for a
// tombstone or a resource without one.
func nameKey(r *record) string {
	if r.Deleted {
		return ""
	}
	return nameKeyOf(r.Type, r.doc)
}

func nameKeyOf(typ string, doc map[string]any) string {
	field := "userName"
	if typ == groupType.name {
		field = "displayName"
	}
	u, _ := doc[field].(string)
	if strings.TrimSpace(u) == "" {
		return ""
	}
	return typ + "\x00" + foldName(u)
}

// foldName is the one comparison of names in this package: userName
// uniqueness, group displayName uniqueness (Entra's SCIM tutorial
// requires it), and eq, ne, co, sw, ew and the orderings on every string
// attribute that is not caseExact, in filters and PATCH value filters.
// userName is case-insensitive (RFC 7643 section 4.1.1, caseExact false),
// and so is a group's displayName. It is Unicode full case folding
// (golang.org/x/text/cases, cases.Fold) over NFC, then NFC again, after
// trimming spaces at either end:
//
//   - "ΟΔΟΣ", "οδος" (final sigma) and "οδοσ" are one name: ς and Σ
//     fold to σ;
//   - "ß", "SS" and "ss" are one name: full folding turns ß into "ss";
//   - "İSTANBUL" and "istanbul" are two names: İ (dotted capital I)
//     folds to i and a combining dot above, not to i, outside the
//     Turkish rules, which no provider tells us to use;
//   - "José" with é precomposed or as e and a combining accent is one
//     name (NFC).
//
// Otherwise one person could be pushed twice under two spellings, and
// two people could not be told apart where lower-casing merges them.
func foldName(u string) string { return foldString(strings.TrimSpace(u)) }

// foldString folds case (Unicode full case folding) over NFC.
func foldString(s string) string {
	if isASCII(s) {
		return strings.ToLower(s) // s itself when it has no capitals
	}
	return norm.NFC.String(cases.Fold().String(norm.NFC.String(s)))
}

// equalFold reports foldString(a) == foldString(b), without allocating
// for ASCII strings (a filter compares every member of a large group).
func equalFold(a, b string) bool {
	if a == b {
		return true
	}
	if len(a) > 0 && len(b) > 0 && a[0] < 0x80 && b[0] < 0x80 && lowerASCII(a[0]) != lowerASCII(b[0]) {
		// Neither NFC nor lower case turns a leading ASCII letter into
		// another ASCII letter: the usual mismatch, decided at once.
		return false
	}
	if isASCII(a) && isASCII(b) {
		return len(a) == len(b) && strings.EqualFold(a, b)
	}
	return foldString(a) == foldString(b)
}

func lowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// RotateToken issues a new bearer token for the integration and revokes
// the previous one at once: requests with the old token get 401 from the
// moment RotateToken returns. Only the token's SHA-256 hash is stored;
// show the token to the admin once, to paste into the identity provider.
func (s *Server) RotateToken(ctx context.Context) (string, error) {
	b := make([]byte, 32)
	if _, err := io.ReadFull(rand.Reader, b); err != nil {
		return "", fmt.Errorf("scim: rotate token: %w", err)
	}
	tok := "scim_" + base64.RawURLEncoding.EncodeToString(b)
	h := sha256.Sum256([]byte(tok))
	if err := s.setToken(ctx, h[:]); err != nil {
		return "", err
	}
	return tok, nil
}

// RevokeToken revokes the token without issuing another: every request
// gets 401 until RotateToken.
func (s *Server) RevokeToken(ctx context.Context) error { return s.setToken(ctx, nil) }

func (s *Server) setToken(ctx context.Context, hash []byte) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.shared == nil {
		if err := s.res.SetTokenHash(ctx, hash); err != nil {
			return fmt.Errorf("scim: store token hash: %w", err)
		}
		s.mu.Lock()
		s.token = hash
		s.mu.Unlock()
		return nil
	}
	var w Write
	err := s.shared.Write(ctx, s.currentSeq(), func(d *Delta) ([]Write, error) {
		if err := s.applyDelta(d); err != nil {
			return nil, err
		}
		w = Write{Seq: d.Seq + 1, TokenHash: hash}
		return []Write{w}, nil
	})
	if err != nil {
		return fmt.Errorf("scim: store token hash: %w", err)
	}
	s.mu.Lock()
	if s.seq < w.Seq {
		s.token, s.seq, s.durable = hash, w.Seq, w.Seq
	}
	s.mu.Unlock()
	return nil
}

func (s *Server) currentSeq() uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.seq
}

// authorized checks the request's bearer token against the stored hash in
// constant time.
func (s *Server) authorized(h string) bool {
	scheme, tok, ok := strings.Cut(strings.TrimSpace(h), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	sum := sha256.Sum256([]byte(strings.TrimSpace(tok)))
	s.mu.RLock()
	want := s.token
	s.mu.RUnlock()
	return len(want) == sha256.Size && subtle.ConstantTimeCompare(sum[:], want) == 1
}

// Check implements connector.Checker: it fails with ErrNoToken until a
// token was issued, since no provider can push before that.
func (s *Server) Check(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("scim: check: %w", err)
	}
	if err := s.catchUp(ctx); err != nil {
		return err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.token == nil {
		return ErrNoToken
	}
	return nil
}

// changed runs OnChange on its own goroutine, coalescing calls.
func (s *Server) changed(ctx context.Context) {
	if s.onChange == nil {
		return
	}
	s.nmu.Lock()
	if s.running {
		s.pending = true
		s.nmu.Unlock()
		return
	}
	s.running = true
	s.nmu.Unlock()
	ctx = context.WithoutCancel(ctx)
	go func() {
		for {
			s.callOnChange(ctx)
			s.nmu.Lock()
			if !s.pending {
				s.running = false
				s.idle.Broadcast()
				s.nmu.Unlock()
				return
			}
			s.pending = false
			s.nmu.Unlock()
		}
	}()
}

func (s *Server) callOnChange(ctx context.Context) {
	defer func() {
		if v := recover(); v != nil {
			s.log.ErrorContext(ctx, "scim: OnChange panicked", "panic", fmt.Sprint(v))
		}
	}()
	s.onChange(ctx)
}

// Wait waits until no OnChange call is running or due: for a test, or a
// host shutting down after it stopped serving. Writes accepted while it
// waits make it wait for their call too.
func (s *Server) Wait() {
	s.nmu.Lock()
	defer s.nmu.Unlock()
	for s.running {
		s.idle.Wait()
	}
}

// write stores a new version of the resource id of type rt (a new
// resource when id is ""), as mutate computes it from the current one.
// mutate returns the new document, or nil to delete. It reports whether
// anything changed.
//
// Writes are validated one at a time (wmu) in this process; on Shared
// resources, one at a time across processes too, each against the state
// caught up under the integration's lock (see writeShared).
func (s *Server) write(ctx context.Context, rt *resourceType, id string, mutate func(cur *record) (map[string]any, error)) (*record, bool, error) {
	if s.batcher != nil {
		return s.writeBatched(ctx, rt, id, mutate)
	}
	if s.shared == nil {
		s.wmu.Lock()
		defer s.wmu.Unlock()
		rec, changed, err := s.prepare(rt, id, mutate, s.currentSeq()+1)
		if err != nil || !changed {
			return rec, false, err
		}
		if err := s.res.Put(ctx, rec.Record); err != nil {
			return nil, false, fmt.Errorf("scim: store %s %s: %w", rt.name, rec.ID, err)
		}
		s.mu.Lock()
		s.putLocked(rec)
		s.seq, s.durable = rec.Seq, rec.Seq
		s.mu.Unlock()
		return rec, true, nil
	}
	return s.writeShared(ctx, rt, id, mutate)
}

// prepare validates a write against the Server's current state and
// returns the record it would store at seq, and whether it changes
// anything. The caller holds wmu.
func (s *Server) prepare(rt *resourceType, id string, mutate func(cur *record) (map[string]any, error), seq uint64) (*record, bool, error) {
	var cur *record
	if id != "" {
		s.mu.RLock()
		cur = s.lookup(rt, id)
		s.mu.RUnlock()
		if cur == nil {
			return nil, false, &protoError{status: 404, detail: rt.name + " not found"}
		}
	}
	doc, err := mutate(cur)
	if err != nil {
		return nil, false, err
	}
	if cur != nil && doc != nil && reflect.DeepEqual(doc, cur.doc) {
		return cur, false, nil
	}
	if k := nameKeyOf(rt.name, doc); doc != nil && k != "" && (cur == nil || k != nameKey(cur)) {
		// A new name (or a new resource) must not be another's. One
		// write at a time (wmu, and the shared lock), so the check holds
		// until the write is in: two concurrent creates with one name
		// get 201 and 409, whatever the Resources.
		s.mu.RLock()
		owner, taken := s.names[k]
		s.mu.RUnlock()
		if taken && (cur == nil || owner != cur.ID) {
			field := "userName"
			if rt.name == groupType.name {
				field = "displayName"
			}
			return nil, false, &protoError{status: 409, scimType: scimUniqueness, detail: field + " is already taken"}
		}
	}
	now := s.now().UTC().Truncate(time.Millisecond)
	rec := &record{Record: Record{Type: rt.name, Seq: seq, Created: now, Modified: now}, doc: doc}
	if cur != nil {
		rec.ID, rec.Created, rec.CreatedSeq = cur.ID, cur.Created, cur.CreatedSeq
		if !now.After(cur.Modified) {
			rec.Modified = cur.Modified.Add(time.Millisecond) // lastModified never goes back
		}
	} else if old, ok := s.goneID(rt.name, externalIDOf(doc)); ok {
		// The provider deleted this resource and creates it again: the
		// same externalId (Entra's object id, Okta's user id) is the same
		// person, so the resource takes its old id and place, and the app
		// its old account back ("back in the directory"), never a second.
		rec.ID = old.ID
		rec.CreatedSeq = old.CreatedSeq
	} else {
		rec.ID, rec.CreatedSeq = newID(), rec.Seq
	}
	if doc == nil {
		// A tombstone keeps the externalId the resource had, to know it
		// if it is created again.
		rec.Deleted = true
		if ext := externalIDOf(cur.doc); ext != "" {
			rec.gone = ext
			rec.Attrs, _ = json.Marshal(map[string]string{"externalId": ext})
		}
	} else if rec.Attrs, err = json.Marshal(doc); err != nil {
		return nil, false, err
	}
	return rec, true, nil
}

// goneID returns the tombstone of the deleted resource of type typ with
// the externalId.
func (s *Server) goneID(typ, externalID string) (*record, bool) {
	if externalID == "" {
		return nil, false
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	id, ok := s.gone[goneKey(typ, externalID)]
	if !ok {
		return nil, false
	}
	return s.recs[s.index[id]], true
}

// lookup returns the live resource of type rt with the id. The caller
// holds mu.
func (s *Server) lookup(rt *resourceType, id string) *record {
	i, ok := s.index[id]
	if !ok {
		return nil
	}
	r := s.recs[i]
	if r.Deleted || r.Type != rt.name {
		return nil
	}
	return r
}

func newID() string {
	b := make([]byte, 16)
	if _, err := io.ReadFull(rand.Reader, b); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	b[6] = b[6]&0x0f | 0x40 // a version 4 UUID
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// snapshot returns the records as they are now, every one of them
// durable (see read). Records are immutable, so the caller may read them
// without the lock.
func (s *Server) snapshot(ctx context.Context) ([]*record, uint64, error) {
	var recs []*record
	var seq uint64
	err := s.read(ctx, func() { recs, seq = slices.Clone(s.recs), s.seq })
	return recs, seq, err
}

// Read implements connector.Connector: every live user and group, in the
// order they were created. A user's MemberOf lists the groups whose
// members name it; a group's Members lists the members that exist.
func (s *Server) Read(ctx context.Context) iter.Seq2[connector.Entry, error] {
	return func(yield func(connector.Entry, error) bool) {
		if err := s.catchUp(ctx); err != nil {
			yield(connector.Entry{}, err)
			return
		}
		recs, _, err := s.snapshot(ctx)
		if err != nil {
			yield(connector.Entry{}, fmt.Errorf("scim: read: %w", err))
			return
		}
		memberOf := membership(recs)
		n := 0
		for _, r := range recs {
			if r.Deleted {
				continue
			}
			if err := ctx.Err(); err != nil {
				yield(connector.Entry{}, fmt.Errorf("scim: read interrupted after %d entries: %w", n, err))
				return
			}
			if !yield(s.entryOf(r, memberOf), nil) {
				return
			}
			n++
		}
	}
}

const cursorPrefix = "scim/v1/"

// ReadChanges implements connector.Incremental. The cursor is the
// resources' sequence number: resources written after it come back complete, and
// deleted ones as tombstones; the managers of changed users come along
// (unchanged), so that the manager can be looked up. A group whose members changed comes back as
// a changed group (the Syncer then reads in full where roles or scope
// depend on groups). A cursor ahead of the resources (a Resources
// that was replaced) is expired.
func (s *Server) ReadChanges(ctx context.Context, since connector.Cursor, yield func(connector.Entry) error) (connector.Cursor, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("scim: read changes: %w", err)
	}
	if err := s.catchUp(ctx); err != nil {
		return nil, err
	}
	recs, seq, err := s.snapshot(ctx)
	if err != nil {
		return nil, fmt.Errorf("scim: read changes: %w", err)
	}
	var from uint64
	full := len(since) == 0
	if !full {
		rest, ok := strings.CutPrefix(string(since), cursorPrefix)
		n, err := strconv.ParseUint(rest, 10, 64)
		if !ok || err != nil || n > seq {
			return nil, fmt.Errorf("scim: cursor %q was not issued by this server: %w", clip(string(since)), connector.ErrCursorExpired)
		}
		from = n
	}
	memberOf := membership(recs)
	var changed []*record
	for _, r := range recs {
		if (full && !r.Deleted) || (!full && r.Seq > from) {
			changed = append(changed, r)
		}
	}
	slices.SortFunc(changed, func(a, b *record) int { return cmp.Compare(a.Seq, b.Seq) })
	if !full {
		changed = withManagers(recs, changed)
	}
	for i, r := range changed {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("scim: read changes interrupted after %d entries: %w", i, err)
		}
		e := connector.Entry{ID: r.ID, Kind: kindOf(r.Type), Deleted: true}
		if !r.Deleted {
			e = s.entryOf(r, memberOf)
		}
		if err := yield(e); err != nil {
			return nil, err
		}
	}
	return connector.Cursor(cursorPrefix + strconv.FormatUint(seq, 10)), nil
}

// withManagers appends to changed the live managers its live users name
// that it does not hold, so that a plan made from the changes alone can
// look up a manager (mapping.SCIMSpec maps the manager's email): pushes
// are small change sets, and a report's manager is rarely among them.
func withManagers(recs, changed []*record) []*record {
	in := make(map[string]bool, len(changed))
	for _, r := range changed {
		in[r.ID] = true
	}
	byID := map[string]*record{}
	var extra []*record
	for _, r := range changed {
		if r.Deleted || r.Type != userType.name {
			continue
		}
		ext, _ := r.doc[URNEnterprise].(map[string]any)
		mgr, _ := ext["manager"].(map[string]any)
		id, _ := mgr["value"].(string)
		if id == "" || in[id] {
			continue
		}
		if len(byID) == 0 {
			for _, x := range recs {
				byID[x.ID] = x
			}
		}
		if m := byID[id]; m != nil && !m.Deleted && m.Type == userType.name {
			in[id] = true
			extra = append(extra, m)
		}
	}
	return append(changed, extra...)
}

func kindOf(typ string) connector.Kind {
	if typ == groupType.name {
		return connector.KindGroup
	}
	return connector.KindUser
}

// membership maps each live resource id to the live groups whose members
// name it, sorted.
func membership(recs []*record) map[string][]string {
	live := make(map[string]bool, len(recs))
	for _, r := range recs {
		if !r.Deleted {
			live[r.ID] = true
		}
	}
	out := map[string][]string{}
	for _, r := range recs {
		if r.Deleted || r.Type != groupType.name {
			continue
		}
		for _, m := range memberIDs(r) {
			if live[m] && m != r.ID && !slices.Contains(out[m], r.ID) {
				out[m] = append(out[m], r.ID)
			}
		}
	}
	for k := range out {
		slices.Sort(out[k])
	}
	return out
}

// memberIDs returns the member values of a group.
func memberIDs(r *record) []string {
	list, _ := r.doc["members"].([]any)
	var out []string
	for _, it := range list {
		if m, ok := it.(map[string]any); ok {
			if v, ok := m["value"].(string); ok && v != "" {
				out = append(out, v)
			}
		}
	}
	return out
}

// entryOf turns a live resource into a directory entry. A user whose
// active is false is Disabled; a group's Members are its members that
// exist.
func (s *Server) entryOf(r *record, memberOf map[string][]string) connector.Entry {
	rt := s.user
	if r.Type == groupType.name {
		rt = s.group
	}
	e := connector.Entry{ID: r.ID, Kind: kindOf(r.Type), Attrs: rt.flatten(r.doc), MemberOf: slices.Clone(memberOf[r.ID])}
	if r.Type == groupType.name {
		seen := map[string]bool{}
		for _, m := range memberIDs(r) {
			if _, ok := memberOf[m]; ok && !seen[m] && m != r.ID {
				seen[m] = true
				e.Members = append(e.Members, m)
			}
		}
		slices.Sort(e.Members)
	}
	if active, ok := r.doc["active"].(bool); ok && !active {
		e.Disabled = true
	}
	return e
}

// flatten turns a document into entry attributes (lower-case names, as
// connector.Attrs wants): simple attributes under their name, complex
// ones as "name.givenName", multi-valued ones as their values (the
// primary first), by type ("emails.work") and the primary value
// ("emails.primary"); the enterprise extension's attributes without the
// URN, its manager as the manager's id; a declared custom core attribute
// under its name; a declared custom extension's attribute under its
// URN-qualified name ("urn:…:acme:2.0:user:badgenumber") and also under
// its bare name when no other schema of the User has that name.
// Attributes no schema declares are not entry attributes.
func (rt *resourceType) flatten(doc map[string]any) connector.Attrs {
	// Each key is filled from one attribute, so the order in which the
	// maps are walked does not show in the result.
	attrs := make(connector.Attrs, len(doc)+8)
	for k, v := range doc {
		if ext := rt.ext(k); ext != nil {
			em, _ := v.(map[string]any)
			for sk, sv := range em {
				a := ext.find(sk)
				switch {
				case a == nil:
				case !ext.custom:
					flattenAttr(attrs, sk, sv)
				default:
					flattenAttr(attrs, ext.id+":"+sk, sv)
					if a.bare {
						flattenAttr(attrs, sk, sv)
					}
				}
			}
			continue
		}
		if rt.core.find(k) != nil || k == "externalId" {
			flattenAttr(attrs, k, v)
		}
	}
	return attrs
}

func flattenAttr(attrs connector.Attrs, name string, v any) {
	key := strings.ToLower(name)
	switch x := v.(type) {
	case string:
		attrs[key] = append(attrs[key], x)
	case bool:
		attrs[key] = append(attrs[key], strconv.FormatBool(x))
	case float64:
		attrs[key] = append(attrs[key], strconv.FormatFloat(x, 'f', -1, 64))
	case map[string]any:
		if key == "manager" {
			if id, ok := x["value"].(string); ok {
				attrs[key] = append(attrs[key], id)
			}
		}
		for sk, sv := range x {
			flattenAttr(attrs, name+"."+sk, sv)
		}
	case []any:
		items := slices.Clone(x)
		// The primary value first (stable otherwise).
		slices.SortStableFunc(items, func(a, b any) int { return boolInt(isPrimary(b)) - boolInt(isPrimary(a)) })
		for _, it := range items {
			m, ok := it.(map[string]any)
			if !ok {
				flattenAttr(attrs, name, it)
				continue
			}
			val, _ := m["value"].(string)
			if val == "" {
				for _, sk := range sortedKeys(m) {
					if sk != "type" && sk != "primary" {
						flattenAttr(attrs, name+"."+sk, m[sk])
					}
				}
				continue
			}
			attrs[key] = append(attrs[key], val)
			if t, _ := m["type"].(string); t != "" {
				tk := key + "." + strings.ToLower(t)
				if len(attrs[tk]) == 0 {
					attrs[tk] = []string{val}
				}
			}
			if isPrimary(m) && len(attrs[key+".primary"]) == 0 {
				attrs[key+".primary"] = []string{val}
			}
		}
	}
}

func isPrimary(v any) bool {
	m, _ := v.(map[string]any)
	p, _ := m["primary"].(bool)
	return p
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
