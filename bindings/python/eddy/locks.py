"""eddy.locks: tornado.locks (Condition, Event, Semaphore, BoundedSemaphore, Lock) on asyncio
futures; timeouts (an IOLoop.time() deadline or a timedelta) run on eddy's timers and raise
asyncio.TimeoutError (which Tornado 6 calls tornado.util.TimeoutError)."""

import asyncio
import collections

from .ioloop import IOLoop

__all__ = ["Condition", "Event", "Semaphore", "BoundedSemaphore", "Lock"]


def _delay(loop, timeout):
    """Seconds until `timeout` (a timedelta, or a deadline on loop.time())."""
    if hasattr(timeout, "total_seconds"):
        return max(timeout.total_seconds(), 0)
    return max(timeout - loop.time(), 0)


def _fail_on_timeout(waiter, timeout, on_timeout=None):
    """Makes `waiter` fail with asyncio.TimeoutError at `timeout` unless done before."""
    if timeout is None:
        return
    loop = IOLoop.current()

    def expire():
        if not waiter.done():
            waiter.set_exception(asyncio.TimeoutError())
        if on_timeout is not None:
            on_timeout()

    handle = loop.call_later(_delay(loop, timeout), expire)
    waiter.add_done_callback(lambda _: loop.remove_timeout(handle))


class Condition:
    """wait() returns a future that notify()/notify_all() resolve with True (False after the
    optional timeout)."""

    def __init__(self):
        self._waiters = collections.deque()

    def wait(self, timeout=None):
        loop = IOLoop.current()
        waiter = loop.asyncio_loop.create_future()
        self._waiters.append(waiter)
        if timeout is not None:
            def on_timeout():
                if not waiter.done():
                    waiter.set_result(False)
                self._garbage_collect()

            delay = timeout.total_seconds() if hasattr(timeout, "total_seconds") else timeout - loop.time()
            handle = loop.call_later(max(delay, 0), on_timeout)
            waiter.add_done_callback(lambda _: loop.remove_timeout(handle))
        return waiter

    def notify(self, n=1):
        waiters = []
        while n and self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                n -= 1
                waiters.append(waiter)
        for waiter in waiters:
            waiter.set_result(True)

    def notify_all(self):
        self.notify(len(self._waiters))

    def _garbage_collect(self):
        self._waiters = collections.deque(w for w in self._waiters if not w.done())


class Event:
    def __init__(self):
        self._value = False
        self._waiters = set()

    def is_set(self):
        return self._value

    def set(self):
        if not self._value:
            self._value = True
            for fut in self._waiters:
                if not fut.done():
                    fut.set_result(None)

    def clear(self):
        self._value = False

    def wait(self, timeout=None):
        fut = IOLoop.current().asyncio_loop.create_future()
        if self._value:
            fut.set_result(None)
            return fut
        self._waiters.add(fut)
        fut.add_done_callback(self._waiters.discard)
        if timeout is None:
            return fut
        delay = timeout.total_seconds() if hasattr(timeout, "total_seconds") else timeout - IOLoop.current().time()
        return asyncio.ensure_future(asyncio.wait_for(asyncio.shield(fut), max(delay, 0)))


class _ReleasingContextManager:
    """What an acquired Semaphore's future resolves to: `with (yield sem.acquire()):`."""

    def __init__(self, obj):
        self._obj = obj

    def __enter__(self):
        return None

    def __exit__(self, exc_type, exc_val, exc_tb):
        self._obj.release()


class Semaphore:
    """acquire() waits while the counter is 0 (FIFO); release() increments it."""

    def __init__(self, value=1):
        if value < 0:
            raise ValueError("semaphore initial value must be >= 0")
        self._value = value
        self._waiters = collections.deque()

    def __repr__(self):
        state = "locked" if self._value == 0 else "unlocked,value:%d" % self._value
        if self._waiters:
            state += ",waiters:%d" % len(self._waiters)
        return "<%s [%s]>" % (type(self).__name__, state)

    def release(self):
        self._value += 1
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                self._value -= 1
                waiter.set_result(_ReleasingContextManager(self))
                break

    def acquire(self, timeout=None):
        waiter = IOLoop.current().asyncio_loop.create_future()
        if self._value > 0:
            self._value -= 1
            waiter.set_result(_ReleasingContextManager(self))
            return waiter
        self._waiters.append(waiter)
        _fail_on_timeout(waiter, timeout, self._garbage_collect)
        return waiter

    def _garbage_collect(self):
        self._waiters = collections.deque(w for w in self._waiters if not w.done())

    def __enter__(self):
        raise RuntimeError("Use 'async with' instead of 'with' for Semaphore")

    def __exit__(self, typ, value, traceback):
        self.__enter__()

    async def __aenter__(self):
        await self.acquire()

    async def __aexit__(self, typ, value, tb):
        self.release()


class BoundedSemaphore(Semaphore):
    """A Semaphore whose release() raises ValueError beyond the initial value."""

    def __init__(self, value=1):
        super().__init__(value=value)
        self._initial_value = value

    def release(self):
        if self._value >= self._initial_value:
            raise ValueError("Semaphore released too many times")
        super().release()


class Lock:
    """A coroutine lock: `async with lock:` or `await lock.acquire()` ... `lock.release()`."""

    def __init__(self):
        self._block = BoundedSemaphore(value=1)

    def __repr__(self):
        return "<%s _block=%s>" % (type(self).__name__, self._block)

    def acquire(self, timeout=None):
        return self._block.acquire(timeout)

    def release(self):
        try:
            self._block.release()
        except ValueError:
            raise RuntimeError("release unlocked lock")

    def __enter__(self):
        raise RuntimeError("Use `async with` instead of `with` for Lock")

    def __exit__(self, typ, value, tb):
        self.__enter__()

    async def __aenter__(self):
        await self.acquire()

    async def __aexit__(self, typ, value, tb):
        self.release()
