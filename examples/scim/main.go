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
	"syscall"

	"github.com/dirsync-go/dirsync"
	"github.com/dirsync-go/dirsync/connector/scim"
	"github.com/dirsync-go/dirsync/dirsynctest"
	"github.com/dirsync-go/dirsync/mapping"
)

const mount = "/scim/v2/acme"

func main() {
	serve := flag.String("serve", "", "listen on this address instead of running the offline demo")
	data := flag.String("data", "", "with -serve: keep the pushed state in DIR/acme.scim (default: in memory)")
	rotate := flag.Bool("rotate", false, "with -serve -data: issue a new token, revoking the stored one")
	flag.Parse()
	if *data != "" && *serve == "" {
		log.Fatal("-data needs -serve: the offline demo always starts from an empty store")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *serve, *data, *rotate); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, serve, data string, rotate bool) error {
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

	// The Syncer reads the SCIM server like any directory. An accepted push
	// calls OnChange on a goroutine of its own (never overlapping, pushes
	// coalesced), and the provider gets its answer without waiting for it.
	// A host running Syncer.Run would call sy.SyncNow() here instead, or
	// riversync.SyncNow with several replicas.
	var sy *dirsync.Syncer
	srv, err := scim.Open(ctx, scim.Config{Resources: resources, OnChange: func(ctx context.Context) {
		if err := syncOnce(ctx, sy); err != nil {
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
		fmt.Printf("SCIM tenant URL: http://%s%s\nSecret token:    %s\n", serve, mount, token)
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
	return demo(ctx, mux, srv, token)
}

// syncOnce plans, prints the plan, applies it and prints the report.
func syncOnce(ctx context.Context, sy *dirsync.Syncer) error {
	plan, err := sy.Plan(ctx)
	if err != nil {
		return err // over the safety limits: a host would show the plan for approval
	}
	if plan.Empty() {
		return nil
	}
	fmt.Printf("\n--- plan (%s)\n", plan.Summary())
	if err := plan.WriteText(os.Stdout); err != nil {
		return err
	}
	report, err := sy.Apply(ctx, plan)
	if report != nil {
		fmt.Println("--- report")
		if werr := report.WriteText(os.Stdout); werr != nil {
			return werr
		}
	}
	return err
}

// demo pushes Okta-shaped requests at the handler over HTTP, as an
// identity provider would, waiting for each resulting sync.
func demo(ctx context.Context, h http.Handler, srv *scim.Server, token string) error {
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
		fmt.Printf("%s %s → %d\n", method, path, res.StatusCode)
		return out, res.StatusCode, nil
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
	fmt.Println("=== Okta assigns three people to the app")
	var ids []string
	for _, u := range [][4]string{{"ada@acme.example", "Ada", "Lovelace", "Engineer"}, {"grace@acme.example", "Grace", "Hopper", "Admiral"}, {"alan@acme.example", "Alan", "Turing", "Researcher"}} {
		out, _, err := call(token, http.MethodPost, "/Users", user(u[0], u[1], u[2], u[3]))
		if err != nil {
			return err
		}
		id, _ := out["id"].(string)
		ids = append(ids, id)
	}
	srv.Wait()

	fmt.Println("\n=== Grace is promoted (full-user PUT), Alan leaves (deactivated)")
	g := user("grace@acme.example", "Grace", "Hopper", "Rear Admiral")
	if _, _, err := call(token, http.MethodPut, "/Users/"+ids[1], g); err != nil {
		return err
	}
	deactivate := map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
		"Operations": []any{map[string]any{"op": "replace", "value": map[string]any{"active": false}}}}
	if _, _, err := call(token, http.MethodPatch, "/Users/"+ids[2], deactivate); err != nil {
		return err
	}
	srv.Wait()
	out, _, err := call(token, http.MethodGet, "/Users/"+ids[2], nil)
	if err != nil {
		return err
	}
	fmt.Printf("Okta reads back what it wrote: active=%v\n", out["active"])

	fmt.Println("\n=== The customer moves to Entra ID: the admin rotates the token")
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
