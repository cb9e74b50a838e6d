//! WebSocket client (Tornado's `websocket_connect`, eddy_websocket_connect): closures for the
//! connect outcome, messages, pings, the close and a handshake the server refused.
use std::cell::RefCell;
use std::os::raw::{c_char, c_int, c_void};

use eddy_sys as sys;

use crate::boundary::{guard, log_error};
use crate::error::{check, Error, Result};
use crate::event_loop::{Loop, Remote};
use crate::websocket::{message_of, payload, ws_dispatch, Message, PingFn, WebSocket};

type ConnectFn = dyn FnOnce(std::result::Result<&mut WebSocket<'_>, Error>) -> Result<()>;
type MessageFn = dyn Fn(&mut WebSocket<'_>, Message<'_>) -> Result<()>;
type CloseFn = dyn Fn(&mut WebSocket<'_>, u16, &str) -> Result<()>;
type RefusedFn = dyn FnOnce(u16, &str);

/// A WebSocket client connection to open with [`WebSocketClient::connect`]. Every closure runs
/// on the loop thread; a panic or an `Err` from one is logged and, on an open connection,
/// closes it with 1011.
#[derive(Default)]
pub struct WebSocketClient {
    connect: Option<Box<ConnectFn>>,
    message: Option<Box<MessageFn>>,
    close: Option<Box<CloseFn>>,
    ping: Option<Box<PingFn>>,
    refused: Option<Box<RefusedFn>>,
    headers: Vec<(String, String)>,
    max_message_size: Option<usize>,
    compression: bool,
    connect_timeout: Option<f64>,
}

/// What the C callbacks get as userdata: the closures and the loop's Remote (for `sender()`).
/// eddy releases it (free_client) after the close callback, or after a failed connect.
struct ClientCallbacks {
    remote: Remote,
    connect: RefCell<Option<Box<ConnectFn>>>,
    refused: RefCell<Option<Box<RefusedFn>>>,
    message: Option<Box<MessageFn>>,
    close: Option<Box<CloseFn>>,
    ping: Option<Box<PingFn>>,
}

impl WebSocketClient {
    pub fn new() -> WebSocketClient {
        WebSocketClient::default()
    }
    /// Runs once with the outcome: the open connection, or the error (`Error::PROTOCOL` when
    /// the server refused or broke the handshake, `Error::TIMED_OUT`, a refused port, ...).
    pub fn on_connect(
        mut self,
        f: impl FnOnce(std::result::Result<&mut WebSocket<'_>, Error>) -> Result<()> + 'static,
    ) -> Self {
        self.connect = Some(Box::new(f));
        self
    }
    /// Runs for each whole message from the server.
    pub fn on_message(mut self, f: impl Fn(&mut WebSocket<'_>, Message<'_>) -> Result<()> + 'static) -> Self {
        self.message = Some(Box::new(f));
        self
    }
    /// Runs once when an opened connection closed, with the close code and reason.
    pub fn on_close(mut self, f: impl Fn(&mut WebSocket<'_>, u16, &str) -> Result<()> + 'static) -> Self {
        self.close = Some(Box::new(f));
        self
    }
    /// Runs for each ping the server sends, with its payload, after eddy has queued the
    /// automatic pong (Tornado's `on_ping(data)`).
    pub fn on_ping(mut self, f: impl Fn(&mut WebSocket<'_>, &[u8]) -> Result<()> + 'static) -> Self {
        self.ping = Some(Box::new(f));
        self
    }
    /// Runs once when the server answered the handshake with an HTTP status other than 101
    /// (403 from an origin check, 404, a plain page, ...), with that status and its reason
    /// phrase, just before `on_connect` gets `Error::PROTOCOL` (Tornado raises
    /// `HTTPClientError(status)` there). Not called for other handshake failures.
    pub fn on_refused(mut self, f: impl FnOnce(u16, &str) + 'static) -> Self {
        self.refused = Some(Box::new(f));
        self
    }
    /// Adds a header to the handshake request (Origin, Cookie, Authorization, ...).
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }
    /// Largest message accepted (default 10 MiB); bigger ones close with 1009.
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.max_message_size = Some(bytes);
        self
    }
    /// Offer permessage-deflate.
    pub fn compression(mut self, on: bool) -> Self {
        self.compression = on;
        self
    }
    /// How long the TCP connect plus the handshake may take (default 20 s).
    pub fn connect_timeout(mut self, seconds: f64) -> Self {
        self.connect_timeout = Some(seconds);
        self
    }

    /// Starts connecting to `url` (`ws://host[:port][/path][?query]`) from `lp`; the outcome
    /// comes to `on_connect` later, from the loop. Err(INVALID) for a bad URL or header (no
    /// closure runs then).
    pub fn connect(self, lp: &Loop, url: &str) -> Result<()> {
        // SAFETY: a fresh options object, freed below on every path.
        let opts = unsafe { sys::eddy_ws_options_new() };
        if opts.is_null() {
            return Err(Error::NO_MEMORY);
        }
        let rc = self.fill(opts).and_then(|()| {
            let cbs = ClientCallbacks {
                remote: lp.remote(),
                connect: RefCell::new(self.connect),
                refused: RefCell::new(self.refused),
                message: self.message,
                close: self.close,
                ping: self.ping,
            };
            let ud = Box::into_raw(Box::new(cbs)) as *mut c_void;
            // SAFETY: live loop and options; eddy copies the URL and options. On success ud
            // is released by free_client exactly once; on a synchronous error it stays ours.
            let rc = unsafe {
                sys::eddy_websocket_connect(
                    lp.as_ptr(),
                    url.as_ptr() as *const c_char,
                    url.len(),
                    opts,
                    Some(client_connect),
                    Some(client_message),
                    Some(client_close),
                    ud,
                    Some(free_client),
                )
            };
            if rc < 0 {
                // SAFETY: C did not take ud.
                drop(unsafe { Box::from_raw(ud as *mut ClientCallbacks) });
            }
            check(rc)
        });
        // SAFETY: created above.
        unsafe { sys::eddy_ws_options_free(opts) };
        rc
    }

    fn fill(&self, opts: *mut sys::eddy_ws_options) -> Result<()> {
        // SAFETY: live options; strings are copied by eddy.
        unsafe {
            if let Some(n) = self.max_message_size {
                check(sys::eddy_ws_options_set_max_message_size(opts, n))?;
            }
            if self.compression {
                check(sys::eddy_ws_options_set_compression(opts, sys::EDDY_WS_DEFLATE, 0))?;
            }
            if let Some(s) = self.connect_timeout {
                check(sys::eddy_ws_options_set_connect_timeout(opts, s))?;
            }
            for (name, value) in &self.headers {
                check(sys::eddy_ws_options_add_header(
                    opts,
                    name.as_ptr() as *const c_char,
                    name.len(),
                    value.as_ptr() as *const c_char,
                    value.len(),
                ))?;
            }
            if self.ping.is_some() {
                check(sys::eddy_ws_options_set_on_ping(opts, Some(client_ping)))?;
            }
            if self.refused.is_some() {
                check(sys::eddy_ws_options_set_on_refused(opts, Some(client_refused)))?;
            }
        }
        Ok(())
    }
}

unsafe fn client<'x>(ud: *mut c_void) -> &'x ClientCallbacks {
    // SAFETY (callers): ud is the Box made in connect, alive until free_client.
    &*(ud as *const ClientCallbacks)
}

/// Runs a closure that has no connection to close: a panic is logged.
fn run_logged(kind: &str, f: impl FnOnce() -> Result<()>) {
    let failure = match guard(f) {
        Ok(Ok(())) => None,
        Ok(Err(e)) => Some(format!("returned an error: {}", e)),
        Err(msg) => Some(format!("panicked: {}", msg)),
    };
    if let Some(why) = failure {
        log_error(&format!("rust {} {}", kind, why));
    }
}

unsafe extern "C" fn client_connect(ws: *mut sys::eddy_ws, status: c_int, ud: *mut c_void) {
    let cbs = client(ud);
    let f = cbs.connect.borrow_mut().take();
    if let Some(f) = f {
        if status == 0 && !ws.is_null() {
            ws_dispatch(ws, &cbs.remote, "websocket client on_connect", true, |s| f(Ok(s)));
        } else {
            run_logged("websocket client on_connect", || f(Err(Error::from_code(status))));
        }
    }
}

unsafe extern "C" fn client_refused(status: c_int, reason: *const c_char, len: usize, ud: *mut c_void) {
    let cbs = client(ud);
    let f = cbs.refused.borrow_mut().take();
    if let Some(f) = f {
        let reason = String::from_utf8_lossy(payload(reason, len));
        let status = u16::try_from(status).unwrap_or(0);
        run_logged("websocket client on_refused", || {
            f(status, &reason);
            Ok(())
        });
    }
}

unsafe extern "C" fn client_message(ws: *mut sys::eddy_ws, data: *const c_char, len: usize, binary: c_int, ud: *mut c_void) {
    let cbs = client(ud);
    if let Some(f) = &cbs.message {
        let msg = message_of(data, len, binary);
        ws_dispatch(ws, &cbs.remote, "websocket client on_message", true, |s| f(s, msg));
    }
}

unsafe extern "C" fn client_ping(ws: *mut sys::eddy_ws, data: *const c_char, len: usize, ud: *mut c_void) {
    let cbs = client(ud);
    if let Some(f) = &cbs.ping {
        let data = payload(data, len);
        ws_dispatch(ws, &cbs.remote, "websocket client on_ping", true, |s| f(s, data));
    }
}

unsafe extern "C" fn client_close(ws: *mut sys::eddy_ws, code: c_int, reason: *const c_char, len: usize, ud: *mut c_void) {
    let cbs = client(ud);
    if let Some(f) = &cbs.close {
        let reason = String::from_utf8_lossy(payload(reason, len));
        let code = u16::try_from(code).unwrap_or(1006);
        ws_dispatch(ws, &cbs.remote, "websocket client on_close", false, |s| f(s, code, &reason));
    }
}

unsafe extern "C" fn free_client(ud: *mut c_void) {
    // SAFETY: the Box made in connect; eddy frees it once. A panicking Drop is stopped here.
    let cbs = Box::from_raw(ud as *mut ClientCallbacks);
    if guard(move || drop(cbs)).is_err() {
        log_error("dropping a WebSocket client's closures panicked");
    }
}
