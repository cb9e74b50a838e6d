//! A long-polling chat: responses finished later, from worker threads and from timers.
//!
//!     chat [--port N] [--poll-timeout SECONDS]
//!
//!     POST /message  (form: text)   → handed to a worker thread, which stores the message,
//!                                     answers every waiting poll and then this request
//!                                     ({"id":N}), all from the worker thread.
//!     GET  /poll?cursor=N           → the messages with id > N at once, or (none yet) a long
//!                                     poll: parked until a message arrives or a loop timer
//!                                     answers {"messages":[]} after the poll timeout.
//!     GET  /socket                  → WebSocket: each text message sent is published like a
//!                                     POST; every published message is pushed to every socket
//!                                     as {"id":N,"text":...}.
//!     {"messages":[{"id":1,"text":"hi"},...],"cursor":1}
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::thread;

use eddy::{
    App, Deferred, Loop, Message, Response, Result, WebSocketHandler, WsSender, SIGINT, SIGTERM,
};

#[derive(Default)]
struct Chat {
    messages: Vec<String>,
    waiters: HashMap<u64, (usize, Deferred)>,
    next_waiter: u64,
    sockets: Vec<WsSender>,
}

/// Stores a message and answers everyone waiting for it; callable from any thread.
/// Returns the message's id.
fn publish(chat: &Mutex<Chat>, text: String) -> usize {
    let mut chat = chat.lock().unwrap_or_else(|e| e.into_inner());
    let pushed = format!(
        "{{\"id\":{},\"text\":{}}}",
        chat.messages.len() + 1,
        json_string(&text)
    );
    chat.messages.push(text);
    let waiters: Vec<(usize, Deferred)> = chat.waiters.drain().map(|(_, w)| w).collect();
    for (cursor, waiter) in waiters {
        let body = messages_json(&chat.messages, cursor);
        // Err only when the server is gone: nothing left to answer.
        let _ = waiter.finish(move |_, res| send_json(res, &body));
    }
    chat.sockets.retain(|s| !s.is_gone());
    for socket in &chat.sockets {
        let _ = socket.send_text(pushed.clone());
    }
    chat.messages.len()
}

fn json_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The messages after `cursor` (message ids start at 1).
fn messages_json(messages: &[String], cursor: usize) -> String {
    let items: Vec<String> = messages
        .iter()
        .enumerate()
        .skip(cursor)
        .map(|(i, text)| format!("{{\"id\":{},\"text\":{}}}", i + 1, json_string(text)))
        .collect();
    format!(
        "{{\"messages\":[{}],\"cursor\":{}}}",
        items.join(","),
        messages.len().max(cursor)
    )
}

fn send_json(res: &mut Response<'_>, body: &str) -> Result<()> {
    res.set_header("Content-Type", "application/json")?;
    res.set_header("Cache-Control", "no-store")?;
    res.write(body)
}

fn main() {
    let mut port: u16 = 8080;
    let mut poll_timeout = 20.0;
    let args: Vec<String> = std::env::args().skip(1).collect();
    for pair in args.chunks(2) {
        match (pair[0].as_str(), pair.get(1)) {
            ("--port", Some(v)) => port = v.parse().expect("--port N"),
            ("--poll-timeout", Some(v)) => {
                poll_timeout = v.parse().expect("--poll-timeout SECONDS")
            }
            _ => {
                eprintln!("usage: chat [--port N] [--poll-timeout SECONDS]");
                std::process::exit(2);
            }
        }
    }
    let lp = Loop::new().expect("loop");
    let mut app = App::new(&lp).expect("app");
    let chat = Arc::new(Mutex::new(Chat::default()));

    let c = chat.clone();
    app.route("/message").expect("route").post(move |req, res| {
        let text = match req.argument("text") {
            Some(t) if !t.is_empty() => t.to_owned(),
            _ => return res.send_error(400),
        };
        let reply = res.detach()?;
        let chat = c.clone();
        // The work (here: storing and fanning out) happens off the loop thread.
        thread::spawn(move || {
            let id = publish(&chat, text);
            let _ = reply.finish(move |_, res| send_json(res, &format!("{{\"id\":{}}}", id)));
        });
        Ok(())
    });

    let (c1, c2) = (chat.clone(), chat.clone());
    let sockets = WebSocketHandler::new()
        .on_open(move |ws| {
            let sender = ws.sender();
            c1.lock()
                .unwrap_or_else(|e| e.into_inner())
                .sockets
                .push(sender);
            Ok(())
        })
        .on_message(move |_, msg| {
            if let Message::Text(text) = msg {
                publish(&c2, text.to_owned());
            }
            Ok(())
        });
    app.route("/socket")
        .expect("route")
        .websocket(sockets)
        .expect("websocket");

    let (c, timers) = (chat, lp.clone());
    app.route("/poll").expect("route").get(move |req, res| {
        let cursor: usize = req
            .argument("cursor")
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let mut chat = c.lock().unwrap_or_else(|e| e.into_inner());
        if chat.messages.len() > cursor {
            return send_json(res, &messages_json(&chat.messages, cursor));
        }
        let id = chat.next_waiter;
        chat.next_waiter += 1;
        chat.waiters.insert(id, (cursor, res.detach()?));
        drop(chat);
        // Whoever takes the waiter out of the map answers it: a message or this timer.
        let chat = c.clone();
        timers.call_later(poll_timeout, move || {
            let waiter = chat
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .waiters
                .remove(&id);
            if let Some((cursor, waiter)) = waiter {
                let body = format!("{{\"messages\":[],\"cursor\":{}}}", cursor);
                let _ = waiter.finish(move |_, res| send_json(res, &body));
            }
        })?;
        Ok(())
    });

    app.listen("127.0.0.1", port).expect("listen");
    lp.stop_on_signals(&[SIGINT, SIGTERM]).expect("signals");
    println!("listening on 127.0.0.1:{}", app.port().unwrap_or(port));
    lp.run().expect("run");
}
