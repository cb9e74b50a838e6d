//! STARTTLS (Tornado's `IOStream.start_tls`) and `wait_for_handshake` over
//! eddy_stream_start_tls / eddy_stream_wait_for_handshake (eddy/tls.h).
//!
//! The upgrade consumes the C stream: from the call on, this stream's handles see it gone
//! (`Err(CLOSED)`), and eddy frees it (and its closures) later without calling its close
//! callback. The close closure moves to the TLS stream, as Tornado's does.
use std::ffi::CString;
use std::os::raw::{c_char, c_int, c_void};

use eddy_sys as sys;

use super::{run_closure, CloseFn, Stream};
use crate::boundary::{guard, log_error};
use crate::error::{check, Error, Result};
use crate::tls::TlsContext;

/// The start_tls closure: the handshaken TLS stream, or why the upgrade failed.
type UpgradeFn = dyn FnOnce(Result<Stream>) -> Result<()>;
/// A wait_for_handshake closure.
type HandshakeFn = dyn FnOnce(&Stream, Result<()>) -> Result<()>;

/// The C userdata of one upgrade.
struct Upgrade {
    f: Option<Box<UpgradeFn>>,
    /// The plain stream's close closure, for the TLS stream (or run when the upgrade fails).
    close: Option<Box<CloseFn>>,
}

impl Stream {
    /// Upgrades this connection to TLS in place (Tornado's `start_tls`, for STARTTLS
    /// protocols: SMTP, IMAP, ...). `server_side`: this end is the TLS server and `ctx` a
    /// server context; else a client context, and `server_hostname` the name sent as SNI and
    /// verified against the certificate (a verifying context needs it). `f` runs on the loop
    /// once the handshake has completed, with the new TLS stream, or with why it failed
    /// (`Error::TLS`: a handshake, certificate or host name failure, or the peer leaving;
    /// `Error::TIMED_OUT`: the context's handshake timeout); then, on failure, the close
    /// closure runs too, with that error.
    ///
    /// The stream must be idle: call it once the last plaintext answer was sent (from its
    /// write callback) or from the read callback of the line that asked for it. On success
    /// this stream is spent: its handles get `Err(CLOSED)` from now on, and its close closure
    /// moves to the TLS stream.
    ///
    /// Errors (then nothing changed and `f` is dropped uncalled): `Err(BUSY)` (a read pending,
    /// output not sent yet), `Err(STATE)` (already TLS, or unread input buffered: bytes sent
    /// behind the command are refused, not dropped), `Err(CLOSED)`, `Err(INVALID)` (a context
    /// of the wrong kind, a verifying client without `server_hostname`, a name with a NUL),
    /// `Err(NO_MEMORY)`.
    pub fn start_tls(
        &self,
        server_side: bool,
        ctx: &TlsContext,
        server_hostname: Option<&str>,
        f: impl FnOnce(Result<Stream>) -> Result<()> + 'static,
    ) -> Result<()> {
        let p = self.ptr()?;
        let name = match server_hostname {
            Some(n) => Some(CString::new(n).map_err(|_| Error::INVALID)?),
            None => None,
        };
        let name_ptr = name.as_ref().map_or(std::ptr::null(), |n| n.as_ptr());
        let ud = Box::into_raw(Box::new(Upgrade {
            f: Some(Box::new(f)),
            close: None,
        })) as *mut c_void;
        // SAFETY: live stream and context; eddy copies the name and takes its own reference
        // to ctx; ud is released by eddy through free_upgrade, or below when refused.
        let rc = unsafe {
            sys::eddy_stream_start_tls(
                p,
                ctx.as_ptr(),
                c_int::from(server_side),
                name_ptr as *const c_char,
                Some(on_upgraded),
                ud,
                Some(free_upgrade),
            )
        };
        if rc != 0 {
            // SAFETY: eddy did not take ud.
            unsafe { free_upgrade(ud) };
            return check(rc);
        }
        // SAFETY: the stream is still allocated (eddy frees it on a later iteration) and its
        // userdata is ours; on_upgraded never runs inside the call above.
        let close = unsafe { Stream::data(p) }.close.borrow_mut().take();
        unsafe { (*(ud as *mut Upgrade)).close = close };
        self.core.ptr.set(std::ptr::null_mut()); // spent: every handle sees it gone
        Ok(())
    }

