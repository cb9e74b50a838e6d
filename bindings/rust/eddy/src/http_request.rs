//! HttpRequest: what [`crate::HttpClient::fetch`] sends, with Tornado's HTTPRequest names, and
//! the optional streaming closures.
use std::os::raw::{c_char, c_int};

use eddy_sys as sys;

use crate::error::{check, Error, Result};
use crate::http_response::HttpResponse;

pub(crate) type HeadersFn = dyn FnMut(&HttpResponse) -> Result<()>;
pub(crate) type ChunkFn = dyn FnMut(&[u8]) -> Result<()>;

/// An HTTP request to fetch (Tornado's `HTTPRequest`), built with chained setters:
///
/// ```no_run
/// let req = eddy::HttpRequest::new("http://127.0.0.1:8080/items")
///     .method("POST")
///     .header("Content-Type", "application/json")
///     .body("{\"name\": \"x\"}")
///     .request_timeout(5.0);
/// ```
///
/// Settings left alone keep the client's defaults ([`crate::HttpClient::set_defaults`]), else
/// eddy's: GET, connect and request timeouts of 20 s, redirects followed (at most 5), gzip asked
/// for and decoded, bodies up to 100 MiB.
///
/// `HttpRequest::default()` is one without a URL, for `set_defaults`.
pub struct HttpRequest {
    pub(crate) method: String,
    pub(crate) url: String,
    headers: Vec<(String, String)>,
    body: Option<Vec<u8>>,
    body_stream: Option<Option<u64>>,
    connect_timeout: Option<f64>,
    request_timeout: Option<f64>,
    read_timeout: Option<f64>,
    // Options, not plain values, so that a client's defaults fill only what was not set.
    follow_redirects: Option<bool>,
    max_redirects: Option<u32>,
    decompress_response: Option<bool>,
    max_body_size: Option<usize>,
    expect_100_continue: Option<bool>,
    user_agent: Option<String>,
    pub(crate) on_headers: Option<Box<HeadersFn>>,
    pub(crate) on_chunk: Option<Box<ChunkFn>>,
}

impl HttpRequest {
    /// A GET of `url` (`http://host[:port]/path?query` or `https://...`; IPv6 hosts in
    /// brackets). The URL is checked by `fetch` (Err(INVALID) there when it is malformed).
    pub fn new(url: &str) -> HttpRequest {
        HttpRequest {
            method: "GET".to_owned(),
            url: url.to_owned(),
            headers: Vec::new(),
            body: None,
            body_stream: None,
            connect_timeout: None,
            request_timeout: None,
            read_timeout: None,
            follow_redirects: None,
            max_redirects: None,
            decompress_response: None,
            max_body_size: None,
            expect_100_continue: None,
            user_agent: None,
            on_headers: None,
            on_chunk: None,
        }
    }

    /// The method, upper case as sent ("POST", "PUT", "DELETE", "HEAD", ...; default "GET").
    /// Anything but upper-case letters, '-' and '_' makes `fetch` fail with INVALID.
    pub fn method(mut self, method: &str) -> Self {
        self.method = method.to_owned();
        self
    }

