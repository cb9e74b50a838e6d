//! Handlers over real sockets: routing, captures, arguments, headers, cookies, error pages,
//! pipelining, and the C boundary's panic and error handling.
mod common;

use common::Server;
use eddy::{CookieOptions, Error};

#[test]
fn hello_404_405() {
    let srv = Server::start(|_, app| {
        app.route("/hello").unwrap().get(|req, res| {
            res.set_header("Content-Type", "text/plain")?;
            res.set_header("X-Method", req.method())?;
            res.write("Hello, World!")
        });
    });
    let r = srv.get("/hello");
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "Hello, World!");
    assert_eq!(r.header("content-type"), Some("text/plain"));
    assert_eq!(r.header("x-method"), Some("GET"));
    assert_eq!(srv.get("/nope").status, 404);
    let mut c = srv.connect();
    c.send("POST /hello HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n");
    assert_eq!(c.response().status, 405);
}

#[test]
fn captures_and_named_groups() {
    let srv = Server::start(|_, app| {
        app.route("/users/(?P<id>[0-9]+)/items/([a-z%0-9]+)")
            .unwrap()
            .get(|req, res| {
                let args = req.path_args();
                res.write(format!(
                    "id={} item={} n={}",
                    req.path_kwarg("id").unwrap_or("?"),
                    args[1],
                    args.len()
                ))
            });
    });
    let r = srv.get("/users/42/items/caf%c3%a9");
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "id=42 item=café n=2");
    assert_eq!(srv.get("/users/x/items/a").status, 404);
}

#[test]
fn body_query_and_form_arguments() {
    let srv = Server::start(|_, app| {
        app.route("/echo").unwrap().post(|req, res| {
            let out = format!(
                "q={} a={} b={} body={} ua={}",
                req.query_argument("q").unwrap_or("-"),
                req.argument("a").unwrap_or("-"),
                req.body_argument("b").unwrap_or("-"),
                req.body().len(),
                req.header("user-agent").unwrap_or("-")
            );
            res.set_status(201)?;
            res.write(out)
        });
    });
    let mut c = srv.connect();
    let body = "a=1&b=two+words";
    c.send(&format!(
        "POST /echo?q=z HTTP/1.1\r\nHost: t\r\nUser-Agent: rust-test\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{}",
        body.len(),
        body
    ));
    let r = c.response();
    assert_eq!(r.status, 201);
    assert_eq!(r.text(), "q=z a=1 b=two words body=15 ua=rust-test");
}

