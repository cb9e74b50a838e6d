//! connect / connect_tls (Tornado's TCPClient.connect) over eddy_connect and eddy_connect_tls:
//! an asynchronous connect whose outcome, a [`Stream`] or an error, goes to a closure.
//!
//! Ownership: the closure is one `Box` given to eddy as userdata; eddy calls back exactly once
//! and then releases it exactly once (or, when the loop is freed first, releases it uncalled).
use std::ffi::CString;
use std::net::IpAddr;
use std::os::raw::{c_char, c_int, c_void};

use eddy_sys as sys;

use crate::boundary::{guard, log_error};
use crate::connect_error::ConnectError;
use crate::error::{check, Error, Result};
use crate::event_loop::Loop;
use crate::stream::{run_closure, Stream};
use crate::tls::TlsContext;

/// What a connect calls: every connect keeps the detailed form; the plain ones drop the detail.
type ConnectFn = dyn FnOnce(std::result::Result<Stream, ConnectError>) -> Result<()>;

/// Connects to `host`:`port` without blocking the loop (Tornado's `TCPClient().connect(host,
/// port, timeout=...)`) and calls `f` once, on the loop, never inside this call: with the
/// connected [`Stream`], or with the error — `Error::CONNECTION_REFUSED`, `Error::TIMED_OUT`,
/// `Error::RESOLVE` (a name that does not resolve), or another connect error.
///
/// `host` is a numeric IPv4/IPv6 address or a name (looked up on a worker thread; every
/// address is tried in turn). `timeout` (seconds; 0 or less: none) bounds the whole attempt.
///
/// ```no_run
/// let lp = eddy::Loop::new().unwrap();
/// let weak = lp.downgrade();
/// eddy::connect(&lp, "127.0.0.1", 8888, 5.0, move |outcome| {
///     let stream = outcome?;
///     stream.write(b"hello\n", None)?;
///     stream.read_until(b"\n", 1024, move |s, line| {
///         println!("{}", String::from_utf8_lossy(line));
///         weak.upgrade().map(|lp| lp.stop());
///         s.close()
///     })
/// })
/// .unwrap();
/// lp.run().unwrap();
/// ```
///
/// A panic or an `Err` in `f` is logged (an `Err` that is the connect error itself, passed on
/// with `?`, too) and closes the stream it got; the loop goes on. The stream is `f`'s, as a
/// [`TcpServer`](crate::TcpServer)'s accepted one.
///
/// Ownership: `f` is kept until it ran, or dropped uncalled when the loop is freed first.
/// Thread: `lp`'s; `f` runs there.
///
/// Errors (then `f` is dropped uncalled): `Err(INVALID)` for a NaN timeout or a host with a
/// NUL byte, `Err(NO_MEMORY)`.
pub fn connect(
    lp: &Loop,
    host: &str,
    port: u16,
    timeout: f64,
    f: impl FnOnce(Result<Stream>) -> Result<()> + 'static,
) -> Result<()> {
    // Default options are eddy_connect's: one path for both.
    ConnectOptions::new()
        .timeout(timeout)
        .connect(lp, host, port, f)
}

/// As [`connect`], then a TLS handshake with `ctx`, a client context ([`TlsContext::client`]:
/// the system's CAs, certificate and host name checked; load a CA or a client certificate, or
/// `set_verify(Verify::None)`, as needed). `server_name` (`None`: `host`) is sent as SNI
/// (unless it is an IP address) and checked against the certificate. `f` gets the stream once
/// connected; the handshake completes before its first bytes are delivered, and a failing
/// handshake closes the stream with `Error::TLS` (its close closure gets it). The connection
/// keeps its own reference to `ctx`.
///
/// Errors: as [`connect`]; `Err(INVALID)` for a server context too.
pub fn connect_tls(
    lp: &Loop,
    host: &str,
    port: u16,
    timeout: f64,
    ctx: &TlsContext,
    server_name: Option<&str>,
    f: impl FnOnce(Result<Stream>) -> Result<()> + 'static,
) -> Result<()> {
    ConnectOptions::new()
        .timeout(timeout)
        .connect_tls(lp, host, port, ctx, server_name, f)
}

/// Which addresses of a host a connect tries ([`ConnectOptions::family`]; eddy's
/// `EDDY_FAMILY_*`, Tornado's `af`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Family {
    /// IPv4 and IPv6, staggered as Happy Eyeballs (the default).
    #[default]
    Any,
    /// IPv4 addresses only (`af=socket.AF_INET`).
    Ipv4,
    /// IPv6 addresses only (`af=socket.AF_INET6`).
    Ipv6,
}

