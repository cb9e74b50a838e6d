package eddy

import (
	"bufio"
	"fmt"
	"net"
	"testing"
	"time"
)

// dialEcho dials a and checks a line comes back from echoLines.
func dialEcho(t *testing.T, a net.Addr) {
	t.Helper()
	c, err := net.DialTimeout(a.Network(), a.String(), safety)
	if err != nil {
		t.Fatalf("dial %v: %v", a, err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(safety))
	c.Write([]byte("hi\n"))
	if line, err := bufio.NewReader(c).ReadString('\n'); err != nil || line != "hi\n" {
		t.Fatalf("%v: got %q, %v", a, line, err)
	}
}

// Port 0 twice (an added socket, then Start's): each socket gets a port of its own, Port
// reports only the first, Addrs reports both and each answers.
func TestTCPServerAddrsAfterPortZero(t *testing.T) {
	errs := make(chan error, 4)
	srv := NewTCPServer(echoLines(errs))
	if srv.Addrs() != nil {
		t.Fatalf("Addrs before Start: %v", srv.Addrs())
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.AddSocket(l.(*net.TCPListener)); err != nil {
		t.Fatal(err)
	}
	l.Close() // the server has its own duplicate
	if err := srv.Start("127.0.0.1:0"); err != nil {
		t.Fatalf("Start: %v", err)
	}
	stopTCPAtEnd(t, srv)
	addrs := srv.Addrs()
	if len(addrs) != 2 {
		t.Fatalf("Addrs: %v, want two", addrs)
	}
	for _, a := range addrs {
		ta, ok := a.(*net.TCPAddr)
		if !ok || !ta.IP.Equal(net.IPv4(127, 0, 0, 1)) || ta.Port == 0 {
			t.Fatalf("Addrs: %v", addrs)
		}
		dialEcho(t, a)
	}
	if addrs[0].(*net.TCPAddr).Port == addrs[1].(*net.TCPAddr).Port {
		t.Fatalf("one port for two port-0 sockets: %v", addrs)
	}
	if p := srv.Port(); p != addrs[0].(*net.TCPAddr).Port {
		t.Fatalf("Port %d, Addrs %v", p, addrs)
	}
}

// An App and an AddServer listening on port 0: Addrs gives each one's port, which serves.
func TestAppAddrsAfterPortZero(t *testing.T) {
	app := New()
	app.HandleFunc("GET", `/`, func(w *ResponseWriter, r *Request) { w.WriteString("ok") })
	extra := app.AddServer("127.0.0.1:0")
	start(t, app)
	for _, addrs := range [][]net.Addr{app.Addrs(), extra.Addrs()} {
		if len(addrs) != 1 {
			t.Fatalf("Addrs: %v", addrs)
		}
		ta := addrs[0].(*net.TCPAddr)
		resp, body := do(t, "GET", fmt.Sprintf("http://%s/", ta), nil, nil)
		expect(t, resp, body, 200, "ok")
	}
	if app.Addrs()[0].(*net.TCPAddr).Port != app.Port() ||
		extra.Addrs()[0].(*net.TCPAddr).Port != extra.Port() {
		t.Fatalf("Addrs %v / %v, ports %d / %d", app.Addrs(), extra.Addrs(), app.Port(),
			extra.Port())
	}
}
