//! HttpClient (Tornado's AsyncHTTPClient, eddy/client.h): a keep-alive pool on a Loop that
//! fetches [`HttpRequest`]s and hands each outcome to a closure on the loop thread.
//!
//! Ownership: every started fetch gets one boxed `FetchCallbacks` as C userdata; eddy calls
//! `on_done` exactly once and then `free_callbacks` exactly once (also when the loop is freed
//! with the fetch pending, then without `on_done`). The [`FetchHandle`] shares only a cell with
//! the C pointer, cleared by both, so a late `cancel` never reaches a freed request.
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::ffi::CString;
use std::os::raw::{c_char, c_int, c_void};
use std::path::PathBuf;
use std::rc::Rc;

use eddy_sys as sys;

use crate::boundary::{guard, in_callback, log_error};
use crate::error::{check, Error, Result};
use crate::event_loop::Loop;
use crate::fetch_error::FetchError;
use crate::host_mapping::HostMapping;
use crate::http_request::{ChunkFn, HeadersFn, HttpRequest};
use crate::http_response::HttpResponse;
use crate::tls::{TlsContext, Verify};

type DoneFn = dyn FnOnce(std::result::Result<HttpResponse, FetchError>);

/// What [`FetchHandle::flush_body`] runs once the body written before it reached the kernel
/// (`Ok(())`) or the fetch ended first (its error); an `Err` it returns cancels the fetch.
pub type FlushCallback = Box<dyn FnOnce(&FetchHandle, Result<()>) -> Result<()>>;

/// The flush callbacks waiting for eddy_fetch_flush_body's completions, oldest first (they come
/// in call order, all before `on_done`).
type Flushes = Rc<RefCell<VecDeque<FlushCallback>>>;

/// The TLS settings given with Tornado's names, from which the client's context is rebuilt.
#[derive(Clone, Default)]
struct TlsSettings {
    no_verify: bool,
    ca_file: Option<PathBuf>,
    client_cert: Option<(PathBuf, PathBuf)>,
}

/// An asynchronous HTTP/1.1 client on a [`Loop`] (Tornado's `AsyncHTTPClient`): http and
/// https, a keep-alive pool per origin, at most `max_clients` requests at once and a queue
/// for the rest, redirects, gzip, timeouts, an HTTP proxy.
///
/// ```no_run
/// use eddy::{HttpClient, HttpRequest, Loop};
/// let lp = Loop::new().unwrap();
/// let client = HttpClient::new(&lp).unwrap();
/// let stop = lp.clone();
/// client.fetch(HttpRequest::new("http://127.0.0.1:8080/"), move |outcome| {
///     match outcome {
///         Ok(res) => println!("{} {}", res.code(), String::from_utf8_lossy(res.body())),
///         Err(e) => println!("failed: {}", e),
///     }
///     stop.stop();
/// }).unwrap();
/// lp.run().unwrap();
/// ```
///
/// Tornado's client arguments: [`HttpClient::set_defaults`] (`defaults`) and
/// [`HttpClient::hostname_mapping`] (`hostname_mapping`).
///
/// Not `Send`: it lives on its loop's thread, and every callback runs there. It keeps a
/// handle to the loop. Dropping it ends the fetches in flight or queued with
/// `Err(Error::CANCELED)` (their callbacks run during the drop; dropped inside a loop
/// callback, the client is freed on the next iteration instead) and closes pooled connections.
pub struct HttpClient {
    ptr: *mut sys::eddy_client,
    lp: Loop,
    tls: TlsSettings,
    defaults: Option<HttpRequest>,
    mapping: HostMapping,
    proxied: bool,
}

/// A started fetch: to cancel it, to write a streamed request body, or to pause a streamed
/// response body. Holding it keeps nothing alive; it only knows whether the fetch is still
/// running. Cloning it gives another handle to the same fetch (e.g. for the `on_chunk`
/// closure, through an `Rc<RefCell<Option<FetchHandle>>>` filled once `fetch` returned).
/// Not `Send` (loop thread).
#[derive(Clone)]
pub struct FetchHandle {
    fetch: Rc<Cell<*mut sys::eddy_fetch>>,
    flushes: Flushes,
}

/// The C userdata of one fetch: its closures and the cell its handle shares.
struct FetchCallbacks {
    fetch: Rc<Cell<*mut sys::eddy_fetch>>,
    done: RefCell<Option<Box<DoneFn>>>,
    headers: RefCell<Option<Box<HeadersFn>>>,
    chunk: RefCell<Option<Box<ChunkFn>>>,
    flushes: Flushes,
    streamed: bool,
}

