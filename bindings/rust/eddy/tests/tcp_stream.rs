//! Stream (Tornado's IOStream) over real sockets: a TcpServer on the test's loop, a blocking
//! std::net peer on another thread. Reads (read_until, read_until_regex, read_bytes exact and
//! partial, read_until_close), writes and their callbacks, the write mark, close reasons (close,
//! peer close, reset, limits), panics and errors in closures, and handles that outlive their
//! stream.
mod common;

use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::thread;
use std::time::Duration;

use common::tcp::{live, run_strict, stopper, Log, Peer, Token};
use eddy::{Error, Loop, Result, Stream, TcpServer};

/// A server on 127.0.0.1 (free port) whose accept closure is `f`.
fn server(
    lp: &Loop,
    f: impl FnMut(Stream, Option<SocketAddr>) -> Result<()> + 'static,
) -> (TcpServer, u16) {
    let mut srv = TcpServer::new(lp, f).unwrap();
    srv.listen("127.0.0.1", 0).unwrap();
    let port = srv.port().unwrap();
    (srv, port)
}

/// Logs the close reason and stops the loop.
fn log_close(s: &Stream, log: &Log, stop: impl Fn() + 'static) {
    let log = log.clone();
    s.set_close_callback(move |why| {
        log.push(format!("closed {:?}", why));
        stop();
        Ok(())
    })
    .unwrap();
}

#[test]
fn echo_read_until_read_bytes_partial_and_read_until_close() {
    let lp = Loop::new().unwrap();
    let log = Log::default();
    let (l, stop) = (log.clone(), stopper(&lp));
    let (_srv, port) = server(&lp, move |s, peer| {
        l.push(format!("peer {}", peer.unwrap().ip()));
        log_close(&s, &l, stop.clone());
        let l = l.clone();
        s.read_until(b"\r\n", 1024, move |s, line| {
            s.write(&[b"line:", line].concat(), None)?;
            s.read_bytes(5, false, move |s, five| {
                s.write(&[b"bytes:", five, b"\n"].concat(), None)?;
                s.read_bytes(1000, true, move |s, some| {
                    s.write(&[b"partial:", some, b"\n"].concat(), None)?;
                    s.read_until_close(move |_, rest| {
                        l.push(format!("rest {:?}", String::from_utf8_lossy(rest)));
                        Ok(())
                    })
                })
            })
        })
    });
    let peer = thread::spawn(move || {
        let mut p = Peer::connect(port);
        // "ABC": the exact read of 5 cannot complete before "DE", sent only once the line's
        // answer came; the partial read must deliver "xyz" without waiting for 1000 bytes.
        p.send(b"hello\r\nABC");
        let line = p.line();
        p.send(b"DE");
        let bytes = p.line();
        p.send(b"xyz");
        let partial = p.line();
        p.send(b"the tail");
        p.shutdown_write();
        let rest = p.rest();
        (line, bytes, partial, rest)
    });
    run_strict(&lp);
    let (line, bytes, partial, rest) = peer.join().unwrap();
    assert_eq!(line, "line:hello\r\n");
    assert_eq!(bytes, "bytes:ABCDE\n");
    assert_eq!(partial, "partial:xyz\n");
    assert!(rest.is_empty());
    assert_eq!(
        log.take(),
        ["peer 127.0.0.1", "rest \"the tail\"", "closed None"]
    );
}

