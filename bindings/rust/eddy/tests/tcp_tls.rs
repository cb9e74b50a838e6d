//! TLS streams with certificates made at test time (openssl CLI, as the crate's other TLS
//! tests): a TcpServer with set_tls and connect_tls on one loop, a plain peer refused by the
//! TLS server, clear_tls; connect_tls against eddy's HTTPS server (an App on its own thread) —
//! trusted through its CA, refused by default, a server name the certificate does not cover.
mod common;

use std::cell::RefCell;
use std::rc::Rc;
use std::thread;

use common::certs::Certs;
use common::tcp::{run_strict, stopper, Log, Peer};
use common::Server;
use eddy::{Error, Loop, Result, Stream, TcpServer, TlsContext};

/// An HTTPS App on its own thread answering "secure".
fn https_app(certs: &Certs) -> Server {
    let ctx = TlsContext::server(certs.path("server.crt"), certs.path("server.key")).unwrap();
    Server::start(move |_, app| {
        app.set_tls(&ctx).unwrap();
        app.route("/").unwrap().get(|_, res| res.write("secure"));
    })
}

/// A client context trusting the test server's certificate.
fn trusting(certs: &Certs) -> TlsContext {
    let mut ctx = TlsContext::client().unwrap();
    ctx.load_ca_file(certs.path("server.crt")).unwrap();
    ctx
}

/// connect_tls to 127.0.0.1:`port` with `ctx` and `name`; sends one HTTP request and logs
/// "tls <is_tls>", the response's last line, and the close reason.
fn fetch_over_tls(port: u16, ctx: &TlsContext, name: Option<&str>) -> Vec<String> {
    let lp = Loop::new().unwrap();
    let log = Log::default();
    let (l, stop) = (log.clone(), stopper(&lp));
    // The Host header names what SNI named (else eddy answers 421 Misdirected Request).
    let request = format!(
        "GET / HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
        name.unwrap_or("127.0.0.1")
    );
    eddy::connect_tls(&lp, "127.0.0.1", port, 5.0, ctx, name, move |outcome| {
        let s = outcome?;
        l.push(format!("tls {}", s.is_tls()));
        let l2 = l.clone();
        s.set_close_callback(move |why| {
            l2.push(format!("closed {:?}", why));
            stop();
            Ok(())
        })?;
        s.write(request.as_bytes(), None)?;
        let l = l.clone();
        s.read_until_close(move |_, data| {
            let text = String::from_utf8_lossy(data);
            l.push(text.lines().last().unwrap_or("").to_owned());
            Ok(())
        })
    })
    .unwrap();
    run_strict(&lp);
    log.take()
}

#[test]
fn connect_tls_to_an_https_server() {
    let certs = Certs::make("tcp-connect");
    let srv = https_app(&certs);
    let ok = ["tls true", "secure", "closed None"];
    assert_eq!(fetch_over_tls(srv.port, &trusting(&certs), None), ok);
    // The certificate names localhost too; the SNI name is checked against it.
    assert_eq!(
        fetch_over_tls(srv.port, &trusting(&certs), Some("localhost")),
        ok
    );
    let failed = ["tls true", "closed Some(Error(EDDY_ETLS))"];
    assert_eq!(
        fetch_over_tls(srv.port, &trusting(&certs), Some("other.test")),
        failed
    );
    // The system's CAs alone do not trust a self-signed certificate.
    assert_eq!(
        fetch_over_tls(srv.port, &TlsContext::client().unwrap(), None),
        failed
    );
}

#[test]
fn connect_tls_refuses_a_server_context() {
    let certs = Certs::make("tcp-refuse");
    let lp = Loop::new().unwrap();
    let server_ctx =
        TlsContext::server(certs.path("server.crt"), certs.path("server.key")).unwrap();
    let called = Rc::new(RefCell::new(false));
    let c = called.clone();
    let f = move |_: Result<Stream>| -> Result<()> {
        *c.borrow_mut() = true;
        Ok(())
    };
    assert_eq!(
        eddy::connect_tls(&lp, "127.0.0.1", 1, 1.0, &server_ctx, None, f),
        Err(Error::INVALID)
    );
    assert!(!*called.borrow());
}

/// Stops the loop on its `n`th call.
fn stop_after(lp: &Loop, n: usize) -> impl Fn() + Clone {
    let (count, stop) = (Rc::new(RefCell::new(0)), stopper(lp));
    move || {
        *count.borrow_mut() += 1;
        if *count.borrow() == n {
            stop();
        }
    }
}

