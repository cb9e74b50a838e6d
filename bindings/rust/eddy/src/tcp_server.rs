//! TcpServer (Tornado's TCPServer) over eddy_listener (eddy/net.h): listening sockets whose
//! accepted connections go to a closure as [`Stream`]s.
//!
//! Ownership: the accept closure is one `Box` given to eddy_listener_new as userdata, released
//! by eddy's free callback exactly once, when eddy_listener_free runs (the TcpServer's Drop;
//! inside the accept callback eddy waits until it returned). The TcpServer holds a `Loop`
//! handle, so the loop (which would release the userdata with it) outlives the listener.
use std::cell::RefCell;
use std::ffi::{CStr, CString};
use std::net::{IpAddr, SocketAddr};
use std::os::raw::{c_char, c_int, c_void};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::io::{IntoRawFd, OwnedFd};
use std::path::Path;

use eddy_sys as sys;

use crate::boundary::{guard, log_error};
use crate::error::{check, Error, Result};
use crate::event_loop::Loop;
use crate::stream::{run_closure, Stream};
use crate::tls::TlsContext;

/// The accept closure: the new connection and the peer's address (`None` on a Unix socket).
type AcceptFn = RefCell<Box<dyn FnMut(Stream, Option<SocketAddr>) -> Result<()>>>;

/// A TCP (or Unix-socket) server (Tornado's `TCPServer`): `f` gets every accepted connection
/// as a [`Stream`] (Tornado's `handle_stream(stream, address)`), together with the peer's
/// address (`None` for a Unix socket).
///
/// ```no_run
/// use eddy::{Loop, TcpServer};
/// let lp = Loop::new().unwrap();
/// // An echo server: each line comes back.
/// let mut server = TcpServer::new(&lp, |stream, _peer| {
///     fn echo(s: &eddy::Stream) -> eddy::Result<()> {
///         s.read_until(b"\n", 64 * 1024, |s, line| {
///             s.write(line, None)?;
///             echo(s)
///         })
///     }
///     echo(&stream)
/// })
/// .unwrap();
/// server.listen("127.0.0.1", 8888).unwrap();
/// lp.run().unwrap();
/// ```
///
/// A panic or an `Err` (other than `CLOSED`) in `f` is logged and closes that connection; the
/// server and the loop go on. The stream is `f`'s: set its closures, keep a handle, or close
/// it (see [`Stream`] for its life cycle).
///
/// Ownership: the value owns the listener and `f`. Dropping it stops accepting, closes the
/// listening sockets and drops `f` (dropped inside `f`: once that call returned); connections
/// already accepted are not affected. It holds a [`Loop`] handle, like an
/// [`App`](crate::App): [`Loop::close`] is `Err(BUSY)` while it exists.
///
/// Thread: the loop's (not `Send`); `f` runs there.
pub struct TcpServer {
    ptr: *mut sys::eddy_listener,
    // Keeps the loop alive; dropped after the listener is freed (fields drop after Drop::drop).
    _lp: Loop,
}

impl TcpServer {
    /// A server on `lp` with no listening socket yet: add them with [`listen`](Self::listen),
    /// [`listen_reuse_port`](Self::listen_reuse_port), [`bind_unix`](Self::bind_unix) or
    /// [`add_fd`](Self::add_fd) (Tornado: `TCPServer()` then `listen` / `add_sockets`).
    ///
    /// Errors: `Err(NO_MEMORY)` (`f` is dropped).
    pub fn new(
        lp: &Loop,
        f: impl FnMut(Stream, Option<SocketAddr>) -> Result<()> + 'static,
    ) -> Result<TcpServer> {
        let accept: Box<AcceptFn> = Box::new(RefCell::new(Box::new(f)));
        let ud = Box::into_raw(accept) as *mut c_void;
        // SAFETY: a live loop on its thread; ud is released by free_accept exactly once, or
        // by us when eddy refuses it.
        let ptr =
            unsafe { sys::eddy_listener_new(lp.as_ptr(), Some(on_accept), ud, Some(free_accept)) };
        if ptr.is_null() {
            // SAFETY: eddy did not take ud.
            unsafe { free_accept(ud) };
            return Err(Error::NO_MEMORY);
        }
        Ok(TcpServer {
            ptr,
            _lp: lp.clone(),
        })
    }

    fn bind(&mut self, host: &str, port: u16, flags: c_int) -> Result<()> {
        let host = CString::new(host).map_err(|_| Error::INVALID)?;
        // SAFETY: live listener; eddy copies the host.
        check(unsafe {
            sys::eddy_listener_bind(self.ptr, host.as_ptr(), c_int::from(port), 0, flags)
        })
    }

