//! WebSocket routes over real sockets, with the minimal RFC 6455 client of tests/common.
mod common;

use std::sync::{Arc, Mutex};
use std::thread;

use common::{Server, WsClient};
use eddy::{Message, WebSocketHandler};

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
