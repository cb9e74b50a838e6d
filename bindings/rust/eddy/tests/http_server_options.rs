//! HttpServer's own option setters over loopback sockets (each forwards to the C core's
//! `eddy_server_set_*`, as App's do; these pin the HttpServer path): the PROXY protocol (v1
//! and v2 headers give the request the address they carry; a missing or malformed header is
//! closed unanswered, as the C server does; off, a PROXY line is a 400), gzip request bodies,
//! the head's size limit, the header, idle and body timeouts, the connection limit, any method,
//! a plain Unix socket, clearing the access log and HTTPS.
mod common;

use std::sync::mpsc;
use std::time::Duration;

use common::certs::Certs;
use common::{RawServer, IO_TIMEOUT};
use eddy::{HttpServer, TlsContext};

/// An HttpServer on its own loop thread (common::RawServer), configured by `setup`,
/// answering "<remote ip> <scheme> <method> <body>".
fn start(setup: impl FnOnce(&mut HttpServer) + Send + 'static) -> RawServer {
    RawServer::start_with(setup, |req, res| {
        res.write(format!(
            "{} {} {} {}",
            req.remote_ip(),
            req.scheme(),
            req.method(),
            String::from_utf8_lossy(req.body())
        ))
    })
}

/// A PROXY v2 header (PROXY command, TCP over IPv4) from `src` to 127.0.0.1:80.
fn proxy_v2(src: [u8; 4], src_port: u16) -> Vec<u8> {
    let mut h = b"\r\n\r\n\0\r\nQUIT\n".to_vec();
    h.push(0x21); // version 2, PROXY
    h.push(0x11); // AF_INET, STREAM
    h.extend_from_slice(&12u16.to_be_bytes());
    h.extend_from_slice(&src);
    h.extend_from_slice(&[127, 0, 0, 1]);
    h.extend_from_slice(&src_port.to_be_bytes());
    h.extend_from_slice(&80u16.to_be_bytes());
    h
}

