//! HttpServer: eddy's HTTP/1.1 server without the web layer (eddy/http.h's `on_request`
//! server; Tornado's `HTTPServer(callback)` without an `Application`), for proxies, echo
//! servers, benchmarks and frameworks of one's own.
//!
//! Ownership: the request closure is one `Box` given to eddy_server_new as userdata, released
//! by eddy's free callback exactly once, when the server is freed (the HttpServer's Drop). The
//! HttpServer holds a `Loop` handle, so the loop outlives the server. A request is eddy's from
//! its callback until it is finished: here, when the callback returns (or later, through a
//! [`ServerDeferred`]).
use std::cell::Cell;
use std::ffi::CString;
use std::marker::PhantomData;
use std::os::raw::{c_int, c_void};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use eddy_sys as sys;

use crate::boundary::{failure_of, guard, in_callback, log_error};
use crate::error::{check, Error, Result};
use crate::event_loop::{Loop, Remote};
use crate::request::Request;
use crate::tls::TlsContext;

type RequestFn = dyn Fn(&Request<'_>, &mut ServerResponse<'_>) -> Result<()>;

/// The server's userdata: the closure and the loop's [`Remote`] (for [`ServerDeferred`]).
struct ServerCallbacks {
    f: Box<RequestFn>,
    remote: Remote,
}

unsafe extern "C" fn free_callbacks(ud: *mut c_void) {
    // SAFETY: the Box made in HttpServer::new; eddy frees it exactly once. A panicking Drop of
    // the closure is stopped here.
    let cbs = Box::from_raw(ud as *mut ServerCallbacks);
    if guard(move || drop(cbs)).is_err() {
        log_error("dropping an HttpServer's request closure panicked");
    }
}

unsafe extern "C" fn on_request(req: *mut sys::eddy_request, ud: *mut c_void) {
    // SAFETY: ud is the ServerCallbacks of new, alive while the server is: a server dropped
    // inside this call is freed once it returned (see HttpServer's Drop).
    let cbs = &*(ud as *const ServerCallbacks);
    // SAFETY: a live request eddy just handed over, on the loop's thread.
    serve(req, &cbs.remote, "request callback", true, |rq, rs| {
        (cbs.f)(rq, rs)
    });
}

/// What a request keeps in its eddy userdata once a [`ServerDeferred`] exists for it (made by
/// [`ServerResponse::detach`], or by a write so that a later failure knows): set when eddy
/// releases the request, so that a late post never touches freed memory.
struct RawLife {
    released: AtomicBool,
    /// Body bytes were written: a failure can no longer turn the answer into a clean 500
    /// (the raw API cannot take buffered bytes back), so it aborts instead.
    wrote: AtomicBool,
}

unsafe extern "C" fn release_life(ud: *mut c_void) {
    // SAFETY: ud is the Box<Arc<RawLife>> of request_life; eddy frees it exactly once.
    let life = Box::from_raw(ud as *mut Arc<RawLife>);
    life.released.store(true, Ordering::Release);
}

/// The RawLife of `req` (made and attached on first use).
///
/// # Safety
/// `req` is a live request of an HttpServer, on its loop's thread.
unsafe fn request_life(req: *mut sys::eddy_request) -> Arc<RawLife> {
    let ud = sys::eddy_request_get_userdata(req);
    if ud.is_null() {
        let life = Arc::new(RawLife {
            released: AtomicBool::new(false),
            wrote: AtomicBool::new(false),
        });
        let boxed = Box::into_raw(Box::new(life.clone()));
        sys::eddy_request_set_userdata(req, boxed as *mut c_void, Some(release_life));
        life
    } else {
        // Only this module sets the userdata of a raw server's request.
        (*(ud as *const Arc<RawLife>)).clone()
    }
}

/// Whether body bytes were written to `req` by an earlier callback (its RawLife says so).
///
/// # Safety
/// As [`request_life`].
unsafe fn wrote_before(req: *mut sys::eddy_request) -> bool {
    let ud = sys::eddy_request_get_userdata(req);
    if ud.is_null() {
        return false;
    }
    let life: &Arc<RawLife> = &*(ud as *const Arc<RawLife>);
    life.wrote.load(Ordering::Relaxed)
}

