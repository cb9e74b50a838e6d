package eddy

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// whoApp answers /who with "sni=<name> cert=<DER length or error name>" and keeps the last
// certificate it saw.
func whoApp(t *testing.T, cfg *ServerTLS) (base string, lastCert func() []byte) {
	var mu sync.Mutex
	var kept []byte
	app := New()
	if cfg != nil {
		app.SetTLS(*cfg)
	}
	app.Get("/who", func(w *ResponseWriter, r *Request) {
		cert := ""
		if der, err := r.TLSPeerCertificate(); err != nil {
			cert = err.(Error).Name()
		} else {
			cert = fmt.Sprint(len(der))
			mu.Lock()
			kept = der
			mu.Unlock()
		}
		fmt.Fprintf(w, "sni=%s cert=%s", r.TLSServerName(), cert)
	})
	base = start(t, app)
	return base, func() []byte {
		mu.Lock()
		defer mu.Unlock()
		return kept
	}
}

func TestRequestTLSOverPlainHTTP(t *testing.T) {
	base, _ := whoApp(t, nil)
	resp, body := do(t, "GET", base+"/who", nil, nil)
	expect(t, resp, body, 200, "sni= cert=EDDY_ENOENT")
}

func TestRequestTLSServerNameAndClientCertificate(t *testing.T) {
	file := makeCerts(t)
	base, lastCert := whoApp(t, &ServerTLS{CertFile: file("server.crt"), KeyFile: file("server.key"),
		ClientCAFile: file("client.crt"), ClientAuth: VerifyClientCertIfGiven})
	addr := strings.TrimPrefix(base, "http://")
	port := addr[strings.LastIndex(addr, ":")+1:]
	pem, err := os.ReadFile(file("server.crt"))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pem)
	clientCert, err := tls.LoadX509KeyPair(file("client.crt"), file("client.key"))
	if err != nil {
		t.Fatal(err)
	}
	// get fetches url over TLS, always connecting to the server's loopback address: the URL's
	// host is what Go sends as SNI (nothing for an IP address) and as Host.
	get := func(url string, cert *tls.Certificate) string {
		t.Helper()
		cfg := &tls.Config{RootCAs: roots}
		if cert != nil {
			cfg.Certificates = []tls.Certificate{*cert}
		}
		dial := func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		}
		c := &http.Client{Timeout: 20 * time.Second,
			Transport: &http.Transport{TLSClientConfig: cfg, DialContext: dial, DisableKeepAlives: true}}
		resp, err := c.Get(url)
		if err != nil {
			t.Fatalf("GET %s: %v", url, err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("GET %s: %d %q %v", url, resp.StatusCode, body, err)
		}
		return string(body)
	}

	byName := "https://localhost:" + port + "/who"
	if got := get(byName, nil); got != "sni=localhost cert=EDDY_ENOENT" {
		t.Fatalf("by name, no certificate: %q", got)
	}
	if got := get("https://"+addr+"/who", nil); got != "sni= cert=EDDY_ENOENT" {
		t.Fatalf("by IP address: %q", got)
	}
	der := clientCert.Certificate[0]
	if got, want := get(byName, &clientCert), fmt.Sprintf("sni=localhost cert=%d", len(der)); got != want {
		t.Fatalf("with a client certificate: %q, want %q", got, want)
	}
	if !bytes.Equal(lastCert(), der) {
		t.Fatal("TLSPeerCertificate is not the client's certificate")
	}
	if parsed, err := x509.ParseCertificate(lastCert()); err != nil || parsed.Subject.CommonName != "client" {
		t.Fatalf("parsing the certificate: %v %v", parsed, err)
	}
}
