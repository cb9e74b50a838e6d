package eddy

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
)

// dialOutcome dials url with cl from app's loop and returns what the client saw: "connected"
// with the subprotocol and the first message (then it closes), or the refusal and the error.
func dialOutcome(t *testing.T, app *App, url string, cl WebSocketClient) []string {
	t.Helper()
	events := make(chan string, 8)
	cl.Open = func(c *Conn) { events <- fmt.Sprintf("connected %q", c.Subprotocol()) }
	cl.OnMessage = func(c *Conn, data []byte, binary bool) {
		events <- string(data)
		c.Close(1000, "")
	}
	cl.OnClose = func(c *Conn, code int, reason string) { events <- "closed" }
	cl.OnRefused = func(status int, reason string) { events <- fmt.Sprintf("refused %d", status) }
	cl.OnError = func(err error) {
		name := err.Error()
		var de *DialError
		if e, ok := err.(Error); ok {
			name = e.Name()
		} else if errors.As(err, &de) { // the code, whatever eddy's detail
			name = de.Code.Name()
		}
		events <- "error " + name
	}
	if err := app.DialWebSocket(url, cl); err != nil {
		t.Fatal(err)
	}
	var got []string
	for len(got) == 0 || (got[len(got)-1] != "closed" && !strings.HasPrefix(got[len(got)-1], "error ")) {
		got = append(got, clientEvents(t, events, 1)...)
	}
	if got[len(got)-1] == "closed" {
		got = got[:len(got)-1]
	}
	return got
}

func sameEvents(t *testing.T, what string, got []string, want ...string) {
	t.Helper()
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("%s: got %q, want %q", what, got, want)
	}
}

func TestWebSocketSubprotocols(t *testing.T) {
	var mu sync.Mutex
	var offers []string
	app, logs := newLoggedApp()
	chose := func(c *Conn) { c.WriteText(fmt.Sprintf("server chose %q", c.Subprotocol())) }
	app.WebSocket("/ws", WebSocket{
		SelectSubprotocol: func(r *Request, offered []string) string {
			mu.Lock()
			offers = append(offers, fmt.Sprintf("%s %q", r.Path(), offered))
			mu.Unlock()
			if len(offered) == 1 && offered[0] == "not-offered" {
				return "something else" // not one of offered: none chosen
			}
			for _, p := range offered {
				if p == "chat.v2" {
					return p
				}
			}
			return ""
		},
		Open: chose,
	})
	// Without SelectSubprotocol no subprotocol is ever chosen.
	app.WebSocket("/plain", WebSocket{Open: chose})
	wsBase := "ws" + strings.TrimPrefix(start(t, app), "http")

	offer := func(names ...string) WebSocketClient { return WebSocketClient{Subprotocols: names} }
	sameEvents(t, "v1,v2", dialOutcome(t, app, wsBase+"/ws", offer("chat.v1", "chat.v2")),
		`connected "chat.v2"`, `server chose "chat.v2"`)
	sameEvents(t, "other", dialOutcome(t, app, wsBase+"/ws", offer("other")), `connected ""`, `server chose ""`)
	sameEvents(t, "not offered", dialOutcome(t, app, wsBase+"/ws", offer("not-offered")),
		`connected ""`, `server chose ""`)
	sameEvents(t, "none offered", dialOutcome(t, app, wsBase+"/ws", offer()), `connected ""`, `server chose ""`)
	sameEvents(t, "no selection", dialOutcome(t, app, wsBase+"/plain", offer("chat.v2")),
		`connected ""`, `server chose ""`)
	mu.Lock()
	defer mu.Unlock()
	sameEvents(t, "offers", offers, `/ws ["chat.v1" "chat.v2"]`, `/ws ["other"]`, `/ws ["not-offered"]`)
	if !strings.Contains(logs.String(), `chose "something else", which was not offered`) {
		t.Fatalf("log: %q", logs.String())
	}
}

