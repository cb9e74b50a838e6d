//! FetchError: how a fetch failed — eddy's code and, when eddy knows more, why.
use std::fmt;
use std::os::raw::c_int;

use eddy_sys as sys;

use crate::error::{owned_detail, Error};

/// The error an [`HttpClient`](crate::HttpClient) fetch's closure gets: the `EDDY_E*` code as
/// an [`Error`] and what eddy knows beyond it (`eddy_fetch_error_detail`), e.g. for
/// `Error::TLS` why the handshake or the certificate check failed:
/// `"certificate verification: hostname mismatch"`, for `Error::CONNECTION_REFUSED` the
/// address (`"connect to 127.0.0.1:9: Connection refused"`). `Display` shows both ("TLS handshake or
/// certificate verification failed: certificate verification: hostname mismatch").
///
/// It compares equal to an [`Error`] of the same code (`outcome.unwrap_err() == Error::TLS`),
/// whatever the detail; `?` turns it into the [`Error`] in a function returning
/// [`Result`](crate::Result), dropping the detail.
#[derive(Clone, PartialEq, Eq)]
pub struct FetchError {
    error: Error,
    detail: Option<String>,
}

impl FetchError {
    /// Reads the error of `f` in its done callback (the only time the detail is valid).
    ///
    /// # Safety
    /// `f` is the live fetch whose done callback is running.
    pub(crate) unsafe fn read(f: *mut sys::eddy_fetch, code: c_int) -> FetchError {
        let mut len = 0usize;
        let p = sys::eddy_fetch_error_detail(f, &mut len);
        FetchError {
            error: Error::from_code(code),
            detail: owned_detail(p, len),
        }
    }

    /// The code as an [`Error`] (`Error::TLS`, `Error::CANCELED`, ...).
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

    /// What eddy knows beyond the code, or `None` (most failures but TLS ones have nothing).
    pub fn detail(&self) -> Option<&str> {
        self.detail.as_deref()
    }
}

impl fmt::Display for FetchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.detail {
            Some(detail) => write!(f, "{}: {}", self.error, detail),
            None => write!(f, "{}", self.error),
        }
    }
}

impl fmt::Debug for FetchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.detail {
            Some(detail) => write!(f, "FetchError({}, {:?})", self.error.name(), detail),
            None => write!(f, "FetchError({})", self.error.name()),
        }
    }
}

impl std::error::Error for FetchError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}

impl From<FetchError> for Error {
    fn from(e: FetchError) -> Error {
        e.error
    }
}

/// Compares the code only: the detail is an explanation, not a different error.
impl PartialEq<Error> for FetchError {
    fn eq(&self, other: &Error) -> bool {
        self.error == *other
    }
}

impl PartialEq<FetchError> for Error {
    fn eq(&self, other: &FetchError) -> bool {
        *self == other.error
    }
}
