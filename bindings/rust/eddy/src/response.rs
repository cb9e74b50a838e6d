//! Response: the answer under construction, borrowed for one callback.
use std::marker::PhantomData;
use std::os::raw::c_int;

use eddy_sys as sys;

use crate::deferred::{handler_status, set_handler_status, Deferred};
use crate::error::{check, Error, Result};
use crate::event_loop::Remote;

/// How a callback asked the response to end; applied after the callback returned, so that
/// the handler (and every string read from the [`crate::Request`]) stays alive for the whole
/// callback, whatever the order of calls in it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum End {
    Finish,
    Error(c_int),
}

/// Options of [`Response::set_cookie`]. `Default` is a session cookie on path "/".
#[derive(Clone, Debug, Default)]
pub struct CookieOptions<'o> {
    pub domain: Option<&'o str>,
    pub path: Option<&'o str>,
    /// Unix time; 0 = none.
    pub expires: f64,
    /// Seconds; None = none.
    pub max_age: Option<i64>,
    pub secure: bool,
    pub http_only: bool,
    /// "Strict", "Lax" or "None".
    pub same_site: Option<&'o str>,
}

/// The response of a handler callback. Every call returns Err(STATE) once the response was
/// finished (also by [`Response::finish`] earlier in the same callback) and Err(CLOSED) once
/// the client is gone.
pub struct Response<'a> {
    h: *mut sys::eddy_handler,
    remote: &'a Remote,
    end: Option<End>,
    _callback: PhantomData<&'a ()>,
}

fn cstring(s: Option<&str>) -> Result<Option<std::ffi::CString>> {
    s.map(|s| std::ffi::CString::new(s).map_err(|_| Error::INVALID))
        .transpose()
}

fn opt_ptr(s: &Option<std::ffi::CString>) -> *const std::os::raw::c_char {
    s.as_ref().map_or(std::ptr::null(), |c| c.as_ptr())
}

