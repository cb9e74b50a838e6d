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
    pub const INVALID: Error = Error(sys::EDDY_EINVAL);
    pub const NO_MEMORY: Error = Error(sys::EDDY_ENOMEM);
    pub const CLOSED: Error = Error(sys::EDDY_ECLOSED);
    pub const NOT_FOUND: Error = Error(sys::EDDY_ENOENT);
    pub const STATE: Error = Error(sys::EDDY_ESTATE);
    pub const TOO_BIG: Error = Error(sys::EDDY_ETOOBIG);
    pub const ADDR_IN_USE: Error = Error(sys::EDDY_EADDRINUSE);
    pub const TIMED_OUT: Error = Error(sys::EDDY_ETIMEDOUT);
    pub const CONNECTION_REFUSED: Error = Error(sys::EDDY_ECONNREFUSED);
    /// The peer broke the protocol (a WebSocket handshake refused or malformed).
    pub const PROTOCOL: Error = Error(sys::EDDY_EPROTO);
    /// A TLS handshake or certificate check failed (e.g. wss:// to an untrusted certificate).
    pub const TLS: Error = Error(sys::EDDY_ETLS);

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
        unsafe { CStr::from_ptr(sys::eddy_err_name(self.0)) }.to_str().unwrap_or("EDDY_EUNKNOWN")
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
