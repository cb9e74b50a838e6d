//! Stream (Tornado's IOStream) over eddy/stream.h: a connected socket with closure-based reads,
//! writes with completion closures, a close closure and write-mark backpressure.
//!
//! Ownership: eddy owns the C stream; it frees it right after its close callback returned (or
//! with its loop). The stream's C userdata is one `Box<StreamData>` holding every closure given
//! to it, released by eddy's free function exactly once. A [`Stream`] handle shares only a cell
//! with the C pointer, which that free function clears — the scheme of
//! [`FetchHandle`](crate::FetchHandle), and the same idea as the `Life` flag of `WsSender`: a
//! handle used after the stream is gone gets `Err(CLOSED)`, never a call on freed memory.
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::os::raw::{c_char, c_int, c_void};
use std::rc::Rc;

use eddy_sys as sys;

use crate::boundary::{guard, log_error};
use crate::error::{check, Error, Result};
use crate::websocket::payload;

mod start_tls;

/// A read closure: the stream and the bytes read (valid during the call).
type ReadFn = dyn FnOnce(&Stream, &[u8]) -> Result<()>;
/// A write's completion closure, see [`Stream::write`].
pub type WriteCallback = Box<dyn FnOnce(&Stream, Result<()>) -> Result<()>>;
/// The close closure: why the stream closed (`None`: closed by [`Stream::close`], or after
/// [`Stream::read_until_close`] delivered everything).
type CloseFn = dyn FnOnce(Option<Error>) -> Result<()>;
/// The write-mark closure, run each time the write buffer drained to the mark.
type DrainFn = dyn FnMut(&Stream) -> Result<()>;

/// The C pointer as handles see it: null once eddy freed the stream.
struct Core {
    ptr: Cell<*mut sys::eddy_stream>,
}

/// The C userdata of one stream: its closures and the cell its handles share.
struct StreamData {
    core: Rc<Core>,
    /// The pending read's closure (eddy allows one read at a time).
    read: RefCell<Option<Box<ReadFn>>>,
    /// Completion closures of the writes that have one, in write order (eddy calls them so).
    writes: RefCell<VecDeque<WriteCallback>>,
    close: RefCell<Option<Box<CloseFn>>>,
    drain: RefCell<Option<Box<DrainFn>>>,
    /// Bumped by every set/clear of the write mark, so that a drain closure that replaced or
    /// cleared itself while running is not put back afterwards.
    drain_generation: Cell<u64>,
}

/// A connected stream (Tornado's `IOStream`): a TCP connection (or Unix socket) accepted by a
/// [`TcpServer`](crate::TcpServer) or opened by [`connect`](crate::connect) /
/// [`connect_tls`](crate::connect_tls).
///
/// A handle: clones are handles to the same connection, and every closure gets one. Reads are
/// requests, one pending at a time, whose closure runs on the loop once the request can be
/// satisfied (`Err(BUSY)` while another is pending); the closure may issue the next read.
/// Writes are copied and sent at the end of the loop pass.
///
/// Life cycle: the connection lives until it is closed — by [`close`](Self::close), by the
/// peer (closing or resetting), or on an error (a limit exceeded) — not until its handles are
/// dropped: dropping every handle leaves it open (a peer's close is still noticed and frees
/// it). Then, on a later iteration, pending write closures get `Err(CLOSED)`, the close
/// closure ([`set_close_callback`](Self::set_close_callback)) runs once, and eddy frees the
/// stream with every closure given to it (a pending read's closure is dropped uncalled: the
/// close closure says why). From then on the handles' methods return `Err(CLOSED)` (and
/// [`is_closed`](Self::is_closed) is true, [`close`](Self::close) does nothing): a handle kept
/// longer than its stream is safe. Freeing the loop frees its open streams the same way,
/// without calling their closures.
///
/// Closures: each returns `Result<()>`. A panic or an `Err` (other than `CLOSED`) in a read,
/// write or write-mark closure is logged (`eddy: error: rust stream ...`) and closes the
/// stream; in the close closure it is logged. The loop goes on. A closure that holds a
/// [`Loop`](crate::Loop) clone keeps the loop alive while the stream holds the closure: give
/// closures a [`WeakLoop`](crate::WeakLoop).
///
/// Thread: the loop's (not `Send`); every closure runs there. Another thread cannot get one:
/// ```compile_fail,E0277
/// fn give_away(s: eddy::Stream) {
///     std::thread::spawn(move || drop(s)); // error: `Rc<..>` cannot be sent between threads
/// }
/// ```
#[derive(Clone)]
pub struct Stream {
    core: Rc<Core>,
}

