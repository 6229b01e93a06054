// Command scim is a host app that receives SCIM 2.0 pushes from Okta,
// Microsoft Entra ID or Ping for one customer organization, and prints
// the plan and the report of every sync a push triggers.
//
//	go run ./examples/scim                       # pushes a few requests at itself and exits
//	go run ./examples/scim -serve :8080          # serves /scim/v2/acme/ until Ctrl-C
//	go run ./examples/scim -serve :8080 -data .  # … keeping the pushed state in ./acme.scim
//	go run ./examples/scim -serve :8080 -data . -rotate  # … with a new token
//
// With -serve it prints the bearer token to paste into the identity
// provider with the tenant URL http://HOST:8080/scim/v2/acme. The app is an
// in-memory store of accounts (dirsynctest.MemorySink).
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"

	"github.com/dirsync-go/dirsync"
	"github.com/dirsync-go/dirsync/connector/scim"
	"github.com/dirsync-go/dirsync/dirsynctest"
	"github.com/dirsync-go/dirsync/mapping"
)

const mount = "/scim/v2/acme"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return // -h: the usage is printed
		}
		log.Fatal(err)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("scim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "Usage: scim [-serve ADDR [-data DIR [-rotate]]]\n\nWithout -serve: pushes a few SCIM requests at itself, printing each request before the sync it triggered, and exits.\n\nFlags:")
		fs.PrintDefaults()
	}
	serve := fs.String("serve", "", "listen on this address instead of running the offline demo")
	data := fs.String("data", "", "with -serve: keep the pushed state in DIR/acme.scim (default: in memory)")
	rotate := fs.Bool("rotate", false, "with -serve -data: issue a new token, revoking the stored one")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	if *data != "" && *serve == "" {
		return errors.New("-data needs -serve: the offline demo always starts from an empty store")
	}
	return start(ctx, *serve, *data, *rotate, stdout)
}

func start(ctx context.Context, serve, data string, rotate bool, stdout io.Writer) error {
	var resources scim.Resources = scim.NewMemoryResources()
	if data != "" {
		j, err := scim.OpenJournal(filepath.Join(data, "acme.scim"))
		if err != nil {
			return err
		}
		defer j.Close()
		resources = j
	}
	mapper, err := mapping.New(mapping.SCIMSpec())
	if err != nil {
		return err
	}
	sink := dirsynctest.NewMemorySink()
	// What a sync prints. Serving, it goes straight out; in the demo it
	// waits until the request that caused it is printed (see demo).
	syncOut := &syncedWriter{w: stdout}
	if serve == "" {
		syncOut.w = &bytes.Buffer{}
	}

	// The Syncer reads the SCIM server like any directory. An accepted push
	// calls OnChange on a goroutine of its own (never overlapping, pushes
	// coalesced), and the provider gets its answer without waiting for it.
	// A host running Syncer.Run would call sy.SyncNow() here instead, or
	// riversync.SyncNow with several replicas.
	var sy *dirsync.Syncer
	srv, err := scim.Open(ctx, scim.Config{Resources: resources, OnChange: func(ctx context.Context) {
		if err := syncOnce(ctx, sy, syncOut); err != nil {
			log.Printf("sync: %v", err)
		}
	}})
	if err != nil {
		return err
	}
	sy, err = dirsync.New(srv, sink, &dirsync.Options{Source: "acme-scim", Mapper: mapper})
	if err != nil {
		return err
	}
	// A token is issued once and kept (as a hash) with the resources; -rotate
	// issues a new one and revokes the old at once.
	token := "(unchanged: the one issued before; -rotate issues a new one)"
	if err := srv.Check(ctx); errors.Is(err, scim.ErrNoToken) || rotate || serve == "" {
		if token, err = srv.RotateToken(ctx); err != nil {
			return err
		}
	}
	mux := http.NewServeMux()
	mux.Handle(mount+"/", http.StripPrefix(mount, srv))

	if serve != "" {
		fmt.Fprintf(stdout, "SCIM tenant URL: http://%s%s\nSecret token:    %s\n", serve, mount, token)
		hs := &http.Server{Addr: serve, Handler: mux}
		go func() {
			<-ctx.Done()
			hs.Close()
		}()
		if err := hs.ListenAndServe(); err != nil && err != http.ErrServerClosed {
			return err
		}
		srv.Wait()
		return nil
	}
	return demo(ctx, mux, srv, token, stdout, syncOut)
}

// syncedWriter is where syncs print: OnChange runs on a goroutine of its
// own, so writes and flushes are serialised.
type syncedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncedWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// flushTo moves what was buffered to w.
func (s *syncedWriter) flushTo(w io.Writer) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.w.(*bytes.Buffer)
	if !ok {
		return nil
	}
	_, err := b.WriteTo(w)
	return err
}

