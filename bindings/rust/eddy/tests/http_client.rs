//! eddy's HTTP client (HttpClient) against eddy Apps served from the same Loop, and against
//! tiny std::net servers for what an App would not do (never answer, break the framing).
mod common;

use std::cell::{Cell, RefCell};
use std::io::{Read, Write};
use std::net::TcpListener;
use std::rc::Rc;
use std::thread;

use common::certs::Certs;
use common::{run_bounded, IO_TIMEOUT};
use eddy::{
    App, Error, FetchError, FetchHandle, HttpClient, HttpRequest, HttpResponse, Loop, TlsContext,
};

type Outcome = Result<HttpResponse, FetchError>;

/// A loop with an App on 127.0.0.1 (port 0) that `setup` configured, and its base URL.
fn serve(lp: &Loop, setup: impl FnOnce(&mut App)) -> (App, String) {
    let mut app = App::new(lp).unwrap();
    setup(&mut app);
    app.listen("127.0.0.1", 0).unwrap();
    let base = format!("http://127.0.0.1:{}", app.port().unwrap());
    (app, base)
}

/// Starts `req` and returns the cell its callback fills (stopping the loop).
fn start(
    lp: &Loop,
    client: &HttpClient,
    req: HttpRequest,
) -> (Rc<RefCell<Option<Outcome>>>, FetchHandle) {
    let out = Rc::new(RefCell::new(None));
    let (o, stop) = (out.clone(), lp.clone());
    let handle = client
        .fetch(req, move |r| {
            assert!(o.borrow().is_none(), "the callback ran twice");
            *o.borrow_mut() = Some(r);
            stop.stop();
        })
        .unwrap();
    (out, handle)
}

/// One fetch, the loop run until its callback (bounded).
fn fetch(lp: &Loop, client: &HttpClient, req: HttpRequest) -> Outcome {
    let (out, _handle) = start(lp, client, req);
    run_bounded(lp);
    let outcome = out.borrow_mut().take();
    outcome.expect("the fetch's callback ran")
}

fn ok(outcome: Outcome) -> HttpResponse {
    outcome.unwrap_or_else(|e| panic!("fetch failed: {:?}", e))
}

fn text(res: &HttpResponse) -> String {
    String::from_utf8_lossy(res.body()).into_owned()
}

/// A listener that accepts (through the kernel's backlog) and never answers.
fn silent_server() -> (TcpListener, String) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://127.0.0.1:{}/", l.local_addr().unwrap().port());
    (l, url)
}

/// A thread that answers one connection with `raw` after reading the request head, then
/// closes it; joining it gives the head it read.
fn raw_server(raw: &'static [u8]) -> (thread::JoinHandle<String>, String) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://127.0.0.1:{}/", l.local_addr().unwrap().port());
    let t = thread::spawn(move || {
        let (mut s, _) = l.accept().unwrap();
        s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        let mut head = Vec::new();
        let mut b = [0u8; 1024];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = s.read(&mut b).unwrap();
            if n == 0 {
                break;
            }
            head.extend_from_slice(&b[..n]);
        }
        let _ = s.write_all(raw);
        String::from_utf8_lossy(&head).into_owned()
    });
    (t, url)
}

/// Counts drops of the values it hands out: proves each closure is freed exactly once.
#[derive(Clone, Default)]
struct Drops(Rc<Cell<usize>>);
struct Token(Rc<Cell<usize>>);
impl Drop for Token {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
    }
}
impl Drops {
    fn token(&self) -> Token {
        Token(self.0.clone())
    }
    fn count(&self) -> usize {
        self.0.get()
    }
}

#[test]
fn get_echoes_headers_and_keeps_repeated_response_headers() {
    let lp = Loop::new().unwrap();
    let (_app, base) = serve(&lp, |app| {
        app.route("/echo").unwrap().get(|req, res| {
            let multi: Vec<String> = req
                .headers()
                .iter()
                .filter(|(n, _)| n.eq_ignore_ascii_case("x-multi"))
                .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
                .collect();
            res.add_header("X-Rep", "first")?;
            res.add_header("X-Rep", "second")?;
            res.set_header("Content-Type", "text/plain")?;
            res.write(format!(
                "{} {} one={} multi={}",
                req.method(),
                req.uri(),
                req.header("x-one").unwrap_or("-"),
                multi.join(",")
            ))
        });
    });
    let client = HttpClient::new(&lp).unwrap();
    let url = format!("{}/echo?q=1", base);
    let req = HttpRequest::new(&url)
        .header("X-One", "uno")
        .header("X-Multi", "a")
        .header("X-Multi", "b");
    let res = ok(fetch(&lp, &client, req));
    assert_eq!(res.code(), 200);
    assert_eq!(res.reason(), "OK");
    assert_eq!(text(&res), "GET /echo?q=1 one=uno multi=a,b");
    assert_eq!(res.header("content-TYPE"), Some("text/plain"));
    assert_eq!(res.headers().get("x-rep"), Some("first"));
    assert_eq!(
        res.headers().get_all("X-REP").collect::<Vec<_>>(),
        ["first", "second"]
    );
    let names: Vec<&str> = res
        .headers()
        .iter()
        .map(|(n, _)| n)
        .filter(|n| n.starts_with("X-"))
        .collect();
    assert_eq!(names, ["X-Rep", "X-Rep"]);
    assert_eq!(res.effective_url(), url);
    assert_eq!(res.redirects(), 0);
    assert!(!res.connection_reused());
}

