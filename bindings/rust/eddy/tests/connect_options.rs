//! ConnectOptions (eddy_connect_with_options; Tornado's TCPClient.connect af / source_ip /
//! source_port): the server sees the bound source as the peer; a family picks the addresses
//! tried; the errors are eddy's. Linux's loopback answers on all of 127.0.0.0/8.
mod common;
use std::cell::RefCell;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener};
use std::rc::Rc;
use std::sync::mpsc;
use std::thread;

use common::run_bounded;
use eddy::{ConnectError, ConnectOptions, Error, Family, Loop};

/// Accepts one connection on `ln` in a thread and sends its peer address.
fn peer_of(ln: &TcpListener) -> mpsc::Receiver<SocketAddr> {
    let ln = ln.try_clone().unwrap();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        if let Ok((_conn, peer)) = ln.accept() {
            let _ = tx.send(peer);
        }
    });
    rx
}

/// Connects with `opts` to host:port on a fresh loop: Ok(()) once connected, or the error.
fn outcome(opts: &ConnectOptions, host: &str, port: u16) -> Result<(), Error> {
    let lp = Loop::new().unwrap();
    let got = Rc::new(RefCell::new(None));
    let (g, stop) = (got.clone(), lp.downgrade());
    opts.connect(&lp, host, port, move |r| {
        *g.borrow_mut() = Some(r.map(|s| s.close().unwrap()));
        stop.upgrade().unwrap().stop();
        Ok(())
    })
    .unwrap();
    run_bounded(&lp);
    let r = got.borrow_mut().take().expect("the connect callback ran");
    r
}

fn free_port(ip: IpAddr) -> u16 {
    TcpListener::bind((ip, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

const V4_2: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));

#[test]
fn the_source_address_and_port_are_the_peer() {
    let ln = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = ln.local_addr().unwrap().port();
    let src_port = free_port(V4_2);

    let peer = peer_of(&ln);
    let opts = ConnectOptions::new().timeout(5.0).source_ip(V4_2);
    assert_eq!(outcome(&opts, "127.0.0.1", port), Ok(()));
    assert_eq!(peer.recv().unwrap().ip(), V4_2);

    let peer = peer_of(&ln);
    let opts = opts.source_port(src_port);
    assert_eq!(outcome(&opts, "127.0.0.1", port), Ok(()));
    assert_eq!(peer.recv().unwrap(), SocketAddr::new(V4_2, src_port));

    // A family alone binds nothing: the system's source address.
    let peer = peer_of(&ln);
    let opts = ConnectOptions::new().timeout(5.0).family(Family::Ipv4);
    assert_eq!(outcome(&opts, "127.0.0.1", port), Ok(()));
    assert_eq!(peer.recv().unwrap().ip(), IpAddr::V4(Ipv4Addr::LOCALHOST));
}

#[test]
fn errors_of_the_source_and_the_family() {
    let ln = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = ln.local_addr().unwrap().port();
    let base = ConnectOptions::new().timeout(5.0);
    // Not a local address.
    let opts = base
        .clone()
        .source_ip(IpAddr::V4(Ipv4Addr::new(10, 255, 255, 1)));
    assert_eq!(
        outcome(&opts, "127.0.0.1", port),
        Err(Error::ADDR_NOT_AVAILABLE)
    );
    // An IPv6 source for an IPv4 host: no address of its family to try.
    let opts = base.clone().source_ip(IpAddr::V6(Ipv6Addr::LOCALHOST));
    assert_eq!(
        outcome(&opts, "127.0.0.1", port),
        Err(Error::ADDR_NOT_AVAILABLE)
    );
    // IPv6 only, for an IPv4 host: as getaddrinfo(AF_INET6) fails.
    let opts = base.clone().family(Family::Ipv6);
    assert_eq!(outcome(&opts, "127.0.0.1", port), Err(Error::RESOLVE));
    // A NUL in the host, a NaN timeout: refused before eddy connects.
    let lp = Loop::new().unwrap();
    assert_eq!(
        base.connect(&lp, "127.0.0.1\0x", port, |_| Ok(())),
        Err(Error::INVALID)
    );
    assert_eq!(
        ConnectOptions::new()
            .timeout(f64::NAN)
            .connect(&lp, "127.0.0.1", port, |_| Ok(())),
        Err(Error::INVALID)
    );
}

#[test]
fn ipv6_to_the_loopback() {
    let ln = match TcpListener::bind("[::1]:0") {
        Ok(ln) => ln,
        Err(e) => {
            eprintln!("skipped: no ::1 on this host ({})", e);
            return;
        }
    };
    let port = ln.local_addr().unwrap().port();
    let v6 = IpAddr::V6(Ipv6Addr::LOCALHOST);
    let peer = peer_of(&ln);
    let opts = ConnectOptions::new()
        .timeout(5.0)
        .family(Family::Ipv6)
        .source_ip(v6);
    assert_eq!(outcome(&opts, "::1", port), Ok(()));
    assert_eq!(peer.recv().unwrap().ip(), v6);
    let opts = ConnectOptions::new().timeout(5.0).family(Family::Ipv4);
    assert_eq!(outcome(&opts, "::1", port), Err(Error::RESOLVE));
}

/// Connects with `opts` to host:port on a fresh loop with `connect_detailed`: the error, which
/// carries eddy's detail (eddy_connect_error_detail).
fn failure(opts: &ConnectOptions, host: &str, port: u16) -> ConnectError {
    let lp = Loop::new().unwrap();
    let got = Rc::new(RefCell::new(None));
    let (g, stop) = (got.clone(), lp.downgrade());
    opts.connect_detailed(&lp, host, port, move |r| {
        *g.borrow_mut() = Some(r.map(|s| s.close().unwrap()));
        stop.upgrade().unwrap().stop();
        Ok(())
    })
    .unwrap();
    run_bounded(&lp);
    let r = got.borrow_mut().take().expect("the connect callback ran");
    r.expect_err("the connect failed")
}

#[test]
fn a_failed_connect_says_why() {
    let port = free_port(IpAddr::V4(Ipv4Addr::LOCALHOST));
    let e = failure(&ConnectOptions::new().timeout(5.0), "127.0.0.1", port);
    assert_eq!(e, Error::CONNECTION_REFUSED);
    let why = format!("connect to 127.0.0.1:{port}: Connection refused");
    assert_eq!(e.detail(), Some(why.as_str()));
    assert!(e.to_string().ends_with(&format!(": {why}")), "{e}");

    let not_local = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)); // TEST-NET-1
    let opts = ConnectOptions::new().timeout(5.0).source_ip(not_local);
    let e = failure(&opts, "127.0.0.1", port);
    assert_eq!(e, Error::ADDR_NOT_AVAILABLE);
    assert_eq!(
        e.detail(),
        Some(
            format!(
                "connect to 127.0.0.1:{port}: bind source 192.0.2.1: \
                 Cannot assign requested address"
            )
            .as_str()
        )
    );
}