impl std::fmt::Debug for Stream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stream")
            .field("closed", &self.is_closed())
            .finish()
    }
}

impl Stream {
    /// Takes over `ptr`, a stream eddy just handed over (accepted or connected): attaches the
    /// userdata and the close callback, and returns the first handle.
    ///
    /// # Safety
    /// `ptr` is a live stream with no userdata, on its loop's thread.
    pub(crate) unsafe fn adopt(ptr: *mut sys::eddy_stream) -> Stream {
        let core = Rc::new(Core {
            ptr: Cell::new(ptr),
        });
        let data = Box::new(StreamData {
            core: core.clone(),
            read: RefCell::new(None),
            writes: RefCell::new(VecDeque::new()),
            close: RefCell::new(None),
            drain: RefCell::new(None),
            drain_generation: Cell::new(0),
        });
        sys::eddy_stream_set_userdata(ptr, Box::into_raw(data) as *mut c_void, Some(free_data));
        // Always set: the userdata learns of the close, and an idle stream then notices a
        // peer's close (and is freed) even when nobody reads.
        sys::eddy_stream_set_close_callback(ptr, Some(on_close));
        Stream { core }
    }

    /// The live C stream, or Err(CLOSED) once eddy freed it.
    fn ptr(&self) -> Result<*mut sys::eddy_stream> {
        let p = self.core.ptr.get();
        if p.is_null() {
            Err(Error::CLOSED)
        } else {
            Ok(p)
        }
    }

    /// The userdata of a live stream.
    ///
    /// # Safety
    /// `p` is this handle's live stream.
    unsafe fn data<'x>(p: *mut sys::eddy_stream) -> &'x StreamData {
        // Only adopt sets a stream's userdata: it is our Box<StreamData>, alive while p is.
        &*(sys::eddy_stream_get_userdata(p) as *const StreamData)
    }

    /// Issues a read with `start` (a call of eddy_stream_read_*); on success keeps `f` for it.
    fn read_with(
        &self,
        f: Box<ReadFn>,
        start: impl FnOnce(*mut sys::eddy_stream) -> c_int,
    ) -> Result<()> {
        let p = self.ptr()?;
        check(start(p))?;
        // SAFETY: live stream. eddy never runs the read inside the call above (reads are
        // delivered from the loop), so storing it now is in time.
        *unsafe { Stream::data(p) }.read.borrow_mut() = Some(f);
        Ok(())
    }

    /// Reads until `delimiter` (not empty) and gives the data including it to `f` (Tornado's
    /// `read_until(delimiter, max_bytes)`). With `max_bytes` > 0, a delimiter not found within
    /// that many bytes closes the stream with `Error::TOO_BIG` (the close closure gets it; `f`
    /// is dropped uncalled); 0: no limit but the max buffer size.
    ///
    /// Errors: `Err(BUSY)` while another read is pending, `Err(CLOSED)` once closed,
    /// `Err(INVALID)` for an empty delimiter; `f` is dropped then.
    pub fn read_until(
        &self,
        delimiter: &[u8],
        max_bytes: usize,
        f: impl FnOnce(&Stream, &[u8]) -> Result<()> + 'static,
    ) -> Result<()> {
        if delimiter.is_empty() {
            return Err(Error::INVALID);
        }
        self.read_with(Box::new(f), |p| {
            // SAFETY: live stream; eddy copies the delimiter.
            unsafe {
                sys::eddy_stream_read_until(
                    p,
                    delimiter.as_ptr() as *const c_char,
                    delimiter.len(),
                    max_bytes,
                    Some(on_read),
                )
            }
        })
    }