impl<'a> Response<'a> {
    /// # Safety
    /// `h` is a live handler for the whole of `'a`, used on its loop's thread.
    pub(crate) unsafe fn new(h: *mut sys::eddy_handler, remote: &'a Remote) -> Response<'a> {
        Response {
            h,
            remote,
            end: None,
            _callback: PhantomData,
        }
    }

    /// The path of a named route of this request's app (see [`crate::App::reverse_url`]).
    pub fn reverse_url(&self, name: &str, args: &[&str]) -> Result<String> {
        // SAFETY: live handler; its app outlives it.
        let app = unsafe { sys::eddy_handler_app(self.h) };
        if app.is_null() {
            return Err(Error::STATE);
        }
        crate::app::reverse_url(app, name, args)
    }

    /// Tornado's `static_url`: the URL of `path` (relative to a static directory, e.g.
    /// "css/site.css") under the first [`crate::App::add_static`] mount that has the file, with
    /// "?v=" and the MD5 of its content; a request for such a URL is answered with
    /// `Cache-Control: max-age=315360000`. A file in no mount gets the plain URL (and a
    /// warning in the log). Err(NOT_SUPPORTED): the app has no static directory.
    pub fn static_url(&self, path: &str) -> Result<String> {
        let mut len = 0;
        // SAFETY: live handler; the text is copied before the next call on the handler.
        let url = unsafe {
            let p = sys::eddy_handler_static_url(self.h, path.as_ptr() as _, path.len(), &mut len);
            if p.is_null() {
                return Err(Error::NOT_SUPPORTED);
            }
            std::slice::from_raw_parts(p as *const u8, len).to_vec()
        };
        String::from_utf8(url).map_err(|_| Error::INVALID)
    }

    /// Tornado's `xsrf_token`: the token for forms (the `_xsrf` argument or X-Xsrftoken
    /// header of a later request), setting the `_xsrf` cookie when the request had none.
    /// Err(NO_MEMORY) when no token could be made.
    pub fn xsrf_token(&mut self) -> Result<String> {
        let mut len = 0;
        // SAFETY: live handler; the token is copied at once.
        let token = unsafe {
            let p = sys::eddy_handler_xsrf_token(self.h, &mut len);
            if p.is_null() {
                return Err(Error::NO_MEMORY);
            }
            std::slice::from_raw_parts(p as *const u8, len).to_vec()
        };
        String::from_utf8(token).map_err(|_| Error::INVALID)
    }

    pub(crate) fn take_end(&mut self) -> Option<End> {
        self.end.take()
    }

    fn open(&self) -> Result<()> {
        // SAFETY: live handler.
        if self.end.is_some() || unsafe { sys::eddy_handler_finished(self.h) } != 0 {
            Err(Error::STATE)
        } else {
            Ok(())
        }
    }

    /// Sets the status code with its standard reason phrase.
    pub fn set_status(&mut self, status: u16) -> Result<()> {
        self.open()?;
        // SAFETY: live handler; NULL reason = the standard phrase.
        check(unsafe {
            sys::eddy_handler_set_status(self.h, c_int::from(status), std::ptr::null(), 0)
        })?;
        // SAFETY: live handler.
        unsafe { set_handler_status(self.h, status) };
        Ok(())
    }

    /// The status set so far (Tornado's `get_status`): 200 until [`Response::set_status`],
    /// [`Response::redirect`], [`Response::send_error`] (also in this callback, before the
    /// page is sent) or [`Response::clear`] changes it; kept across the callbacks of one
    /// request (prepare, the method, on_finish); in write_error, the error's status.
    pub fn status(&self) -> u16 {
        if let Some(End::Error(status)) = self.end {
            return u16::try_from(status).unwrap_or(500);
        }
        // SAFETY: live handler.
        unsafe { handler_status(self.h) }
    }

    /// Tornado's `clear()`: drops the headers set so far (Set-Cookie excepted) and the body
    /// written, sets status 200 and runs the route's default_headers again. Err(STATE) once
    /// the headers were flushed.
    pub fn clear(&mut self) -> Result<()> {
        self.open()?;
        let before = self.status();
        // SAFETY: live handler. 200 first: default_headers, which runs inside (with its own
        // Response), may set another status.
        unsafe { set_handler_status(self.h, 200) };
        // SAFETY: live handler.
        let rc = check(unsafe { sys::eddy_handler_clear(self.h) });
        if rc.is_err() {
            // SAFETY: live handler.
            unsafe { set_handler_status(self.h, before) };
        }
        rc
    }

    /// Replaces the automatic ETag of this response (Tornado's `compute_etag` /
    /// `set_etag_header`): at finish, a 200 answer to GET or HEAD without an Etag header gets
    /// `etag` (sent as given, e.g. `"\"v1\""`) and a matching If-None-Match turns it into 304.
    /// `None`: no ETag and no 304 at all (Tornado's compute_etag returning None).
    /// Err(INVALID) for a control character.
    pub fn set_etag(&mut self, etag: Option<&str>) -> Result<()> {
        self.open()?;
        let (p, n) = etag.map_or((std::ptr::null(), 0), |e| (e.as_ptr(), e.len()));
        // SAFETY: live handler; the string passed with its length (copied by eddy).
        check(unsafe { sys::eddy_handler_set_etag(self.h, p as _, n) })
    }

    /// Sets the status code with a custom reason phrase.
    pub fn set_status_reason(&mut self, status: u16, reason: &str) -> Result<()> {
        self.open()?;
        // SAFETY: live handler; reason passed with its length.
        check(unsafe {
            sys::eddy_handler_set_status(
                self.h,
                c_int::from(status),
                reason.as_ptr() as _,
                reason.len(),
            )
        })?;
        // SAFETY: live handler.
        unsafe { set_handler_status(self.h, status) };
        Ok(())
    }

    /// Sets a response header, replacing earlier values. Err(INVALID) for a bad name or value.
    pub fn set_header(&mut self, name: &str, value: &str) -> Result<()> {
        self.open()?;
        // SAFETY: live handler; strings passed with their lengths.
        check(unsafe {
            sys::eddy_handler_set_header(
                self.h,
                name.as_ptr() as _,
                name.len(),
                value.as_ptr() as _,
                value.len(),
            )
        })
    }

    /// Adds a response header (repeats allowed).
    pub fn add_header(&mut self, name: &str, value: &str) -> Result<()> {
        self.open()?;
        // SAFETY: as set_header.
        check(unsafe {
            sys::eddy_handler_add_header(
                self.h,
                name.as_ptr() as _,
                name.len(),
                value.as_ptr() as _,
                value.len(),
            )
        })
    }

    /// Removes a response header.
    pub fn clear_header(&mut self, name: &str) -> Result<()> {
        self.open()?;
        // SAFETY: live handler.
        check(unsafe { sys::eddy_handler_clear_header(self.h, name.as_ptr() as _, name.len()) })
    }

    /// Appends to the body.
    pub fn write(&mut self, data: impl AsRef<[u8]>) -> Result<()> {
        self.open()?;
        let data = data.as_ref();
        // SAFETY: live handler; data passed with its length (copied by eddy).
        check(unsafe { sys::eddy_handler_write(self.h, data.as_ptr() as _, data.len()) })
    }

    /// Sends the headers and what was written so far (chunked on HTTP/1.1).
    pub fn flush(&mut self) -> Result<()> {
        self.open()?;
        // SAFETY: live handler; no completion callback.
        check(unsafe { sys::eddy_handler_flush(self.h, None) })
    }

    /// Finishes the response once this callback returns. Further calls give Err(STATE).
    pub fn finish(&mut self) -> Result<()> {
        self.open()?;
        self.end = Some(End::Finish);
        Ok(())
    }

    /// Redirects to `url` (status 301, 302, 303, 307 or 308) and finishes.
    pub fn redirect(&mut self, url: &str, status: u16) -> Result<()> {
        self.open()?;
        if ![301, 302, 303, 307, 308].contains(&status)
            || url.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0)
        {
            return Err(Error::INVALID);
        }
        self.set_status(status)?;
        self.set_header("Location", url)?;
        self.finish()
    }