#[test]
fn large_writes_call_back_in_order_then_close() {
    const CHUNK: usize = 2 << 20;
    let lp = Loop::new().unwrap();
    let log = Log::default();
    let (l, stop) = (log.clone(), stopper(&lp));
    let (_srv, port) = server(&lp, move |s, _| {
        log_close(&s, &l, stop.clone());
        for i in 0..4u8 {
            let l = l.clone();
            let done = move |_: &Stream, sent: Result<()>| {
                l.push(format!("write {} {:?}", i, sent));
                Ok(())
            };
            s.write(&vec![b'a' + i; CHUNK], Some(Box::new(done)))?;
        }
        s.write(b"!", None)?;
        // Written bytes leave at the end of the loop pass: all of them are still queued.
        l.push(format!("queued {}", s.write_buffer_size()));
        let l = l.clone();
        s.write(
            b"end",
            Some(Box::new(move |s, sent| {
                l.push(format!("last {:?}", sent));
                s.close()
            })),
        )
    });
    let peer = thread::spawn(move || Peer::connect(port).rest());
    run_strict(&lp);
    let got = peer.join().unwrap();
    assert_eq!(got.len(), 4 * CHUNK + 4);
    for i in 0..4 {
        let piece = &got[i * CHUNK..(i + 1) * CHUNK];
        assert!(piece.iter().all(|&b| b == b'a' + i as u8), "chunk {}", i);
    }
    assert_eq!(&got[4 * CHUNK..], b"!end");
    assert_eq!(
        log.take(),
        [
            format!("queued {}", 4 * CHUNK + 1),
            "write 0 Ok(())".into(),
            "write 1 Ok(())".into(),
            "write 2 Ok(())".into(),
            "write 3 Ok(())".into(),
            "last Ok(())".into(),
            "closed None".into(),
        ]
    );
}

#[test]
fn unsent_writes_get_closed_when_the_peer_resets() {
    let lp = Loop::new().unwrap();
    let log = Log::default();
    let (l, stop) = (log.clone(), stopper(&lp));
    let (_srv, port) = server(&lp, move |s, _| {
        log_close(&s, &l, stop.clone());
        // Far more than the kernel's buffers take while the peer does not read.
        let l = l.clone();
        s.write(
            &vec![b'x'; 16 << 20],
            Some(Box::new(move |_, sent| {
                l.push(format!("write {:?}", sent));
                Ok(())
            })),
        )
    });
    let peer = thread::spawn(move || {
        let mut p = Peer::connect(port);
        let first = p.bytes(1); // the server is writing
        p.reset();
        first
    });
    run_strict(&lp);
    assert_eq!(peer.join().unwrap(), b"x");
    assert_eq!(
        log.take(),
        [
            "write Err(Error(EDDY_ECLOSED))",
            "closed Some(Error(EDDY_ECONNRESET))"
        ]
    );
}

#[test]
fn write_mark_paces_a_producer() {
    const TOTAL: usize = 4 << 20;
    const PIECE: usize = 16 << 10;
    const MARK: usize = 64 << 10;
    let lp = Loop::new().unwrap();
    let log = Log::default();
    let drains = Rc::new(RefCell::new(0));
    let (l, d, stop) = (log.clone(), drains.clone(), stopper(&lp));
    let (_srv, port) = server(&lp, move |s, _| {
        log_close(&s, &l, stop.clone());
        let sent = Rc::new(RefCell::new(0usize));
        // Writes pieces while the buffer is at most the mark; the rest from the mark's closure.
        let produce = move |s: &Stream| -> Result<()> {
            let mut n = sent.borrow_mut();
            while *n < TOTAL && s.write_buffer_size() <= MARK {
                *n += PIECE;
                if *n == TOTAL {
                    s.clear_write_mark()?;
                    s.write(&[b'p'; PIECE], Some(Box::new(|s, _| s.close())))?;
                } else {
                    s.write(&[b'p'; PIECE], None)?;
                }
            }
            Ok(())
        };
        let (d, again) = (d.clone(), produce.clone());
        s.set_write_mark(MARK, move |s| {
            *d.borrow_mut() += 1;
            again(s)
        })?;
        produce(&s)
    });
    let peer = thread::spawn(move || Peer::connect(port).rest().len());
    run_strict(&lp);
    assert_eq!(peer.join().unwrap(), TOTAL);
    // Each burst went over the mark, so the producer only got on through the closure.
    assert!(*drains.borrow() >= 1);
    assert_eq!(log.take(), ["closed None"]);
}

