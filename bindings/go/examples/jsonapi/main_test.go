package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

func call(t *testing.T, method, url, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	resp, err := (&http.Client{Timeout: 20 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestJSONAPI(t *testing.T) {
	app := newApp()
	if err := app.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	defer func() { app.Stop(); app.Wait() }()
	base := fmt.Sprintf("http://127.0.0.1:%d", app.Port())

	for _, c := range []struct {
		method, path, body string
		status             int
		want               string
	}{
		{"POST", "/users", `{"name":"ada"}`, 201, `{"id":1,"name":"ada"}`},
		{"POST", "/users", `{"name":"bob"}`, 201, `{"id":2,"name":"bob"}`},
		{"POST", "/users", `not json`, 400, ""},
		{"GET", "/users/2", "", 200, `{"id":2,"name":"bob"}`},
		{"PUT", "/users/1/tags/math", "", 200, `{"id":1,"name":"ada","tags":["math"]}`},
		{"PUT", "/users/1/tags/caf%C3%A9", "", 200, `{"id":1,"name":"ada","tags":["math","café"]}`},
		{"GET", "/users/9", "", 404, `{"error":"no user 9"}`},
		{"GET", "/users/abc", "", 404, ""},
		{"DELETE", "/users/2", "", 204, ""},
		{"GET", "/users", "", 200, `[{"id":1,"name":"ada","tags":["math","café"]}]`},
		{"PATCH", "/users", "", 405, ""},
	} {
		status, body := call(t, c.method, base+c.path, c.body)
		if status != c.status {
			t.Fatalf("%s %s: %d %q, want %d", c.method, c.path, status, body, c.status)
		}
		if c.want != "" {
			var got, want interface{}
			if json.Unmarshal([]byte(body), &got) != nil || json.Unmarshal([]byte(c.want), &want) != nil ||
				fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("%s %s: %q, want %q", c.method, c.path, body, c.want)
			}
		}
	}
}
