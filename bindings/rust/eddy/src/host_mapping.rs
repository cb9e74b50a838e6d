//! Tornado's `hostname_mapping` for [`crate::HttpClient`]: where to connect for a host, while
//! the URL (hence the Host header and the effective URL) stays as it is.
//!
//! eddy's client connects to the URL's host and drops a Host header given by the caller, so the
//! one way the C API offers to connect elsewhere with the URL kept is a proxy: each mapped
//! address gets its own eddy client with that address as its HTTP proxy (the request line then
//! is the absolute URI, which RFC 9112 origin servers must accept). This module keeps those
//! clients and the pool settings they must share with the main one.
use std::cell::RefCell;
use std::collections::HashMap;
use std::ffi::CString;
use std::os::raw::c_int;

use eddy_sys as sys;

use crate::error::{check, Error, Result};
use crate::event_loop::Loop;

/// A lower-case host and a port (None: any port as a key, the URL's as a target).
type HostPort = (String, Option<u16>);

/// The pool settings given to the client, replayed on each mapped address's client.
#[derive(Clone, Copy, Default)]
pub(crate) struct Pool {
    pub(crate) max_clients: Option<usize>,
    pub(crate) max_queue: Option<usize>,
    pub(crate) max_idle_per_host: Option<usize>,
    pub(crate) idle_timeout: Option<f64>,
}

impl Pool {
    /// Applies the settings made so far to `client` (a live client).
    pub(crate) fn apply(&self, client: *mut sys::eddy_client) -> Result<()> {
        // SAFETY (all): a live client on its loop thread.
        unsafe {
            if let Some(n) = self.max_clients {
                check(sys::eddy_client_set_max_clients(client, n))?;
            }
            if let Some(n) = self.max_queue {
                check(sys::eddy_client_set_max_queue(client, n))?;
            }
            if let Some(n) = self.max_idle_per_host {
                check(sys::eddy_client_set_max_idle_per_host(client, n))?;
            }
            if let Some(s) = self.idle_timeout {
                check(sys::eddy_client_set_idle_timeout(client, s))?;
            }
        }
        Ok(())
    }
}

/// The mapping and the clients made for its addresses (freed by [`HostMapping::take_clients`]'s
/// caller, the HttpClient's drop).
#[derive(Default)]
pub(crate) struct HostMapping {
    map: HashMap<HostPort, HostPort>,
    clients: RefCell<HashMap<(String, u16), *mut sys::eddy_client>>,
    pub(crate) pool: Pool,
}

impl HostMapping {
    pub(crate) fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Maps `from` ("host" or "host:port") to `to` ("host" or "host:port").
    pub(crate) fn insert(&mut self, from: &str, to: &str) -> Result<()> {
        let (key, target) = (parse_host_port(from)?, parse_host_port(to)?);
        self.map.insert(key, target);
        Ok(())
    }

    /// The client a fetch of `url` goes through when its host is mapped (None: not mapped, or
    /// a URL eddy will refuse itself). Err(INVALID) for a mapped https URL: through a proxy
    /// eddy would send CONNECT to the mapped address, which is no proxy.
    pub(crate) fn client_for(&self, lp: &Loop, url: &str) -> Result<Option<*mut sys::eddy_client>> {
        if self.map.is_empty() {
            return Ok(None);
        }
        let (scheme, host, port) = match split_url(url) {
            Some(parts) => parts,
            None => return Ok(None),
        };
        let target = self.map.get(&(host.clone(), Some(port))).or_else(|| self.map.get(&(host, None)));
        let (to_host, to_port) = match target {
            Some((h, p)) => (h.clone(), p.unwrap_or(port)),
            None => return Ok(None),
        };
        if scheme != "http" {
            return Err(Error::INVALID);
        }
        let mut clients = self.clients.borrow_mut();
        if let Some(&client) = clients.get(&(to_host.clone(), to_port)) {
            return Ok(Some(client));
        }
        let proxy = CString::new(to_host.as_str()).map_err(|_| Error::INVALID)?;
        // SAFETY: a live loop on its own thread.
        let client = unsafe { sys::eddy_client_new(lp.as_ptr()) };
        if client.is_null() {
            return Err(Error::NO_MEMORY);
        }
        // SAFETY: the new, live client; eddy copies the host.
        let configured = self.pool.apply(client).and_then(|_| {
            check(unsafe { sys::eddy_client_set_proxy(client, proxy.as_ptr(), c_int::from(to_port)) })
        });
        if let Err(e) = configured {
            // SAFETY: ours, never used.
            unsafe { sys::eddy_client_free(client) };
            return Err(e);
        }
        clients.insert((to_host, to_port), client);
        Ok(Some(client))
    }

    /// Runs `f` on every mapped address's client (a pool setting changed).
    pub(crate) fn each_client(&self, mut f: impl FnMut(*mut sys::eddy_client) -> Result<()>) -> Result<()> {
        self.clients.borrow().values().try_for_each(|&c| f(c))
    }

    /// Hands the clients over to be freed.
    pub(crate) fn take_clients(&self) -> Vec<*mut sys::eddy_client> {
        self.clients.borrow_mut().drain().map(|(_, c)| c).collect()
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
        Some(p) => Some(p.parse::<u16>().ok().filter(|&n| n > 0).ok_or(Error::INVALID)?),
        None => None,
    };
    if host.is_empty() {
        return Err(Error::INVALID);
    }
    Ok((host.to_ascii_lowercase(), port))
}

/// The scheme, host and port (the scheme's default when absent) of a URL, lower-cased.
fn split_url(url: &str) -> Option<(String, String, u16)> {
    let (scheme, rest) = url.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    let authority = rest.split(['/', '?', '#']).next()?;
    let host_port = authority.rsplit('@').next()?; // without userinfo
    let (host, port) = parse_host_port(host_port).ok()?;
    let port = port.unwrap_or(if scheme == "https" { 443 } else { 80 });
    Some((scheme, host, port))
}