#[test]
fn close_reasons_peer_close_and_reset() {
    let lp = Loop::new().unwrap();
    let log = Log::default();
    let (l, stop) = (log.clone(), stopper(&lp));
    let reading = Rc::new(RefCell::new(false));
    let r = reading.clone();
    let (_srv, port) = server(&lp, move |s, _| {
        log_close(&s, &l, stop.clone());
        // The first connection stays idle (only a close callback), the second reads.
        if *r.borrow() {
            s.read_until(b"\n", 0, |_, _| panic!("no line was sent"))?;
        }
        Ok(())
    });
    // A peer that connects and closes: noticed on an idle stream, as EOF.
    let peer = thread::spawn(move || drop(Peer::connect(port)));
    run_strict(&lp);
    peer.join().unwrap();
    assert_eq!(log.take(), ["closed Some(Error(EDDY_EOF))"]);

    *reading.borrow_mut() = true;
    let peer = thread::spawn(move || {
        let mut p = Peer::connect(port);
        p.send(b"no newline");
        p.reset();
    });
    run_strict(&lp);
    peer.join().unwrap();
    assert_eq!(log.take(), ["closed Some(Error(EDDY_ECONNRESET))"]);
}

#[test]
fn limits_close_with_too_big() {
    let lp = Loop::new().unwrap();
    let log = Log::default();
    let count = Rc::new(RefCell::new(0));
    let (l, c, stop) = (log.clone(), count.clone(), stopper(&lp));
    let (_srv, port) = server(&lp, move |s, _| {
        log_close(&s, &l, stop.clone());
        *c.borrow_mut() += 1;
        let l = l.clone();
        if *c.borrow() == 1 {
            // No delimiter within max_bytes (Tornado's UnsatisfiableReadError).
            s.read_until(b"\n", 16, move |_, data| {
                l.push(format!("read {}", data.len()));
                Ok(())
            })
        } else {
            // More than the max buffer size before the peer closes.
            s.set_max_buffer_size(64)?;
            s.read_until_close(move |_, data| {
                l.push(format!("read {}", data.len()));
                Ok(())
            })
        }
    });
    for _ in 0..2 {
        let peer = thread::spawn(move || {
            let mut p = Peer::connect(port);
            p.send(&[b'z'; 1000]);
            p.rest_or_reset().0 // the server closes, perhaps with input unread
        });
        run_strict(&lp);
        assert!(peer.join().unwrap().is_empty());
        assert_eq!(log.take(), ["closed Some(Error(EDDY_ETOOBIG))"]);
    }
}

#[test]
fn read_until_regex_matches_across_reads_and_keeps_max_bytes() {
    let lp = Loop::new().unwrap();
    let log = Log::default();
    let (l, stop) = (log.clone(), stopper(&lp));
    let (_srv, port) = server(&lp, move |s, _| {
        log_close(&s, &l, stop.clone());
        // Refused at once, the stream unharmed: an empty pattern, one PCRE2 refuses.
        assert_eq!(
            s.read_until_regex(b"", 0, |_, _| Ok(())),
            Err(Error::INVALID)
        );
        assert_eq!(
            s.read_until_regex(b"(", 0, |_, _| Ok(())),
            Err(Error::INVALID)
        );
        assert!(!s.reading());
        let l = l.clone();
        s.read_until_regex(b"\r?\n\r?\n", 0, move |s, head| {
            s.write(&[b"<", head, b">"].concat(), None)?;
            s.read_until_regex(b"x+", 0, move |s, xs| {
                s.write(&[b"<", xs, b">"].concat(), None)?;
                s.read_until_regex(b"[0-9]+;", 8, move |_, data| {
                    l.push(format!("read {:?}", String::from_utf8_lossy(data)));
                    Ok(())
                })
            })
        })
    });
    let peer = thread::spawn(move || {
        let mut p = Peer::connect(port);
        // The blank line's end split across sends, with pauses: the match spans reads; "ab"
        // after it stays buffered for the next read.
        for piece in [&b"GET / HTTP/1.0\r\nA: b\r"[..], b"\n\r", b"\nab"] {
            p.send(piece);
            thread::sleep(Duration::from_millis(100));
        }
        let head = p.bytes(26);
        p.send(b"cxx"); // "x+" waits for an x, then takes the whole run
        let xs = p.bytes(7);
        p.send(b"1234567890;"); // no match within max_bytes 8
        (head, xs, p.rest_or_reset().0)
    });
    run_strict(&lp);
    let (head, xs, rest) = peer.join().unwrap();
    assert_eq!(head, b"<GET / HTTP/1.0\r\nA: b\r\n\r\n>");
    assert_eq!(xs, b"<abcxx>");
    assert!(rest.is_empty());
    assert_eq!(log.take(), ["closed Some(Error(EDDY_ETOOBIG))"]);
}