#[test]
fn post_body_with_and_without_100_continue_and_404_is_a_response() {
    let lp = Loop::new().unwrap();
    let (_app, base) = serve(&lp, |app| {
        app.route("/echo").unwrap().post(|req, res| {
            let body: Vec<u8> = req.body().iter().rev().copied().collect();
            res.set_status(201)?;
            res.write(format!(
                "{} expect={} ",
                req.method(),
                req.header("expect").unwrap_or("-")
            ))?;
            res.write(body)
        });
    });
    let client = HttpClient::new(&lp).unwrap();
    let url = format!("{}/echo", base);
    let res = ok(fetch(
        &lp,
        &client,
        HttpRequest::new(&url).method("POST").body("hello"),
    ));
    assert_eq!(
        (res.code(), text(&res).as_str()),
        (201, "POST expect=- olleh")
    );
    let big = vec![b'x'; 70_000];
    let req = HttpRequest::new(&url)
        .method("POST")
        .body(big.clone())
        .expect_100_continue(true);
    let res = ok(fetch(&lp, &client, req));
    assert_eq!(res.code(), 201);
    let mut expected = b"POST expect=100-continue ".to_vec();
    expected.extend_from_slice(&big);
    assert_eq!(res.body(), &expected[..]);

    let res = ok(fetch(
        &lp,
        &client,
        HttpRequest::new(&format!("{}/nope", base)),
    ));
    assert_eq!((res.code(), res.reason()), (404, "Not Found"));
    let res = ok(fetch(&lp, &client, HttpRequest::new(&url))); // GET on a POST-only route
    assert_eq!(res.code(), 405);
}

#[test]
fn keep_alive_connections_are_reused_unless_the_pool_is_off() {
    let lp = Loop::new().unwrap();
    let (_app, base) = serve(&lp, |app| {
        app.route("/").unwrap().get(|_, res| res.write("x"));
    });
    let url = format!("{}/", base);
    let client = HttpClient::new(&lp).unwrap();
    assert_eq!(client.idle_count(), 0);
    assert!(!ok(fetch(&lp, &client, HttpRequest::new(&url))).connection_reused());
    assert_eq!(client.idle_count(), 1);
    assert!(ok(fetch(&lp, &client, HttpRequest::new(&url))).connection_reused());
    assert_eq!(client.idle_count(), 1);

    let mut no_pool = HttpClient::new(&lp).unwrap();
    no_pool.set_max_idle_per_host(0).unwrap();
    assert!(!ok(fetch(&lp, &no_pool, HttpRequest::new(&url))).connection_reused());
    assert!(!ok(fetch(&lp, &no_pool, HttpRequest::new(&url))).connection_reused());
    assert_eq!(no_pool.idle_count(), 0);
}

#[test]
fn redirects_followed_limited_and_not_followed() {
    let lp = Loop::new().unwrap();
    let (_app, base) = serve(&lp, |app| {
        app.route("/to").unwrap().get(|_, res| res.write("arrived"));
        app.route("/from")
            .unwrap()
            .get(|_, res| res.redirect("/to", 302));
        app.route("/twice")
            .unwrap()
            .get(|_, res| res.redirect("/from", 301));
    });
    let client = HttpClient::new(&lp).unwrap();
    let res = ok(fetch(
        &lp,
        &client,
        HttpRequest::new(&format!("{}/twice", base)),
    ));
    assert_eq!(
        (res.code(), text(&res).as_str(), res.redirects()),
        (200, "arrived", 2)
    );
    assert_eq!(res.effective_url(), format!("{}/to", base));

    let res = ok(fetch(
        &lp,
        &client,
        HttpRequest::new(&format!("{}/from", base)).follow_redirects(false),
    ));
    assert_eq!(
        (res.code(), res.header("location"), res.redirects()),
        (302, Some("/to"), 0)
    );
    assert_eq!(res.effective_url(), format!("{}/from", base));

    let res = ok(fetch(
        &lp,
        &client,
        HttpRequest::new(&format!("{}/twice", base)).max_redirects(1),
    ));
    assert_eq!(
        (res.code(), res.header("location"), res.redirects()),
        (302, Some("/to"), 1)
    );
}

#[test]
fn transport_errors() {
    let lp = Loop::new().unwrap();
    let client = HttpClient::new(&lp).unwrap();
    // A port nobody listens on.
    let refused = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://127.0.0.1:{}/", l.local_addr().unwrap().port())
    };
    assert_eq!(
        fetch(&lp, &client, HttpRequest::new(&refused)).unwrap_err(),
        Error::CONNECTION_REFUSED
    );
    // A server that never answers.
    let (_silent, url) = silent_server();
    assert_eq!(
        fetch(&lp, &client, HttpRequest::new(&url).request_timeout(0.3)).unwrap_err(),
        Error::TIMED_OUT
    );
    // A body cut short, and a status line that is not one.
    let (t, url) = raw_server(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort");
    assert_eq!(
        fetch(&lp, &client, HttpRequest::new(&url)).unwrap_err(),
        Error::EOF
    );
    t.join().unwrap();
    let (t, url) = raw_server(b"HTTP/1.1 abc\r\n\r\n");
    assert_eq!(
        fetch(&lp, &client, HttpRequest::new(&url)).unwrap_err(),
        Error::PROTOCOL
    );
    t.join().unwrap();
    // Refused before starting: no closure runs, and it is freed.
    let drops = Drops::default();
    let token = drops.token();
    let bad = client.fetch(HttpRequest::new("ftp://x/"), move |_| {
        let _ = &token;
        panic!("must not run")
    });
    assert_eq!(bad.err(), Some(Error::INVALID));
    assert_eq!(drops.count(), 1);
    assert_eq!(
        client
            .fetch(HttpRequest::new(&url).method("get"), |_| {})
            .err(),
        Some(Error::INVALID)
    );
    assert_eq!(
        client
            .fetch(HttpRequest::new(&url).header("Bad Name", "v"), |_| {})
            .err(),
        Some(Error::INVALID)
    );
}

#[test]
fn max_body_size_and_gzip() {
    let lp = Loop::new().unwrap();
    let page: String = (0..400)
        .map(|i| format!("line {} of a compressible page\n", i % 7))
        .collect();
    let served = page.clone();
    let (mut app, base) = serve(&lp, move |app| {
        app.route("/page").unwrap().get(move |_, res| {
            res.set_header("Content-Type", "text/plain")?;
            res.write(&served)
        });
    });
    app.set_compress_response(true).unwrap();
    let client = HttpClient::new(&lp).unwrap();
    let url = format!("{}/page", base);

    // Decoded (the default): the page itself.
    let res = ok(fetch(&lp, &client, HttpRequest::new(&url)));
    assert_eq!(text(&res), page);
    // Not decoded: what the server sent was gzip, and smaller.
    let raw = ok(fetch(
        &lp,
        &client,
        HttpRequest::new(&url)
            .decompress_response(false)
            .header("Accept-Encoding", "gzip"),
    ));
    assert_eq!(raw.header("content-encoding"), Some("gzip"));
    assert_eq!(&raw.body()[..2], &[0x1f, 0x8b]);
    assert!(raw.body().len() < page.len());

    // The limit applies to the decoded body.
    let limited = fetch(
        &lp,
        &client,
        HttpRequest::new(&url).max_body_size(page.len() - 1),
    );
    assert_eq!(limited.unwrap_err(), Error::TOO_BIG);
    assert_eq!(
        text(&ok(fetch(
            &lp,
            &client,
            HttpRequest::new(&url).max_body_size(page.len())
        ))),
        page
    );
}

