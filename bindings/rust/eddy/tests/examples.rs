//! The examples as programs: started on a free port (`--port 0`, the port read back from their
//! "listening on" line) and driven over real sockets. `cargo test` builds them first.
mod common;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use common::{Client, Response, WsClient};

struct Example {
    child: Child,
    port: u16,
}

impl Example {
    fn start(name: &str, extra: &[&str]) -> Example {
        // target/<profile>/deps/<this test> → target/<profile>/examples/<name>
        let mut path: PathBuf = std::env::current_exe().unwrap();
        path.pop();
        path.pop();
        path.push("examples");
        path.push(name);
        let mut child = Command::new(&path)
            .args(["--port", "0"])
            .args(extra)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {}", path.display(), e));
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line.trim().rsplit(':').next().and_then(|p| p.parse().ok());
        let port = port.unwrap_or_else(|| {
            let _ = child.kill();
            panic!("{}: unexpected first line {:?}", name, line)
        });
        Example { child, port }
    }

    fn request(&self, method: &str, target: &str, form: Option<&str>) -> Response {
        let mut c = Client::connect(self.port);
        send(&mut c, method, target, form);
        c.response()
    }
}

fn send(c: &mut Client, method: &str, target: &str, form: Option<&str>) {
    match form {
        Some(body) => c.send(&format!(
            "{} {} HTTP/1.1\r\nHost: t\r\nContent-Type: application/x-www-form-urlencoded\r\n\
             Content-Length: {}\r\n\r\n{}",
            method,
            target,
            body.len(),
            body
        )),
        None => c.send(&format!(
            "{} {} HTTP/1.1\r\nHost: t\r\n\r\n",
            method, target
        )),
    }
}

impl Drop for Example {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn hello_example() {
    let ex = Example::start("hello", &[]);
    let r = ex.request("GET", "/", None);
    assert_eq!((r.status, r.text().as_str()), (200, "Hello, World!"));
    assert_eq!(r.header("content-type"), Some("text/plain"));
}

#[test]
fn json_api_example() {
    let ex = Example::start("json_api", &[]);
    let r = ex.request("POST", "/api/items", Some("name=pen%20%22blue%22&qty=3"));
    assert_eq!(r.status, 201);
    assert_eq!(r.text(), r#"{"id":1,"name":"pen \"blue\"","qty":3}"#);
    assert_eq!(r.header("location"), Some("/api/items/1"));
    assert_eq!(
        ex.request("POST", "/api/items", Some("name=ink&qty=7"))
            .status,
        201
    );
    assert_eq!(ex.request("POST", "/api/items", Some("qty=x")).status, 400);
    let r = ex.request("GET", "/api/items", None);
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(
        r.text(),
        r#"{"items":[{"id":1,"name":"pen \"blue\"","qty":3},{"id":2,"name":"ink","qty":7}]}"#
    );
    assert_eq!(
        ex.request("GET", "/api/items/2", None).text(),
        r#"{"id":2,"name":"ink","qty":7}"#
    );
    assert_eq!(
        ex.request("GET", "/api/items/by-name/ink", None).text(),
        r#"{"id":2,"name":"ink","qty":7}"#
    );
    let r = ex.request("GET", "/api/items/9", None);
    assert_eq!(r.status, 404);
    assert_eq!(r.text(), r#"{"error":404,"message":"Not Found"}"#);
    assert_eq!(ex.request("DELETE", "/api/items/1", None).status, 204);
    assert_eq!(ex.request("GET", "/api/items/1", None).status, 404);
    assert_eq!(ex.request("PUT", "/api/items/2", Some("")).status, 405);
}

#[test]
fn chat_example_long_polls() {
    let ex = Example::start("chat", &["--poll-timeout", "0.2"]);
    // A poll with nothing new is answered by the loop timer, empty.
    assert_eq!(
        ex.request("GET", "/poll?cursor=0", None).text(),
        r#"{"messages":[],"cursor":0}"#
    );
    // A parked poll is answered by the worker thread that handles the POST.
    let ex = Example::start("chat", &["--poll-timeout", "60"]);
    let mut waiting = Client::connect(ex.port);
    send(&mut waiting, "GET", "/poll?cursor=0", None);
    // Whether the poll is parked before the POST arrives or not (two connections: no order
    // is promised), the waiting client gets the message.
    let r = ex.request("POST", "/message", Some("text=hello%20%22world%22"));
    assert_eq!(r.text(), r#"{"id":1}"#);
    assert_eq!(
        waiting.response().text(),
        r#"{"messages":[{"id":1,"text":"hello \"world\""}],"cursor":1}"#
    );
    let r = ex.request("GET", "/poll?cursor=0", None);
    assert_eq!(
        r.text(),
        r#"{"messages":[{"id":1,"text":"hello \"world\""}],"cursor":1}"#
    );
    assert_eq!(ex.request("POST", "/message", Some("text=")).status, 400);
}

#[test]
fn chat_example_websocket_mode() {
    let ex = Example::start("chat", &["--poll-timeout", "60"]);
    let mut a = WsClient::connect(ex.port, "/socket");
    let mut b = WsClient::connect(ex.port, "/socket");
    a.text("from a socket");
    // Both sockets get it (pushed from the loop thread)...
    assert_eq!(a.recv_text(), r#"{"id":1,"text":"from a socket"}"#);
    assert_eq!(b.recv_text(), r#"{"id":1,"text":"from a socket"}"#);
    // ...and so does a long poll; a POST (published from a worker thread) reaches the sockets.
    assert_eq!(
        ex.request("GET", "/poll?cursor=0", None).text(),
        r#"{"messages":[{"id":1,"text":"from a socket"}],"cursor":1}"#
    );
    assert_eq!(
        ex.request("POST", "/message", Some("text=posted")).text(),
        r#"{"id":2}"#
    );
    assert_eq!(b.recv_text(), r#"{"id":2,"text":"posted"}"#);
    assert_eq!(a.recv_text(), r#"{"id":2,"text":"posted"}"#);
}

#[test]
fn fetch_example_prints_each_outcome() {
    let srv = common::Server::start(|_, app| {
        app.route("/page")
            .unwrap()
            .get(|_, res| res.write("twelve bytes"));
        app.route("/old")
            .unwrap()
            .get(|_, res| res.redirect("/page", 301));
    });
    let refused = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let base = format!("http://127.0.0.1:{}", srv.port);
    let urls = [
        format!("{}/old", base),
        format!("{}/missing", base),
        format!("http://127.0.0.1:{}/", refused),
        "nope://x".to_owned(),
    ];
    let mut path: PathBuf = std::env::current_exe().unwrap();
    path.pop();
    path.pop();
    path.push("examples");
    path.push("fetch");
    let out = Command::new(&path).args(&urls).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "a fetch failed");
    let mut lines: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect();
    lines.sort();
    let mut expected = vec![
        format!("{}/old 200 OK 12 bytes {}/page", base, base),
        format!("{}/missing 404 Not Found 69 bytes {}/missing", base, base),
        format!("{} error EDDY_ECONNREFUSED", urls[2]),
        "nope://x error EDDY_EINVAL".to_owned(),
    ];
    expected.sort();
    assert_eq!(lines, expected);
}
