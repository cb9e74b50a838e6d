package eddy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// unixClient is an HTTP client whose every connection goes to the Unix socket at path (Go's
// net.Dial takes "@name" for a Linux abstract socket).
func unixClient(path string) *http.Client {
	return &http.Client{
		Timeout: 20 * time.Second,
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, "unix", path)
			},
		},
	}
}

func getOverUnix(t *testing.T, path, url string) string {
	t.Helper()
	c := unixClient(path)
	defer c.Transport.(*http.Transport).CloseIdleConnections()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s over %s: %v", url, path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET %s over %s: %d %q %v", url, path, resp.StatusCode, body, err)
	}
	return string(body)
}

func fileMode(t *testing.T, path string) os.FileMode {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatalf("stat %s: %v", path, err)
	}
	if st.Mode()&os.ModeSocket == 0 {
		t.Fatalf("%s is not a socket: %v", path, st.Mode())
	}
	return st.Mode().Perm()
}

// An App listens on a Unix socket with "unix:PATH" (Start and AddServer), as Tornado's
// bind_unix_socket + add_socket does; the file gets mode 0600 (Tornado's default) or
// SetUnixSocketMode's, and is removed when the App ends. (Before, "unix:PATH" was refused
// as a host:port and an App could not listen on a Unix socket at all.)
func TestAppListensOnUnixSocket(t *testing.T) {
	dir := t.TempDir()
	main := filepath.Join(dir, "app.sock")
	extra := filepath.Join(dir, "extra.sock")
	abstract := fmt.Sprintf("@eddy-go-test-%d", os.Getpid())

	app := New()
	app.Get(`/`, func(w *ResponseWriter, r *Request) { w.WriteString("hello over unix") })
	s := app.AddServer("unix:" + extra)
	s.SetUnixSocketMode(0o660)
	app.AddServer("unix:" + abstract)
	if err := app.Start("unix:" + main); err != nil {
		t.Fatalf("Start: %v", err)
	}
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			app.Stop()
			app.Wait()
		}
	})
	if app.Port() != 0 || s.Port() != 0 {
		t.Errorf("Port() = %d, %d on Unix sockets, want 0", app.Port(), s.Port())
	}
	if m := fileMode(t, main); m != 0o600 {
		t.Errorf("mode of %s = %v, want 0600", main, m)
	}
	if m := fileMode(t, extra); m != 0o660 {
		t.Errorf("mode of %s = %v, want 0660", extra, m)
	}
	for _, path := range []string{main, extra, abstract} {
		if got := getOverUnix(t, path, "http://eddy/"); got != "hello over unix" {
			t.Errorf("over %s: %q", path, got)
		}
	}
	if _, err := os.Lstat(abstract); err == nil {
		t.Errorf("an abstract socket made a file %s", abstract)
	}
	app.Stop()
	app.Wait()
	stopped = true
	for _, path := range []string{main, extra} {
		if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s left behind: %v", path, err)
		}
	}
	noHandlesLeft(t, "after the app was freed")
}

// ServeAll's server takes "unix:PATH" too; a path in use, an empty path and a bad mode are
// errors from Start.
func TestAppUnixSocketErrors(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "raw.sock")
	app := New()
	app.ServeAll(func(w *ResponseWriter, r *Request) { w.WriteString("raw") })
	if err := app.Start("unix:" + path); err != nil {
		t.Fatalf("Start: %v", err)
	}
	defer func() { app.Stop(); app.Wait() }()
	if got := getOverUnix(t, path, "http://eddy/x"); got != "raw" {
		t.Errorf("ServeAll over unix: %q", got)
	}

	busy := New()
	busy.Get(`/`, func(w *ResponseWriter, r *Request) {})
	if err := busy.Start("unix:" + path); !errors.Is(err, ErrAddrInUse) {
		t.Errorf("Start on a live socket: %v, want ErrAddrInUse", err)
	}
	empty := New()
	if err := empty.Start("unix:"); !errors.Is(err, ErrInvalid) {
		t.Errorf(`Start("unix:"): %v, want ErrInvalid`, err)
	}
	badMode := New()
	badMode.Get(`/`, func(w *ResponseWriter, r *Request) {})
	badMode.SetUnixSocketMode(os.ModeSetuid | 0o600)
	if err := badMode.Start("unix:" + filepath.Join(dir, "mode.sock")); !errors.Is(err, ErrInvalid) {
		t.Errorf("SetUnixSocketMode(setuid): %v, want ErrInvalid", err)
	}
	if _, err := os.Lstat(filepath.Join(dir, "mode.sock")); err == nil {
		t.Errorf("a refused Start left its socket file")
	}
}
