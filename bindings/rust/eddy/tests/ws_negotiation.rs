//! What a WebSocket handshake negotiates, between eddy's client (WebSocketClient) and a route:
//! the subprotocol (select_subprotocol / subprotocol), the origin check (check_origin), and
//! pongs answering each side's own pings (on_pong), over real sockets.
mod common;

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::{Arc, Mutex};

use common::{client_outcome as outcome, run_bounded, Server};
use eddy::{Loop, Message, WebSocketClient, WebSocketHandler};

#[test]
fn subprotocol_chosen_by_the_server_is_seen_by_both_sides() {
    let offers = Arc::new(Mutex::new(Vec::new()));
    let seen = offers.clone();
    let srv = Server::start(move |_, app| {
        let handler = WebSocketHandler::new()
            .select_subprotocol(move |req, offered| {
                seen.lock()
                    .unwrap()
                    .push(format!("{} {:?}", req.path(), offered));
                if offered == ["out-of-range"] {
                    return Some(offered.len()); // a wrong index chooses none
                }
                offered.iter().position(|p| *p == "chat.v2")
            })
            .on_open(|ws| ws.send_text(&format!("server chose {:?}", ws.subprotocol())));
        app.route("/ws").unwrap().websocket(handler).unwrap();
        // Without select_subprotocol, no subprotocol is ever chosen.
        let plain = WebSocketHandler::new()
            .on_open(|ws| ws.send_text(&format!("server chose {:?}", ws.subprotocol())));
        app.route("/plain").unwrap().websocket(plain).unwrap();
    });
    let url = format!("ws://127.0.0.1:{}/ws", srv.port);
    let both = WebSocketClient::new()
        .subprotocol("chat.v1")
        .subprotocol("chat.v2");
    assert_eq!(
        outcome(both, &url),
        [
            "connected Some(\"chat.v2\")",
            "Text(\"server chose Some(\\\"chat.v2\\\")\")"
        ]
    );
    let other = WebSocketClient::new().subprotocol("other");
    assert_eq!(
        outcome(other, &url),
        ["connected None", "Text(\"server chose None\")"]
    );
    let wrong = WebSocketClient::new().subprotocol("out-of-range");
    assert_eq!(
        outcome(wrong, &url),
        ["connected None", "Text(\"server chose None\")"]
    );
    // None offered: the closure is not asked.
    assert_eq!(
        outcome(WebSocketClient::new(), &url),
        ["connected None", "Text(\"server chose None\")"]
    );
    let unasked = WebSocketClient::new().subprotocol("chat.v2");
    let plain_url = format!("ws://127.0.0.1:{}/plain", srv.port);
    assert_eq!(
        outcome(unasked, &plain_url),
        ["connected None", "Text(\"server chose None\")"]
    );
    assert_eq!(
        *offers.lock().unwrap(),
        [
            "/ws [\"chat.v1\", \"chat.v2\"]",
            "/ws [\"other\"]",
            "/ws [\"out-of-range\"]"
        ]
    );
}

#[test]
fn check_origin_refuses_a_foreign_origin_with_403() {
    let origins = Arc::new(Mutex::new(Vec::new()));
    let seen = origins.clone();
    let srv = Server::start(move |_, app| {
        // Same origin only: the Origin must name the Host the client asked for.
        let same = WebSocketHandler::new()
            .check_origin(move |req, origin| {
                seen.lock().unwrap().push(format!("{:?}", origin));
                origin == Some(format!("http://{}", req.host()).as_str())
            })
            .on_open(|ws| ws.send_text("welcome"));
        app.route("/same").unwrap().websocket(same).unwrap();
        // A closure that accepts everything replaces the default check (which refuses a
        // foreign Origin).
        let any = WebSocketHandler::new()
            .check_origin(|_, _| true)
            .on_open(|ws| ws.send_text("welcome"));
        app.route("/any").unwrap().websocket(any).unwrap();
        let panics = WebSocketHandler::new().check_origin(|_, _| panic!("boom in check_origin"));
        app.route("/panics").unwrap().websocket(panics).unwrap();
        app.route("/default")
            .unwrap()
            .websocket(WebSocketHandler::new())
            .unwrap();
    });
    let at = |path: &str| format!("ws://127.0.0.1:{}{}", srv.port, path);
    let from = |origin: &str| WebSocketClient::new().header("Origin", origin);
    let own = format!("http://127.0.0.1:{}", srv.port);
    let foreign = "http://evil.example";
    let refused = ["refused 403", "error EDDY_EPROTO"];
    let welcomed = ["connected None", "Text(\"welcome\")"];

    assert_eq!(outcome(from(&own), &at("/same")), welcomed);
    assert_eq!(outcome(from(foreign), &at("/same")), refused);
    assert_eq!(outcome(WebSocketClient::new(), &at("/same")), refused);
    assert_eq!(
        *origins.lock().unwrap(),
        [
            format!("Some({:?})", own),
            format!("Some({:?})", foreign),
            "None".to_owned()
        ]
    );
    assert_eq!(outcome(from(foreign), &at("/any")), welcomed);
    assert_eq!(outcome(from(foreign), &at("/default")), refused);
    assert_eq!(outcome(from(&own), &at("/panics")), refused);
}

#[test]
fn on_pong_sees_the_answers_to_each_sides_own_ping() {
    let srv = Server::start(|_, app| {
        let handler = WebSocketHandler::new()
            .on_open(|ws| ws.ping(b"from the server \x00\xff"))
            .on_pong(|ws, data| ws.send_binary(&[b"server got pong: ", data].concat()));
        app.route("/ws").unwrap().websocket(handler).unwrap();
    });
    let lp = Loop::new().unwrap();
    let events = Rc::new(RefCell::new(Vec::new()));
    let (pongs, messages, stopper) = (events.clone(), events.clone(), lp.clone());
    // Closes once both the pong and the server's message arrived (in either order).
    let done = |ws: &mut eddy::WebSocket<'_>, events: &Rc<RefCell<Vec<String>>>| {
        if events.borrow().len() == 2 {
            ws.close(1000, "")?;
        }
        Ok(())
    };
    WebSocketClient::new()
        .on_connect(|outcome| outcome?.ping(b"from the client"))
        .on_pong(move |ws, data| {
            pongs.borrow_mut().push(format!(
                "client got pong: {}",
                String::from_utf8_lossy(data)
            ));
            done(ws, &pongs)
        })
        .on_message(move |ws, msg| {
            if let Message::Binary(b) = msg {
                messages.borrow_mut().push(format!("{:?}", b));
            }
            done(ws, &messages)
        })
        .on_close(move |_, _, _| {
            stopper.stop();
            Ok(())
        })
        .connect(&lp, &format!("ws://127.0.0.1:{}/ws", srv.port))
        .unwrap();
    run_bounded(&lp);
    let mut seen = events.borrow().clone();
    seen.sort();
    let mut expected = vec![
        "client got pong: from the client".to_owned(),
        format!("{:?}", b"server got pong: from the server \x00\xff"),
    ];
    expected.sort();
    assert_eq!(seen, expected);
}