// syncOnce plans, prints the plan, applies it and prints the report.
func syncOnce(ctx context.Context, sy *dirsync.Syncer, out io.Writer) error {
	plan, err := sy.Plan(ctx)
	if err != nil {
		return err // over the safety limits: a host would show the plan for approval
	}
	if plan.Empty() {
		return nil
	}
	var b bytes.Buffer // one write, so that a sync's lines stay together
	fmt.Fprintf(&b, "--- plan (%s)\n", plan.Summary())
	if err := plan.WriteText(&b); err != nil {
		return err
	}
	report, err := sy.Apply(ctx, plan)
	if report != nil {
		fmt.Fprintln(&b, "--- report")
		if werr := report.WriteText(&b); werr != nil {
			return werr
		}
	}
	if _, werr := out.Write(b.Bytes()); werr != nil {
		return werr
	}
	return err
}

// demo pushes Okta-shaped requests at the handler over HTTP, as an
// identity provider would. After each request it prints the request,
// waits for the sync the request caused, and prints that sync's plan and
// report (buffered in syncOut meanwhile).
func demo(ctx context.Context, h http.Handler, srv *scim.Server, token string, stdout io.Writer, syncOut *syncedWriter) error {
	ts := httptest.NewServer(h)
	defer ts.Close()
	base := ts.URL + mount
	call := func(tok, method, path string, body any) (map[string]any, int, error) {
		var rd io.Reader
		if body != nil {
			b, err := json.Marshal(body)
			if err != nil {
				return nil, 0, err
			}
			rd = bytes.NewReader(b)
		}
		req, err := http.NewRequestWithContext(ctx, method, base+path, rd)
		if err != nil {
			return nil, 0, err
		}
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", "application/scim+json")
		res, err := ts.Client().Do(req)
		if err != nil {
			return nil, 0, err
		}
		defer res.Body.Close()
		var out map[string]any
		if res.StatusCode != http.StatusNoContent {
			if err := json.NewDecoder(res.Body).Decode(&out); err != nil {
				return nil, res.StatusCode, err
			}
		}
		fmt.Fprintf(stdout, "%s %s → %d\n", method, path, res.StatusCode)
		srv.Wait()
		return out, res.StatusCode, syncOut.flushTo(stdout)
	}
	user := func(name, given, family, title string) map[string]any {
		return map[string]any{
			"schemas":  []string{scim.URNUser, scim.URNEnterprise},
			"userName": name, "active": true, "title": title,
			"name":             map[string]any{"givenName": given, "familyName": family},
			"emails":           []any{map[string]any{"primary": true, "type": "work", "value": name}},
			scim.URNEnterprise: map[string]any{"department": "Engineering"},
		}
	}
	fmt.Fprintln(stdout, "=== Okta assigns three people to the app")
	var ids []string
	for _, u := range [][4]string{{"ada@acme.example", "Ada", "Lovelace", "Engineer"}, {"grace@acme.example", "Grace", "Hopper", "Admiral"}, {"alan@acme.example", "Alan", "Turing", "Researcher"}} {
		out, _, err := call(token, http.MethodPost, "/Users", user(u[0], u[1], u[2], u[3]))
		if err != nil {
			return err
		}
		id, _ := out["id"].(string)
		ids = append(ids, id)
	}

	fmt.Fprintln(stdout, "\n=== Grace is promoted (full-user PUT), Alan leaves (deactivated)")
	g := user("grace@acme.example", "Grace", "Hopper", "Rear Admiral")
	if _, _, err := call(token, http.MethodPut, "/Users/"+ids[1], g); err != nil {
		return err
	}
	deactivate := map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
		"Operations": []any{map[string]any{"op": "replace", "value": map[string]any{"active": false}}}}
	if _, _, err := call(token, http.MethodPatch, "/Users/"+ids[2], deactivate); err != nil {
		return err
	}
	out, _, err := call(token, http.MethodGet, "/Users/"+ids[2], nil)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Okta reads back what it wrote: active=%v\n", out["active"])

	fmt.Fprintln(stdout, "\n=== The customer moves to Entra ID: the admin rotates the token")
	fresh, err := srv.RotateToken(ctx)
	if err != nil {
		return err
	}
	if _, status, err := call(token, http.MethodGet, "/Users", nil); err != nil || status != http.StatusUnauthorized {
		return fmt.Errorf("the old token still works (status %d, %v)", status, err)
	}
	if _, _, err := call(fresh, http.MethodGet, "/Users?filter=userName%20eq%20%22ada@acme.example%22", nil); err != nil {
		return err
	}
	return nil
}
