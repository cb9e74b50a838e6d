//! STARTTLS (Stream::start_tls) with eddy on both ends of one connection, on one loop: a line
//! in plaintext, the upgrade (the server from the write callback of its answer, the client
//! from the read callback of that answer), a line over TLS; the refusals; the plain handles
//! spent, the close closure moved to the TLS stream; wait_for_handshake.
mod common;

use std::rc::Rc;

use common::certs::Certs;
use common::tcp::{run_strict, stopper, Log};
use eddy::{Error, Loop, Result, Stream, TcpServer, TlsContext};

/// A plain TcpServer that answers STARTTLS, upgrades, then answers one line over TLS
/// upper-cased.
fn starttls_server(lp: &Loop, ctx: Rc<TlsContext>, log: &Log) -> TcpServer {
    let l = log.clone();
    let mut srv = TcpServer::new(lp, move |s, _| {
        let (l, ctx) = (l.clone(), ctx.clone());
        s.read_until(b"\r\n", 1024, move |s, line| {
            assert_eq!(line, b"STARTTLS\r\n");
            let refused = ctx.clone();
            let upgrade = move |s: &Stream, sent: Result<()>| -> Result<()> {
                sent?;
                s.start_tls(true, &ctx, None, move |tls| {
                    let tls = tls?;
                    l.push(format!("server: tls {}", tls.is_tls()));
                    tls.read_until(b"\r\n", 1024, |t, line| {
                        t.write(&line.to_ascii_uppercase(), None)
                    })
                })
            };
            s.write(b"220 go ahead\r\n", Some(Box::new(upgrade)))?;
            // Refused while the answer is not sent yet (the stream is not idle).
            assert_eq!(
                s.start_tls(true, &refused, None, |_| Ok(())),
                Err(Error::BUSY)
            );
            Ok(())
        })
    })
    .unwrap();
    srv.listen("127.0.0.1", 0).unwrap();
    srv
}

#[test]
fn starttls_both_ends_on_one_loop() {
    let certs = Certs::make("starttls");
    let lp = Loop::new().unwrap();
    let server_ctx =
        Rc::new(TlsContext::server(certs.path("server.crt"), certs.path("server.key")).unwrap());
    let mut client_ctx = TlsContext::client().unwrap();
    client_ctx.load_ca_file(certs.path("server.crt")).unwrap();
    let client_ctx = Rc::new(client_ctx);
    let (log, server_log) = (Log::default(), Log::default());
    let srv = starttls_server(&lp, server_ctx, &server_log);
    let (l, stop) = (log.clone(), stopper(&lp));
    eddy::connect(&lp, "127.0.0.1", srv.port().unwrap(), 5.0, move |plain| {
        let plain = plain?;
        let l2 = l.clone();
        plain.set_close_callback(move |why| {
            l2.push(format!("client: closed {:?}", why));
            stop();
            Ok(())
        })?;
        plain.write(b"STARTTLS\r\n", None)?;
        let l = l.clone();
        plain.read_until(b"\r\n", 1024, move |s, answer| {
            assert_eq!(answer, b"220 go ahead\r\n");
            // A verifying client names the host it expects.
            assert_eq!(
                s.start_tls(false, &client_ctx, None, |_| Ok(())),
                Err(Error::INVALID)
            );
            let (kept, again) = (s.clone(), client_ctx.clone());
            s.start_tls(false, &client_ctx, Some("localhost"), move |tls| {
                let tls = tls?;
                // Already TLS: no second upgrade.
                assert_eq!(
                    tls.start_tls(false, &again, Some("localhost"), |_| Ok(())),
                    Err(Error::STATE)
                );
                let l2 = l.clone();
                tls.wait_for_handshake(move |_, done| {
                    l2.push(format!("client: handshake {:?}", done));
                    Ok(())
                })?;
                tls.write(b"hello\r\n", None)?;
                tls.read_until(b"\r\n", 1024, move |t, line| {
                    l.push(format!(
                        "client: {}",
                        String::from_utf8_lossy(line).trim_end()
                    ));
                    t.close()
                })
            })?;
            // The plain stream is spent: its handles see it gone.
            assert!(kept.is_closed());
            assert_eq!(kept.write(b"x", None), Err(Error::CLOSED));
            Ok(())
        })
    })
    .unwrap();
    run_strict(&lp);
    assert_eq!(
        log.take(),
        [
            "client: handshake Ok(())",
            "client: HELLO",
            "client: closed None", // the plain stream's close closure, moved to the TLS stream
        ]
    );
    assert_eq!(server_log.take(), ["server: tls true"]);
}

#[test]
fn an_untrusted_certificate_fails_the_upgrade() {
    let certs = Certs::make("starttls-untrusted");
    let lp = Loop::new().unwrap();
    let server_ctx =
        Rc::new(TlsContext::server(certs.path("server.crt"), certs.path("server.key")).unwrap());
    let client_ctx = TlsContext::client().unwrap(); // the system's CAs only
    let log = Log::default();
    let srv = starttls_server(&lp, server_ctx, &log);
    let (l, stop) = (log.clone(), stopper(&lp));
    eddy::connect(&lp, "127.0.0.1", srv.port().unwrap(), 5.0, move |plain| {
        let plain = plain?;
        let l2 = l.clone();
        plain.set_close_callback(move |why| {
            l2.push(format!("closed {:?}", why));
            stop();
            Ok(())
        })?;
        plain.write(b"STARTTLS\r\n", None)?;
        let l = l.clone();
        plain.read_until(b"\r\n", 1024, move |s, _| {
            s.start_tls(false, &client_ctx, Some("localhost"), move |tls| {
                l.push(format!("upgrade {:?}", tls.map(|_| ())));
                Ok(())
            })
        })
    })
    .unwrap();
    run_strict(&lp);
    assert_eq!(
        log.take(),
        [
            "upgrade Err(Error(EDDY_ETLS))",
            "closed Some(Error(EDDY_ETLS))"
        ]
    );
}
