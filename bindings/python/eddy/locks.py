"""eddy.locks: tornado.locks' Condition and Event on asyncio futures."""

import asyncio
import collections

from .ioloop import IOLoop


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
