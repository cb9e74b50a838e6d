//! App (Tornado's Application) and Route (a pattern with its per-method closures).
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::ffi::CString;
use std::marker::PhantomData;
use std::os::raw::{c_char, c_int, c_void};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::rc::{Rc, Weak};
use std::sync::atomic::{AtomicU64, Ordering};

use eddy_sys as sys;

use crate::boundary::{guard, in_callback, log_error};
use crate::dispatch::dispatch;
use crate::error::{check, Error, Result};
use crate::event_loop::{Loop, Remote};
use crate::request::Request;
use crate::response::Response;

type HandlerFn = dyn Fn(&Request<'_>, &mut Response<'_>) -> Result<()>;
type ErrorFn = dyn Fn(&Request<'_>, &mut Response<'_>, u16) -> Result<()>;
type DataFn = dyn Fn(&Request<'_>, &mut Response<'_>, &[u8]) -> Result<()>;

// Slots of the standard methods: each has its own trampoline, so dispatch costs no lookup.
const GET: usize = 0;
const POST: usize = 1;
const PUT: usize = 2;
const DELETE: usize = 3;
const PATCH: usize = 4;
const HEAD: usize = 5;
const OPTIONS: usize = 6;
const METHODS: [&str; 7] = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"];

/// A route's closures: the route userdata, released by eddy when the app is freed. RefCells
/// because routes can gain closures after registration; each call clones the Rc out first, so
/// a closure may even register routes while it runs.
pub(crate) struct RouteCallbacks {
    pub(crate) remote: Remote,
    pub(crate) ws: RefCell<Option<Rc<crate::websocket::WebSocketHandler>>>,
    slots: RefCell<[Option<Rc<HandlerFn>>; 7]>,
    custom: RefCell<Vec<(String, Rc<HandlerFn>)>>,
    prepare: RefCell<Option<Rc<HandlerFn>>>,
    on_finish: RefCell<Option<Rc<HandlerFn>>>,
    on_connection_close: RefCell<Option<Rc<HandlerFn>>>,
    default_headers: RefCell<Option<Rc<HandlerFn>>>,
    write_error: RefCell<Option<Rc<ErrorFn>>>,
    data_received: RefCell<Option<Rc<DataFn>>>,
}

unsafe extern "C" fn free_route(ud: *mut c_void) {
    // SAFETY: the Box made in App::route; eddy frees it once. A panicking Drop is stopped here.
    let cbs = Box::from_raw(ud as *mut RouteCallbacks);
    if crate::boundary::guard(move || drop(cbs)).is_err() {
        log_error("dropping a route's closures panicked");
    }
}

pub(crate) unsafe fn route_callbacks<'x>(ud: *mut c_void) -> &'x RouteCallbacks {
    cbs(ud)
}

unsafe fn cbs<'x>(ud: *mut c_void) -> &'x RouteCallbacks {
    // SAFETY (callers): ud is a route's RouteCallbacks, alive while its app is.
    &*(ud as *const RouteCallbacks)
}

unsafe extern "C" fn on_method<const M: usize>(h: *mut sys::eddy_handler, ud: *mut c_void) {
    let cbs = cbs(ud);
    let f = cbs.slots.borrow()[M].clone();
    if let Some(f) = f {
        dispatch(h, &cbs.remote, "handler", true, false, |rq, rs| f(rq, rs));
    }
}

unsafe extern "C" fn on_custom(h: *mut sys::eddy_handler, ud: *mut c_void) {
    let cbs = cbs(ud);
    let mut len = 0;
    let m = sys::eddy_request_method(sys::eddy_handler_request(h), &mut len);
    let method = std::slice::from_raw_parts(m as *const u8, len);
    let f = cbs
        .custom
        .borrow()
        .iter()
        .find(|(name, _)| name.as_bytes() == method)
        .map(|(_, f)| f.clone());
    if let Some(f) = f {
        dispatch(h, &cbs.remote, "handler", true, false, |rq, rs| f(rq, rs));
    }
}

macro_rules! hook_trampoline {
    ($name:ident, $field:ident, $kind:expr) => {
        unsafe extern "C" fn $name(h: *mut sys::eddy_handler, ud: *mut c_void) {
            let cbs = cbs(ud);
            let f = cbs.$field.borrow().clone();
            if let Some(f) = f {
                dispatch(h, &cbs.remote, $kind, true, false, |rq, rs| f(rq, rs));
            }
        }
    };
}
hook_trampoline!(on_prepare, prepare, "prepare");
hook_trampoline!(on_finish_cb, on_finish, "on_finish");
hook_trampoline!(on_close_cb, on_connection_close, "on_connection_close");
hook_trampoline!(on_default_headers, default_headers, "default_headers");

unsafe extern "C" fn on_write_error(h: *mut sys::eddy_handler, status: c_int, ud: *mut c_void) {
    let cbs = cbs(ud);
    let f = cbs.write_error.borrow().clone();
    if let Some(f) = f {
        // Runs inside eddy's send_error, which finishes afterwards: no end is applied here.
        let status = u16::try_from(status).unwrap_or(500);
        crate::deferred::set_handler_status(h, status);
        dispatch(h, &cbs.remote, "write_error", false, false, |rq, rs| {
            f(rq, rs, status)
        });
    }
}

unsafe extern "C" fn on_data(
    h: *mut sys::eddy_handler,
    data: *const c_char,
    len: usize,
    ud: *mut c_void,
) {
    let cbs = cbs(ud);
    let f = cbs.data_received.borrow().clone();
    if let Some(f) = f {
        let chunk: &[u8] = if len == 0 {
            &[]
        } else {
            std::slice::from_raw_parts(data as *const u8, len)
        };
        dispatch(h, &cbs.remote, "data_received", true, false, |rq, rs| {
            f(rq, rs, chunk)
        });
    }
}

/// An application: routes and the HTTP servers that feed them (its default one, and those of
/// [`App::add_server`]), on one [`Loop`]. Not `Send`.
pub struct App {
    ptr: *mut sys::eddy_app,
    lp: Loop,
    core: Rc<AppCore>,
}

/// What a graceful shutdown needs of an [`App`]: shared (on the loop's thread only) with the
/// registry that [`ShutdownHandle`] looks the App up in. Alive exactly as long as the App
/// value (the registry holds a Weak), so `ptr` is live whenever an upgrade succeeds.
struct AppCore {
    ptr: *mut sys::eddy_app,
    id: u64,
    /// The servers of add_server with their ids (the default one is eddy_app_server's, asked
    /// for when needed); remove_server takes them out.
    added: RefCell<Vec<(u64, *mut sys::eddy_server)>>,
    /// The id of the next server of add_server (a counter, never reused: a ServerId of a
    /// removed server cannot name a newer one made at the same address).
    next_server: Cell<u64>,
    /// Set by the first shutdown: a second is Err(STATE) (eddy would refuse it server by server).
    shutting_down: Cell<bool>,
    /// Whether `id` was put in APPS (by shutdown_handle), so that Drop takes it out.
    registered: Cell<bool>,
}

