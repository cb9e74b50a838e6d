package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

var client = &http.Client{Timeout: 20 * time.Second}

func poll(base string, after int) ([]message, error) {
	resp, err := client.Get(fmt.Sprintf("%s/poll?after=%d", base, after))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var msgs []message
	err = json.NewDecoder(resp.Body).Decode(&msgs)
	return msgs, err
}

func send(t *testing.T, base, text string) {
	t.Helper()
	resp, err := client.PostForm(base+"/send", url.Values{"text": {text}})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(string(b), `{"id":`) {
		t.Fatalf("send: %d %s", resp.StatusCode, b)
	}
}

func TestLongPolling(t *testing.T) {
	app := newApp(time.Minute)
	if err := app.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	defer func() { app.Stop(); app.Wait() }()
	base := fmt.Sprintf("http://127.0.0.1:%d", app.Port())

	// Ten pollers wait (detached requests) until a message arrives; each gets it.
	const pollers = 10
	var wg sync.WaitGroup
	results := make(chan []message, pollers)
	for i := 0; i < pollers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			msgs, err := poll(base, 0)
			if err != nil {
				t.Error(err)
			}
			results <- msgs
		}()
	}
	// A poller that leaves: its request is released when its goroutine sees Closed().
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", base+"/poll?after=0", nil)
	go func() { time.Sleep(50 * time.Millisecond); cancel() }()
	if _, err := client.Do(req); err == nil {
		t.Error("the cancelled poll got an answer")
	}

	// Send until every poller is answered: a poll that arrives after the first message is
	// answered at once with it, so the content is the same either way.
	send(t, base, "hello")
	wg.Wait()
	close(results)
	for msgs := range results {
		if len(msgs) != 1 || msgs[0].ID != 1 || msgs[0].Text != "hello" {
			t.Fatalf("poller got %+v", msgs)
		}
	}
	send(t, base, "second")
	msgs, err := poll(base, 0)
	if err != nil || len(msgs) != 2 || msgs[1].Text != "second" {
		t.Fatalf("history: %+v %v", msgs, err)
	}
	msgs, err = poll(base, 1)
	if err != nil || len(msgs) != 1 || msgs[0].ID != 2 {
		t.Fatalf("after=1: %+v %v", msgs, err)
	}
	resp, err := client.PostForm(base+"/send", url.Values{})
	if err != nil || resp.StatusCode != 400 {
		t.Fatalf("empty send: %v %v", resp, err)
	}
	resp.Body.Close()
}

func TestPollTimesOutEmpty(t *testing.T) {
	app := newApp(10 * time.Millisecond)
	if err := app.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	defer func() { app.Stop(); app.Wait() }()
	msgs, err := poll(fmt.Sprintf("http://127.0.0.1:%d", app.Port()), 0)
	if err != nil || msgs == nil || len(msgs) != 0 {
		t.Fatalf("empty poll: %#v %v", msgs, err)
	}
}
