//! HttpResponse and HttpHeaders: what a fetch delivered, copied out of the C request (whose
//! memory eddy frees after the callback) so that the response can be kept.
use std::os::raw::c_char;

use eddy_sys as sys;

/// Response headers in the order received, repeated names kept (Tornado's `HTTPHeaders`);
/// names compare case-insensitively.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HttpHeaders {
    lines: Vec<(String, String)>,
}

impl HttpHeaders {
    /// The first value of header `name` (any case), or None.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.lines
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every value of header `name` (any case), in the order received.
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.lines
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every (name, value) line in the order received, names as the server spelt them.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.lines.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    /// The number of header lines.
    pub fn len(&self) -> usize {
        self.lines.len()
    }

    /// True when there is no header line.
    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }
}

/// A response (Tornado's `HTTPResponse`): any status the server answered, 404 and 500
/// included (only transport failures are errors).
#[derive(Clone, Debug)]
pub struct HttpResponse {
    code: u16,
    reason: String,
    headers: HttpHeaders,
    body: Vec<u8>,
    effective_url: String,
    redirects: u32,
    connection_reused: bool,
}

impl HttpResponse {
    /// The status code (200, 404, ...).
    pub fn code(&self) -> u16 {
        self.code
    }

    /// The reason phrase ("OK"; "" when the server sent none).
    pub fn reason(&self) -> &str {
        &self.reason
    }

    /// The headers of the final response.
    pub fn headers(&self) -> &HttpHeaders {
        &self.headers
    }

    /// The first value of header `name` (any case): `headers().get(name)`.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name)
    }

    /// The body, decoded when gzip decoding is on; empty when the request streamed it
    /// ([`crate::HttpRequest::on_chunk`]) and in [`crate::HttpRequest::on_headers`].
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// The body, moved out of the response.
    pub fn into_body(self) -> Vec<u8> {
        self.body
    }

    /// The URL of the last request made, after redirects.
    pub fn effective_url(&self) -> &str {
        &self.effective_url
    }

    /// How many redirects were followed to get here.
    pub fn redirects(&self) -> u32 {
        self.redirects
    }

    /// True when the last request went over a pooled keep-alive connection.
    pub fn connection_reused(&self) -> bool {
        self.connection_reused
    }

    /// Copies what the C request holds now; `with_body` false leaves the body empty.
    ///
    /// # Safety
    /// `f` is a started request inside one of its callbacks.
    pub(crate) unsafe fn read(f: *const sys::eddy_fetch, with_body: bool) -> HttpResponse {
        let mut lines = Vec::new();
        for i in 0..sys::eddy_fetch_response_header_count(f) {
            let (mut name, mut name_len, mut value, mut value_len) =
                (std::ptr::null(), 0usize, std::ptr::null(), 0usize);
            if sys::eddy_fetch_response_header_at(
                f,
                i,
                &mut name,
                &mut name_len,
                &mut value,
                &mut value_len,
            ) == 0
            {
                lines.push((text(name, name_len), text(value, value_len)));
            }
        }
        let mut len = 0usize;
        let reason = text(sys::eddy_fetch_response_reason(f, &mut len), len);
        let url = text(sys::eddy_fetch_effective_url(f, &mut len), len);
        let body = if with_body {
            bytes(sys::eddy_fetch_response_body(f, &mut len), len).to_vec()
        } else {
            Vec::new()
        };
        HttpResponse {
            code: u16::try_from(sys::eddy_fetch_response_status(f)).unwrap_or(0),
            reason,
            headers: HttpHeaders { lines },
            body,
            effective_url: url,
            redirects: u32::try_from(sys::eddy_fetch_redirect_count(f)).unwrap_or(0),
            connection_reused: sys::eddy_fetch_connection_reused(f) != 0,
        }
    }
}

/// # Safety
/// `p` points to `len` readable bytes (or is NULL / `len` is 0).
unsafe fn bytes<'a>(p: *const c_char, len: usize) -> &'a [u8] {
    if p.is_null() || len == 0 {
        &[]
    } else {
        std::slice::from_raw_parts(p as *const u8, len)
    }
}

/// Header bytes as text: obs-text (bytes over 0x7f that are not UTF-8) become U+FFFD.
unsafe fn text(p: *const c_char, len: usize) -> String {
    String::from_utf8_lossy(bytes(p, len)).into_owned()
}