impl HttpClient {
    /// A client on `lp` with eddy's defaults: 10 requests at once, 1000 queued, 4 idle
    /// connections per origin kept 60 s, certificates verified against the system's CAs.
    pub fn new(lp: &Loop) -> Result<HttpClient> {
        // SAFETY: a live loop on its own thread.
        let ptr = unsafe { sys::eddy_client_new(lp.as_ptr()) };
        if ptr.is_null() {
            return Err(Error::NO_MEMORY);
        }
        let (defaults, mapping) = (None, HostMapping::default());
        Ok(HttpClient {
            ptr,
            lp: lp.clone(),
            tls: TlsSettings::default(),
            defaults,
            mapping,
            proxied: false,
        })
    }

    /// At most `n` requests run at once (default 10); the others wait in the queue.
    /// Err(INVALID) for 0.
    pub fn set_max_clients(&mut self, n: usize) -> Result<()> {
        // SAFETY: live client.
        check(unsafe { sys::eddy_client_set_max_clients(self.ptr, n) })
    }

    /// At most `n` requests wait in the queue (default 1000); a fetch beyond them ends with
    /// `Err(Error::BUSY)`.
    pub fn set_max_queue(&mut self, n: usize) -> Result<()> {
        // SAFETY: live client.
        check(unsafe { sys::eddy_client_set_max_queue(self.ptr, n) })
    }

    /// At most `n` idle keep-alive connections are kept per origin (default 4; 0: none, every
    /// request opens its own connection).
    pub fn set_max_idle_per_host(&mut self, n: usize) -> Result<()> {
        // SAFETY: live client.
        check(unsafe { sys::eddy_client_set_max_idle_per_host(self.ptr, n) })
    }

    /// Seconds an idle pooled connection is kept (default 60). Err(INVALID) when negative.
    pub fn set_idle_timeout(&mut self, seconds: f64) -> Result<()> {
        // SAFETY: live client.
        check(unsafe { sys::eddy_client_set_idle_timeout(self.ptr, seconds) })
    }

    /// Tornado's `defaults`: settings for every fetch that leaves them unset, given as an
    /// [`HttpRequest`] without a URL: `HttpRequest::default().user_agent("bot/1")
    /// .header("X-Team", "a").request_timeout(5.0)`. Headers whose name the request lacks are
    /// added; `user_agent`, `connect_timeout`, `request_timeout`, `follow_redirects`,
    /// `max_redirects`, `decompress_response`, `max_body_size` and `expect_100_continue` apply
    /// when the request did not set them. Replaces earlier defaults. Err(INVALID) for what
    /// belongs to one request: a URL, a method, a body or body stream, streaming closures.
    /// TLS (`validate_cert`, `ca_file`) is the client's own setting already.
    pub fn set_defaults(&mut self, defaults: HttpRequest) -> Result<()> {
        defaults.check_defaults()?;
        self.defaults = Some(defaults);
        Ok(())
    }

    /// Tornado's `hostname_mapping`, one entry per call: fetches of `from` ("host", or
    /// "host:port" for one port, the URL's port defaulting to its scheme's 80 or 443) connect
    /// to `to` ("host", keeping the URL's port, or "host:port"; IPv6 in brackets) instead.
    /// The request still names the URL: Host header, origin-form request line, effective URL,
    /// and for https the TLS server name and certificate check (the certificate must name the
    /// URL's host, as in Tornado). Redirects on the URL's origin stay mapped; one to another
    /// origin connects there (Tornado would look it up again). Mapped connections are pooled
    /// apart. Err(INVALID) for a bad `from` or `to`, or with [`HttpClient::set_proxy`]: where
    /// a proxy connects is the proxy's business.
    pub fn hostname_mapping(&mut self, from: &str, to: &str) -> Result<()> {
        if self.proxied {
            return Err(Error::INVALID);
        }
        self.mapping.insert(from, to)
    }

