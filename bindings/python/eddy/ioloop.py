"""eddy.ioloop: Tornado's IOLoop and PeriodicCallback over eddy's loop, run inside asyncio.

One thread holds one eddy loop and one asyncio loop. The asyncio loop is the one that waits: it
watches eddy's backend fd (eddy_loop_backend_fd) and keeps a timer at eddy's next deadline
(eddy_loop_next_timeout); both run eddy_loop_run_once(loop, 0). Loops made by eddy's policy
(EddyEventLoop) also check eddy before every iteration, so callbacks that eddy queued while
Python code ran are never left waiting. On a foreign asyncio loop the same pump is kicked after
every scheduling call made through this module."""

import asyncio
import concurrent.futures
import functools
import math
import random
import select
import sys
import logging
import threading
import weakref

from . import _lowlevel as _ll

app_log = logging.getLogger("eddy.application")

TimeoutError = asyncio.TimeoutError  # tornado.ioloop.TimeoutError (run_sync's)
gen_log = logging.getLogger("eddy.general")


class _Pump:
    """Runs eddy's ready work from an asyncio loop.

    Keeps the asyncio handles it scheduled (the reader, the call_soon of kick(), the timer) so
    close() can cancel them: after IOLoop.close() freed the eddy loop, nothing queued in asyncio
    may call eddy_loop_run_once on it (that crashed). `depth` counts run() frames on the stack:
    IOLoop.close() must not free the loop from inside eddy_loop_run_once (loop.h forbids it).
    A SystemExit / KeyboardInterrupt raised by Python code that eddy called (the C trampoline
    cannot pass it on) is parked in `interrupt` and raised by run() once eddy_loop_run_once
    returned, so it reaches asyncio as if an asyncio callback had raised it."""

    def __init__(self, eddy_loop, aloop):
        self.eddy = eddy_loop
        self.aloop = aloop
        self.timer = None
        self.timer_due = None
        self.kicked = None  # the call_soon handle of a pending kick
        self.closed = False
        self.depth = 0
        self.interrupt = None
        self.ran = False  # the loop ran once: it can no longer be reinitialised after a fork
        self.fd = _ll.eddy_loop_backend_fd(eddy_loop)
        if self.fd >= 0:
            aloop.add_reader(self.fd, self.run)

    def close(self):
        self.closed = True
        if self.fd >= 0 and not self.aloop.is_closed():
            self.aloop.remove_reader(self.fd)
        self.fd = -1
        if self.timer:
            self.timer.cancel()
            self.timer = None
        if self.kicked:
            self.kicked.cancel()
            self.kicked = None

    def run(self):
        self.kicked = None
        if self.closed:
            return  # the eddy loop is freed (a handle that was already running)
        self.ran = True
        self.depth += 1
        try:
            _ll.eddy_loop_run_once(self.eddy, 0)
        finally:
            self.depth -= 1
        interrupt, self.interrupt = self.interrupt, None
        if interrupt is not None:
            self.kick()  # the rest of eddy's work still runs if the loop goes on
            raise interrupt
        self.arm()

    def kick(self):
        """Makes the asyncio loop pump eddy soon (after Python code scheduled into eddy)."""
        if not self.kicked and not self.closed:
            self.kicked = self.aloop.call_soon(self.run)

    def arm(self):
        """Keeps an asyncio timer at eddy's next deadline."""
        if self.closed:
            return
        ms = _ll.eddy_loop_next_timeout(self.eddy)
        if self.fd < 0 and (ms < 0 or ms > 10):
            ms = 10  # a backend without a pollable fd: look at its I/O every 10 ms
        if ms < 0:
            return
        if ms == 0:
            self.kick()
            return
        due = self.aloop.time() + ms / 1000.0
        if self.timer is not None:
            if self.timer_due <= due:
                return
            self.timer.cancel()
        self.timer_due = due
        self.timer = self.aloop.call_at(due, self._timer_fired)

    def _timer_fired(self):
        self.timer = None
        self.run()