/// A TcpServer on `lp` answering each line upper-cased, logging "server: tls <is_tls>" and its
/// streams' close reasons (then calling `closed`); TLS with the test certificate.
fn tls_echo_server(
    lp: &Loop,
    certs: &Certs,
    log: &Log,
    closed: impl Fn() + Clone + 'static,
) -> TcpServer {
    let l = log.clone();
    let mut srv = TcpServer::new(lp, move |s, _| {
        l.push(format!("server: tls {}", s.is_tls()));
        let (l, closed) = (l.clone(), closed.clone());
        s.set_close_callback(move |why| {
            l.push(format!("server: closed {:?}", why));
            closed();
            Ok(())
        })?;
        fn echo(s: &Stream) -> Result<()> {
            s.read_until(b"\n", 1024, |s, line| {
                s.write(&line.to_ascii_uppercase(), None)?;
                echo(s)
            })
        }
        echo(&s)
    })
    .unwrap();
    let ctx = TlsContext::server(certs.path("server.crt"), certs.path("server.key")).unwrap();
    srv.set_tls(&ctx).unwrap();
    drop(ctx); // the server keeps its own reference
    srv.listen("127.0.0.1", 0).unwrap();
    srv
}

#[test]
fn tls_server_and_client_on_one_loop() {
    let certs = Certs::make("tcp-both");
    let lp = Loop::new().unwrap();
    let (server_log, client_log) = (Log::default(), Log::default());
    let both_closed = stop_after(&lp, 2);
    let srv = tls_echo_server(&lp, &certs, &server_log, both_closed.clone());
    let l = client_log.clone();
    let ctx = trusting(&certs);
    eddy::connect_tls(
        &lp,
        "127.0.0.1",
        srv.port().unwrap(),
        5.0,
        &ctx,
        None,
        move |r| {
            let s = r?;
            l.push(format!("tls {}", s.is_tls()));
            let l2 = l.clone();
            s.set_close_callback(move |why| {
                l2.push(format!("closed {:?}", why));
                both_closed();
                Ok(())
            })?;
            // Written before the handshake completed: it waits for it.
            s.write(b"secret\n", None)?;
            let l = l.clone();
            s.read_until(b"\n", 1024, move |s, line| {
                l.push(String::from_utf8_lossy(line).trim_end().to_owned());
                s.close()
            })
        },
    )
    .unwrap();
    drop(ctx); // the connection keeps its own reference
    run_strict(&lp);
    assert_eq!(client_log.take(), ["tls true", "SECRET", "closed None"]);
    assert_eq!(
        server_log.take(),
        ["server: tls true", "server: closed Some(Error(EDDY_EOF))"]
    );
}

#[test]
fn a_plain_peer_fails_the_handshake_and_clear_tls_serves_plain() {
    let certs = Certs::make("tcp-plain");
    let lp = Loop::new().unwrap();
    let log = Log::default();
    let mut srv = tls_echo_server(&lp, &certs, &log, stopper(&lp));
    let port = srv.port().unwrap();
    let peer = thread::spawn(move || {
        let mut p = Peer::connect(port);
        p.send(b"plain text, not a ClientHello\n");
        p.rest_or_reset().0
    });
    run_strict(&lp);
    // Nothing was echoed: the handshake failed and closed the stream.
    assert!(!String::from_utf8_lossy(&peer.join().unwrap()).contains("PLAIN"));
    assert_eq!(
        log.take(),
        ["server: tls true", "server: closed Some(Error(EDDY_ETLS))"]
    );

    // Plain TCP again for connections accepted from now on.
    srv.clear_tls();
    let peer = thread::spawn(move || {
        let mut p = Peer::connect(port);
        p.send(b"plain\n");
        let line = p.line();
        drop(p);
        line
    });
    run_strict(&lp);
    assert_eq!(peer.join().unwrap(), "PLAIN\n");
    assert_eq!(
        log.take(),
        ["server: tls false", "server: closed Some(Error(EDDY_EOF))"]
    );
}

#[test]
fn set_tls_refuses_a_client_context_and_a_client_refuses_an_untrusted_server() {
    let certs = Certs::make("tcp-refused");
    let lp = Loop::new().unwrap();
    let log = Log::default();
    let mut srv = tls_echo_server(&lp, &certs, &log, || {});
    assert_eq!(
        srv.set_tls(&TlsContext::client().unwrap()),
        Err(Error::INVALID)
    );
    // A client verifying against the system's CAs alone refuses the self-signed certificate.
    let (l, stop) = (Log::default(), stopper(&lp));
    let client_log = l.clone();
    let ctx = TlsContext::client().unwrap();
    eddy::connect_tls(
        &lp,
        "127.0.0.1",
        srv.port().unwrap(),
        5.0,
        &ctx,
        None,
        move |r| {
            let s = r?;
            s.set_close_callback(move |why| {
                l.push(format!("closed {:?}", why));
                stop();
                Ok(())
            })?;
            s.read_until(b"\n", 1024, |_, _| panic!("nothing is delivered"))
        },
    )
    .unwrap();
    run_strict(&lp);
    assert_eq!(client_log.take(), ["closed Some(Error(EDDY_ETLS))"]);
}