/// Ends a request whose closure failed: a 500 when nothing of the answer was written or sent
/// (a Content-Length set earlier is dropped: the 500 has no such body), else an abort, so the
/// client sees a cut answer rather than a complete-looking one.
///
/// # Safety
/// `req` is a live, unfinished request on its loop's thread; it is released by this call.
unsafe fn fail(req: *mut sys::eddy_request, wrote: bool) {
    if !wrote && sys::eddy_request_response_status(req) == 0 {
        let cl = "Content-Length";
        sys::eddy_request_clear_header(req, cl.as_ptr() as _, cl.len());
        if sys::eddy_request_set_status(req, 500, std::ptr::null(), 0) == 0 {
            sys::eddy_request_finish(req);
            return;
        }
    }
    sys::eddy_request_abort(req);
}

/// How a callback asked the answer to end; applied once the callback returned, so that the
/// request (and every string read from it) stays alive for the whole callback.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum End {
    Finish,
    Abort,
}

/// Runs `f` for `req`, then applies its end: a panic or an Err (other than CLOSED: the client
/// left) is logged and fails the request ([`fail`]); with `finish_after`, a response neither
/// ended nor detached is finished.
///
/// # Safety
/// `req` is a live, unfinished request on its loop's thread.
unsafe fn serve<F>(
    req: *mut sys::eddy_request,
    remote: &Remote,
    kind: &str,
    finish_after: bool,
    f: F,
) where
    F: FnOnce(&Request<'_>, &mut ServerResponse<'_>) -> Result<()>,
{
    let rq = Request::new_raw(req);
    let mut rs = ServerResponse {
        req,
        remote,
        end: None,
        detached: false,
        wrote: wrote_before(req),
        _callback: PhantomData,
    };
    let outcome = guard(|| f(&rq, &mut rs));
    let failure = failure_of(outcome);
    if let Some(why) = failure {
        log_error(&format!(
            "rust HttpServer {} for {} {} {}",
            kind,
            rq.method(),
            rq.path(),
            why
        ));
        if rs.end.is_none() {
            fail(req, rs.wrote);
            return;
        }
    }
    match rs.end {
        Some(End::Finish) => {
            sys::eddy_request_finish(req);
        }
        Some(End::Abort) => {
            sys::eddy_request_abort(req);
        }
        None if finish_after && !rs.detached => {
            sys::eddy_request_finish(req);
        }
        None => {}
    }
}

/// eddy's HTTP/1.1 server without the web layer: every complete request goes to one closure
/// (the C core's `eddy_server_new` with its `on_request` callback; Tornado's
/// `HTTPServer(request_callback)`; Go's `App.ServeAll`). No routes, no Tornado life cycle
/// (no ETag, default headers, error pages, cookie or path-argument getters): the request line,
/// headers, body and decoded arguments in, status, headers and body out. The server still
/// does all of HTTP/1.1 itself: strict parsing (bad requests are answered 400, 413, 431, 501...
/// without calling the closure), keep-alive and pipelining (requests of a connection reach the
/// closure one after another, in order), chunked and Content-Length bodies, `Expect:
/// 100-continue`, HEAD (the body is counted, never sent), timeouts.
///
/// ```no_run
/// use eddy::{HttpServer, Loop};
/// let lp = Loop::new().unwrap();
/// let mut server = HttpServer::new(&lp, |req, res| {
///     res.set_header("Content-Type", "text/plain")?;
///     res.write(format!("{} {} ({} body bytes)\n", req.method(), req.uri(), req.body().len()))
/// })
/// .unwrap();
/// server.listen("127.0.0.1", 8080).unwrap();
/// lp.run().unwrap();
/// ```
///
/// The closure gets the [`Request`] (the App's type; its path-argument and cookie getters are
/// `None` here) and a [`ServerResponse`]. The response is finished when the closure returns
/// (a 200 with what it wrote, with Content-Length unless it flushed) unless it called
/// [`ServerResponse::detach`] to answer later. A panic or an `Err` (other than `CLOSED`: the
/// client left) is logged and answered with a 500 when nothing was written yet, else the
/// connection is cut ([`ServerResponse::abort`]); the server and the loop go on.
///
/// Ownership: the value owns the server and the closure. Dropping it closes the listening
/// sockets and every connection (requests kept with a [`ServerDeferred`] stay answerable: their
/// writes fail with `CLOSED`) and drops the closure (dropped inside a callback: once that
/// returned). It holds a [`Loop`] handle: [`Loop::close`] is `Err(BUSY)` while it exists.
///
/// Thread: the loop's (not `Send`); the closure runs there. Other threads answer through a
/// [`ServerDeferred`].
pub struct HttpServer {
    ptr: *mut sys::eddy_server,
    shutting_down: Cell<bool>,
    lp: Loop,
}