#[test]
fn a_handle_outliving_its_stream_gets_closed_errors() {
    let lp = Loop::new().unwrap();
    let token = Token::new(());
    let kept: Rc<RefCell<Option<Stream>>> = Rc::default();
    let (k, t, stop) = (kept.clone(), token.clone(), stopper(&lp));
    let (srv, port) = server(&lp, move |s, _| {
        *k.borrow_mut() = Some(s.clone());
        // Closures the stream holds; all dropped once it is freed.
        let (t1, t2, t3) = (t.clone(), t.clone(), t.clone());
        s.read_until(b"\n", 0, move |_, _| {
            let _t = t1;
            Ok(())
        })?;
        s.set_write_mark(1, move |_| {
            let _t = &t2;
            Ok(())
        })?;
        let stop = stop.clone();
        s.set_close_callback(move |why| {
            let _t = t3;
            assert_eq!(why, None);
            stop();
            Ok(())
        })?;
        s.close()
    });
    let peer = thread::spawn(move || Peer::connect(port).rest());
    run_strict(&lp);
    assert!(peer.join().unwrap().is_empty());
    let s = kept.borrow_mut().take().unwrap();
    // The close callback returned, so eddy freed the stream and every closure it held; the
    // accept closure's token is left.
    assert_eq!(live(&token), 1);
    drop(srv);
    assert_eq!(live(&token), 0);
    assert!(s.is_closed());
    assert!(!s.reading());
    assert!(!s.is_tls());
    assert_eq!(s.write_buffer_size(), 0);
    assert_eq!(s.write(b"late", None), Err(Error::CLOSED));
    assert_eq!(s.read_until(b"\n", 0, |_, _| Ok(())), Err(Error::CLOSED));
    assert_eq!(s.read_bytes(1, true, |_, _| Ok(())), Err(Error::CLOSED));
    assert_eq!(s.read_until_close(|_, _| Ok(())), Err(Error::CLOSED));
    assert_eq!(s.set_close_callback(|_| Ok(())), Err(Error::CLOSED));
    assert_eq!(s.set_write_mark(1, |_| Ok(())), Err(Error::CLOSED));
    assert_eq!(s.clear_write_mark(), Err(Error::CLOSED));
    assert_eq!(s.set_nodelay(true), Err(Error::CLOSED));
    assert_eq!(s.set_max_buffer_size(10), Err(Error::CLOSED));
    assert_eq!(s.close(), Ok(()));
}

