//! HTTPS and wss:// served by eddy with a self-signed certificate made at test time (openssl
//! CLI), checked with curl and with eddy's WebSocket client (trusted through ca_file, refused
//! by default, accepted without verification, client certificates).
mod common;

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

use common::certs::Certs;
use common::{client_outcome as outcome, curl, run_bounded, Server};
use eddy::{ConnectError, Error, Loop, TlsContext, Verify, WebSocketClient, WebSocketHandler};

/// A TLS server with a WebSocket route and a page; `ctx` configures its context.
fn tls_server(certs: &Certs, configure: fn(&mut TlsContext, &Certs)) -> Server {
    let mut ctx = TlsContext::server(certs.path("server.crt"), certs.path("server.key")).unwrap();
    configure(&mut ctx, certs);
    Server::start(move |_, app| {
        app.set_tls(&ctx).unwrap();
        drop(ctx); // the server keeps its own reference
        let handler = WebSocketHandler::new()
            .on_open(|ws| ws.send_text(&format!("hello, {:?}", ws.subprotocol())));
        app.route("/ws").unwrap().websocket(handler).unwrap();
        app.route("/page")
            .unwrap()
            .get(|req, res| res.write(format!("secure {}", req.uri())));
    })
}

/// Connects `client` to `url` with on_connect_detailed and returns the failure (panics when
/// the connection opened or nothing came).
fn connect_error(client: WebSocketClient, url: &str) -> ConnectError {
    let lp = Loop::new().unwrap();
    let seen = Rc::new(RefCell::new(None));
    let (got, stop) = (seen.clone(), lp.clone());
    client
        .connect_timeout(5.0)
        .on_connect_detailed(move |outcome| {
            *got.borrow_mut() = Some(outcome.map(|_| ()));
            stop.stop();
            Ok(())
        })
        .connect(&lp, url)
        .unwrap();
    run_bounded(&lp);
    let outcome = seen.borrow_mut().take();
    outcome
        .expect("no outcome within 10 s")
        .expect_err("connected")
}

#[test]
fn wss_and_https_with_a_self_signed_certificate() {
    let certs = Certs::make("selfsigned");
    let srv = tls_server(&certs, |_, _| {});
    let ca = certs.path("server.crt");
    let wss = format!("wss://127.0.0.1:{}/ws", srv.port);
    let welcomed = ["connected None", "Text(\"hello, None\")"];

    // Verification on (the default): nobody trusts this certificate.
    assert_eq!(outcome(WebSocketClient::new(), &wss), ["error EDDY_ETLS"]);
    assert_eq!(
        outcome(WebSocketClient::new().validate_cert(true), &wss),
        ["error EDDY_ETLS"]
    );
    // Trusted through its own file, or not checked at all.
    assert_eq!(outcome(WebSocketClient::new().ca_file(&ca), &wss), welcomed);
    assert_eq!(
        outcome(WebSocketClient::new().validate_cert(false), &wss),
        welcomed
    );
    // A context of one's own, shared (the client keeps a reference).
    let mut own = TlsContext::client().unwrap();
    own.load_ca_file(&ca).unwrap();
    let own = Arc::new(own);
    assert_eq!(
        outcome(WebSocketClient::new().tls(own.clone()), &wss),
        welcomed
    );
    // Refused at once: an unreadable CA file, a context plus separate settings.
    let lp = Loop::new().unwrap();
    assert_eq!(
        WebSocketClient::new()
            .ca_file(certs.path("missing.crt"))
            .connect(&lp, &wss),
        Err(Error::INVALID)
    );
    assert_eq!(
        WebSocketClient::new()
            .tls(own)
            .validate_cert(false)
            .connect(&lp, &wss),
        Err(Error::INVALID)
    );

    // HTTPS, checked with curl: trusted with --cacert, refused without (60: bad certificate).
    let page = format!("https://127.0.0.1:{}/page?x=1", srv.port);
    let ca_arg = ca.to_str().unwrap();
    assert_eq!(
        curl(&["--cacert", ca_arg, &page]),
        (0, "secure /page?x=1".to_owned())
    );
    assert_eq!(curl(&[&page]).0, 60);
}