/// A multipart/form-data body: (Content-Disposition parameters, Content-Type, content) parts.
fn multipart(boundary: &str, parts: &[(&str, Option<&str>, &[u8])]) -> Vec<u8> {
    let mut body = Vec::new();
    for (disposition, ctype, content) in parts {
        body.extend_from_slice(format!("--{}\r\n", boundary).as_bytes());
        body.extend_from_slice(
            format!("Content-Disposition: form-data; {}\r\n", disposition).as_bytes(),
        );
        if let Some(ctype) = ctype {
            body.extend_from_slice(format!("Content-Type: {}\r\n", ctype).as_bytes());
        }
        body.extend_from_slice(b"\r\n");
        body.extend_from_slice(content);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{}--\r\n", boundary).as_bytes());
    body
}

#[test]
fn uploaded_files() {
    // Each file as "field|filename|content_type|len:" + body + "\n", then the body argument:
    // binary-safe, so the exact bytes, order and count come back.
    let srv = Server::start(|_, app| {
        app.route("/files").unwrap().post(|req, res| {
            let files: Vec<eddy::HttpFile> = req.files();
            let mut out = Vec::new();
            for f in &files {
                let head = format!(
                    "{}|{}|{}|{}:",
                    f.field,
                    f.filename,
                    f.content_type,
                    f.body.len()
                );
                out.extend_from_slice(head.as_bytes());
                out.extend_from_slice(&f.body);
                out.push(b'\n');
            }
            let docs = files.iter().filter(|f| f.field == "docs").count();
            out.extend_from_slice(
                format!(
                    "docs={} note={} file-as-arg={}",
                    docs,
                    req.body_argument("note").unwrap_or("-"),
                    req.argument("docs").unwrap_or("-")
                )
                .as_bytes(),
            );
            res.write(out)
        });
    });
    let boundary = "eddyRustFilesBoundary";
    // NUL bytes, CR LF, "--" and a prefix of the boundary: all file content, not delimiters.
    let binary: &[u8] = b"\x00\x01\xff\r\n--\r\n--eddyRust\x00\r\n\r\n--\x00end";
    let body = multipart(
        boundary,
        &[
            (
                r#"name="docs"; filename="a.txt""#,
                Some("text/plain"),
                b"first file\r\n",
            ),
            (r#"name="note""#, None, b"just text"),
            (r#"name="other"; filename="c.dat""#, None, b"third"),
            (
                r#"name="docs"; filename="b.bin""#,
                Some("application/x-eddy-binary"),
                binary,
            ),
        ],
    );
    let mut c = srv.connect();
    c.send(&format!(
        "POST /files HTTP/1.1\r\nHost: t\r\n\
         Content-Type: multipart/form-data; boundary={}\r\nContent-Length: {}\r\n\r\n",
        boundary,
        body.len()
    ));
    c.send_bytes(&body);
    let r = c.response();
    assert_eq!(r.status, 200, "{}", r.text());
    let mut want = Vec::new();
    want.extend_from_slice(b"docs|a.txt|text/plain|12:first file\r\n\n");
    want.extend_from_slice(b"other|c.dat|application/octet-stream|5:third\n");
    want.extend_from_slice(
        format!("docs|b.bin|application/x-eddy-binary|{}:", binary.len()).as_bytes(),
    );
    want.extend_from_slice(binary);
    want.extend_from_slice(b"\ndocs=2 note=just text file-as-arg=-");
    assert_eq!(
        String::from_utf8_lossy(&r.body),
        String::from_utf8_lossy(&want)
    );
    assert_eq!(r.body, want);

    // Not multipart: no files, the form argument as usual.
    let form = "note=plain";
    c.send(&format!(
        "POST /files HTTP/1.1\r\nHost: t\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{}",
        form.len(),
        form
    ));
    let r = c.response();
    assert_eq!(
        (r.status, r.text().as_str()),
        (200, "docs=0 note=plain file-as-arg=-")
    );
}

#[test]
fn panic_and_err_become_500_and_the_loop_survives() {
    let srv = Server::start(|_, app| {
        app.route("/panic").unwrap().get(|_, res| {
            res.write("partial")?;
            panic!("boom in a handler");
        });
        app.route("/err").unwrap().get(|_, res| {
            res.set_header("Bad Name", "x")?; // not a token: Err(INVALID) goes up
            Ok(())
        });
        app.route("/ok")
            .unwrap()
            .get(|_, res| res.write("still here"));
    });
    let r = srv.get("/panic");
    assert_eq!(r.status, 500);
    assert!(
        !r.text().contains("partial"),
        "the error page replaces what was written"
    );
    assert_eq!(srv.get("/err").status, 500);
    // Same connection after a panic, then a new one.
    let mut c = srv.connect();
    c.send("GET /panic HTTP/1.1\r\nHost: t\r\n\r\nGET /ok HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(c.response().status, 500);
    assert_eq!(c.response().text(), "still here");
    assert_eq!(srv.get("/ok").text(), "still here");
}

#[test]
fn pipelined_requests_answer_in_order() {
    let srv = Server::start(|_, app| {
        app.route("/n/([0-9]+)")
            .unwrap()
            .get(|req, res| res.write(req.path_arg(0).unwrap_or("")));
    });
    let mut c = srv.connect();
    let mut raw = String::new();
    for i in 0..20 {
        raw.push_str(&format!("GET /n/{} HTTP/1.1\r\nHost: t\r\n\r\n", i));
    }
    c.send(&raw);
    for i in 0..20 {
        let r = c.response();
        assert_eq!(r.status, 200);
        assert_eq!(r.text(), i.to_string());
    }
}

#[test]
fn finish_ends_the_response_and_later_calls_fail() {
    let srv = Server::start(|_, app| {
        app.route("/f").unwrap().get(|req, res| {
            let path = req.path(); // read before finishing, used after: still valid
            res.write("done")?;
            res.finish()?;
            assert_eq!(res.write("more"), Err(Error::STATE));
            assert_eq!(res.finish(), Err(Error::STATE));
            assert!(res.is_finished());
            assert_eq!(path, "/f");
            Ok(())
        });
    });
    let r = srv.get("/f");
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "done");
}

#[test]
fn prepare_write_error_default_headers_and_on_finish() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    let finished = Arc::new(AtomicUsize::new(0));
    let seen = finished.clone();
    let srv = Server::start(move |_, app| {
        app.route("/guarded")
            .unwrap()
            .default_headers(|_, res| res.set_header("X-Default", "yes"))
            .prepare(|req, res| {
                if req.header("x-deny").is_some() {
                    res.send_error(403)
                } else {
                    Ok(())
                }
            })
            .write_error(|_, res, status| res.write(format!("custom error {}", status)))
            .on_finish(move |_, _| {
                seen.fetch_add(1, Ordering::SeqCst);
                Ok(())
            })
            .get(|_, res| res.write("allowed"));
    });
    let r = srv.get("/guarded");
    assert_eq!((r.status, r.text().as_str()), (200, "allowed"));
    assert_eq!(r.header("x-default"), Some("yes"));
    let mut c = srv.connect();
    c.send("GET /guarded HTTP/1.1\r\nHost: t\r\nX-Deny: 1\r\n\r\n");
    let r = c.response();
    assert_eq!(r.status, 403);
    assert_eq!(r.text(), "custom error 403");
    assert_eq!(r.header("x-default"), Some("yes"));
    drop(srv); // joins the loop thread: every on_finish ran
    assert_eq!(finished.load(Ordering::SeqCst), 2);
}

#[test]
fn cookies_and_redirect() {
    let srv = Server::start(|_, app| {
        app.route("/cookie").unwrap().get(|req, res| {
            let opts = CookieOptions {
                http_only: true,
                ..Default::default()
            };
            res.set_cookie("seen", "1", &opts)?;
            res.write(format!("before={}", req.cookie("seen").unwrap_or("none")))
        });
        app.route("/go")
            .unwrap()
            .get(|_, res| res.redirect("/cookie", 303));
    });
    let r = srv.get("/cookie");
    assert_eq!(r.text(), "before=none");
    let set = r.header("set-cookie").unwrap();
    assert!(
        set.starts_with("seen=1") && set.contains("HttpOnly"),
        "{}",
        set
    );
    let mut c = srv.connect();
    c.send("GET /cookie HTTP/1.1\r\nHost: t\r\nCookie: seen=1\r\n\r\n");
    assert_eq!(c.response().text(), "before=1");
    let r = srv.get("/go");
    assert_eq!(r.status, 303);
    assert_eq!(r.header("location"), Some("/cookie"));
}

#[test]
fn custom_methods_and_bad_patterns() {
    let srv = Server::start(|_, app| {
        assert_eq!(app.route("/bad(").err(), Some(Error::INVALID));
        let route = app.route("/x").unwrap();
        assert!(route.on("BAD METHOD", |_, _| Ok(())).is_err());
        let route = app.route("/m").unwrap();
        route
            .on("PATCH", |_, res| res.write("patched"))
            .unwrap()
            .on("PURGE", |req, res| {
                res.write(format!("custom {}", req.method()))
            })
            .unwrap()
            .delete(|_, res| res.write("deleted"));
    });
    let mut c = srv.connect();
    c.send("PATCH /m HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\nDELETE /m HTTP/1.1\r\nHost: t\r\n\r\n\
             PURGE /m HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(c.response().text(), "patched");
    assert_eq!(c.response().text(), "deleted");
    assert_eq!(c.response().text(), "custom PURGE");
}

#[test]
fn streamed_request_bodies_reach_data_received() {
    let srv = Server::start(|_, app| {
        let total = std::rc::Rc::new(std::cell::Cell::new(0usize));
        let (t1, t2) = (total.clone(), total);
        app.route("/upload")
            .unwrap()
            .data_received(move |_, _, chunk| {
                t1.set(t1.get() + chunk.len());
                Ok(())
            })
            .post(move |req, res| {
                res.write(format!(
                    "streamed={} buffered={}",
                    t2.replace(0),
                    req.body().len()
                ))
            });
    });
    let mut c = srv.connect();
    c.send("POST /upload HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n");
    assert_eq!(c.response().text(), "streamed=11 buffered=0");
}

#[test]
fn an_app_dropped_by_its_own_handler_is_freed_after_it() {
    use std::cell::RefCell;
    use std::rc::Rc;
    let (tx, rx) = std::sync::mpsc::channel();
    let server = std::thread::spawn(move || {
        let lp = eddy::Loop::new().unwrap();
        let slot: Rc<RefCell<Option<eddy::App>>> = Rc::new(RefCell::new(None));
        let mut app = eddy::App::new(&lp).unwrap();
        let (s, stopper) = (slot.clone(), lp.clone());
        app.route("/drop").unwrap().get(move |_, res| {
            drop(s.borrow_mut().take()); // freed on the next iteration, not under this frame
            stopper.call_later(0.05, {
                let l = stopper.clone();
                move || l.stop()
            })?;
            res.write("bye")
        });
        app.listen("127.0.0.1", 0).unwrap();
        tx.send(app.port().unwrap()).unwrap();
        *slot.borrow_mut() = Some(app);
        lp.run().unwrap();
        assert!(slot.borrow().is_none());
    });
    let port = rx.recv_timeout(common::IO_TIMEOUT).unwrap();
    let mut c = common::Client::connect(port);
    c.send("GET /drop HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(c.response().text(), "bye");
    server.join().expect("server thread");
    // The app (and its listening socket) is gone.
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err());
}

#[test]
fn reverse_url_from_the_app_and_a_handler() {
    let srv = Server::start(|_, app| {
        app.route("/user/([a-z ]+)/([0-9]+)")
            .unwrap()
            .name("user")
            .unwrap()
            .get(|_, res| res.write("user"));
        app.route("/where").unwrap().get(|_, res| {
            let url = res.reverse_url("user", &["a b", "7"])?;
            res.write(url)
        });
        assert_eq!(
            app.reverse_url("user", &["ann", "1"]).unwrap(),
            "/user/ann/1"
        );
        assert_eq!(app.reverse_url("nobody", &[]), Err(Error::NOT_FOUND));
        assert_eq!(app.reverse_url("user", &["one"]), Err(Error::INVALID));
    });
    let r = srv.get("/where");
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "/user/a%20b/7");
}

#[test]
fn request_fields_cookies_and_argument_maps() {
    let srv = Server::start(|_, app| {
        app.route("/info").unwrap().post(|req, res| {
            res.write(format!(
                "host_name={} full_url={} cookies={:?} args={:?} query={:?} body={:?} x={:?} qx={:?} bx={:?}",
                req.host_name(),
                req.full_url(),
                req.cookies(),
                req.argument_map(),
                req.query_argument_map(),
                req.body_argument_map(),
                req.arguments("x"),
                req.query_arguments("x"),
                req.body_arguments("x"),
            ))
        });
        app.route("/time").unwrap().get(|req, res| {
            // request_time counts from the request line: the request below sends its head in
            // two writes 150 ms apart.
            let t = req.request_time();
            // (A lower bound only: a loaded machine may take any time.)
            res.write(if t >= 0.1 {
                "ok".to_string()
            } else {
                format!("bad {}", t)
            })
        });
    });
    let mut c = srv.connect();
    let body = "x=b1&z=&x=b2";
    c.send(&format!(
        "POST /info?x=1&y=2&x=3 HTTP/1.1\r\nHost: Example.COM:8080\r\n\
         Cookie: a=1; b=\"q\\\"x\"; bad name=2; a=dup\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{}",
        body.len(),
        body
    ));
    let r = c.response();
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.text(),
        "host_name=example.com full_url=http://Example.COM:8080/info?x=1&y=2&x=3 \
         cookies={\"a\": \"1\", \"b\": \"q\\\"x\"} \
         args={\"x\": [\"1\", \"3\", \"b1\", \"b2\"], \"y\": [\"2\"], \"z\": [\"\"]} \
         query={\"x\": [\"1\", \"3\"], \"y\": [\"2\"]} body={\"x\": [\"b1\", \"b2\"], \"z\": [\"\"]} \
         x=[\"1\", \"3\", \"b1\", \"b2\"] qx=[\"1\", \"3\"] bx=[\"b1\", \"b2\"]"
    );
    c.send("POST /info HTTP/1.1\r\nHost: [::1]:80\r\nContent-Length: 0\r\n\r\n");
    let text = c.response().text();
    assert!(
        text.starts_with("host_name=[::1] full_url=http://[::1]:80/info cookies={} "),
        "{}",
        text
    );
    c.send("GET /time HTTP/1.1\r\n");
    std::thread::sleep(std::time::Duration::from_millis(150));
    c.send("Host: t\r\n\r\n");
    assert_eq!(c.response().text(), "ok");
}

#[test]
fn status_clear_etag_and_clear_all_cookies() {
    let srv = Server::start(|_, app| {
        app.route("/status")
            .unwrap()
            .default_headers(|_, res| res.set_header("X-Default", "again"))
            .prepare(|_, res| res.set_status(201))
            .write_error(|_, res, status| res.write(format!("error {} {}", status, res.status())))
            .get(|req, res| {
                let mut seen = vec![res.status()]; // 201, from prepare
                res.set_header("X-Dropped", "1")?;
                res.write("dropped body")?;
                res.clear()?;
                seen.push(res.status());
                res.set_status(202)?;
                seen.push(res.status());
                if req.argument("error").is_some() {
                    res.send_error(409)?;
                    // send_error takes effect when the callback returns; the status is known now.
                    assert_eq!(res.status(), 409);
                    return Ok(());
                }
                res.write(format!("{:?}", seen))
            });
        app.route("/etag").unwrap().get(|req, res| {
            match req.argument("tag") {
                Some("none") => res.set_etag(None)?,
                Some(tag) => res.set_etag(Some(tag))?,
                None => {}
            }
            res.write("same body")
        });
        app.route("/clear_all")
            .unwrap()
            .get(|_, res| res.clear_all_cookies());
    });
    let r = srv.get("/status");
    assert_eq!((r.status, r.text().as_str()), (202, "[201, 200, 202]"));
    assert_eq!(r.header("x-dropped"), None);
    assert_eq!(r.header("x-default"), Some("again"));
    let r = srv.get("/status?error=1");
    assert_eq!((r.status, r.text().as_str()), (409, "error 409 409"));

    let r = srv.get("/etag?tag=%22v1%22");
    assert_eq!((r.status, r.header("etag")), (200, Some("\"v1\"")));
    let mut c = srv.connect();
    c.send("GET /etag?tag=%22v1%22 HTTP/1.1\r\nHost: t\r\nIf-None-Match: \"v1\"\r\n\r\n");
    assert_eq!(c.response().status, 304);
    c.send("GET /etag?tag=none HTTP/1.1\r\nHost: t\r\nIf-None-Match: *\r\n\r\n");
    let r = c.response();
    assert_eq!((r.status, r.header("etag")), (200, None));
    assert!(srv.get("/etag").header("etag").is_some()); // eddy's own body hash

    // One Set-Cookie each (the test client keeps one value per header name): an expired
    // cookie on path "/" for the name sent; none for a name eddy's parser skips.
    for (jar, name) in [("a=1; bad name=3", "a="), ("bad name=3; b=2", "b=")] {
        c.send(&format!(
            "GET /clear_all HTTP/1.1\r\nHost: t\r\nCookie: {}\r\n\r\n",
            jar
        ));
        let r = c.response();
        assert_eq!(r.status, 200);
        let set = r.header("set-cookie").unwrap_or("");
        assert!(set.starts_with(name) && set.contains("Path=/"), "{}", set);
        assert!(set.to_ascii_lowercase().contains("expires="), "{}", set);
    }
    c.send("GET /clear_all HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(c.response().header("set-cookie"), None);
}

/// The MD5 of a file as 32 hex digits, by coreutils' md5sum (the crate has no MD5 of its own).
fn md5_hex(path: &std::path::Path) -> String {
    let out = std::process::Command::new("md5sum")
        .arg(path)
        .output()
        .expect("md5sum");
    String::from_utf8(out.stdout).unwrap()[..32].to_owned()
}

#[test]
fn static_url_versions_files_and_their_answers_are_cached() {
    let dir = std::env::temp_dir().join(format!("eddy-rust-static-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("css")).unwrap();
    let content = "body { color: #c0ffee }\n";
    std::fs::write(dir.join("css/a.css"), content).unwrap();
    std::fs::write(dir.join("css/b.css"), "other content\n").unwrap();
    let root = dir.to_str().unwrap().to_owned();
    let srv = Server::start(move |_, app| {
        app.add_static("/static/", &root).unwrap();
        app.route("/static_url").unwrap().get(|req, res| {
            let url = res.static_url(req.argument("path").unwrap_or(""))?;
            res.write(url)
        });
    });
    let a = srv.get("/static_url?path=css/a.css").text();
    assert_eq!(
        a,
        format!("/static/css/a.css?v={}", md5_hex(&dir.join("css/a.css")))
    );
    let v = &a["/static/css/a.css?v=".len()..];
    assert!(
        v.len() == 32
            && v.bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    );
    let b = srv.get("/static_url?path=css/b.css").text();
    assert!(
        b.starts_with("/static/css/b.css?v=") && !b.ends_with(v),
        "{} {}",
        a,
        b
    );

    let r = srv.get(&a);
    assert_eq!((r.status, r.text().as_str()), (200, content));
    assert_eq!(r.header("cache-control"), Some("max-age=315360000"));
    assert_eq!(
        srv.get("/static_url?path=css/missing.css").text(),
        "/static/css/missing.css"
    );
    drop(srv);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn static_url_without_a_static_directory_is_not_supported() {
    let srv = Server::start(|_, app| {
        app.route("/static_url").unwrap().get(|_, res| {
            let out = format!("{:?}", res.static_url("css/a.css"));
            res.write(out)
        });
    });
    assert_eq!(
        srv.get("/static_url").text(),
        format!("{:?}", Err::<String, _>(Error::NOT_SUPPORTED))
    );
}

/// A POST of `body` (a form) to `path` with extra header lines; the status and body.
fn post_form(srv: &Server, path: &str, headers: &str, body: &str) -> (u16, String) {
    let mut c = srv.connect();
    c.send(&format!(
        "POST {} HTTP/1.1\r\nHost: t\r\n{}Content-Type: application/x-www-form-urlencoded\r\n\
         Content-Length: {}\r\n\r\n{}",
        path,
        headers,
        body.len(),
        body
    ));
    let r = c.response();
    (r.status, r.text())
}

#[test]
fn xsrf_cookies_check_posts_and_a_route_opts_out() {
    let srv = Server::start(|_, app| {
        app.set_xsrf_cookies(true).unwrap();
        app.route("/form")
            .unwrap()
            .get(|_, res| {
                let token = res.xsrf_token()?;
                res.write(token)
            })
            .post(|_, res| res.write("posted"));
        app.route("/api")
            .unwrap()
            .xsrf_check(false)
            .post(|_, res| res.write("api"));
    });
    let r = srv.get("/form");
    assert_eq!(r.status, 200);
    let token = r.text();
    let set = r.header("set-cookie").expect("the _xsrf cookie");
    let cookie = set.split(';').next().unwrap().to_owned();
    assert!(cookie.starts_with("_xsrf="), "{}", set);
    let field = token.replace('|', "%7C");

    assert_eq!(post_form(&srv, "/form", "", "a=1").0, 403);
    let jar = format!("Cookie: {}\r\n", cookie);
    assert_eq!(post_form(&srv, "/form", &jar, "a=1").0, 403);
    assert_eq!(
        post_form(&srv, "/form", "", &format!("_xsrf={}", field)).0,
        403
    );
    assert_eq!(
        post_form(&srv, "/form", &jar, &format!("a=1&_xsrf={}", field)),
        (200, "posted".to_owned())
    );
    let header = format!("{}X-Xsrftoken: {}\r\n", jar, token);
    assert_eq!(
        post_form(&srv, "/form", &header, "a=1"),
        (200, "posted".to_owned())
    );
    assert_eq!(post_form(&srv, "/api", "", "a=1"), (200, "api".to_owned()));
}

/// App::host_route (Tornado's add_handlers(host_pattern, ...)): tried before the routes of
/// App::route for a matching Host (port ignored); Route::set_default (default_handler_class)
/// answers what no pattern matches instead of 404.
#[test]
fn host_routes_and_the_default_route() {
    let srv = Server::start(|_, app| {
        app.route("/where")
            .unwrap()
            .get(|_, res| res.write("any host"));
        app.host_route(r"api\.example", "/where")
            .unwrap()
            .get(|_, res| res.write("api host"));
        app.route("/fallback")
            .unwrap()
            .set_default()
            .unwrap()
            .get(|req, res| {
                res.set_status(404)?;
                res.write(format!("default for {}", req.path()))
            });
        assert_eq!(
            app.host_route("(", "/x").err(),
            Some(Error::INVALID),
            "a host pattern that does not compile"
        );
    });
    let get = |host: &str, target: &str| {
        let mut c = srv.connect();
        c.send(&format!(
            "GET {} HTTP/1.1\r\nHost: {}\r\n\r\n",
            target, host
        ));
        c.response()
    };
    assert_eq!(get("api.example:8080", "/where").text(), "api host");
    assert_eq!(get("api.example", "/where").text(), "api host");
    assert_eq!(get("www.example", "/where").text(), "any host");
    // The host pattern is anchored.
    assert_eq!(get("xapi.example", "/where").text(), "any host");
    let r = get("www.example", "/nothing/here");
    assert_eq!(
        (r.status, r.text()),
        (404, "default for /nothing/here".to_owned())
    );
    // Its own pattern still works.
    assert_eq!(get("t", "/fallback").text(), "default for /fallback");
}
