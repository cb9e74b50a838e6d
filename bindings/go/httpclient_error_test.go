package eddy

import (
	"errors"
	"net"
	"strings"
	"testing"
)

// failedFetch fetches url with c and returns the error as a *FetchError (failing the test
// when the fetch succeeds or eddy gave no detail).
func failedFetch(t *testing.T, c *HTTPClient, url string, code Error) *FetchError {
	t.Helper()
	_, err := fetch(t, c, &HTTPRequest{URL: url})
	wantError(t, url, err, code) // errors.Is still sees the code through the wrapper
	var fe *FetchError
	if !errors.As(err, &fe) {
		t.Fatalf("%s: %T %v, want a *FetchError", url, err, err)
	}
	if fe.Code != code || err.Error() != code.Error()+": "+fe.Detail {
		t.Fatalf("%s: code %v, text %q, detail %q", url, fe.Code, err.Error(), fe.Detail)
	}
	return fe
}

func TestHTTPClientErrorDetail(t *testing.T) {
	file := makeCerts(t)
	// named.crt carries example.invalid only; other.invalid reaches the same server.
	app, https, _ := tlsApp(t, ServerTLS{CertFile: file("named.crt"), KeyFile: file("named.key")})
	port := https[strings.LastIndexByte(https, ':')+1:]
	c, err := app.NewHTTPClient(HTTPClientOptions{TLS: ClientTLS{CAFile: file("named.crt")},
		HostnameMapping: map[string]string{"other.invalid": "127.0.0.1"}})
	if err != nil {
		t.Fatal(err)
	}
	// A trusted certificate for another name: OpenSSL's verification message, through
	// eddy_fetch_error_detail.
	fe := failedFetch(t, c, "https://other.invalid:"+port+"/page", ErrTLS)
	if fe.Detail != "certificate verification: hostname mismatch" {
		t.Fatalf("wrong name: detail %q", fe.Detail)
	}
	// An untrusted certificate (the default trust store does not know it).
	plain, err := app.NewHTTPClient(HTTPClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if fe := failedFetch(t, plain, https+"/page", ErrTLS); !strings.HasPrefix(fe.Detail, "certificate verification: ") {
		t.Fatalf("untrusted: detail %q", fe.Detail)
	}
	// A refused connect names the address it tried.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String() + "/"
	ln.Close()
	if fe := failedFetch(t, plain, closed, ErrConnRefused); fe.Detail != "connect to "+ln.Addr().String()+": Connection refused" {
		t.Fatalf("closed port: detail %q", fe.Detail)
	}
}