static NEXT_APP_ID: AtomicU64 = AtomicU64::new(1);

thread_local! {
    /// The Apps of this thread that gave out a ShutdownHandle, by id: a handle's posted closure
    /// runs on the loop's thread, which is the App's (neither is `Send`), and finds it here. A
    /// Weak: a handle never keeps an App alive, and finds nothing once it was dropped.
    static APPS: RefCell<HashMap<u64, Weak<AppCore>>> = RefCell::new(HashMap::new());
}

/// One graceful shutdown: `done` runs when `remaining` (servers not finished) reaches 0. Each
/// server's eddy userdata is a `Box<Rc<ShutdownState>>`, released by eddy once (after its
/// `done` ran, or when the server is freed with the App): the last release drops `done`, so an
/// App dropped before every server finished drops it uncalled.
struct ShutdownState {
    remaining: Cell<usize>,
    done: Cell<Option<Box<dyn FnOnce()>>>,
}

unsafe extern "C" fn server_done(_server: *mut sys::eddy_server, ud: *mut c_void) {
    // SAFETY: ud is the Box<Rc<ShutdownState>> of AppCore::shutdown, alive until free_shutdown.
    let state = &*(ud as *const Rc<ShutdownState>);
    let out = guard(|| {
        let left = state.remaining.get().saturating_sub(1);
        state.remaining.set(left);
        if left == 0 {
            if let Some(done) = state.done.take() {
                done();
            }
        }
    });
    if let Err(msg) = out {
        log_error(&format!("an App shutdown's done closure panicked: {}", msg));
    }
}

unsafe extern "C" fn free_shutdown(ud: *mut c_void) {
    // SAFETY: eddy releases each server's userdata exactly once; a panicking Drop of the done
    // closure (the last Rc) is stopped here.
    let state = Box::from_raw(ud as *mut Rc<ShutdownState>);
    if let Err(msg) = guard(move || drop(state)) {
        log_error(&format!(
            "dropping an App shutdown's done closure panicked: {}",
            msg
        ));
    }
}

impl AppCore {
    /// eddy_server_shutdown on every server of the app, `done` once all of them finished.
    fn shutdown(&self, done: Box<dyn FnOnce()>) -> Result<()> {
        if self.shutting_down.get() {
            return Err(Error::STATE);
        }
        // SAFETY: live app (see AppCore); the default server is made when none was.
        let default = unsafe { sys::eddy_app_server(self.ptr) };
        if default.is_null() {
            return Err(Error::NO_MEMORY);
        }
        self.shutting_down.set(true);
        let mut servers = vec![default];
        servers.extend(self.added.borrow().iter().map(|&(_, server)| server));
        let state = Rc::new(ShutdownState {
            remaining: Cell::new(servers.len()),
            done: Cell::new(Some(done)),
        });
        for server in servers {
            let ud = Box::into_raw(Box::new(state.clone())) as *mut c_void;
            // SAFETY: a live server of the app; ud is released by free_shutdown exactly once,
            // or by us when eddy refuses it (eddy keeps nothing then). `done` of a server runs
            // on a later iteration, never within this call, so every server is asked first.
            let rc = unsafe {
                sys::eddy_server_shutdown(server, Some(server_done), ud, Some(free_shutdown))
            };
            if rc != 0 {
                // SAFETY: eddy did not take ud.
                drop(unsafe { Box::from_raw(ud as *mut Rc<ShutdownState>) });
                // The servers already asked go on shutting down; `done` never runs.
                drop(state.done.take());
                return Err(Error::from_code(rc));
            }
        }
        Ok(())
    }
}

/// A handle for asking an [`App`] to shut down gracefully from any thread (a signal-handling
/// thread, a supervisor), from [`App::shutdown_handle`]: `Send + Sync + Clone`. It holds the
/// loop's [`Remote`] and the App's identity, not the App: it never keeps the App alive.
#[derive(Clone)]
pub struct ShutdownHandle {
    remote: Remote,
    id: u64,
}

impl ShutdownHandle {
    /// Posts [`App::shutdown`] to the App's loop thread (`eddy_loop_call_soon_threadsafe`):
    /// there, on the next iteration, every server of the App stops accepting, closes its idle
    /// connections and lets the requests in flight finish, then `done` runs on the loop's
    /// thread once all of them finished (typically it stops the loop).
    ///
    /// Ownership: `done` crosses to the loop's thread (hence `Send`) and is called at most
    /// once, there. It is dropped uncalled when the App was dropped before the posted call
    /// ran or before its servers finished, when a shutdown was already under way (the first
    /// one's `done` still runs), or when the loop is freed first.
    ///
    /// Errors: `Err(CLOSED)` when the loop is gone (`done` is dropped); `Err(NO_MEMORY)`.
    /// Errors found on the loop's thread (`NO_MEMORY`) are logged there.
    ///
    /// ```
    /// let lp = eddy::Loop::new().unwrap();
    /// let mut app = eddy::App::new(&lp).unwrap();
    /// app.listen("127.0.0.1", 0).unwrap();
    /// let (handle, remote) = (app.shutdown_handle(), lp.remote());
    /// // e.g. a thread that waits for a signal, a supervisor's message...
    /// let asker = std::thread::spawn(move || handle.shutdown(move || remote.stop()));
    /// lp.run().unwrap(); // returns once the servers finished
    /// asker.join().unwrap().unwrap();
    /// ```
    pub fn shutdown(&self, done: impl FnOnce() + Send + 'static) -> Result<()> {
        let id = self.id;
        self.remote.call_soon(move || {
            let core = APPS
                .try_with(|apps| apps.borrow().get(&id).and_then(Weak::upgrade))
                .ok()
                .flatten();
            if let Some(core) = core {
                match core.shutdown(Box::new(done)) {
                    Ok(()) | Err(Error::STATE) => {}
                    Err(e) => log_error(&format!("App shutdown: {}", e)),
                }
            }
        })
    }
}

#[allow(dead_code)]
fn _assert_shutdown_handle_is_send_sync() {
    fn check<T: Send + Sync>() {}
    check::<ShutdownHandle>();
}

impl App {
    /// Creates an application on `lp` (it keeps a handle to the loop).
    pub fn new(lp: &Loop) -> Result<App> {
        // SAFETY: a live loop on its thread.
        let ptr = unsafe { sys::eddy_app_new(lp.as_ptr()) };
        if ptr.is_null() {
            return Err(Error::NO_MEMORY);
        }
        Ok(App {
            ptr,
            lp: lp.clone(),
            core: Rc::new(AppCore {
                ptr,
                id: NEXT_APP_ID.fetch_add(1, Ordering::Relaxed),
                added: RefCell::new(Vec::new()),
                next_server: Cell::new(1),
                shutting_down: Cell::new(false),
                registered: Cell::new(false),
            }),
        })
    }