#[test]
fn https_to_an_eddy_tls_app() {
    let certs = Certs::make("httpclient");
    let lp = Loop::new().unwrap();
    let ctx = TlsContext::server(certs.path("server.crt"), certs.path("server.key")).unwrap();
    let (_app, base) = serve(&lp, |app| {
        app.set_tls(&ctx).unwrap();
        app.route("/page")
            .unwrap()
            .get(|req, res| res.write(format!("secure {}", req.uri())));
    });
    let url = base.replace("http:", "https:") + "/page";
    let secure = |res: Outcome| text(&ok(res)) == "secure /page";

    // Verification on (the default): nobody trusts this certificate.
    assert_eq!(
        fetch(&lp, &HttpClient::new(&lp).unwrap(), HttpRequest::new(&url)).unwrap_err(),
        Error::TLS
    );
    let mut trusting = HttpClient::new(&lp).unwrap();
    trusting.ca_file(certs.path("server.crt")).unwrap();
    assert!(secure(fetch(&lp, &trusting, HttpRequest::new(&url))));
    let mut unchecked = HttpClient::new(&lp).unwrap();
    unchecked.validate_cert(false).unwrap();
    assert!(secure(fetch(&lp, &unchecked, HttpRequest::new(&url))));
    let mut own = TlsContext::client().unwrap();
    own.load_ca_file(certs.path("server.crt")).unwrap();
    let mut with_ctx = HttpClient::new(&lp).unwrap();
    with_ctx.set_tls(&own).unwrap();
    drop(own); // the client keeps its own reference
    assert!(secure(fetch(&lp, &with_ctx, HttpRequest::new(&url))));
    // Bad settings are refused at once and change nothing.
    assert_eq!(
        trusting.ca_file(certs.path("missing.crt")),
        Err(Error::INVALID)
    );
    assert!(secure(fetch(&lp, &trusting, HttpRequest::new(&url))));
    assert_eq!(trusting.set_tls(&ctx), Err(Error::INVALID)); // a server context
}

#[test]
fn tls_failures_carry_eddys_detail() {
    let certs = Certs::make("httpclient-detail");
    let lp = Loop::new().unwrap();
    // named.crt carries example.invalid only, not the other.invalid the URL names (mapped to
    // the server's address).
    let ctx = TlsContext::server(certs.path("named.crt"), certs.path("named.key")).unwrap();
    let (app, _) = serve(&lp, |app| {
        app.set_tls(&ctx).unwrap();
        app.route("/page")
            .unwrap()
            .get(|_, res| res.write("unreachable"));
    });
    let url = format!("https://other.invalid:{}/page", app.port().unwrap());
    let mut trusting = HttpClient::new(&lp).unwrap();
    trusting.ca_file(certs.path("named.crt")).unwrap();
    trusting
        .hostname_mapping("other.invalid", "127.0.0.1")
        .unwrap();

    // A trusted certificate for another name: OpenSSL's reason, from eddy_fetch_error_detail.
    let e = fetch(&lp, &trusting, HttpRequest::new(&url)).unwrap_err();
    assert_eq!(e, Error::TLS); // still the code, whatever the detail
    assert_eq!((e.error(), e.name()), (Error::TLS, "EDDY_ETLS"));
    assert_eq!(
        e.detail(),
        Some("certificate verification: hostname mismatch")
    );
    assert_eq!(
        e.to_string(),
        format!(
            "{}: certificate verification: hostname mismatch",
            Error::TLS
        )
    );
    assert!(format!("{:?}", e).contains("hostname mismatch"));
    let plain: Error = e.clone().into(); // `?` into eddy::Result keeps the code
    assert_eq!(plain, Error::TLS);

    // A refused connect names the address it tried; Display appends it to the code's text.
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let closed = format!("http://127.0.0.1:{}/", port);
    drop(l);
    let refused = fetch(&lp, &trusting, HttpRequest::new(&closed)).unwrap_err();
    let detail = format!("connect to 127.0.0.1:{}: Connection refused", port);
    assert_eq!(
        (refused.error(), refused.detail()),
        (Error::CONNECTION_REFUSED, Some(detail.as_str()))
    );
    assert_eq!(
        refused.to_string(),
        format!("{}: {}", Error::CONNECTION_REFUSED, detail)
    );
}

#[test]
fn https_client_certificates() {
    let certs = Certs::make("httpclient-mutual");
    let lp = Loop::new().unwrap();
    let mut ctx = TlsContext::server(certs.path("server.crt"), certs.path("server.key")).unwrap();
    ctx.load_ca_file(certs.path("client.crt")).unwrap();
    ctx.set_verify(eddy::Verify::Required).unwrap();
    let (_app, base) = serve(&lp, |app| {
        app.set_tls(&ctx).unwrap();
        app.route("/")
            .unwrap()
            .get(|_, res| res.write("hello, certified client"));
    });
    let url = base.replace("http:", "https:") + "/";
    let mut with_cert = HttpClient::new(&lp).unwrap();
    with_cert.ca_file(certs.path("server.crt")).unwrap();
    with_cert
        .client_cert(certs.path("client.crt"), certs.path("client.key"))
        .unwrap();
    assert_eq!(
        text(&ok(fetch(&lp, &with_cert, HttpRequest::new(&url)))),
        "hello, certified client"
    );
    // Without a certificate the server ends the handshake: an error, never a response.
    let mut without = HttpClient::new(&lp).unwrap();
    without.ca_file(certs.path("server.crt")).unwrap();
    assert!(fetch(&lp, &without, HttpRequest::new(&url)).is_err());
    // A key that does not match is refused at once.
    assert_eq!(
        without.client_cert(certs.path("client.crt"), certs.path("server.key")),
        Err(Error::INVALID)
    );
}