impl HttpServer {
    /// A server on `lp` calling `f` for every complete request, with no listening socket yet:
    /// add them with [`listen`](Self::listen) or [`listen_unix`](Self::listen_unix).
    ///
    /// Errors: `Err(NO_MEMORY)` (`f` is dropped).
    pub fn new(
        lp: &Loop,
        f: impl Fn(&Request<'_>, &mut ServerResponse<'_>) -> Result<()> + 'static,
    ) -> Result<HttpServer> {
        let cbs = Box::new(ServerCallbacks {
            f: Box::new(f),
            remote: lp.remote(),
        });
        let ud = Box::into_raw(cbs) as *mut c_void;
        // SAFETY: a live loop on its thread; ud is released by free_callbacks exactly once, or
        // by us when eddy refuses it (it keeps nothing then).
        let ptr = unsafe {
            sys::eddy_server_new(lp.as_ptr(), Some(on_request), ud, Some(free_callbacks))
        };
        if ptr.is_null() {
            // SAFETY: eddy did not take ud.
            unsafe { free_callbacks(ud) };
            return Err(Error::NO_MEMORY);
        }
        Ok(HttpServer {
            ptr,
            shutting_down: Cell::new(false),
            lp: lp.clone(),
        })
    }

    /// Listens on `host`:`port` (port 0 picks a free one: see [`port`](Self::port)); may be
    /// called again for more addresses. `host` as eddy_listener_bind takes it: a numeric
    /// address, `"localhost"`, or `""` for every local address.
    ///
    /// Errors: `Err(ADDR_IN_USE)` and the like when the socket cannot listen; `Err(INVALID)`
    /// for a host with a NUL byte.
    pub fn listen(&mut self, host: &str, port: u16) -> Result<()> {
        let host = CString::new(host).map_err(|_| Error::INVALID)?;
        // SAFETY: live server; eddy copies the host.
        check(unsafe { sys::eddy_server_listen(self.ptr, host.as_ptr(), c_int::from(port), 0) })
    }

    /// Listens on the Unix socket `path` (requests from there have no remote address:
    /// [`Request::remote_ip`] is ""). Errors as eddy_listener_bind_unix: `Err(ADDR_IN_USE)`,
    /// `Err(INVALID)` (empty, a NUL byte, too long).
    pub fn listen_unix(&mut self, path: impl AsRef<Path>) -> Result<()> {
        let path =
            CString::new(path.as_ref().as_os_str().as_bytes()).map_err(|_| Error::INVALID)?;
        // SAFETY: live server; eddy copies the path.
        check(unsafe { sys::eddy_server_listen_unix(self.ptr, path.as_ptr()) })
    }

    /// The first listening TCP port; `None` before [`listen`](Self::listen).
    pub fn port(&self) -> Option<u16> {
        // SAFETY: live server.
        u16::try_from(unsafe { sys::eddy_server_port(self.ptr) }).ok()
    }

    /// The number of open connections (keep-alive ones included).
    pub fn connection_count(&self) -> usize {
        // SAFETY: live server.
        unsafe { sys::eddy_server_connection_count(self.ptr) }
    }

    /// Graceful shutdown, as [`App::shutdown`](crate::App::shutdown) for an App's servers:
    /// stops accepting (the listening sockets close), closes idle connections at once, lets
    /// the requests in flight finish (a detached one too: its connection closes after its
    /// answer), then runs `done` once on the loop's thread, in a later iteration (never within
    /// this call). The C core's `eddy_server_shutdown`. Afterwards the server accepts no more.
    ///
    /// Ownership: the server owns `done` until it ran; dropping the server first drops it
    /// uncalled. A panic in `done` is logged and the loop goes on.
    ///
    /// Errors: `Err(STATE)` when a shutdown was already asked for (`done` is dropped);
    /// `Err(NO_MEMORY)`.
    pub fn shutdown(&self, done: impl FnOnce() + 'static) -> Result<()> {
        if self.shutting_down.get() {
            return Err(Error::STATE);
        }
        let task: Box<Option<Box<dyn FnOnce()>>> = Box::new(Some(Box::new(done)));
        let ud = Box::into_raw(task) as *mut c_void;
        // SAFETY: live server; ud is released by free_done exactly once, or by us when eddy
        // refuses it.
        let rc = unsafe {
            sys::eddy_server_shutdown(self.ptr, Some(shutdown_done), ud, Some(free_done))
        };
        if rc != 0 {
            // SAFETY: eddy did not take ud.
            unsafe { free_done(ud) };
            return Err(Error::from_code(rc));
        }
        self.shutting_down.set(true);
        Ok(())
    }