    /// Graceful shutdown (Tornado's `HTTPServer.stop()` followed by waiting for the requests
    /// in flight, as `await server.close_all_connections()`; hyper/axum's graceful shutdown):
    /// every server of the application — the default one and those of [`App::add_server`] made
    /// so far — stops accepting (its listening sockets close, so new connections are refused),
    /// closes its idle keep-alive connections at once, and lets the requests in flight finish:
    /// a detached ([`Response::detach`]) or streaming response is sent whole, then its
    /// connection closes. Once every server has no connection left, `done` runs, once, on the
    /// loop's thread in a later iteration (never within this call); typically it stops the
    /// loop. The C core's `eddy_server_shutdown`, on each server. A connection closed after its
    /// answer is half-closed and waits (up to 2 s) for the client to close its side, so that
    /// input still in flight does not reset the answer: `done` may come that much after the
    /// last answer went out.
    ///
    /// ```no_run
    /// # fn main() -> eddy::Result<()> {
    /// let lp = eddy::Loop::new()?;
    /// let mut app = eddy::App::new(&lp)?;
    /// app.route("/")?.get(|_, res| res.write("hi"));
    /// app.listen("127.0.0.1", 8080)?;
    /// lp.stop_on_signals(&[eddy::SIGINT, eddy::SIGTERM])?;
    /// lp.run()?; // returns on SIGINT / SIGTERM
    /// let weak = lp.downgrade();
    /// app.shutdown(move || {
    ///     if let Some(lp) = weak.upgrade() {
    ///         lp.stop();
    ///     }
    /// })?;
    /// lp.run()?; // until the requests in flight are answered
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// Afterwards the servers accept no more ([`App::listen`] is `Err(STATE)`; make a new App
    /// to serve again); a server added after the call is not part of this shutdown. Nor are
    /// WebSocket connections: they left their server at the upgrade (as in Tornado, whose
    /// `HTTPServer.stop()` leaves them open too), so `done` does not wait for them; close them
    /// yourself ([`WsSender`](crate::WsSender)) or let dropping the loop close them. Requests in flight are not cut short: a
    /// handler that never finishes keeps `done` from running (bound the wait with
    /// [`Loop::call_later`] and drop the App, which closes every connection).
    ///
    /// Ownership: the App owns `done` until it ran. Dropping the App before then (or the
    /// loop with it) drops `done` uncalled. Thread: the loop's; from another thread, use
    /// [`App::shutdown_handle`]. A panic in `done` is logged and the loop goes on.
    ///
    /// Errors: `Err(STATE)` when a shutdown was already asked for (`done` is dropped; the
    /// first one's still runs); `Err(NO_MEMORY)` (`done` is dropped; servers already asked go
    /// on shutting down).
    pub fn shutdown(&self, done: impl FnOnce() + 'static) -> Result<()> {
        self.core.shutdown(Box::new(done))
    }