#[test]
fn streaming_headers_and_chunks() {
    let lp = Loop::new().unwrap();
    let page: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let served = page.clone();
    let (_app, base) = serve(&lp, move |app| {
        app.route("/big").unwrap().get(move |_, res| {
            res.set_header("Content-Type", "application/octet-stream")?;
            res.write(&served)
        });
    });
    let client = HttpClient::new(&lp).unwrap();
    let url = format!("{}/big", base);
    let events = Rc::new(RefCell::new(Vec::<String>::new()));
    let received = Rc::new(RefCell::new(Vec::<u8>::new()));
    let drops = Drops::default();
    let (ev_h, ev_c, rx, th, tc) = (
        events.clone(),
        events.clone(),
        received.clone(),
        drops.token(),
        drops.token(),
    );
    let req = HttpRequest::new(&url)
        .on_headers(move |head| {
            let _ = &th;
            ev_h.borrow_mut().push(format!(
                "headers {} {:?} body={}",
                head.code(),
                head.header("content-length"),
                head.body().len()
            ));
            Ok(())
        })
        .on_chunk(move |piece| {
            let _ = &tc;
            if ev_c.borrow().last().map(|e| e != "chunk").unwrap_or(true) {
                ev_c.borrow_mut().push("chunk".to_owned());
            }
            rx.borrow_mut().extend_from_slice(piece);
            Ok(())
        });
    let res = ok(fetch(&lp, &client, req));
    assert_eq!(res.code(), 200);
    assert!(res.body().is_empty(), "a streamed body is not kept");
    assert_eq!(
        *events.borrow(),
        ["headers 200 Some(\"300000\") body=0", "chunk"]
    );
    assert!(*received.borrow() == page, "the chunks make the page");
    assert_eq!(drops.count(), 2, "both streaming closures freed once");

    // An Err from on_chunk cancels the fetch.
    let req = HttpRequest::new(&url).on_chunk(|_| Err(Error::INVALID));
    assert_eq!(fetch(&lp, &client, req).unwrap_err(), Error::CANCELED);
    // The client still works after it.
    assert_eq!(
        ok(fetch(&lp, &client, HttpRequest::new(&url))).body(),
        &page[..]
    );
}

#[test]
fn cancel_busy_and_drop_with_fetches_in_flight() {
    let lp = Loop::new().unwrap();
    let (_silent, url) = silent_server();
    let mut client = HttpClient::new(&lp).unwrap();

    // Cancelled while waiting for the answer.
    let (out, handle) = start(&lp, &client, HttpRequest::new(&url));
    let handle = Rc::new(handle);
    let h = handle.clone();
    lp.call_later(0.05, move || h.cancel().unwrap()).unwrap();
    run_bounded(&lp);
    assert_eq!(
        out.borrow_mut().take().unwrap().unwrap_err(),
        Error::CANCELED
    );
    assert!(handle.is_done());
    assert_eq!(handle.cancel(), Err(Error::STATE));

    // A full queue: one running, none may wait.
    client.set_max_clients(1).unwrap();
    client.set_max_queue(0).unwrap();
    let (first, first_handle) = start(&lp, &client, HttpRequest::new(&url));
    let (second, _) = start(&lp, &client, HttpRequest::new(&url));
    run_bounded(&lp);
    assert_eq!(
        second.borrow_mut().take().unwrap().unwrap_err(),
        Error::BUSY
    );
    assert!(first.borrow().is_none());
    first_handle.cancel().unwrap();
    run_bounded(&lp);
    assert_eq!(
        first.borrow_mut().take().unwrap().unwrap_err(),
        Error::CANCELED
    );

    // Dropped outside any callback: the pending callback runs during the drop.
    client.set_max_queue(10).unwrap();
    let drops = Drops::default();
    let token = drops.token();
    let seen = Rc::new(RefCell::new(None));
    let s = seen.clone();
    let handle = client
        .fetch(HttpRequest::new(&url), move |r| {
            let _ = &token;
            *s.borrow_mut() = Some(r.map(|_| ()).map_err(|e| e.error()));
        })
        .unwrap();
    // (this one does not stop the loop: a stop outside run would end the next run early)
    let queued = Rc::new(RefCell::new(None));
    let q = queued.clone();
    client
        .fetch(HttpRequest::new(&url), move |r| *q.borrow_mut() = Some(r))
        .unwrap();
    let stopper = lp.clone();
    lp.call_later(0.05, move || stopper.stop()).unwrap();
    run_bounded(&lp);
    assert!(seen.borrow().is_none() && !handle.is_done());
    drop(client);
    assert_eq!(*seen.borrow(), Some(Err(Error::CANCELED)));
    assert_eq!(
        queued.borrow_mut().take().unwrap().unwrap_err(),
        Error::CANCELED
    );
    assert_eq!(drops.count(), 1, "the closure is freed once");
    assert!(handle.is_done());
    assert_eq!(handle.cancel(), Err(Error::STATE));

    // Dropped inside a loop callback: freed on the next iteration, the callback then runs.
    let client = Rc::new(RefCell::new(Some(HttpClient::new(&lp).unwrap())));
    let (out, _) = start(
        &lp,
        client.borrow().as_ref().unwrap(),
        HttpRequest::new(&url),
    );
    let c = client.clone();
    lp.call_later(0.05, move || drop(c.borrow_mut().take()))
        .unwrap();
    run_bounded(&lp);
    assert_eq!(
        out.borrow_mut().take().unwrap().unwrap_err(),
        Error::CANCELED
    );
}

