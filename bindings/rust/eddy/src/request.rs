//! Request: what arrived, borrowed for one callback.
use std::collections::BTreeMap;
use std::ffi::CStr;
use std::marker::PhantomData;
use std::os::raw::{c_char, c_int};
use std::{slice, str};

use eddy_sys as sys;

use crate::error::{Error, Result};

/// The request of a handler callback. It exists only during the callback (the closure gets a
/// reference), so nothing read from it can outlive the handler. Strings that are not valid
/// UTF-8 come back as `None` from the `&str` getters; the `_bytes` getters give them raw.
///
/// The raw server's callback ([`crate::HttpServer`]) gets the same type without the web
/// layer: there the route's path arguments ([`Request::path_arg`] and its kin) are always
/// `None` / empty, and so are the cookie getters (eddy parses cookies in its web layer); read
/// the Cookie header with [`Request::header`] instead.
pub struct Request<'a> {
    /// NULL for a request of the raw server (no web layer).
    h: *mut sys::eddy_handler,
    req: *mut sys::eddy_request,
    _callback: PhantomData<&'a ()>,
}

/// # Safety
/// `ptr` is NULL or points at `len` bytes valid for `'a`.
unsafe fn bytes<'a>(ptr: *const c_char, len: usize) -> Option<&'a [u8]> {
    if ptr.is_null() {
        None
    } else if len == 0 {
        Some(&[])
    } else {
        Some(slice::from_raw_parts(ptr as *const u8, len))
    }
}

fn text(b: Option<&[u8]>) -> Option<&str> {
    b.and_then(|b| str::from_utf8(b).ok())
}

/// One uploaded file of a multipart/form-data body (Tornado's `HTTPFile`), as
/// [`Request::files`] gives it. Owned (copied out of the request), so it can be kept past the
/// callback or sent to another thread, e.g. with a [`Deferred`](crate::Deferred). The strings
/// are converted lossily (invalid UTF-8 becomes U+FFFD), as the crate's other owned strings.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HttpFile {
    /// The form field's name (the part's `Content-Disposition` `name`; the key of Tornado's
    /// `request.files`).
    pub field: String,
    /// The file name the client gave (`Content-Disposition` `filename`).
    pub filename: String,
    /// The part's `Content-Type`; "application/octet-stream" when it had none.
    pub content_type: String,
    /// The file's bytes exactly as sent (binary: NUL bytes and CR LF kept).
    pub body: Vec<u8>,
}

/// # Safety
/// `p` is NULL or a NUL-terminated string.
unsafe fn owned(p: *const c_char) -> String {
    if p.is_null() {
        String::new()
    } else {
        CStr::from_ptr(p).to_string_lossy().into_owned()
    }
}

/// The cookie names of the request's Cookie header(s), in order, repeats dropped (the values
/// are for `eddy_handler_get_cookie`, which unquotes them and skips illegal names).
///
/// # Safety
/// `req` is a live request.
pub(crate) unsafe fn cookie_names(req: *mut sys::eddy_request) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    let n = sys::eddy_request_header_count(req);
    for i in 0..n {
        let (mut name, mut nlen, mut value, mut vlen) = (std::ptr::null(), 0, std::ptr::null(), 0);
        if sys::eddy_request_header_at(req, i, &mut name, &mut nlen, &mut value, &mut vlen) != 0 {
            break;
        }
        let value = match (bytes(name, nlen), bytes(value, vlen)) {
            (Some(name), Some(value)) if name.eq_ignore_ascii_case(b"cookie") => value,
            _ => continue,
        };
        for chunk in value.split(|&b| b == b';') {
            let key = match chunk.iter().position(|&b| b == b'=') {
                Some(eq) => match str::from_utf8(&chunk[..eq]) {
                    Ok(key) => key,
                    Err(_) => continue,
                },
                None => continue,
            };
            let key = key.trim_matches(|c: char| c == ' ' || c == '\t');
            if !key.is_empty() && !names.iter().any(|k| k == key) {
                names.push(key.to_owned());
            }
        }
    }
    names
}

