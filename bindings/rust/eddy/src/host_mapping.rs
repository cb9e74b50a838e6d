//! Tornado's `hostname_mapping` for [`crate::HttpClient`]: where to connect for a host. Each
//! mapped fetch is told so with `eddy_fetch_set_connect_to`, so the request itself still names
//! the URL (Host header, origin-form request target, effective URL, TLS server name and
//! certificate check), as Tornado's does.
use std::collections::HashMap;
use std::ffi::CString;
use std::os::raw::c_int;

use eddy_sys as sys;

use crate::error::{check, Error, Result};

/// A lower-case host and a port (None: any port as a key, the URL's as a target).
type HostPort = (String, Option<u16>);

#[derive(Default)]
pub(crate) struct HostMapping {
    map: HashMap<HostPort, HostPort>,
}

impl HostMapping {
    pub(crate) fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Maps `from` ("host" or "host:port") to `to` ("host" or "host:port").
    pub(crate) fn insert(&mut self, from: &str, to: &str) -> Result<()> {
        let (key, target) = (parse_host_port(from)?, parse_host_port(to)?);
        if target.0.contains('\0') {
            return Err(Error::INVALID);
        }
        self.map.insert(key, target);
        Ok(())
    }

    /// Tells the unstarted fetch `f` of `url` where to connect when the URL's host is mapped
    /// (a "host:port" key first, then the host alone). A URL eddy will refuse is left to it.
    pub(crate) fn apply(&self, f: *mut sys::eddy_fetch, url: &str) -> Result<()> {
        if self.map.is_empty() {
            return Ok(());
        }
        let (host, port) = match split_url(url) {
            Some(parts) => parts,
            None => return Ok(()),
        };
        let target = self
            .map
            .get(&(host.clone(), Some(port)))
            .or_else(|| self.map.get(&(host, None)));
        let (to_host, to_port) = match target {
            Some(t) => t,
            None => return Ok(()),
        };
        let to_host = CString::new(to_host.as_str()).map_err(|_| Error::INVALID)?;
        // SAFETY: a live, unstarted fetch; eddy copies the host. Port 0 keeps the URL's.
        check(unsafe {
            sys::eddy_fetch_set_connect_to(f, to_host.as_ptr(), c_int::from(to_port.unwrap_or(0)))
        })
    }
}

/// "host", "host:port", "[v6]", "[v6]:port" or a bare IPv6 address; the host lower-cased.
fn parse_host_port(s: &str) -> Result<HostPort> {
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let (host, after) = rest.split_once(']').ok_or(Error::INVALID)?;
        match after {
            "" => (host, None),
            _ => (host, Some(after.strip_prefix(':').ok_or(Error::INVALID)?)),
        }
    } else {
        match s.split_once(':') {
            Some((host, port)) if !port.contains(':') => (host, Some(port)),
            _ => (s, None),
        }
    };
    let port = match port {
        Some(p) => Some(
            p.parse::<u16>()
                .ok()
                .filter(|&n| n > 0)
                .ok_or(Error::INVALID)?,
        ),
        None => None,
    };
    if host.is_empty() {
        return Err(Error::INVALID);
    }
    Ok((host.to_ascii_lowercase(), port))
}

/// The host (lower-cased) and port (the scheme's default when absent) of a URL.
fn split_url(url: &str) -> Option<(String, u16)> {
    let (scheme, rest) = url.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next()?;
    let host_port = authority.rsplit('@').next()?; // without userinfo
    let (host, port) = parse_host_port(host_port).ok()?;
    let port = port.unwrap_or(if scheme.eq_ignore_ascii_case("https") {
        443
    } else {
        80
    });
    Some((host, port))
}
