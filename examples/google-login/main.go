// Command google-login is a small web app where colleagues join the
// organization by signing in with Google: no directory sync, no invitation.
// The first sign-in of a person from an allowed Google Workspace domain
// creates their account; later sign-ins find it; a person suspended in
// Google Workspace, or blocked here, is refused with the reason.
//
// Create an OAuth client ("Web application") in the Google Cloud console
// with the redirect URI http://localhost:8080/callback, then:
//
//	GOOGLE_CLIENT_ID=… GOOGLE_CLIENT_SECRET=… ALLOWED_DOMAINS=example.com \
//	    go run ./examples/google-login
//
// and open http://localhost:8080. Set GOOGLE_SERVICE_ACCOUNT_FILE (a key
// with domain-wide delegation) and GOOGLE_ADMIN (the admin it acts as) to
// refuse people suspended or deleted in Google Workspace. Accounts live in
// memory for the demo; a
// real host applies the Change to its own user store.
package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"log"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"

	"golang.org/x/oauth2"
	googleoauth "golang.org/x/oauth2/google"

	"github.com/dirsync-go/dirsync/connector/google"
	"github.com/dirsync-go/dirsync/diff"
	"github.com/dirsync-go/dirsync/dirsynctest"
	"github.com/dirsync-go/dirsync/signin"
)

func main() {
	addr := envOr("ADDR", "localhost:8080")
	clientID, secret := os.Getenv("GOOGLE_CLIENT_ID"), os.Getenv("GOOGLE_CLIENT_SECRET")
	domains := strings.Split(os.Getenv("ALLOWED_DOMAINS"), ",")
	if clientID == "" || secret == "" || domains[0] == "" {
		log.Fatal("set GOOGLE_CLIENT_ID, GOOGLE_CLIENT_SECRET and ALLOWED_DOMAINS (comma-separated Workspace domains)")
	}
	oauth := &oauth2.Config{ClientID: clientID, ClientSecret: secret, Endpoint: googleoauth.Endpoint,
		RedirectURL: envOr("REDIRECT_URL", "http://"+addr+"/callback"),
		Scopes:      []string{"openid", "email", "profile"}}
	cfg := signin.Config{
		ClientID: clientID, Google: &signin.Google{HostedDomains: domains}, Source: "google-login",
		Logger: slog.Default(),
	}
	// With a service account allowed domain-wide delegation, people
	// suspended or deleted in Google Workspace are refused at once: the
	// Google connector is a connector.StatusChecker.
	if keyFile, admin := os.Getenv("GOOGLE_SERVICE_ACCOUNT_FILE"), os.Getenv("GOOGLE_ADMIN"); keyFile != "" && admin != "" {
		dir, err := google.Open(context.Background(), google.Config{ServiceAccountFile: keyFile, Subject: admin, Logger: slog.Default()})
		if err != nil {
			log.Fatal(err)
		}
		cfg.Directory = dir
	}
	app, err := newApp(oauth, cfg)
	if err != nil {
		log.Fatal(err)
	}
	log.Printf("open http://%s", addr)
	srv := &http.Server{Addr: addr, Handler: app.handler(), ReadHeaderTimeout: 10 * time.Second}
	log.Fatal(srv.ListenAndServe())
}

// newApp makes the app over an in-memory account store, which cfg.Accounts
// is set to search.
func newApp(oauth *oauth2.Config, cfg signin.Config) (*app, error) {
	a := &app{sink: dirsynctest.NewMemorySink(), oauth: oauth}
	if cfg.Google != nil {
		a.domains = cfg.Google.HostedDomains
	}
	cfg.Accounts = signin.AccountFinderFunc(a.findAccount)
	auth, err := signin.New(cfg)
	if err != nil {
		return nil, err
	}
	a.auth = auth
	return a, nil
}