class EddyEventLoop(asyncio.SelectorEventLoop):
    """An asyncio loop that also runs the eddy loop of its thread (see the module comment)."""

    _eddy_pump = None
    _eddy_ioloop = None

    def close(self):
        # asyncio.run() closes its loop: the IOLoop (eddy loop, applications) goes with it.
        ioloop = self._eddy_ioloop
        self._eddy_ioloop = None
        if ioloop is not None:
            ioloop.close()
        super().close()

    def _run_once(self):
        pump = self._eddy_pump
        if pump is not None:
            pump.ran = True
            pump.arm()
        super()._run_once()


class EddyEventLoopPolicy(asyncio.DefaultEventLoopPolicy):
    """Makes asyncio.run(), asyncio.new_event_loop() and friends create EddyEventLoops."""

    def new_event_loop(self):
        return EddyEventLoop()


def install_policy():
    if not isinstance(asyncio.get_event_loop_policy(), EddyEventLoopPolicy):
        asyncio.set_event_loop_policy(EddyEventLoopPolicy())


class IOLoop:
    """Tornado's IOLoop: one per asyncio loop. Use IOLoop.current()."""

    NONE = 0
    READ = _ll.EDDY_READABLE
    WRITE = _ll.EDDY_WRITABLE
    ERROR = 0x8

    _by_asyncio = weakref.WeakKeyDictionary()
    _lock = threading.Lock()

    def __init__(self, asyncio_loop=None, make_current=True):
        self.asyncio_loop = asyncio_loop or asyncio.new_event_loop()
        self._eddy = _ll.eddy_loop_new()
        # eddy_loop_new made this thread the loop's thread; other threads must use the
        # thread-safe entry point.
        self._ident = threading.get_ident()
        if self._eddy is None:
            raise RuntimeError("eddy_loop_new failed")
        self._pump = _Pump(self._eddy, self.asyncio_loop)
        if isinstance(self.asyncio_loop, EddyEventLoop):
            self.asyncio_loop._eddy_pump = self._pump
            self.asyncio_loop._eddy_ioloop = self
        self._handlers = {}
        self._apps = weakref.WeakSet()  # freed before the eddy loop in close()
        self._servers = set()  # listening servers keep their applications alive
        self._closed = False
        with IOLoop._lock:
            IOLoop._by_asyncio[self.asyncio_loop] = self
        if make_current:
            self.make_current()

    # ---- which loop ------------------------------------------------------------------------
    @staticmethod
    def current(instance=True):
        try:
            aloop = asyncio.get_running_loop()
        except RuntimeError:
            aloop = None
        if aloop is None:
            try:
                aloop = asyncio.get_event_loop_policy().get_event_loop()
            except RuntimeError:
                if not instance:
                    return None
                aloop = asyncio.new_event_loop()
                asyncio.set_event_loop(aloop)
        with IOLoop._lock:
            loop = IOLoop._by_asyncio.get(aloop)
        if loop is None:
            if not instance:
                return None
            loop = IOLoop(aloop, make_current=False)
        return loop

    @staticmethod
    def instance():
        return IOLoop.current()

    def install(self):
        """Deprecated in Tornado: makes this loop current."""
        self.make_current()

    @staticmethod
    def clear_instance():
        IOLoop.clear_current()

    @classmethod
    def configure(cls, impl, **kwargs):
        """Tornado 6 only accepts asyncio-based loops; eddy has one implementation, so a
        configure() naming Tornado's asyncio loops (or this class) is accepted and anything
        else is refused."""
        name = impl if isinstance(impl, str) else getattr(impl, "__name__", "")
        if impl is not cls and name.rsplit(".", 1)[-1] not in ("AsyncIOLoop", "AsyncIOMainLoop",
                                                               "IOLoop"):
            raise ValueError("eddy's IOLoop cannot be configured to use %r" % (impl,))

    @classmethod
    def configured_class(cls):
        return cls

    def initialize(self, make_current=True):
        if make_current:
            self.make_current()

    @staticmethod
    def split_fd(fd):
        """(fd number, object) for an int or an object with fileno()."""
        if isinstance(fd, int):
            return fd, fd
        return fd.fileno(), fd

    @staticmethod
    def close_fd(fd):
        import os

        try:
            if isinstance(fd, int):
                os.close(fd)
            else:
                fd.close()
        except OSError:
            pass

    def make_current(self):
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is None:
            asyncio.set_event_loop(self.asyncio_loop)

    @staticmethod
    def clear_current():
        asyncio.set_event_loop(None)

    # ---- running ---------------------------------------------------------------------------
    def start(self):
        self.make_current()
        self.asyncio_loop.run_forever()

    def stop(self):
        self.asyncio_loop.stop()

    def run_sync(self, func, timeout=None):
        async def runner():
            result = func()
            if asyncio.iscoroutine(result) or asyncio.isfuture(result):
                result = await result
            return result

        coro = runner()
        if timeout is not None:
            coro = asyncio.wait_for(coro, timeout)
        try:
            return self.asyncio_loop.run_until_complete(coro)
        except TimeoutError as e:
            if timeout is None or e.args:
                raise
            raise TimeoutError("Operation timed out after %s seconds" % timeout) from None

    def close(self, all_fds=False):
        """Frees the eddy loop (callbacks not yet run are dropped). Call it on the loop's
        thread, after start() / run_sync() returned, or from a coroutine. From another thread
        it raises RuntimeError and changes nothing while the loop's thread is alive (use
        add_callback(ioloop.stop) there, then close() on that thread); once that thread ended it
        closes normally. From a callback that eddy runs (add_callback, call_later, a
        synchronous handle_stream, ...) it raises RuntimeError and changes nothing, as
        asyncio's loop.close() does while the loop runs: eddy cannot free its loop from inside
        its own callback (stop() there, and close() after start() returned)."""
        if self._closed:
            return
        if threading.get_ident() != self._ident and _thread_alive(self._ident):
            # eddy's loop belongs to its thread: freeing it here would race that thread's pump
            # (the closed check against eddy_loop_run_once), as asyncio refuses to close a loop
            # that runs. Once that thread ended nothing can race, and close() proceeds.
            raise RuntimeError("IOLoop.close() called from another thread than the loop's; "
                               "stop it with add_callback(ioloop.stop) and call close() on "
                               "the loop's thread once start() returned")
        if self._pump.depth:
            raise RuntimeError("IOLoop.close() called from a callback the IOLoop is running; "
                               "call stop() there and close() after start() returned")
        self._closed = True
        for fd in list(self._handlers):
            self._remove_handler(fd)
        self._servers.clear()
        for app in list(self._apps):
            app.close()
        # The loop's shared AsyncHTTPClient goes with it: it holds the loop, so the cache keyed
        # by the loop would otherwise keep both alive for good.
        httpclient = sys.modules.get("eddy.httpclient")
        shared = httpclient and httpclient.AsyncHTTPClient._by_loop.get(self)
        if shared is not None:
            shared.close()
        self._pump.close()
        if isinstance(self.asyncio_loop, EddyEventLoop):
            self.asyncio_loop._eddy_pump = None
            self.asyncio_loop._eddy_ioloop = None
        with IOLoop._lock:
            IOLoop._by_asyncio.pop(self.asyncio_loop, None)
        _ll.eddy_loop_free(self._eddy)
        self._eddy = None
        if not self.asyncio_loop.is_running():
            self.asyncio_loop.close()

    def _after_fork(self):
        """In a child forked by eddy.process.fork_processes (HTTPServer/TCPServer.start(n)):
        gives this IOLoop, made before the fork but never run, an asyncio loop and eddy loop fds
        of its own, so that nothing the parent's loop polls is shared with the child. The C
        objects made on it (applications, servers) stay valid (eddy_loop_reinit). The asyncio
        loop made in the parent is dropped: its epoll fd is closed in the child without
        touching the parent's epoll instance, and a new one becomes this thread's current loop.
        Raises RuntimeError when the eddy loop refuses (it ran). Thread: the forking thread."""
        old = self.asyncio_loop
        if not _drop_shared_selector(old):
            # An asyncio loop whose selector is unknown here: never closed in the child (closing
            # would unregister its fds from the epoll instance the parent shares), kept for good.
            _kept_after_fork.append(old)
        self._pump.close()
        if isinstance(old, EddyEventLoop):
            old._eddy_pump = None
            old._eddy_ioloop = None
        with IOLoop._lock:
            IOLoop._by_asyncio.pop(old, None)
        if old not in _kept_after_fork and not old.is_closed():
            old.close()
        rc = _ll.eddy_loop_reinit(self._eddy)
        if rc < 0:
            raise RuntimeError("Cannot run in multiple processes: the IOLoop made before the "
                               "fork cannot be reinitialised (%s)" % _ll.eddy_strerror(rc))
        self.asyncio_loop = asyncio.new_event_loop()
        self._pump = _Pump(self._eddy, self.asyncio_loop)
        if isinstance(self.asyncio_loop, EddyEventLoop):
            self.asyncio_loop._eddy_pump = self._pump
            self.asyncio_loop._eddy_ioloop = self
        with IOLoop._lock:
            IOLoop._by_asyncio[self.asyncio_loop] = self
        asyncio.set_event_loop(self.asyncio_loop)
        self._pump.arm()  # callbacks queued before the fork run once the new loop runs

    # ---- time and callbacks (run by eddy's loop) -------------------------------------------
    def time(self):
        return _ll.eddy_loop_time(self._eddy)

    def add_callback(self, callback, *args, **kwargs):
        fn = functools.partial(self._run_callback, callback, args, kwargs)
        if threading.get_ident() == self._ident:
            if not _ll.eddy_loop_call_soon(self._eddy, fn):
                raise RuntimeError("eddy_loop_call_soon failed")
            self._pump.kick()
        else:
            rc = _ll.eddy_py_call_soon_threadsafe(self._eddy, fn)
            if rc < 0:
                raise RuntimeError(_ll.eddy_strerror(rc))

    def add_callback_from_signal(self, callback, *args, **kwargs):
        fn = functools.partial(self._run_callback, callback, args, kwargs)
        _ll.eddy_py_call_soon_threadsafe(self._eddy, fn)

    def spawn_callback(self, callback, *args, **kwargs):
        self.add_callback(callback, *args, **kwargs)

    def _on_loop_thread(self, what):
        # eddy's loop is not thread-safe: from another thread only add_callback may be used
        # (as in Tornado). Calling C from a worker while the loop thread runs crashed.
        if threading.get_ident() != self._ident:
            raise RuntimeError("IOLoop.%s called from another thread; use add_callback, which "
                               "is thread-safe, to get onto the loop's thread" % what)

    def call_later(self, delay, callback, *args, **kwargs):
        self._on_loop_thread("call_later")
        fn = functools.partial(self._run_callback, callback, args, kwargs)
        call_id = _ll.eddy_loop_call_later(self._eddy, float(delay), fn)
        if not call_id:
            raise RuntimeError("eddy_loop_call_later failed")
        self._pump.arm()
        return _Timeout(self, call_id)

    def call_at(self, when, callback, *args, **kwargs):
        self._on_loop_thread("call_at")
        fn = functools.partial(self._run_callback, callback, args, kwargs)
        call_id = _ll.eddy_loop_call_at(self._eddy, float(when), fn)
        if not call_id:
            raise RuntimeError("eddy_loop_call_at failed")
        self._pump.arm()
        return _Timeout(self, call_id)

    def add_timeout(self, deadline, callback, *args, **kwargs):
        if isinstance(deadline, (int, float)):
            return self.call_at(deadline, callback, *args, **kwargs)
        return self.call_later(deadline.total_seconds(), callback, *args, **kwargs)

    def remove_timeout(self, timeout):
        self._on_loop_thread("remove_timeout")
        if isinstance(timeout, _Timeout) and timeout.loop is self and self._eddy is not None:
            _ll.eddy_loop_cancel(self._eddy, timeout.call_id)

    def add_future(self, future, callback):
        """Calls callback(future) on this loop once `future` (an asyncio or concurrent future,
        or an awaitable) is done."""
        if isinstance(future, concurrent.futures.Future):
            # Done on a worker thread maybe: add_callback is the thread-safe way back.
            future.add_done_callback(lambda f: self.add_callback(callback, f))
            return
        future = asyncio.ensure_future(future, loop=self.asyncio_loop)
        future.add_done_callback(lambda f: self.add_callback(callback, f))

    def run_in_executor(self, executor, func, *args):
        """Runs func(*args) on `executor` (a default thread pool when None); returns a future."""
        if executor is None:
            if not hasattr(self, "_executor"):
                self._executor = concurrent.futures.ThreadPoolExecutor()
            executor = self._executor
        return self.asyncio_loop.run_in_executor(executor, func, *args)

    def set_default_executor(self, executor):
        self._executor = executor

    # ---- fd handlers -----------------------------------------------------------------------
    def add_handler(self, fd, handler, events):
        self._on_loop_thread("add_handler")
        fileobj = fd
        if not isinstance(fd, int):
            fd = fd.fileno()
        watch = _ll.eddy_watch_new(self._eddy, fd, events & (self.READ | self.WRITE),
                                   lambda _fd, ev: self._run_callback(handler, (fileobj, ev), {}))
        if watch is None:
            raise ValueError("cannot watch fd %r" % fd)
        self._handlers[fd] = watch

    def update_handler(self, fd, events):
        self._on_loop_thread("update_handler")
        fd = fd if isinstance(fd, int) else fd.fileno()
        _ll.eddy_watch_set_events(self._handlers[fd], events & (self.READ | self.WRITE))

    def remove_handler(self, fd):
        self._on_loop_thread("remove_handler")
        self._remove_handler(fd)

    def _remove_handler(self, fd):
        fd = fd if isinstance(fd, int) else fd.fileno()
        watch = self._handlers.pop(fd, None)
        if watch is not None:
            _ll.eddy_watch_free(watch)

    # ---- internals -------------------------------------------------------------------------
    def _run_callback(self, callback, args, kwargs):
        try:
            ret = callback(*args, **kwargs)
            if asyncio.iscoroutine(ret) or asyncio.isfuture(ret):
                fut = asyncio.ensure_future(ret, loop=self.asyncio_loop)
                fut.add_done_callback(self._discard_future_result)
        except Exception:
            app_log.error("Exception in callback %r", callback, exc_info=True)
        except BaseException as e:  # SystemExit, KeyboardInterrupt: as asyncio, stop the loop
            self._interrupt(e)

    def _interrupt(self, exc, from_c=False):
        """Passes a SystemExit / KeyboardInterrupt on to asyncio: re-raised at once outside
        eddy's callbacks; inside one (the C trampoline would only report it as unraisable) it is
        raised by the pump once eddy_loop_run_once returned. from_c: the caller is a C
        trampoline even though the pump is not running (a hook that an eddy call made from
        Python code ran synchronously): parked too, and the pump is kicked to raise it."""
        pump = self._pump
        if pump.depth or from_c:
            if pump.interrupt is None:
                pump.interrupt = exc
            if not pump.depth:
                pump.kick()
            return
        raise exc

    @staticmethod
    def _discard_future_result(future):
        if not future.cancelled() and future.exception() is not None:
            exc = future.exception()
            app_log.error("Exception in callback", exc_info=(type(exc), exc, exc.__traceback__))

    def __repr__(self):
        return "<eddy.ioloop.IOLoop %#x>" % id(self)