    /// A server handle for the option setters shared with the App's servers.
    fn opts(&mut self) -> crate::app::Server<'_> {
        crate::app::Server::raw(self.ptr)
    }

    /// Serves HTTPS with `ctx`, a server context ([`TlsContext::server`]), for connections
    /// accepted from now on; requests report the scheme "https". The server keeps its own
    /// reference. Err(INVALID) for a client context or one without a certificate.
    pub fn set_tls(&mut self, ctx: &TlsContext) -> Result<()> {
        self.opts().set_tls(ctx)
    }

    /// Closes every connection after its response (Tornado's `no_keep_alive`; default off).
    pub fn set_no_keep_alive(&mut self, on: bool) -> Result<()> {
        self.opts().set_no_keep_alive(on)
    }

    /// Tornado's `xheaders`: as [`App::set_xheaders`](crate::App::set_xheaders).
    pub fn set_xheaders(&mut self, on: bool) -> Result<()> {
        self.opts().set_xheaders(on)
    }

    /// Whether form bodies become arguments before the closure runs (default on, as
    /// Tornado): as [`App::set_body_arguments`](crate::App::set_body_arguments). Off, every
    /// body reaches the closure as it came (a proxy, an echo server).
    pub fn set_body_arguments(&mut self, on: bool) -> Result<()> {
        self.opts().set_body_arguments(on)
    }

    /// Decodes gzip request bodies first: as
    /// [`App::set_decompress_request`](crate::App::set_decompress_request).
    pub fn set_decompress_request(&mut self, on: bool) -> Result<()> {
        self.opts().set_decompress_request(on)
    }

    /// Largest request head: as [`App::set_max_header_size`](crate::App::set_max_header_size).
    /// Err(INVALID) under 64.
    pub fn set_max_header_size(&mut self, bytes: usize) -> Result<()> {
        self.opts().set_max_header_size(bytes)
    }

    /// Largest request body: as [`App::set_max_body_size`](crate::App::set_max_body_size).
    pub fn set_max_body_size(&mut self, bytes: usize) -> Result<()> {
        self.opts().set_max_body_size(bytes)
    }

    /// Request-head timeout: as [`App::set_header_timeout`](crate::App::set_header_timeout).
    pub fn set_header_timeout(&mut self, seconds: f64) -> Result<()> {
        self.opts().set_header_timeout(seconds)
    }

    /// Keep-alive idle timeout: as [`App::set_idle_timeout`](crate::App::set_idle_timeout).
    pub fn set_idle_timeout(&mut self, seconds: f64) -> Result<()> {
        self.opts().set_idle_timeout(seconds)
    }

    /// Request-body timeout: as [`App::set_body_timeout`](crate::App::set_body_timeout).
    pub fn set_body_timeout(&mut self, seconds: f64) -> Result<()> {
        self.opts().set_body_timeout(seconds)
    }

    /// Most connections at once: as
    /// [`App::set_max_connections`](crate::App::set_max_connections).
    pub fn set_max_connections(&mut self, count: usize) -> Result<()> {
        self.opts().set_max_connections(count)
    }

    /// The Server header of every response: as
    /// [`App::set_server_header`](crate::App::set_server_header) (`None`: none).
    pub fn set_server_header(&mut self, value: Option<&str>) -> Result<()> {
        self.opts().set_server_header(value)
    }

    /// Lets requests with `method` (a token other than the seven standard ones, which always
    /// pass) reach the closure instead of the server's 501. Err(INVALID) for a non-token and
    /// for CONNECT (eddy is no tunnel: always 501). The C core's `eddy_server_allow_method`.
    pub fn allow_method(&mut self, method: &str) -> Result<()> {
        // SAFETY: live server; the method is passed with its length.
        check(unsafe {
            sys::eddy_server_allow_method(self.ptr, method.as_ptr() as _, method.len())
        })
    }

    /// `true`: every well-formed method reaches the closure (CONNECT excepted: always 501).
    pub fn allow_any_method(&mut self, on: bool) -> Result<()> {
        // SAFETY: live server.
        check(unsafe { sys::eddy_server_allow_any_method(self.ptr, c_int::from(on)) })
    }
}

