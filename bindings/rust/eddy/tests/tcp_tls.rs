//! TLS streams with certificates made at test time (openssl CLI, as the crate's other TLS
//! tests): connect_tls against eddy's HTTPS server (an App on its own thread) — trusted through
//! its CA, refused by default, a server name the certificate does not cover.
mod common;

use std::cell::RefCell;
use std::rc::Rc;

use common::certs::Certs;
use common::tcp::{run_strict, stopper, Log};
use common::Server;
use eddy::{Error, Loop, Result, Stream, TlsContext};

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