    /// A `Send + Sync` handle that asks for [`App::shutdown`] from any thread, e.g. a
    /// signal-handling thread: [`ShutdownHandle::shutdown`]. It does not keep the App alive;
    /// once the App is dropped, its requests do nothing.
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        if !self.core.registered.get() {
            let entry = Rc::downgrade(&self.core);
            APPS.with(|apps| apps.borrow_mut().insert(self.core.id, entry));
            self.core.registered.set(true);
        }
        ShutdownHandle {
            remote: self.lp.remote(),
            id: self.core.id,
        }
    }

    /// Adds a route: `pattern` is a PCRE2 expression matched against the whole path; its groups
    /// become [`Request::path_arg`] / [`Request::path_kwarg`]. Routes are tried in order.
    /// Err(INVALID) when the pattern does not compile (eddy logs why).
    pub fn route(&mut self, pattern: &str) -> Result<Route<'_>> {
        self.add_route(None, pattern)
    }

    /// Adds a route for requests whose host name (Host without its port) matches the
    /// anchored PCRE2 `host_pattern` (Tornado's `add_handlers(host_pattern, ...)`): host tables
    /// are tried in the order first used, before the routes of [`App::route`]. Err(INVALID)
    /// when a pattern does not compile (eddy logs why). The C core's `eddy_app_add_host_route`.
    pub fn host_route(&mut self, host_pattern: &str, pattern: &str) -> Result<Route<'_>> {
        self.add_route(Some(host_pattern), pattern)
    }

    fn add_route(&mut self, host_pattern: Option<&str>, pattern: &str) -> Result<Route<'_>> {
        let cbs = Box::new(RouteCallbacks {
            remote: self.lp.remote(),
            ws: RefCell::new(None),
            slots: RefCell::new(Default::default()),
            custom: RefCell::new(Vec::new()),
            prepare: RefCell::new(None),
            on_finish: RefCell::new(None),
            on_connection_close: RefCell::new(None),
            default_headers: RefCell::new(None),
            write_error: RefCell::new(None),
            data_received: RefCell::new(None),
        });
        let ud = Box::into_raw(cbs);
        // SAFETY: live app; the patterns live across the call; ud is released by free_route,
        // or by us when eddy refuses it.
        let ptr = unsafe {
            match host_pattern {
                None => sys::eddy_app_add_route(
                    self.ptr,
                    pattern.as_ptr() as _,
                    pattern.len(),
                    ud as *mut c_void,
                    Some(free_route),
                ),
                Some(host) => sys::eddy_app_add_host_route(
                    self.ptr,
                    host.as_ptr() as _,
                    host.len(),
                    pattern.as_ptr() as _,
                    pattern.len(),
                    ud as *mut c_void,
                    Some(free_route),
                ),
            }
        };
        if ptr.is_null() {
            // SAFETY: eddy did not take ud.
            drop(unsafe { Box::from_raw(ud) });
            return Err(Error::INVALID);
        }
        // SAFETY: ud lives until the app is freed, which needs `&mut self` / `self`.
        Ok(Route {
            ptr,
            app: self.ptr,
            cbs: unsafe { &*ud },
        })
    }

    /// Listens on `host`:`port` with the application's default server (port 0 picks a free
    /// one: see [`App::port`]). More servers, each with its own options: [`App::add_server`].
    pub fn listen(&mut self, host: &str, port: u16) -> Result<()> {
        self.default_server()?.listen(host, port)
    }

    /// Listens on the Unix socket `path` with the application's default server (Tornado's
    /// `bind_unix_socket(file, mode)` handed to the HTTPServer): see [`Server::listen_unix`].
    pub fn listen_unix(&mut self, path: impl AsRef<Path>, mode: u32) -> Result<()> {
        self.default_server()?.listen_unix(path, mode)
    }

    /// The default server (eddy_app_server, made on first use): the one `listen`, `port` and
    /// the setters below act on. Err(NO_MEMORY) when it cannot be made.
    fn default_server(&self) -> Result<Server<'_>> {
        // SAFETY: live app.
        Server::new(unsafe { sys::eddy_app_server(self.ptr) })
    }

    /// One more HTTP server for the application (Tornado: another `HTTPServer` of the same
    /// `Application`): its own options and listeners, the same routes, settings and handlers.
    /// For one application on plain HTTP and on HTTPS at once ([`Server::set_tls`] applies to a
    /// whole server), or on two ports with different limits, trusted proxies or PROXY
    /// protocol. It starts with eddy's defaults, not the options set on the default server
    /// (the App's own setters, which keep acting on that one). The application owns it: the
    /// returned [`Server`] is a handle borrowing the App (configure it, [`Server::listen`],
    /// read [`Server::port`], then drop it: the server keeps serving), and the server closes,
    /// with its connections, when the App is dropped. Each call makes a new one.
    /// Err(NO_MEMORY) when out of memory.
    pub fn add_server(&mut self) -> Result<Server<'_>> {
        // SAFETY: live app; the server it returns is owned by the app.
        let mut server = Server::new(unsafe { sys::eddy_app_add_server(self.ptr) })?;
        server.id = self.core.next_server.get();
        self.core.next_server.set(server.id + 1);
        // Kept for App::shutdown, which shuts down every server of the app, and remove_server.
        self.core.added.borrow_mut().push((server.id, server.ptr));
        Ok(server)
    }

    /// Frees one server of [`App::add_server`] (named by [`Server::id`], since its handle
    /// borrows the App): its listening sockets and connections close, requests in flight get
    /// their `on_connection_close`, and it serves no more. For a program that replaces a server
    /// while the App lives on (a reload that listens anew); otherwise its memory would stay
    /// until the App is dropped. The C core's `eddy_app_remove_server`.
    /// Err(INVALID) for an id that is not (or no longer) one of this App's servers;
    /// Err(STATE) while an [`App::shutdown`] is under way (that shutdown waits for the server:
    /// removing it would leave its `done` uncalled).
    pub fn remove_server(&mut self, id: ServerId) -> Result<()> {
        if self.core.shutting_down.get() {
            return Err(Error::STATE);
        }
        let server = {
            let mut added = self.core.added.borrow_mut();
            let at = added
                .iter()
                .position(|&(sid, _)| sid == id.0)
                .ok_or(Error::INVALID)?;
            added.remove(at).1
        };
        // SAFETY: live app; `server` is one of its servers (taken out of `added` above, so it
        // is freed once and never shut down afterwards).
        check(unsafe { sys::eddy_app_remove_server(self.ptr, server) })
    }

    /// Serves HTTPS (and wss://) with `ctx`, a server context ([`crate::TlsContext::server`]):
    /// every connection accepted from now on speaks TLS; requests report the scheme "https".
    /// The server keeps its own reference to the context. Err(INVALID) for a client context
    /// or one without a certificate. With [`App::set_proxy_protocol`] on, each connection's
    /// PROXY header is read before its handshake.
    pub fn set_tls(&mut self, ctx: &crate::TlsContext) -> Result<()> {
        self.default_server()?.set_tls(ctx)
    }

    /// The default server's first listening TCP port; None before [`App::listen`].
    pub fn port(&self) -> Option<u16> {
        self.default_server().ok()?.port()
    }

    // ---- the HTTP server's limits and options (eddy/http.h; Tornado's HTTPServer keywords),
    // on the default server (a server of add_server has the same setters). Each applies to
    // connections accepted afterwards: set them before `listen`. A value eddy refuses is
    // Err(INVALID) and leaves the setting as it was.

    /// Takes the client's address and scheme from X-Real-IP / X-Forwarded-For and X-Scheme /
    /// X-Forwarded-Proto (Tornado's `xheaders`; default off): [`Request::remote_ip`] and the
    /// scheme report them. Only behind a proxy that sets these headers; with
    /// [`App::add_trusted_proxy`], only connections from those addresses are believed.
    pub fn set_xheaders(&mut self, on: bool) -> Result<()> {
        self.default_server()?.set_xheaders(on)
    }

    /// Adds a trusted downstream proxy (a numeric IPv4 or IPv6 address, as the connection's
    /// peer address reads; Tornado's `trusted_downstream`, one call per address). Once any is
    /// added, [`App::set_xheaders`] believes only connections from them, and X-Forwarded-For is
    /// read from the right, skipping these addresses. Default: none (every peer is believed).
    /// Err(INVALID) for anything but a numeric address.
    pub fn add_trusted_proxy(&mut self, ip: &str) -> Result<()> {
        self.default_server()?.add_trusted_proxy(ip)
    }

    /// Every request's scheme, `Some("http")` or `Some("https")` (Tornado's HTTPServer
    /// `protocol`), for a server behind a proxy that terminates TLS without saying so in
    /// X-Forwarded-Proto: [`Request::scheme`] reports it. `None` (the default): the
    /// connection's ("https" over TLS). With [`App::set_xheaders`], a scheme the proxy names
    /// still wins. Err(INVALID) for another string.
    pub fn set_protocol(&mut self, scheme: Option<&str>) -> Result<()> {
        self.default_server()?.set_protocol(scheme)
    }

    /// Closes every connection after its response (Tornado's `no_keep_alive`; default off:
    /// HTTP/1.1 connections are kept alive). Responses then say `Connection: close`.
    pub fn set_no_keep_alive(&mut self, on: bool) -> Result<()> {
        self.default_server()?.set_no_keep_alive(on)
    }

    /// Decodes gzip request bodies (`Content-Encoding: gzip`) before the handlers see them; the
    /// header is renamed X-Consumed-Content-Encoding (Tornado's `decompress_request`; default
    /// off: such bodies pass through as they came). The body limit counts the decoded size.
    pub fn set_decompress_request(&mut self, on: bool) -> Result<()> {
        self.default_server()?.set_decompress_request(on)
    }

    /// Whether form bodies are decoded before the handlers run (default on, as Tornado): a body
    /// labelled `application/x-www-form-urlencoded` or `multipart/form-data` becomes body
    /// arguments and files, and one that cannot be decoded gets 400 without the handler
    /// running. Off: form bodies are not decoded (arguments come from the query alone, there
    /// are no files) and every request reaches its handler with `req.body()` as it came: for
    /// proxies, echo servers and handlers that read their own forms.
    pub fn set_body_arguments(&mut self, on: bool) -> Result<()> {
        self.default_server()?.set_body_arguments(on)
    }

    /// Largest request head (request line and header fields) in bytes (Tornado's
    /// `max_header_size`; default 65536). Over it: 431 and close. Err(INVALID) under 64.
    pub fn set_max_header_size(&mut self, bytes: usize) -> Result<()> {
        self.default_server()?.set_max_header_size(bytes)
    }

    /// Most header field lines in a request head (default 1000). Over it: 431 and close. Each
    /// field costs the server memory however short its line, so this bounds what a head of
    /// many tiny lines takes. Err(INVALID) for 0.
    pub fn set_max_header_fields(&mut self, count: usize) -> Result<()> {
        self.default_server()?.set_max_header_fields(count)
    }

    /// Largest request body in bytes, counted after decompression (Tornado's `max_body_size`;
    /// default 100 MiB). Over it: 413 and close.
    pub fn set_max_body_size(&mut self, bytes: usize) -> Result<()> {
        self.default_server()?.set_max_body_size(bytes)
    }

    /// Most request-body bytes the server holds in memory at once over all its connections
    /// (default 1 GiB; 0: no limit). Counted: the bodies being received and those of requests
    /// not yet finished; not counted: the bodies of routes with `data_received`, which are
    /// streamed to the handler. A body that does not fit gets 503 and close, with a warning
    /// logged: at once when its Content-Length does not fit (before any 100 Continue), else
    /// when the bytes that go over arrive. It keeps clients that each send most of a large body
    /// and stall from taking the process's memory.
    pub fn set_max_body_memory(&mut self, bytes: usize) -> Result<()> {
        self.default_server()?.set_max_body_memory(bytes)
    }

    /// Seconds for a request's head to arrive once it started, and for the first request after
    /// connecting (default 30). Then: 408 and close. 0 disables; Err(INVALID) when negative
    /// or NaN.
    pub fn set_header_timeout(&mut self, seconds: f64) -> Result<()> {
        self.default_server()?.set_header_timeout(seconds)
    }

    /// Seconds a kept-alive connection may stay idle between requests (Tornado's
    /// `idle_connection_timeout`; default 75). Then: close. The wait starts once the last
    /// answer was sent, so a client that takes none of an answer's bytes for this long is
    /// closed as well. 0 disables both; Err(INVALID) when negative or NaN.
    pub fn set_idle_timeout(&mut self, seconds: f64) -> Result<()> {
        self.default_server()?.set_idle_timeout(seconds)
    }

    /// Seconds without any body bytes while a body is being received (Tornado's
    /// `body_timeout`; default 60). Then: 408 and close. 0 disables; Err(INVALID) when
    /// negative or NaN.
    pub fn set_body_timeout(&mut self, seconds: f64) -> Result<()> {
        self.default_server()?.set_body_timeout(seconds)
    }

    /// Least average rate of a request body in bytes per second, counted once `grace_seconds`
    /// have passed (default 500 after 20 s, as Apache's mod_reqtimeout): a body that falls
    /// behind (one trickled a byte at a time, which the body timeout does not end) gets 408
    /// and close. Time the application holds the body (a paused body) does not count.
    /// `bytes_per_second` 0 disables; Err(INVALID) for a negative, NaN or infinite rate or a
    /// negative or NaN grace.
    pub fn set_body_min_rate(&mut self, bytes_per_second: f64, grace_seconds: f64) -> Result<()> {
        self.default_server()?
            .set_body_min_rate(bytes_per_second, grace_seconds)
    }

    /// Most connections open at once (default 0: no limit). At the limit the oldest idle
    /// keep-alive connection is closed to make room for a new one (as nginx does); when none
    /// is idle, the new connection is closed at once and a warning is logged. A connection
    /// upgraded to a WebSocket no longer counts.
    pub fn set_max_connections(&mut self, count: usize) -> Result<()> {
        self.default_server()?.set_max_connections(count)
    }

    /// The Server header of every response (default `eddy/<version>`); `None` sends none. A
    /// handler's own Server header wins. Err(INVALID) for a value with control characters
    /// (CR, LF, NUL, ...).
    pub fn set_server_header(&mut self, value: Option<&str>) -> Result<()> {
        self.default_server()?.set_server_header(value)
    }

    /// Requires every connection to start with a PROXY protocol header (version 1 or 2, as
    /// HAProxy's send-proxy / send-proxy-v2 and nginx's proxy_protocol send it); the address it
    /// carries becomes [`Request::remote_ip`]. A connection whose header is missing, malformed
    /// or late (the header timeout) is closed. Default off. Only behind a proxy that always
    /// sends it: anyone who can reach the port can claim any address. With [`App::set_tls`]
    /// too (either order), each connection's header is read first, then its TLS handshake
    /// starts: a proxy passing TLS through, as HAProxy's `mode tcp` with send-proxy-v2.
    pub fn set_proxy_protocol(&mut self, on: bool) -> Result<()> {
        self.default_server()?.set_proxy_protocol(on)
    }

    /// The secret for signed cookies.
    pub fn set_cookie_secret(&mut self, secret: &str) -> Result<()> {
        // SAFETY: live app.
        check(unsafe {
            sys::eddy_app_set_cookie_secret(self.ptr, secret.as_ptr() as _, secret.len())
        })
    }

    /// Tornado's `xsrf_cookies`: POST, PUT, DELETE, PATCH and custom methods must carry the
    /// token of [`Response::xsrf_token`] (the `_xsrf` form argument, or an X-Xsrftoken /
    /// X-Csrftoken header) matching the `_xsrf` cookie, else 403 before prepare. Routes opt
    /// out with [`Route::xsrf_check`]. Default off.
    pub fn set_xsrf_cookies(&mut self, on: bool) -> Result<()> {
        // SAFETY: live app.
        check(unsafe { sys::eddy_app_set_xsrf_cookies(self.ptr, c_int::from(on)) })
    }

    /// gzip responses for clients that accept it.
    pub fn set_compress_response(&mut self, on: bool) -> Result<()> {
        // SAFETY: live app.
        check(unsafe { sys::eddy_app_set_compress_response(self.ptr, c_int::from(on)) })
    }

    /// The path of the route named with [`Route::name`], its groups filled with `args` in
    /// order (percent-encoded): Tornado's `reverse_url`. Err(NOT_FOUND): no route of that name;
    /// Err(INVALID): the argument count does not fit, or the pattern cannot be reversed.
    pub fn reverse_url(&self, name: &str, args: &[&str]) -> Result<String> {
        reverse_url(self.ptr, name, args)
    }

    /// Serves the files under `root` at `url_prefix` (e.g. "/static/").
    pub fn add_static(&mut self, url_prefix: &str, root: &str) -> Result<()> {
        // SAFETY: live app.
        check(unsafe {
            sys::eddy_app_add_static(
                self.ptr,
                url_prefix.as_ptr() as _,
                url_prefix.len(),
                root.as_ptr() as _,
                root.len(),
            )
        })
    }
}

