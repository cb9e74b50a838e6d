//! WebSocket client (Tornado's `websocket_connect`, eddy_websocket_connect): closures for the
//! connect outcome, messages, pings, the close and a handshake the server refused.
use std::cell::RefCell;
use std::ffi::CString;
use std::os::raw::{c_char, c_int, c_void};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::sync::Arc;

use eddy_sys as sys;

use crate::boundary::{guard, log_error};
use crate::connect_error::ConnectError;
use crate::error::{check, Error, Result};
use crate::event_loop::{Loop, Remote};
use crate::tls::{TlsContext, Verify};
use crate::websocket::{message_of, payload, ws_dispatch, Message, PingFn, WebSocket};

// One slot for both on_connect forms: the detailed one; on_connect drops the detail.
type ConnectFn = dyn FnOnce(std::result::Result<&mut WebSocket<'_>, ConnectError>) -> Result<()>;
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
    pong: Option<Box<PingFn>>,
    refused: Option<Box<RefusedFn>>,
    headers: Vec<(String, String)>,
    subprotocols: Vec<String>,
    tls: Option<Arc<TlsContext>>,
    validate_cert: Option<bool>,
    ca_file: Option<PathBuf>,
    client_cert: Option<(PathBuf, PathBuf)>,
    max_message_size: Option<usize>,
    max_message_memory: Option<usize>,
    compression: bool,
    compression_level: Option<i32>,
    mem_level: Option<i32>,
    connect_timeout: Option<f64>,
    unix_socket: Option<PathBuf>,
}

/// What the C callbacks get as userdata: the closures, the loop's Remote (for `sender()`) and
/// the loop itself (a failed connect's detail is read with it). eddy releases it (free_client)
/// after the close callback, or after a failed connect, or when the loop is freed.
struct ClientCallbacks {
    remote: Remote,
    lp: *mut sys::eddy_loop,
    connect: RefCell<Option<Box<ConnectFn>>>,
    refused: RefCell<Option<Box<RefusedFn>>>,
    message: Option<Box<MessageFn>>,
    close: Option<Box<CloseFn>>,
    ping: Option<Box<PingFn>>,
    pong: Option<Box<PingFn>>,
}