    /// Listens on `host`:`port` (Tornado's `listen(port, address)`): `host` a numeric address,
    /// `"localhost"`, or `""` for every local address (one socket per address family); port 0
    /// picks a free port ([`port`](Self::port) tells which). SO_REUSEADDR is set, the backlog
    /// is 128. May be called again for more addresses. Every address `host` names must bind,
    /// else none of this call's sockets stays.
    ///
    /// Errors: `Err(ADDR_IN_USE)`, `Err(INVALID)` (a NUL byte in `host`), or another code
    /// eddy returns: `EDDY_EADDRNOTAVAIL` (a host that names no local address), `EDDY_EACCES`,
    /// `EDDY_EIO`.
    pub fn listen(&mut self, host: &str, port: u16) -> Result<()> {
        self.bind(host, port, 0)
    }

    /// As [`listen`](Self::listen) with SO_REUSEPORT (Tornado's `reuse_port=True`): several
    /// servers — on other loops, threads or processes — may listen on the same port, each with
    /// this option, and the kernel spreads the connections over them.
    pub fn listen_reuse_port(&mut self, host: &str, port: u16) -> Result<()> {
        self.bind(host, port, sys::EDDY_LISTEN_REUSEPORT)
    }

    /// Listens on the Unix socket `path`. An existing socket file there that no server answers
    /// on is replaced; any other existing file is `Err(ADDR_IN_USE)`. The file is removed when
    /// the server stops. Peers have no address: `f` gets `None`.
    ///
    /// Errors: `Err(ADDR_IN_USE)` (see above), `Err(INVALID)` for an empty path, one with a NUL
    /// byte or too long for a socket address, or another code eddy returns (`EDDY_EACCES`,
    /// `EDDY_EIO`).
    pub fn bind_unix(&mut self, path: impl AsRef<Path>) -> Result<()> {
        let path =
            CString::new(path.as_ref().as_os_str().as_bytes()).map_err(|_| Error::INVALID)?;
        // SAFETY: live listener; eddy copies the path.
        check(unsafe { sys::eddy_listener_bind_unix(self.ptr, path.as_ptr(), 0) })
    }

    /// As [`bind_unix`](Self::bind_unix), the socket file getting the permission bits `mode`
    /// before it listens (Tornado's `bind_unix_socket(file, mode=0o600)`; `bind_unix` leaves
    /// them to the umask). A path starting with `@` is a Linux abstract socket (no file;
    /// `mode` does not apply).
    ///
    /// Errors: as `bind_unix`, and `Err(INVALID)` for a mode above `0o777`.
    pub fn bind_unix_mode(&mut self, path: impl AsRef<Path>, mode: u32) -> Result<()> {
        let path =
            CString::new(path.as_ref().as_os_str().as_bytes()).map_err(|_| Error::INVALID)?;
        let mode = c_int::try_from(mode).map_err(|_| Error::INVALID)?;
        // SAFETY: live listener; eddy copies the path.
        check(unsafe { sys::eddy_listener_bind_unix_mode(self.ptr, path.as_ptr(), mode, 0) })
    }

    /// Accepts on `fd`, a socket already bound and listening (Tornado's `add_socket`): one
    /// made by [`bind_socket`](crate::bind_socket) before
    /// [`fork_processes`](crate::fork_processes), inherited from a parent or a service
    /// manager, or a `std::net::TcpListener` (`listener.into()`).
    ///
    /// Ownership: the server takes `fd` (closed when it stops). On an error `fd` is closed too.
    ///
    /// Errors: `Err(INVALID)` (not a listening socket), `Err(NO_MEMORY)`.
    pub fn add_fd(&mut self, fd: OwnedFd) -> Result<()> {
        let raw = fd.into_raw_fd();
        // SAFETY: live listener; on success it owns raw.
        let rc = unsafe { sys::eddy_listener_add_fd(self.ptr, raw) };
        if rc < 0 {
            // SAFETY: eddy did not take raw, which we own (it came from an OwnedFd).
            drop(unsafe { <OwnedFd as std::os::unix::io::FromRawFd>::from_raw_fd(raw) });
        }
        check(rc)
    }

    /// The local port of the first TCP listening socket (after listening on port 0, the one
    /// picked); `None` when there is none.
    pub fn port(&self) -> Option<u16> {
        // SAFETY: live listener.
        let p = unsafe { sys::eddy_listener_port(self.ptr) };
        u16::try_from(p).ok()
    }

    /// How many listening sockets the server holds (0 after [`stop`](Self::stop)).
    pub fn socket_count(&self) -> usize {
        // SAFETY: live listener.
        let n = unsafe { sys::eddy_listener_socket_count(self.ptr) };
        usize::try_from(n).unwrap_or(0)
    }

