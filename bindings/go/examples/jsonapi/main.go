// jsonapi: a small JSON API over an in-memory store, with route captures.
//
//	go run ./examples/jsonapi --port 8080
//	curl -X POST -d '{"name":"ada"}' localhost:8080/users      → 201 {"id":1,"name":"ada"}
//	curl localhost:8080/users/1                                 → {"id":1,"name":"ada"}
//	curl localhost:8080/users/1/tags/math -X PUT                → {"id":1,"name":"ada","tags":["math"]}
//	curl localhost:8080/users                                   → [...]
//	curl -X DELETE localhost:8080/users/1                       → 204
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"syscall"

	"eddy.dev/eddy"
)

type user struct {
	ID   int      `json:"id"`
	Name string   `json:"name"`
	Tags []string `json:"tags,omitempty"`
}

// The store is only touched on the loop thread (every handler runs there), so it needs no lock.
type store struct {
	next  int
	users map[int]*user
}

func writeJSON(w *eddy.ResponseWriter, status int, v interface{}) {
	body, err := json.Marshal(v)
	if err != nil {
		w.SendError(500)
		return
	}
	w.SetStatus(status)
	w.SetHeader("Content-Type", "application/json")
	w.Write(body)
}

func writeProblem(w *eddy.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

// lookup finds the user named by the route's "id" capture, or answers 404.
func (s *store) lookup(w *eddy.ResponseWriter, r *eddy.Request) *user {
	id, _ := strconv.Atoi(r.PathVar("id"))
	u := s.users[id]
	if u == nil {
		writeProblem(w, 404, "no user "+r.PathVar("id"))
	}
	return u
}

func newApp() *eddy.App {
	s := &store{next: 1, users: map[int]*user{}}
	app := eddy.New()

	app.Get(`/users`, func(w *eddy.ResponseWriter, r *eddy.Request) {
		list := make([]*user, 0, len(s.users))
		for _, u := range s.users {
			list = append(list, u)
		}
		sort.Slice(list, func(i, j int) bool { return list[i].ID < list[j].ID })
		writeJSON(w, 200, list)
	})
	app.Post(`/users`, func(w *eddy.ResponseWriter, r *eddy.Request) {
		var in user
		if err := json.NewDecoder(r.BodyReader()).Decode(&in); err != nil || in.Name == "" {
			writeProblem(w, 400, "body must be {\"name\": \"...\"}")
			return
		}
		u := &user{ID: s.next, Name: in.Name}
		s.next++
		s.users[u.ID] = u
		w.SetHeader("Location", fmt.Sprintf("/users/%d", u.ID))
		writeJSON(w, 201, u)
	})
	app.Route(`/users/(?<id>[0-9]+)`).
		HandleFunc("GET", func(w *eddy.ResponseWriter, r *eddy.Request) {
			if u := s.lookup(w, r); u != nil {
				writeJSON(w, 200, u)
			}
		}).
		HandleFunc("DELETE", func(w *eddy.ResponseWriter, r *eddy.Request) {
			if u := s.lookup(w, r); u != nil {
				delete(s.users, u.ID)
				w.SetStatus(204)
			}
		})
	// Two captures: positional access works as well as named.
	app.Put(`/users/(?<id>[0-9]+)/tags/([^/]+)`, func(w *eddy.ResponseWriter, r *eddy.Request) {
		if u := s.lookup(w, r); u != nil {
			u.Tags = append(u.Tags, r.PathArg(1))
			writeJSON(w, 200, u)
		}
	})
	return app
}

func main() {
	port := flag.Int("port", 8080, "port to listen on (0 = any free port)")
	flag.Parse()
	app := newApp()
	if err := app.Start(fmt.Sprintf("127.0.0.1:%d", *port)); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("listening on %d\n", app.Port())
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM)
	go func() { <-signals; app.Stop() }()
	app.Wait()
}
