package ad

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dirsync-go/dirsync/connector"
	ber "github.com/go-asn1-ber/asn1-ber"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// testCert returns a server TLS config for 127.0.0.1 and the PEM of its
// self-signed certificate, to trust as CAPEM.
func testCert(t *testing.T) (*tls.Config, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(42),
		Subject:               pkix.Name{CommonName: "fake dc"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	cert := tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
		string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

// stuckDC accepts connections and then misbehaves, never answering a
// request properly:
//
//	"silent"        reads everything and never writes a byte
//	"garbage"       writes bytes that are neither TLS nor LDAP, then is silent
//	"starttls-only" answers a StartTLS request with success, then is silent
//	                (the TLS handshake that follows never completes)
//
// It returns the address and a function reporting how many connections
// it accepted.
func stuckDC(t *testing.T, mode string) (string, func() int) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var (
		mu       sync.Mutex
		accepted int
		conns    []net.Conn
	)
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			accepted++
			conns = append(conns, conn)
			mu.Unlock()
			go func() {
				switch mode {
				case "garbage":
					_, _ = conn.Write([]byte("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n\x00\xff\xfe garbage"))
				case "starttls-only":
					p, err := ber.ReadPacket(conn)
					if err != nil || len(p.Children) < 2 {
						return
					}
					write(conn, p.Children[0].Value, result(24, 0))
				}
				_, _ = io.Copy(io.Discard, conn) // until the client closes
			}()
		}
	}()
	return ln.Addr().String(), func() int {
		mu.Lock()
		defer mu.Unlock()
		return accepted
	}
}

// within runs fn and fails the test if it has not returned after limit,
// instead of hanging the test binary.
func within(t *testing.T, limit time.Duration, fn func() error) (time.Duration, error) {
	t.Helper()
	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- fn() }()
	select {
	case err := <-done:
		return time.Since(start), err
	case <-time.After(limit):
		t.Fatalf("still waiting after %v: the call hangs", limit)
		return 0, nil
	}
}

// hangCase is one way of reaching a DC that accepts and never answers.
type hangCase struct {
	name   string
	mode   string // stuckDC mode
	scheme string // of both URLs
	tls    string // "ldaps", "starttls" or "" (plaintext)
}

var hangCases = []hangCase{
	{"LDAPS silent", "silent", "ldaps", "ldaps"},
	{"LDAPS garbage", "garbage", "ldaps", "ldaps"},
	{"StartTLS silent", "silent", "ldap", "starttls"},
	{"StartTLS handshake never completes", "starttls-only", "ldap", "starttls"},
	{"StartTLS garbage", "garbage", "ldap", "starttls"},
	{"plaintext silent", "silent", "ldap", "plain"},
	{"plaintext garbage", "garbage", "ldap", "plain"},
}

func (hc hangCase) config(serverTLS *tls.Config, caPEM string, timeout time.Duration, urls ...string) Config {
	cfg := Config{URLs: urls, BindDN: "svc@fake.test", Password: "x", BaseDN: "DC=fake,DC=test", Timeout: timeout}
	switch hc.tls {
	case "ldaps", "starttls":
		cfg.CAPEM = caPEM
		cfg.StartTLS = hc.tls == "starttls"
	default:
		cfg.InsecurePlaintext = true
	}
	return cfg
}