    /// Reads up to and including the first match of `pattern` and gives it to `f` (Tornado's
    /// `read_until_regex(regex, max_bytes)`). The pattern is PCRE2 syntax (not the `regex`
    /// crate's) matched over the raw bytes; an empty match does not count. The stream keeps
    /// the compiled pattern, so reading again with the same one compiles nothing. `max_bytes`
    /// as [`read_until`](Self::read_until)'s: a match ending beyond it, or that many bytes
    /// without one, closes the stream with `Error::TOO_BIG`.
    ///
    /// Errors: as [`read_until`](Self::read_until); `Err(INVALID)` for an empty pattern or one
    /// PCRE2 refuses (eddy's log says why); `f` is dropped then.
    pub fn read_until_regex(
        &self,
        pattern: &[u8],
        max_bytes: usize,
        f: impl FnOnce(&Stream, &[u8]) -> Result<()> + 'static,
    ) -> Result<()> {
        if pattern.is_empty() {
            return Err(Error::INVALID);
        }
        self.read_with(Box::new(f), |p| {
            // SAFETY: live stream; eddy compiles the pattern during the call.
            unsafe {
                sys::eddy_stream_read_until_regex(
                    p,
                    pattern.as_ptr() as *const c_char,
                    pattern.len(),
                    max_bytes,
                    Some(on_read),
                )
            }
        })
    }

    /// Reads `n` (> 0) bytes and gives them to `f` (Tornado's `read_bytes(n, partial)`); with
    /// `partial`, `f` gets whatever arrived as soon as 1 to `n` bytes are there.
    ///
    /// Errors: as [`read_until`](Self::read_until); `Err(INVALID)` for 0.
    pub fn read_bytes(
        &self,
        n: usize,
        partial: bool,
        f: impl FnOnce(&Stream, &[u8]) -> Result<()> + 'static,
    ) -> Result<()> {
        if n == 0 {
            return Err(Error::INVALID);
        }
        self.read_with(Box::new(f), |p| {
            // SAFETY: live stream.
            unsafe { sys::eddy_stream_read_bytes(p, n, c_int::from(partial), Some(on_read)) }
        })
    }

    /// Reads everything until the peer closes and gives it to `f` (possibly empty) just before
    /// the close closure, which then gets `None` (Tornado's `read_until_close`). The max
    /// buffer size applies: more closes the stream with `Error::TOO_BIG` and `f` is dropped.
    ///
    /// Errors: as [`read_until`](Self::read_until).
    pub fn read_until_close(
        &self,
        f: impl FnOnce(&Stream, &[u8]) -> Result<()> + 'static,
    ) -> Result<()> {
        self.read_with(Box::new(f), |p| {
            // SAFETY: live stream.
            unsafe { sys::eddy_stream_read_until_close(p, Some(on_read)) }
        })
    }

    /// True while a read is pending (Tornado's `reading()`).
    pub fn reading(&self) -> bool {
        match self.ptr() {
            // SAFETY: live stream.
            Ok(p) => unsafe { sys::eddy_stream_reading(p) != 0 },
            Err(_) => false,
        }
    }

    /// Queues `data` (copied) to be sent at the end of this loop pass (Tornado's `write`).
    /// `callback`, when given, runs once the bytes were handed to the kernel, with `Ok(())`,
    /// or with `Err(CLOSED)` when the stream closed first; callbacks run in write order.
    /// Bytes written from inside a write callback may wait for the next pass, so a producer
    /// that keeps up cannot starve the loop; for flow control see
    /// [`set_write_mark`](Self::set_write_mark).
    ///
    /// ```no_run
    /// # fn f(s: &eddy::Stream) -> eddy::Result<()> {
    /// s.write(b"no callback\n", None)?;
    /// s.write(b"bye\n", Some(Box::new(|s, sent| { sent?; s.close() })))?;
    /// # Ok(()) }
    /// ```
    ///
    /// Errors: `Err(CLOSED)` once closed or closing (`callback` is dropped uncalled),
    /// `Err(NO_MEMORY)`.
    pub fn write(&self, data: &[u8], callback: Option<WriteCallback>) -> Result<()> {
        let p = self.ptr()?;
        let cb: sys::eddy_stream_write_fn = if callback.is_some() {
            Some(on_write)
        } else {
            None
        };
        // SAFETY: live stream; eddy copies the bytes.
        check(unsafe {
            sys::eddy_stream_write(p, data.as_ptr() as *const c_void, data.len(), cb)
        })?;
        if let Some(callback) = callback {
            // SAFETY: live stream; write callbacks run from the loop, never inside the write.
            unsafe { Stream::data(p) }
                .writes
                .borrow_mut()
                .push_back(callback);
        }
        Ok(())
    }

    /// The number of bytes waiting in the write buffer (0 once closed).
    pub fn write_buffer_size(&self) -> usize {
        match self.ptr() {
            // SAFETY: live stream.
            Ok(p) => unsafe { sys::eddy_stream_write_buffer_size(p) },
            Err(_) => 0,
        }
    }