/// A connect with Tornado's other `TCPClient.connect` arguments (eddy_connect_with_options),
/// as a builder: a timeout, an address family, a local address and port to bind.
///
/// ```no_run
/// use std::net::{IpAddr, Ipv4Addr};
/// let lp = eddy::Loop::new().unwrap();
/// eddy::ConnectOptions::new()
///     .timeout(5.0)
///     .source_ip(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10))) // leave by this interface
///     .connect(&lp, "198.51.100.1", 8888, |outcome| {
///         let stream = outcome?;
///         stream.write(b"hello\n", None)?;
///         Ok(())
///     })
///     .unwrap();
/// ```
///
/// The source address is an [`IpAddr`]: numeric by its type, as eddy requires (a name would
/// need a lookup, and which of its addresses would be meant?).
#[derive(Clone, Debug, Default)]
pub struct ConnectOptions {
    timeout: f64,
    family: Family,
    source_ip: Option<IpAddr>,
    source_port: u16,
}

impl ConnectOptions {
    /// No timeout, every family, the local end left to the system: [`connect`]'s defaults.
    pub fn new() -> ConnectOptions {
        ConnectOptions::default()
    }

    /// Bounds the whole attempt, name lookup included (seconds; 0 or less: none).
    pub fn timeout(mut self, seconds: f64) -> Self {
        self.timeout = seconds;
        self
    }

    /// Tries only the host's addresses of `family`, still staggered; a host without one
    /// fails the connect with `Error::RESOLVE` (as `getaddrinfo` asked for that family).
    pub fn family(mut self, family: Family) -> Self {
        self.family = family;
        self
    }

    /// Binds each attempt's socket to `ip` before it connects (Tornado's `source_ip`); only
    /// the host's addresses of its family are tried then. One that is not a local address
    /// fails the connect with `Error::ADDR_NOT_AVAILABLE` (so does a host with no address of
    /// its family).
    pub fn source_ip(mut self, ip: IpAddr) -> Self {
        self.source_ip = Some(ip);
        self
    }

    /// Binds each attempt's socket to local port `port` (Tornado's `source_port`; 0: the
    /// system picks one); alone, with the family's wildcard address. A port in use fails that
    /// attempt with `Error::ADDR_IN_USE`.
    pub fn source_port(mut self, port: u16) -> Self {
        self.source_port = port;
        self
    }

    /// [`connect`] with these options. Errors as its.
    pub fn connect(
        &self,
        lp: &Loop,
        host: &str,
        port: u16,
        f: impl FnOnce(Result<Stream>) -> Result<()> + 'static,
    ) -> Result<()> {
        self.connect_detailed(lp, host, port, move |r| f(r.map_err(Error::from)))
    }

    /// As [`connect`](Self::connect), but a failure comes as a [`ConnectError`]: the code (it
    /// compares equal to that [`Error`]; `?` gives the [`Error`]) and what eddy knows beyond it
    /// (`eddy_connect_error_detail`), e.g. `Some("connect to 127.0.0.1:9: Connection
    /// refused")`, `Some("connect to 127.0.0.1:80: bind source 192.0.2.1: Cannot assign
    /// requested address")`, which its `Display` appends. Errors as [`connect`]'s.
    pub fn connect_detailed(
        &self,
        lp: &Loop,
        host: &str,
        port: u16,
        f: impl FnOnce(std::result::Result<Stream, ConnectError>) -> Result<()> + 'static,
    ) -> Result<()> {
        let options = self.to_c()?;
        start(self.timeout, Box::new(f), |ud| {
            let host = CString::new(host).map_err(|_| Error::INVALID)?;
            // SAFETY: a live loop on its thread; eddy copies the host and the options; ud
            // released as in start.
            Ok(unsafe {
                sys::eddy_connect_with_options(
                    lp.as_ptr(),
                    host.as_ptr(),
                    c_int::from(port),
                    self.timeout,
                    options.ptr,
                    Some(on_connect),
                    ud,
                    Some(free_connect),
                )
            })
        })
    }

    /// [`connect_tls`] with these options. Errors as its.
    pub fn connect_tls(
        &self,
        lp: &Loop,
        host: &str,
        port: u16,
        ctx: &TlsContext,
        server_name: Option<&str>,
        f: impl FnOnce(Result<Stream>) -> Result<()> + 'static,
    ) -> Result<()> {
        self.connect_tls_detailed(lp, host, port, ctx, server_name, move |r| {
            f(r.map_err(Error::from))
        })
    }

