//! Error: one of eddy's negative EDDY_E* codes.
use std::ffi::CStr;
use std::fmt;
use std::os::raw::c_int;

use eddy_sys as sys;

/// A failed eddy call: the C API's negative `EDDY_E*` code.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Error(c_int);

/// The result of a fallible eddy call.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// A bad argument (or, from a fetch, a malformed URL or method).
    pub const INVALID: Error = Error(sys::EDDY_EINVAL);
    /// Out of memory.
    pub const NO_MEMORY: Error = Error(sys::EDDY_ENOMEM);
    /// Busy: e.g. an HTTP client's queue is full.
    pub const BUSY: Error = Error(sys::EDDY_EBUSY);
    /// The connection or object is closed (a client left, a loop gone).
    pub const CLOSED: Error = Error(sys::EDDY_ECLOSED);
    /// Nothing by that name or index (also: no such program or directory, for a
    /// subprocess; `std::io::ErrorKind::NotFound`).
    pub const NOT_FOUND: Error = Error(sys::EDDY_ENOENT);
    /// Not allowed in the current state (e.g. cancelling a fetch that already ended).
    pub const STATE: Error = Error(sys::EDDY_ESTATE);
    /// Over a size limit (a body over `max_body_size`, a message over its maximum).
    pub const TOO_BIG: Error = Error(sys::EDDY_ETOOBIG);
    /// The address is in use (listen).
    pub const ADDR_IN_USE: Error = Error(sys::EDDY_EADDRINUSE);
    /// The address is not a local one (a connect's source address,
    /// [`ConnectOptions::source_ip`](crate::ConnectOptions::source_ip)), or no address of the
    /// host can be reached from it.
    pub const ADDR_NOT_AVAILABLE: Error = Error(sys::EDDY_EADDRNOTAVAIL);
    /// A connect, request or handshake timeout passed.
    pub const TIMED_OUT: Error = Error(sys::EDDY_ETIMEDOUT);
    /// Nobody listens at the address connected to.
    pub const CONNECTION_REFUSED: Error = Error(sys::EDDY_ECONNREFUSED);
    /// The peer reset the connection.
    pub const CONNECTION_RESET: Error = Error(sys::EDDY_ECONNRESET);
    /// The connection closed before the message or response was complete.
    pub const EOF: Error = Error(sys::EDDY_EOF);
    /// Cancelled (a fetch cancelled, or its client dropped).
    pub const CANCELED: Error = Error(sys::EDDY_ECANCELED);
    /// The peer broke the protocol (a malformed HTTP response, a WebSocket handshake refused
    /// or malformed).
    pub const PROTOCOL: Error = Error(sys::EDDY_EPROTO);
    /// A TLS handshake or certificate check failed (e.g. wss:// to an untrusted certificate).
    pub const TLS: Error = Error(sys::EDDY_ETLS);
    /// A host name could not be resolved.
    pub const RESOLVE: Error = Error(sys::EDDY_ERESOLVE);
    /// Not supported (e.g. the PROXY protocol together with TLS on one server).
    pub const NOT_SUPPORTED: Error = Error(sys::EDDY_ENOTSUP);
    /// Permission denied (a program that is not executable, a signal the process may not
    /// send); `std::io::ErrorKind::PermissionDenied`.
    pub const PERMISSION_DENIED: Error = Error(sys::EDDY_EACCES);
    /// Out of file descriptors (e.g. for a subprocess's pipes).
    pub const TOO_MANY_FILES: Error = Error(sys::EDDY_EMFILE);
    /// Another system failure (eddy's log line names the errno).
    pub const IO: Error = Error(sys::EDDY_EIO);

    /// Wraps a code returned by the C API.
    pub fn from_code(code: c_int) -> Error {
        Error(code)
    }

    /// The negative `EDDY_E*` code.
    pub fn code(self) -> c_int {
        self.0
    }

    /// The symbolic name, e.g. "EDDY_ECLOSED".
    pub fn name(self) -> &'static str {
        // SAFETY: eddy_err_name returns a static NUL-terminated ASCII string, never NULL.
        unsafe { CStr::from_ptr(sys::eddy_err_name(self.0)) }
            .to_str()
            .unwrap_or("EDDY_EUNKNOWN")
    }
}

impl Error {
    /// The closest [`std::io::ErrorKind`]: `NOT_FOUND` is `NotFound`, `PERMISSION_DENIED`
    /// `PermissionDenied`, `INVALID` `InvalidInput`, `TIMED_OUT`, `CONNECTION_REFUSED`,
    /// `CONNECTION_RESET`, `ADDR_IN_USE` their namesakes, `EOF` `UnexpectedEof`, `NO_MEMORY`
    /// `OutOfMemory`, `NOT_SUPPORTED` `Unsupported`; every other code `Other`. The
    /// `From<Error> for std::io::Error` conversion (for `?` in functions returning
    /// `std::io::Result`) uses it and keeps this error as the source.
    pub fn kind(self) -> std::io::ErrorKind {
        use std::io::ErrorKind as K;
        match self {
            Error::NOT_FOUND => K::NotFound,
            Error::PERMISSION_DENIED => K::PermissionDenied,
            Error::INVALID => K::InvalidInput,
            Error::TIMED_OUT => K::TimedOut,
            Error::CONNECTION_REFUSED => K::ConnectionRefused,
            Error::CONNECTION_RESET => K::ConnectionReset,
            Error::ADDR_IN_USE => K::AddrInUse,
            Error::EOF => K::UnexpectedEof,
            Error::NO_MEMORY => K::OutOfMemory,
            Error::NOT_SUPPORTED => K::Unsupported,
            _ => K::Other,
        }
    }
}

impl From<Error> for std::io::Error {
    fn from(e: Error) -> std::io::Error {
        std::io::Error::new(e.kind(), e)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // SAFETY: eddy_strerror returns a static NUL-terminated string, never NULL.
        let text = unsafe { CStr::from_ptr(sys::eddy_strerror(self.0)) };
        f.write_str(&text.to_string_lossy())
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Error({})", self.name())
    }
}

impl std::error::Error for Error {}

/// 0 → Ok, a negative code → Err.
pub(crate) fn check(rc: c_int) -> Result<()> {
    if rc >= 0 {
        Ok(())
    } else {
        Err(Error(rc))
    }
}

/// An error detail eddy lends (eddy_fetch_error_detail, eddy_websocket_connect_error_detail)
/// as an owned string, `None` when it is empty.
///
/// # Safety
/// `p` is NULL or points at `len` readable bytes.
pub(crate) unsafe fn owned_detail(p: *const std::os::raw::c_char, len: usize) -> Option<String> {
    if p.is_null() || len == 0 {
        return None;
    }
    let bytes = std::slice::from_raw_parts(p as *const u8, len);
    Some(String::from_utf8_lossy(bytes).into_owned())
}
