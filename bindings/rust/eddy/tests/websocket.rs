//! WebSocket routes over real sockets, with the minimal RFC 6455 client of tests/common, and
//! eddy's own client (WebSocketClient) against them.
mod common;

use std::cell::RefCell;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::rc::Rc;
use std::sync::{mpsc, Arc, Mutex};
use std::thread;

use common::{run_bounded, Server, WsClient, IO_TIMEOUT};
use eddy::{App, Error, Loop, Message, WebSocketClient, WebSocketHandler};

#[test]
fn echo_threads_panics_and_close_codes() {
    let closes = Arc::new(Mutex::new(Vec::new()));
    let (seen, listed) = (closes.clone(), closes.clone());
    let srv = Server::start(move |_, app| {
        let handler = WebSocketHandler::new()
            .on_open(|ws| {
                let room = ws.request().path_arg(0).unwrap_or("?").to_owned();
                ws.send_text(&format!("welcome to {}", room))
            })
            .on_message(|ws, msg| match msg {
                Message::Text("panic") => panic!("boom in on_message"),
                Message::Text("thread") => {
                    let sender = ws.sender();
                    thread::spawn(move || sender.send_text("from a thread").unwrap());
                    Ok(())
                }
                Message::Text(t) => ws.send_text(&format!("echo: {}", t)),
                Message::Binary(b) => ws.send_binary(&b.iter().rev().copied().collect::<Vec<u8>>()),
            })
            .on_close(move |_, code, reason| {
                seen.lock().unwrap().push(format!("{} {}", code, reason));
                Ok(())
            });
        app.route("/ws/([a-z]+)")
            .unwrap()
            .websocket(handler)
            .unwrap();
        app.route("/plain")
            .unwrap()
            .get(|_, res| res.write("plain"));
        app.route("/closes")
            .unwrap()
            .get(move |_, res| res.write(listed.lock().unwrap().join(",")));
    });

    let mut c = WsClient::connect(srv.port, "/ws/lobby");
    assert_eq!(c.recv_text(), "welcome to lobby");
    c.text("hi");
    assert_eq!(c.recv_text(), "echo: hi");
    c.send(2, &[1, 2, 3]);
    assert_eq!(c.recv(), (2, vec![3, 2, 1]));
    c.text("thread");
    assert_eq!(c.recv_text(), "from a thread");
    // A client close (1000, "bye") is answered with a close frame echoing the code.
    let mut close = 1000u16.to_be_bytes().to_vec();
    close.extend_from_slice(b"bye");
    c.send(8, &close);
    let (op, payload) = c.recv();
    assert_eq!(op, 8);
    assert_eq!(&payload[..2], &1000u16.to_be_bytes());
    drop(c); // the client closes TCP after the close handshake

    // A panic in on_message closes that connection with 1011; the server goes on.
    let mut p = WsClient::connect(srv.port, "/ws/other");
    assert_eq!(p.recv_text(), "welcome to other");
    p.text("panic");
    let (op, payload) = p.recv();
    assert_eq!(op, 8);
    assert_eq!(&payload[..2], &1011u16.to_be_bytes());
    p.send(8, &1011u16.to_be_bytes());
    drop(p);
    assert_eq!(srv.get("/plain").text(), "plain");
    let mut again = WsClient::connect(srv.port, "/ws/again");
    assert_eq!(again.recv_text(), "welcome to again");
    drop(again);
    // The close callbacks run once each TCP connection is gone: wait for them (bounded).
    let mut closes = String::new();
    for _ in 0..500 {
        closes = srv.get("/closes").text();
        if closes.contains("1000 bye") && closes.contains("1011") {
            break;
        }
        thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(closes.contains("1000 bye"), "{}", closes);
    assert!(closes.contains("1011"), "{}", closes);
}

/// max_message_memory bounds the bytes of messages being received over all the route's
/// connections: a 150,000-byte message does not fit in 100,000 and closes its connection with
/// 1013 (Try Again Later), though max_message_size (1 MiB) would take it; a 50,000-byte one on
/// a new connection is echoed.
#[test]
fn max_message_memory_closes_a_message_that_does_not_fit_with_1013() {
    let (closed_tx, closed) = mpsc::channel();
    let srv = Server::start(move |_, app| {
        let handler = WebSocketHandler::new()
            .max_message_size(1 << 20)
            .max_message_memory(100_000)
            .on_message(|ws, msg| match msg {
                Message::Binary(b) => ws.send_binary(b),
                Message::Text(t) => ws.send_text(t),
            })
            .on_close(move |_, code, _| {
                let _ = closed_tx.send(code);
                Ok(())
            });
        app.route("/budget").unwrap().websocket(handler).unwrap();
    });

    let mut over = WsClient::connect(srv.port, "/budget");
    over.send(2, &vec![b'o'; 150_000]);
    let (op, payload) = over.recv();
    assert_eq!(
        op,
        8,
        "a close frame, not the echo ({} bytes)",
        payload.len()
    );
    assert_eq!(&payload[..2], &1013u16.to_be_bytes());
    assert!(over.closed(), "TCP ends after the close frame");
    drop(over);
    // The session's bytes are given back when it is gone (its on_close has run).
    assert_eq!(closed.recv_timeout(common::IO_TIMEOUT), Ok(1013));

    let mut fits = WsClient::connect(srv.port, "/budget");
    let msg = vec![b'f'; 50_000];
    fits.send(2, &msg);
    assert_eq!(fits.recv(), (2, msg));
}

#[test]
fn on_ping_gets_the_payload_after_the_pong() {
    let srv = Server::start(|_, app| {
        // The closure answers with what it saw, so the client learns the payload and the order.
        let handler = WebSocketHandler::new().on_ping(|ws, data| {
            if data == b"panic" {
                panic!("boom in on_ping");
            }
            ws.send_binary(data)
        });
        app.route("/ws").unwrap().websocket(handler).unwrap();
    });
    let mut c = WsClient::connect(srv.port, "/ws");
    let payload = b"ping \x00\xff payload".to_vec();
    c.send(9, &payload);
    // The automatic pong comes first, with the same payload; then what on_ping sent.
    assert_eq!(c.recv(), (10, payload.clone()));
    assert_eq!(c.recv(), (2, payload));
    c.send(9, b"");
    assert_eq!(c.recv(), (10, vec![]));
    assert_eq!(c.recv(), (2, vec![]));
    // A panic in on_ping closes with 1011 (after the pong was queued).
    c.send(9, b"panic");
    assert_eq!(c.recv(), (10, b"panic".to_vec()));
    let (op, payload) = c.recv();
    assert_eq!(op, 8);
    assert_eq!(&payload[..2], &1011u16.to_be_bytes());
}

#[test]
fn client_on_refused_gets_the_status_before_on_connect_fails() {
    let srv = Server::start(|_, app| {
        // A prepare that answers refuses the upgrade with its status.
        app.route("/private")
            .unwrap()
            .prepare(|_, res| res.send_error(403))
            .websocket(WebSocketHandler::new())
            .unwrap();
        app.route("/page")
            .unwrap()
            .get(|_, res| res.write("a page, not a WebSocket"));
    });
    let lp = Loop::new().unwrap();
    let events = Rc::new(RefCell::new(Vec::new()));
    let cases = [
        ("/private", "refused 403 Forbidden"),
        ("/page", "refused 200 OK"),
        ("/nowhere", "refused 404 Not Found"),
    ];
    for (path, refusal) in cases {
        let (seen, failed, stopper) = (events.clone(), events.clone(), lp.clone());
        WebSocketClient::new()
            .connect_timeout(5.0)
            .on_refused(move |status, reason| {
                seen.borrow_mut()
                    .push(format!("refused {} {}", status, reason))
            })
            .on_connect(move |outcome| {
                failed.borrow_mut().push(match outcome {
                    Ok(_) => "connected".to_owned(),
                    Err(e) => format!("connect {}", e.name()),
                });
                stopper.stop();
                Ok(())
            })
            .connect(&lp, &format!("ws://127.0.0.1:{}{}", srv.port, path))
            .unwrap();
        run_bounded(&lp);
        assert_eq!(
            events.borrow_mut().drain(..).collect::<Vec<_>>(),
            [refusal, "connect EDDY_EPROTO"],
            "{}",
            path
        );
    }
    // eddy released the clients' closures (and the clones they held) after the failed connects.
    assert_eq!(Rc::strong_count(&events), 1);

    // A failure that is not an HTTP answer (nothing listens there) is no refusal.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let (seen, failed, stopper) = (events.clone(), events.clone(), lp.clone());
    WebSocketClient::new()
        .on_refused(move |status, _| seen.borrow_mut().push(format!("refused {}", status)))
        .on_connect(move |outcome| {
            failed
                .borrow_mut()
                .push(format!("connect {:?}", outcome.err()));
            stopper.stop();
            Ok(())
        })
        .connect(&lp, &format!("ws://127.0.0.1:{}/", port))
        .unwrap();
    run_bounded(&lp);
    assert_eq!(
        *events.borrow(),
        [format!("connect {:?}", Some(Error::CONNECTION_REFUSED))]
    );
    // A bad URL fails at once; no closure runs and none is kept.
    let kept = events.clone();
    let bad = WebSocketClient::new().on_connect(move |_| {
        kept.borrow_mut().push("ran".to_owned());
        Ok(())
    });
    assert_eq!(bad.connect(&lp, "http://127.0.0.1/"), Err(Error::INVALID));
    assert_eq!(Rc::strong_count(&events), 1);
}

#[test]
fn client_and_server_see_each_others_pings() {
    let srv = Server::start(|_, app| {
        let handler = WebSocketHandler::new()
            .on_open(|ws| ws.ping(b"from the server"))
            .on_ping(|ws, data| {
                ws.send_text(&format!(
                    "server saw ping: {}",
                    String::from_utf8_lossy(data)
                ))
            })
            .on_message(|ws, msg| match msg {
                Message::Text(t) => ws.send_text(&format!("echo: {}", t)),
                Message::Binary(_) => ws.close(1003, "text only"),
            });
        app.route("/ws").unwrap().websocket(handler).unwrap();
    });
    let lp = Loop::new().unwrap();
    let events = Rc::new(RefCell::new(Vec::new()));
    let (on_ping, on_message, on_close) = (events.clone(), events.clone(), events.clone());
    let messages = std::cell::Cell::new(0);
    let stopper = lp.clone();
    WebSocketClient::new()
        .on_connect(|outcome| {
            let ws = outcome?;
            assert!(ws.is_client());
            ws.ping(b"from the client")?;
            ws.send_text("hello")
        })
        .on_ping(move |_, data| {
            on_ping.borrow_mut().push(format!(
                "client saw ping: {}",
                String::from_utf8_lossy(data)
            ));
            Ok(())
        })
        .on_message(move |ws, msg| {
            if let Message::Text(t) = msg {
                on_message.borrow_mut().push(t.to_owned());
            }
            messages.set(messages.get() + 1);
            if messages.get() == 2 {
                ws.close(1000, "done")?;
            }
            Ok(())
        })
        .on_close(move |_, code, reason| {
            on_close
                .borrow_mut()
                .push(format!("closed {} {}", code, reason));
            stopper.stop();
            Ok(())
        })
        .connect(&lp, &format!("ws://127.0.0.1:{}/ws", srv.port))
        .unwrap();
    run_bounded(&lp);
    // The server's ping is sent from its open, before anything the client sends is read; the
    // server's answers keep the order of the client's frames (ping, then message). on_close
    // gets the server's close frame: its echo of the code, without a reason.
    assert_eq!(
        *events.borrow(),
        [
            "client saw ping: from the server",
            "server saw ping: from the client",
            "echo: hello",
            "closed 1000 ",
        ],
    );
    assert_eq!(Rc::strong_count(&events), 1);
}

#[test]
fn client_closures_are_released_with_the_loop() {
    let srv = Server::start(|_, app| {
        app.route("/ws")
            .unwrap()
            .websocket(WebSocketHandler::new().on_open(|ws| ws.send_text("hi")))
            .unwrap();
    });
    let lp = Loop::new().unwrap();
    let events = Rc::new(RefCell::new(Vec::new()));
    let (seen, closed) = (events.clone(), events.clone());
    // A Remote, not a Loop clone, stops it: the closures must not keep the loop alive.
    let remote = lp.remote();
    WebSocketClient::new()
        .on_message(move |_, msg| {
            seen.borrow_mut().push(format!("{:?}", msg));
            remote.stop();
            Ok(())
        })
        .on_close(move |_, code, _| {
            closed.borrow_mut().push(format!("closed {}", code));
            Ok(())
        })
        .connect(&lp, &format!("ws://127.0.0.1:{}/ws", srv.port))
        .unwrap();
    run_bounded(&lp);
    assert_eq!(*events.borrow(), ["Text(\"hi\")"]);
    // Freeing the loop with the connection still open: no close callback, closures dropped.
    drop(lp);
    assert_eq!(*events.borrow(), ["Text(\"hi\")"]);
    assert_eq!(Rc::strong_count(&events), 1);
}

/// A ~20 KB text message that zlib's default level shrinks more than 4x and level 0 (stored
/// blocks) makes a little longer.
fn level_text() -> String {
    (0..3000).map(|i| format!("word{} ", i % 50)).collect()
}

/// Relays one direction of a proxied WebSocket connection: the handshake (up to its empty
/// line), then the first frame, whose first byte and payload length go to `seen` with `dir`,
/// then the rest; at the end, `to` is shut down for writing.
fn relay(
    from: TcpStream,
    mut to: TcpStream,
    dir: &'static str,
    seen: mpsc::Sender<(&'static str, u8, u64)>,
) {
    let mut r = BufReader::new(from);
    let _ = (|| -> std::io::Result<()> {
        loop {
            let mut line = Vec::new();
            if r.read_until(b'\n', &mut line)? == 0 {
                return Ok(());
            }
            to.write_all(&line)?;
            if line == b"\r\n" {
                break;
            }
        }
        let mut head = [0u8; 2];
        r.read_exact(&mut head)?;
        let mut frame = head.to_vec();
        let mut len = u64::from(head[1] & 0x7f);
        if len >= 126 {
            let mut ext = vec![0u8; if len == 126 { 2 } else { 8 }];
            r.read_exact(&mut ext)?;
            frame.extend_from_slice(&ext);
            len = ext.iter().fold(0, |n, b| n << 8 | u64::from(*b));
        }
        let mask = if head[1] & 0x80 != 0 { 4 } else { 0 };
        let mut rest = vec![0u8; mask + len as usize];
        r.read_exact(&mut rest)?;
        frame.extend_from_slice(&rest);
        to.write_all(&frame)?;
        let _ = seen.send((dir, head[0], len));
        std::io::copy(&mut r, &mut to)?;
        Ok(())
    })();
    let _ = to.shutdown(Shutdown::Write);
}

/// A TCP proxy for one connection to `port`: returns its port and what it saw, the first
/// frame each way ("up": client to server, "down": server to client).
fn frame_proxy(port: u16) -> (u16, mpsc::Receiver<(&'static str, u8, u64)>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let proxy_port = listener.local_addr().unwrap().port();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let (client, _) = listener.accept().unwrap();
        let server = TcpStream::connect(("127.0.0.1", port)).unwrap();
        for s in [&client, &server] {
            s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        }
        let (c2, s2, tx2) = (
            client.try_clone().unwrap(),
            server.try_clone().unwrap(),
            tx.clone(),
        );
        let down = thread::spawn(move || relay(s2, c2, "down", tx2));
        relay(client, server, "up", tx);
        let _ = down.join();
    });
    (proxy_port, rx)
}

/// compression_level and mem_level set each side's compressor. eddy's client talks to a
/// route through a proxy that records the first frame each way: the side at level 0 sends
/// stored blocks (longer than the message), the side at the default level a frame more than
/// 4x smaller. The echo the client gets is the message: both sides inflated what the other
/// compressed. Out-of-range values fail with Error::INVALID.
#[test]
fn compression_level_and_mem_level_set_each_sides_compressor() {
    let text = level_text();
    let echo = |ws: &mut eddy::WebSocket<'_>, msg: Message<'_>| match msg {
        Message::Text(t) => ws.send_text(t),
        Message::Binary(b) => ws.send_binary(b),
    };
    let srv = Server::start(move |_, app| {
        let stored = WebSocketHandler::new()
            .compression(true)
            .compression_level(0)
            .mem_level(1)
            .on_message(echo);
        app.route("/stored").unwrap().websocket(stored).unwrap();
        let default = WebSocketHandler::new().compression(true).on_message(echo);
        app.route("/default").unwrap().websocket(default).unwrap();
    });
    // (path, the client's level): which side stores.
    for (path, client_stores) in [("/stored", false), ("/default", true)] {
        let (proxy, seen) = frame_proxy(srv.port);
        let lp = Loop::new().unwrap();
        let echoed = Rc::new(RefCell::new(None));
        let (got, stopper, sent, want) = (echoed.clone(), lp.clone(), text.clone(), text.clone());
        let mut client = WebSocketClient::new().compression(true);
        if client_stores {
            client = client.compression_level(0).mem_level(1);
        }
        client
            .on_connect(move |outcome| outcome?.send_text(&sent))
            .on_message(move |ws, msg| {
                *got.borrow_mut() = Some(msg == Message::Text(&want));
                ws.close(1000, "")
            })
            .on_close(move |_, _, _| {
                stopper.stop();
                Ok(())
            })
            .connect(&lp, &format!("ws://127.0.0.1:{}{}", proxy, path))
            .unwrap();
        run_bounded(&lp);
        assert_eq!(
            *echoed.borrow(),
            Some(true),
            "{}: the echo is the message",
            path
        );
        let mut sizes = std::collections::HashMap::new();
        for _ in 0..2 {
            let (dir, first, len) = seen.recv_timeout(IO_TIMEOUT).expect("a frame each way");
            assert_eq!(
                first & 0x40,
                0x40,
                "{} {}: a compressed (RSV1) frame",
                path,
                dir
            );
            sizes.insert(dir, len);
        }
        let (stores, compresses) = if client_stores {
            ("up", "down")
        } else {
            ("down", "up")
        };
        let n = text.len() as u64;
        assert!(
            sizes[stores] > n && n > 4 * sizes[compresses],
            "{}: frame sizes {:?} for a {}-byte message",
            path,
            sizes,
            n
        );
    }

    // Out of range: the route, or the connect, fails (and no closure runs).
    let lp = Loop::new().unwrap();
    let mut app = App::new(&lp).unwrap();
    for (i, (level, mem)) in [(10, 0), (-2, 0), (-1, 10), (-1, -1)]
        .into_iter()
        .enumerate()
    {
        let handler = WebSocketHandler::new()
            .compression_level(level)
            .mem_level(mem);
        let route = app.route(&format!("/bad{}", i)).unwrap();
        assert_eq!(
            route.websocket(handler).err(),
            Some(Error::INVALID),
            "{} {}",
            level,
            mem
        );
        let client = WebSocketClient::new()
            .compression(true)
            .compression_level(level)
            .mem_level(mem)
            .on_connect(|_| panic!("a refused connect runs no closure"));
        let url = format!("ws://127.0.0.1:{}/default", srv.port);
        assert_eq!(
            client.connect(&lp, &url),
            Err(Error::INVALID),
            "{} {}",
            level,
            mem
        );
    }
    assert_eq!(
        WebSocketClient::new()
            .compression_level(10)
            .connect(&lp, "ws://127.0.0.1:1/"),
        Err(Error::INVALID)
    );
}

/// An asynchronous prepare holds the handshake: a 403 after the wait refuses the upgrade (open
/// never runs), a resume lets it go on.
#[test]
fn an_async_prepare_holds_the_handshake() {
    let opened = Arc::new(Mutex::new(0));
    let seen = opened.clone();
    let srv = Server::start(move |lp, app| {
        let lp = lp.clone();
        let handler = WebSocketHandler::new()
            .on_open(move |ws| {
                *seen.lock().unwrap() += 1;
                ws.send_text("opened")
            })
            .on_message(|ws, msg| match msg {
                Message::Text(t) => ws.send_text(&format!("echo: {}", t)),
                Message::Binary(_) => Ok(()),
            });
        app.route("/authws")
            .unwrap()
            .prepare(move |req, res| {
                let deny = req.query_argument("deny").is_some();
                let deferred = res.detach()?;
                lp.call_later(0.05, move || {
                    if deny {
                        deferred.finish(|_, res| res.send_error(403)).expect("post");
                    } else {
                        deferred.resume().expect("post");
                    }
                })?;
                Ok(())
            })
            .websocket(handler)
            .unwrap();
    });
    let mut s = TcpStream::connect(("127.0.0.1", srv.port)).unwrap();
    s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    s.write_all(
        b"GET /authws?deny=1 HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
          Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    )
    .unwrap();
    let mut status = String::new();
    BufReader::new(s).read_line(&mut status).unwrap();
    assert!(status.starts_with("HTTP/1.1 403"), "{}", status);
    assert_eq!(*opened.lock().unwrap(), 0);

    let mut c = WsClient::connect(srv.port, "/authws");
    assert_eq!(c.recv_text(), "opened");
    c.text("hi");
    assert_eq!(c.recv_text(), "echo: hi");
    assert_eq!(*opened.lock().unwrap(), 1);
}

#[test]
fn client_over_a_unix_socket() {
    // unix_socket (eddy_ws_options_set_unix_socket): the handshake goes over the App's Unix
    // socket, the URL giving Host and target; a missing path is NOT_FOUND.
    let dir = std::env::temp_dir().join(format!("eddy-ws-unix-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("ws.sock");
    let listen_at = path.clone();
    let srv = Server::start(move |_, app| {
        let handler = WebSocketHandler::new().on_open(|ws| {
            let greeting = format!("{} {}", ws.request().host(), ws.request().uri());
            ws.send_text(&greeting)
        });
        app.route("/ws").unwrap().websocket(handler).unwrap();
        app.listen_unix(&listen_at, 0o600).unwrap();
    });
    let seen = common::client_outcome(
        WebSocketClient::new().unix_socket(&path),
        "ws://app.invalid/ws?x=1",
    );
    assert_eq!(seen, ["connected None", "Text(\"app.invalid /ws?x=1\")"]);
    let seen = common::client_outcome(
        WebSocketClient::new().unix_socket(dir.join("missing.sock")),
        "ws://localhost/ws",
    );
    assert_eq!(seen, ["error EDDY_ENOENT"]);
    // A path no socket address holds is refused before connecting.
    let lp = Loop::new().unwrap();
    let too_long = format!("/{}", "a".repeat(200));
    assert_eq!(
        WebSocketClient::new()
            .unix_socket(too_long)
            .connect(&lp, "ws://localhost/ws")
            .err(),
        Some(Error::INVALID)
    );
    drop(srv);
    let _ = std::fs::remove_dir_all(&dir);
}
