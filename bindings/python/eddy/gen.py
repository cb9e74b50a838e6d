"""eddy.gen: the parts of tornado.gen that still matter with async/await."""

import asyncio

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
