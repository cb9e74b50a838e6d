// chat: a long-polling chat room. Poll requests with nothing new are detached and finished later
// by goroutines, through the binding's thread-safe ResponseWriter.
//
//	go run ./examples/chat --port 8080     then open http://127.0.0.1:8080/
//	curl -d text=hi localhost:8080/send    → {"id":1}
//	curl 'localhost:8080/poll?after=0'     → [{"id":1,"text":"hi"}] (waits while nothing is new)
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"syscall"
	"time"

	"eddy.dev/eddy"
)

type message struct {
	ID   int    `json:"id"`
	Text string `json:"text"`
}

// room is shared by the loop thread (send) and the waiting goroutines (poll), hence the lock.
type room struct {
	mu       sync.Mutex
	messages []message
	changed  chan struct{} // closed and replaced on every new message: a broadcast
}

func newRoom() *room { return &room{changed: make(chan struct{})} }

func (r *room) add(text string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	id := len(r.messages) + 1
	r.messages = append(r.messages, message{id, text})
	close(r.changed)
	r.changed = make(chan struct{})
	return id
}

// since returns the messages after id and a channel closed when more arrive.
func (r *room) since(id int) ([]message, <-chan struct{}) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if id < 0 || id > len(r.messages) {
		id = len(r.messages)
	}
	return append([]message(nil), r.messages[id:]...), r.changed
}

const page = `<!doctype html><title>eddy chat</title>
<ul id=log></ul><form id=f><input id=t autofocus><button>send</button></form>
<script>
let after = 0;
async function poll() {
  for (;;) {
    try {
      const r = await fetch('/poll?after=' + after);
      for (const m of await r.json()) {
        const li = document.createElement('li'); li.textContent = m.text;
        document.getElementById('log').append(li); after = m.id;
      }
    } catch (e) { await new Promise(ok => setTimeout(ok, 1000)); }
  }
}
document.getElementById('f').onsubmit = e => {
  e.preventDefault();
  fetch('/send', {method: 'POST', body: new URLSearchParams({text: t.value})}); t.value = '';
};
poll();
</script>`

func newApp(maxWait time.Duration) *eddy.App {
	chat := newRoom()
	app := eddy.New()
	app.Get(`/`, func(w *eddy.ResponseWriter, r *eddy.Request) {
		w.SetHeader("Content-Type", "text/html; charset=utf-8")
		w.WriteString(page)
	})
	app.Post(`/send`, func(w *eddy.ResponseWriter, r *eddy.Request) {
		text, ok := r.Argument("text")
		if !ok || text == "" {
			w.SendError(400)
			return
		}
		w.SetHeader("Content-Type", "application/json")
		fmt.Fprintf(w, `{"id":%d}`, chat.add(text))
	})
	app.Get(`/poll`, func(w *eddy.ResponseWriter, r *eddy.Request) {
		text, _ := r.QueryArgument("after")
		after, _ := strconv.Atoi(text)
		msgs, changed := chat.since(after)
		if len(msgs) > 0 {
			writeMessages(w, msgs)
			return
		}
		// Nothing new: keep the request open and let a goroutine answer it later. From here on
		// w may be used from any goroutine; r may not (we copied what we need: after).
		if w.Detach() != nil {
			return
		}
		go func() {
			timer := time.NewTimer(maxWait)
			defer timer.Stop()
			select {
			case <-changed:
				msgs, _ = chat.since(after)
			case <-timer.C: // answer [] so the client polls again
			case <-w.Closed(): // the client left: just release the request
			}
			writeMessages(w, msgs)
			w.Finish()
		}()
	})
	return app
}

func main() {
	port := flag.Int("port", 8080, "port to listen on (0 = any free port)")
	flag.Parse()
	app := newApp(30 * time.Second)
	if err := app.Start(fmt.Sprintf("127.0.0.1:%d", *port)); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("listening on %d\n", app.Port())
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM)
	go func() { <-signals; app.Stop() }()
	app.Wait()
}

func writeMessages(w *eddy.ResponseWriter, msgs []message) {
	if msgs == nil {
		msgs = []message{}
	}
	body, _ := json.Marshal(msgs)
	w.SetHeader("Content-Type", "application/json")
	w.SetHeader("Cache-Control", "no-store")
	w.Write(body)
}
