// hello: the smallest eddy program in Go. GET / (and any other path) answers "Hello, World!".
//
//	go run ./examples/hello --port 8080 [--raw]
//
// It is also the Go entry of bench/bindings.sh (prints "listening on <port>" once it accepts).
package main

import (
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"syscall"

	"eddy.dev/eddy"
)

func main() {
	addr := flag.String("address", "127.0.0.1", "address to listen on")
	port := flag.Int("port", 8080, "port to listen on (0 = any free port)")
	raw := flag.Bool("raw", false, "serve through eddy's HTTP server directly (no routing layer)")
	flag.Parse()

	app := eddy.New()
	app.SetIdleTimeout(120) // benchmarks hold idle keep-alive connections, as nginx does
	hello := func(w *eddy.ResponseWriter, r *eddy.Request) {
		w.SetHeader("Content-Type", "text/plain")
		w.WriteString("Hello, World!")
	}
	if *raw {
		app.ServeAll(hello) // like bench/hello_server.c: the HTTP server API, no routes
	} else {
		app.Get(`/.*`, hello) // like bench/web_hello_server.c: a route of the web layer
	}
	if err := app.Start(fmt.Sprintf("%s:%d", *addr, *port)); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("listening on %d\n", app.Port())

	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM)
	go func() { <-signals; app.Stop() }()
	app.Wait()
}