unsafe extern "C" fn shutdown_done(_server: *mut sys::eddy_server, ud: *mut c_void) {
    // SAFETY: ud is the Box<Option<..>> of shutdown, alive until free_done.
    let slot = &mut *(ud as *mut Option<Box<dyn FnOnce()>>);
    if let Some(done) = slot.take() {
        if let Err(msg) = guard(done) {
            log_error(&format!(
                "an HttpServer shutdown's done closure panicked: {}",
                msg
            ));
        }
    }
}

unsafe extern "C" fn free_done(ud: *mut c_void) {
    // SAFETY: eddy releases the userdata of shutdown exactly once.
    let slot = Box::from_raw(ud as *mut Option<Box<dyn FnOnce()>>);
    if guard(move || drop(slot)).is_err() {
        log_error("dropping an HttpServer shutdown's done closure panicked");
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        let ptr = self.ptr;
        if in_callback() {
            // Dropped from inside a loop callback (perhaps its own request closure, which
            // borrows the userdata eddy would release): free it once that returned, as App.
            // SAFETY (in the deferred free): freed once, on its loop thread, before the loop.
            if self
                .lp
                .defer_free(move || unsafe { sys::eddy_server_free(ptr) })
                .is_ok()
            {
                return;
            }
            log_error("an HttpServer dropped inside a callback is freed at once (out of memory)");
        }
        // SAFETY: live server, freed once; its loop is alive through `lp`.
        unsafe { sys::eddy_server_free(ptr) }
    }
}

impl std::fmt::Debug for HttpServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpServer")
            .field("port", &self.port())
            .field("connections", &self.connection_count())
            .finish()
    }
}

/// The answer to a request of an [`HttpServer`], for one callback (the C core's
/// `eddy_request_*` response functions). Headers and status go out with the first
/// [`flush`](Self::flush) or at the finish; after that they are `Err(STATE)`. Every call is
/// `Err(STATE)` once the answer was ended ([`finish`](Self::finish), [`abort`](Self::abort)),
/// and writes are `Err(CLOSED)` once the client is gone.
pub struct ServerResponse<'a> {
    req: *mut sys::eddy_request,
    remote: &'a Remote,
    end: Option<End>,
    detached: bool,
    wrote: bool,
    _callback: PhantomData<&'a ()>,
}

impl<'a> ServerResponse<'a> {
    fn open(&self) -> Result<()> {
        if self.end.is_some() {
            return Err(Error::STATE);
        }
        Ok(())
    }

    /// Sets the status (200 by default; 200..=599, with the standard reason phrase). Only
    /// before the first flush. 204 and 304 carry no body (writes are `Err(STATE)`).
    /// Err(INVALID) for a status out of range.
    pub fn set_status(&mut self, status: u16) -> Result<()> {
        self.open()?;
        // SAFETY: live request (alive for the callback).
        check(unsafe {
            sys::eddy_request_set_status(self.req, c_int::from(status), std::ptr::null(), 0)
        })
    }

    /// Sets the status with its own reason phrase. Err(INVALID) for a reason with CR, LF, NUL
    /// or '<'.
    pub fn set_status_reason(&mut self, status: u16, reason: &str) -> Result<()> {
        self.open()?;
        // SAFETY: live request; the reason is passed with its length.
        check(unsafe {
            sys::eddy_request_set_status(
                self.req,
                c_int::from(status),
                reason.as_ptr() as _,
                reason.len(),
            )
        })
    }

