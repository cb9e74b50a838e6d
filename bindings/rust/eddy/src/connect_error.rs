//! ConnectError: how a WebSocket or TCP connect failed — eddy's code and, when eddy knows more,
//! why.
use std::os::raw::c_int;

use eddy_sys as sys;

use crate::detailed_error::detailed_error;
use crate::error::{owned_detail, Error};

detailed_error!(
    /// The error [`WebSocketClient::on_connect_detailed`](crate::WebSocketClient::on_connect_detailed)
    /// and [`ConnectOptions::connect_detailed`](crate::ConnectOptions::connect_detailed) get:
    /// the `EDDY_E*` code as an [`Error`] and what eddy knows beyond it
    /// (`eddy_websocket_connect_error_detail`, `eddy_connect_error_detail`), as a fetch's
    /// [`FetchError`](crate::FetchError):
    /// for `Error::TLS` why the handshake or the certificate check failed (`"certificate
    /// verification: self-signed certificate"`), for `Error::PROTOCOL` what was wrong with the
    /// server's answer (`"the server answered 403 Forbidden"`, `"no Upgrade: websocket in the
    /// handshake response"`), for `Error::CONNECTION_REFUSED` the address (`"connect to
    /// 127.0.0.1:9: Connection refused"`), for `Error::ADDR_NOT_AVAILABLE` the source address
    /// that could not be bound, for `Error::RESOLVE` the name and the resolver's reason.
    /// `Display` shows both ("TLS handshake or certificate verification failed: certificate
    /// verification: self-signed certificate").
    ///
    /// It compares equal to an [`Error`] of the same code, whatever the detail; `?` turns it into
    /// the [`Error`] in a function returning [`Result`](crate::Result), dropping the detail.
    ConnectError,
    "What eddy knows beyond the code, or `None` (out of memory has nothing more to say)."
);

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

    /// The same for a failed TCP connect (eddy_connect and eddy_connect_tls), whose callback
    /// is running.
    ///
    /// # Safety
    /// `lp` is the live loop whose failed connect callback is running.
    pub(crate) unsafe fn read_tcp(lp: *mut sys::eddy_loop, code: c_int) -> ConnectError {
        let mut len = 0usize;
        let p = sys::eddy_connect_error_detail(lp, &mut len);
        ConnectError {
            error: Error::from_code(code),
            detail: owned_detail(p, len),
        }
    }
}