_kept_after_fork = []  # see IOLoop._after_fork


def _thread_alive(ident):
    """True while a thread with this ident runs (threads Python knows of, which includes every
    thread that made an IOLoop: IOLoop() called threading.get_ident() there)."""
    return any(t.ident == ident for t in threading.enumerate())


def _drop_shared_selector(aloop):
    """In a forked child: closes the child's copy of the epoll fd of `aloop` (an asyncio
    selector loop made before the fork) and gives its selector a private, empty epoll instance,
    so that closing the loop afterwards unregisters nothing from the instance the parent and
    the other children share. False when `aloop` is not a loop on an epoll selector."""
    selector = getattr(aloop, "_selector", None)
    inner = getattr(selector, "_selector", None)
    if not hasattr(select, "epoll") or not isinstance(inner, select.epoll):
        return False
    inner.close()
    selector._selector = select.epoll()  # unregister() there fails with OSError: ignored
    return True


class _Timeout:
    __slots__ = ("loop", "call_id")

    def __init__(self, loop, call_id):
        self.loop = loop
        self.call_id = call_id


class PeriodicCallback:
    """Calls `callback` every `callback_time` milliseconds (or a timedelta), on eddy's periodic
    timer. As in Tornado, a callback that returns an awaitable is not called again until it
    completed (the ticks in between are skipped), and `jitter` (a fraction) varies each
    period randomly; with jitter the schedule runs on one-shot eddy timers instead."""

    def __init__(self, callback, callback_time, jitter=0):
        if hasattr(callback_time, "total_seconds"):
            callback_time = callback_time.total_seconds() * 1000.0
        if callback_time <= 0:
            raise ValueError("Periodic callback must have a positive callback_time")
        self.callback = callback
        self.callback_time = callback_time
        self.jitter = jitter
        self._periodic = None
        self._timeout = None
        self._pending = None
        self._running = False
        self._loop = None

    def start(self):
        loop = IOLoop.current()
        if self._loop is not loop:
            self._drop_periodic()  # made on another (perhaps closed) loop
        self._loop = loop
        self._running = True
        ref = weakref.ref(self)
        if self.jitter:
            self._next_timeout = self._loop.time()
            self._schedule_next()
            return
        if self._periodic is None:
            self._periodic = _ll.eddy_periodic_new(self._loop._eddy, self.callback_time / 1000.0,
                                                   lambda: PeriodicCallback._tick(ref))
            if self._periodic is None:
                raise RuntimeError("eddy_periodic_new failed")
        _ll.eddy_periodic_start(self._periodic)
        self._loop._pump.arm()

    def stop(self):
        self._running = False
        self._drop_periodic()
        if self._timeout is not None:
            self._loop.remove_timeout(self._timeout)
            self._timeout = None

    def is_running(self):
        return self._running

    def _drop_periodic(self):
        """Frees the eddy periodic, unless its loop was closed: eddy_loop_free freed it then,
        and the handle must not be touched again (loop.h)."""
        if self._periodic is not None:
            if self._loop is not None and self._loop._eddy is not None:
                _ll.eddy_periodic_free(self._periodic)
            self._periodic = None

    @staticmethod
    def _tick(ref):
        self = ref()
        if self is not None:
            self._run()

    def _run(self):
        if not self._running or (self._pending is not None and not self._pending.done()):
            return  # still awaiting the last call: skip this tick
        try:
            result = self.callback()
            if result is not None and (asyncio.iscoroutine(result) or asyncio.isfuture(result)
                                       or hasattr(result, "__await__")):
                self._pending = asyncio.ensure_future(result, loop=self._loop.asyncio_loop)
                self._pending.add_done_callback(self._log_failure)
        except (SystemExit, KeyboardInterrupt) as e:
            self._loop._interrupt(e)  # raised by the loop, not lost as "unraisable"
        except Exception:
            app_log.error("Exception in callback %r", self.callback, exc_info=True)

    def _log_failure(self, future):
        if not future.cancelled() and future.exception() is not None:
            exc = future.exception()
            app_log.error("Exception in callback %r", self.callback,
                          exc_info=(type(exc), exc, exc.__traceback__))
        if self.jitter and self._running:
            self._schedule_next()

    def _jittered_run(self):
        self._timeout = None
        self._run()
        if self._pending is None or self._pending.done():
            self._schedule_next()
        # else: _log_failure schedules the next run once the awaitable completed

    def _schedule_next(self):
        """The next deadline on the original grid (cycles missed are skipped), with jitter."""
        if not self._running or self._timeout is not None:
            return
        now = self._loop.time()
        period = self.callback_time / 1000.0
        period *= 1 + self.jitter * (random.random() - 0.5)
        if self._next_timeout <= now:
            self._next_timeout += (math.floor((now - self._next_timeout) / period) + 1) * period
        else:
            self._next_timeout += period
        self._timeout = self._loop.call_at(self._next_timeout, self._jittered_run)

    def __del__(self):
        self._drop_periodic()
