//! Test helpers: a server on its own thread (its own Loop), and a minimal HTTP/1.1 client over
//! std::net::TcpStream. Every read has a timeout, so no test can hang.
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use eddy::{App, Loop, Remote};

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
        Server { port, remote, thread: Some(thread) }
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
        self.remote.stop();
        if let Some(t) = self.thread.take() {
            let failed = t.join().is_err();
            if failed && !thread::panicking() {
                panic!("server thread panicked");
            }
        }
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
        self.headers.get(&name.to_ascii_lowercase()).map(|s| s.as_str())
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
        Client { reader: BufReader::new(s) }
    }

    pub fn send(&mut self, raw: &str) {
        self.reader.get_mut().write_all(raw.as_bytes()).expect("write");
    }

    pub fn close(self) {
        let _ = self.reader.get_ref().shutdown(std::net::Shutdown::Both);
    }

    fn line(&mut self) -> String {
        let mut l = String::new();
        self.reader.read_line(&mut l).expect("read line");
        l.trim_end_matches(&['\r', '\n'][..]).to_owned()
    }

    /// Reads one response (Content-Length or chunked framing).
    pub fn response(&mut self) -> Response {
        let status_line = self.line();
        let status = status_line.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or_else(|| {
            panic!("bad status line {:?}", status_line)
        });
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
        if headers.get("transfer-encoding").map(|v| v == "chunked").unwrap_or(false) {
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
        Response { status, headers, body }
    }
}