#[test]
fn calls_on_a_closing_stream_and_bad_arguments() {
    let lp = Loop::new().unwrap();
    let log = Log::default();
    let (l, stop) = (log.clone(), stopper(&lp));
    let (_srv, port) = server(&lp, move |s, _| {
        log_close(&s, &l, stop.clone());
        assert_eq!(s.read_until(b"", 0, |_, _| Ok(())), Err(Error::INVALID));
        assert_eq!(s.read_bytes(0, false, |_, _| Ok(())), Err(Error::INVALID));
        assert_eq!(s.set_max_buffer_size(0), Err(Error::INVALID));
        s.set_nodelay(true)?;
        s.read_bytes(1, false, |_, _| Ok(()))?;
        assert_eq!(s.read_bytes(1, false, |_, _| Ok(())), Err(Error::BUSY));
        assert!(s.reading());
        s.close()?;
        // Closing, not freed yet: eddy itself refuses.
        assert!(s.is_closed());
        assert_eq!(s.write(b"x", None), Err(Error::CLOSED));
        l.push("checked");
        Ok(())
    });
    let peer = thread::spawn(move || Peer::connect(port).rest());
    run_strict(&lp);
    peer.join().unwrap();
    assert_eq!(log.take(), ["checked", "closed None"]);
}

#[test]
fn panics_and_errors_in_closures_close_the_connection_only() {
    let lp = Loop::new().unwrap();
    let log = Log::default();
    let count = Rc::new(RefCell::new(0));
    let (l, c, stop) = (log.clone(), count.clone(), stopper(&lp));
    let (_srv, port) = server(&lp, move |s, _| {
        log_close(&s, &l, stop.clone());
        *c.borrow_mut() += 1;
        let n = *c.borrow();
        match n {
            1 => s.read_until(b"\n", 0, |_, _| panic!("boom in a read closure")),
            2 => s.read_until(b"\n", 0, |s, _| {
                s.write(
                    b"w",
                    Some(Box::new(|_, _| panic!("boom in a write closure"))),
                )
            }),
            3 => s.read_until(b"\n", 0, |_, _| Err(Error::INVALID)),
            4 => Err(Error::INVALID), // from the accept closure itself
            5 => panic!("boom in the accept closure"),
            _ => {
                // The loop and the server are unharmed: this one is served.
                s.read_until(b"\n", 0, |s, line| {
                    s.write(line, Some(Box::new(|s, _| s.close())))
                })
            }
        }
    });
    let answers: [&[u8]; 6] = [b"", b"w", b"", b"", b"", b"ping\n"];
    for (i, answer) in answers.iter().enumerate() {
        // The accept closure's own failures close before anything is read: send nothing then.
        let send = !(i == 3 || i == 4);
        let peer = thread::spawn(move || {
            let mut p = Peer::connect(port);
            if send {
                p.send(b"ping\n");
            }
            p.rest()
        });
        run_strict(&lp);
        assert_eq!(peer.join().unwrap(), *answer, "connection {}", i);
        assert_eq!(log.take(), ["closed None"], "connection {}", i);
    }
}

#[test]
fn freeing_the_loop_frees_open_streams_and_their_closures() {
    let lp = Loop::new().unwrap();
    let token = Token::new(());
    let kept: Rc<RefCell<Option<Stream>>> = Rc::default();
    let (k, t, stop) = (kept.clone(), token.clone(), stopper(&lp));
    let (srv, port) = server(&lp, move |s, _| {
        *k.borrow_mut() = Some(s.clone());
        let (t1, t2) = (t.clone(), t.clone());
        s.read_until(b"\n", 0, move |_, _| {
            let _t = t1;
            panic!("no line comes")
        })?;
        s.set_close_callback(move |_| {
            let _t = t2;
            panic!("not called when the loop is freed")
        })?;
        stop();
        Ok(())
    });
    let peer = thread::spawn(move || Peer::connect(port).rest());
    run_strict(&lp);
    assert_eq!(live(&token), 3); // the accept closure's and the stream's two
    drop(srv);
    assert_eq!(live(&token), 2);
    drop(lp); // the last handle: eddy_loop_free frees the open stream and its closures
    assert_eq!(live(&token), 0);
    assert!(peer.join().unwrap().is_empty());
    let s = kept.borrow_mut().take().unwrap();
    assert!(s.is_closed());
    assert_eq!(s.write(b"x", None), Err(Error::CLOSED));
}