    /// Sets a response header, replacing earlier values of the name (case-insensitive).
    /// Err(INVALID) for a name that is no token or a value with control characters (CR, LF,
    /// NUL...: no header injection). Setting Content-Length declares the body's length:
    /// writing more is `Err(TOO_BIG)` and finishing short closes the connection.
    pub fn set_header(&mut self, name: &str, value: &str) -> Result<()> {
        self.open()?;
        // SAFETY: live request; both strings passed with their lengths.
        check(unsafe {
            sys::eddy_request_set_header(
                self.req,
                name.as_ptr() as _,
                name.len(),
                value.as_ptr() as _,
                value.len(),
            )
        })
    }

    /// Adds a response header (repeats allowed, e.g. Set-Cookie). As [`set_header`](Self::set_header).
    pub fn add_header(&mut self, name: &str, value: &str) -> Result<()> {
        self.open()?;
        // SAFETY: live request; both strings passed with their lengths.
        check(unsafe {
            sys::eddy_request_add_header(
                self.req,
                name.as_ptr() as _,
                name.len(),
                value.as_ptr() as _,
                value.len(),
            )
        })
    }

    /// Removes every value of a response header (also when absent).
    pub fn clear_header(&mut self, name: &str) -> Result<()> {
        self.open()?;
        // SAFETY: live request; the name passed with its length.
        check(unsafe { sys::eddy_request_clear_header(self.req, name.as_ptr() as _, name.len()) })
    }

    /// Appends body bytes (buffered until [`flush`](Self::flush) or the finish). A HEAD
    /// request's answer counts them but never sends them. Err(CLOSED): the client is gone;
    /// Err(TOO_BIG): more than a declared Content-Length (the connection is closed).
    pub fn write(&mut self, data: impl AsRef<[u8]>) -> Result<()> {
        self.open()?;
        let data = data.as_ref();
        // SAFETY: live request; `data` is valid for its length.
        check(unsafe { sys::eddy_request_write(self.req, data.as_ptr() as _, data.len()) })?;
        if !data.is_empty() && !self.wrote {
            // Bytes the raw API cannot take back: a failure can no longer become a clean 500.
            self.wrote = true;
            // SAFETY: live request. One that already has a RawLife (detached) keeps the fact
            // for its later callbacks; others need no allocation for it.
            unsafe {
                if !sys::eddy_request_get_userdata(self.req).is_null() {
                    request_life(self.req).wrote.store(true, Ordering::Relaxed);
                }
            }
        }
        Ok(())
    }

    /// Sends the head (the first time) and what was written so far: on HTTP/1.1 without a
    /// declared Content-Length as a chunk (`Transfer-Encoding: chunked`); on HTTP/1.0 the
    /// answer ends with the connection. For streaming answers (with [`detach`](Self::detach)).
    pub fn flush(&mut self) -> Result<()> {
        self.open()?;
        // SAFETY: live request; no completion callback.
        check(unsafe { sys::eddy_request_flush(self.req, None) })
    }

    /// Finishes the answer (adding Content-Length when nothing was flushed), once the
    /// callback returns: the request's strings stay readable until then. The connection is
    /// then kept alive for the client's next request, unless either side said close.
    pub fn finish(&mut self) -> Result<()> {
        self.open()?;
        self.end = Some(End::Finish);
        Ok(())
    }

    /// Ends the request with its answer left incomplete (the C core's `eddy_request_abort`),
    /// once the callback returns: what was flushed stays sent, and the connection closes
    /// without the answer's end (no last chunk, the declared Content-Length not reached), so
    /// the client knows it is truncated. Before the head went out, the connection just closes.
    /// For an answer that cannot be completed (a proxy whose upstream broke off).
    pub fn abort(&mut self) -> Result<()> {
        self.open()?;
        self.end = Some(End::Abort);
        Ok(())
    }

    /// Keeps the answer open after the callback returns (a long poll, an answer computed on
    /// another thread, a stream): the [`ServerDeferred`] it gives is `Send` and finishes it
    /// through the loop's thread. Writes in this callback still go into the answer.
    /// Err(STATE) when already detached or ended in this callback.
    pub fn detach(&mut self) -> Result<ServerDeferred> {
        self.open()?;
        if self.detached {
            return Err(Error::STATE);
        }
        self.detached = true;
        // SAFETY: live request on its loop's thread.
        let life = unsafe { request_life(self.req) };
        if self.wrote {
            life.wrote.store(true, Ordering::Relaxed);
        }
        Ok(ServerDeferred {
            req: RequestPtr(self.req),
            life,
            remote: self.remote.clone(),
            open: true,
        })
    }

