// Command tcpecho is Tornado's TCPServer echo demo on eddy: every line a client sends comes
// back. With --reuseport, run several copies on one port (Go cannot fork; the kernel spreads
// the connections over them). Try it with `nc 127.0.0.1 9888`.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/signal"

	"eddy.dev/eddy"
)

func main() {
	port := flag.Int("port", 9888, "port to listen on")
	reuse := flag.Bool("reuseport", false, "listen with SO_REUSEPORT (several processes, one port)")
	cert := flag.String("certfile", "", "serve TLS with this certificate (PEM) ...")
	key := flag.String("keyfile", "", "... and this key")
	flag.Parse()

	srv := eddy.NewTCPServer(func(s *eddy.Stream) {
		defer s.Close()
		for {
			line, err := s.ReadUntil([]byte("\n"), 64<<10)
			if err != nil {
				if !errors.Is(err, io.EOF) {
					log.Printf("%v: %v", s.RemoteAddr(), err)
				}
				return
			}
			if _, err := s.Write(line); err != nil {
				return
			}
		}
	})
	srv.SetReusePort(*reuse)
	if *cert != "" {
		srv.SetTLS(eddy.ServerTLS{CertFile: *cert, KeyFile: *key})
	}
	if err := srv.Start(fmt.Sprintf("127.0.0.1:%d", *port)); err != nil {
		log.Fatal(err)
	}
	log.Printf("echoing on 127.0.0.1:%d (pid %d)", srv.Port(), os.Getpid())
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, os.Interrupt)
	go func() { <-stop; srv.Stop() }()
	srv.Wait()
}
