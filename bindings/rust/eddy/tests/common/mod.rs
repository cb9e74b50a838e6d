//! Test helpers: a server on its own thread (its own Loop), and a minimal HTTP/1.1 client over
//! std::net::TcpStream. Every read has a timeout, so no test can hang.
#![allow(dead_code)]

pub mod certs;
pub mod tcp;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use std::cell::RefCell;
use std::rc::Rc;

use eddy::{App, HttpServer, Loop, Remote, Request, ServerResponse, WebSocketClient};

pub const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// A running server: stopped and joined on drop.
pub struct Server {
    pub port: u16,
    pub remote: Remote,
    thread: Option<thread::JoinHandle<()>>,
}

impl Server {
    /// Starts a loop thread, lets `setup` add routes, listens on 127.0.0.1, port 0.
    pub fn start(setup: impl FnOnce(&Loop, &mut App) + Send + 'static) -> Server {
        let (tx, rx) = mpsc::channel();
        let thread = thread::spawn(move || {
            let lp = Loop::new().expect("loop");
            let mut app = App::new(&lp).expect("app");
            setup(&lp, &mut app);
            app.listen("127.0.0.1", 0).expect("listen");
            tx.send((app.port().expect("port"), lp.remote())).unwrap();
            lp.run().expect("run");
            drop(app);
        });
        let (port, remote) = rx.recv_timeout(IO_TIMEOUT).expect("server start");
        Server {
            port,
            remote,
            thread: Some(thread),
        }
    }

    pub fn connect(&self) -> Client {
        Client::connect(self.port)
    }

    /// One request on a fresh connection.
    pub fn get(&self, target: &str) -> Response {
        let mut c = self.connect();
        c.send(&format!("GET {} HTTP/1.1\r\nHost: t\r\n\r\n", target));
        c.response()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        stop_and_join(&self.remote, self.thread.take());
    }
}

/// Stops a server's loop and joins its thread; a panic there fails the test (unless the test
/// is panicking already).
fn stop_and_join(remote: &Remote, thread: Option<thread::JoinHandle<()>>) {
    remote.stop();
    if let Some(t) = thread {
        if t.join().is_err() && !thread::panicking() {
            panic!("server thread panicked");
        }
    }
}

/// An HttpServer (eddy's HTTP server without the web layer) on its own loop thread
/// (127.0.0.1, port 0): stopped and joined on drop.
pub struct RawServer {
    pub port: u16,
    pub remote: Remote,
    thread: Option<thread::JoinHandle<()>>,
}

impl RawServer {
    pub fn start<F>(f: F) -> RawServer
    where
        F: Fn(&Request<'_>, &mut ServerResponse<'_>) -> eddy::Result<()> + Send + 'static,
    {
        RawServer::start_with(|_| {}, f)
    }

    /// `setup` configures the server before it listens.
    pub fn start_with<S, F>(setup: S, f: F) -> RawServer
    where
        S: FnOnce(&mut HttpServer) + Send + 'static,
        F: Fn(&Request<'_>, &mut ServerResponse<'_>) -> eddy::Result<()> + Send + 'static,
    {
        let (tx, rx) = mpsc::channel();
        let thread = thread::spawn(move || {
            let lp = Loop::new().expect("loop");
            let mut server = HttpServer::new(&lp, f).expect("server");
            setup(&mut server);
            server.listen("127.0.0.1", 0).expect("listen");
            tx.send((server.port().expect("port"), lp.remote()))
                .unwrap();
            lp.run().expect("run");
            drop(server);
        });
        let (port, remote) = rx.recv_timeout(IO_TIMEOUT).expect("server start");
        RawServer {
            port,
            remote,
            thread: Some(thread),
        }
    }

    pub fn connect(&self) -> Client {
        Client::connect(self.port)
    }

    /// `GET /` on a fresh connection.
    pub fn get(&self) -> Response {
        let mut c = self.connect();
        c.send("GET / HTTP/1.1\r\nHost: t\r\n\r\n");
        c.response()
    }
}

impl Drop for RawServer {
    fn drop(&mut self) {
        stop_and_join(&self.remote, self.thread.take());
    }
}

