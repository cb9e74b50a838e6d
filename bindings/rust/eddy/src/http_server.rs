//! HttpServer: eddy's HTTP/1.1 server without the web layer (eddy/http.h's `on_request`
//! server; Tornado's `HTTPServer(callback)` without an `Application`), for proxies, echo
//! servers, benchmarks and frameworks of one's own.
//!
//! Ownership: the request closure is one `Box` given to eddy_server_new as userdata, released
//! by eddy's free callback exactly once, when the server is freed (the HttpServer's Drop). The
//! HttpServer holds a `Loop` handle, so the loop outlives the server. A request is eddy's from
//! its callback until it is finished: here, when the callback returns (or later, through a
//! [`ServerDeferred`]).
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::ffi::CString;
use std::marker::PhantomData;
use std::os::raw::{c_char, c_int, c_void};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::io::{AsRawFd, BorrowedFd, IntoRawFd, OwnedFd};
use std::path::Path;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use eddy_sys as sys;

use crate::boundary::{failure_of, guard, in_callback, log_error};
use crate::error::{check, Error, Result};
use crate::event_loop::{Loop, Remote};
use crate::request::Request;
use crate::tls::TlsContext;

type RequestFn = dyn Fn(&Request<'_>, &mut ServerResponse<'_>) -> Result<()>;
type DataFn = dyn FnMut(&Request<'_>, &mut ServerResponse<'_>, &[u8]) -> Result<()>;
type FlushFn = Box<dyn FnOnce(&Request<'_>, &mut ServerResponse<'_>, Result<()>) -> Result<()>>;
type AccessFn = dyn Fn(&Request<'_>, &AccessEntry);

/// The server's userdata: the closures and the loop's [`Remote`] (for [`ServerDeferred`]).
struct ServerCallbacks {
    f: Box<RequestFn>,
    /// [`HttpServer::on_headers`]'s closure (a RefCell: it may be set while serving; each call
    /// clones the Rc out first, so the closure may even replace itself).
    headers: RefCell<Option<Rc<RequestFn>>>,
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
    if let Some(state) = existing_state(req) {
        // From here on the application owns it: a close is its to finish (a ServerDeferred).
        state.delivered.set(true);
    }
    serve(
        req,
        &cbs.remote,
        "request callback",
        Stage::Request,
        |rq, rs| (cbs.f)(rq, rs),
    );
}

/// What a request keeps in its eddy userdata once it needs it (made by the first
/// [`ServerResponse::detach`], [`ServerResponse::stream_body`], [`ServerResponse::on_close`],
/// [`ServerResponse::flush_then`] or [`ServerResponse::pause_body`], or by a write after one
/// of them): the per-request closures, and the [`RawLife`] that handles off the loop thread
/// share. Released by eddy exactly once, with the request ([`release_state`]).
struct RequestState {
    life: Arc<RawLife>,
    remote: Remote,
    /// The closure of [`ServerResponse::stream_body`]; taken out while it runs.
    data: RefCell<Option<Box<DataFn>>>,
    /// The closure of [`ServerResponse::on_close`]; run at most once.
    close: RefCell<Option<Box<dyn FnOnce()>>>,
    /// The closures of [`ServerResponse::flush_then`] waiting for eddy's completions, oldest
    /// first (eddy completes a request's flushes in the order they were asked for), each with
    /// whether the answer is finished after it (it continues a callback that would have
    /// finished it: see [`serve`]).
    flushes: RefCell<VecDeque<(FlushFn, bool)>>,
    /// The request callback was reached. Before that (the headers and body stages) nobody but
    /// this module can finish the request, so a close there is finished here.
    delivered: Cell<bool>,
}

/// What handles off the loop thread ([`ServerDeferred`], [`PausedBody`]) share with a
/// request: set when eddy releases the request, so that a late post never touches freed
/// memory.
struct RawLife {
    released: AtomicBool,
    /// Body bytes were written: a failure can no longer turn the answer into a clean 500
    /// (the raw API cannot take buffered bytes back), so it aborts instead.
    wrote: AtomicBool,
}

unsafe extern "C" fn release_state(ud: *mut c_void) {
    // SAFETY: ud is the Box<RequestState> of request_state; eddy frees it exactly once.
    let state = Box::from_raw(ud as *mut RequestState);
    state.life.released.store(true, Ordering::Release);
    // The closures it still holds (a close or flush closure never called, a body closure) are
    // the application's: a panicking Drop is stopped here.
    if guard(move || drop(state)).is_err() {
        log_error("dropping an HttpServer request's closures panicked");
    }
}

/// The RequestState of `req` (made and attached on first use).
///
/// # Safety
/// `req` is a live request of an HttpServer, on its loop's thread; the reference is used only
/// while the request is alive (not across a finish).
unsafe fn request_state<'x>(req: *mut sys::eddy_request, remote: &Remote) -> &'x RequestState {
    let ud = sys::eddy_request_get_userdata(req);
    if !ud.is_null() {
        // Only this module sets the userdata of a raw server's request.
        return &*(ud as *const RequestState);
    }
    let state = Box::into_raw(Box::new(RequestState {
        life: Arc::new(RawLife {
            released: AtomicBool::new(false),
            wrote: AtomicBool::new(false),
        }),
        remote: remote.clone(),
        data: RefCell::new(None),
        close: RefCell::new(None),
        flushes: RefCell::new(VecDeque::new()),
        delivered: Cell::new(false),
    }));
    sys::eddy_request_set_userdata(req, state as *mut c_void, Some(release_state));
    &*state
}

/// The RequestState of `req` if it has one.
///
/// # Safety
/// As [`request_state`].
unsafe fn existing_state<'x>(req: *mut sys::eddy_request) -> Option<&'x RequestState> {
    let ud = sys::eddy_request_get_userdata(req);
    if ud.is_null() {
        None
    } else {
        Some(&*(ud as *const RequestState))
    }
}

/// Whether body bytes were written to `req` by an earlier callback (its RawLife says so).
///
/// # Safety
/// As [`request_state`].
unsafe fn wrote_before(req: *mut sys::eddy_request) -> bool {
    existing_state(req).map_or(false, |s| s.life.wrote.load(Ordering::Relaxed))
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

/// Which callback a [`serve`] runs, for what it may do and what follows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    /// The headers callback ([`HttpServer::on_headers`]): before the body; not finished after.
    Head,
    /// A streamed body's piece ([`ServerResponse::stream_body`]); not finished after.
    Body,
    /// The request callback: finished after, unless detached.
    Request,
    /// A later callback of a request the application owns (a [`ServerDeferred`]'s closure, a
    /// flush completion): finished after only when `finish` says so.
    Later { finish: bool },
}

/// Runs `f` for `req`, then applies its end: a panic or an Err (other than CLOSED: the client
/// left) is logged and fails the request ([`fail`]); in [`Stage::Request`] (and a finishing
/// [`Stage::Later`]), a response neither ended nor detached is finished. A request that was
/// already finished (a flush completion after the finish) gets a response on which every call
/// is `Err(STATE)`, and nothing is applied.
///
/// # Safety
/// `req` is a live request on its loop's thread.
unsafe fn serve<F>(req: *mut sys::eddy_request, remote: &Remote, kind: &str, stage: Stage, f: F)
where
    F: FnOnce(&Request<'_>, &mut ServerResponse<'_>) -> Result<()>,
{
    let ended = sys::eddy_request_finished(req) != 0;
    let rq = Request::new_raw(req);
    let mut rs = ServerResponse {
        req,
        remote,
        end: if ended { Some(End::Finish) } else { None },
        detached: false,
        stage,
        wrote: wrote_before(req),
        continued: false,
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
    if ended {
        return;
    }
    let finish_after = match stage {
        Stage::Request => true,
        Stage::Later { finish } => finish,
        Stage::Head | Stage::Body => false,
    };
    match rs.end {
        Some(End::Finish) => {
            sys::eddy_request_finish(req);
        }
        Some(End::Abort) => {
            sys::eddy_request_abort(req);
        }
        None if finish_after && !rs.detached && rs.continued => {
            // A flush_then continues the answer (Tornado's handler going on after `await
            // self.flush()`): its closure gets the response still open, and the finish this
            // callback would have done comes after that closure instead (or after the one it
            // chains in turn). (continued: flush_then made the state and queued a closure.)
            if let Some(state) = existing_state(req) {
                if let Some(last) = state.flushes.borrow_mut().back_mut() {
                    last.1 = true;
                }
            }
        }
        None if finish_after && !rs.detached => {
            sys::eddy_request_finish(req);
        }
        None => {}
    }
}

unsafe extern "C" fn on_headers(req: *mut sys::eddy_request, ud: *mut c_void) {
    // SAFETY: ud is the ServerCallbacks of new, alive while the server is (as on_request).
    let cbs = &*(ud as *const ServerCallbacks);
    let f = cbs.headers.borrow().clone();
    if let Some(f) = f {
        // SAFETY: a live request whose head eddy just parsed, on the loop's thread.
        serve(
            req,
            &cbs.remote,
            "headers callback",
            Stage::Head,
            |rq, rs| f(rq, rs),
        );
    }
}

unsafe extern "C" fn on_body_data(
    req: *mut sys::eddy_request,
    data: *const c_char,
    len: usize,
    ud: *mut c_void,
) {
    // SAFETY: ud is the RequestState of stream_body (it made one before asking eddy), alive
    // until eddy releases the request, which it does not do before this call.
    let state = &*(ud as *const RequestState);
    let taken = state.data.borrow_mut().take();
    let mut f = match taken {
        Some(f) => f,
        None => return,
    };
    let life = state.life.clone();
    let remote = state.remote.clone();
    let chunk: &[u8] = if len == 0 {
        &[]
    } else {
        std::slice::from_raw_parts(data as *const u8, len)
    };
    // SAFETY: a live request, on the loop's thread.
    serve(req, &remote, "body callback", Stage::Body, |rq, rs| {
        f(rq, rs, chunk)
    });
    // The closure finished the request (an early answer, a failure): eddy may have released
    // it, and the state with it; only an unreleased state takes the closure back.
    if !life.released.load(Ordering::Acquire) {
        // SAFETY: not released, so the state is alive.
        let state = &*(ud as *const RequestState);
        let mut slot = state.data.borrow_mut();
        if slot.is_none() {
            *slot = Some(f);
            return;
        }
    }
    if guard(move || drop(f)).is_err() {
        log_error("dropping an HttpServer body closure panicked");
    }
}

unsafe extern "C" fn on_request_close(req: *mut sys::eddy_request, ud: *mut c_void) {
    // SAFETY: ud is the RequestState of on_close, alive until the request is released, which
    // eddy does not do before this call (the request stays valid until finished).
    let state = &*(ud as *const RequestState);
    let delivered = state.delivered.get();
    let taken = state.close.borrow_mut().take();
    if let Some(f) = taken {
        if let Err(msg) = guard(f) {
            log_error(&format!(
                "an HttpServer request's close closure panicked: {}",
                msg
            ));
        }
    }
    if !delivered {
        // The client left (or the server answered 400/408/413 itself) before the request
        // callback: no ServerDeferred can exist yet, so nobody else would finish it. With a
        // close callback set, eddy leaves that to us (http.h); the finish releases it.
        // SAFETY: live request, released by this call.
        sys::eddy_request_finish(req);
    }
}

unsafe extern "C" fn on_flushed(req: *mut sys::eddy_request, status: c_int, ud: *mut c_void) {
    // SAFETY: ud is the RequestState of flush_then; eddy keeps the request (and so its
    // userdata) until its pending flush completions ran.
    let state = &*(ud as *const RequestState);
    let taken = state.flushes.borrow_mut().pop_front();
    if let Some((cb, finish)) = taken {
        let remote = state.remote.clone();
        let sent = if status == 0 {
            Ok(())
        } else {
            Err(Error::from_code(status))
        };
        // SAFETY: a live request, on the loop's thread.
        serve(
            req,
            &remote,
            "flush callback",
            Stage::Later { finish },
            move |rq, rs| cb(rq, rs, sent),
        );
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
    /// The server's userdata (owned by eddy, alive while `ptr` is), for
    /// [`on_headers`](Self::on_headers).
    cbs: *const ServerCallbacks,
    /// The file of [`set_access_log_fd`](Self::set_access_log_fd): eddy writes to it but does
    /// not own it, so it is closed only after the server is freed (which writes what is left).
    log_fd: Option<OwnedFd>,
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
            headers: RefCell::new(None),
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
            cbs: ud as *const ServerCallbacks,
            log_fd: None,
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

    /// As [`listen_unix`](Self::listen_unix) with the socket file's permission bits `mode`
    /// (`0o600`, Tornado's `bind_unix_socket` default: only this user can connect); the C
    /// core's `eddy_server_listen_unix_mode`. `Err(INVALID)` also for a mode above `0o777`.
    pub fn listen_unix_mode(&mut self, path: impl AsRef<Path>, mode: u32) -> Result<()> {
        self.opts().listen_unix(path, mode)
    }

    /// Accepts on `fd`, a socket already bound and listening (Tornado's
    /// `HTTPServer.add_sockets`; the C core's `eddy_server_add_fd`): one inherited from a
    /// parent process or a service manager, made by [`bind_socket`](crate::bind_socket)
    /// before [`fork_processes`](crate::fork_processes), or a `std::net::TcpListener`
    /// (`listener.into()`). May be called again for more sockets, also after
    /// [`listen`](Self::listen).
    ///
    /// Ownership: the server takes `fd` (closed when the server is dropped or shut down). On
    /// an error `fd` is closed too.
    ///
    /// Errors: `Err(INVALID)` (not a listening socket), `Err(STATE)` (after
    /// [`shutdown`](Self::shutdown)), `Err(NO_MEMORY)`.
    pub fn add_fd(&mut self, fd: OwnedFd) -> Result<()> {
        let raw = fd.into_raw_fd();
        // SAFETY: live server; on success it owns raw.
        let rc = unsafe { sys::eddy_server_add_fd(self.ptr, raw) };
        if rc < 0 {
            // SAFETY: eddy did not take raw (it keeps nothing on an error), which we own: it
            // came from an OwnedFd.
            drop(unsafe { <OwnedFd as std::os::unix::io::FromRawFd>::from_raw_fd(raw) });
        }
        check(rc)
    }

    /// The `index`th listening socket (0 = the first), e.g. to hand to a new process during a
    /// graceful reload (the C core's `eddy_server_listening_fd`): `try_clone_to_owned()` it,
    /// clear `FD_CLOEXEC` on the copy, exec, and give it to [`add_fd`](Self::add_fd) there.
    /// The server keeps owning it (the borrow ends with `&self`). `None` when there is no such
    /// socket.
    pub fn listening_fd(&self, index: usize) -> Option<BorrowedFd<'_>> {
        let index = c_int::try_from(index).ok()?;
        // SAFETY: live server.
        let fd = unsafe { sys::eddy_server_listening_fd(self.ptr, index) };
        if fd < 0 {
            return None;
        }
        // SAFETY: an open socket the server owns; the server cannot close it while `self` is
        // borrowed (closing takes `&mut self` or the drop).
        Some(unsafe { BorrowedFd::borrow_raw(fd) })
    }

    /// Calls `f` once each request's head is parsed and valid, before its body is read (the
    /// C core's headers callback; what Tornado's `HTTPMessageDelegate.headers_received` and a
    /// `@stream_request_body` handler's `prepare` are for). There, on the [`ServerResponse`]:
    /// - [`stream_body`](ServerResponse::stream_body) hands the body to a closure piece by
    ///   piece instead of holding it (uploads, proxies), with flow control
    ///   ([`pause_body`](ServerResponse::pause_body));
    /// - [`set_max_body_size`](ServerResponse::set_max_body_size) and
    ///   [`set_body_timeout`](ServerResponse::set_body_timeout) change this request's limits;
    /// - an answer ended there ([`finish`](ServerResponse::finish): a 401, a 413) goes out at
    ///   once, the body is not read and the connection closes after it; the request closure
    ///   is not called;
    /// - [`on_close`](ServerResponse::on_close) learns that the client left before the end.
    ///
    /// The request closure still runs once the body is complete (with an empty
    /// [`Request::body`] when it was streamed), as Tornado's `finish` / the method of a
    /// streaming handler. Arguments are the query's alone here (the body has not arrived).
    /// [`ServerResponse::detach`] is `Err(STATE)` here: the request becomes the application's
    /// at the request closure. A panic or an `Err` (other than `CLOSED`) is logged and answered
    /// 500 (the body is not read). Replaces an earlier closure; not called for methods the
    /// server refuses (501).
    pub fn on_headers(
        &mut self,
        f: impl Fn(&Request<'_>, &mut ServerResponse<'_>) -> Result<()> + 'static,
    ) -> Result<()> {
        // SAFETY: cbs is the server's userdata, alive while the server is.
        *unsafe { &*self.cbs }.headers.borrow_mut() = Some(Rc::new(f));
        // SAFETY: live server.
        check(unsafe { sys::eddy_server_set_headers_callback(self.ptr, Some(on_headers)) })
    }

    /// Calls `f` once per answer, after it was finished or aborted (the C core's
    /// `eddy_server_set_access_log`; Tornado's `log_function`): the [`Request`] (method,
    /// [`uri`](Request::uri), [`remote_ip`](Request::remote_ip), headers...) and an
    /// [`AccessEntry`] (status, body bytes, duration, whether the client had left). A request
    /// finished after its client left is logged at that finish too, with `client_left`; a
    /// panic in `f` is logged and the server goes on. Writes are impossible there (the answer
    /// is over). Replaces an earlier closure (which is dropped). Always `Ok` for a live
    /// server (a `Result` as the other setters).
    pub fn set_access_log(
        &mut self,
        f: impl Fn(&Request<'_>, &AccessEntry) + 'static,
    ) -> Result<()> {
        let boxed: Box<Box<AccessFn>> = Box::new(Box::new(f));
        let ud = Box::into_raw(boxed) as *mut c_void;
        // SAFETY: live server; eddy releases ud through free_access exactly once (when replaced
        // or when the server is freed). It cannot fail for a live server.
        check(unsafe {
            sys::eddy_server_set_access_log(self.ptr, Some(on_access), ud, Some(free_access))
        })
    }

    /// Writes a Common Log Format line per answer to `fd` (a file, a pipe, stderr's
    /// `dup`), or stops with `None` (the C core's `eddy_server_set_access_log_fd`, nginx's
    /// `access_log`): as nginx, an answer that never went out is logged 499 (the client left)
    /// or 444 (aborted before the head), and the request's bytes are escaped so that no
    /// request can end a field early. Lines of one loop pass are written together; the loop
    /// never waits for a slow reader (see http.h for the buffering and the warnings). Works
    /// alongside [`set_access_log`](Self::set_access_log).
    ///
    /// Ownership: the server keeps `fd` until it is replaced or the server is freed, and
    /// closes it after the lines pending for it were written.
    ///
    /// Errors: `Err(STATE)` once the loop was freed, `Err(NO_MEMORY)`; `fd` is closed then,
    /// and the previous one stays in use.
    pub fn set_access_log_fd(&mut self, fd: Option<OwnedFd>) -> Result<()> {
        let raw = fd.as_ref().map_or(-1, AsRawFd::as_raw_fd);
        // SAFETY: live server; `fd` outlives its use: kept below until replaced or freed.
        check(unsafe { sys::eddy_server_set_access_log_fd(self.ptr, raw) })?;
        // eddy wrote the old file's pending lines before letting it go: it may close now.
        self.log_fd = fd;
        Ok(())
    }

    /// Serves `stream`, a connected socket accepted elsewhere (the C core's
    /// `eddy_server_add_connection`; Tornado's `HTTPServer.handle_stream`), e.g. one handed
    /// over by a [`TcpServer`](crate::TcpServer) or another process. `peer` is the client's
    /// address as [`Request::remote_ip`] and the logs report it (`None`: "" and port 0).
    ///
    /// Ownership: the server takes `stream`; on an error it is closed too.
    ///
    /// Errors: `Err(INVALID)` (not a socket), `Err(STATE)` (after
    /// [`shutdown`](Self::shutdown)), `Err(NO_MEMORY)`.
    pub fn add_connection(
        &mut self,
        stream: OwnedFd,
        peer: Option<std::net::SocketAddr>,
    ) -> Result<()> {
        let (ip, port) = match peer {
            Some(a) => (a.ip().to_string(), c_int::from(a.port())),
            None => (String::new(), 0),
        };
        let ip = CString::new(ip).map_err(|_| Error::INVALID)?;
        let raw = stream.into_raw_fd();
        // SAFETY: live server; eddy copies the address. On success it owns raw; on
        // EDDY_ENOMEM it closed raw itself; on the other errors raw stays ours.
        let rc = unsafe { sys::eddy_server_add_connection(self.ptr, raw, ip.as_ptr(), port) };
        if rc < 0 && rc != sys::EDDY_ENOMEM {
            // SAFETY: raw came from an OwnedFd and eddy did not take (or close) it.
            drop(unsafe { <OwnedFd as std::os::unix::io::FromRawFd>::from_raw_fd(raw) });
        }
        check(rc)
    }

    /// Removes the closure of [`set_access_log`](Self::set_access_log) (dropped now).
    pub fn clear_access_log(&mut self) -> Result<()> {
        // SAFETY: live server; the old userdata is released by eddy.
        check(unsafe {
            sys::eddy_server_set_access_log(self.ptr, None, std::ptr::null_mut(), None)
        })
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

    /// Most header field lines in a request head: as
    /// [`App::set_max_header_fields`](crate::App::set_max_header_fields) (431 over it).
    /// Err(INVALID) for 0.
    pub fn set_max_header_fields(&mut self, count: usize) -> Result<()> {
        self.opts().set_max_header_fields(count)
    }

    /// Most request-body bytes held in memory over all connections: as
    /// [`App::set_max_body_memory`](crate::App::set_max_body_memory) (bodies streamed with
    /// [`ServerResponse::stream_body`] do not count).
    pub fn set_max_body_memory(&mut self, bytes: usize) -> Result<()> {
        self.opts().set_max_body_memory(bytes)
    }

    /// Adds a trusted downstream proxy for [`set_xheaders`](Self::set_xheaders): as
    /// [`App::add_trusted_proxy`](crate::App::add_trusted_proxy). Err(INVALID) for anything
    /// but a numeric address (or `"unix:"`).
    pub fn add_trusted_proxy(&mut self, ip: &str) -> Result<()> {
        self.opts().add_trusted_proxy(ip)
    }

    /// Every request's scheme, `Some("http")` or `Some("https")`, `None` for the
    /// connection's: as [`App::set_protocol`](crate::App::set_protocol) (Tornado's
    /// `protocol`). Err(INVALID) for another string.
    pub fn set_protocol(&mut self, scheme: Option<&str>) -> Result<()> {
        self.opts().set_protocol(scheme)
    }

    /// Requires a PROXY protocol header (v1 or v2) on every connection: as
    /// [`App::set_proxy_protocol`](crate::App::set_proxy_protocol). Only behind a proxy that
    /// always sends it.
    pub fn set_proxy_protocol(&mut self, on: bool) -> Result<()> {
        self.opts().set_proxy_protocol(on)
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

    /// Minimum request-body rate: as
    /// [`App::set_body_min_rate`](crate::App::set_body_min_rate).
    pub fn set_body_min_rate(&mut self, bytes_per_second: f64, grace_seconds: f64) -> Result<()> {
        self.opts()
            .set_body_min_rate(bytes_per_second, grace_seconds)
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

/// One answer, for the closure of [`HttpServer::set_access_log`] (with the [`Request`], which
/// gives the method, URI and peer).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AccessEntry {
    /// The status sent; 0 when not even the head went out (the client left first, or the
    /// answer was aborted before its head: the C log writes these as nginx's 499 and 444).
    pub status: u16,
    /// Body bytes sent (0 for HEAD, and when the head never went out).
    pub bytes_sent: u64,
    /// Time from the first byte of the request line to the end of the answer.
    pub duration: std::time::Duration,
    /// The connection was gone when the answer ended (a detached request finished after its
    /// client left).
    pub client_left: bool,
}

unsafe extern "C" fn on_access(req: *mut sys::eddy_request, ud: *mut c_void) {
    // SAFETY: ud is the Box<Box<AccessFn>> of set_access_log, alive until free_access; req is
    // valid during the call (its answer just ended; eddy releases it afterwards).
    let f = &*(ud as *const Box<AccessFn>);
    let seconds = sys::eddy_request_duration(req);
    let entry = AccessEntry {
        status: u16::try_from(sys::eddy_request_response_status(req)).unwrap_or(0),
        bytes_sent: sys::eddy_request_bytes_sent(req),
        duration: if seconds.is_finite() && seconds > 0.0 {
            std::time::Duration::from_secs_f64(seconds)
        } else {
            std::time::Duration::ZERO
        },
        client_left: sys::eddy_request_connection_closed(req) != 0,
    };
    let rq = Request::new_raw(req);
    if let Err(msg) = guard(|| f(&rq, &entry)) {
        log_error(&format!(
            "an HttpServer access-log closure panicked: {}",
            msg
        ));
    }
}

unsafe extern "C" fn free_access(ud: *mut c_void) {
    // SAFETY: eddy releases the userdata of set_access_log exactly once.
    let f = Box::from_raw(ud as *mut Box<AccessFn>);
    if guard(move || drop(f)).is_err() {
        log_error("dropping an HttpServer access-log closure panicked");
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
        // The access-log file is closed after the free, which writes its pending lines.
        let log_fd = self.log_fd.take().map(IntoRawFd::into_raw_fd);
        let close_log = move || {
            if let Some(raw) = log_fd {
                // SAFETY: taken from the OwnedFd above; eddy no longer writes to it.
                drop(unsafe { <OwnedFd as std::os::unix::io::FromRawFd>::from_raw_fd(raw) });
            }
        };
        if in_callback() {
            // Dropped from inside a loop callback (perhaps its own request closure, which
            // borrows the userdata eddy would release): free it once that returned, as App.
            // SAFETY (in the deferred free): freed once, on its loop thread, before the loop.
            if self
                .lp
                .defer_free(move || {
                    unsafe { sys::eddy_server_free(ptr) };
                    close_log();
                })
                .is_ok()
            {
                return;
            }
            log_error("an HttpServer dropped inside a callback is freed at once (out of memory)");
        }
        // SAFETY: live server, freed once; its loop is alive through `lp`.
        unsafe { sys::eddy_server_free(ptr) };
        close_log();
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
    stage: Stage,
    wrote: bool,
    /// A [`flush_then`](Self::flush_then) of this callback is pending: the finish after it
    /// (if any) waits for that closure.
    continued: bool,
    _callback: PhantomData<&'a ()>,
}

impl<'a> ServerResponse<'a> {
    fn open(&self) -> Result<()> {
        if self.end.is_some() {
            return Err(Error::STATE);
        }
        Ok(())
    }

    /// The request's RequestState (made on first use), told what this callback wrote.
    fn state(&self) -> &RequestState {
        // SAFETY: live request on its loop's thread; the reference does not outlive `self`,
        // and the request is finished only after the callback returned.
        let state = unsafe { request_state(self.req, self.remote) };
        if self.stage == Stage::Request {
            // Made in the request callback: on_request could not mark it.
            state.delivered.set(true);
        }
        if self.wrote {
            state.life.wrote.store(true, Ordering::Relaxed);
        }
        state
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
            // SAFETY: live request. One that already has a RequestState (detached) keeps the
            // fact for its later callbacks; others need no allocation for it (one made later
            // is told by `state`).
            if let Some(state) = unsafe { existing_state(self.req) } {
                state.life.wrote.store(true, Ordering::Relaxed);
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
    /// Err(STATE) when already detached or ended in this callback, and in the headers and
    /// body callbacks ([`HttpServer::on_headers`], [`stream_body`](Self::stream_body)): the
    /// request becomes the application's at the request closure.
    pub fn detach(&mut self) -> Result<ServerDeferred> {
        self.open()?;
        let early = match self.stage {
            Stage::Head | Stage::Body => true,
            Stage::Request => false,
            // A flush completion of an answer begun in the headers or body stage.
            // SAFETY: live request on its loop's thread.
            Stage::Later { .. } => {
                unsafe { existing_state(self.req) }.map_or(true, |s| !s.delivered.get())
            }
        };
        if self.detached || early {
            return Err(Error::STATE);
        }
        self.detached = true;
        let life = self.state().life.clone();
        Ok(ServerDeferred {
            req: RequestPtr(self.req),
            life,
            remote: self.remote.clone(),
            open: true,
        })
    }

    /// Sends what was written so far, as [`flush`](Self::flush), and calls `f` on the loop's
    /// thread once it reached the kernel (`Ok(())`) or could not be sent because the client
    /// left (`Err(CLOSED)`): backpressure for a streamed answer, which writes its next piece
    /// from `f` rather than faster than the client reads (the C core's `eddy_request_flush`
    /// with a callback; Tornado's `flush()` future). Never called within this call; the
    /// completions of one request come in the order of their flushes.
    ///
    /// `f` gets the request and the response again, still open: it may write, flush (with
    /// another `f`) and [`finish`](Self::finish) there, as in a [`ServerDeferred`] closure (a
    /// panic or an `Err` fails the answer as elsewhere). In a callback that would finish the
    /// answer when it returns (the request closure without [`detach`](Self::detach), a
    /// [`ServerDeferred::finish`] closure, or an `f` continuing one of these), the last
    /// `flush_then` it asks for continues the answer, as a Tornado handler goes on after
    /// `await self.flush()`: the finish comes after that `f` returned (unless it ended the
    /// answer, detached, or continued with a `flush_then` of its own) — also when the flush
    /// failed (`Err(CLOSED)`: the finish then just releases the request). Otherwise (a
    /// detached answer, a [`ServerDeferred::send`] closure) nothing is finished after `f`.
    /// Only an answer already ended when the flush completes ([`finish`](Self::finish) or
    /// [`abort`](Self::abort) in the same callback) gives `f` a response on which every call
    /// is `Err(STATE)`: it still runs, to learn the outcome. A long stream is usually driven
    /// from a detached request:
    ///
    /// ```no_run
    /// # use eddy::{Request, Result, ServerDeferred, ServerResponse};
    /// // Writes `left` more 64 KiB pieces, each once the one before reached the kernel. The
    /// // ServerDeferred travels along: the answer stays open until the pump finishes it
    /// // (dropped unfinished, say after the client left, it ends the answer).
    /// fn pump(res: &mut ServerResponse<'_>, left: usize, open: ServerDeferred) -> Result<()> {
    ///     if left == 0 {
    ///         drop(open); // the finish below ends the answer
    ///         return res.finish();
    ///     }
    ///     res.write(&[b'x'; 65536][..])?;
    ///     res.flush_then(move |_, res, sent| {
    ///         sent?; // the client left: nothing more to send
    ///         pump(res, left - 1, open)
    ///     })
    /// }
    /// # fn handler(_req: &Request<'_>, res: &mut ServerResponse<'_>) -> Result<()> {
    /// let open = res.detach()?;
    /// pump(res, 1000, open)
    /// # }
    /// ```
    ///
    /// Errors as [`flush`](Self::flush) (`f` is dropped uncalled): `Err(STATE)`,
    /// `Err(CLOSED)`, `Err(NO_MEMORY)`.
    pub fn flush_then(
        &mut self,
        f: impl FnOnce(&Request<'_>, &mut ServerResponse<'_>, Result<()>) -> Result<()> + 'static,
    ) -> Result<()> {
        self.open()?;
        let state = self.state();
        // Queued first, then asked for; eddy never calls back within the flush.
        state.flushes.borrow_mut().push_back((Box::new(f), false));
        // SAFETY: live request; on_flushed finds the closures in the request's userdata.
        let rc = unsafe { sys::eddy_request_flush(self.req, Some(on_flushed)) };
        if rc != 0 {
            // eddy will not call back for this flush: the closure is the last one queued.
            let f = state.flushes.borrow_mut().pop_back();
            drop(f);
        } else {
            self.continued = true;
        }
        check(rc)
    }

    /// Calls `f` once if the client leaves before the answer is finished (the C core's
    /// `eddy_request_set_close_callback`; Tornado's `on_connection_close`): for a detached
    /// request (a long poll, a stream: stop producing, drop what was kept for it) or a
    /// streamed body cut short. Also when the server itself ends a body being received (a
    /// malformed, oversized or late body: 400/413/408). Runs on the loop's thread; a panic in
    /// it is logged. Replaces an earlier closure; dropped uncalled when the answer is finished
    /// first.
    ///
    /// After `f`, a detached request stays to be finished through its [`ServerDeferred`] (its
    /// writes are `Err(CLOSED)`; dropping it does); one whose request closure has not run yet
    /// (the headers or body stage) is released by the server and that closure never runs.
    ///
    /// Errors: `Err(CLOSED)` when the client already left (`f` is dropped: check
    /// [`connection_closed`](Self::connection_closed) instead), `Err(STATE)` once ended.
    pub fn on_close(&mut self, f: impl FnOnce() + 'static) -> Result<()> {
        self.open()?;
        if self.connection_closed() {
            return Err(Error::CLOSED);
        }
        *self.state().close.borrow_mut() = Some(Box::new(f));
        // SAFETY: live request; on_request_close finds the closure in the request's userdata.
        check(unsafe { sys::eddy_request_set_close_callback(self.req, Some(on_request_close)) })
    }

    /// Streams the request body to `f` piece by piece as it arrives (de-chunked, and decoded
    /// with [`HttpServer::set_decompress_request`]) instead of holding it in memory (the C
    /// core's `eddy_request_stream_body`; Tornado's `@stream_request_body` `data_received`).
    /// Only in the headers callback ([`HttpServer::on_headers`]). Once the body is complete the
    /// request closure runs as usual, with an empty [`Request::body`] (and no body arguments).
    ///
    /// In `f`: [`pause_body`](Self::pause_body) stops reading until the piece was dealt with
    /// (flow control: TCP then slows the client); [`finish`](Self::finish) answers at once
    /// (the rest of the body is not read, the connection closes after the answer, the request
    /// closure does not run); a panic or an `Err` (other than `CLOSED`) is logged and answered
    /// 500 so. `f` is dropped when the request is released. If the body is cut short (the
    /// client left, or the server answered 400/408/413), the request closure never runs:
    /// [`on_close`](Self::on_close) tells it. The body limit
    /// ([`set_max_body_size`](Self::set_max_body_size)) still applies.
    ///
    /// Errors: `Err(STATE)` outside the headers callback (`f` is dropped).
    pub fn stream_body(
        &mut self,
        f: impl FnMut(&Request<'_>, &mut ServerResponse<'_>, &[u8]) -> Result<()> + 'static,
    ) -> Result<()> {
        self.open()?;
        if self.stage != Stage::Head {
            return Err(Error::STATE);
        }
        let state = self.state();
        // SAFETY: live request; on_body_data finds the closure in the request's userdata (set
        // below, before any piece can arrive: eddy reads on a later iteration).
        check(unsafe { sys::eddy_request_stream_body(self.req, Some(on_body_data), None) })?;
        *state.data.borrow_mut() = Some(Box::new(f));
        Ok(())
    }

    /// Stops reading a streamed body ([`stream_body`](Self::stream_body)) until the
    /// [`PausedBody`] it gives is resumed or dropped (the C core's `eddy_request_pause_body`;
    /// Tornado's `data_received` returning a future): no more pieces reach the body closure,
    /// and the client is slowed by TCP. For a piece handed to another thread or written to a
    /// slow sink: resume when it was consumed. Call it in the body closure (or the headers
    /// callback, after `stream_body`). Neither the body timeout nor the minimum body rate runs
    /// while paused (nothing is read: the client is not late), and no server timeout bounds
    /// the pause; a client that leaves meanwhile may be noticed only when reading resumes.
    ///
    /// Errors: `Err(STATE)` without a streamed body, once it is complete, or once the answer
    /// was ended.
    pub fn pause_body(&mut self) -> Result<PausedBody> {
        self.open()?;
        // SAFETY: live request.
        check(unsafe { sys::eddy_request_pause_body(self.req) })?;
        Ok(PausedBody {
            req: RequestPtr(self.req),
            life: self.state().life.clone(),
            remote: self.remote.clone(),
            pending: true,
        })
    }

    /// This request's largest body (Tornado's `set_max_body_size`, per request), over the
    /// server's ([`HttpServer::set_max_body_size`]); over it: 413 and close. Only in the
    /// headers callback: `Err(STATE)` once the body started.
    pub fn set_max_body_size(&mut self, bytes: usize) -> Result<()> {
        self.open()?;
        // SAFETY: live request.
        check(unsafe { sys::eddy_request_set_max_body_size(self.req, bytes) })
    }

    /// This request's body inactivity timeout in seconds, 0 for none (Tornado's
    /// `set_body_timeout`). In the headers callback, or in the body closure (it then applies
    /// at once, counted from the last bytes); `Err(STATE)` once the body is complete,
    /// `Err(INVALID)` for a negative or NaN value.
    pub fn set_body_timeout(&mut self, seconds: f64) -> Result<()> {
        self.open()?;
        // SAFETY: live request.
        check(unsafe { sys::eddy_request_set_body_timeout(self.req, seconds) })
    }

    /// This request's minimum body rate (as [`App::set_body_min_rate`](crate::App::set_body_min_rate);
    /// 0 for none), e.g. lifted for a route whose clients are known to be slow. In the headers
    /// callback for the whole body, or in the body closure: the new rate then applies from the
    /// call, with a new grace, counting only the bytes after it. `Err(STATE)` once the body is
    /// complete; `Err(INVALID)` as the server's.
    pub fn set_body_min_rate(&mut self, bytes_per_second: f64, grace_seconds: f64) -> Result<()> {
        self.open()?;
        // SAFETY: live request.
        check(unsafe {
            sys::eddy_request_set_body_min_rate(self.req, bytes_per_second, grace_seconds)
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

/// A streamed request body paused by [`ServerResponse::pause_body`]. `Send`: resume it from
/// the thread that consumed the piece. Resuming posts to the loop's thread
/// (eddy_loop_call_soon_threadsafe), where reading starts again (the next pieces come on a
/// later iteration) unless the request was finished or released meanwhile (then nothing
/// happens). Dropping it resumes too, so that a lost handle cannot stall the upload for good
/// (no server timeout runs while a body is paused).
#[must_use = "dropping a PausedBody resumes the body at once"]
pub struct PausedBody {
    req: RequestPtr,
    life: Arc<RawLife>,
    remote: Remote,
    pending: bool,
}

impl PausedBody {
    /// Resumes reading the body. Err(CLOSED) when the loop no longer exists.
    pub fn resume(mut self) -> Result<()> {
        self.pending = false;
        self.post()
    }

    fn post(&self) -> Result<()> {
        let req = self.req;
        let life = self.life.clone();
        self.remote.call_soon(move || {
            let req = req.get();
            // SAFETY: on the loop thread; `released` says whether req was freed, and an
            // unreleased request may be asked whether it was finished.
            if life.released.load(Ordering::Acquire)
                || unsafe { sys::eddy_request_finished(req) } != 0
            {
                return;
            }
            // SAFETY: a live, unfinished streamed request on its loop thread.
            let rc = unsafe { sys::eddy_request_resume_body(req) };
            if rc != 0 {
                log_error(&format!(
                    "an HttpServer body could not be resumed: {}",
                    Error::from_code(rc)
                ));
            }
        })
    }
}

impl Drop for PausedBody {
    fn drop(&mut self) {
        if self.pending {
            // Err: the loop is gone, and the request with it.
            let _ = self.post();
        }
    }
}

impl std::fmt::Debug for PausedBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PausedBody")
            .field("pending", &self.pending)
            .finish()
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
            unsafe {
                serve(
                    req,
                    &remote,
                    "deferred response",
                    Stage::Later { finish },
                    f,
                )
            }
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
    check::<PausedBody>();
}
