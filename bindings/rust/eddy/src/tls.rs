//! TLS contexts (eddy/tls.h): certificates, keys, trusted CAs and peer verification, for
//! serving HTTPS/wss:// ([`crate::App::set_tls`]) and for wss:// clients
//! ([`crate::WebSocketClient::tls`]).
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use eddy_sys as sys;

use crate::error::{check, Error, Result};

/// Peer verification of a [`TlsContext`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verify {
    /// Do not ask for or check the peer's certificate (a server's default; on a client:
    /// any certificate and host name is accepted).
    None,
    /// Server only: ask for a client certificate, check it when one is sent.
    Optional,
    /// Check the peer's certificate (and, on a client, the host name); fail the handshake
    /// without one (a client's default).
    Required,
}

/// A TLS context: configure it, then hand it to a server or a client, which keep their own
/// reference (dropping this one afterwards is fine). `Send + Sync`: configuring needs
/// `&mut self`, and eddy's reference counts are thread-safe.
pub struct TlsContext {
    ptr: *mut sys::eddy_tls_context,
}

// SAFETY: eddy allows a configured context to be shared by loops on several threads; every
// configuring call takes `&mut self`, so no two threads configure it at once.
unsafe impl Send for TlsContext {}
unsafe impl Sync for TlsContext {}

fn c_path(path: &Path) -> Result<CString> {
    CString::new(path.as_os_str().as_bytes()).map_err(|_| Error::INVALID)
}

impl TlsContext {
    /// A server context serving the PEM certificate chain (leaf first) and private key of
    /// these files. Err(INVALID) when a file is unreadable or the key does not match (eddy
    /// logs which).
    pub fn server(cert_file: impl AsRef<Path>, key_file: impl AsRef<Path>) -> Result<TlsContext> {
        // SAFETY: no arguments; NULL checked.
        let mut ctx = TlsContext::wrap(unsafe { sys::eddy_tls_context_new_server() })?;
        ctx.load_cert_file(cert_file, key_file)?;
        Ok(ctx)
    }

    /// A client context that verifies the server's certificate against the system's CAs and
    /// its host name ([`Verify::Required`]).
    pub fn client() -> Result<TlsContext> {
        // SAFETY: no arguments; NULL checked.
        TlsContext::wrap(unsafe { sys::eddy_tls_context_new_client() })
    }

    fn wrap(ptr: *mut sys::eddy_tls_context) -> Result<TlsContext> {
        if ptr.is_null() {
            Err(Error::NO_MEMORY)
        } else {
            Ok(TlsContext { ptr })
        }
    }

    /// Loads a PEM certificate chain and its key (a client certificate on a client context;
    /// a server may load one RSA and one ECDSA pair). Blocks on file I/O.
    pub fn load_cert_file(
        &mut self,
        cert_file: impl AsRef<Path>,
        key_file: impl AsRef<Path>,
    ) -> Result<()> {
        let (cert, key) = (c_path(cert_file.as_ref())?, c_path(key_file.as_ref())?);
        // SAFETY: live context; the paths live across the call.
        check(unsafe {
            sys::eddy_tls_context_load_cert_file(self.ptr, cert.as_ptr(), key.as_ptr())
        })
    }

    /// Trusts the CA certificates of a PEM file (a client: in addition to the system's; a
    /// server: the CAs client certificates must be signed by).
    pub fn load_ca_file(&mut self, path: impl AsRef<Path>) -> Result<()> {
        let path = c_path(path.as_ref())?;
        // SAFETY: live context; the path lives across the call.
        check(unsafe { sys::eddy_tls_context_load_ca_file(self.ptr, path.as_ptr()) })
    }

    /// Sets peer verification. Err(INVALID) for [`Verify::Optional`] on a client context.
    pub fn set_verify(&mut self, mode: Verify) -> Result<()> {
        let mode = match mode {
            Verify::None => sys::EDDY_TLS_VERIFY_NONE,
            Verify::Optional => sys::EDDY_TLS_VERIFY_OPTIONAL,
            Verify::Required => sys::EDDY_TLS_VERIFY_REQUIRED,
        };
        // SAFETY: live context.
        check(unsafe { sys::eddy_tls_context_set_verify(self.ptr, mode) })
    }

    pub(crate) fn as_ptr(&self) -> *mut sys::eddy_tls_context {
        self.ptr
    }
}

impl Drop for TlsContext {
    fn drop(&mut self) {
        // SAFETY: our reference; servers and clients that use the context hold their own.
        unsafe { sys::eddy_tls_context_free(self.ptr) }
    }
}