/// An HTTP server of an [`App`]: a handle to one made by [`App::add_server`] (Tornado: another
/// `HTTPServer` of the same `Application`), with its own options and listeners and the App's
/// routes. It borrows the App, which owns the server: dropping the handle leaves the server
/// serving, and the server closes, with its connections, when the App is dropped (or by [`App::remove_server`]). The setters
/// apply to connections accepted afterwards (set them before [`Server::listen`]); a value eddy
/// refuses is Err(INVALID) and leaves the setting as it was.
pub struct Server<'a> {
    ptr: *mut sys::eddy_server,
    /// Its id in the App's `added` list (0: the default server, never handed out).
    id: u64,
    _app: PhantomData<&'a mut App>,
}

/// Names a server of [`App::add_server`] after its [`Server`] handle was dropped, for
/// [`App::remove_server`]. Ids are never reused within an App.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ServerId(u64);

impl<'a> Server<'a> {
    fn new(ptr: *mut sys::eddy_server) -> Result<Server<'a>> {
        if ptr.is_null() {
            return Err(Error::NO_MEMORY);
        }
        Ok(Server {
            ptr,
            id: 0,
            _app: PhantomData,
        })
    }

    /// A handle on a server that is not an App's (the raw [`crate::HttpServer`]), for the
    /// option setters it shares. The caller keeps `ptr` alive while the handle is used.
    pub(crate) fn raw(ptr: *mut sys::eddy_server) -> Server<'a> {
        Server {
            ptr,
            id: 0,
            _app: PhantomData,
        }
    }

    /// This server's id, for [`App::remove_server`].
    pub fn id(&self) -> ServerId {
        ServerId(self.id)
    }

    /// Listens on `host`:`port` (port 0 picks a free one: see [`Server::port`]); may be called
    /// again for more addresses. Err(ADDR_IN_USE) and the like when the socket cannot listen;
    /// Err(INVALID) for a host with a NUL.
    pub fn listen(&mut self, host: &str, port: u16) -> Result<()> {
        let host = CString::new(host).map_err(|_| Error::INVALID)?;
        // SAFETY: live server; host lives across the call.
        check(unsafe { sys::eddy_server_listen(self.ptr, host.as_ptr(), c_int::from(port), 0) })
    }

    /// Listens on the Unix socket `path` (a proxy on the same machine: nginx's
    /// `proxy_pass http://unix:PATH`), the socket file getting the permission bits `mode`
    /// (Tornado's `bind_unix_socket` default is `0o600`: only this user can connect; `0o660`
    /// lets its group in) before it listens. A stale socket file that no server answers on is
    /// replaced; the file is removed when the server closes. A path starting with `@` is a
    /// Linux abstract socket (no file; `mode` does not apply). May be called again, and with
    /// [`Server::listen`].
    ///
    /// Errors: `Err(ADDR_IN_USE)` (a live server, or another kind of file, at `path`),
    /// `Err(INVALID)` (an empty path, one with a NUL byte or too long for a socket address, a
    /// mode above `0o777`), or another code eddy returns (`EDDY_ENOENT` for a missing
    /// directory, `EDDY_EACCES`).
    pub fn listen_unix(&mut self, path: impl AsRef<Path>, mode: u32) -> Result<()> {
        let path =
            CString::new(path.as_ref().as_os_str().as_bytes()).map_err(|_| Error::INVALID)?;
        let mode = c_int::try_from(mode).map_err(|_| Error::INVALID)?;
        // SAFETY: live server; eddy copies the path.
        check(unsafe { sys::eddy_server_listen_unix_mode(self.ptr, path.as_ptr(), mode) })
    }

    /// The first TCP port this server listens on; None before [`Server::listen`].
    pub fn port(&self) -> Option<u16> {
        // SAFETY: live server.
        u16::try_from(unsafe { sys::eddy_server_port(self.ptr) }).ok()
    }

    /// Serves HTTPS (and wss://) on this server with `ctx`, a server context, as
    /// [`App::set_tls`] does on the default one. The server keeps its own reference to the
    /// context. Err(INVALID) for a client context or one without a certificate. With
    /// [`Server::set_proxy_protocol`] on, each connection's PROXY header comes before its
    /// handshake.
    pub fn set_tls(&mut self, ctx: &crate::TlsContext) -> Result<()> {
        // SAFETY: live server and context; eddy takes its own reference.
        check(unsafe { sys::eddy_server_set_tls(self.ptr, ctx.as_ptr()) })
    }

    /// Tornado's `xheaders` for this server: as [`App::set_xheaders`].
    pub fn set_xheaders(&mut self, on: bool) -> Result<()> {
        // SAFETY: live server.
        check(unsafe { sys::eddy_server_set_xheaders(self.ptr, c_int::from(on)) })
    }

    /// Adds a trusted downstream proxy of this server: as [`App::add_trusted_proxy`].
    /// Err(INVALID) for anything but a numeric address.
    pub fn add_trusted_proxy(&mut self, ip: &str) -> Result<()> {
        let ip = CString::new(ip).map_err(|_| Error::INVALID)?;
        // SAFETY: live server; ip lives across the call.
        check(unsafe { sys::eddy_server_add_trusted_proxy(self.ptr, ip.as_ptr()) })
    }

    /// Every request's scheme on this server: as [`App::set_protocol`]. Err(INVALID) for
    /// another string than "http" or "https".
    pub fn set_protocol(&mut self, scheme: Option<&str>) -> Result<()> {
        let s = self.ptr;
        match scheme {
            Some(v) => {
                let v = CString::new(v).map_err(|_| Error::INVALID)?;
                // SAFETY: live server; v lives across the call.
                check(unsafe { sys::eddy_server_set_protocol(s, v.as_ptr()) })
            }
            // SAFETY: live server; NULL restores the connection's scheme.
            None => check(unsafe { sys::eddy_server_set_protocol(s, std::ptr::null()) }),
        }
    }

    /// Tornado's `no_keep_alive` for this server: as [`App::set_no_keep_alive`].
    pub fn set_no_keep_alive(&mut self, on: bool) -> Result<()> {
        // SAFETY: live server.
        check(unsafe { sys::eddy_server_set_no_keep_alive(self.ptr, c_int::from(on)) })
    }

    /// Tornado's `decompress_request` for this server: as
    /// [`App::set_decompress_request`].
    pub fn set_decompress_request(&mut self, on: bool) -> Result<()> {
        // SAFETY: live server.
        check(unsafe { sys::eddy_server_set_decompress_request(self.ptr, c_int::from(on)) })
    }

    /// Whether this server decodes form bodies before the handlers run: as
    /// [`App::set_body_arguments`].
    pub fn set_body_arguments(&mut self, on: bool) -> Result<()> {
        // SAFETY: live server.
        check(unsafe { sys::eddy_server_set_body_arguments(self.ptr, c_int::from(on)) })
    }

    /// Largest request head on this server: as [`App::set_max_header_size`]. Err(INVALID)
    /// under 64.
    pub fn set_max_header_size(&mut self, bytes: usize) -> Result<()> {
        // SAFETY: live server.
        check(unsafe { sys::eddy_server_set_max_header_size(self.ptr, bytes) })
    }

    /// Most header field lines on this server: as [`App::set_max_header_fields`].
    /// Err(INVALID) for 0.
    pub fn set_max_header_fields(&mut self, count: usize) -> Result<()> {
        // SAFETY: live server.
        check(unsafe { sys::eddy_server_set_max_header_fields(self.ptr, count) })
    }

    /// Largest request body on this server: as [`App::set_max_body_size`].
    pub fn set_max_body_size(&mut self, bytes: usize) -> Result<()> {
        // SAFETY: live server.
        check(unsafe { sys::eddy_server_set_max_body_size(self.ptr, bytes) })
    }

    /// Most request-body bytes this server holds in memory over its connections: as
    /// [`App::set_max_body_memory`].
    pub fn set_max_body_memory(&mut self, bytes: usize) -> Result<()> {
        // SAFETY: live server.
        check(unsafe { sys::eddy_server_set_max_body_memory(self.ptr, bytes) })
    }

    /// Request-head timeout of this server: as [`App::set_header_timeout`]. Err(INVALID)
    /// when negative or NaN.
    pub fn set_header_timeout(&mut self, seconds: f64) -> Result<()> {
        // SAFETY: live server.
        check(unsafe { sys::eddy_server_set_header_timeout(self.ptr, seconds) })
    }

    /// Keep-alive idle timeout of this server: as [`App::set_idle_timeout`]. Err(INVALID)
    /// when negative or NaN.
    pub fn set_idle_timeout(&mut self, seconds: f64) -> Result<()> {
        // SAFETY: live server.
        check(unsafe { sys::eddy_server_set_idle_timeout(self.ptr, seconds) })
    }

    /// Request-body timeout of this server: as [`App::set_body_timeout`]. Err(INVALID)
    /// when negative or NaN.
    pub fn set_body_timeout(&mut self, seconds: f64) -> Result<()> {
        // SAFETY: live server.
        check(unsafe { sys::eddy_server_set_body_timeout(self.ptr, seconds) })
    }

    /// Minimum request-body rate of this server: as [`App::set_body_min_rate`].
    pub fn set_body_min_rate(&mut self, bytes_per_second: f64, grace_seconds: f64) -> Result<()> {
        // SAFETY: live server.
        check(unsafe {
            sys::eddy_server_set_body_min_rate(self.ptr, bytes_per_second, grace_seconds)
        })
    }

    /// Most connections open at once on this server: as [`App::set_max_connections`].
    pub fn set_max_connections(&mut self, count: usize) -> Result<()> {
        // SAFETY: live server.
        check(unsafe { sys::eddy_server_set_max_connections(self.ptr, count) })
    }

    /// The Server header of this server's responses: as [`App::set_server_header`].
    /// Err(INVALID) for a value with control characters.
    pub fn set_server_header(&mut self, value: Option<&str>) -> Result<()> {
        let s = self.ptr;
        // SAFETY: live server; the value is passed with its length (no NUL needed).
        check(unsafe {
            match value {
                Some(v) => sys::eddy_server_set_server_header(s, v.as_ptr() as _, v.len()),
                None => sys::eddy_server_set_server_header(s, std::ptr::null(), 0),
            }
        })
    }

    /// Requires the PROXY protocol on this server's connections: as
    /// [`App::set_proxy_protocol`] (with [`Server::set_tls`], the header comes before the
    /// handshake).
    pub fn set_proxy_protocol(&mut self, on: bool) -> Result<()> {
        // SAFETY: live server.
        check(unsafe { sys::eddy_server_set_proxy_protocol(self.ptr, c_int::from(on)) })
    }
}