    /// As [`connect_tls`](Self::connect_tls), with a failed connect as a [`ConnectError`] (as
    /// [`connect_detailed`](Self::connect_detailed)). The handshake runs after `f` got the
    /// stream: its failure closes the stream with `Error::TLS`, as [`connect_tls`]'s.
    pub fn connect_tls_detailed(
        &self,
        lp: &Loop,
        host: &str,
        port: u16,
        ctx: &TlsContext,
        server_name: Option<&str>,
        f: impl FnOnce(std::result::Result<Stream, ConnectError>) -> Result<()> + 'static,
    ) -> Result<()> {
        let options = self.to_c()?;
        start(self.timeout, Box::new(f), |ud| {
            let host = CString::new(host).map_err(|_| Error::INVALID)?;
            let name = match server_name {
                Some(n) => Some(CString::new(n).map_err(|_| Error::INVALID)?),
                None => None,
            };
            let name_ptr = name.as_ref().map_or(std::ptr::null(), |n| n.as_ptr());
            // SAFETY: a live loop and context; eddy copies the strings and the options and
            // takes its own reference to ctx; ud released as in start.
            Ok(unsafe {
                sys::eddy_connect_tls_with_options(
                    lp.as_ptr(),
                    host.as_ptr(),
                    c_int::from(port),
                    self.timeout,
                    options.ptr,
                    ctx.as_ptr(),
                    name_ptr as *const c_char,
                    Some(on_connect),
                    ud,
                    Some(free_connect),
                )
            })
        })
    }

    /// The C options (a null pointer for the defaults: exactly eddy_connect).
    fn to_c(&self) -> Result<COptions> {
        let mut o = COptions {
            ptr: std::ptr::null_mut(),
        };
        if self.family == Family::Any && self.source_ip.is_none() && self.source_port == 0 {
            return Ok(o);
        }
        // SAFETY: plain data; freed by COptions' drop.
        o.ptr = unsafe { sys::eddy_connect_options_new() };
        if o.ptr.is_null() {
            return Err(Error::NO_MEMORY);
        }
        let family = match self.family {
            Family::Any => sys::EDDY_FAMILY_ANY,
            Family::Ipv4 => sys::EDDY_FAMILY_IPV4,
            Family::Ipv6 => sys::EDDY_FAMILY_IPV6,
        };
        // SAFETY: live options.
        check(unsafe { sys::eddy_connect_options_set_family(o.ptr, family) })?;
        if self.source_ip.is_some() || self.source_port != 0 {
            let ip = self
                .source_ip
                .map(|ip| CString::new(ip.to_string()).expect("an address has no NUL"));
            let ip_ptr = ip.as_ref().map_or(std::ptr::null(), |s| s.as_ptr());
            // SAFETY: live options; eddy copies the address.
            check(unsafe {
                sys::eddy_connect_options_set_source(o.ptr, ip_ptr, c_int::from(self.source_port))
            })?;
        }
        Ok(o)
    }
}

/// Owns eddy_connect_options for the length of one connect call (eddy copies them).
struct COptions {
    ptr: *mut sys::eddy_connect_options,
}

impl Drop for COptions {
    fn drop(&mut self) {
        // SAFETY: made by eddy_connect_options_new (or null, which does nothing).
        unsafe { sys::eddy_connect_options_free(self.ptr) }
    }
}

/// Hands `f` to eddy through `call` (which returns eddy's code, or an argument error found
/// before calling it); takes `f` back when eddy refused it.
fn start(
    timeout: f64,
    f: Box<ConnectFn>,
    call: impl FnOnce(*mut c_void) -> Result<c_int>,
) -> Result<()> {
    if timeout.is_nan() {
        return Err(Error::INVALID);
    }
    let slot: Box<Option<Box<ConnectFn>>> = Box::new(Some(f));
    let ud = Box::into_raw(slot) as *mut c_void;
    let rc = call(ud).and_then(check);
    if rc.is_err() {
        // SAFETY: eddy did not take ud (it refused it, or was never called).
        unsafe { free_connect(ud) };
    }
    rc
}

unsafe extern "C" fn on_connect(
    lp: *mut sys::eddy_loop,
    p: *mut sys::eddy_stream,
    error: c_int,
    ud: *mut c_void,
) {
    // SAFETY: the Box<Option<..>> made in start; eddy releases it only after this returned.
    let slot = &mut *(ud as *mut Option<Box<ConnectFn>>);
    let f = match slot.take() {
        Some(f) => f,
        None => return,
    };
    if error == 0 && !p.is_null() {
        // SAFETY: a fresh connected stream that is now ours.
        let stream = Stream::adopt(p);
        run_closure(p, "connect callback", true, || f(Ok(stream)));
    } else {
        let error = if error < 0 { error } else { sys::EDDY_EIO };
        // Why, beyond the code: only readable now, inside eddy's failed callback.
        let error = ConnectError::read_tcp(lp, error);
        run_closure(std::ptr::null_mut(), "connect callback", false, || {
            f(Err(error))
        });
    }
}

unsafe extern "C" fn free_connect(ud: *mut c_void) {
    // SAFETY: made in start; released once (by eddy, or by start when eddy refused it).
    let slot = Box::from_raw(ud as *mut Option<Box<ConnectFn>>);
    if guard(move || drop(slot)).is_err() {
        log_error("dropping a connect closure panicked");
    }
}
