// gateway: an asynchronous fetch from inside a handler (Tornado's classic AsyncHTTPClient use).
// GET /fetch?url=... fetches the URL with the App's HTTPClient and answers with its status,
// Content-Type and body; the handler detaches and the fetch's callback, which runs on the loop
// thread too, finishes the response. Nothing blocks the loop while the upstream answers.
//
//	go run ./examples/gateway --port 8080
//	curl 'localhost:8080/fetch?url=http://127.0.0.1:8080/hello'   → hello from the gateway
package main

import (
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"syscall"
	"time"

	"eddy.dev/eddy"
)

func main() {
	port := flag.Int("port", 8080, "port to listen on (0 = any free port)")
	insecure := flag.Bool("insecure", false, "do not verify https certificates")
	flag.Parse()

	app := eddy.New()
	// Made before Start (which opens it on the loop), used by the handlers on the loop thread.
	client, err := app.NewHTTPClient(eddy.HTTPClientOptions{MaxClients: 20,
		TLS: eddy.ClientTLS{InsecureSkipVerify: *insecure}})
	if err != nil {
		log.Fatal(err)
	}
	app.Get(`/hello`, func(w *eddy.ResponseWriter, r *eddy.Request) {
		w.WriteString("hello from the gateway\n")
	})
	app.Get(`/fetch`, func(w *eddy.ResponseWriter, r *eddy.Request) {
		url, _ := r.QueryArgument("url")
		if url == "" {
			w.SendError(400)
			return
		}
		w.Detach()
		req := &eddy.HTTPRequest{URL: url, RequestTimeout: 10 * time.Second}
		req.Header.Add("User-Agent", "eddy-gateway")
		_, err := client.Fetch(req, func(resp *eddy.HTTPResponse, err error) {
			if err != nil { // a network failure: 502, as a gateway says it
				w.SetStatus(502)
				fmt.Fprintf(w, "upstream: %v\n", err)
			} else {
				w.SetStatus(resp.Code)
				if ct := resp.Header.Get("Content-Type"); ct != "" {
					w.SetHeader("Content-Type", ct)
				}
				w.Write(resp.Body)
			}
			w.Finish()
		})
		if err != nil { // the client is closed: the App is stopping
			w.SendError(503)
		}
	})
	if err := app.Start(fmt.Sprintf("127.0.0.1:%d", *port)); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("listening on %d\n", app.Port())

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, os.Interrupt, syscall.SIGTERM)
	go func() { <-stop; app.Stop() }()
	app.Wait()
}