func TestWebSocketCheckOrigin(t *testing.T) {
	var mu sync.Mutex
	var origins []string
	app, logs := newLoggedApp()
	welcome := func(c *Conn) { c.WriteText("welcome") }
	app.WebSocket("/same", WebSocket{
		// Same origin only: the Origin must name the Host the client asked for.
		CheckOrigin: func(r *Request, origin string) bool {
			mu.Lock()
			origins = append(origins, origin)
			mu.Unlock()
			return origin == "http://"+r.Host()
		},
		Open: welcome,
	})
	// A hook that accepts everything replaces the default (which refuses a foreign Origin).
	app.WebSocket("/any", WebSocket{CheckOrigin: func(*Request, string) bool { return true }, Open: welcome})
	app.WebSocket("/panics", WebSocket{CheckOrigin: func(*Request, string) bool { panic("boom in CheckOrigin") }})
	app.WebSocket("/default", WebSocket{Open: welcome})
	base := start(t, app)
	wsBase := "ws" + strings.TrimPrefix(base, "http")
	from := func(origin string) WebSocketClient {
		return WebSocketClient{Headers: [][2]string{{"Origin", origin}}}
	}
	own, foreign := base, "http://evil.example"
	welcomed := []string{`connected ""`, "welcome"}
	refused := []string{"refused 403", "error EDDY_EPROTO"}

	sameEvents(t, "own", dialOutcome(t, app, wsBase+"/same", from(own)), welcomed...)
	sameEvents(t, "foreign", dialOutcome(t, app, wsBase+"/same", from(foreign)), refused...)
	sameEvents(t, "none", dialOutcome(t, app, wsBase+"/same", WebSocketClient{}), refused...)
	mu.Lock()
	sameEvents(t, "origins", origins, own, foreign, "")
	mu.Unlock()
	sameEvents(t, "any", dialOutcome(t, app, wsBase+"/any", from(foreign)), welcomed...)
	sameEvents(t, "default", dialOutcome(t, app, wsBase+"/default", from(foreign)), refused...)
	sameEvents(t, "panics", dialOutcome(t, app, wsBase+"/panics", from(own)), refused...)
	if !strings.Contains(logs.String(), "panic in WebSocket CheckOrigin: boom in CheckOrigin") {
		t.Fatalf("log: %q", logs.String())
	}
}

func TestWebSocketOnPong(t *testing.T) {
	app := New()
	app.WebSocket("/ws", WebSocket{
		Open:   func(c *Conn) { c.Ping([]byte("from the server \x00\xff")) },
		OnPong: func(c *Conn, data []byte) { c.WriteMessage(append([]byte("server got pong: "), data...), true) },
	})
	wsBase := "ws" + strings.TrimPrefix(start(t, app), "http")
	events := make(chan string, 8)
	seen := 0
	closeAfterBoth := func(c *Conn) {
		if seen++; seen == 2 {
			c.Close(1000, "")
		}
	}
	err := app.DialWebSocket(wsBase+"/ws", WebSocketClient{WebSocket: WebSocket{
		Open: func(c *Conn) { c.Ping([]byte("from the client")) },
		OnPong: func(c *Conn, data []byte) {
			events <- "client got pong: " + string(data)
			closeAfterBoth(c)
		},
		OnMessage: func(c *Conn, data []byte, binary bool) {
			events <- fmt.Sprintf("%q", data)
			closeAfterBoth(c)
		},
		OnClose: func(c *Conn, code int, reason string) { events <- fmt.Sprint("closed ", code) },
	}})
	if err != nil {
		t.Fatal(err)
	}
	got := clientEvents(t, events, 3)
	// The pong and the server's message may come in either order; the close comes last.
	sort.Strings(got[:2])
	sameEvents(t, "pongs", got, `"server got pong: from the server \x00\xff"`, "client got pong: from the client", "closed 1000")
}