/// eddy_app_reverse_url for [`App::reverse_url`] and [`Response::reverse_url`].
pub(crate) fn reverse_url(app: *mut sys::eddy_app, name: &str, args: &[&str]) -> Result<String> {
    let ptrs: Vec<*const c_char> = args.iter().map(|a| a.as_ptr() as *const c_char).collect();
    let lens: Vec<usize> = args.iter().map(|a| a.len()).collect();
    let mut out = vec![0u8; 256];
    loop {
        let mut len = 0usize;
        // SAFETY: a live app; every argument is given with its length (no NUL needed); `out`
        // holds out.len() bytes.
        let rc = unsafe {
            sys::eddy_app_reverse_url(
                app,
                name.as_ptr() as _,
                name.len(),
                ptrs.as_ptr(),
                lens.as_ptr(),
                args.len(),
                out.as_mut_ptr() as _,
                out.len(),
                &mut len,
            )
        };
        if rc == sys::EDDY_ETOOBIG && len + 1 > out.len() {
            out.resize(len + 1, 0);
            continue;
        }
        check(rc)?;
        out.truncate(len);
        return String::from_utf8(out).map_err(|_| Error::INVALID);
    }
}

impl Drop for App {
    fn drop(&mut self) {
        let ptr = self.ptr;
        if self.core.registered.get() {
            let id = self.core.id;
            // try_with: an App dropped while the thread's locals are torn down.
            let _ = APPS.try_with(|apps| apps.borrow_mut().remove(&id));
        }
        if in_callback() {
            // Dropped from inside one of the loop's callbacks (perhaps its own handler's):
            // free it once that returned, so no eddy frame above us sees it vanish — or, when
            // the loop is freed before its next iteration, just before the loop (defer_free).
            // SAFETY (in the deferred free): the app is freed once, on its loop thread, before
            // the loop.
            if self
                .lp
                .defer_free(move || unsafe { sys::eddy_app_free(ptr) })
                .is_ok()
            {
                return;
            }
            log_error("an App dropped inside a callback is freed at once (out of memory)");
        }
        // SAFETY: live app, freed once.
        unsafe { sys::eddy_app_free(ptr) }
    }
}