    /// Backpressure: `f` runs each time the write buffer drops to `mark` bytes or fewer after
    /// it held more. A producer writes while [`write_buffer_size`](Self::write_buffer_size) is
    /// at most `mark`, and resumes in `f`. Replaces an earlier mark and closure.
    ///
    /// Errors: `Err(CLOSED)` once the stream is gone, `Err(NO_MEMORY)` (the mark is not set;
    /// `f` is dropped).
    pub fn set_write_mark(
        &self,
        mark: usize,
        f: impl FnMut(&Stream) -> Result<()> + 'static,
    ) -> Result<()> {
        let p = self.ptr()?;
        // SAFETY: live stream.
        check(unsafe { sys::eddy_stream_set_write_mark(p, mark, Some(on_drain)) })?;
        // SAFETY: live stream. The old closure (if any) is dropped here, outside any borrow.
        let data = unsafe { Stream::data(p) };
        data.drain_generation.set(data.drain_generation.get() + 1);
        let old = data.drain.borrow_mut().replace(Box::new(f));
        drop(old);
        Ok(())
    }

    /// Removes the write mark and drops its closure. Errors: `Err(CLOSED)` once the stream is
    /// gone.
    pub fn clear_write_mark(&self) -> Result<()> {
        let p = self.ptr()?;
        // SAFETY: live stream; a NULL callback removes the mark.
        check(unsafe { sys::eddy_stream_set_write_mark(p, 0, None) })?;
        // SAFETY: live stream.
        let data = unsafe { Stream::data(p) };
        data.drain_generation.set(data.drain_generation.get() + 1);
        let old = data.drain.borrow_mut().take();
        drop(old);
        Ok(())
    }

    /// Limits the read buffer (default 100 MiB, Tornado's `max_buffer_size`): a read that
    /// needs more closes the stream with `Error::TOO_BIG`.
    ///
    /// Errors: `Err(INVALID)` for 0, `Err(CLOSED)` once the stream is gone.
    pub fn set_max_buffer_size(&self, bytes: usize) -> Result<()> {
        let p = self.ptr()?;
        // SAFETY: live stream.
        check(unsafe { sys::eddy_stream_set_max_buffer_size(p, bytes) })
    }

    /// Turns TCP_NODELAY on or off (Tornado's `set_nodelay`): small writes leave at once
    /// instead of waiting for the peer's acknowledgement.
    ///
    /// Errors: `Err(NOT_SUPPORTED)` on a Unix socket, `Err(CLOSED)` once closed.
    pub fn set_nodelay(&self, on: bool) -> Result<()> {
        let p = self.ptr()?;
        // SAFETY: live stream.
        check(unsafe { sys::eddy_stream_set_nodelay(p, c_int::from(on)) })
    }

    /// Sets the closure that runs once when the stream has closed (Tornado's
    /// `set_close_callback`), with why: `None` after [`close`](Self::close) or once
    /// [`read_until_close`](Self::read_until_close) delivered everything; else
    /// `Some(Error::EOF)` (the peer closed while data was wanted, or while idle),
    /// `Some(Error::CONNECTION_RESET)`, `Some(Error::TOO_BIG)` (a read limit exceeded),
    /// `Some(Error::TLS)` / `Some(Error::TIMED_OUT)` (a TLS handshake failed), or another code.
    /// It runs after the pending write closures got `Err(CLOSED)`; the stream is freed when it
    /// returns. Replaces an earlier one (dropped).
    ///
    /// Errors: `Err(CLOSED)` once the stream is gone (its close closure already ran); `f` is
    /// dropped then.
    pub fn set_close_callback(
        &self,
        f: impl FnOnce(Option<Error>) -> Result<()> + 'static,
    ) -> Result<()> {
        let p = self.ptr()?;
        // SAFETY: live stream.
        let old = unsafe { Stream::data(p) }
            .close
            .borrow_mut()
            .replace(Box::new(f));
        drop(old);
        Ok(())
    }

    /// Closes the stream now (Tornado's `close`): the socket is closed, unsent and unread data
    /// dropped; on a later iteration pending write closures get `Err(CLOSED)` and the close
    /// closure gets `None`. Closing a closed (or gone) stream does nothing and is `Ok`.
    pub fn close(&self) -> Result<()> {
        match self.ptr() {
            // SAFETY: live stream.
            Ok(p) => check(unsafe { sys::eddy_stream_close(p) }),
            Err(_) => Ok(()),
        }
    }