func (a *app) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", a.home)
	mux.HandleFunc("GET /login", a.login)
	mux.HandleFunc("GET /callback", a.callback)
	return mux
}

type app struct {
	sink    *dirsynctest.MemorySink
	oauth   *oauth2.Config
	auth    *signin.Authenticator
	domains []string
}

// findAccount looks the person up in the demo store: by the Google user
// id, else an account with the same email that no integration manages
// (email arrives in signin.NormalizeEmail's form).
func (a *app) findAccount(_ context.Context, source, id, email string) (*diff.Account, error) {
	if acc, ok := a.sink.Get(source, id); ok {
		return &acc, nil
	}
	for _, acc := range a.sink.Snapshot() {
		if !acc.Managed && signin.NormalizeEmail(acc.Email) == email {
			return &acc, nil
		}
	}
	return nil, nil
}

var page = template.Must(template.New("page").Parse(`<!doctype html>
<title>Sign in</title>
<h1>{{.Title}}</h1>
{{if .Message}}<p>{{.Message}}</p>{{end}}
<p><a href="/login">Sign in with Google</a></p>
<h2>Members</h2>
<ul>{{range .Members}}<li>{{.DisplayName}} &lt;{{.Email}}&gt;{{if .Blocked}} (blocked){{end}}</li>{{else}}<li>nobody yet</li>{{end}}</ul>`))

func (a *app) render(w http.ResponseWriter, status int, title, msg string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_ = page.Execute(w, map[string]any{"Title": title, "Message": msg, "Members": a.sink.Snapshot()})
}

func (a *app) home(w http.ResponseWriter, r *http.Request) {
	a.render(w, http.StatusOK, "Northwind", "")
}

func random() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func (a *app) login(w http.ResponseWriter, r *http.Request) {
	state, nonce := random(), random()
	for name, v := range map[string]string{"state": state, "nonce": nonce} {
		http.SetCookie(w, &http.Cookie{Name: name, Value: v, Path: "/", MaxAge: 600, HttpOnly: true, SameSite: http.SameSiteLaxMode})
	}
	opts := []oauth2.AuthCodeOption{oauth2.SetAuthURLParam("nonce", nonce)}
	if len(a.domains) == 1 {
		// A hint for Google's account chooser; the hd claim is still checked.
		opts = append(opts, oauth2.SetAuthURLParam("hd", a.domains[0]))
	}
	http.Redirect(w, r, a.oauth.AuthCodeURL(state, opts...), http.StatusFound)
}

func (a *app) callback(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	state, err := r.Cookie("state")
	if err != nil || r.URL.Query().Get("state") != state.Value {
		a.render(w, http.StatusBadRequest, "Sign-in failed", "The sign-in did not start here; try again.")
		return
	}
	nonce, _ := r.Cookie("nonce")
	tok, err := a.oauth.Exchange(ctx, r.URL.Query().Get("code"))
	if err != nil {
		a.render(w, http.StatusBadGateway, "Sign-in failed", "Google did not accept the sign-in: "+err.Error())
		return
	}
	raw, _ := tok.Extra("id_token").(string)
	n := ""
	if nonce != nil {
		n = nonce.Value
	}
	d, err := a.auth.SignIn(ctx, raw, n)
	var refused *signin.RefusedError
	switch {
	case errors.As(err, &refused):
		a.render(w, http.StatusForbidden, "Sign-in refused", refused.Reason.Detail)
		return
	case err != nil:
		a.render(w, http.StatusServiceUnavailable, "Sign-in failed", "Please try again later.")
		log.Print(err)
		return
	}
	if d.Change != nil {
		if err := a.sink.Apply(ctx, *d.Change); err != nil {
			a.render(w, http.StatusInternalServerError, "Sign-in failed", "Could not create the account.")
			log.Print(err)
			return
		}
	}
	a.render(w, http.StatusOK, fmt.Sprintf("Welcome, %s", d.Account.Name()), d.Reason.Detail)
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