/// A route being set up: chain the closures for its methods and hooks.
/// Handlers return `Result<(), Error>`: an Err or a panic becomes a 500 and a log line.
pub struct Route<'a> {
    ptr: *mut sys::eddy_route,
    app: *mut sys::eddy_app,
    cbs: &'a RouteCallbacks,
}

impl<'a> Route<'a> {
    /// Makes this route also answer every request that no pattern matches, instead of eddy's
    /// 404 (Tornado's `default_handler_class`); it still answers its own pattern too. The last
    /// one set wins. The C core's `eddy_app_set_default_route`.
    pub fn set_default(self) -> Result<Self> {
        // SAFETY: live app and route (the route borrows the app).
        check(unsafe { sys::eddy_app_set_default_route(self.app, self.ptr) })?;
        Ok(self)
    }

    fn slot(self, m: usize, cb: sys::eddy_handler_fn, f: Rc<HandlerFn>) -> Self {
        self.cbs.slots.borrow_mut()[m] = Some(f);
        let name = METHODS[m];
        // SAFETY: live route; a valid method token (cannot fail).
        unsafe { sys::eddy_route_on(self.ptr, name.as_ptr() as _, name.len(), cb) };
        self
    }

    /// The closure for GET (also HEAD, unless [`Route::head`] is set).
    pub fn get(self, f: impl Fn(&Request<'_>, &mut Response<'_>) -> Result<()> + 'static) -> Self {
        self.slot(GET, Some(on_method::<GET>), Rc::new(f))
    }
    /// The closure for POST.
    pub fn post(self, f: impl Fn(&Request<'_>, &mut Response<'_>) -> Result<()> + 'static) -> Self {
        self.slot(POST, Some(on_method::<POST>), Rc::new(f))
    }
    /// The closure for PUT.
    pub fn put(self, f: impl Fn(&Request<'_>, &mut Response<'_>) -> Result<()> + 'static) -> Self {
        self.slot(PUT, Some(on_method::<PUT>), Rc::new(f))
    }
    /// The closure for DELETE.
    pub fn delete(
        self,
        f: impl Fn(&Request<'_>, &mut Response<'_>) -> Result<()> + 'static,
    ) -> Self {
        self.slot(DELETE, Some(on_method::<DELETE>), Rc::new(f))
    }
    /// The closure for PATCH.
    pub fn patch(
        self,
        f: impl Fn(&Request<'_>, &mut Response<'_>) -> Result<()> + 'static,
    ) -> Self {
        self.slot(PATCH, Some(on_method::<PATCH>), Rc::new(f))
    }
    /// The closure for HEAD.
    pub fn head(self, f: impl Fn(&Request<'_>, &mut Response<'_>) -> Result<()> + 'static) -> Self {
        self.slot(HEAD, Some(on_method::<HEAD>), Rc::new(f))
    }
    /// The closure for OPTIONS.
    pub fn options(
        self,
        f: impl Fn(&Request<'_>, &mut Response<'_>) -> Result<()> + 'static,
    ) -> Self {
        self.slot(OPTIONS, Some(on_method::<OPTIONS>), Rc::new(f))
    }