    /// True once the stream is closed or closing (Tornado's `closed()`), and after it is gone.
    pub fn is_closed(&self) -> bool {
        match self.ptr() {
            // SAFETY: live stream.
            Ok(p) => unsafe { sys::eddy_stream_closed(p) != 0 },
            Err(_) => true,
        }
    }

    /// True when the stream speaks TLS (accepted by a [`TcpServer`](crate::TcpServer) with
    /// [`set_tls`](crate::TcpServer::set_tls), or opened by [`connect_tls`](crate::connect_tls));
    /// false once it is gone.
    pub fn is_tls(&self) -> bool {
        match self.ptr() {
            // SAFETY: live stream.
            Ok(p) => unsafe { sys::eddy_stream_is_tls(p) != 0 },
            Err(_) => false,
        }
    }
}

/// The userdata of a callback's stream.
///
/// # Safety
/// `ud` is the Box<StreamData> of a live stream (eddy passes it to the stream's callbacks).
unsafe fn data_of<'x>(ud: *mut c_void) -> &'x StreamData {
    &*(ud as *const StreamData)
}

impl StreamData {
    fn handle(&self) -> Stream {
        Stream {
            core: self.core.clone(),
        }
    }
}

/// Runs a closure of the stream `p`: a panic or an Err (other than CLOSED) is logged and, when
/// `close_on_failure`, closes the stream.
///
/// # Safety
/// `p` is a live stream on its loop's thread.
pub(crate) unsafe fn run_closure(
    p: *mut sys::eddy_stream,
    kind: &str,
    close_on_failure: bool,
    f: impl FnOnce() -> Result<()>,
) {
    let failure = match guard(f) {
        Ok(Ok(())) => return,
        Ok(Err(e)) if e == Error::CLOSED => return,
        Ok(Err(e)) => format!("returned an error: {}", e),
        Err(msg) => format!("panicked: {}", msg),
    };
    if close_on_failure && !p.is_null() && sys::eddy_stream_closed(p) == 0 {
        log_error(&format!(
            "rust stream {} {}; the stream is closed",
            kind, failure
        ));
        sys::eddy_stream_close(p);
    } else {
        log_error(&format!("rust stream {} {}", kind, failure));
    }
}

unsafe extern "C" fn on_read(
    p: *mut sys::eddy_stream,
    data: *const c_char,
    len: usize,
    ud: *mut c_void,
) {
    let d = data_of(ud);
    // Taken out before it runs: it may issue the next read, which stores its own closure.
    let f = d.read.borrow_mut().take();
    if let Some(f) = f {
        let bytes = payload(data, len);
        let stream = d.handle();
        run_closure(p, "read callback", true, || f(&stream, bytes));
    }
}

unsafe extern "C" fn on_write(p: *mut sys::eddy_stream, status: c_int, ud: *mut c_void) {
    let d = data_of(ud);
    // eddy calls back only the writes that had a callback, in write order: the front one.
    let f = d.writes.borrow_mut().pop_front();
    if let Some(f) = f {
        let stream = d.handle();
        let outcome = check(status);
        run_closure(p, "write callback", true, || f(&stream, outcome));
    }
}

unsafe extern "C" fn on_drain(p: *mut sys::eddy_stream, ud: *mut c_void) {
    let d = data_of(ud);
    let generation = d.drain_generation.get();
    let f = d.drain.borrow_mut().take();
    if let Some(mut f) = f {
        let stream = d.handle();
        run_closure(p, "write mark callback", true, || f(&stream));
        // Put back unless it set a new mark or cleared it meanwhile.
        if d.drain_generation.get() == generation {
            *d.drain.borrow_mut() = Some(f);
        }
    }
}

unsafe extern "C" fn on_close(p: *mut sys::eddy_stream, error: c_int, ud: *mut c_void) {
    let d = data_of(ud);
    let f = d.close.borrow_mut().take();
    if let Some(f) = f {
        let why = if error == 0 {
            None
        } else {
            Some(Error::from_code(error))
        };
        run_closure(p, "close callback", false, || f(why));
    }
}

unsafe extern "C" fn free_data(ud: *mut c_void) {
    // SAFETY: the Box made in adopt; eddy frees it once, when it frees the stream.
    let data = Box::from_raw(ud as *mut StreamData);
    // From here on the handles must not reach the stream.
    data.core.ptr.set(std::ptr::null_mut());
    if guard(move || drop(data)).is_err() {
        log_error("dropping a stream's closures panicked");
    }
}