    /// Sends every request through the HTTP proxy `Some((host, port))` (http: absolute URIs;
    /// https: a CONNECT tunnel); `None` removes it. Err(INVALID) for a bad host or port, or
    /// with a [`HttpClient::hostname_mapping`].
    pub fn set_proxy(&mut self, proxy: Option<(&str, u16)>) -> Result<()> {
        if proxy.is_some() && !self.mapping.is_empty() {
            return Err(Error::INVALID);
        }
        let rc = match proxy {
            None => {
                // SAFETY: live client; NULL removes the proxy.
                unsafe { sys::eddy_client_set_proxy(self.ptr, std::ptr::null(), 0) }
            }
            Some((host, port)) => {
                let host = CString::new(host).map_err(|_| Error::INVALID)?;
                // SAFETY: live client; eddy copies the host.
                unsafe { sys::eddy_client_set_proxy(self.ptr, host.as_ptr(), c_int::from(port)) }
            }
        };
        check(rc)?;
        self.proxied = proxy.is_some();
        Ok(())
    }

    /// https with this client context ([`TlsContext::client`], configured as needed) instead
    /// of the default one; the client keeps its own reference. Replaces what
    /// `validate_cert` / `ca_file` / `client_cert` set. Err(INVALID) for a server context.
    /// Affects connections opened afterwards.
    pub fn set_tls(&mut self, ctx: &TlsContext) -> Result<()> {
        // SAFETY: live client and context; the client takes its own reference.
        check(unsafe { sys::eddy_client_set_tls(self.ptr, ctx.as_ptr()) })?;
        self.tls = TlsSettings::default();
        Ok(())
    }

    /// https: verify the server's certificate and host name (default true; false accepts any,
    /// Tornado's `validate_cert=False`). Unlike Tornado's per-request argument this is the
    /// client's setting (eddy keeps TLS per client and pool): use two clients for both.
    pub fn validate_cert(&mut self, on: bool) -> Result<()> {
        let mut next = self.tls.clone();
        next.no_verify = !on;
        self.apply_tls(next)
    }

    /// https: also trust the CA certificates of this PEM file (Tornado's `ca_certs`), e.g. a
    /// self-signed server's own certificate. Read now: Err(INVALID) when unreadable.
    pub fn ca_file(&mut self, path: impl Into<PathBuf>) -> Result<()> {
        let mut next = self.tls.clone();
        next.ca_file = Some(path.into());
        self.apply_tls(next)
    }

    /// https: present this client certificate (PEM chain) and key (Tornado's `client_cert`
    /// and `client_key`). Read now: Err(INVALID) when unreadable or not matching.
    pub fn client_cert(
        &mut self,
        cert_file: impl Into<PathBuf>,
        key_file: impl Into<PathBuf>,
    ) -> Result<()> {
        let mut next = self.tls.clone();
        next.client_cert = Some((cert_file.into(), key_file.into()));
        self.apply_tls(next)
    }

    /// Builds a client context from `settings` and installs it; on failure nothing changes.
    fn apply_tls(&mut self, settings: TlsSettings) -> Result<()> {
        let mut ctx = TlsContext::client()?;
        if settings.no_verify {
            ctx.set_verify(Verify::None)?;
        }
        if let Some(path) = &settings.ca_file {
            ctx.load_ca_file(path)?;
        }
        if let Some((cert, key)) = &settings.client_cert {
            ctx.load_cert_file(cert, key)?;
        }
        // SAFETY: live client and context; the client keeps its own reference.
        check(unsafe { sys::eddy_client_set_tls(self.ptr, ctx.as_ptr()) })?;
        self.tls = settings;
        Ok(())
    }

    /// The number of idle pooled connections (all origins, mapped ones included).
    pub fn idle_count(&self) -> usize {
        // SAFETY: live client.
        unsafe { sys::eddy_client_idle_count(self.ptr) }
    }