#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(|s| s.as_str())
    }
}

/// Reads one byte from a connection whose read timeout is set: true when the server ended it
/// (EOF or a reset), false when bytes arrive or the wait times out.
fn peer_closed(reader: &mut BufReader<TcpStream>) -> bool {
    let mut byte = [0u8; 1];
    match reader.read(&mut byte) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => !matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ),
    }
}

pub struct Client {
    reader: BufReader<TcpStream>,
}

impl Client {
    pub fn connect(port: u16) -> Client {
        let s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        s.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
        Client {
            reader: BufReader::new(s),
        }
    }

    pub fn send(&mut self, raw: &str) {
        self.reader
            .get_mut()
            .write_all(raw.as_bytes())
            .expect("write");
    }

    pub fn send_bytes(&mut self, raw: &[u8]) {
        self.reader.get_mut().write_all(raw).expect("write");
    }

    pub fn close(self) {
        let _ = self.reader.get_ref().shutdown(std::net::Shutdown::Both);
    }

    /// Waits (up to IO_TIMEOUT) for the server to close the connection: true on EOF or a
    /// reset, false when bytes arrive or the wait times out.
    pub fn closed(&mut self) -> bool {
        peer_closed(&mut self.reader)
    }

    /// Reads exactly `buf.len()` raw bytes (no framing: a HEAD answer's head, say).
    pub fn read_exact(&mut self, buf: &mut [u8]) {
        self.reader.read_exact(buf).expect("read");
    }

    /// Every byte until the server ends the connection (a reset or the read timeout ends it
    /// too: what arrived before is kept).
    pub fn rest(&mut self) -> Vec<u8> {
        let mut got = Vec::new();
        let _ = self.reader.read_to_end(&mut got);
        got
    }

    fn line(&mut self) -> String {
        let mut l = String::new();
        self.reader.read_line(&mut l).expect("read line");
        l.trim_end_matches(&['\r', '\n'][..]).to_owned()
    }

    /// Reads one response (Content-Length or chunked framing).
    pub fn response(&mut self) -> Response {
        let status_line = self.line();
        let status = status_line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("bad status line {:?}", status_line));
        let mut headers = HashMap::new();
        loop {
            let l = self.line();
            if l.is_empty() {
                break;
            }
            let (name, value) = l.split_once(':').expect("header line");
            headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_owned());
        }
        let mut body = Vec::new();
        if headers
            .get("transfer-encoding")
            .map(|v| v == "chunked")
            .unwrap_or(false)
        {
            loop {
                let size = usize::from_str_radix(self.line().trim(), 16).expect("chunk size");
                let mut chunk = vec![0; size];
                self.reader.read_exact(&mut chunk).expect("chunk");
                self.line();
                if size == 0 {
                    break;
                }
                body.extend_from_slice(&chunk);
            }
        } else if let Some(len) = headers.get("content-length") {
            body.resize(len.parse().expect("content-length"), 0);
            self.reader.read_exact(&mut body).expect("body");
        }
        Response {
            status,
            headers,
            body,
        }
    }
}

/// A minimal RFC 6455 client: masked frames of any length; the handshake is checked against
/// the RFC's own key/accept example.
pub struct WsClient {
    reader: BufReader<TcpStream>,
}

impl WsClient {
    pub fn connect(port: u16, path: &str) -> WsClient {
        let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        s.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
        let mut reader = BufReader::new(s);
        reader
            .get_mut()
            .write_all(
                format!(
                    "GET {} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                     Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
                    path, port
                )
                .as_bytes(),
            )
            .unwrap();
        let mut status = String::new();
        reader.read_line(&mut status).unwrap();
        assert!(status.starts_with("HTTP/1.1 101"), "{}", status);
        let mut accept = None;
        loop {
            let mut l = String::new();
            reader.read_line(&mut l).unwrap();
            if l.trim().is_empty() {
                break;
            }
            if let Some((n, v)) = l.split_once(':') {
                if n.eq_ignore_ascii_case("sec-websocket-accept") {
                    accept = Some(v.trim().to_owned());
                }
            }
        }
        // RFC 6455 §1.3: this key's accept value.
        assert_eq!(accept.as_deref(), Some("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="));
        WsClient { reader }
    }

