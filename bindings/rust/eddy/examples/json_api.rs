//! A JSON API with route captures (no serde here: the JSON is written by hand).
//!
//!     json_api [--port N]
//!
//!     GET    /api/items            → {"items":[{"id":1,"name":"pen","qty":3},...]}
//!     POST   /api/items            (form: name, qty) → 201 {"id":..,"name":..,"qty":..}
//!     GET    /api/items/<id>       → the item, or 404 {"error":404,"message":"Not Found"}
//!     DELETE /api/items/<id>       → 204
//!     GET    /api/items/by-name/<name>  (a named capture) → the item
use std::cell::RefCell;
use std::rc::Rc;

use eddy::{App, Loop, Request, Response, Result, SIGINT, SIGTERM};

struct Item {
    id: u64,
    name: String,
    qty: i64,
}

#[derive(Default)]
struct Store {
    items: Vec<Item>,
    next_id: u64,
}

/// A JSON string literal for `s` (RFC 8259 escaping).
fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn item_json(item: &Item) -> String {
    format!(
        "{{\"id\":{},\"name\":{},\"qty\":{}}}",
        item.id,
        json_string(&item.name),
        item.qty
    )
}

fn send_json(res: &mut Response<'_>, status: u16, body: &str) -> Result<()> {
    res.set_status(status)?;
    res.set_header("Content-Type", "application/json")?;
    res.write(body)
}

fn json_error(_req: &Request<'_>, res: &mut Response<'_>, status: u16) -> Result<()> {
    res.set_header("Content-Type", "application/json")?;
    let message = match status {
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        _ => "Error",
    };
    res.write(format!(
        "{{\"error\":{},\"message\":{}}}",
        status,
        json_string(message)
    ))
}

fn main() {
    let port: u16 = match std::env::args().nth(1).as_deref() {
        Some("--port") => std::env::args()
            .nth(2)
            .and_then(|p| p.parse().ok())
            .expect("--port N"),
        _ => 8080,
    };
    let lp = Loop::new().expect("loop");
    let mut app = App::new(&lp).expect("app");
    let store = Rc::new(RefCell::new(Store {
        items: Vec::new(),
        next_id: 1,
    }));

    let (s1, s2) = (store.clone(), store.clone());
    app.route("/api/items")
        .expect("route")
        .write_error(json_error)
        .get(move |_, res| {
            let body: Vec<String> = s1.borrow().items.iter().map(item_json).collect();
            send_json(res, 200, &format!("{{\"items\":[{}]}}", body.join(",")))
        })
        .post(move |req, res| {
            let name = req.argument("name").unwrap_or("").trim();
            let qty = req.argument("qty").unwrap_or("1").parse::<i64>();
            let qty = match (name.is_empty(), qty) {
                (false, Ok(q)) => q,
                _ => {
                    return send_json(
                        res,
                        400,
                        "{\"error\":400,\"message\":\"name and a numeric qty are required\"}",
                    )
                }
            };
            let mut store = s2.borrow_mut();
            let id = store.next_id;
            store.next_id += 1;
            store.items.push(Item {
                id,
                name: name.to_owned(),
                qty,
            });
            res.set_header("Location", &format!("/api/items/{}", id))?;
            send_json(
                res,
                201,
                &item_json(store.items.last().expect("just pushed")),
            )
        });

    let (s3, s4) = (store.clone(), store.clone());
    app.route("/api/items/([0-9]+)")
        .expect("route")
        .write_error(json_error)
        .get(move |req, res| {
            let id: u64 = req.path_arg(0).and_then(|s| s.parse().ok()).unwrap_or(0);
            match s3.borrow().items.iter().find(|i| i.id == id) {
                Some(item) => send_json(res, 200, &item_json(item)),
                None => res.send_error(404),
            }
        })
        .delete(move |req, res| {
            let id: u64 = req.path_arg(0).and_then(|s| s.parse().ok()).unwrap_or(0);
            let mut store = s4.borrow_mut();
            let before = store.items.len();
            store.items.retain(|i| i.id != id);
            if store.items.len() == before {
                return res.send_error(404);
            }
            res.set_status(204)
        });

    let s5 = store;
    app.route("/api/items/by-name/(?P<name>[^/]+)")
        .expect("route")
        .write_error(json_error)
        .get(move |req, res| {
            let name = req.path_kwarg("name").unwrap_or("");
            match s5.borrow().items.iter().find(|i| i.name == name) {
                Some(item) => send_json(res, 200, &item_json(item)),
                None => res.send_error(404),
            }
        });

    app.listen("127.0.0.1", port).expect("listen");
    lp.stop_on_signals(&[SIGINT, SIGTERM]).expect("signals");
    println!("listening on 127.0.0.1:{}", app.port().unwrap_or(port));
    lp.run().expect("run");
}