    /// Starts `request`. `callback` runs exactly once, on the loop thread, never inside this
    /// call: with the response (whatever its status: a 404 is a response) or the error:
    /// `Error::RESOLVE` (name not found), `CONNECTION_REFUSED` (and other connect errors),
    /// `TIMED_OUT`, `TLS` (handshake or certificate check failed), `TOO_BIG` (body over
    /// `max_body_size`), `PROTOCOL` (malformed response), `EOF` (connection closed before the
    /// response was complete), `CANCELED` ([`FetchHandle::cancel`], a streaming closure's
    /// `Err`, or the client dropped), `BUSY` (queue full) — as a [`FetchError`], which
    /// compares equal to those codes and adds what eddy knows beyond them
    /// ([`FetchError::detail`]: for `TLS`, e.g. "certificate verification: hostname mismatch").
    ///
    /// Err(INVALID) at once, and no closure runs, for a malformed URL or method, a bad header
    /// or a name with a NUL byte. A panic in `callback` is logged; the loop goes on. The
    /// client's defaults fill what `request` left unset.
    pub fn fetch(
        &self,
        mut request: HttpRequest,
        callback: impl FnOnce(std::result::Result<HttpResponse, FetchError>) + 'static,
    ) -> Result<FetchHandle> {
        if let Some(defaults) = &self.defaults {
            request.apply_defaults(defaults);
        }
        let method = CString::new(request.method.as_str()).map_err(|_| Error::INVALID)?;
        let url = CString::new(request.url.as_str()).map_err(|_| Error::INVALID)?;
        // SAFETY: live client; eddy copies both strings.
        let f = unsafe { sys::eddy_fetch_new(self.ptr, method.as_ptr(), url.as_ptr()) };
        if f.is_null() {
            return Err(Error::INVALID);
        }
        match self.start(f, request, Box::new(callback)) {
            Ok(handle) => Ok(handle),
            Err(e) => {
                // SAFETY: never started, so still ours.
                unsafe { sys::eddy_fetch_free(f) };
                Err(e)
            }
        }
    }

    fn start(
        &self,
        f: *mut sys::eddy_fetch,
        mut request: HttpRequest,
        done: Box<DoneFn>,
    ) -> Result<FetchHandle> {
        self.mapping.apply(f, &request.url)?;
        request.configure(f)?;
        let (headers, chunk) = (request.on_headers.take(), request.on_chunk.take());
        let headers_cb: sys::eddy_fetch_headers_fn = if headers.is_some() {
            Some(on_headers)
        } else {
            None
        };
        let chunk_cb: sys::eddy_fetch_chunk_fn = if chunk.is_some() {
            Some(on_chunk)
        } else {
            None
        };
        // SAFETY: live, unstarted request.
        check(unsafe { sys::eddy_fetch_set_callbacks(f, headers_cb, chunk_cb) })?;
        let cell = Rc::new(Cell::new(f));
        let flushes = Flushes::default();
        let cbs = FetchCallbacks {
            fetch: cell.clone(),
            flushes: flushes.clone(),
            done: RefCell::new(Some(done)),
            streamed: chunk.is_some(),
            headers: RefCell::new(headers),
            chunk: RefCell::new(chunk),
        };
        let ud = Box::into_raw(Box::new(cbs)) as *mut c_void;
        // SAFETY: live request. On 0 eddy owns it and releases ud once (free_callbacks); on an
        // error nothing was taken.
        let rc = unsafe { sys::eddy_fetch_start(f, Some(on_done), ud, Some(free_callbacks)) };
        if rc < 0 {
            // SAFETY: C did not take ud.
            drop(unsafe { Box::from_raw(ud as *mut FetchCallbacks) });
            return Err(Error::from_code(rc));
        }
        Ok(FetchHandle {
            fetch: cell,
            flushes,
        })
    }
}

impl Drop for HttpClient {
    fn drop(&mut self) {
        let ptr = self.ptr;
        if in_callback() {
            // Perhaps inside one of this client's own callbacks: free it once that returned,
            // so no eddy frame above us sees its fetch vanish — or, when the loop is freed
            // before its next iteration, just after the loop (defer_free_after_loop).
            // SAFETY (in the deferred free): the client is freed once, on its loop thread.
            if self
                .lp
                .defer_free_after_loop(move || unsafe { sys::eddy_client_free(ptr) })
                .is_ok()
            {
                return;
            }
            log_error("an HttpClient dropped inside a callback is freed at once (out of memory)");
        }
        // SAFETY: live client, freed once; fetches' done callbacks run inside (guarded).
        unsafe { sys::eddy_client_free(ptr) }
    }
}

impl FetchHandle {
    /// Cancels the fetch: its callback gets `Err(Error::CANCELED)` on the next loop
    /// iteration. Err(STATE) when it already ended or is ending (the callback ran or will
    /// run with its own outcome).
    pub fn cancel(&self) -> Result<()> {
        let f = self.fetch.get();
        if f.is_null() {
            return Err(Error::STATE);
        }
        // SAFETY: non-null means eddy has not called on_done / free_callbacks yet.
        check(unsafe { sys::eddy_fetch_cancel(f) })
    }