    /// The closure for any method token (standard or custom). Err(INVALID) for a non-token.
    pub fn on(
        self,
        method: &str,
        f: impl Fn(&Request<'_>, &mut Response<'_>) -> Result<()> + 'static,
    ) -> Result<Self> {
        if let Some(m) = METHODS.iter().position(|&name| name == method) {
            let cb: sys::eddy_handler_fn = match m {
                GET => Some(on_method::<GET>),
                POST => Some(on_method::<POST>),
                PUT => Some(on_method::<PUT>),
                DELETE => Some(on_method::<DELETE>),
                PATCH => Some(on_method::<PATCH>),
                HEAD => Some(on_method::<HEAD>),
                _ => Some(on_method::<OPTIONS>),
            };
            return Ok(self.slot(m, cb, Rc::new(f)));
        }
        // SAFETY: live route; the method passed with its length.
        check(unsafe {
            sys::eddy_route_on(
                self.ptr,
                method.as_ptr() as _,
                method.len(),
                Some(on_custom),
            )
        })?;
        let mut custom = self.cbs.custom.borrow_mut();
        custom.retain(|(name, _)| name != method);
        custom.push((method.to_owned(), Rc::new(f)));
        drop(custom);
        Ok(self)
    }

    /// Runs before the method closure; finishing the response there skips the method.
    /// It may go asynchronous (Tornado's coroutine prepare, e.g. an authorisation lookup):
    /// `res.detach()` there suspends the request before its method (a WebSocket route's
    /// handshake), which runs once the [`crate::Deferred`] is resumed
    /// ([`crate::Deferred::resume`]), or never if it is finished instead (a 403, say).
    pub fn prepare(
        self,
        f: impl Fn(&Request<'_>, &mut Response<'_>) -> Result<()> + 'static,
    ) -> Self {
        *self.cbs.prepare.borrow_mut() = Some(Rc::new(f));
        // SAFETY: live route.
        unsafe { sys::eddy_route_set_prepare(self.ptr, Some(on_prepare)) };
        self
    }
    /// Runs after the response was finished (request getters still work; writes do not).
    pub fn on_finish(
        self,
        f: impl Fn(&Request<'_>, &mut Response<'_>) -> Result<()> + 'static,
    ) -> Self {
        *self.cbs.on_finish.borrow_mut() = Some(Rc::new(f));
        // SAFETY: live route.
        unsafe { sys::eddy_route_set_on_finish(self.ptr, Some(on_finish_cb)) };
        self
    }
    /// Runs when the client leaves before the response is finished.
    pub fn on_connection_close(
        self,
        f: impl Fn(&Request<'_>, &mut Response<'_>) -> Result<()> + 'static,
    ) -> Self {
        *self.cbs.on_connection_close.borrow_mut() = Some(Rc::new(f));
        // SAFETY: live route.
        unsafe { sys::eddy_route_set_on_connection_close(self.ptr, Some(on_close_cb)) };
        self
    }
    /// Runs first for every request of the route, and again before an error page.
    pub fn default_headers(
        self,
        f: impl Fn(&Request<'_>, &mut Response<'_>) -> Result<()> + 'static,
    ) -> Self {
        *self.cbs.default_headers.borrow_mut() = Some(Rc::new(f));
        // SAFETY: live route.
        unsafe { sys::eddy_route_set_default_headers(self.ptr, Some(on_default_headers)) };
        self
    }
    /// Writes the body of error pages (given the status).
    pub fn write_error(
        self,
        f: impl Fn(&Request<'_>, &mut Response<'_>, u16) -> Result<()> + 'static,
    ) -> Self {
        *self.cbs.write_error.borrow_mut() = Some(Rc::new(f));
        // SAFETY: live route.
        unsafe { sys::eddy_route_set_write_error(self.ptr, Some(on_write_error)) };
        self
    }
    /// Streams request bodies to `f` piece by piece instead of buffering them.
    pub fn data_received(
        self,
        f: impl Fn(&Request<'_>, &mut Response<'_>, &[u8]) -> Result<()> + 'static,
    ) -> Self {
        *self.cbs.data_received.borrow_mut() = Some(Rc::new(f));
        // SAFETY: live route.
        unsafe { sys::eddy_route_set_data_received(self.ptr, Some(on_data)) };
        self
    }
    /// Makes the route a WebSocket endpoint (GET requests are upgraded; prepare and
    /// default_headers still run first).
    pub fn websocket(self, handler: crate::websocket::WebSocketHandler) -> Result<Self> {
        handler.install(self.ptr)?;
        *self.cbs.ws.borrow_mut() = Some(Rc::new(handler));
        Ok(self)
    }

    /// `false`: requests to this route skip the app's XSRF check ([`App::set_xsrf_cookies`]),
    /// as Tornado's overridden `check_xsrf_cookie` does, e.g. for an API authenticated
    /// otherwise. Default `true`.
    pub fn xsrf_check(self, on: bool) -> Self {
        // SAFETY: live route (cannot fail).
        unsafe { sys::eddy_route_set_xsrf_check(self.ptr, c_int::from(on)) };
        self
    }

    /// Names the route (for eddy's reverse_url).
    pub fn name(self, name: &str) -> Result<Self> {
        // SAFETY: live route.
        check(unsafe { sys::eddy_route_set_name(self.ptr, name.as_ptr() as _, name.len()) })?;
        Ok(self)
    }
}