#[test]
fn proxy_protocol_gives_the_headers_address_and_refuses_a_bad_header() {
    let srv = start(|s| s.set_proxy_protocol(true).unwrap());
    // v1: the text line.
    let mut c = srv.connect();
    c.send("PROXY TCP4 203.0.113.9 127.0.0.1 40000 80\r\nGET / HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(c.response().text(), "203.0.113.9 http GET ");
    // Kept alive: the next request on the connection has the same address (one header).
    c.send("GET / HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(c.response().text(), "203.0.113.9 http GET ");
    // v1 with IPv6.
    let mut c = srv.connect();
    c.send("PROXY TCP6 2001:db8::7 ::1 40000 80\r\nGET / HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(c.response().text(), "2001:db8::7 http GET ");
    // v2: the binary header.
    let mut c = srv.connect();
    let mut raw = proxy_v2([198, 51, 100, 23], 4000);
    raw.extend_from_slice(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n");
    c.send_bytes(&raw);
    assert_eq!(c.response().text(), "198.51.100.23 http GET ");
    // v1 UNKNOWN: the socket's own peer.
    let mut c = srv.connect();
    c.send("PROXY UNKNOWN\r\nGET / HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(c.response().text(), "127.0.0.1 http GET ");
    // Refused, closed unanswered: no header, a malformed one (bad address, v1 port out of
    // range), a v2 header with an unknown version.
    let bad: [&[u8]; 4] = [
        b"GET / HTTP/1.1\r\nHost: t\r\n\r\n",
        b"PROXY TCP4 203.0.113.999 127.0.0.1 40000 80\r\nGET / HTTP/1.1\r\nHost: t\r\n\r\n",
        b"PROXY TCP4 203.0.113.9 127.0.0.1 70000 80\r\nGET / HTTP/1.1\r\nHost: t\r\n\r\n",
        b"\r\n\r\n\0\r\nQUIT\n\x31\x11\x00\x0c\x01\x02\x03\x04\x7f\x00\x00\x01\x0f\xa0\x00\x50",
    ];
    for raw in bad {
        let mut c = srv.connect();
        c.send_bytes(raw);
        assert!(c.closed(), "answered: {:?}", String::from_utf8_lossy(raw));
    }
    // Still serving.
    let mut c = srv.connect();
    c.send("PROXY TCP4 192.0.2.1 127.0.0.1 1 80\r\nGET / HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(c.response().text(), "192.0.2.1 http GET ");
}

#[test]
fn without_proxy_protocol_a_proxy_line_is_a_bad_request() {
    let srv = start(|s| {
        s.set_proxy_protocol(true).unwrap();
        s.set_proxy_protocol(false).unwrap(); // off again
    });
    let mut c = srv.connect();
    c.send("PROXY TCP4 203.0.113.9 127.0.0.1 40000 80\r\nGET / HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(c.response().status, 400);
    assert_eq!(srv.get().text(), "127.0.0.1 http GET ");
}

// gzip.compress(b"hello, decompressed", mtime=0)
const GZIPPED: [u8; 39] = [
    0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x03, 0xcb, 0x48, 0xcd, 0xc9, 0xc9, 0xd7,
    0x51, 0x48, 0x49, 0x4d, 0xce, 0xcf, 0x2d, 0x28, 0x4a, 0x2d, 0x2e, 0x4e, 0x4d, 0x01, 0x00, 0x6a,
    0xec, 0xd8, 0xff, 0x13, 0x00, 0x00, 0x00,
];

#[test]
fn decompress_request_decodes_gzip_bodies() {
    let post = |srv: &RawServer| {
        let mut c = srv.connect();
        c.send(&format!(
            "POST / HTTP/1.1\r\nHost: t\r\nContent-Encoding: gzip\r\nContent-Length: {}\r\n\r\n",
            GZIPPED.len()
        ));
        c.send_bytes(&GZIPPED);
        c.response()
    };
    let on = start(|s| s.set_decompress_request(true).unwrap());
    assert_eq!(post(&on).text(), "127.0.0.1 http POST hello, decompressed");
    let off = start(|_| {});
    // Off (the default): the body comes as it was sent (shown lossily: it is binary).
    let text = post(&off).text();
    assert!(text.starts_with("127.0.0.1 http POST "), "{}", text);
    assert!(!text.contains("hello"), "{}", text);
}

#[test]
fn max_header_size_gives_431() {
    let srv = start(|s| {
        assert_eq!(s.set_max_header_size(10), Err(eddy::Error::INVALID));
        s.set_max_header_size(1024).unwrap();
    });
    let head = |n: usize| {
        format!(
            "GET / HTTP/1.1\r\nHost: t\r\nX-Big: {}\r\n\r\n",
            "a".repeat(n)
        )
    };
    let mut c = srv.connect();
    c.send(&head(2000));
    assert_eq!(c.response().status, 431);
    let mut c = srv.connect();
    c.send(&head(900));
    assert_eq!(c.response().status, 200);
}

#[test]
fn header_and_body_timeouts_answer_408_and_close() {
    let srv = start(|s| {
        s.set_header_timeout(0.2).unwrap();
        s.set_body_timeout(0.2).unwrap();
    });
    let mut c = srv.connect();
    c.send("GET / HTTP/1.1\r\nHost: t\r\n"); // the head never ends
    assert_eq!(c.response().status, 408);
    assert!(c.closed());
    let mut c = srv.connect();
    c.send("POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nabc"); // nor the body
    assert_eq!(c.response().status, 408);
    assert!(c.closed());
    assert_eq!(srv.get().status, 200);
}

#[test]
fn idle_timeout_closes_a_kept_alive_connection() {
    let srv = start(|s| s.set_idle_timeout(0.2).unwrap());
    let mut c = srv.connect();
    c.send("GET / HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(c.response().status, 200);
    let start = std::time::Instant::now();
    assert!(c.closed(), "the idle connection stays open");
    assert!(start.elapsed() < Duration::from_secs(5));
}

#[test]
fn max_connections_closes_the_idle_one() {
    let srv = start(|s| s.set_max_connections(1).unwrap());
    let mut first = srv.connect();
    first.send("GET / HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(first.response().status, 200);
    assert_eq!(srv.get().status, 200);
    assert!(
        first.closed(),
        "the idle connection was kept over the limit"
    );
}

#[test]
fn allow_any_method_lets_every_token_through() {
    let req = "BREW / HTTP/1.1\r\nHost: t\r\n\r\n";
    let strict = start(|_| {});
    let mut c = strict.connect();
    c.send(req);
    assert_eq!(c.response().status, 501);
    let any = start(|s| s.allow_any_method(true).unwrap());
    let mut c = any.connect();
    c.send(req);
    assert_eq!(c.response().text(), "127.0.0.1 http BREW ");
    // CONNECT never (eddy is no tunnel).
    let mut c = any.connect();
    c.send("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n");
    assert_eq!(c.response().status, 501);
    // And off again.
    let off = start(|s| {
        s.allow_any_method(true).unwrap();
        s.allow_any_method(false).unwrap();
    });
    let mut c = off.connect();
    c.send(req);
    assert_eq!(c.response().status, 501);
}

#[test]
fn listen_unix_serves_on_a_unix_socket() {
    use std::io::{Read, Write};
    use std::os::unix::net::UnixStream;
    let dir = std::env::temp_dir().join(format!("eddy-rs-raw-unix-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("s.sock");
    let p = path.clone();
    let srv = start(move |s| s.listen_unix(&p).unwrap());
    let mut u = UnixStream::connect(&path).unwrap();
    u.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    u.write_all(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut got = String::new();
    u.read_to_string(&mut got).unwrap();
    assert!(got.starts_with("HTTP/1.1 200 "), "{}", got);
    drop(srv);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn clear_access_log_stops_the_closure() {
    for clear in [false, true] {
        let (tx, rx) = mpsc::channel::<String>();
        let tx = std::sync::Mutex::new(tx);
        let srv = start(move |s| {
            let tx = tx.lock().unwrap().clone();
            s.set_access_log(move |req, e| {
                let _ = tx.send(format!("{} {}", req.path(), e.status));
            })
            .unwrap();
            if clear {
                s.clear_access_log().unwrap();
            }
        });
        let mut c = srv.connect();
        c.send("GET /one HTTP/1.1\r\nHost: t\r\n\r\n");
        assert_eq!(c.response().status, 200);
        // The second answer comes after the first one's access-log call (one loop thread).
        c.send("GET /two HTTP/1.1\r\nHost: t\r\n\r\n");
        assert_eq!(c.response().status, 200);
        let logged = rx.try_recv().ok();
        assert_eq!(
            logged,
            if clear {
                None
            } else {
                Some("/one 200".to_owned())
            }
        );
    }
}

#[test]
fn set_tls_serves_https() {
    let certs = Certs::make("rawserver");
    let (cert, key) = (certs.path("server.crt"), certs.path("server.key"));
    let srv = start(move |s| {
        let ctx = TlsContext::server(&cert, &key).unwrap();
        s.set_tls(&ctx).unwrap();
    });
    let ca = certs.path("server.crt");
    let url = format!("https://localhost:{}/", srv.port);
    let resolve = format!("localhost:{}:127.0.0.1", srv.port);
    let (rc, out) = common::curl(&[
        "--cacert",
        ca.to_str().unwrap(),
        "--resolve",
        &resolve,
        &url,
    ]);
    assert_eq!(rc, 0, "{}", out);
    assert_eq!(out, "127.0.0.1 https GET ");
}