    /// Whether the answer was ended in this callback ([`finish`](Self::finish) or
    /// [`abort`](Self::abort)).
    pub fn is_finished(&self) -> bool {
        self.end.is_some()
    }

    /// Whether the client's connection is gone (writes would be `Err(CLOSED)`).
    pub fn connection_closed(&self) -> bool {
        // SAFETY: live request.
        unsafe { sys::eddy_request_connection_closed(self.req) != 0 }
    }
}

#[derive(Clone, Copy)]
struct RequestPtr(*mut sys::eddy_request);
// SAFETY: the pointer only travels; it is dereferenced on the loop thread, after checking
// RawLife::released.
unsafe impl Send for RequestPtr {}
impl RequestPtr {
    // A method (not `.0`) so that closures capture the Send wrapper, not the raw field.
    fn get(self) -> *mut sys::eddy_request {
        self.0
    }
}

/// An [`HttpServer`] answer kept open after its callback returned
/// ([`ServerResponse::detach`]), as [`Deferred`](crate::Deferred) is for an App's handlers. It
/// is `Send`: finish it from a worker thread, a timer, another request's callback... Each use
/// posts a closure to the loop thread (eddy_loop_call_soon_threadsafe), which runs it with the
/// request and response unless the answer was ended or released meanwhile (then the closure
/// is dropped unrun). If the client left meanwhile, the closure still runs: its writes are
/// `Err(CLOSED)` and the finish releases the request. Dropping a ServerDeferred without
/// finishing it answers 500 (or cuts the answer when some of it was written).
pub struct ServerDeferred {
    req: RequestPtr,
    life: Arc<RawLife>,
    remote: Remote,
    open: bool,
}

impl ServerDeferred {
    /// Runs `f` with the request and response on the loop thread, then finishes the answer
    /// (unless `f` ended it or detached again). Err(CLOSED) when the loop no longer exists
    /// (`f` is dropped).
    pub fn finish<F>(mut self, f: F) -> Result<()>
    where
        F: FnOnce(&Request<'_>, &mut ServerResponse<'_>) -> Result<()> + Send + 'static,
    {
        self.open = false;
        self.post(f, true)
    }

    /// Runs `f` with the request and response on the loop thread without finishing (e.g. to
    /// write and flush a piece of a streamed answer). Err(CLOSED) when the loop is gone.
    pub fn send<F>(&self, f: F) -> Result<()>
    where
        F: FnOnce(&Request<'_>, &mut ServerResponse<'_>) -> Result<()> + Send + 'static,
    {
        self.post(f, false)
    }

    fn post<F>(&self, f: F, finish: bool) -> Result<()>
    where
        F: FnOnce(&Request<'_>, &mut ServerResponse<'_>) -> Result<()> + Send + 'static,
    {
        let req = self.req;
        let life = self.life.clone();
        let remote = self.remote.clone();
        self.remote.call_soon(move || {
            let req = req.get();
            // SAFETY: on the loop thread; `released` says whether req was freed, and an
            // unreleased request may be asked whether it was finished.
            if life.released.load(Ordering::Acquire)
                || unsafe { sys::eddy_request_finished(req) } != 0
            {
                return;
            }
            // SAFETY: req is alive and unfinished, on its loop thread.
            unsafe { serve(req, &remote, "deferred response", finish, f) }
        })
    }
}

impl Drop for ServerDeferred {
    fn drop(&mut self) {
        if !self.open {
            return;
        }
        let req = self.req;
        let life = self.life.clone();
        // Err: the loop is gone, nothing can be answered any more.
        let _ = self.remote.call_soon(move || {
            let req = req.get();
            // SAFETY: on the loop thread, checked as in post.
            if life.released.load(Ordering::Acquire)
                || unsafe { sys::eddy_request_finished(req) } != 0
            {
                return;
            }
            log_error("an HttpServer's ServerDeferred was dropped without being finished");
            // SAFETY: req is alive and unfinished.
            unsafe { fail(req, life.wrote.load(Ordering::Relaxed)) };
        });
    }
}

#[allow(dead_code)]
fn _assert_server_deferred_is_send() {
    fn check<T: Send>() {}
    check::<ServerDeferred>();
}
