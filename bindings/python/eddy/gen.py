"""eddy.gen: the parts of tornado.gen that still matter with async/await."""

import asyncio
import functools
import inspect

from .ioloop import IOLoop


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


async def multi(children):
    if isinstance(children, dict):
        keys = list(children)
        values = await asyncio.gather(*children.values())
        return dict(zip(keys, values))
    return list(await asyncio.gather(*children))


def convert_yielded(yielded):
    if isinstance(yielded, (list, dict)):
        return asyncio.ensure_future(multi(yielded))
    return asyncio.ensure_future(yielded)


def with_timeout(timeout, future, quiet_exceptions=()):
    loop = IOLoop.current()
    if hasattr(timeout, "total_seconds"):
        delay = timeout.total_seconds()
    else:
        delay = timeout - loop.time()
    return asyncio.ensure_future(asyncio.wait_for(future, max(delay, 0)))


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
            value, error = (await convert_yielded(yielded) if yielded is not None else None), None
        except Exception as e:
            value, error = None, e