impl<'a> Request<'a> {
    /// # Safety
    /// `h` is a live handler for the whole of `'a`, used on its loop's thread.
    pub(crate) unsafe fn new(h: *mut sys::eddy_handler) -> Request<'a> {
        Request {
            h,
            req: sys::eddy_handler_request(h),
            _callback: PhantomData,
        }
    }

    /// A request of the raw server ([`crate::HttpServer`]): no handler, so the path-argument
    /// and cookie getters answer `None`.
    ///
    /// # Safety
    /// `req` is a live request for the whole of `'a`, used on its loop's thread.
    pub(crate) unsafe fn new_raw(req: *mut sys::eddy_request) -> Request<'a> {
        Request {
            h: std::ptr::null_mut(),
            req,
            _callback: PhantomData,
        }
    }

    fn view(
        &self,
        get: unsafe extern "C" fn(*const sys::eddy_request, *mut usize) -> *const c_char,
    ) -> &str {
        let mut len = 0;
        // SAFETY: live request; the view is valid until the handler is finished, which cannot
        // happen while `self` is borrowed (see Response: finishing takes effect after the
        // callback returns). Method, target, path, query and host are ASCII after parsing.
        text(unsafe { bytes(get(self.req, &mut len), len) }).unwrap_or("")
    }

    /// "GET", "POST", ...
    pub fn method(&self) -> &str {
        self.view(sys::eddy_request_method)
    }
    /// The request target as sent ("/a%20b?x=1").
    pub fn uri(&self) -> &str {
        self.view(sys::eddy_request_uri)
    }
    /// The path, still percent-encoded.
    pub fn path(&self) -> &str {
        self.view(sys::eddy_request_path)
    }
    /// The query without '?' ("" when none).
    pub fn query(&self) -> &str {
        self.view(sys::eddy_request_query)
    }
    /// The Host header (or an absolute-form target's authority).
    pub fn host(&self) -> &str {
        self.view(sys::eddy_request_host)
    }
    /// The host without its port, lower-cased (Tornado's `request.host_name`): "example.com"
    /// for Host "Example.COM:8080", "[::1]" for "[::1]:8080".
    pub fn host_name(&self) -> String {
        let host = self.host().to_ascii_lowercase();
        match host.rfind(':') {
            Some(i)
                if i > 0
                    && i + 1 < host.len()
                    && host[i + 1..].bytes().all(|b| b.is_ascii_digit()) =>
            {
                host[..i].to_owned()
            }
            _ => host,
        }
    }
    /// `scheme://host/uri` (Tornado's `request.full_url()`).
    pub fn full_url(&self) -> String {
        format!("{}://{}{}", self.scheme(), self.host(), self.uri())
    }
    /// Seconds since the request line started to arrive (Tornado's `request.request_time()`).
    pub fn request_time(&self) -> f64 {
        // SAFETY: live request.
        unsafe { sys::eddy_request_duration(self.req) }
    }
    /// 10 for HTTP/1.0, 11 for HTTP/1.1.
    pub fn version(&self) -> i32 {
        // SAFETY: live request.
        unsafe { sys::eddy_request_version(self.req) }
    }
    /// "http" or "https" (Tornado's `request.protocol`): with [`crate::App::set_xheaders`],
    /// what a trusted proxy's X-Scheme / X-Forwarded-Proto said.
    pub fn scheme(&self) -> &str {
        // SAFETY: live request; NUL-terminated view, valid as long as the request.
        let p = unsafe { sys::eddy_request_scheme(self.req) };
        if p.is_null() {
            return "";
        }
        // SAFETY: p is a NUL-terminated string of the live request.
        unsafe { std::ffi::CStr::from_ptr(p) }
            .to_str()
            .unwrap_or("")
    }
    /// The client's address ("127.0.0.1"; "" for Unix sockets; with
    /// [`crate::App::set_xheaders`], the one a trusted proxy forwarded).
    pub fn remote_ip(&self) -> &str {
        // SAFETY: live request; NUL-terminated view.
        let p = unsafe { sys::eddy_request_remote_ip(self.req) };
        if p.is_null() {
            return "";
        }
        unsafe { std::ffi::CStr::from_ptr(p) }
            .to_str()
            .unwrap_or("")
    }

    /// The server name (SNI) the client sent in the TLS handshake of the connection this
    /// request arrived on: `None` over plain HTTP, when the client sent none (it connected to
    /// an IP address), or once the connection is gone. Owned: the C string lives with the
    /// connection, which may go before the request. Thread: the loop's (a `Request` is not
    /// `Send`). No errors.
    pub fn tls_server_name(&self) -> Option<String> {
        // SAFETY: live request; the NUL-terminated name is valid while the connection lives,
        // which it does during this call (nothing runs the loop in between); copied at once.
        let p = unsafe { sys::eddy_request_tls_server_name(self.req) };
        if p.is_null() {
            return None;
        }
        Some(
            unsafe { std::ffi::CStr::from_ptr(p) }
                .to_string_lossy()
                .into_owned(),
        )
    }

    /// The certificate the client presented in the TLS handshake, as DER bytes (Tornado's
    /// `get_ssl_certificate(binary_form=True)`; parse it with an X.509 crate). A server asks
    /// for one only when its [`TlsContext`](crate::TlsContext) verifies clients
    /// (`set_verify(Verify::Optional / Required)` with CAs loaded), and a presented one has
    /// passed that check. Owned copy. Thread: the loop's.
    ///
    /// Errors: `Err(NOT_FOUND)` when there is none (plain HTTP, or the client sent none),
    /// `Err(CLOSED)` once the connection is gone.
    pub fn tls_peer_certificate(&self) -> Result<Vec<u8>> {
        let mut len = 0usize;
        // The size first (buf NULL: EDDY_ETOOBIG with the size), then the copy; a size that
        // changed in between (it cannot for one connection) is asked again.
        for _ in 0..3 {
            let mut buf = vec![0u8; len];
            let ptr = if buf.is_empty() {
                std::ptr::null_mut()
            } else {
                buf.as_mut_ptr()
            };
            // SAFETY: live request; buf has room for len bytes (or is NULL with len 0).
            let rc = unsafe { sys::eddy_request_tls_peer_certificate(self.req, ptr, &mut len) };
            match rc {
                0 => {
                    buf.truncate(len);
                    return Ok(buf);
                }
                sys::EDDY_ETOOBIG => continue,
                _ => return Err(Error::from_code(rc)),
            }
        }
        Err(Error::TOO_BIG)
    }

    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        text(self.header_bytes(name))
    }
    /// The first value of header `name`, raw.
    pub fn header_bytes(&self, name: &str) -> Option<&[u8]> {
        let mut len = 0;
        // SAFETY: live request; name passed with its length.
        unsafe {
            bytes(
                sys::eddy_request_header(self.req, name.as_ptr() as _, name.len(), &mut len),
                len,
            )
        }
    }
    /// Every header field in arrival order (repeats kept): (name, raw value).
    pub fn headers(&self) -> Vec<(&str, &[u8])> {
        // SAFETY: live request.
        let n = unsafe { sys::eddy_request_header_count(self.req) };
        let mut out = Vec::with_capacity(n);
        for i in 0..n {
            let (mut name, mut nlen, mut value, mut vlen) =
                (std::ptr::null(), 0, std::ptr::null(), 0);
            // SAFETY: live request, index in range, out-pointers valid.
            let rc = unsafe {
                sys::eddy_request_header_at(
                    self.req, i, &mut name, &mut nlen, &mut value, &mut vlen,
                )
            };
            if rc != 0 {
                break;
            }
            // SAFETY: views valid while the request is.
            let (n, v) = unsafe { (bytes(name, nlen), bytes(value, vlen)) };
            if let (Some(n), Some(v)) = (text(n), v) {
                out.push((n, v));
            }
        }
        out
    }

    /// The (buffered) request body.
    pub fn body(&self) -> &[u8] {
        let mut len = 0;
        // SAFETY: live request; never NULL.
        unsafe { bytes(sys::eddy_request_body(self.req, &mut len), len) }.unwrap_or(&[])
    }

    /// The uploaded files of a multipart/form-data body (Tornado's `request.files`, a dict
    /// field → list of `HTTPFile`, flattened): every part that has a filename, in arrival order,
    /// each with its field name (keep those of one field with
    /// `files.iter().filter(|f| f.field == "docs")`). Form fields without a filename are not
    /// here: they are arguments ([`Request::body_argument`]). Empty when the body is not
    /// multipart or carries no file, and for a route that streams its body. Owned copies.
    pub fn files(&self) -> Vec<HttpFile> {
        // SAFETY: live request.
        let n = unsafe { sys::eddy_request_file_count(self.req) };
        let mut out = Vec::with_capacity(n);
        for i in 0..n {
            let (mut field, mut filename, mut ctype, mut body, mut blen) = (
                std::ptr::null(),
                std::ptr::null(),
                std::ptr::null(),
                std::ptr::null(),
                0,
            );
            // SAFETY: live request, index in range, out-pointers valid.
            let rc = unsafe {
                sys::eddy_request_file_at(
                    self.req,
                    i,
                    &mut field,
                    &mut filename,
                    &mut ctype,
                    &mut body,
                    &mut blen,
                )
            };
            if rc != 0 {
                break;
            }
            // SAFETY: NUL-terminated strings and a body of blen bytes, valid while the request
            // is; copied at once.
            out.push(unsafe {
                HttpFile {
                    field: owned(field),
                    filename: owned(filename),
                    content_type: owned(ctype),
                    body: bytes(body, blen).map(<[u8]>::to_vec).unwrap_or_default(),
                }
            });
        }
        out
    }

    fn arg(&self, sources: c_int, name: &str) -> Option<&[u8]> {
        let mut len = 0;
        // SAFETY: live request.
        unsafe {
            bytes(
                sys::eddy_request_argument(
                    self.req,
                    sources,
                    name.as_ptr() as _,
                    name.len(),
                    &mut len,
                ),
                len,
            )
        }
    }
    /// The first value of argument `name` from the query or a form body.
    pub fn argument(&self, name: &str) -> Option<&str> {
        text(self.arg(sys::EDDY_ARGS_ALL, name))
    }
    /// The first value of argument `name` from the query only.
    pub fn query_argument(&self, name: &str) -> Option<&str> {
        text(self.arg(sys::EDDY_ARGS_QUERY, name))
    }
    /// The first value of argument `name` from a form body only.
    pub fn body_argument(&self, name: &str) -> Option<&str> {
        text(self.arg(sys::EDDY_ARGS_BODY, name))
    }
    fn args_from(&self, sources: c_int) -> Vec<(&str, &str)> {
        // SAFETY: live request.
        let n = unsafe { sys::eddy_request_argument_count(self.req, sources) };
        let mut out = Vec::with_capacity(n);
        for i in 0..n {
            let (mut name, mut nlen, mut value, mut vlen) =
                (std::ptr::null(), 0, std::ptr::null(), 0);
            // SAFETY: live request, index in range, out-pointers valid.
            let rc = unsafe {
                sys::eddy_request_argument_at(
                    self.req, sources, i, &mut name, &mut nlen, &mut value, &mut vlen,
                )
            };
            if rc != 0 {
                break;
            }
            // SAFETY: views valid while the request is.
            let (n, v) = unsafe { (text(bytes(name, nlen)), text(bytes(value, vlen))) };
            if let (Some(n), Some(v)) = (n, v) {
                out.push((n, v));
            }
        }
        out
    }
    fn values_from(&self, sources: c_int, name: &str) -> Vec<&str> {
        self.args_from(sources)
            .into_iter()
            .filter(|(n, _)| *n == name)
            .map(|(_, v)| v)
            .collect()
    }
    fn map_from(&self, sources: c_int) -> BTreeMap<&str, Vec<&str>> {
        let mut out: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for (n, v) in self.args_from(sources) {
            out.entry(n).or_default().push(v);
        }
        out
    }
    /// Every value of argument `name`, query first, then a form body (Tornado's
    /// `get_arguments`). Values that are not UTF-8 are left out.
    pub fn arguments(&self, name: &str) -> Vec<&str> {
        self.values_from(sys::EDDY_ARGS_ALL, name)
    }
    /// Every value of argument `name` in the query (Tornado's `get_query_arguments`).
    pub fn query_arguments(&self, name: &str) -> Vec<&str> {
        self.values_from(sys::EDDY_ARGS_QUERY, name)
    }
    /// Every value of argument `name` in a form body (Tornado's `get_body_arguments`).
    pub fn body_arguments(&self, name: &str) -> Vec<&str> {
        self.values_from(sys::EDDY_ARGS_BODY, name)
    }
    /// Every argument, name → values in arrival order, query first (Tornado's
    /// `request.arguments`).
    pub fn argument_map(&self) -> BTreeMap<&str, Vec<&str>> {
        self.map_from(sys::EDDY_ARGS_ALL)
    }
    /// The query's arguments (Tornado's `request.query_arguments`).
    pub fn query_argument_map(&self) -> BTreeMap<&str, Vec<&str>> {
        self.map_from(sys::EDDY_ARGS_QUERY)
    }
    /// A form body's arguments (Tornado's `request.body_arguments`).
    pub fn body_argument_map(&self) -> BTreeMap<&str, Vec<&str>> {
        self.map_from(sys::EDDY_ARGS_BODY)
    }
    /// An argument's raw bytes (query or body).
    pub fn argument_bytes(&self, name: &str) -> Option<&[u8]> {
        self.arg(sys::EDDY_ARGS_ALL, name)
    }

    /// The `index`th capture group of the route pattern (percent-decoded, UTF-8).
    pub fn path_arg(&self, index: usize) -> Option<&str> {
        if self.h.is_null() {
            return None;
        }
        let mut len = 0;
        // SAFETY: live handler; valid UTF-8 per the C API, checked anyway.
        text(unsafe { bytes(sys::eddy_handler_path_arg(self.h, index, &mut len), len) })
    }
    /// Every capture group, in order.
    pub fn path_args(&self) -> Vec<&str> {
        if self.h.is_null() {
            return Vec::new();
        }
        // SAFETY: live handler.
        let n = unsafe { sys::eddy_handler_path_arg_count(self.h) };
        (0..n).map(|i| self.path_arg(i).unwrap_or("")).collect()
    }
    /// The named capture group `(?P<name>...)`.
    pub fn path_kwarg(&self, name: &str) -> Option<&str> {
        if self.h.is_null() {
            return None;
        }
        let mut len = 0;
        // SAFETY: live handler.
        text(unsafe {
            bytes(
                sys::eddy_handler_path_kwarg(self.h, name.as_ptr() as _, name.len(), &mut len),
                len,
            )
        })
    }

    /// The value of request cookie `name`.
    pub fn cookie(&self, name: &str) -> Option<&str> {
        if self.h.is_null() {
            return None;
        }
        let mut len = 0;
        // SAFETY: live handler; the parsed cookies are kept until the handler is released.
        text(unsafe {
            bytes(
                sys::eddy_handler_get_cookie(self.h, name.as_ptr() as _, name.len(), &mut len),
                len,
            )
        })
    }
    /// Every request cookie, name → value (Tornado's `request.cookies`): the values are
    /// [`Request::cookie`]'s (unquoted; the first of a repeated name; illegal names left out).
    pub fn cookies(&self) -> BTreeMap<String, &str> {
        // SAFETY: live request.
        let names = unsafe { cookie_names(self.req) };
        names
            .into_iter()
            .filter_map(|n| {
                let v = self.cookie(&n)?;
                Some((n, v))
            })
            .collect()
    }
    /// The verified value of a signed cookie no older than `max_age_days` (None when missing,
    /// forged, expired, or no secret is set). Owned: the C view is reused by the next call.
    pub fn signed_cookie(&self, name: &str, max_age_days: f64) -> Option<String> {
        if self.h.is_null() {
            return None;
        }
        let mut len = 0;
        // SAFETY: live handler; copied before any other call can overwrite the view.
        let b = unsafe {
            bytes(
                sys::eddy_handler_get_signed_cookie(
                    self.h,
                    name.as_ptr() as _,
                    name.len(),
                    max_age_days,
                    &mut len,
                ),
                len,
            )
        };
        b.map(|b| String::from_utf8_lossy(b).into_owned())
    }
}