#[test]
fn a_client_dropped_in_a_callback_then_its_loop_freed_drops_the_closure_once() {
    let (_silent, url) = silent_server();
    let drops = Drops::default();
    let ran = Rc::new(Cell::new(false));
    let handle = {
        let lp = Loop::new().unwrap();
        let client = Rc::new(RefCell::new(Some(HttpClient::new(&lp).unwrap())));
        let (token, r) = (drops.token(), ran.clone());
        let handle = client
            .borrow()
            .as_ref()
            .unwrap()
            .fetch(HttpRequest::new(&url), move |_| {
                let _ = &token;
                r.set(true);
            })
            .unwrap();
        let (c, stop) = (client.clone(), lp.clone());
        lp.call_later(0.05, move || {
            drop(c.borrow_mut().take()); // freed on the next iteration...
            stop.stop(); // ...which never comes: the loop is freed first
        })
        .unwrap();
        run_bounded(&lp);
        assert!(client.borrow().is_none());
        handle
    };
    // The loop freed the pending fetch without calling it; its closure was dropped once. The
    // C client was freed just after the loop (valgrind: nothing definitely lost; it leaked
    // when the deferred free was dropped with the loop's pending calls).
    assert!(!ran.get());
    assert_eq!(drops.count(), 1);
    assert!(handle.is_done());
    assert_eq!(handle.cancel(), Err(Error::STATE));
}

#[test]
fn a_panicking_callback_is_logged_and_the_loop_goes_on() {
    let lp = Loop::new().unwrap();
    let (_app, base) = serve(&lp, |app| {
        app.route("/").unwrap().get(|_, res| res.write("fine"));
    });
    let url = format!("{}/", base);
    let client = HttpClient::new(&lp).unwrap();
    let stop = lp.clone();
    client
        .fetch(HttpRequest::new(&url), move |_| {
            stop.stop();
            panic!("boom in a fetch callback")
        })
        .unwrap();
    run_bounded(&lp);
    assert_eq!(
        text(&ok(fetch(&lp, &client, HttpRequest::new(&url)))),
        "fine"
    );
}

#[test]
fn streamed_request_body() {
    let lp = Loop::new().unwrap();
    let (_app, base) = serve(&lp, |app| {
        app.route("/echo").unwrap().post(|req, res| {
            let framing = match (
                req.header("transfer-encoding"),
                req.header("content-length"),
            ) {
                (Some(te), _) => te.to_owned(),
                (None, Some(cl)) => format!("length {}", cl),
                (None, None) => "none".to_owned(),
            };
            res.write(format!("{}: ", framing))?;
            res.write(req.body())
        });
    });
    let client = HttpClient::new(&lp).unwrap();
    let url = format!("{}/echo", base);

    // Unknown length: chunked, pieces written now and from a later loop callback.
    let (out, handle) = start(
        &lp,
        &client,
        HttpRequest::new(&url).method("POST").body_stream(None),
    );
    handle.write_body(b"first ").unwrap();
    let handle = Rc::new(handle);
    let h = handle.clone();
    lp.call_later(0.02, move || {
        h.write_body(b"second").unwrap();
        h.end_body().unwrap();
        assert_eq!(h.write_body(b"late"), Err(Error::STATE));
    })
    .unwrap();
    run_bounded(&lp);
    assert_eq!(
        text(&ok(out.borrow_mut().take().unwrap())),
        "chunked: first second"
    );
    assert_eq!(handle.write_body(b"after"), Err(Error::STATE));

    // A known length: Content-Length, and no byte more than announced.
    let (out, handle) = start(
        &lp,
        &client,
        HttpRequest::new(&url).method("POST").body_stream(Some(5)),
    );
    assert_eq!(handle.write_body(b"abcdef"), Err(Error::TOO_BIG));
    handle.write_body(b"abc").unwrap();
    assert_eq!(handle.end_body(), Err(Error::INVALID)); // 2 bytes short
    handle.write_body(b"de").unwrap();
    handle.end_body().unwrap();
    run_bounded(&lp);
    assert_eq!(
        text(&ok(out.borrow_mut().take().unwrap())),
        "length 5: abcde"
    );

    // Without a streamed body there is nothing to write.
    let (out, handle) = start(
        &lp,
        &client,
        HttpRequest::new(&url).method("POST").body("x"),
    );
    assert_eq!(handle.write_body(b"y"), Err(Error::STATE));
    run_bounded(&lp);
    assert_eq!(text(&ok(out.borrow_mut().take().unwrap())), "length 1: x");
}