impl WebSocketClient {
    /// A client with no callbacks and eddy's defaults (no subprotocols, certificates verified
    /// against the system CAs, no compression); configure it, then `connect` from a `Loop`.
    pub fn new() -> WebSocketClient {
        WebSocketClient::default()
    }
    /// Runs once with the outcome: the open connection, or the error (`Error::PROTOCOL` when
    /// the server refused or broke the handshake, `Error::TIMED_OUT`, a refused port, ...).
    /// [`on_connect_detailed`](Self::on_connect_detailed) gets eddy's reason too; the last of
    /// the two set is the one that runs.
    pub fn on_connect(
        mut self,
        f: impl FnOnce(std::result::Result<&mut WebSocket<'_>, Error>) -> Result<()> + 'static,
    ) -> Self {
        self.connect = Some(Box::new(
            move |outcome: std::result::Result<&mut WebSocket<'_>, ConnectError>| {
                f(outcome.map_err(|e| e.error()))
            },
        ));
        self
    }
    /// As [`on_connect`](Self::on_connect), but a failure comes as a [`ConnectError`]: the code
    /// and what eddy knows beyond it (`eddy_websocket_connect_error_detail`), e.g.
    /// `"certificate verification: self-signed certificate"` with `Error::TLS`, `"the server
    /// answered 403 Forbidden"` with `Error::PROTOCOL`; its `Display` ends with the detail.
    pub fn on_connect_detailed(
        mut self,
        f: impl FnOnce(std::result::Result<&mut WebSocket<'_>, ConnectError>) -> Result<()> + 'static,
    ) -> Self {
        self.connect = Some(Box::new(f));
        self
    }
    /// Runs for each whole message from the server.
    pub fn on_message(
        mut self,
        f: impl Fn(&mut WebSocket<'_>, Message<'_>) -> Result<()> + 'static,
    ) -> Self {
        self.message = Some(Box::new(f));
        self
    }
    /// Runs once when an opened connection closed, with the close code and reason.
    pub fn on_close(
        mut self,
        f: impl Fn(&mut WebSocket<'_>, u16, &str) -> Result<()> + 'static,
    ) -> Self {
        self.close = Some(Box::new(f));
        self
    }
    /// Runs for each ping the server sends, with its payload, after eddy has queued the
    /// automatic pong (Tornado's `on_ping(data)`).
    pub fn on_ping(
        mut self,
        f: impl Fn(&mut WebSocket<'_>, &[u8]) -> Result<()> + 'static,
    ) -> Self {
        self.ping = Some(Box::new(f));
        self
    }
    /// Runs for each pong the server sends (answering [`WebSocket::ping`] or a keep-alive
    /// ping), with its payload (Tornado's `on_pong(data)`).
    pub fn on_pong(
        mut self,
        f: impl Fn(&mut WebSocket<'_>, &[u8]) -> Result<()> + 'static,
    ) -> Self {
        self.pong = Some(Box::new(f));
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
    /// Offers subprotocol `name` (a token), in the order added (Tornado's `subprotocols`); the
    /// server's choice is [`WebSocket::subprotocol`] once connected.
    pub fn subprotocol(mut self, name: &str) -> Self {
        self.subprotocols.push(name.to_owned());
        self
    }
    /// wss:// with this client context ([`TlsContext::client`], configured as needed) instead
    /// of the default one (the system's CAs, certificate and host name verified). Not combined
    /// with `validate_cert`, `ca_file` or `client_cert`: `connect` then fails with INVALID.
    pub fn tls(mut self, ctx: Arc<TlsContext>) -> Self {
        self.tls = Some(ctx);
        self
    }
    /// wss://: verify the server's certificate and host name (default true; false accepts
    /// any certificate, as Tornado's `validate_cert=False`).
    pub fn validate_cert(mut self, on: bool) -> Self {
        self.validate_cert = Some(on);
        self
    }
    /// wss://: also trust the CA certificates of this PEM file (Tornado's `ca_certs`), e.g. a
    /// self-signed server's own certificate. Read by `connect` (Err(INVALID) if unreadable).
    pub fn ca_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.ca_file = Some(path.into());
        self
    }
    /// wss://: present this client certificate (PEM chain) and key (Tornado's `client_cert`
    /// and `client_key`). Read by `connect` (Err(INVALID) if unreadable or not matching).
    pub fn client_cert(
        mut self,
        cert_file: impl Into<PathBuf>,
        key_file: impl Into<PathBuf>,
    ) -> Self {
        self.client_cert = Some((cert_file.into(), key_file.into()));
        self
    }
    /// Largest message accepted (default 10 MiB); bigger ones close with 1009.
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.max_message_size = Some(bytes);
        self
    }
    /// Most bytes of messages being received held at once (default 1 GiB; 0: no limit); a
    /// message whose bytes would go over closes the connection with 1013 (Try Again Later).
    /// Each `connect` has its own count, so on a client this bounds that one connection.
    pub fn max_message_memory(mut self, bytes: usize) -> Self {
        self.max_message_memory = Some(bytes);
        self
    }
    /// Offer permessage-deflate.
    pub fn compression(mut self, on: bool) -> Self {
        self.compression = on;
        self
    }
    /// How this side compresses once permessage-deflate is negotiated (Tornado's
    /// `compression_options["compression_level"]`): zlib's level, 0 (stored blocks, no
    /// compression) to 9 (smallest), or -1 for the default (6). Another value makes `connect`
    /// fail with `Error::INVALID`.
    pub fn compression_level(mut self, level: i32) -> Self {
        self.compression_level = Some(level);
        self
    }
    /// zlib's memLevel for this side's compressor (Tornado's `compression_options["mem_level"]`):
    /// 1 to 9, or 0 for the default (8); a lower one trades ratio for memory, a compressor
    /// holding about 2^(mem_level+9) bytes besides its window. Another value makes `connect`
    /// fail with `Error::INVALID`.
    pub fn mem_level(mut self, level: i32) -> Self {
        self.mem_level = Some(level);
        self
    }
    /// How long the TCP connect plus the handshake may take (default 20 s).
    pub fn connect_timeout(mut self, seconds: f64) -> Self {
        self.connect_timeout = Some(seconds);
        self
    }

    /// Connects to the Unix-domain stream socket at `path` (`"@name"`: a Linux abstract
    /// socket) instead of the URL's host and port (eddy_ws_options_set_unix_socket, curl's
    /// `--unix-socket`): the URL still gives the Host field and the request target, and for
    /// `wss://` the name the certificate is checked for. A missing path fails the connect
    /// with `Error::NOT_FOUND`, one nobody listens on with `Error::CONNECTION_REFUSED`;
    /// `connect` returns Err(INVALID) for an empty path, one with a NUL byte or one longer
    /// than a socket address holds (107 bytes; 108 for "@name").
    pub fn unix_socket(mut self, path: impl Into<PathBuf>) -> Self {
        self.unix_socket = Some(path.into());
        self
    }

    /// Starts connecting to `url` (`ws://host[:port][/path][?query]`, or `wss://` over TLS)
    /// from `lp`; the outcome comes to `on_connect` later, from the loop (`Error::TLS` when the
    /// TLS handshake or the certificate check failed). Err(INVALID) for a bad URL, header or
    /// TLS file (no closure runs then).
    pub fn connect(self, lp: &Loop, url: &str) -> Result<()> {
        // SAFETY: a fresh options object, freed below on every path.
        let opts = unsafe { sys::eddy_ws_options_new() };
        if opts.is_null() {
            return Err(Error::NO_MEMORY);
        }
        let rc = self.fill(opts).and_then(|()| {
            let cbs = ClientCallbacks {
                remote: lp.remote(),
                lp: lp.as_ptr(),
                connect: RefCell::new(self.connect),
                refused: RefCell::new(self.refused),
                message: self.message,
                close: self.close,
                ping: self.ping,
                pong: self.pong,
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

    /// The client context the TLS settings ask for: the given one, one built from
    /// validate_cert / ca_file / client_cert, or None for eddy's default.
    fn tls_context(&self) -> Result<Option<Arc<TlsContext>>> {
        let own =
            self.validate_cert.is_some() || self.ca_file.is_some() || self.client_cert.is_some();
        if let Some(ctx) = &self.tls {
            return if own {
                Err(Error::INVALID)
            } else {
                Ok(Some(ctx.clone()))
            };
        }
        if !own {
            return Ok(None);
        }
        let mut ctx = TlsContext::client()?;
        if self.validate_cert == Some(false) {
            ctx.set_verify(Verify::None)?;
        }
        if let Some(path) = &self.ca_file {
            ctx.load_ca_file(path)?;
        }
        if let Some((cert, key)) = &self.client_cert {
            ctx.load_cert_file(cert, key)?;
        }
        Ok(Some(Arc::new(ctx)))
    }

    fn fill(&self, opts: *mut sys::eddy_ws_options) -> Result<()> {
        if let Some(ctx) = self.tls_context()? {
            // SAFETY: live options and context; the options keep their own reference, so
            // dropping `ctx` here is fine.
            check(unsafe { sys::eddy_ws_options_set_tls(opts, ctx.as_ptr()) })?;
        }
        // SAFETY: live options; strings are copied by eddy.
        unsafe {
            for name in &self.subprotocols {
                check(sys::eddy_ws_options_add_subprotocol(
                    opts,
                    name.as_ptr() as *const c_char,
                    name.len(),
                ))?;
            }
            if self.pong.is_some() {
                check(sys::eddy_ws_options_set_on_pong(opts, Some(client_pong)))?;
            }
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
            if let Some(s) = self.connect_timeout {
                check(sys::eddy_ws_options_set_connect_timeout(opts, s))?;
            }
            if let Some(path) = &self.unix_socket {
                let path = CString::new(path.as_os_str().as_bytes()).map_err(|_| Error::INVALID)?;
                check(sys::eddy_ws_options_set_unix_socket(opts, path.as_ptr()))?;
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
                check(sys::eddy_ws_options_set_on_refused(
                    opts,
                    Some(client_refused),
                ))?;
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
            ws_dispatch(ws, &cbs.remote, "websocket client on_connect", true, |s| {
                f(Ok(s))
            });
        } else {
            // Read now: the detail is there only while eddy's failed on_connect runs.
            let error = ConnectError::read(cbs.lp, status);
            run_logged("websocket client on_connect", || f(Err(error)));
        }
    }
}

unsafe extern "C" fn client_refused(
    status: c_int,
    reason: *const c_char,
    len: usize,
    ud: *mut c_void,
) {
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

unsafe extern "C" fn client_message(
    ws: *mut sys::eddy_ws,
    data: *const c_char,
    len: usize,
    binary: c_int,
    ud: *mut c_void,
) {
    let cbs = client(ud);
    if let Some(f) = &cbs.message {
        let msg = message_of(data, len, binary);
        ws_dispatch(ws, &cbs.remote, "websocket client on_message", true, |s| {
            f(s, msg)
        });
    }
}

unsafe extern "C" fn client_ping(
    ws: *mut sys::eddy_ws,
    data: *const c_char,
    len: usize,
    ud: *mut c_void,
) {
    let cbs = client(ud);
    if let Some(f) = &cbs.ping {
        let data = payload(data, len);
        ws_dispatch(ws, &cbs.remote, "websocket client on_ping", true, |s| {
            f(s, data)
        });
    }
}

unsafe extern "C" fn client_pong(
    ws: *mut sys::eddy_ws,
    data: *const c_char,
    len: usize,
    ud: *mut c_void,
) {
    let cbs = client(ud);
    if let Some(f) = &cbs.pong {
        let data = payload(data, len);
        ws_dispatch(ws, &cbs.remote, "websocket client on_pong", true, |s| {
            f(s, data)
        });
    }
}

unsafe extern "C" fn client_close(
    ws: *mut sys::eddy_ws,
    code: c_int,
    reason: *const c_char,
    len: usize,
    ud: *mut c_void,
) {
    let cbs = client(ud);
    if let Some(f) = &cbs.close {
        let reason = String::from_utf8_lossy(payload(reason, len));
        let code = u16::try_from(code).unwrap_or(1006);
        ws_dispatch(ws, &cbs.remote, "websocket client on_close", false, |s| {
            f(s, code, &reason)
        });
    }
}

unsafe extern "C" fn free_client(ud: *mut c_void) {
    // SAFETY: the Box made in connect; eddy frees it once. A panicking Drop is stopped here.
    let cbs = Box::from_raw(ud as *mut ClientCallbacks);
    if guard(move || drop(cbs)).is_err() {
        log_error("dropping a WebSocket client's closures panicked");
    }
}
