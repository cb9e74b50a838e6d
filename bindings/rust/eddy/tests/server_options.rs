//! The HTTP server's limits and options on App (eddy/http.h; Tornado's HTTPServer keywords),
//! over loopback sockets: xheaders with trusted and untrusted peers, 431 for the head's size
//! and field count, 408 on a partial head, Connection: close, max connections, 503 for a body
//! over the body-memory budget, gzip request bodies, the Server header, form bodies left
//! undecoded (and 400 for a malformed one by default), the PROXY protocol (in front of TLS
//! too, as a proxy passing TLS through sends it), the values eddy
//! refuses, and one App on plain HTTP and HTTPS at once (App::add_server), each server with
//! only its own options.
mod common;

use std::io::Write;
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::mpsc;
use std::thread;

use common::certs::Certs;
use common::{curl, Client, Server};
use eddy::{App, Error, Loop, TlsContext};

fn ip_route(app: &mut App) {
    app.route("/ip")
        .unwrap()
        .get(|req, res| res.write(format!("{} {}", req.remote_ip(), req.scheme())));
}

fn get_with(srv: &Server, target: &str, headers: &str) -> common::Response {
    let mut c = srv.connect();
    c.send(&format!(
        "GET {} HTTP/1.1\r\nHost: t\r\n{}\r\n",
        target, headers
    ));
    c.response()
}

#[test]
fn xheaders_from_a_trusted_proxy_only() {
    let trusting = Server::start(|_, app| {
        ip_route(app);
        app.set_xheaders(true).unwrap();
        app.add_trusted_proxy("192.0.2.1").unwrap();
        app.add_trusted_proxy("127.0.0.1").unwrap();
    });
    assert_eq!(
        get_with(&trusting, "/ip", "X-Real-IP: 203.0.113.7\r\n").text(),
        "203.0.113.7 http"
    );
    // X-Forwarded-For is read from the right, skipping the trusted proxies.
    let r = get_with(
        &trusting,
        "/ip",
        "X-Forwarded-For: 198.51.100.1, 127.0.0.1\r\nX-Forwarded-Proto: https\r\n",
    );
    assert_eq!(r.text(), "198.51.100.1 https");
    assert_eq!(trusting.get("/ip").text(), "127.0.0.1 http");

    // The peer (127.0.0.1) is not a trusted proxy: its headers are ignored.
    let untrusted = Server::start(|_, app| {
        ip_route(app);
        app.set_xheaders(true).unwrap();
        app.add_trusted_proxy("192.0.2.1").unwrap();
    });
    let r = get_with(
        &untrusted,
        "/ip",
        "X-Real-IP: 203.0.113.7\r\nX-Forwarded-Proto: https\r\n",
    );
    assert_eq!(r.text(), "127.0.0.1 http");

    // xheaders off (the default): nobody is believed.
    let off = Server::start(|_, app| ip_route(app));
    assert_eq!(
        get_with(&off, "/ip", "X-Real-IP: 203.0.113.7\r\n").text(),
        "127.0.0.1 http"
    );
}

#[test]
fn header_size_and_field_limits_give_431() {
    let srv = Server::start(|_, app| {
        app.route("/").unwrap().get(|_, res| res.write("ok"));
        app.set_max_header_size(1024).unwrap();
        app.set_max_header_fields(5).unwrap();
    });
    let big = |n: usize| format!("X-Big: {}\r\n", "a".repeat(n));
    assert_eq!(get_with(&srv, "/", &big(2000)).status, 431);
    assert_eq!(get_with(&srv, "/", &big(900)).text(), "ok");
    // n field lines, Host among them.
    let fields = |n: usize| {
        (1..n)
            .map(|i| format!("X-{}: v\r\n", i))
            .collect::<String>()
    };
    assert_eq!(get_with(&srv, "/", &fields(5)).text(), "ok");
    let mut c = srv.connect();
    c.send(&format!("GET / HTTP/1.1\r\nHost: t\r\n{}\r\n", fields(6)));
    assert_eq!(c.response().status, 431);
    assert!(c.closed(), "the connection stays open after 431");
}