    /// Adds a request header (repeat it for several values). Host, Content-Length and
    /// Transfer-Encoding are eddy's. A name that is not a token or a value with CR/LF makes
    /// `fetch` fail with INVALID.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// The request body, sent with its Content-Length. Replaces [`HttpRequest::body_stream`].
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = Some(body.into());
        self.body_stream = None;
        self
    }

    /// Streams the request body (Tornado's `body_producer`): `Some(length)` bytes (sent with
    /// that Content-Length) or `None` (unknown, sent chunked), given after `fetch` with
    /// [`crate::FetchHandle::write_body`] and ended with [`crate::FetchHandle::end_body`].
    /// Redirects that would resend the body are not followed. Replaces [`HttpRequest::body`].
    pub fn body_stream(mut self, length: Option<u64>) -> Self {
        self.body_stream = Some(length);
        self.body = None;
        self
    }

    /// Seconds to get a connection: queue wait, name lookup, connect and TLS handshake
    /// (default 20; 0 for no limit). Past it the fetch ends with `Error::TIMED_OUT`.
    pub fn connect_timeout(mut self, seconds: f64) -> Self {
        self.connect_timeout = Some(seconds);
        self
    }

    /// Seconds for the whole request, from `fetch` to the end of the response (default 20;
    /// 0 for no limit). Past it the fetch ends with `Error::TIMED_OUT`.
    pub fn request_timeout(mut self, seconds: f64) -> Self {
        self.request_timeout = Some(seconds);
        self
    }

    /// Seconds the server may stay silent once the request went out (between reads; nginx's
    /// proxy_read_timeout; not Tornado's): not counted while the request body is still going
    /// out, nor while the body is paused ([`crate::FetchHandle::pause_body`]: the consumer is
    /// slow, not the server). Past it the fetch ends with `Error::TIMED_OUT`, its detail "no
    /// data from the server for N s". Default: none (the request timeout alone).
    pub fn read_timeout(mut self, seconds: f64) -> Self {
        self.read_timeout = Some(seconds);
        self
    }

    /// Follow redirects (default true). With false a 3xx answer is the response.
    pub fn follow_redirects(mut self, on: bool) -> Self {
        self.follow_redirects = Some(on);
        self
    }

    /// Follow at most `n` redirects (default 5); the redirect after them is the response.
    pub fn max_redirects(mut self, n: u32) -> Self {
        self.max_redirects = Some(n);
        self
    }

    /// Ask for gzip and decode it (default true). With false the body is what the server sent.
    pub fn decompress_response(mut self, on: bool) -> Self {
        self.decompress_response = Some(on);
        self
    }

    /// Largest response body accepted, after decoding (default 100 MiB); a larger one ends the
    /// fetch with `Error::TOO_BIG`.
    pub fn max_body_size(mut self, bytes: usize) -> Self {
        self.max_body_size = Some(bytes);
        self
    }

    /// Send `Expect: 100-continue` and the body only after the server's 100 Continue (or one
    /// second without an answer).
    pub fn expect_100_continue(mut self, on: bool) -> Self {
        self.expect_100_continue = Some(on);
        self
    }

    /// The User-Agent to send (Tornado's `user_agent`), replacing a `User-Agent` header; by
    /// default eddy sends "eddy/<version>".
    pub fn user_agent(mut self, agent: &str) -> Self {
        self.user_agent = Some(agent.to_owned());
        self
    }

    /// Runs once when the final response's head arrived (after redirects), with the status
    /// and headers (the body is still empty). An `Err` or a panic cancels the fetch (its
    /// callback gets `Error::CANCELED`) and is logged.
    pub fn on_headers(mut self, f: impl FnMut(&HttpResponse) -> Result<()> + 'static) -> Self {
        self.on_headers = Some(Box::new(f));
        self
    }

    /// Streams the body (Tornado's `streaming_callback`): runs for each decoded piece as it
    /// arrives, and the response given to the fetch's callback then has an empty body. An
    /// `Err` or a panic cancels the fetch (its callback gets `Error::CANCELED`) and is logged.
    pub fn on_chunk(mut self, f: impl FnMut(&[u8]) -> Result<()> + 'static) -> Self {
        self.on_chunk = Some(Box::new(f));
        self
    }

    /// Err(INVALID) for what only one request can carry, as a client's defaults: a URL, a
    /// method other than GET, a body or body stream, streaming closures (refused, not ignored).
    pub(crate) fn check_defaults(&self) -> Result<()> {
        let per_request = !self.url.is_empty()
            || self.method != "GET"
            || self.body.is_some()
            || self.body_stream.is_some()
            || self.on_headers.is_some()
            || self.on_chunk.is_some();
        if per_request {
            Err(Error::INVALID)
        } else {
            Ok(())
        }
    }

    /// Fills what this request left unset from the client's defaults `d` (Tornado's
    /// `defaults`): headers whose name it lacks are added; its own values always win.
    pub(crate) fn apply_defaults(&mut self, d: &HttpRequest) {
        let has = |headers: &[(String, String)], name: &str| {
            headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(name))
        };
        // A User-Agent header of the request's own beats a default user_agent.
        if self.user_agent.is_none() && !has(&self.headers, "User-Agent") {
            self.user_agent = d.user_agent.clone();
        }
        let missing: Vec<(String, String)> = d
            .headers
            .iter()
            .filter(|(n, _)| !has(&self.headers, n))
            .cloned()
            .collect();
        self.headers.extend(missing);
        self.connect_timeout = self.connect_timeout.or(d.connect_timeout);
        self.request_timeout = self.request_timeout.or(d.request_timeout);
        self.read_timeout = self.read_timeout.or(d.read_timeout);
        self.follow_redirects = self.follow_redirects.or(d.follow_redirects);
        self.max_redirects = self.max_redirects.or(d.max_redirects);
        self.decompress_response = self.decompress_response.or(d.decompress_response);
        self.max_body_size = self.max_body_size.or(d.max_body_size);
        self.expect_100_continue = self.expect_100_continue.or(d.expect_100_continue);
    }

    /// Copies the settings into a fresh, unstarted C request.
    pub(crate) fn configure(&self, f: *mut sys::eddy_fetch) -> Result<()> {
        let agent = self
            .user_agent
            .as_ref()
            .map(|a| ("User-Agent".to_owned(), a.clone()));
        // user_agent replaces the header fields of that name.
        let replaced = |name: &str| agent.is_some() && name.eq_ignore_ascii_case("User-Agent");
        let headers = self
            .headers
            .iter()
            .filter(|(n, _)| !replaced(n))
            .chain(agent.iter());
        // SAFETY: `f` is a live, unstarted request; eddy copies every string and buffer.
        unsafe {
            for (name, value) in headers {
                check(sys::eddy_fetch_add_header(
                    f,
                    name.as_ptr() as *const c_char,
                    name.len(),
                    value.as_ptr() as *const c_char,
                    value.len(),
                ))?;
            }
            if let Some(body) = &self.body {
                check(sys::eddy_fetch_set_body(
                    f,
                    body.as_ptr() as *const _,
                    body.len(),
                ))?;
            }
            if let Some(length) = self.body_stream {
                let length = match length {
                    Some(n) => i64::try_from(n).map_err(|_| Error::INVALID)?,
                    None => -1,
                };
                check(sys::eddy_fetch_set_body_stream(f, length))?;
            }
            if let Some(s) = self.connect_timeout {
                check(sys::eddy_fetch_set_connect_timeout(f, s))?;
            }
            if let Some(s) = self.request_timeout {
                check(sys::eddy_fetch_set_request_timeout(f, s))?;
            }
            if let Some(s) = self.read_timeout {
                check(sys::eddy_fetch_set_read_timeout(f, s))?;
            }
            let redirects = if self.follow_redirects == Some(false) {
                Some(0)
            } else {
                self.max_redirects
            };
            if let Some(n) = redirects {
                check(sys::eddy_fetch_set_max_redirects(
                    f,
                    c_int::try_from(n).unwrap_or(c_int::MAX),
                ))?;
            }
            if let Some(on) = self.decompress_response {
                check(sys::eddy_fetch_set_decompress(f, c_int::from(on)))?;
            }
            if let Some(n) = self.max_body_size {
                check(sys::eddy_fetch_set_max_body_size(f, n))?;
            }
            if self.expect_100_continue == Some(true) {
                check(sys::eddy_fetch_set_expect_continue(f, 1))?;
            }
        }
        Ok(())
    }
}

impl Default for HttpRequest {
    /// A request without a URL: the template given to [`crate::HttpClient::set_defaults`].
    fn default() -> Self {
        HttpRequest::new("")
    }
}
