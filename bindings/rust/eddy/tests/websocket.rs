//! WebSocket routes over real sockets, with a minimal RFC 6455 client written here (masked
//! frames; the handshake checked against the RFC's own key/accept example).
mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Mutex};
use std::thread;

use common::{Server, IO_TIMEOUT};
use eddy::{Message, WebSocketHandler};

struct WsClient {
    reader: BufReader<TcpStream>,
}

impl WsClient {
    fn connect(port: u16, path: &str) -> WsClient {
        let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
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

    fn send(&mut self, opcode: u8, payload: &[u8]) {
        assert!(payload.len() < 126);
        let mask = [0x12u8, 0x34, 0x56, 0x78];
        let mut frame = vec![0x80 | opcode, 0x80 | payload.len() as u8];
        frame.extend_from_slice(&mask);
        frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        self.reader.get_mut().write_all(&frame).unwrap();
    }

    fn text(&mut self, s: &str) {
        self.send(1, s.as_bytes());
    }

    /// (opcode, payload) of the next frame.
    fn recv(&mut self) -> (u8, Vec<u8>) {
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

    fn recv_text(&mut self) -> String {
        let (op, p) = self.recv();
        assert_eq!(op, 1, "expected a text frame, got opcode {} {:?}", op, p);
        String::from_utf8(p).unwrap()
    }
}

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
        app.route("/ws/([a-z]+)").unwrap().websocket(handler).unwrap();
        app.route("/plain").unwrap().get(|_, res| res.write("plain"));
        app.route("/closes").unwrap().get(move |_, res| res.write(listed.lock().unwrap().join(",")));
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