// TestStuckDCFailsOver puts a DC that accepts the connection and never
// answers (or answers garbage) first, a working one second: Read and
// Check finish within a few Timeouts on the second DC. With the stuck DC
// alone, Read, Check and ReadChanges fail with ErrTimeout naming its URL.
func TestStuckDCFailsOver(t *testing.T) {
	const timeout = 300 * time.Millisecond
	// A liveness bound, not a timing: without the handshake deadline the
	// calls never return (within gives up at 4×bound); with it they take
	// about one Timeout, and the bound leaves room for a loaded machine
	// running the race detector.
	const bound = 20 * timeout
	serverTLS, caPEM := testCert(t)
	members := make([]string, 1600)
	for i := range members {
		members[i] = fmt.Sprintf("CN=User %04d,OU=Staff,DC=fake,DC=test", i)
	}
	for _, hc := range hangCases {
		t.Run(hc.name, func(t *testing.T) {
			stuck, accepted := stuckDC(t, hc.mode)
			var good string
			switch hc.tls {
			case "ldaps":
				good = fakeDCWith(t, members, "", serverTLS, true)
			case "starttls":
				good = fakeDCWith(t, members, "", serverTLS, false)
			default:
				good = fakeDC(t, members, "")
			}
			stuckURL, goodURL := hc.scheme+"://"+stuck, hc.scheme+"://"+good

			c, err := Open(t.Context(), hc.config(serverTLS, caPEM, timeout, stuckURL, goodURL))
			require.NoError(t, err)
			took, err := within(t, 4*bound, func() error {
				entries, err := connector.ReadAll(context.Background(), c)
				if err == nil && len(entries) != 1 {
					return fmt.Errorf("read %d entries from the second DC, want its group", len(entries))
				}
				return err
			})
			assert.NoError(t, err, "Read must fail over to %s", goodURL)
			assert.Less(t, took, bound, "Read took %v with Timeout %v", took, timeout)
			t.Logf("Read with fail-over: %v", took.Round(time.Millisecond))
			took, err = within(t, 4*bound, func() error { return c.Check(context.Background()) })
			assert.NoError(t, err, "Check must fail over to %s", goodURL)
			assert.Less(t, took, bound, "Check took %v with Timeout %v", took, timeout)
			assert.Positive(t, accepted(), "the stuck DC was never dialled")

			// The stuck DC alone: every entry point returns an error that
			// says it timed out (or what was wrong) and names the DC.
			alone, err := Open(t.Context(), hc.config(serverTLS, caPEM, timeout, stuckURL))
			require.NoError(t, err)
			calls := map[string]func() error{
				"Read":  func() error { _, err := connector.ReadAll(context.Background(), alone); return err },
				"Check": func() error { return alone.Check(context.Background()) },
				"ReadChanges": func() error {
					_, err := alone.ReadChanges(context.Background(), nil, func(connector.Entry) error { return nil })
					return err
				},
			}
			for name, call := range calls {
				took, err := within(t, 4*bound, call)
				require.Error(t, err, "%s against a stuck DC succeeded", name)
				assert.Less(t, took, bound, "%s took %v with Timeout %v", name, took, timeout)
				t.Logf("%s alone: %v: %v", name, took.Round(time.Millisecond), err)
				assert.Contains(t, err.Error(), stuckURL, "%s: error does not name the DC", name)
				var op *OpError
				assert.True(t, errors.As(err, &op), "%s: %v is not an *OpError", name, err)
				if hc.mode != "garbage" {
					assert.ErrorIs(t, err, ErrTimeout, "%s", name)
					assert.Contains(t, err.Error(), "timed out", "%s", name)
				}
			}
		})
	}
}

// TestCancelDuringHandshake cancels ctx while the TLS handshake (LDAPS, or
// after StartTLS) waits for a DC that never answers, with a Timeout far
// longer than the test: the call returns promptly with the ctx error.
func TestCancelDuringHandshake(t *testing.T) {
	serverTLS, caPEM := testCert(t)
	for _, hc := range hangCases {
		if hc.mode == "garbage" {
			continue // fails by itself, no waiting to cancel
		}
		t.Run(hc.name, func(t *testing.T) {
			stuck, _ := stuckDC(t, hc.mode)
			c, err := Open(t.Context(), hc.config(serverTLS, caPEM, time.Hour, hc.scheme+"://"+stuck))
			require.NoError(t, err)
			for name, call := range map[string]func(context.Context) error{
				"Read":  func(ctx context.Context) error { _, err := connector.ReadAll(ctx, c); return err },
				"Check": c.Check,
				"ReadChanges": func(ctx context.Context) error {
					_, err := c.ReadChanges(ctx, nil, func(connector.Entry) error { return nil })
					return err
				},
			} {
				ctx, cancel := context.WithCancel(context.Background())
				time.AfterFunc(200*time.Millisecond, cancel)
				took, err := within(t, 30*time.Second, func() error { return call(ctx) })
				cancel()
				assert.ErrorIs(t, err, context.Canceled, "%s", name)
				assert.Less(t, took, 5*time.Second, "%s returned %v after cancel", name, took)
				assert.NotErrorIs(t, err, ErrTimeout, "%s: a cancellation is not a timeout", name)
			}
		})
	}
}

func TestTimeoutErrorText(t *testing.T) {
	stuck, _ := stuckDC(t, "silent")
	c, err := Open(t.Context(), Config{URLs: []string{"ldap://" + stuck}, InsecurePlaintext: true, BindDN: "svc@fake.test",
		Password: "x", BaseDN: "DC=fake,DC=test", Timeout: 200 * time.Millisecond})
	require.NoError(t, err)
	err = c.Check(context.Background())
	require.ErrorIs(t, err, ErrTimeout)
	assert.True(t, strings.Contains(err.Error(), "200ms"), "error does not say how long it waited: %v", err)
}