#[test]
fn max_body_memory_refuses_a_body_that_does_not_fit_with_503() {
    let srv = Server::start(|_, app| {
        app.route("/echo")
            .unwrap()
            .post(|req, res| res.write(req.body().len().to_string()));
        app.set_max_body_memory(100_000).unwrap();
    });
    // Its Content-Length does not fit: 503 and close before the body is asked for (a 100
    // Continue first would be read here instead).
    let mut c = srv.connect();
    c.send(
        "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 150000\r\n\
         Expect: 100-continue\r\n\r\n",
    );
    assert_eq!(c.response().status, 503);
    assert!(c.closed(), "the connection stays open after 503");
    // One that fits is served.
    let mut c = srv.connect();
    c.send("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 50000\r\n\r\n");
    c.send_bytes(&[b'a'; 50_000]);
    let r = c.response();
    assert_eq!((r.status, r.text()), (200, "50000".to_owned()));
}

#[test]
fn header_timeout_answers_408_and_closes() {
    let srv = Server::start(|_, app| {
        app.route("/").unwrap().get(|_, res| res.write("ok"));
        app.set_header_timeout(0.2).unwrap();
    });
    let mut c = srv.connect();
    c.send("GET / HTTP/1.1\r\nHost: t\r\n"); // the head never ends
    assert_eq!(c.response().status, 408);
    assert!(c.closed(), "the connection stays open after 408");
    assert_eq!(srv.get("/").text(), "ok");
}

#[test]
fn no_keep_alive_closes_after_each_response() {
    let srv = Server::start(|_, app| {
        app.route("/").unwrap().get(|_, res| res.write("ok"));
        app.set_no_keep_alive(true).unwrap();
    });
    let mut c = srv.connect();
    c.send("GET / HTTP/1.1\r\nHost: t\r\n\r\n");
    let r = c.response();
    assert_eq!(r.text(), "ok");
    assert_eq!(r.header("connection"), Some("close"));
    assert!(c.closed());
}

