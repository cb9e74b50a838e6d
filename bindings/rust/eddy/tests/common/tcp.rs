//! Helpers of the raw-TCP tests: a bounded loop run, an event log, closure tokens, and a
//! blocking std::net peer (on its own thread, since the loop runs on the test's).
use std::cell::{Cell, RefCell};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::raw::{c_int, c_void};
use std::os::unix::io::AsRawFd;
use std::rc::Rc;

use eddy::Loop;

use super::IO_TIMEOUT;

/// Runs `lp` until a closure stops it; fails the test if that takes over 10 s (a callback that
/// never came).
pub fn run_strict(lp: &Loop) {
    let fired = Rc::new(Cell::new(false));
    let (f, weak) = (fired.clone(), lp.downgrade());
    let watchdog = lp
        .call_later(10.0, move || {
            f.set(true);
            weak.upgrade().unwrap().stop();
        })
        .unwrap();
    lp.run().unwrap();
    assert!(!fired.get(), "the loop was not stopped within 10 s");
    lp.cancel(watchdog).unwrap();
}

/// A closure that stops the loop (through a WeakLoop, so that it does not keep it).
pub fn stopper(lp: &Loop) -> impl Fn() + Clone {
    let weak = lp.downgrade();
    move || {
        if let Some(lp) = weak.upgrade() {
            lp.stop()
        }
    }
}

/// What happened, in order.
#[derive(Clone, Default)]
pub struct Log(Rc<RefCell<Vec<String>>>);

impl Log {
    pub fn push(&self, event: impl Into<String>) {
        self.0.borrow_mut().push(event.into());
    }
    pub fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.borrow_mut())
    }
}

/// Every closure handed to eddy holds a clone: the count says how many eddy still holds.
pub type Token = Rc<()>;

pub fn live(token: &Token) -> usize {
    Rc::strong_count(token) - 1
}

/// A blocking peer over std::net (reads bounded by IO_TIMEOUT).
pub struct Peer {
    pub reader: BufReader<TcpStream>,
}

impl Peer {
    pub fn connect(port: u16) -> Peer {
        let s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        s.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
        Peer {
            reader: BufReader::new(s),
        }
    }
    pub fn send(&mut self, data: &[u8]) {
        self.reader.get_mut().write_all(data).expect("write");
    }
    /// One line, with its "\n".
    pub fn line(&mut self) -> String {
        let mut l = String::new();
        self.reader.read_line(&mut l).expect("read line");
        l
    }
    /// Exactly `n` bytes.
    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        let mut out = vec![0; n];
        self.reader.read_exact(&mut out).expect("read");
        out
    }
    /// Everything up to the server's close.
    pub fn rest(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        self.reader.read_to_end(&mut out).expect("read to end");
        out
    }
    /// What comes up to the server's close, or up to a reset (a server that closes with
    /// unread input sends one): (bytes, reset).
    pub fn rest_or_reset(&mut self) -> (Vec<u8>, bool) {
        let mut out = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            match self.reader.read(&mut buf) {
                Ok(0) => return (out, false),
                Ok(n) => out.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return (out, true),
                Err(e) => panic!("read: {}", e),
            }
        }
    }
    /// Shuts the sending side (the server reads EOF).
    pub fn shutdown_write(&self) {
        self.reader
            .get_ref()
            .shutdown(std::net::Shutdown::Write)
            .unwrap();
    }
    /// Closes with a reset (SO_LINGER 0): the server gets ECONNRESET.
    pub fn reset(self) {
        reset(self.reader.into_inner());
    }
}

#[repr(C)]
struct Linger {
    onoff: c_int,
    seconds: c_int,
}

extern "C" {
    fn setsockopt(fd: c_int, level: c_int, name: c_int, value: *const c_void, len: u32) -> c_int;
}

/// Closes `s` with a reset: SO_LINGER on with 0 s (std has no stable setter), then close.
pub fn reset(s: TcpStream) {
    const SOL_SOCKET: c_int = 1;
    const SO_LINGER: c_int = 13;
    let l = Linger {
        onoff: 1,
        seconds: 0,
    };
    // SAFETY: a live socket; the option value is a struct linger of the given size.
    let rc = unsafe {
        setsockopt(
            s.as_raw_fd(),
            SOL_SOCKET,
            SO_LINGER,
            &l as *const Linger as *const c_void,
            std::mem::size_of::<Linger>() as u32,
        )
    };
    assert_eq!(rc, 0, "setsockopt(SO_LINGER)");
    drop(s);
}
