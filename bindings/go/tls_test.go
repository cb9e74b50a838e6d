package eddy

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// makeCerts writes self-signed ECDSA certificates made with the openssl command into a
// temporary directory: "server" (127.0.0.1, localhost), "client" and "named" (example.invalid
// only, for HostnameMapping over https).
func makeCerts(t *testing.T) func(name string) string {
	t.Helper()
	dir := t.TempDir()
	for _, c := range [][2]string{{"server", "DNS:localhost,IP:127.0.0.1"}, {"client", "DNS:client.test"},
		{"named", "DNS:example.invalid"}} {
		cmd := exec.Command("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
			"-nodes", "-keyout", c[0]+".key", "-out", c[0]+".crt", "-subj", "/CN="+c[0],
			"-addext", "subjectAltName="+c[1], "-days", "2")
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("openssl: %v\n%s", err, out)
		}
	}
	return func(name string) string { return filepath.Join(dir, name) }
}

// httpsGet fetches url with Go's TLS client trusting caFile (and presenting cert, if any).
func httpsGet(url, caFile string, cert *tls.Certificate) (string, error) {
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return "", err
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pem)
	cfg := &tls.Config{RootCAs: roots}
	if cert != nil {
		cfg.Certificates = []tls.Certificate{*cert}
	}
	c := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg}}
	resp, err := c.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return fmt.Sprintf("%d %s", resp.StatusCode, body), err
}

// tlsApp serves /ws and /page over TLS with cfg; it dials its own wss:// URL in the tests.
func tlsApp(t *testing.T, cfg ServerTLS) (app *App, https, wss string) {
	app = New()
	app.SetTLS(cfg)
	app.WebSocket("/ws", WebSocket{Open: func(c *Conn) { c.WriteText("hello") }})
	app.Get("/page", func(w *ResponseWriter, r *Request) {
		w.WriteString(r.Scheme() + " " + r.URI())
	})
	base := start(t, app)
	https = "https" + strings.TrimPrefix(base, "http")
	return app, https, "wss" + strings.TrimPrefix(base, "http")
}

func TestServeTLSWithASelfSignedCertificate(t *testing.T) {
	file := makeCerts(t)
	app, https, wss := tlsApp(t, ServerTLS{CertFile: file("server.crt"), KeyFile: file("server.key")})
	welcomed := []string{`connected ""`, "hello"}

	// Verification on (the default): nobody trusts this certificate.
	sameEvents(t, "default", dialOutcome(t, app, wss+"/ws", WebSocketClient{}), "error EDDY_ETLS")
	// Trusted through its own file, or not checked at all.
	sameEvents(t, "CAFile", dialOutcome(t, app, wss+"/ws", WebSocketClient{TLS: ClientTLS{CAFile: file("server.crt")}}),
		welcomed...)
	sameEvents(t, "skip", dialOutcome(t, app, wss+"/ws", WebSocketClient{TLS: ClientTLS{InsecureSkipVerify: true}}),
		welcomed...)
	// An unreadable CA file is an error of its own, before connecting.
	got := dialOutcome(t, app, wss+"/ws", WebSocketClient{TLS: ClientTLS{CAFile: file("missing.crt")}})
	if len(got) != 1 || !strings.Contains(got[0], "missing.crt") {
		t.Fatalf("missing CA file: %q", got)
	}

	// HTTPS with Go's TLS client: trusted with the certificate as CA, refused without.
	if page, err := httpsGet(https+"/page?x=1", file("server.crt"), nil); err != nil || page != "200 https /page?x=1" {
		t.Fatalf("https: %q %v", page, err)
	}
	if _, err := client.Get(https + "/page"); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("https without the CA: %v", err)
	}
}

func TestServeTLSClientCertificates(t *testing.T) {
	file := makeCerts(t)
	app, https, wss := tlsApp(t, ServerTLS{CertFile: file("server.crt"), KeyFile: file("server.key"),
		ClientCAFile: file("client.crt"), ClientAuth: RequireAndVerifyClientCert})
	trusting := ClientTLS{CAFile: file("server.crt")}
	withCert := trusting
	withCert.CertFile, withCert.KeyFile = file("client.crt"), file("client.key")
	sameEvents(t, "client cert", dialOutcome(t, app, wss+"/ws", WebSocketClient{TLS: withCert}), `connected ""`, "hello")
	// Without a certificate, or with one the server does not trust, no connection.
	wrong := trusting
	wrong.CertFile, wrong.KeyFile = file("server.crt"), file("server.key")
	for what, cfg := range map[string]ClientTLS{"none": trusting, "untrusted": wrong} {
		if got := dialOutcome(t, app, wss+"/ws", WebSocketClient{TLS: cfg}); len(got) != 1 || !strings.HasPrefix(got[0], "error ") {
			t.Fatalf("%s: %q", what, got)
		}
	}
	// Go's TLS client, with and without the certificate.
	cert, err := tls.LoadX509KeyPair(file("client.crt"), file("client.key"))
	if err != nil {
		t.Fatal(err)
	}
	if page, err := httpsGet(https+"/page", file("server.crt"), &cert); err != nil || page != "200 https /page" {
		t.Fatalf("https with a client certificate: %q %v", page, err)
	}
	if page, err := httpsGet(https+"/page", file("server.crt"), nil); err == nil {
		t.Fatalf("https without a client certificate: %q", page)
	}
}

func TestSetTLSErrors(t *testing.T) {
	file := makeCerts(t)
	for what, cfg := range map[string]ServerTLS{
		"missing key":  {CertFile: file("server.crt"), KeyFile: file("missing.key")},
		"wrong key":    {CertFile: file("server.crt"), KeyFile: file("client.key")},
		"no client CA": {CertFile: file("server.crt"), KeyFile: file("server.key"), ClientAuth: VerifyClientCertIfGiven},
	} {
		app := New()
		app.SetTLS(cfg)
		app.Get("/", func(w *ResponseWriter, r *Request) {})
		if err := app.Start("127.0.0.1:0"); !errors.Is(err, ErrInvalid) {
			t.Fatalf("%s: Start gave %v", what, err)
		}
	}
}