    /// The local address of the `index`th listening socket (0 = the first): listening on
    /// "127.0.0.1" and then on "::1" with port 0 makes two sockets, each with a port of its
    /// own, where [`port`](Self::port) gives the first's. `None` when there is no such socket
    /// or it is not a TCP one (a Unix socket).
    pub fn local_addr(&self, index: usize) -> Option<SocketAddr> {
        let index = c_int::try_from(index).ok()?;
        // SAFETY: live listener.
        let fd = unsafe { sys::eddy_listener_socket_fd(self.ptr, index) };
        if fd < 0 {
            return None;
        }
        // SAFETY: an open socket the listener owns, borrowed for this call only: ManuallyDrop
        // keeps it open (the listener closes it).
        let sock = std::mem::ManuallyDrop::new(unsafe {
            <std::net::TcpListener as std::os::unix::io::FromRawFd>::from_raw_fd(fd)
        });
        sock.local_addr().ok()
    }

    /// Serves TLS with `ctx`, a server context ([`TlsContext::server`]): every connection
    /// accepted from now on is a TLS stream ([`Stream::is_tls`]) whose handshake starts at
    /// once; reads and writes issued before it completes wait for it, and a failed handshake
    /// closes the stream with `Error::TLS` or `Error::TIMED_OUT` (its close closure says
    /// which; eddy also logs it). The server keeps its own reference to the context.
    /// Connections already accepted keep what they had.
    ///
    /// Errors: `Err(INVALID)` for a client context, or one without a certificate and its
    /// matching key.
    pub fn set_tls(&mut self, ctx: &TlsContext) -> Result<()> {
        // SAFETY: live listener and context; the listener takes its own reference.
        check(unsafe { sys::eddy_listener_set_tls(self.ptr, ctx.as_ptr()) })
    }

    /// Serves plain TCP again (undoes [`set_tls`](Self::set_tls)) for connections accepted
    /// from now on; the listener drops its context reference.
    pub fn clear_tls(&mut self) {
        // SAFETY: live listener; NULL turns TLS off and cannot fail for a live listener.
        unsafe { sys::eddy_listener_set_tls(self.ptr, std::ptr::null_mut()) };
    }

    /// Stops accepting and closes every listening socket (Tornado's `stop`); a Unix socket's
    /// file is removed. Connections already accepted go on. Listening again afterwards works.
    /// Safe inside `f`.
    pub fn stop(&self) {
        // SAFETY: live listener; it cannot fail for one.
        unsafe { sys::eddy_listener_stop(self.ptr) };
    }
}

impl Drop for TcpServer {
    fn drop(&mut self) {
        // SAFETY: live listener (its loop is alive through _lp), freed once. Inside its own
        // accept callback eddy frees it (and f) once that callback returned.
        unsafe { sys::eddy_listener_free(self.ptr) }
    }
}

impl std::fmt::Debug for TcpServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TcpServer")
            .field("port", &self.port())
            .field("sockets", &self.socket_count())
            .finish()
    }
}

/// The peer address eddy gave: `None` for a Unix socket ("" and port 0).
///
/// # Safety
/// `ip` is NULL or a NUL-terminated string.
unsafe fn peer_address(ip: *const c_char, port: c_int) -> Option<SocketAddr> {
    if ip.is_null() {
        return None;
    }
    let ip: IpAddr = CStr::from_ptr(ip).to_str().ok()?.parse().ok()?;
    Some(SocketAddr::new(ip, u16::try_from(port).ok()?))
}

unsafe extern "C" fn on_accept(
    _listener: *mut sys::eddy_listener,
    p: *mut sys::eddy_stream,
    peer_ip: *const c_char,
    peer_port: c_int,
    ud: *mut c_void,
) {
    // SAFETY: ud is the Box<AcceptFn> made in new; eddy releases it only after this returned.
    let accept = &*(ud as *const AcceptFn);
    // SAFETY: a fresh stream eddy gave us.
    let stream = Stream::adopt(p);
    let peer = peer_address(peer_ip, peer_port);
    let mut f = match accept.try_borrow_mut() {
        Ok(f) => f,
        Err(_) => {
            // Not expected (accepting never nests); the connection is refused cleanly.
            log_error("a TcpServer's accept closure was called again while it ran");
            sys::eddy_stream_close(p);
            return;
        }
    };
    run_closure(p, "accept callback", true, || f(stream, peer));
}

unsafe extern "C" fn free_accept(ud: *mut c_void) {
    // SAFETY: eddy calls this exactly once per userdata made in new.
    let accept = Box::from_raw(ud as *mut AcceptFn);
    if guard(move || drop(accept)).is_err() {
        log_error("dropping a TcpServer's accept closure panicked");
    }
}
