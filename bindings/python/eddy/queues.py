"""eddy.queues: tornado.queues (Queue, PriorityQueue, LifoQueue) for coroutines on one IOLoop.

put()/get()/join() return awaitables; with a timeout (an IOLoop.time() deadline or a
timedelta) they fail with asyncio.TimeoutError, timed by eddy's loop. Not thread-safe, as in
Tornado: use it from the loop's thread."""

import asyncio
import collections
import heapq

from .ioloop import IOLoop
from .locks import Event, _fail_on_timeout

__all__ = ["Queue", "PriorityQueue", "LifoQueue", "QueueFull", "QueueEmpty"]


class QueueEmpty(Exception):
    """get_nowait() on an empty queue."""


class QueueFull(Exception):
    """put_nowait() on a full queue."""


class _QueueIterator:
    def __init__(self, q):
        self.q = q

    def __anext__(self):
        return self.q.get()


class Queue:
    """A FIFO queue; maxsize 0 means unbounded. `async for item in q:` gets items forever."""

    def __init__(self, maxsize=0):
        if maxsize is None:
            raise TypeError("maxsize can't be None")
        if maxsize < 0:
            raise ValueError("maxsize can't be negative")
        self._maxsize = maxsize
        self._init()
        self._getters = collections.deque()
        self._putters = collections.deque()  # (item, future)
        self._unfinished_tasks = 0
        self._finished = Event()
        self._finished.set()

    @property
    def maxsize(self):
        return self._maxsize

    def qsize(self):
        return len(self._queue)

    def empty(self):
        return not self._queue

    def full(self):
        return self._maxsize > 0 and self.qsize() >= self._maxsize

    def put(self, item, timeout=None):
        """An awaitable that completes once `item` is in the queue."""
        future = IOLoop.current().asyncio_loop.create_future()
        try:
            self.put_nowait(item)
        except QueueFull:
            self._putters.append((item, future))
            _fail_on_timeout(future, timeout, self._forget_done)
        else:
            future.set_result(None)
        return future

    def put_nowait(self, item):
        self._consume_expired()
        if self._getters:
            getter = self._getters.popleft()
            self._put_internal(item)
            getter.set_result(self._get())
        elif self.full():
            raise QueueFull
        else:
            self._put_internal(item)

    def get(self, timeout=None):
        """An awaitable resolving to the next item."""
        future = IOLoop.current().asyncio_loop.create_future()
        try:
            future.set_result(self.get_nowait())
        except QueueEmpty:
            self._getters.append(future)
            _fail_on_timeout(future, timeout, self._forget_done)
        return future

    def get_nowait(self):
        self._consume_expired()
        if self._putters:
            item, putter = self._putters.popleft()
            self._put_internal(item)
            putter.set_result(None)
            return self._get()
        if self.qsize():
            return self._get()
        raise QueueEmpty

    def task_done(self):
        """Marks one got item as processed (for join())."""
        if self._unfinished_tasks <= 0:
            raise ValueError("task_done() called too many times")
        self._unfinished_tasks -= 1
        if self._unfinished_tasks == 0:
            self._finished.set()

    def join(self, timeout=None):
        """An awaitable that completes when every item put was marked task_done()."""
        return self._finished.wait(timeout)

    def __aiter__(self):
        return _QueueIterator(self)

    # Subclasses change the order through these three.
    def _init(self):
        self._queue = collections.deque()

    def _get(self):
        return self._queue.popleft()

    def _put(self, item):
        self._queue.append(item)

    def _put_internal(self, item):
        self._unfinished_tasks += 1
        self._finished.clear()
        self._put(item)

    def _consume_expired(self):
        # Waiters whose timeout fired (or that were cancelled) are skipped.
        while self._putters and self._putters[0][1].done():
            self._putters.popleft()
        while self._getters and self._getters[0].done():
            self._getters.popleft()

    def _forget_done(self):
        self._putters = collections.deque(p for p in self._putters if not p[1].done())
        self._getters = collections.deque(g for g in self._getters if not g.done())

    def __repr__(self):
        return "<%s maxsize=%r queue=%r tasks=%d>" % (type(self).__name__, self.maxsize,
                                                      list(self._queue), self._unfinished_tasks)


class PriorityQueue(Queue):
    """Lowest first (items are usually (priority, data) tuples)."""

    def _init(self):
        self._queue = []

    def _put(self, item):
        heapq.heappush(self._queue, item)

    def _get(self):
        return heapq.heappop(self._queue)


class LifoQueue(Queue):
    """Last in, first out."""

    def _init(self):
        self._queue = []

    def _put(self, item):
        self._queue.append(item)

    def _get(self):
        return self._queue.pop()
