"""eddy.gen: the parts of tornado.gen that still matter with async/await."""

import asyncio
import concurrent.futures
import functools
import inspect
import logging

from .ioloop import IOLoop

app_log = logging.getLogger("eddy.application")

# Tornado 6's tornado.util.TimeoutError (and gen.TimeoutError) is asyncio's.
TimeoutError = asyncio.TimeoutError


def is_future(x):
    return asyncio.isfuture(x) or isinstance(x, concurrent.futures.Future)


def is_coroutine_function(func):
    """True for a function decorated with gen.coroutine (as in Tornado, not for `async def`:
    use inspect.iscoroutinefunction for those)."""
    return getattr(func, "__tornado_coroutine__", False)


def maybe_future(x):
    """`x` as a future (deprecated in Tornado too; await the value instead)."""
    if is_future(x):
        return x
    future = IOLoop.current().asyncio_loop.create_future()
    future.set_result(x)
    return future


def sleep(duration):
    """Returns a future that resolves `duration` seconds later, timed by eddy's loop."""
    loop = IOLoop.current()
    future = loop.asyncio_loop.create_future()

    def done():
        if not future.done():
            future.set_result(None)

    handle = loop.call_later(duration, done)
    future.add_done_callback(lambda f: f.cancelled() and loop.remove_timeout(handle))
    return future


class _Moment:
    def __await__(self):
        yield


moment = _Moment()


def multi(children, quiet_exceptions=()):
    """A future for a list or dict of awaitables, resolving to their results in the same
    shape. The first failure fails it; later failures are logged unless their type is in
    quiet_exceptions."""
    loop = IOLoop.current().asyncio_loop
    keys = list(children) if isinstance(children, dict) else None
    futures = [convert_yielded(c) for c in (children.values() if keys is not None else children)]
    result = loop.create_future()
    if not futures:
        result.set_result({} if keys is not None else [])
        return result
    pending = set(futures)

    def child_done(future):
        pending.discard(future)
        if future.cancelled():
            if not result.done():
                result.cancel()
        elif future.exception() is not None:
            if not result.done():
                result.set_exception(future.exception())
            elif not isinstance(future.exception(), quiet_exceptions):
                exc = future.exception()
                app_log.error("Multiple exceptions in yield list",
                              exc_info=(type(exc), exc, exc.__traceback__))
        if not pending and not result.done():
            values = [f.result() for f in futures]
            result.set_result(dict(zip(keys, values)) if keys is not None else values)

    for future in futures:
        future.add_done_callback(child_done)
    return result


multi_future = multi


def convert_yielded(yielded):
    """A future for what a legacy coroutine may yield (awaitables, lists and dicts of them,
    concurrent futures, None = moment)."""
    loop = IOLoop.current().asyncio_loop
    if yielded is None or yielded is moment:
        future = loop.create_future()
        loop.call_soon(lambda: future.done() or future.set_result(None))
        return future
    if isinstance(yielded, (list, dict)):
        return multi(yielded)
    if isinstance(yielded, concurrent.futures.Future):
        return asyncio.wrap_future(yielded, loop=loop)
    return asyncio.ensure_future(yielded, loop=loop)


def with_timeout(timeout, future, quiet_exceptions=()):
    """A future that resolves as `future` does, or fails with TimeoutError at `timeout` (an
    IOLoop.time() deadline or a timedelta). As in Tornado, `future` itself is not cancelled;
    its later failure is logged unless its type is in quiet_exceptions."""
    loop = IOLoop.current()
    future = convert_yielded(future)
    result = loop.asyncio_loop.create_future()

    def copy(f):
        if result.done():
            return
        if f.cancelled():
            result.cancel()
        elif f.exception() is not None:
            result.set_exception(f.exception())
        else:
            result.set_result(f.result())

    def log_late_error(f):
        if not f.cancelled() and f.exception() is not None and not isinstance(
                f.exception(), quiet_exceptions):
            exc = f.exception()
            app_log.error("Exception in Future %r after timeout", f,
                          exc_info=(type(exc), exc, exc.__traceback__))

    def expire():
        if not result.done():
            result.set_exception(TimeoutError("Timeout"))
            future.add_done_callback(log_late_error)

    handle = loop.add_timeout(timeout, expire)
    future.add_done_callback(copy)
    result.add_done_callback(lambda _: loop.remove_timeout(handle))
    return result


class WaitIterator:
    """Yields futures' results in completion order:
    `it = WaitIterator(f1, f2); while not it.done(): r = await it.next()` (it.current_index
    says which one), or `async for r in WaitIterator(...)`. Keyword arguments give dict keys
    as current_index."""

    def __init__(self, *args, **kwargs):
        if args and kwargs:
            raise ValueError("You must provide args or kwargs, not both")
        if kwargs:
            self._unfinished = {convert_yielded(f): k for k, f in kwargs.items()}
        else:
            self._unfinished = {convert_yielded(f): i for i, f in enumerate(args)}
        self._finished = []
        self._running = None
        self.current_index = None
        self.current_future = None
        for future in list(self._unfinished):
            future.add_done_callback(self._done_callback)

    def done(self):
        if self._finished or self._unfinished:
            return False
        self.current_index = self.current_future = None
        return True

    def next(self):
        """A future for the next result to complete."""
        self._running = IOLoop.current().asyncio_loop.create_future()
        if self._finished:
            self._return(self._finished.pop(0))
        return self._running

    def _done_callback(self, future):
        if self._running is not None and not self._running.done():
            self._return(future)
        else:
            self._finished.append(future)

    def _return(self, done):
        self.current_index = self._unfinished.pop(done)
        self.current_future = done
        if done.cancelled():
            self._running.cancel()
        elif done.exception() is not None:
            self._running.set_exception(done.exception())
        else:
            self._running.set_result(done.result())

    def __aiter__(self):
        return self

    def __anext__(self):
        if self.done():
            raise StopAsyncIteration()
        return self.next()


class Return(Exception):
    """Legacy: `raise gen.Return(value)` from a @coroutine generator."""

    def __init__(self, value=None):
        super().__init__()
        self.value = value


def coroutine(func):
    """Legacy decorator: a generator function whose `yield`s await futures/coroutines (lists
    and dicts run in parallel). Calling it returns a future, as in Tornado."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            result = func(*args, **kwargs)
        except (Return, StopIteration) as e:
            result = getattr(e, "value", None)
        except Exception as e:
            future = IOLoop.current().asyncio_loop.create_future()
            future.set_exception(e)
            return future
        if inspect.isgenerator(result):
            return asyncio.ensure_future(_drive(result), loop=IOLoop.current().asyncio_loop)
        future = IOLoop.current().asyncio_loop.create_future()
        future.set_result(result)
        return future

    wrapper.__tornado_coroutine__ = True
    return wrapper


async def _drive(generator):
    value, error = None, None
    while True:
        try:
            yielded = generator.throw(error) if error is not None else generator.send(value)
        except StopIteration as e:
            return e.value
        except Return as e:
            return e.value
        try:
            value, error = await convert_yielded(yielded), None
        except Exception as e:
            value, error = None, e