    pub fn send(&mut self, opcode: u8, payload: &[u8]) {
        let mask = [0x12u8, 0x34, 0x56, 0x78];
        let mut frame = vec![0x80 | opcode];
        match payload.len() {
            n if n < 126 => frame.push(0x80 | n as u8),
            n if n < 1 << 16 => {
                frame.push(0x80 | 126);
                frame.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                frame.push(0x80 | 127);
                frame.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        frame.extend_from_slice(&mask);
        frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        self.reader.get_mut().write_all(&frame).unwrap();
    }

    pub fn text(&mut self, s: &str) {
        self.send(1, s.as_bytes());
    }

    /// (opcode, payload) of the next frame.
    pub fn recv(&mut self) -> (u8, Vec<u8>) {
        let mut head = [0u8; 2];
        self.reader.read_exact(&mut head).unwrap();
        let mut len = u64::from(head[1] & 0x7f);
        if len == 126 {
            let mut ext = [0u8; 2];
            self.reader.read_exact(&mut ext).unwrap();
            len = u64::from(u16::from_be_bytes(ext));
        } else if len == 127 {
            let mut ext = [0u8; 8];
            self.reader.read_exact(&mut ext).unwrap();
            len = u64::from_be_bytes(ext);
        }
        let mut payload = vec![0; len as usize];
        self.reader.read_exact(&mut payload).unwrap();
        (head[0] & 0x0f, payload)
    }

    /// Whether the server ended the TCP connection (EOF or a reset) rather than sending more
    /// (bounded by IO_TIMEOUT, then false).
    pub fn closed(&mut self) -> bool {
        peer_closed(&mut self.reader)
    }

    pub fn recv_text(&mut self) -> String {
        let (op, p) = self.recv();
        assert_eq!(op, 1, "expected a text frame, got opcode {} {:?}", op, p);
        String::from_utf8(p).unwrap()
    }
}

/// Runs curl (bounded: 10 s) with `args`; its exit code and what it printed.
pub fn curl(args: &[&str]) -> (i32, String) {
    let out = std::process::Command::new("curl")
        .args(["-sS", "--max-time", "10"])
        .args(args)
        .output()
        .expect("curl");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// Runs `lp` until a closure stops it, bounded: a missing callback fails the test instead of
/// hanging it. The bound holds a weak handle, so it counts as no handle of the loop (a test of
/// Loop::close, refused while another handle exists, may use it too).
pub fn run_bounded(lp: &Loop) {
    let stopper = lp.downgrade();
    let guard = lp
        .call_later(10.0, move || stopper.upgrade().unwrap().stop())
        .unwrap();
    lp.run().unwrap();
    let _ = lp.cancel(guard);
}

/// Connects `client` to `url` on a fresh loop and returns what it saw: "connected" with the
/// subprotocol, the first message (then it closes), or the refusal and the error.
pub fn client_outcome(client: WebSocketClient, url: &str) -> Vec<String> {
    let lp = Loop::new().unwrap();
    let events = Rc::new(RefCell::new(Vec::new()));
    let (refused, connected, message, stop_err, stop_close) = (
        events.clone(),
        events.clone(),
        events.clone(),
        lp.clone(),
        lp.clone(),
    );
    client
        .connect_timeout(5.0)
        .on_refused(move |status, _| refused.borrow_mut().push(format!("refused {}", status)))
        .on_connect(move |outcome| {
            match outcome {
                Ok(ws) => connected
                    .borrow_mut()
                    .push(format!("connected {:?}", ws.subprotocol())),
                Err(e) => {
                    connected.borrow_mut().push(format!("error {}", e.name()));
                    stop_err.stop();
                }
            }
            Ok(())
        })
        .on_message(move |ws, msg| {
            message.borrow_mut().push(format!("{:?}", msg));
            ws.close(1000, "")
        })
        .on_close(move |_, _, _| {
            stop_close.stop();
            Ok(())
        })
        .connect(&lp, url)
        .unwrap();
    run_bounded(&lp);
    let seen = events.borrow().clone();
    seen
}
