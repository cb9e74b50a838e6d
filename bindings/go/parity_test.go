package eddy

import (
	"bufio"
	"crypto/md5"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// Tornado's HTTPServerRequest fields and dicts: version, host_name, full_url(),
// request_time(), cookies, arguments / query_arguments / body_arguments, get_*_arguments.
func TestRequestTornadoFields(t *testing.T) {
	app := New()
	app.HandleFunc("POST", `/info`, func(w *ResponseWriter, r *Request) {
		out := map[string]interface{}{
			"version": r.Version(), "hostName": r.HostName(), "fullURL": r.FullURL(),
			"cookies": r.Cookies(), "all": r.ArgumentMap(FromAll),
			"query": r.ArgumentMap(FromQuery), "body": r.ArgumentMap(FromBody),
			"x": r.ArgumentValues(FromAll, "x"), "qx": r.ArgumentValues(FromQuery, "x"),
			"bx": r.ArgumentValues(FromBody, "x"), "none": r.ArgumentValues(FromAll, "nope"),
		}
		b, _ := json.Marshal(out)
		w.Write(b)
	})
	app.Get(`/time`, func(w *ResponseWriter, r *Request) {
		fmt.Fprintf(w, "%.3f", r.RequestTime())
	})
	base := start(t, app)

	req, _ := http.NewRequest("POST", base+"/info?x=1&y=2&x=3", strings.NewReader("x=b1&z=&x=b2"))
	req.Host = "Example.COM:8080"
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Cookie", `a=1; b="q\"x"; bad name=2; a=dup`)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Version, HostName, FullURL string
		Cookies                    map[string]string
		All, Query, Body           url.Values
		X, Qx, Bx, None            []string
	}
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	check := func(what string, have, want interface{}) {
		t.Helper()
		if !reflect.DeepEqual(have, want) {
			t.Errorf("%s: %#v, want %#v", what, have, want)
		}
	}
	check("version", got.Version, "HTTP/1.1")
	check("host_name", got.HostName, "example.com")
	check("full_url", got.FullURL, "http://Example.COM:8080/info?x=1&y=2&x=3")
	check("cookies", got.Cookies, map[string]string{"a": "1", "b": `q"x`})
	check("arguments", got.All, url.Values{"x": {"1", "3", "b1", "b2"}, "y": {"2"}, "z": {""}})
	check("query_arguments", got.Query, url.Values{"x": {"1", "3"}, "y": {"2"}})
	check("body_arguments", got.Body, url.Values{"x": {"b1", "b2"}, "z": {""}})
	check("get_query_arguments", got.Qx, []string{"1", "3"})
	check("get_body_arguments", got.Bx, []string{"b1", "b2"})
	check("missing", got.None, []string(nil))

	req, _ = http.NewRequest("POST", base+"/info", nil)
	req.Host = "[::1]:80"
	resp, err = client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	json.NewDecoder(resp.Body).Decode(&got)
	resp.Body.Close()
	check("host_name of [::1]:80", got.HostName, "[::1]")

	// request_time counts from the request line: the head comes in two writes 150 ms apart.
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.Write([]byte("GET /time HTTP/1.1\r\n"))
	time.Sleep(150 * time.Millisecond)
	conn.Write([]byte("Host: t\r\nConnection: close\r\n\r\n"))
	tr, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	var secs float64
	fmt.Fscan(tr.Body, &secs)
	if secs < 0.1 { // a lower bound only: a loaded machine may take any time
		t.Errorf("request_time %v, want at least the 0.15 s the head took", secs)
	}
}

// Tornado's get_status, clear, compute_etag (SetEtag) and clear_all_cookies.
func TestResponseStatusClearEtagAndClearAllCookies(t *testing.T) {
	app := New()
	app.Route(`/status`).
		DefaultHeaders(func(w *ResponseWriter) { w.SetHeader("X-Default", "again") }).
		Prepare(func(w *ResponseWriter, r *Request) { w.SetStatus(201) }).
		WriteError(func(w *ResponseWriter, r *Request, status int) {
			fmt.Fprintf(w, "error %d %d", status, w.Status())
		}).
		HandleFunc("GET", func(w *ResponseWriter, r *Request) {
			seen := []int{w.Status()} // 201, from Prepare
			w.SetHeader("X-Dropped", "1")
			w.WriteString("dropped body")
			if err := w.Clear(); err != nil {
				t.Errorf("Clear: %v", err)
			}
			seen = append(seen, w.Status())
			w.SetStatus(202)
			seen = append(seen, w.Status())
			if _, ok := r.Argument("error"); ok {
				w.SendError(409)
				return
			}
			fmt.Fprint(w, seen)
		})
	app.Get(`/etag`, func(w *ResponseWriter, r *Request) {
		if tag, ok := r.Argument("tag"); ok {
			if err := w.SetEtag(tag); err != nil {
				t.Errorf("SetEtag(%q): %v", tag, err)
			}
		}
		w.WriteString("same body")
	})
	app.Get(`/clear_all`, func(w *ResponseWriter, r *Request) {
		if err := w.ClearAllCookies("/p", ""); err != nil {
			t.Errorf("ClearAllCookies: %v", err)
		}
	})
	base := start(t, app)

	resp, body := do(t, "GET", base+"/status", nil, nil)
	expect(t, resp, body, 202, "[201 200 202]")
	if resp.Header.Get("X-Dropped") != "" || resp.Header.Get("X-Default") != "again" {
		t.Errorf("headers after Clear: %v", resp.Header)
	}
	resp, body = do(t, "GET", base+"/status?error=1", nil, nil)
	expect(t, resp, body, 409, "error 409 409")

	resp, body = do(t, "GET", base+"/etag?tag=%22v1%22", nil, nil)
	expect(t, resp, body, 200, "same body")
	if resp.Header.Get("Etag") != `"v1"` {
		t.Errorf("Etag %q", resp.Header.Get("Etag"))
	}
	resp, body = do(t, "GET", base+"/etag?tag=%22v1%22", nil, map[string]string{"If-None-Match": `"v1"`})
	expect(t, resp, body, 304, "")
	resp, body = do(t, "GET", base+"/etag?tag=", nil, map[string]string{"If-None-Match": "*"})
	expect(t, resp, body, 200, "same body")
	if resp.Header.Get("Etag") != "" {
		t.Errorf("SetEtag(\"\"): Etag %q", resp.Header.Get("Etag"))
	}

	resp, _ = do(t, "GET", base+"/clear_all", nil, map[string]string{"Cookie": "a=1; bad name=3; b=2"})
	var cleared []string
	for _, c := range resp.Header.Values("Set-Cookie") {
		if !strings.Contains(c, "Path=/p") || !strings.Contains(strings.ToLower(c), "expires=") {
			t.Errorf("not a deletion on /p: %q", c)
		}
		cleared = append(cleared, c[:strings.IndexByte(c, '=')])
	}
	if strings.Join(cleared, ",") != "a,b" && strings.Join(cleared, ",") != "b,a" {
		t.Errorf("cleared %v, want a and b", cleared)
	}
}

// Tornado's static_url: the versioned URL under the static mount, served with a 10-year
// Cache-Control; a missing file gets the plain URL; an app without Static gets an error.
func TestStaticURL(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "css"), 0o755); err != nil {
		t.Fatal(err)
	}
	content := []byte("body { color: #c0ffee }\n")
	if err := os.WriteFile(filepath.Join(dir, "css", "a.css"), content, 0o644); err != nil {
		t.Fatal(err)
	}
	app := New()
	app.Static("/static/", dir)
	app.Get(`/static_url`, staticURLHandler)
	base := start(t, app)

	want := fmt.Sprintf("/static/css/a.css?v=%x", md5.Sum(content))
	resp, body := do(t, "GET", base+"/static_url?path=css/a.css", nil, nil)
	expect(t, resp, body, 200, want)
	resp, body = do(t, "GET", base+want, nil, nil)
	expect(t, resp, body, 200, string(content))
	if cc := resp.Header.Get("Cache-Control"); cc != "max-age=315360000" {
		t.Errorf("Cache-Control %q", cc)
	}
	resp, body = do(t, "GET", base+"/static_url?path=css/missing.css", nil, nil)
	expect(t, resp, body, 200, "/static/css/missing.css")
}

func staticURLHandler(w *ResponseWriter, r *Request) {
	p, _ := r.Argument("path")
	u, err := r.StaticURL(p)
	if err != nil {
		fmt.Fprintf(w, "error: %v", err)
		return
	}
	w.WriteString(u)
}

// An app without a static directory: StaticURL gives ErrNotSupported.
func TestStaticURLWithoutStatic(t *testing.T) {
	app := New()
	app.Get(`/static_url`, staticURLHandler)
	resp, body := do(t, "GET", start(t, app)+"/static_url?path=css/a.css", nil, nil)
	expect(t, resp, body, 200, "error: "+ErrNotSupported.Error())
}