    /// Appends `data` to a body announced with [`HttpRequest::body_stream`] (copied, sent as
    /// the connection allows). Err(TOO_BIG) past the announced length, Err(STATE) without a
    /// streamed body, after `end_body` or once the fetch ended.
    pub fn write_body(&self, data: &[u8]) -> Result<()> {
        let f = self.fetch.get();
        if f.is_null() {
            return Err(Error::STATE);
        }
        // SAFETY: a live request (see cancel); eddy copies the bytes.
        check(unsafe { sys::eddy_fetch_write_body(f, data.as_ptr() as *const c_void, data.len()) })
    }

    /// Ends a streamed body. Err(INVALID) when fewer bytes than the announced length were
    /// written, Err(STATE) without a streamed body or once the fetch ended.
    pub fn end_body(&self) -> Result<()> {
        let f = self.fetch.get();
        if f.is_null() {
            return Err(Error::STATE);
        }
        // SAFETY: a live request (see cancel).
        check(unsafe { sys::eddy_fetch_end_body(f) })
    }

    /// Backpressure for a body announced with [`HttpRequest::body_stream`] (Tornado's
    /// `body_producer` awaiting `write()`; eddy_fetch_flush_body): `write_body` never refuses
    /// bytes, it keeps what the connection did not take yet in memory, without limit, so a
    /// writer faster than the server must wait. `callback` runs on the loop thread, never inside
    /// this call, once everything written before this call (its chunk framing included) was
    /// handed to the kernel, with `Ok(())` — write the next piece from there — or, when the
    /// fetch ends first, with its error (`Error::CANCELED`, `CONNECTION_RESET`...) or
    /// `Err(Error::CLOSED)` when it ended without one (a response came before the body went),
    /// before the fetch's own callback. Several may wait; they run in call order. Callable
    /// after `end_body` (to learn that the whole body went). An `Err` returned by `callback`,
    /// or a panic in it, is logged and cancels the fetch, as in the streaming closures.
    ///
    /// ```no_run
    /// # use eddy::{FetchHandle, Result};
    /// // Writes `left` more 64 KiB pieces, each once the one before reached the kernel.
    /// fn pump(fetch: &FetchHandle, left: usize) -> Result<()> {
    ///     if left == 0 {
    ///         return fetch.end_body();
    ///     }
    ///     fetch.write_body(&[b'x'; 65536])?;
    ///     fetch.flush_body(move |fetch, sent| {
    ///         sent?; // the fetch ended: its callback says why
    ///         pump(fetch, left - 1)
    ///     })
    /// }
    /// ```
    ///
    /// Err(STATE) (and `callback` is dropped uncalled) without a streamed body or once the
    /// fetch ended; Err(NO_MEMORY).
    pub fn flush_body(
        &self,
        callback: impl FnOnce(&FetchHandle, Result<()>) -> Result<()> + 'static,
    ) -> Result<()> {
        let f = self.fetch.get();
        if f.is_null() {
            return Err(Error::STATE);
        }
        // SAFETY: a live request (see cancel); the completion never runs inside this call.
        check(unsafe { sys::eddy_fetch_flush_body(f, Some(on_flushed)) })?;
        self.flushes.borrow_mut().push_back(Box::new(callback));
        Ok(())
    }

    /// The bytes of a streamed body written but not yet handed to the kernel (the body, its
    /// chunk framing and what is left of the request head; eddy_fetch_body_buffered), for a
    /// writer that polls instead of using [`FetchHandle::flush_body`]. 0 without a streamed
    /// body and once the fetch ended.
    pub fn body_buffered(&self) -> usize {
        let f = self.fetch.get();
        if f.is_null() {
            return 0;
        }
        // SAFETY: a live request (see cancel).
        unsafe { sys::eddy_fetch_body_buffered(f) }
    }

    /// Flow control of a streamed response body (an `on_chunk` closure is set;
    /// eddy_fetch_pause_body): no `on_chunk` call follows and the connection is not read, so
    /// TCP holds the server back. Callable from `on_chunk` itself (the pieces after the current
    /// one are held) or anywhere on the loop thread. While paused the read timeout does not
    /// run; the request timeout does. Pausing twice does nothing. Err(STATE) without
    /// `on_chunk`, or once the fetch ended.
    pub fn pause_body(&self) -> Result<()> {
        let f = self.fetch.get();
        if f.is_null() {
            return Err(Error::STATE);
        }
        // SAFETY: a live request (see cancel).
        check(unsafe { sys::eddy_fetch_pause_body(f) })
    }

