//! ConnectError: how a WebSocket connect failed — eddy's code and, when eddy knows more, why.
use std::fmt;
use std::os::raw::c_int;

use eddy_sys as sys;

use crate::error::{owned_detail, Error};

/// The error [`WebSocketClient::on_connect_detailed`](crate::WebSocketClient::on_connect_detailed)
/// gets: the `EDDY_E*` code as an [`Error`] and what eddy knows beyond it
/// (`eddy_websocket_connect_error_detail`), as a fetch's [`FetchError`](crate::FetchError):
/// for `Error::TLS` why the handshake or the certificate check failed (`"certificate
/// verification: self-signed certificate"`), for `Error::PROTOCOL` what was wrong with the
/// server's answer (`"the server answered 403 Forbidden"`, `"no Upgrade: websocket in the
/// handshake response"`), for `Error::CONNECTION_REFUSED` the address (`"connect to
/// 127.0.0.1:9: Connection refused"`). `Display` shows both ("TLS handshake or certificate
/// verification failed: certificate verification: self-signed certificate").
///
/// It compares equal to an [`Error`] of the same code, whatever the detail; `?` turns it into
/// the [`Error`] in a function returning [`Result`](crate::Result), dropping the detail.
#[derive(Clone, PartialEq, Eq)]
pub struct ConnectError {
    error: Error,
    detail: Option<String>,
}

impl ConnectError {
    /// Reads the failure `lp`'s connect callback is reporting (the only time the detail is
    /// there).
    ///
    /// # Safety
    /// `lp` is the live loop whose failed connect callback is running.
    pub(crate) unsafe fn read(lp: *mut sys::eddy_loop, code: c_int) -> ConnectError {
        let mut len = 0usize;
        let p = sys::eddy_websocket_connect_error_detail(lp, &mut len);
        ConnectError {
            error: Error::from_code(code),
            detail: owned_detail(p, len),
        }
    }

    /// The code as an [`Error`] (`Error::TLS`, `Error::PROTOCOL`, ...).
    pub fn error(&self) -> Error {
        self.error
    }

    /// The negative `EDDY_E*` code.
    pub fn code(&self) -> c_int {
        self.error.code()
    }

    /// The code's symbolic name, e.g. "EDDY_ETLS".
    pub fn name(&self) -> &'static str {
        self.error.name()
    }

    /// What eddy knows beyond the code, or `None` (out of memory has nothing more to say).
    pub fn detail(&self) -> Option<&str> {
        self.detail.as_deref()
    }
}

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.detail {
            Some(detail) => write!(f, "{}: {}", self.error, detail),
            None => write!(f, "{}", self.error),
        }
    }
}

impl fmt::Debug for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.detail {
            Some(detail) => write!(f, "ConnectError({}, {:?})", self.error.name(), detail),
            None => write!(f, "ConnectError({})", self.error.name()),
        }
    }
}

impl std::error::Error for ConnectError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}

impl From<ConnectError> for Error {
    fn from(e: ConnectError) -> Error {
        e.error
    }
}

/// Compares the code only: the detail is an explanation, not a different error.
impl PartialEq<Error> for ConnectError {
    fn eq(&self, other: &Error) -> bool {
        self.error == *other
    }
}

impl PartialEq<ConnectError> for Error {
    fn eq(&self, other: &ConnectError) -> bool {
        *self == other.error
    }
}