    /// Tornado's `wait_for_handshake`: `f` runs once, on the loop, with `Ok(())` when this TLS
    /// stream's handshake has completed (at the end of this loop pass when it already had), or
    /// with the error the stream closed with first, just before its close closure. For a
    /// stream a [`TcpServer`](crate::TcpServer) with TLS accepted, before looking at what the
    /// handshake settled; reads and writes need no waiting.
    ///
    /// Errors (`f` is dropped uncalled): `Err(INVALID)` (not a TLS stream), `Err(BUSY)` (a
    /// wait is already registered; Tornado's "Already waiting"), `Err(CLOSED)`,
    /// `Err(NO_MEMORY)`.
    pub fn wait_for_handshake(
        &self,
        f: impl FnOnce(&Stream, Result<()>) -> Result<()> + 'static,
    ) -> Result<()> {
        let p = self.ptr()?;
        let slot: Box<Option<Box<HandshakeFn>>> = Box::new(Some(Box::new(f)));
        let ud = Box::into_raw(slot) as *mut c_void;
        // SAFETY: live stream; ud released by eddy through free_waiter, or below.
        let rc = unsafe {
            sys::eddy_stream_wait_for_handshake(p, Some(on_handshake), ud, Some(free_waiter))
        };
        if rc != 0 {
            // SAFETY: eddy did not take ud.
            unsafe { free_waiter(ud) };
        }
        check(rc)
    }
}

unsafe extern "C" fn on_upgraded(
    _lp: *mut sys::eddy_loop,
    p: *mut sys::eddy_stream,
    error: c_int,
    ud: *mut c_void,
) {
    // SAFETY: the Box<Upgrade> of start_tls; eddy releases it only after this returned.
    let u = &mut *(ud as *mut Upgrade);
    let (f, close) = (u.f.take(), u.close.take());
    if error == 0 && !p.is_null() {
        // SAFETY: the handshaken TLS stream, now ours.
        let stream = Stream::adopt(p);
        *Stream::data(p).close.borrow_mut() = close;
        if let Some(f) = f {
            run_closure(p, "start_tls callback", true, || f(Ok(stream)));
        }
        return;
    }
    let error = Error::from_code(if error < 0 { error } else { sys::EDDY_EIO });
    if let Some(f) = f {
        run_closure(std::ptr::null_mut(), "start_tls callback", false, || {
            f(Err(error))
        });
    }
    if let Some(close) = close {
        run_closure(std::ptr::null_mut(), "close callback", false, || {
            close(Some(error))
        });
    }
}

unsafe extern "C" fn free_upgrade(ud: *mut c_void) {
    // SAFETY: made in start_tls; released once.
    let u = Box::from_raw(ud as *mut Upgrade);
    if guard(move || drop(u)).is_err() {
        log_error("dropping a start_tls closure panicked");
    }
}

unsafe extern "C" fn on_handshake(p: *mut sys::eddy_stream, error: c_int, ud: *mut c_void) {
    // SAFETY: the slot of wait_for_handshake; eddy releases it only after this returned.
    let slot = &mut *(ud as *mut Option<Box<HandshakeFn>>);
    if let Some(f) = slot.take() {
        // SAFETY: a live stream that Stream::adopt made ours (its userdata is our StreamData).
        let stream = Stream::data(p).handle();
        run_closure(p, "wait_for_handshake callback", true, || {
            f(&stream, check(error))
        });
    }
}

unsafe extern "C" fn free_waiter(ud: *mut c_void) {
    // SAFETY: made in wait_for_handshake; released once.
    let slot = Box::from_raw(ud as *mut Option<Box<HandshakeFn>>);
    if guard(move || drop(slot)).is_err() {
        log_error("dropping a wait_for_handshake closure panicked");
    }
}