    /// Resumes a paused body: the held pieces reach `on_chunk` on a later loop iteration, never
    /// inside this call. Resuming a fetch not paused does nothing. Err(STATE) as `pause_body`.
    pub fn resume_body(&self) -> Result<()> {
        let f = self.fetch.get();
        if f.is_null() {
            return Err(Error::STATE);
        }
        // SAFETY: a live request (see cancel).
        check(unsafe { sys::eddy_fetch_resume_body(f) })
    }

    /// True once the fetch's callback ran (or the loop was freed before it could).
    pub fn is_done(&self) -> bool {
        self.fetch.get().is_null()
    }
}

unsafe fn callbacks<'x>(ud: *mut c_void) -> &'x FetchCallbacks {
    // SAFETY (callers): ud is the Box made in start, alive until free_callbacks.
    &*(ud as *const FetchCallbacks)
}

/// Runs a streaming closure; an Err or a panic is logged and cancels the fetch.
unsafe fn run_streaming(f: *mut sys::eddy_fetch, kind: &str, run: impl FnOnce() -> Result<()>) {
    let failure = match guard(run) {
        Ok(Ok(())) => return,
        Ok(Err(e)) => format!("returned an error: {}", e),
        Err(msg) => format!("panicked: {}", msg),
    };
    log_error(&format!(
        "rust http client {} {}; the fetch is cancelled",
        kind, failure
    ));
    sys::eddy_fetch_cancel(f);
}

unsafe extern "C" fn on_headers(f: *mut sys::eddy_fetch, ud: *mut c_void) {
    let cbs = callbacks(ud);
    // Taken out while it runs: a reentrant call (none is expected) would find no closure.
    let taken = cbs.headers.borrow_mut().take();
    if let Some(mut cb) = taken {
        let head = HttpResponse::read(f, false);
        run_streaming(f, "on_headers", || cb(&head));
        *cbs.headers.borrow_mut() = Some(cb);
    }
}

unsafe extern "C" fn on_chunk(
    f: *mut sys::eddy_fetch,
    data: *const c_char,
    len: usize,
    ud: *mut c_void,
) {
    let cbs = callbacks(ud);
    let taken = cbs.chunk.borrow_mut().take();
    if let Some(mut cb) = taken {
        let piece: &[u8] = if data.is_null() || len == 0 {
            &[]
        } else {
            std::slice::from_raw_parts(data as *const u8, len)
        };
        run_streaming(f, "on_chunk", || cb(piece));
        *cbs.chunk.borrow_mut() = Some(cb);
    }
}

unsafe extern "C" fn on_flushed(f: *mut sys::eddy_fetch, status: c_int, ud: *mut c_void) {
    let cbs = callbacks(ud);
    let taken = cbs.flushes.borrow_mut().pop_front();
    if let Some(cb) = taken {
        let handle = FetchHandle {
            fetch: cbs.fetch.clone(),
            flushes: cbs.flushes.clone(),
        };
        let sent = if status == 0 {
            Ok(())
        } else {
            Err(Error::from_code(status))
        };
        run_streaming(f, "flush_body callback", move || cb(&handle, sent));
    }
}

unsafe extern "C" fn on_done(f: *mut sys::eddy_fetch, error: c_int, ud: *mut c_void) {
    let cbs = callbacks(ud);
    // From here on the handle must not reach the request (eddy frees it after this returns).
    cbs.fetch.set(std::ptr::null_mut());
    let taken = cbs.done.borrow_mut().take();
    if let Some(cb) = taken {
        let outcome = if error == 0 {
            Ok(HttpResponse::read(f, !cbs.streamed))
        } else {
            Err(FetchError::read(f, error))
        };
        if let Err(msg) = guard(move || cb(outcome)) {
            log_error(&format!(
                "rust http client fetch callback panicked: {}",
                msg
            ));
        }
    }
}

unsafe extern "C" fn free_callbacks(ud: *mut c_void) {
    // SAFETY: the Box made in start; eddy frees it once. A panicking Drop is stopped here.
    let cbs = Box::from_raw(ud as *mut FetchCallbacks);
    cbs.fetch.set(std::ptr::null_mut());
    // Flush callbacks eddy will never answer (the loop was freed with the fetch pending): a
    // FetchHandle they hold would keep them, and itself, alive in a cycle.
    let flushes = std::mem::take(&mut *cbs.flushes.borrow_mut());
    if guard(move || {
        drop(flushes);
        drop(cbs)
    })
    .is_err()
    {
        log_error("dropping an HTTP fetch's closures panicked");
    }
}
