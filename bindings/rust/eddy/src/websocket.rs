//! WebSocket endpoints on routes (eddy/websocket.h): closures for open, message, ping and close,
//! a WebSocket view valid during one callback (also the client's, see ws_client.rs), and a Send
//! handle (WsSender) for other threads.
use std::marker::PhantomData;
use std::os::raw::{c_char, c_int, c_void};
use std::rc::Rc;
use std::sync::Arc;

use eddy_sys as sys;

use crate::boundary::{failure_of, guard, log_error};
use crate::deferred::{release_life, Life};
use crate::error::{check, Error, Result};
use crate::event_loop::Remote;
use crate::request::Request;

/// A whole message (reassembled, decompressed). Valid during the callback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Message<'m> {
    Text(&'m str),
    Binary(&'m [u8]),
}

type OpenFn = dyn Fn(&mut WebSocket<'_>) -> Result<()>;
type MessageFn = dyn Fn(&mut WebSocket<'_>, Message<'_>) -> Result<()>;
type CloseFn = dyn Fn(&mut WebSocket<'_>, u16, &str) -> Result<()>;
pub(crate) type PingFn = dyn Fn(&mut WebSocket<'_>, &[u8]) -> Result<()>;
type SelectFn = dyn Fn(&Request<'_>, &[&str]) -> Option<usize>;
type OriginFn = dyn Fn(&Request<'_>, Option<&str>) -> bool;

/// The closures and options of a WebSocket route, for [`crate::Route::websocket`].
#[derive(Default)]
pub struct WebSocketHandler {
    pub(crate) open: Option<Rc<OpenFn>>,
    pub(crate) message: Option<Rc<MessageFn>>,
    pub(crate) close: Option<Rc<CloseFn>>,
    pub(crate) on_ping: Option<Rc<PingFn>>,
    pub(crate) on_pong: Option<Rc<PingFn>>,
    pub(crate) select_subprotocol: Option<Rc<SelectFn>>,
    pub(crate) check_origin: Option<Rc<OriginFn>>,
    max_message_size: Option<usize>,
    max_message_memory: Option<usize>,
    compression: bool,
    compression_level: Option<i32>,
    mem_level: Option<i32>,
    ping: Option<(f64, f64)>,
}

impl WebSocketHandler {
    pub fn new() -> WebSocketHandler {
        WebSocketHandler::default()
    }
    /// Runs once the connection is open.
    pub fn on_open(mut self, f: impl Fn(&mut WebSocket<'_>) -> Result<()> + 'static) -> Self {
        self.open = Some(Rc::new(f));
        self
    }
    /// Runs for each whole message.
    pub fn on_message(
        mut self,
        f: impl Fn(&mut WebSocket<'_>, Message<'_>) -> Result<()> + 'static,
    ) -> Self {
        self.message = Some(Rc::new(f));
        self
    }
    /// Runs once when the connection closed, with the close code and reason (sending no
    /// longer works there).
    pub fn on_close(
        mut self,
        f: impl Fn(&mut WebSocket<'_>, u16, &str) -> Result<()> + 'static,
    ) -> Self {
        self.close = Some(Rc::new(f));
        self
    }
    /// Runs for each ping the client sends, with its payload (0 to 125 bytes), after eddy has
    /// queued the automatic pong (Tornado's `on_ping(data)`); not for pings that arrive once
    /// closing began.
    pub fn on_ping(
        mut self,
        f: impl Fn(&mut WebSocket<'_>, &[u8]) -> Result<()> + 'static,
    ) -> Self {
        self.on_ping = Some(Rc::new(f));
        self
    }
    /// Runs for each pong the client sends (answering [`WebSocket::ping`] or a keep-alive
    /// ping), with its payload (Tornado's `on_pong(data)`).
    pub fn on_pong(
        mut self,
        f: impl Fn(&mut WebSocket<'_>, &[u8]) -> Result<()> + 'static,
    ) -> Self {
        self.on_pong = Some(Rc::new(f));
        self
    }
    /// Picks the subprotocol from those the client offered (in its order; only called when it
    /// offered at least one): the index of the chosen one, or `None` for none (Tornado's
    /// `select_subprotocol`). Without this closure no subprotocol is chosen. A panic or an
    /// index out of range chooses none (and is logged).
    pub fn select_subprotocol(
        mut self,
        f: impl Fn(&Request<'_>, &[&str]) -> Option<usize> + 'static,
    ) -> Self {
        self.select_subprotocol = Some(Rc::new(f));
        self
    }
    /// Replaces the origin check (Tornado's `check_origin`): gets the handshake request and its
    /// Origin header (`None` without one) and returns whether to accept; refused handshakes
    /// get 403. The default accepts a missing Origin and one whose host\[:port\] is the Host
    /// header's. A panic refuses (and is logged).
    pub fn check_origin(
        mut self,
        f: impl Fn(&Request<'_>, Option<&str>) -> bool + 'static,
    ) -> Self {
        self.check_origin = Some(Rc::new(f));
        self
    }
    /// Largest message accepted (default 10 MiB); bigger ones close with 1009.
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.max_message_size = Some(bytes);
        self
    }
    /// Most bytes of messages being received held at once over all of this route's
    /// connections (default 1 GiB; 0: no limit). A message whose bytes would go over closes
    /// its connection with 1013 (Try Again Later). `max_message_size` bounds one message, not
    /// how many peers hold one half-sent; this keeps peers that each send most of a large
    /// message and stall from taking the process's memory.
    pub fn max_message_memory(mut self, bytes: usize) -> Self {
        self.max_message_memory = Some(bytes);
        self
    }
    /// Accept permessage-deflate when the client offers it.
    pub fn compression(mut self, on: bool) -> Self {
        self.compression = on;
        self
    }
    /// How this side compresses once permessage-deflate is negotiated (Tornado's
    /// `compression_options["compression_level"]`): zlib's level, 0 (stored blocks, no
    /// compression) to 9 (smallest), or -1 for the default (6). Another value makes
    /// [`crate::Route::websocket`] fail with `Error::INVALID`.
    pub fn compression_level(mut self, level: i32) -> Self {
        self.compression_level = Some(level);
        self
    }
    /// zlib's memLevel for this side's compressor (Tornado's `compression_options["mem_level"]`):
    /// 1 to 9, or 0 for the default (8); a lower one trades ratio for memory, a compressor
    /// holding about 2^(mem_level+9) bytes besides its window. Another value makes
    /// [`crate::Route::websocket`] fail with `Error::INVALID`.
    pub fn mem_level(mut self, level: i32) -> Self {
        self.mem_level = Some(level);
        self
    }
    /// Keep-alive pings every `interval` seconds; no pong within `timeout` drops the connection.
    pub fn ping(mut self, interval: f64, timeout: f64) -> Self {
        self.ping = Some((interval, timeout));
        self
    }

    /// Registers the endpoint on `route` (C options are built, copied by eddy, freed).
    pub(crate) fn install(&self, route: *mut sys::eddy_route) -> Result<()> {
        // SAFETY: a fresh options object, freed below on every path.
        let opts = unsafe { sys::eddy_ws_options_new() };
        if opts.is_null() {
            return Err(Error::NO_MEMORY);
        }
        let rc = (|| {
            // SAFETY: live options and route.
            unsafe {
                if let Some(n) = self.max_message_size {
                    check(sys::eddy_ws_options_set_max_message_size(opts, n))?;
                }
                if let Some(n) = self.max_message_memory {
                    check(sys::eddy_ws_options_set_max_message_memory(opts, n))?;
                }
                if self.compression {
                    check(sys::eddy_ws_options_set_compression(
                        opts,
                        sys::EDDY_WS_DEFLATE,
                        0,
                    ))?;
                }
                if self.compression_level.is_some() || self.mem_level.is_some() {
                    check(sys::eddy_ws_options_set_compression_level(
                        opts,
                        self.compression_level.unwrap_or(-1),
                        self.mem_level.unwrap_or(0),
                    ))?;
                }
                if let Some((interval, timeout)) = self.ping {
                    check(sys::eddy_ws_options_set_ping(opts, interval, timeout))?;
                }
                if self.on_ping.is_some() {
                    check(sys::eddy_ws_options_set_on_ping(opts, Some(ws_ping)))?;
                }
                if self.on_pong.is_some() {
                    check(sys::eddy_ws_options_set_on_pong(opts, Some(ws_pong)))?;
                }
                check(sys::eddy_route_set_websocket(
                    route,
                    Some(ws_open),
                    Some(ws_message),
                    Some(ws_close),
                    opts,
                ))?;
                if self.select_subprotocol.is_some() {
                    check(sys::eddy_route_set_ws_select_subprotocol(
                        route,
                        Some(ws_select_subprotocol),
                    ))?;
                }
                if self.check_origin.is_some() {
                    check(sys::eddy_route_set_ws_check_origin(
                        route,
                        Some(ws_check_origin),
                    ))?;
                }
                Ok(())
            }
        })();
        // SAFETY: created above.
        unsafe { sys::eddy_ws_options_free(opts) };
        rc
    }
}

/// A WebSocket connection during one of its callbacks.
pub struct WebSocket<'a> {
    ws: *mut sys::eddy_ws,
    remote: &'a Remote,
    _callback: PhantomData<&'a ()>,
}

impl<'a> WebSocket<'a> {
    /// # Safety
    /// `ws` is a live connection for the whole of `'a`, used on its loop's thread.
    pub(crate) unsafe fn new(ws: *mut sys::eddy_ws, remote: &'a Remote) -> WebSocket<'a> {
        WebSocket {
            ws,
            remote,
            _callback: PhantomData,
        }
    }
    fn write(&mut self, data: &[u8], binary: bool) -> Result<()> {
        // SAFETY: live connection during the callback; data copied by eddy.
        check(unsafe {
            sys::eddy_ws_write_message(
                self.ws,
                data.as_ptr() as _,
                data.len(),
                c_int::from(binary),
                None,
            )
        })
    }
    /// Sends a text message.
    pub fn send_text(&mut self, text: &str) -> Result<()> {
        self.write(text.as_bytes(), false)
    }
    /// Sends a binary message.
    pub fn send_binary(&mut self, data: &[u8]) -> Result<()> {
        self.write(data, true)
    }
    /// Sends a ping (at most 125 bytes).
    pub fn ping(&mut self, data: &[u8]) -> Result<()> {
        // SAFETY: live connection.
        check(unsafe { sys::eddy_ws_ping(self.ws, data.as_ptr() as _, data.len()) })
    }
    /// Starts the close handshake.
    pub fn close(&mut self, code: u16, reason: &str) -> Result<()> {
        // SAFETY: live connection.
        check(unsafe {
            sys::eddy_ws_close(
                self.ws,
                c_int::from(code),
                reason.as_ptr() as _,
                reason.len(),
            )
        })
    }
    /// True once closing has begun.
    pub fn is_closing(&self) -> bool {
        // SAFETY: live connection.
        unsafe { sys::eddy_ws_closing(self.ws) != 0 }
    }
    /// The negotiated subprotocol, `None` when none was.
    pub fn subprotocol(&self) -> Option<&str> {
        let mut len = 0;
        // SAFETY: live connection; the string lives as long as the handle, longer than `self`.
        let bytes = unsafe { payload(sys::eddy_ws_subprotocol(self.ws, &mut len), len) };
        match std::str::from_utf8(bytes) {
            Ok("") | Err(_) => None,
            Ok(name) => Some(name),
        }
    }
    /// True for a connection opened by [`crate::WebSocketClient`].
    pub fn is_client(&self) -> bool {
        // SAFETY: live connection.
        unsafe { sys::eddy_ws_is_client(self.ws) != 0 }
    }
    /// The handshake request (headers, path arguments, cookies) of a server connection.
    /// Panics on a client connection, which has none.
    pub fn request(&self) -> Request<'_> {
        assert!(
            !self.is_client(),
            "WebSocket::request: a client connection has no handshake request"
        );
        // SAFETY: the handler lives until the close callback returned, longer than `self`.
        unsafe { Request::new(sys::eddy_ws_handler(self.ws)) }
    }
    /// A `Send + Clone` handle that sends on this connection from any thread.
    pub fn sender(&mut self) -> WsSender {
        // SAFETY: live connection; only this crate sets its userdata (a Box<Arc<Life>>).
        let life = unsafe {
            let ud = sys::eddy_ws_get_userdata(self.ws);
            if ud.is_null() {
                let life = Life::new();
                let boxed = Box::into_raw(Box::new(life.clone()));
                sys::eddy_ws_set_userdata(self.ws, boxed as *mut c_void, Some(release_life));
                life
            } else {
                (*(ud as *const Arc<Life>)).clone()
            }
        };
        WsSender {
            ws: WsPtr(self.ws),
            life,
            remote: self.remote.clone(),
        }
    }
}

#[derive(Clone, Copy)]
struct WsPtr(*mut sys::eddy_ws);
// SAFETY: only dereferenced on the loop thread after checking the connection's Life.
unsafe impl Send for WsPtr {}
impl WsPtr {
    fn get(self) -> *mut sys::eddy_ws {
        self.0
    }
}

/// Sends on a WebSocket connection from any thread (posts to the loop thread). Once the
/// connection is closing or released, posted work is dropped quietly.
#[derive(Clone)]
pub struct WsSender {
    ws: WsPtr,
    life: Arc<Life>,
    remote: Remote,
}

impl WsSender {
    /// Runs `f` with the connection on the loop thread, if it is still open.
    /// Err(CLOSED) when the loop no longer exists.
    pub fn with(
        &self,
        f: impl FnOnce(&mut WebSocket<'_>) -> Result<()> + Send + 'static,
    ) -> Result<()> {
        let (ws, life, remote) = (self.ws, self.life.clone(), self.remote.clone());
        self.remote.call_soon(move || {
            let ws = ws.get();
            // SAFETY: loop thread; `released` says whether ws was freed.
            if life.released() || unsafe { sys::eddy_ws_closing(ws) } != 0 {
                return;
            }
            // SAFETY: open connection on its loop thread.
            unsafe { ws_dispatch(ws, &remote, "websocket sender", true, f) }
        })
    }
    /// True once eddy released the connection (after its close callback): posts are dropped.
    pub fn is_gone(&self) -> bool {
        self.life.released()
    }
    /// Sends a text message from any thread.
    pub fn send_text(&self, text: impl Into<String>) -> Result<()> {
        let text = text.into();
        self.with(move |ws| ws.send_text(&text))
    }
    /// Starts the close handshake from any thread.
    pub fn close(&self, code: u16, reason: impl Into<String>) -> Result<()> {
        let reason = reason.into();
        self.with(move |ws| ws.close(code, &reason))
    }
}

/// Runs `f` for `ws`; a panic or Err (other than CLOSED) is logged and, when `close_on_failure`,
/// closes the connection with 1011 (internal error).
pub(crate) unsafe fn ws_dispatch(
    ws: *mut sys::eddy_ws,
    remote: &Remote,
    kind: &str,
    close_on_failure: bool,
    f: impl FnOnce(&mut WebSocket<'_>) -> Result<()>,
) {
    let mut sock = WebSocket::new(ws, remote);
    let failure = failure_of(guard(|| f(&mut sock)));
    if let Some(why) = failure {
        log_error(&format!("rust {} {}", kind, why));
        if close_on_failure {
            let reason = "internal error";
            sys::eddy_ws_close(ws, 1011, reason.as_ptr() as *const c_char, reason.len());
        }
    }
}

unsafe extern "C" fn ws_open(ws: *mut sys::eddy_ws, ud: *mut c_void) {
    let cbs = crate::app::route_callbacks(ud);
    let f = cbs.ws.borrow().as_ref().and_then(|w| w.open.clone());
    if let Some(f) = f {
        ws_dispatch(ws, &cbs.remote, "websocket open", true, |s| f(s));
    }
}

unsafe extern "C" fn ws_message(
    ws: *mut sys::eddy_ws,
    data: *const c_char,
    len: usize,
    binary: c_int,
    ud: *mut c_void,
) {
    let cbs = crate::app::route_callbacks(ud);
    let f = cbs.ws.borrow().as_ref().and_then(|w| w.message.clone());
    if let Some(f) = f {
        let msg = message_of(data, len, binary);
        ws_dispatch(ws, &cbs.remote, "websocket on_message", true, |s| f(s, msg));
    }
}

/// The bytes eddy passed (`len` of them at `data`, possibly NULL when 0) for one callback.
///
/// # Safety
/// `data` points at `len` readable bytes (or `len` is 0) for the whole of `'x`.
pub(crate) unsafe fn payload<'x>(data: *const c_char, len: usize) -> &'x [u8] {
    if len == 0 || data.is_null() {
        &[]
    } else {
        std::slice::from_raw_parts(data as *const u8, len)
    }
}

/// A message as eddy passed it: text is valid UTF-8 (eddy checked it).
///
/// # Safety
/// As for [`payload`].
pub(crate) unsafe fn message_of<'x>(data: *const c_char, len: usize, binary: c_int) -> Message<'x> {
    let bytes = payload(data, len);
    match (binary, std::str::from_utf8(bytes)) {
        (0, Ok(text)) => Message::Text(text),
        _ => Message::Binary(bytes),
    }
}

unsafe extern "C" fn ws_ping(
    ws: *mut sys::eddy_ws,
    data: *const c_char,
    len: usize,
    ud: *mut c_void,
) {
    let cbs = crate::app::route_callbacks(ud);
    let f = cbs.ws.borrow().as_ref().and_then(|w| w.on_ping.clone());
    if let Some(f) = f {
        let data = payload(data, len);
        ws_dispatch(ws, &cbs.remote, "websocket on_ping", true, |s| f(s, data));
    }
}

unsafe extern "C" fn ws_pong(
    ws: *mut sys::eddy_ws,
    data: *const c_char,
    len: usize,
    ud: *mut c_void,
) {
    let cbs = crate::app::route_callbacks(ud);
    let f = cbs.ws.borrow().as_ref().and_then(|w| w.on_pong.clone());
    if let Some(f) = f {
        let data = payload(data, len);
        ws_dispatch(ws, &cbs.remote, "websocket on_pong", true, |s| f(s, data));
    }
}

/// Runs a handshake-time closure: a panic is logged and gives `fallback`.
fn handshake_guard<T>(kind: &str, fallback: T, f: impl FnOnce() -> T) -> T {
    match guard(f) {
        Ok(v) => v,
        Err(msg) => {
            log_error(&format!("rust websocket {} panicked: {}", kind, msg));
            fallback
        }
    }
}

unsafe extern "C" fn ws_select_subprotocol(
    h: *mut sys::eddy_handler,
    protocols: *const *const c_char,
    lens: *const usize,
    count: usize,
    ud: *mut c_void,
) -> c_int {
    let cbs = crate::app::route_callbacks(ud);
    let f = cbs
        .ws
        .borrow()
        .as_ref()
        .and_then(|w| w.select_subprotocol.clone());
    let f = match f {
        Some(f) => f,
        None => return -1,
    };
    // Offered names are tokens (ASCII); a name that is not UTF-8 is passed as "".
    let names: Vec<&str> = (0..count)
        .map(|i| std::str::from_utf8(payload(*protocols.add(i), *lens.add(i))).unwrap_or(""))
        .collect();
    let request = Request::new(h);
    let chosen = handshake_guard("select_subprotocol", None, || f(&request, &names));
    match chosen {
        Some(i) if i < count => i as c_int,
        Some(i) => {
            log_error(&format!(
                "rust websocket select_subprotocol returned {} of {} offered: none chosen",
                i, count
            ));
            -1
        }
        None => -1,
    }
}

unsafe extern "C" fn ws_check_origin(
    h: *mut sys::eddy_handler,
    origin: *const c_char,
    len: usize,
    ud: *mut c_void,
) -> c_int {
    let cbs = crate::app::route_callbacks(ud);
    let f = cbs
        .ws
        .borrow()
        .as_ref()
        .and_then(|w| w.check_origin.clone());
    let f = match f {
        Some(f) => f,
        None => return 0,
    };
    let origin = if origin.is_null() {
        None
    } else {
        Some(String::from_utf8_lossy(payload(origin, len)))
    };
    let request = Request::new(h);
    c_int::from(handshake_guard("check_origin", false, || {
        f(&request, origin.as_deref())
    }))
}

unsafe extern "C" fn ws_close(
    ws: *mut sys::eddy_ws,
    code: c_int,
    reason: *const c_char,
    len: usize,
    ud: *mut c_void,
) {
    let cbs = crate::app::route_callbacks(ud);
    let f = cbs.ws.borrow().as_ref().and_then(|w| w.close.clone());
    if let Some(f) = f {
        let reason = String::from_utf8_lossy(payload(reason, len));
        let code = u16::try_from(code).unwrap_or(1006);
        ws_dispatch(ws, &cbs.remote, "websocket on_close", false, |s| {
            f(s, code, &reason)
        });
    }
}
