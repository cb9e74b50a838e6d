//! TLS contexts (eddy/tls.h): certificates, keys, trusted CAs and peer verification, for
//! serving HTTPS/wss:// ([`crate::App::set_tls`]) and for wss:// clients
//! ([`crate::WebSocketClient::tls`]).
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

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
///
/// Once handed over (`set_tls`, `connect_tls`, `start_tls`, `WebSocketClient::tls`), the
/// context is in use and may be read by the handshakes of any loop's thread at any time, so
/// it is frozen: the configuring methods return `Err(STATE)` (eddy/tls.h: "configure a context
/// on one thread before it is used"). Configure another context for other settings.
pub struct TlsContext {
    ptr: *mut sys::eddy_tls_context,
    /// Set when the context was handed to eddy (as_ptr): from then on another thread's
    /// handshakes may read it, and reconfiguring it (OpenSSL replacing the certificate they
    /// copy) is a data race — a crash in OpenSSL from safe code.
    in_use: AtomicBool,
}

// SAFETY: eddy allows a configured context to be shared by loops on several threads; every
// configuring call takes `&mut self`, so no two threads configure it at once, and none
// configures it once it was handed to eddy (`in_use`), so it is never written while a loop
// reads it.
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
            Ok(TlsContext {
                ptr,
                in_use: AtomicBool::new(false),
            })
        }
    }

    /// Loads a PEM certificate chain and its key (a client certificate on a client context;
    /// a server may load one RSA and one ECDSA pair). Blocks on file I/O. Err(STATE) once
    /// the context is in use.
    pub fn load_cert_file(
        &mut self,
        cert_file: impl AsRef<Path>,
        key_file: impl AsRef<Path>,
    ) -> Result<()> {
        self.configurable()?;
        let (cert, key) = (c_path(cert_file.as_ref())?, c_path(key_file.as_ref())?);
        // SAFETY: live context; the paths live across the call.
        check(unsafe {
            sys::eddy_tls_context_load_cert_file(self.ptr, cert.as_ptr(), key.as_ptr())
        })
    }

    /// Trusts the CA certificates of a PEM file (a client: in addition to the system's; a
    /// server: the CAs client certificates must be signed by). Err(STATE) once the context is
    /// in use.
    pub fn load_ca_file(&mut self, path: impl AsRef<Path>) -> Result<()> {
        self.configurable()?;
        let path = c_path(path.as_ref())?;
        // SAFETY: live context; the path lives across the call.
        check(unsafe { sys::eddy_tls_context_load_ca_file(self.ptr, path.as_ptr()) })
    }

    /// Sets peer verification. Err(INVALID) for [`Verify::Optional`] on a client context,
    /// Err(STATE) once the context is in use.
    pub fn set_verify(&mut self, mode: Verify) -> Result<()> {
        self.configurable()?;
        let mode = match mode {
            Verify::None => sys::EDDY_TLS_VERIFY_NONE,
            Verify::Optional => sys::EDDY_TLS_VERIFY_OPTIONAL,
            Verify::Required => sys::EDDY_TLS_VERIFY_REQUIRED,
        };
        // SAFETY: live context.
        check(unsafe { sys::eddy_tls_context_set_verify(self.ptr, mode) })
    }

    /// Err(STATE) once the context was handed to eddy (see the type's documentation).
    fn configurable(&mut self) -> Result<()> {
        if *self.in_use.get_mut() {
            return Err(Error::STATE);
        }
        Ok(())
    }

    /// The context for handing to eddy: marks it in use, so it is never configured again.
    pub(crate) fn as_ptr(&self) -> *mut sys::eddy_tls_context {
        self.in_use.store(true, Ordering::Relaxed);
        self.ptr
    }
}

impl Drop for TlsContext {
    fn drop(&mut self) {
        // SAFETY: our reference; servers and clients that use the context hold their own.
        unsafe { sys::eddy_tls_context_free(self.ptr) }
    }
}