    /// Sends the error page for `status` (the route's write_error, or eddy's default page)
    /// instead of what was written, once this callback returns.
    pub fn send_error(&mut self, status: u16) -> Result<()> {
        self.open()?;
        if !(400..=599).contains(&status) {
            return Err(Error::INVALID);
        }
        self.end = Some(End::Error(c_int::from(status)));
        // SAFETY: live handler.
        unsafe { set_handler_status(self.h, status) };
        Ok(())
    }

    /// True once finished (or asked to finish in this callback).
    pub fn is_finished(&self) -> bool {
        self.open().is_err()
    }

    /// True when the client has gone away.
    pub fn connection_closed(&self) -> bool {
        // SAFETY: live handler and request.
        unsafe { sys::eddy_request_connection_closed(sys::eddy_handler_request(self.h)) != 0 }
    }

    /// Sets a cookie.
    pub fn set_cookie(&mut self, name: &str, value: &str, opts: &CookieOptions<'_>) -> Result<()> {
        self.open()?;
        let domain = cstring(opts.domain)?;
        let path = cstring(opts.path)?;
        let same_site = cstring(opts.same_site)?;
        let flags = if opts.secure {
            sys::EDDY_COOKIE_SECURE
        } else {
            0
        } | if opts.http_only {
            sys::EDDY_COOKIE_HTTPONLY
        } else {
            0
        };
        // SAFETY: live handler; C strings live across the call.
        check(unsafe {
            sys::eddy_handler_set_cookie(
                self.h,
                name.as_ptr() as _,
                name.len(),
                value.as_ptr() as _,
                value.len(),
                opt_ptr(&domain),
                opt_ptr(&path),
                opts.expires,
                opts.max_age.map_or(-1, |m| m as std::os::raw::c_long),
                flags,
                opt_ptr(&same_site),
            )
        })
    }

    /// Deletes a cookie (on path "/").
    pub fn clear_cookie(&mut self, name: &str) -> Result<()> {
        self.open()?;
        // SAFETY: live handler; NULL path and domain = defaults.
        check(unsafe {
            sys::eddy_handler_clear_cookie(
                self.h,
                name.as_ptr() as _,
                name.len(),
                std::ptr::null(),
                std::ptr::null(),
            )
        })
    }

    /// Deletes every cookie the request sent (Tornado's `clear_all_cookies`), as
    /// [`Response::clear_cookie`] does one.
    pub fn clear_all_cookies(&mut self) -> Result<()> {
        self.open()?;
        // SAFETY: live handler and request.
        let names = unsafe { crate::request::cookie_names(sys::eddy_handler_request(self.h)) };
        for name in names {
            // A name eddy's parser skips (not a token) has no cookie to clear.
            // SAFETY: live handler.
            let sent = unsafe {
                !sys::eddy_handler_get_cookie(
                    self.h,
                    name.as_ptr() as _,
                    name.len(),
                    std::ptr::null_mut(),
                )
                .is_null()
            };
            if sent {
                self.clear_cookie(&name)?;
            }
        }
        Ok(())
    }

    /// Sets a signed cookie (needs [`crate::App::set_cookie_secret`]).
    pub fn set_signed_cookie(&mut self, name: &str, value: &str, expires_days: f64) -> Result<()> {
        self.open()?;
        // SAFETY: live handler.
        check(unsafe {
            sys::eddy_handler_set_signed_cookie(
                self.h,
                name.as_ptr() as _,
                name.len(),
                value.as_ptr() as _,
                value.len(),
                expires_days,
            )
        })
    }

    /// Keeps the response open after this callback returns and gives a [`Deferred`] handle,
    /// which any thread may use to finish it later. Dropping the handle unfinished sends 500.
    pub fn detach(&mut self) -> Result<Deferred> {
        self.open()?;
        // SAFETY: live, unfinished handler on its loop thread.
        check(unsafe { sys::eddy_handler_detach(self.h) })?;
        // SAFETY: as above.
        Ok(unsafe { Deferred::new(self.h, self.remote.clone()) })
    }
}