#[test]
fn client_certificates_checked_by_the_server() {
    let certs = Certs::make("clientcert");
    let srv = tls_server(&certs, |ctx, certs| {
        ctx.load_ca_file(certs.path("client.crt")).unwrap();
        ctx.set_verify(Verify::Required).unwrap();
    });
    let wss = format!("wss://127.0.0.1:{}/ws", srv.port);
    let trusting = || WebSocketClient::new().ca_file(certs.path("server.crt"));
    let with_cert = trusting().client_cert(certs.path("client.crt"), certs.path("client.key"));
    assert_eq!(
        outcome(with_cert, &wss),
        ["connected None", "Text(\"hello, None\")"]
    );
    // Without one the server ends the handshake: no connection.
    let without = outcome(trusting(), &wss);
    assert_eq!(without.len(), 1, "{:?}", without);
    assert!(without[0].starts_with("error "), "{:?}", without);
    // A certificate the server does not trust (its own server certificate) neither.
    let wrong = trusting().client_cert(certs.path("server.crt"), certs.path("server.key"));
    assert!(outcome(wrong, &wss)[0].starts_with("error "));
    // A key that does not match the certificate is refused before connecting.
    let lp = Loop::new().unwrap();
    let mismatched = trusting().client_cert(certs.path("client.crt"), certs.path("server.key"));
    assert_eq!(mismatched.connect(&lp, &wss), Err(Error::INVALID));
}

#[test]
fn a_failed_wss_connect_says_why() {
    let certs = Certs::make("detail");
    let srv = tls_server(&certs, |_, _| {});
    let wss = format!("wss://127.0.0.1:{}/ws", srv.port);
    // Nobody trusts the certificate: the code, and OpenSSL's reason through
    // eddy_websocket_connect_error_detail (the words of a FetchError's detail).
    let e = connect_error(WebSocketClient::new(), &wss);
    assert_eq!(e, Error::TLS); // still the code, whatever the detail
    assert_eq!((e.error(), e.name()), (Error::TLS, "EDDY_ETLS"));
    assert_eq!(
        e.detail(),
        Some("certificate verification: self-signed certificate")
    );
    assert_eq!(
        e.to_string(),
        format!(
            "{}: certificate verification: self-signed certificate",
            Error::TLS
        )
    );
    // Trusted, but the server refuses the handshake (no such route): what it answered.
    let missing = format!("wss://127.0.0.1:{}/nowhere", srv.port);
    let e = connect_error(
        WebSocketClient::new().ca_file(certs.path("server.crt")),
        &missing,
    );
    assert_eq!(e, Error::PROTOCOL);
    assert_eq!(e.detail(), Some("the server answered 404 Not Found"));
    // on_connect keeps its Error (the code alone).
    assert_eq!(outcome(WebSocketClient::new(), &wss), ["error EDDY_ETLS"]);
}

/// A context handed to a server is in use: the server's loop thread may read it in any
/// handshake, and the context is Send, so reconfiguring it from safe code (here, moved to
/// another thread) raced OpenSSL into a crash (SIGSEGV in X509 freeing on the server's thread
/// under `openssl s_time`). It is frozen instead: Err(STATE), and the server keeps serving
/// with what it was given.
#[test]
fn a_context_in_use_cannot_be_reconfigured() {
    let certs = Certs::make("frozen");
    let mut ctx = TlsContext::server(certs.path("server.crt"), certs.path("server.key")).unwrap();
    ctx.set_verify(Verify::None).unwrap(); // not handed over yet: configurable
    let (tx, rx) = std::sync::mpsc::channel();
    let srv = Server::start(move |_, app| {
        app.set_tls(&ctx).unwrap();
        tx.send(ctx).unwrap(); // safe code may move it to another thread
        app.route("/page")
            .unwrap()
            .get(|_, res| res.write("secure"));
    });
    let mut ctx = rx.recv().unwrap();
    let reconfigured = std::thread::spawn(move || {
        let cert = ctx.load_cert_file(certs.path("server.crt"), certs.path("server.key"));
        let ca = ctx.load_ca_file(certs.path("server.crt"));
        let verify = ctx.set_verify(Verify::Required);
        (cert, ca, verify)
    })
    .join()
    .unwrap();
    let state = Err(Error::STATE);
    assert_eq!(reconfigured, (state, state, state));
    // A client context handed to an HttpClient is frozen too.
    let lp = Loop::new().unwrap();
    let mut client_ctx = TlsContext::client().unwrap();
    let mut client = eddy::HttpClient::new(&lp).unwrap();
    client.set_tls(&client_ctx).unwrap();
    assert_eq!(client_ctx.set_verify(Verify::None), Err(Error::STATE));
    drop(srv);
}