/// FNV-1a (64 bits) over `data`, continuing from `h`: both ends of a body compare it.
fn fnv(mut h: u64, data: &[u8]) -> u64 {
    for &b in data {
        h = (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
    }
    h
}
const FNV_START: u64 = 0xcbf2_9ce4_8422_2325;

/// One piece of the flushed body: `i`'s bytes.
fn flushed_piece(i: usize, len: usize) -> Vec<u8> {
    (0..len).map(|j| (i * 7 + j % 251) as u8).collect()
}

/// `flush_body` paces a streamed body by the server, as Tornado's body_producer awaiting
/// write(): `write_body` keeps what the connection did not take in memory, without limit, so
/// a writer that never waited put all 64 MiB there before the server read a byte.
#[test]
fn flush_body_paces_a_streamed_body_by_the_server() {
    const PIECE: usize = 1 << 20;
    const PIECES: usize = 64;
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://127.0.0.1:{}/", l.local_addr().unwrap().port());
    let (stalled_tx, stalled_rx) = std::sync::mpsc::channel::<usize>();
    // The server reads nothing, not even the head, until the writer had to wait a second.
    let server = thread::spawn(move || {
        let (mut s, _) = l.accept().unwrap();
        let written = stalled_rx
            .recv_timeout(std::time::Duration::from_secs(30))
            .unwrap_or(usize::MAX);
        s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        let mut data = Vec::new();
        let mut b = vec![0u8; 1 << 16];
        let head_end = loop {
            if let Some(at) = data.windows(4).position(|w| w == b"\r\n\r\n") {
                break at + 4;
            }
            let n = s.read(&mut b).unwrap();
            assert!(n > 0, "closed in the head");
            data.extend_from_slice(&b[..n]);
        };
        let (mut n, mut h) = (data.len() - head_end, fnv(FNV_START, &data[head_end..]));
        while n < PIECE * PIECES {
            let got = s.read(&mut b).unwrap();
            if got == 0 {
                break;
            }
            n += got;
            h = fnv(h, &b[..got]);
        }
        s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            .unwrap();
        (written, n, h)
    });

    let lp = Loop::new().unwrap();
    let client = HttpClient::new(&lp).unwrap();
    let (out, handle) = start(
        &lp,
        &client,
        HttpRequest::new(&url)
            .method("POST")
            .body_stream(Some((PIECE * PIECES) as u64))
            .request_timeout(60.0),
    );
    let written = Rc::new(Cell::new(0usize));
    let stalled = Rc::new(RefCell::new(Some(stalled_tx)));
    // Writes piece `i` and the rest, each once the one before reached the kernel; a flush that
    // waits a second tells the server (which then reads) how many pieces were written.
    fn pump(
        lp: &Loop,
        fetch: &FetchHandle,
        i: usize,
        written: Rc<Cell<usize>>,
        stalled: Rc<RefCell<Option<std::sync::mpsc::Sender<usize>>>>,
    ) -> eddy::Result<()> {
        if i == PIECES {
            fetch.end_body()?;
            if let Some(tx) = stalled.borrow_mut().take() {
                let _ = tx.send(usize::MAX); // never stalled: all of it went into memory
            }
            return Ok(());
        }
        fetch.write_body(&flushed_piece(i, PIECE))?;
        written.set(i + 1);
        let (w, st) = (written.clone(), stalled.clone());
        let timer = lp.call_later(1.0, move || {
            if let Some(tx) = st.borrow_mut().take() {
                let _ = tx.send(w.get());
            }
        })?;
        let lp2 = lp.clone();
        fetch.flush_body(move |fetch, sent| {
            let _ = lp2.cancel(timer);
            sent?;
            pump(&lp2, fetch, i + 1, written, stalled)
        })
    }
    pump(&lp, &handle, 0, written.clone(), stalled.clone()).unwrap();
    let stopper = lp.clone();
    let bound = lp.call_later(60.0, move || stopper.stop()).unwrap();
    lp.run().unwrap();
    let _ = lp.cancel(bound);
    assert_eq!(text(&ok(out.borrow_mut().take().unwrap())), "ok");
    let (before_reading, n, h) = server.join().unwrap();
    let mut want = FNV_START;
    for i in 0..PIECES {
        want = fnv(want, &flushed_piece(i, PIECE));
    }
    assert_eq!((n, h), (PIECE * PIECES, want), "the whole body, in order");
    // The socket buffers and the piece in flight, not the whole body.
    assert!(
        before_reading < PIECES / 2,
        "{} of {} pieces written before a flush waited",
        before_reading,
        PIECES
    );
    assert_eq!(written.get(), PIECES);
    assert_eq!(handle.flush_body(|_, _| Ok(())), Err(Error::STATE)); // ended
    assert_eq!(handle.body_buffered(), 0);
}

/// A fetch that ends before its body went: the waiting flush callbacks get its error, in
/// order, before the fetch's own callback; without a streamed body there is nothing to flush.
#[test]
fn flush_body_callbacks_get_the_error_of_a_fetch_that_ended() {
    let lp = Loop::new().unwrap();
    let (_listener, url) = silent_server();
    let client = HttpClient::new(&lp).unwrap();
    let events = Rc::new(RefCell::new(Vec::new()));
    let (e, stop) = (events.clone(), lp.clone());
    let handle = client
        .fetch(
            HttpRequest::new(&url).method("POST").body_stream(None),
            move |r| {
                let canceled = r.as_ref().err().map_or(false, |e| *e == Error::CANCELED);
                e.borrow_mut().push(format!("done canceled={}", canceled));
                stop.stop();
            },
        )
        .unwrap();
    handle.write_body(&vec![b'x'; 32 << 20]).unwrap();
    assert!(handle.body_buffered() >= 32 << 20);
    for n in 0..2 {
        let e = events.clone();
        handle
            .flush_body(move |_, sent| {
                e.borrow_mut().push(format!("flush {} {:?}", n, sent));
                Ok(())
            })
            .unwrap();
    }
    let h = handle.clone();
    lp.call_later(0.2, move || {
        h.cancel().unwrap();
    })
    .unwrap();
    run_bounded(&lp);
    assert_eq!(
        *events.borrow(),
        vec![
            format!("flush 0 {:?}", Err::<(), _>(Error::CANCELED)),
            format!("flush 1 {:?}", Err::<(), _>(Error::CANCELED)),
            "done canceled=true".to_owned(),
        ]
    );

    let (out, handle) = start(&lp, &client, HttpRequest::new(&url).body("x"));
    assert_eq!(handle.flush_body(|_, _| Ok(())), Err(Error::STATE));
    handle.cancel().unwrap();
    run_bounded(&lp);
    assert!(out.borrow().is_some());
}

#[test]
fn requests_go_through_the_proxy() {
    let lp = Loop::new().unwrap();
    let (proxy, proxy_url) =
        raw_server(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\nConnection: close\r\n\r\nvia proxy");
    let port: u16 = proxy_url
        .trim_end_matches('/')
        .rsplit(':')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let mut client = HttpClient::new(&lp).unwrap();
    client.set_proxy(Some(("127.0.0.1", port))).unwrap();
    // The origin is never connected to: its name only appears in the absolute URI.
    let res = ok(fetch(
        &lp,
        &client,
        HttpRequest::new("http://origin.test:8080/path?q=1"),
    ));
    assert_eq!(text(&res), "via proxy");
    let head = proxy.join().unwrap();
    assert!(
        head.starts_with("GET http://origin.test:8080/path?q=1 HTTP/1.1\r\n"),
        "{:?}",
        head
    );
    assert!(
        head.to_ascii_lowercase()
            .contains("\r\nhost: origin.test:8080\r\n"),
        "{:?}",
        head
    );
    assert_eq!(
        client.set_proxy(Some(("bad\0host", 1))),
        Err(Error::INVALID)
    );
    client.set_proxy(None).unwrap();
}

/// An App whose /head route answers with the request fields the client options decide.
fn head_app(lp: &Loop) -> (App, String) {
    serve(lp, |app| {
        app.route("/head").unwrap().get(|req, res| {
            for name in ["Host", "User-Agent", "X-Default", "X-Own"] {
                res.write(format!("{}={}\n", name, req.header(name).unwrap_or("")))?;
            }
            Ok(())
        });
        app.route("/to").unwrap().get(|_, res| res.write("arrived"));
        app.route("/from")
            .unwrap()
            .get(|_, res| res.redirect("/to", 302));
    })
}

#[test]
fn defaults_fill_what_the_request_leaves_unset() {
    let lp = Loop::new().unwrap();
    let (_app, base) = head_app(&lp);
    let mut client = HttpClient::new(&lp).unwrap();
    let defaults = HttpRequest::default()
        .user_agent("default-agent/1")
        .header("X-Default", "from defaults")
        .header("X-Own", "default value")
        .request_timeout(0.3)
        .follow_redirects(false);
    client.set_defaults(defaults).unwrap();
    let url = format!("{}/head", base);
    let seen = text(&ok(fetch(&lp, &client, HttpRequest::new(&url))));
    for want in [
        "User-Agent=default-agent/1\n",
        "X-Default=from defaults\n",
        "X-Own=default value\n",
    ] {
        assert!(seen.contains(want), "{:?} lacks {:?}", seen, want);
    }
    // The request's own values win: user_agent, a header, a User-Agent header.
    let own = HttpRequest::new(&url)
        .user_agent("own-agent/2")
        .header("x-own", "request value");
    let seen = text(&ok(fetch(&lp, &client, own)));
    assert!(
        seen.contains("User-Agent=own-agent/2\nX-Default=from defaults\nX-Own=request value\n"),
        "{:?}",
        seen
    );
    let seen = text(&ok(fetch(
        &lp,
        &client,
        HttpRequest::new(&url).header("User-Agent", "header-agent/3"),
    )));
    assert!(seen.contains("User-Agent=header-agent/3\n"), "{:?}", seen);
    // follow_redirects(false) by default, true for one request.
    let from = format!("{}/from", base);
    assert_eq!(ok(fetch(&lp, &client, HttpRequest::new(&from))).code(), 302);
    assert_eq!(
        text(&ok(fetch(
            &lp,
            &client,
            HttpRequest::new(&from).follow_redirects(true)
        ))),
        "arrived"
    );
    // The default timeout ends a fetch that would otherwise wait 20 s; a request's own wins.
    // The error's detail names the timeout that ended it (0.3 s, not the 20 s one), however
    // long a loaded machine took to get there.
    let (_silent, silent) = silent_server();
    let err = fetch(&lp, &client, HttpRequest::new(&silent)).unwrap_err();
    assert_eq!(err, Error::TIMED_OUT);
    assert_eq!(
        err.detail(),
        Some("no complete response within 0.3 s"),
        "{:?}",
        err
    );
    let began = std::time::Instant::now();
    assert_eq!(
        fetch(&lp, &client, HttpRequest::new(&silent).request_timeout(1.0)).unwrap_err(),
        Error::TIMED_OUT
    );
    assert!(
        began.elapsed().as_secs_f64() >= 1.0,
        "own request_timeout: {:?}",
        began.elapsed()
    );
    // What belongs to one request is refused as a default.
    assert_eq!(
        client.set_defaults(HttpRequest::new(&url)),
        Err(Error::INVALID)
    );
    assert_eq!(
        client.set_defaults(HttpRequest::default().body("x")),
        Err(Error::INVALID)
    );
}

#[test]
fn hostname_mapping_connects_elsewhere_and_keeps_the_host() {
    let lp = Loop::new().unwrap();
    let (_app, base) = head_app(&lp);
    let port = base.rsplit(':').next().unwrap().to_owned();
    let mut client = HttpClient::new(&lp).unwrap();
    client
        .hostname_mapping("example.invalid", "127.0.0.1")
        .unwrap();
    client
        .hostname_mapping("EXAMPLE.invalid:80", &format!("127.0.0.1:{}", port))
        .unwrap();
    // The server at the mapped address gets an origin-form request line and the URL's Host.
    let (raw, raw_url) =
        raw_server(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
    let raw_port = raw_url
        .trim_end_matches('/')
        .rsplit(':')
        .next()
        .unwrap()
        .to_owned();
    let url = format!("http://example.invalid:{}/path?q=1", raw_port);
    let res = ok(fetch(&lp, &client, HttpRequest::new(&url)));
    assert_eq!(
        (text(&res).as_str(), res.effective_url()),
        ("ok", url.as_str())
    );
    let head = raw.join().unwrap();
    assert!(head.starts_with("GET /path?q=1 HTTP/1.1\r\n"), "{:?}", head);
    assert!(
        head.to_ascii_lowercase()
            .contains(&format!("\r\nhost: example.invalid:{}\r\n", raw_port)),
        "{:?}",
        head
    );
    // The host form keeps the URL's port; the host:port form maps the default port.
    for (url, host) in [
        (
            format!("http://example.invalid:{}/head", port),
            format!("example.invalid:{}", port),
        ),
        (
            "http://example.invalid/head".to_owned(),
            "example.invalid".to_owned(),
        ),
    ] {
        let res = ok(fetch(&lp, &client, HttpRequest::new(&url)));
        assert!(
            text(&res).starts_with(&format!("Host={}\n", host)),
            "{}: {:?}",
            url,
            text(&res)
        );
        assert_eq!(res.effective_url(), url);
    }
    // A same-origin redirect stays mapped; unmapped hosts are fetched as usual.
    let res = ok(fetch(
        &lp,
        &client,
        HttpRequest::new("http://example.invalid/from"),
    ));
    assert_eq!(
        (text(&res).as_str(), res.effective_url()),
        ("arrived", "http://example.invalid/to")
    );
    let res = ok(fetch(
        &lp,
        &client,
        HttpRequest::new(&format!("{}/head", base)),
    ));
    assert!(
        text(&res).starts_with(&format!("Host=127.0.0.1:{}\n", port)),
        "{:?}",
        text(&res)
    );
    // Refused: a bad target, a proxy with a mapping (either way round).
    assert_eq!(
        client.hostname_mapping("a.invalid", "b:port"),
        Err(Error::INVALID)
    );
    assert_eq!(
        client.set_proxy(Some(("127.0.0.1", 1))),
        Err(Error::INVALID)
    );
    let mut proxied = HttpClient::new(&lp).unwrap();
    proxied.set_proxy(Some(("127.0.0.1", 1))).unwrap();
    assert_eq!(
        proxied.hostname_mapping("a.invalid", "b"),
        Err(Error::INVALID)
    );
}

#[test]
fn hostname_mapping_over_https_checks_the_urls_name() {
    let certs = Certs::make("httpclient-mapping");
    let lp = Loop::new().unwrap();
    // named.crt carries example.invalid only: neither 127.0.0.1 (where the client connects)
    // nor other.invalid. The URL's name is the one checked, as in Tornado.
    let ctx = TlsContext::server(certs.path("named.crt"), certs.path("named.key")).unwrap();
    let (_app, base) = serve(&lp, |app| {
        app.set_tls(&ctx).unwrap();
        app.route("/page").unwrap().get(|req, res| {
            res.write(format!(
                "{} {}",
                req.uri(),
                req.header("Host").unwrap_or("")
            ))
        });
    });
    let port = base.rsplit(':').next().unwrap().to_owned();
    let mut client = HttpClient::new(&lp).unwrap();
    client.ca_file(certs.path("named.crt")).unwrap();
    client
        .hostname_mapping("example.invalid", "127.0.0.1")
        .unwrap();
    client
        .hostname_mapping("other.invalid", "127.0.0.1")
        .unwrap();
    let url = format!("https://example.invalid:{}/page?x=1", port);
    let res = ok(fetch(&lp, &client, HttpRequest::new(&url)));
    assert_eq!(text(&res), format!("/page?x=1 example.invalid:{}", port));
    assert_eq!(res.effective_url(), url);
    let other = format!("https://other.invalid:{}/page", port);
    assert_eq!(
        fetch(&lp, &client, HttpRequest::new(&other)).unwrap_err(),
        Error::TLS
    );
    let direct = base.replace("http:", "https:") + "/page";
    assert_eq!(
        fetch(&lp, &client, HttpRequest::new(&direct)).unwrap_err(),
        Error::TLS
    );
}

/// A thread that answers one connection with `parts`, each after its delay (ms), then closes.
fn staged_server(parts: Vec<(u64, &'static [u8])>) -> (thread::JoinHandle<()>, String) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://127.0.0.1:{}/", l.local_addr().unwrap().port());
    let t = thread::spawn(move || {
        let (mut s, _) = l.accept().unwrap();
        s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        let mut head = Vec::new();
        let mut b = [0u8; 1024];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            match s.read(&mut b) {
                Ok(0) | Err(_) => return,
                Ok(n) => head.extend_from_slice(&b[..n]),
            }
        }
        for (delay, part) in parts {
            thread::sleep(std::time::Duration::from_millis(delay));
            if s.write_all(part).is_err() {
                return; // the client gave up (a read timeout)
            }
        }
    });
    (t, url)
}

#[test]
fn pause_body_holds_the_chunks_until_resume_body() {
    let lp = Loop::new().unwrap();
    let client = HttpClient::new(&lp).unwrap();
    let (t, url) = staged_server(vec![
        (0, b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\naaa"),
        (50, b"bbb"),
        (50, b"ccc"),
    ]);
    let events = Rc::new(RefCell::new(Vec::<String>::new()));
    let handle: Rc<RefCell<Option<FetchHandle>>> = Rc::new(RefCell::new(None));
    let (ev, ev_t, h, tl) = (events.clone(), events.clone(), handle.clone(), lp.clone());
    let req = HttpRequest::new(&url).on_chunk(move |piece| {
        ev.borrow_mut()
            .push(String::from_utf8_lossy(piece).into_owned());
        if ev.borrow().len() == 1 {
            // The consumer is slow: hold the body for 0.3 s (the server sends the rest).
            let fetch = h.borrow().clone().expect("the handle");
            fetch.pause_body()?;
            let ev_t = ev_t.clone();
            tl.call_later(0.3, move || {
                ev_t.borrow_mut().push("resumed".to_owned());
                fetch.resume_body().expect("resume_body");
            })?;
        }
        Ok(())
    });
    let (out, fh) = start(&lp, &client, req);
    *handle.borrow_mut() = Some(fh.clone());
    run_bounded(&lp);
    let res = ok(out.borrow_mut().take().expect("the fetch's callback ran"));
    assert_eq!(res.code(), 200);
    let ev = events.borrow();
    assert_eq!(ev[..2], ["aaa", "resumed"], "{:?}", ev);
    assert_eq!(
        ev.iter()
            .filter(|e| *e != "resumed")
            .cloned()
            .collect::<String>(),
        "aaabbbccc"
    );
    // Once ended, the handle refuses.
    assert_eq!(fh.pause_body(), Err(Error::STATE));
    assert_eq!(fh.resume_body(), Err(Error::STATE));
    t.join().unwrap();
    // Without on_chunk there is nothing to pause.
    let (_app, base) = serve(&lp, |app| {
        app.route("/").unwrap().get(|_, res| res.write("x"));
    });
    let (out, fh) = start(&lp, &client, HttpRequest::new(&base));
    assert_eq!(fh.pause_body(), Err(Error::STATE));
    run_bounded(&lp);
    assert_eq!(text(&ok(out.borrow_mut().take().unwrap())), "x");
}

#[test]
fn read_timeout_ends_a_fetch_whose_server_stalls() {
    let lp = Loop::new().unwrap();
    let client = HttpClient::new(&lp).unwrap();
    let (t, url) = staged_server(vec![
        (0, b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\naaa"),
        (1500, b"bbbccc"),
    ]);
    let err = fetch(
        &lp,
        &client,
        HttpRequest::new(&url)
            .read_timeout(0.3)
            .request_timeout(5.0),
    )
    .unwrap_err();
    // The read timeout's detail (without it the fetch would have completed after the server's
    // 1.5 s pause: no error at all).
    assert_eq!(err, Error::TIMED_OUT);
    assert_eq!(
        err.detail(),
        Some("no data from the server for 0.3 s"),
        "{:?}",
        err
    );
    t.join().unwrap();
}
