//! eddy for Rust: an embeddable asynchronous web server (Tornado's architecture) over eddy's
//! C API, with closures as handlers, the HTTP server without the web layer ([`HttpServer`],
//! one closure for every request), its asynchronous HTTP client ([`HttpClient`]), and raw TCP
//! ([`TcpServer`], [`Stream`], [`connect`]; Tornado's TCPServer, IOStream and TCPClient) with
//! the process helpers ([`bind_socket`], [`fork_processes`]) and child processes whose pipes
//! are streams ([`process::Subprocess`], Tornado's `process.Subprocess`).
//!
//! ```no_run
//! use eddy::{App, Loop};
//! let lp = Loop::new().unwrap();
//! let mut app = App::new(&lp).unwrap();
//! app.route("/hello/([a-z]+)").unwrap().get(|req, res| {
//!     res.set_header("Content-Type", "text/plain")?;
//!     res.write(format!("Hello, {}!", req.path_arg(0).unwrap_or("")))
//! });
//! app.listen("127.0.0.1", 8080).unwrap();
//! lp.run().unwrap();
//! ```
//!
//! Rules the types enforce:
//! - A [`Loop`] and its [`App`] stay on the thread that created them (they are not `Send`);
//!   other threads use a [`Remote`] (posts closures, stops the loop), a [`Deferred`] or a
//!   [`ShutdownHandle`] (asks for the App's graceful shutdown, [`App::shutdown`]).
//! - [`Request`] and [`Response`] exist only during one callback: what a closure reads from
//!   them cannot outlive the callback. Finishing takes effect when the callback returns, so
//!   a string read before `finish()` stays valid until then. To answer later, `detach()` the
//!   response: the [`Deferred`] it gives is `Send` and finishes it through the loop thread.
//! - A panic or an `Err` in a closure is caught at the C boundary: a 500 and a log line;
//!   the loop goes on.
//!
//! Using the request after it was released is impossible in safe code:
//! ```compile_fail,E0521
//! use std::cell::RefCell;
//! use std::rc::Rc;
//! let lp = eddy::Loop::new().unwrap();
//! let mut app = eddy::App::new(&lp).unwrap();
//! let kept: Rc<RefCell<Option<&'static str>>> = Rc::new(RefCell::new(None));
//! let k = kept.clone();
//! app.route("/").unwrap().get(move |req, _res| {
//!     *k.borrow_mut() = Some(req.path()); // error: `req` does not live long enough
//!     Ok(())
//! });
//! ```
//! And a [`Response`] cannot go to another thread (only a [`Deferred`] can):
//! ```compile_fail,E0277
//! let lp = eddy::Loop::new().unwrap();
//! let mut app = eddy::App::new(&lp).unwrap();
//! app.route("/").unwrap().get(|_req, res| {
//!     std::thread::scope(|s| { s.spawn(|| res.write("x")); }); // error: Response is not Send
//!     Ok(())
//! });
//! ```

mod app;
mod boundary;
mod connect_error;
mod deferred;
mod detailed_error;
mod dispatch;
mod error;
mod event_loop;
mod executor;
mod fetch_error;
mod host_mapping;
mod http_client;
mod http_request;
mod http_response;
mod http_server;
mod periodic;
pub mod process;
mod request;
mod response;
mod stream;
mod tcp_client;
mod tcp_server;
mod tls;
mod websocket;
mod ws_client;

pub use app::{App, Route, Server, ServerId, ShutdownHandle};
pub use connect_error::ConnectError;
pub use deferred::Deferred;
pub use error::{Error, Result};
pub use event_loop::{CallId, Loop, Remote, WeakLoop, SIGINT, SIGTERM};
pub use executor::{WorkError, WorkId};
pub use fetch_error::FetchError;
pub use http_client::{FetchHandle, FlushCallback, HttpClient};
pub use http_request::HttpRequest;
pub use http_response::{HttpHeaders, HttpResponse};
pub use http_server::{AccessEntry, HttpServer, PausedBody, ServerDeferred, ServerResponse};
pub use periodic::{PeriodicCallback, PeriodicHandle};
pub use process::{bind_socket, cpu_count, fork_processes, socket_port, task_id};
pub use request::{HttpFile, Request};
pub use response::{CookieOptions, Response};
pub use stream::{Stream, WriteCallback};
pub use tcp_client::{connect, connect_tls, ConnectOptions, Family};
pub use tcp_server::TcpServer;
pub use tls::{TlsContext, Verify};
pub use websocket::{Message, WebSocket, WebSocketHandler, WsSender};
pub use ws_client::WebSocketClient;

/// The version of the libeddy that is running, e.g. "0.1.0".
pub fn version() -> &'static str {
    // SAFETY: a static NUL-terminated string.
    unsafe { std::ffi::CStr::from_ptr(eddy_sys::eddy_version_string()) }
        .to_str()
        .unwrap_or("")
}
