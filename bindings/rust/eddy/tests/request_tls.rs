//! A request's TLS information: Request::tls_server_name (SNI) and tls_peer_certificate (the
//! client's certificate, DER). Plain HTTP has neither; over HTTPS (certificates made by the
//! openssl command at test time, requests sent with curl) the name is the one curl sent and
//! the certificate is byte for byte the client's.
mod common;

use std::process::Command;
use std::sync::{Arc, Mutex};

use common::certs::Certs;
use common::{curl, Server};
use eddy::{Request, TlsContext, Verify};

/// What the handler saw: "sni=<name or ->" and "cert=<byte count or error name>".
fn describe(req: &Request<'_>, kept: &Mutex<Vec<u8>>) -> String {
    let cert = match req.tls_peer_certificate() {
        Ok(der) => {
            let n = der.len();
            *kept.lock().unwrap() = der;
            n.to_string()
        }
        Err(e) => e.name().to_owned(),
    };
    format!(
        "sni={} cert={}",
        req.tls_server_name().unwrap_or_else(|| "-".to_owned()),
        cert
    )
}

fn who_server(ctx: Option<TlsContext>, kept: Arc<Mutex<Vec<u8>>>) -> Server {
    Server::start(move |_, app| {
        if let Some(ctx) = ctx {
            app.set_tls(&ctx).unwrap();
        }
        app.route("/who")
            .unwrap()
            .get(move |req, res| res.write(describe(req, &kept)));
    })
}

#[test]
fn plain_http_has_no_server_name_and_no_certificate() {
    let srv = who_server(None, Arc::default());
    let resp = srv.get("/who");
    assert_eq!(
        (resp.status, resp.text()),
        (200, "sni=- cert=EDDY_ENOENT".to_owned())
    );
}

#[test]
fn https_gives_the_sni_name_and_the_client_certificate() {
    let certs = Certs::make("requesttls");
    let mut ctx = TlsContext::server(certs.path("server.crt"), certs.path("server.key")).unwrap();
    ctx.load_ca_file(certs.path("client.crt")).unwrap();
    ctx.set_verify(Verify::Optional).unwrap();
    let kept = Arc::new(Mutex::new(Vec::new()));
    let srv = who_server(Some(ctx), kept.clone());
    let port = srv.port;
    let ca = certs.path("server.crt");
    let (ca, cert, key) = (
        ca.to_str().unwrap(),
        certs.path("client.crt"),
        certs.path("client.key"),
    );
    // "localhost" resolved to 127.0.0.1 by curl itself: the name is sent as SNI (and Host).
    let resolve = format!("localhost:{}:127.0.0.1", port);
    let by_name = format!("https://localhost:{}/who", port);

    // No client certificate (the server asks, optionally).
    assert_eq!(
        curl(&["--cacert", ca, "--resolve", &resolve, &by_name]),
        (0, "sni=localhost cert=EDDY_ENOENT".to_owned())
    );
    // An IP address is never sent as SNI.
    let by_ip = format!("https://127.0.0.1:{}/who", port);
    assert_eq!(
        curl(&["--cacert", ca, &by_ip]),
        (0, "sni=- cert=EDDY_ENOENT".to_owned())
    );

    // With the client's certificate: the DER bytes are the certificate's.
    let (code, text) = curl(&[
        "--cacert",
        ca,
        "--resolve",
        &resolve,
        "--cert",
        cert.to_str().unwrap(),
        "--key",
        key.to_str().unwrap(),
        &by_name,
    ]);
    let der_path = certs.path("client.der");
    let status = Command::new("openssl")
        .args([
            "x509",
            "-in",
            cert.to_str().unwrap(),
            "-outform",
            "DER",
            "-out",
            der_path.to_str().unwrap(),
        ])
        .status()
        .expect("openssl");
    assert!(status.success());
    let der = std::fs::read(der_path).unwrap();
    assert_eq!(
        (code, text),
        (0, format!("sni=localhost cert={}", der.len()))
    );
    assert_eq!(*kept.lock().unwrap(), der);
}