#[test]
fn max_connections_closes_the_idle_one() {
    let srv = Server::start(|_, app| {
        app.route("/").unwrap().get(|_, res| res.write("ok"));
        app.set_max_connections(1).unwrap();
    });
    let mut first = srv.connect();
    first.send("GET / HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(first.response().text(), "ok");
    assert_eq!(srv.get("/").text(), "ok");
    assert!(
        first.closed(),
        "the idle connection was kept over the limit"
    );
}

// gzip.compress(b"hello, decompressed", mtime=0)
const GZIPPED: [u8; 39] = [
    0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x03, 0xcb, 0x48, 0xcd, 0xc9, 0xc9, 0xd7,
    0x51, 0x48, 0x49, 0x4d, 0xce, 0xcf, 0x2d, 0x28, 0x4a, 0x2d, 0x2e, 0x4e, 0x4d, 0x01, 0x00, 0x6a,
    0xec, 0xd8, 0xff, 0x13, 0x00, 0x00, 0x00,
];

#[test]
fn decompress_request_and_server_header() {
    let srv = Server::start(|_, app| {
        app.route("/echo").unwrap().post(|req, res| {
            let enc = req
                .header("x-consumed-content-encoding")
                .unwrap_or("-")
                .to_owned();
            res.write(format!("{}:{}", enc, String::from_utf8_lossy(req.body())))
        });
        app.set_decompress_request(true).unwrap();
        app.set_server_header(Some("test-server/1")).unwrap();
    });
    let mut c = srv.connect();
    c.send(&format!(
        "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Encoding: gzip\r\nContent-Length: {}\r\n\r\n",
        GZIPPED.len()
    ));
    c.send_bytes(&GZIPPED);
    let r = c.response();
    assert_eq!(r.text(), "gzip:hello, decompressed");
    assert_eq!(r.header("server"), Some("test-server/1"));
}

/// POST /form answers the body argument a ("-" without one) and the body as it came.
fn form_route(app: &mut App) {
    app.route("/form").unwrap().post(|req, res| {
        let a = req.body_argument("a").unwrap_or("-").to_owned();
        res.write(format!("{}:{}", a, String::from_utf8_lossy(req.body())))
    });
}

fn post_form(srv: &Server, content_type: &str, body: &str) -> common::Response {
    let mut c = srv.connect();
    c.send(&format!(
        "POST /form HTTP/1.1\r\nHost: t\r\nContent-Type: {}\r\nContent-Length: {}\r\n\r\n{}",
        content_type,
        body.len(),
        body
    ));
    c.response()
}

#[test]
fn body_arguments_off_leaves_form_bodies_undecoded() {
    // Off: every request reaches the handler, its body unchanged and not decoded.
    let off = Server::start(|_, app| {
        form_route(app);
        app.set_body_arguments(false).unwrap();
    });
    let r = post_form(&off, "multipart/form-data", "not multipart");
    assert_eq!((r.status, r.text()), (200, "-:not multipart".to_owned()));
    let r = post_form(&off, "application/x-www-form-urlencoded", "a=1");
    assert_eq!((r.status, r.text()), (200, "-:a=1".to_owned()));
    // The default (on, as Tornado): decoded, and a body that cannot be gets 400.
    let default = Server::start(|_, app| form_route(app));
    let r = post_form(&default, "multipart/form-data", "not multipart");
    assert_eq!(r.status, 400);
    let r = post_form(&default, "application/x-www-form-urlencoded", "a=1");
    assert_eq!((r.status, r.text()), (200, "1:a=1".to_owned()));
}

#[test]
fn proxy_protocol_without_server_header() {
    let srv = Server::start(|_, app| {
        ip_route(app);
        app.set_proxy_protocol(true).unwrap();
        app.set_server_header(None).unwrap();
    });
    let mut c = srv.connect();
    c.send("PROXY TCP4 203.0.113.9 127.0.0.1 40000 80\r\nGET /ip HTTP/1.1\r\nHost: t\r\n\r\n");
    let r = c.response();
    assert_eq!(r.text(), "203.0.113.9 http");
    assert_eq!(r.header("server"), None);
    // Without the PROXY header the connection is closed unanswered.
    let mut c = srv.connect();
    c.send("GET /ip HTTP/1.1\r\nHost: t\r\n\r\n");
    assert!(c.closed());
}

#[test]
fn protocol_names_every_requests_scheme() {
    // A proxy terminating TLS in front; a scheme the proxy names (xheaders) still wins.
    let server = Server::start(|_, app| {
        ip_route(app);
        app.set_protocol(Some("https")).unwrap();
        app.set_xheaders(true).unwrap();
    });
    assert_eq!(server.get("/ip").text(), "127.0.0.1 https");
    assert_eq!(
        get_with(&server, "/ip", "X-Forwarded-Proto: http\r\n").text(),
        "127.0.0.1 http"
    );
}

#[test]
fn refused_values_are_errors() {
    let lp = Loop::new().unwrap();
    let mut app = App::new(&lp).unwrap();
    assert_eq!(app.set_max_header_size(63), Err(Error::INVALID));
    assert_eq!(app.set_max_header_fields(0), Err(Error::INVALID));
    assert_eq!(app.set_header_timeout(-1.0), Err(Error::INVALID));
    assert_eq!(app.set_header_timeout(f64::NAN), Err(Error::INVALID));
    assert_eq!(app.set_body_timeout(-0.5), Err(Error::INVALID));
    assert_eq!(app.set_body_min_rate(-1.0, 20.0), Err(Error::INVALID));
    assert_eq!(
        app.set_body_min_rate(f64::INFINITY, 20.0),
        Err(Error::INVALID)
    );
    assert_eq!(app.set_body_min_rate(500.0, f64::NAN), Err(Error::INVALID));
    assert_eq!(app.set_idle_timeout(-1.0), Err(Error::INVALID));
    assert_eq!(app.add_trusted_proxy("not-an-ip"), Err(Error::INVALID));
    assert_eq!(app.add_trusted_proxy("127.0.0.1\0x"), Err(Error::INVALID));
    assert_eq!(app.set_protocol(Some("ftp")), Err(Error::INVALID));
    assert_eq!(
        app.set_server_header(Some("a\r\nX-Evil: 1")),
        Err(Error::INVALID)
    );
    // The accepted ones.
    assert_eq!(app.set_max_header_size(64), Ok(()));
    assert_eq!(app.set_max_header_fields(1), Ok(()));
    assert_eq!(app.set_header_timeout(0.0), Ok(()));
    assert_eq!(app.add_trusted_proxy("::1"), Ok(()));
    assert_eq!(app.set_max_connections(0), Ok(()));
    assert_eq!(app.set_max_body_memory(0), Ok(()));

    // A server of add_server refuses values as the App's setters do.
    let mut added = app.add_server().unwrap();
    assert_eq!(added.set_max_header_size(63), Err(Error::INVALID));
    assert_eq!(added.set_server_header(Some("a\nb")), Err(Error::INVALID));
}

/// A proxy passing TLS through (HAProxy's `mode tcp` with send-proxy): accepts one connection
/// on a port of its own, connects to `backend`, sends `header` there, then relays the bytes
/// both ways untouched (the client's TLS handshake included). Returns its port. Every read has
/// a timeout, so the relay ends even if a side never closes.
fn tls_passthrough_proxy(backend: u16, header: Vec<u8>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    thread::spawn(move || {
        let (client, _) = listener.accept().unwrap();
        let mut server = TcpStream::connect(("127.0.0.1", backend)).unwrap();
        server.write_all(&header).unwrap();
        for s in [&client, &server] {
            s.set_read_timeout(Some(common::IO_TIMEOUT)).unwrap();
        }
        let pipe = |mut from: TcpStream, mut to: TcpStream| {
            thread::spawn(move || {
                let _ = std::io::copy(&mut from, &mut to);
                let _ = to.shutdown(Shutdown::Write);
            })
        };
        let up = pipe(client.try_clone().unwrap(), server.try_clone().unwrap());
        let down = pipe(server, client);
        let _ = up.join();
        let _ = down.join();
    });
    port
}

#[test]
fn proxy_protocol_in_front_of_tls() {
    // TLS and the PROXY protocol on one server, set in either order: each connection's PROXY
    // header comes first, then the client's TLS handshake (curl, through a relay that sends
    // the header as a TLS-passthrough proxy does). The header's address is the request's
    // remote_ip, its scheme https.
    let certs = Certs::make("proxy-tls");
    let (cert, key) = (certs.path("server.crt"), certs.path("server.key"));
    let ca = cert.to_str().unwrap().to_owned();
    for tls_first in [true, false] {
        let (cert, key) = (cert.clone(), key.clone());
        let srv = Server::start(move |_, app| {
            ip_route(app);
            let ctx = TlsContext::server(cert, key).unwrap();
            if tls_first {
                app.set_tls(&ctx).unwrap();
                app.set_proxy_protocol(true).unwrap();
            } else {
                app.set_proxy_protocol(true).unwrap();
                app.set_tls(&ctx).unwrap();
            }
        });
        let v1 = b"PROXY TCP4 10.9.8.7 127.0.0.1 5555 443\r\n".to_vec();
        // v2: the signature, PROXY over TCP/IPv4, 12 address bytes: 10.9.8.6 -> 127.0.0.1.
        let mut v2 = b"\r\n\r\n\0\r\nQUIT\n\x21\x11\x00\x0c".to_vec();
        v2.extend_from_slice(&[10, 9, 8, 6, 127, 0, 0, 1, 0x15, 0xb3, 0x01, 0xbb]);
        for (header, ip) in [(v1, "10.9.8.7"), (v2, "10.9.8.6")] {
            let relay = tls_passthrough_proxy(srv.port, header);
            let url = format!("https://127.0.0.1:{}/ip", relay);
            assert_eq!(
                curl(&["--cacert", &ca, &url]),
                (0, format!("{} https", ip)),
                "tls_first {}",
                tls_first
            );
        }
        // A TLS client that sends no PROXY header first is closed before its handshake (35:
        // curl's TLS connect error; not 28, a timeout).
        let direct = format!("https://127.0.0.1:{}/ip", srv.port);
        assert_eq!(
            curl(&["--cacert", &ca, &direct]).0,
            35,
            "tls_first {}",
            tls_first
        );
    }
}

#[test]
fn a_refused_setter_leaves_the_server_as_it_was() {
    // Each setter is one C call that checks its value before it changes anything, so a
    // refusal keeps what earlier calls set (there is no call that applies several options and
    // could stop halfway, as Python's HTTPServer(**options) and Lua's listen(opts) must not).
    let srv = Server::start(|_, app| {
        ip_route(app);
        app.set_xheaders(true).unwrap();
        app.add_trusted_proxy("192.0.2.1").unwrap();
        // C would read "127.0.0.1" up to the NUL: refused before C sees it, nothing added.
        assert_eq!(app.add_trusted_proxy("127.0.0.1\0x"), Err(Error::INVALID));
        app.set_server_header(Some("edge/1")).unwrap();
        assert_eq!(app.set_server_header(Some("a\r\nb")), Err(Error::INVALID));
        app.set_max_header_size(1024).unwrap();
        assert_eq!(app.set_max_header_size(10), Err(Error::INVALID));
        app.set_proxy_protocol(true).unwrap();
        // A client context is refused: TLS stays off, the PROXY protocol on.
        assert_eq!(
            app.set_tls(&TlsContext::client().unwrap()),
            Err(Error::INVALID)
        );
    });
    let proxied = |extra: &str| {
        let mut c = srv.connect();
        c.send(&format!(
            "PROXY TCP4 127.0.0.1 127.0.0.1 40000 80\r\nGET /ip HTTP/1.1\r\nHost: t\r\n{}\r\n",
            extra
        ));
        c.response()
    };
    // 127.0.0.1 is not a trusted proxy: its X-Real-IP is ignored.
    let r = proxied("X-Real-IP: 203.0.113.7\r\n");
    assert_eq!(r.text(), "127.0.0.1 http");
    assert_eq!(r.header("server"), Some("edge/1"));
    assert_eq!(
        proxied(&format!("X-Big: {}\r\n", "a".repeat(2000))).status,
        431
    );
}

/// `-i` output of curl over HTTPS (trusting `ca`): the status, the Server header and the body.
fn https_request(ca: &str, url: &str, extra: &[&str]) -> (u16, Option<String>, String) {
    let mut args = vec!["--cacert", ca, "-i", "-H", "X-Real-IP: 203.0.113.7"];
    args.extend_from_slice(extra);
    args.push(url);
    let (code, out) = curl(&args);
    assert_eq!(code, 0, "curl {:?}: {}", args, out);
    let (head, body) = out.split_once("\r\n\r\n").expect("a response head");
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status");
    let server = head.lines().find_map(|l| {
        let (name, value) = l.split_once(':')?;
        name.eq_ignore_ascii_case("server")
            .then(|| value.trim().to_owned())
    });
    (status, server, body.to_owned())
}

fn post_echo(port: u16, body: &str) -> common::Response {
    let mut c = common::Client::connect(port);
    c.send(&format!(
        "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\r\n{}",
        body.len(),
        body
    ));
    c.response()
}

#[test]
fn servers_of_one_app_keep_their_own_options() {
    // One App on plain HTTP (its default server, every default), HTTPS (add_server, with its
    // own Server header and body limit) and a third server with xheaders: the same routes on
    // each, every server with only its own options.
    let certs = Certs::make("add-server");
    let ctx = TlsContext::server(certs.path("server.crt"), certs.path("server.key")).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let plain = Server::start(move |_, app| {
        ip_route(app);
        app.route("/echo")
            .unwrap()
            .post(|req, res| res.write(String::from_utf8_lossy(req.body()).into_owned()));
        // The handle goes at the end of the block; the server stays, owned by the App.
        let https_port = {
            let mut https = app.add_server().unwrap();
            assert_eq!(https.port(), None);
            https.set_tls(&ctx).unwrap();
            https.set_server_header(Some("tls/1")).unwrap();
            https.set_max_body_size(10).unwrap();
            https.listen("127.0.0.1", 0).unwrap();
            https.port().unwrap()
        };
        let mut trusting = app.add_server().unwrap();
        trusting.set_xheaders(true).unwrap();
        trusting.listen("127.0.0.1", 0).unwrap();
        tx.send((https_port, trusting.port().unwrap())).unwrap();
        // The App's default server is another one, not listening yet (Server::start listens
        // with it after this setup).
        assert_eq!(app.port(), None);
    });
    let (https_port, trusting_port) = rx.recv().unwrap();
    assert!(https_port != plain.port && trusting_port != plain.port && https_port != trusting_port);

    // HTTPS: its Server header, 413 over 10 bytes, X-Real-IP ignored.
    let ca = certs.path("server.crt");
    let ca = ca.to_str().unwrap();
    let base = format!("https://127.0.0.1:{}", https_port);
    assert_eq!(
        https_request(ca, &format!("{}/ip", base), &[]),
        (200, Some("tls/1".to_owned()), "127.0.0.1 https".to_owned())
    );
    let echo = format!("{}/echo", base);
    let (status, _, body) = https_request(ca, &echo, &["--data-binary", "0123456789"]);
    assert_eq!((status, body.as_str()), (200, "0123456789"));
    assert_eq!(
        https_request(ca, &echo, &["--data-binary", "0123456789a"]).0,
        413
    );

    // The default server and the third: plain HTTP, the default Server header, an 11-byte
    // body; X-Real-IP believed on the third only.
    for port in [plain.port, trusting_port] {
        let r = post_echo(port, "0123456789a");
        assert_eq!(
            (r.status, r.text()),
            (200, "0123456789a".to_owned()),
            "port {}",
            port
        );
        let server = r.header("server").unwrap_or("");
        assert!(
            server.starts_with("eddy/"),
            "port {}: Server {:?}",
            port,
            server
        );
    }
    let real_ip = "X-Real-IP: 203.0.113.7\r\n";
    assert_eq!(get_with(&plain, "/ip", real_ip).text(), "127.0.0.1 http");
    let mut c = common::Client::connect(trusting_port);
    c.send(&format!("GET /ip HTTP/1.1\r\nHost: t\r\n{}\r\n", real_ip));
    assert_eq!(c.response().text(), "203.0.113.7 http");
}

/// App::remove_server frees one server of add_server: its listener and its idle keep-alive
/// connection close, the App's other server goes on serving, and the id names nothing
/// afterwards (Err(INVALID) a second time, as eddy_app_remove_server).
#[test]
fn remove_server_closes_that_server_only() {
    let lp = Loop::new().unwrap();
    let mut app = App::new(&lp).unwrap();
    app.route("/").unwrap().get(|_, res| res.write("ok"));
    app.listen("127.0.0.1", 0).unwrap();
    let main_port = app.port().unwrap();
    let (id, port) = {
        let mut added = app.add_server().unwrap();
        added.listen("127.0.0.1", 0).unwrap();
        (added.id(), added.port().unwrap())
    };

    let (removed_tx, removed_rx) = mpsc::channel::<()>();
    let remote = lp.remote();
    let client = thread::spawn(move || {
        // Phase 1: the added server answers, and its connection stays open (keep-alive).
        let mut idle = Client::connect(port);
        idle.send("GET / HTTP/1.1\r\nHost: t\r\n\r\n");
        assert_eq!(idle.response().text(), "ok");
        remote.stop();
        removed_rx.recv_timeout(common::IO_TIMEOUT).unwrap();
        // Phase 2: that server is gone, connection and listener; the default one serves on.
        assert!(idle.closed(), "the removed server's connection stayed open");
        assert!(TcpStream::connect(("127.0.0.1", port)).is_err());
        let mut other = Client::connect(main_port);
        other.send("GET / HTTP/1.1\r\nHost: t\r\n\r\n");
        assert_eq!(other.response().text(), "ok");
        remote.stop();
    });

    common::run_bounded(&lp);
    assert_eq!(app.remove_server(id), Ok(()));
    assert_eq!(app.remove_server(id), Err(Error::INVALID));
    removed_tx.send(()).unwrap();
    common::run_bounded(&lp);
    client.join().unwrap();
}

/// A fresh directory for socket files, removed by the caller.
fn socket_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("eddy-rs-{}-{}", name, std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir(&dir).unwrap();
    dir
}

fn socket_mode(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::{FileTypeExt, PermissionsExt};
    let meta = std::fs::metadata(path).unwrap();
    assert!(meta.file_type().is_socket(), "{:?} is not a socket", path);
    meta.permissions().mode() & 0o7777
}

/// An App listens on Unix sockets (App::listen_unix, Server::listen_unix; Tornado's
/// bind_unix_socket handed to the HTTPServer) with the mode asked for, abstract ones too
/// ("@name"), and the files go with the App. (A Rust App could not listen on a Unix socket.)
#[test]
fn app_listens_on_unix_sockets() {
    let dir = socket_dir("unix");
    let main = dir.join("app.sock");
    let extra = dir.join("extra.sock");
    let abstract_name = format!("@eddy-rs-test-{}", std::process::id());
    let (m, e, a) = (main.clone(), extra.clone(), abstract_name.clone());
    let srv = Server::start(move |_, app| {
        app.route("/")
            .unwrap()
            .get(|_, res| res.write("hello over unix"));
        app.listen_unix(&m, 0o600).unwrap();
        let mut more = app.add_server().unwrap();
        more.listen_unix(&e, 0o660).unwrap();
        more.listen_unix(&a, 0o600).unwrap();
        assert_eq!(more.port(), None);
        // In use (a live server), an empty path, a NUL, a mode beyond 0o777.
        assert_eq!(more.listen_unix(&m, 0o600), Err(Error::ADDR_IN_USE));
        assert_eq!(more.listen_unix("", 0o600), Err(Error::INVALID));
        assert_eq!(more.listen_unix("a\0b", 0o600), Err(Error::INVALID));
        assert_eq!(
            more.listen_unix(e.with_file_name("bad.sock"), 0o4755),
            Err(Error::INVALID)
        );
    });
    assert_eq!(socket_mode(&main), 0o600);
    assert_eq!(socket_mode(&extra), 0o660);
    assert!(!dir.join("bad.sock").exists());
    for path in [main.to_str().unwrap(), extra.to_str().unwrap()] {
        let (rc, body) = curl(&["--unix-socket", path, "http://eddy/"]);
        assert_eq!((rc, body.as_str()), (0, "hello over unix"), "over {}", path);
    }
    // curl takes a leading NUL as --abstract-unix-socket NAME.
    let (rc, body) = curl(&[
        "--abstract-unix-socket",
        &abstract_name[1..],
        "http://eddy/",
    ]);
    assert_eq!(
        (rc, body.as_str()),
        (0, "hello over unix"),
        "over {}",
        abstract_name
    );
    assert!(std::fs::symlink_metadata(&abstract_name).is_err());
    // The TCP listener of Server::start serves the same App.
    assert_eq!(srv.get("/").text(), "hello over unix");
    drop(srv);
    assert!(!main.exists() && !extra.exists());
    std::fs::remove_dir(&dir).unwrap();
}
