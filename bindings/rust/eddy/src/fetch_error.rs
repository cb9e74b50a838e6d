//! FetchError: how a fetch failed — eddy's code and, when eddy knows more, why.
use std::os::raw::c_int;

use eddy_sys as sys;

use crate::detailed_error::detailed_error;
use crate::error::{owned_detail, Error};

detailed_error!(
    /// The error an [`HttpClient`](crate::HttpClient) fetch's closure gets: the `EDDY_E*` code as
    /// an [`Error`] and what eddy knows beyond it (`eddy_fetch_error_detail`), e.g. for
    /// `Error::TLS` why the handshake or the certificate check failed:
    /// `"certificate verification: hostname mismatch"`, for `Error::CONNECTION_REFUSED` the
    /// address (`"connect to 127.0.0.1:9: Connection refused"`). `Display` shows both ("TLS
    /// handshake or certificate verification failed: certificate verification: hostname
    /// mismatch").
    ///
    /// It compares equal to an [`Error`] of the same code (`outcome.unwrap_err() == Error::TLS`),
    /// whatever the detail; `?` turns it into the [`Error`] in a function returning
    /// [`Result`](crate::Result), dropping the detail.
    FetchError,
    "What eddy knows beyond the code, or `None` (a TLS failure's reason, a failed connect's \
     address; most other failures have nothing)."
);

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
}
