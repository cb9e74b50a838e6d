"""gen, locks, queues and IOLoop: one coroutine scenario run on python3-tornado and on eddy.

The scenario records a trace (what each step returned or raised, in which order); both traces
must be equal. Orders depend only on timer deadlines (a timer due earlier fires first), never
on how long something took. Also IOLoop.close(): from a coroutine with work still queued, and
refused inside eddy's own callbacks."""

import asyncio
import concurrent.futures
import datetime
import socket
import threading
import unittest

import eddy.gen
import eddy.ioloop
import eddy.iostream
import eddy.locks
import eddy.queues
import eddy.tcpclient
import eddy.tcpserver

try:
    import tornado.gen
    import tornado.ioloop
    import tornado.locks
    import tornado.queues
except ImportError:  # CI installs python3-tornado (scripts/deps/core.txt)
    tornado = None


def name(exc):
    return type(exc).__name__


async def scenario(gen, locks, queues, ioloop, trace):
    loop = ioloop.IOLoop.current()

    async def echo(value, delay):
        await gen.sleep(delay)
        return value

    async def fail(exc):
        await gen.sleep(0)
        raise exc

    # ---- gen -------------------------------------------------------------------------------
    trace.append(("multi list", await gen.multi([echo(1, 0.02), echo(2, 0.01)])))
    trace.append(("multi dict", await gen.multi({"a": echo("x", 0), "b": echo("y", 0)})))
    trace.append(("multi empty", await gen.multi([]), await gen.multi({})))
    try:
        await gen.multi([fail(ValueError("first")), echo(1, 0)])
    except ValueError as e:
        trace.append(("multi failed", str(e)))
    slow = gen.convert_yielded(echo("slow", 0.05))
    try:
        await gen.with_timeout(datetime.timedelta(seconds=0.01), slow)
    except gen.TimeoutError as e:
        trace.append(("with_timeout", name(e), isinstance(e, asyncio.TimeoutError)))
    trace.append(("not cancelled", slow.cancelled(), await slow))
    trace.append(("in time", await gen.with_timeout(loop.time() + 5, echo("ok", 0))))
    future = gen.convert_yielded
    waiter = gen.WaitIterator(future(echo("a", 0.03)), future(echo("b", 0.01)),
                              future(echo("c", 0.02)))
    while not waiter.done():
        result = await waiter.next()
        trace.append(("wait iterator", waiter.current_index, result))
    async for result in gen.WaitIterator(k1=future(echo("late", 0.02)),
                                         k2=future(echo("early", 0))):
        trace.append(("async for", result))
    trace.append(("maybe_future", await gen.maybe_future(5)))

    @gen.coroutine
    def legacy(x):
        a, b = yield [echo(x, 0), echo(x + 1, 0)]
        yield gen.moment
        yield gen.sleep(0)
        raise gen.Return(a + b)

    trace.append(("legacy", await legacy(3), gen.is_coroutine_function(legacy),
                  gen.is_coroutine_function(echo), gen.is_coroutine_function(len)))

    # ---- ioloop ----------------------------------------------------------------------------
    order = []
    done = asyncio.Event()
    loop.call_later(0.02, order.append, "later 0.02")
    loop.call_at(loop.time() + 0.01, order.append, "at +0.01")
    cancelled = loop.call_later(0.005, order.append, "removed")
    loop.remove_timeout(cancelled)
    loop.add_timeout(datetime.timedelta(seconds=0.03), done.set)
    loop.add_callback(order.append, "callback 1")
    loop.spawn_callback(order.append, "callback 2")
    await done.wait()
    trace.append(("ioloop order", order))
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        got = asyncio.Event()
        loop.add_future(pool.submit(sum, [1, 2]), lambda f: (trace.append(
            ("add_future", f.result())), got.set()))
        await got.wait()
        trace.append(("run_in_executor", await loop.run_in_executor(None, sum, [3, 4])))

    # PeriodicCallback: an async callback is not called again before it completed.
    def counting_callback(state, release):
        async def periodic():
            state["running"] += 1
            state["runs"] += 1
            state["max"] = max(state["max"], state["running"])
            if state["runs"] == 1:
                await release.wait()  # the first call spans many periods
            state["running"] -= 1

        return periodic

    for jitter in (0, 0.5):
        # Each round has its own state: a call started just before stop() cannot leak over.
        state = {"running": 0, "max": 0, "runs": 0}
        release = asyncio.Event()
        pc = ioloop.PeriodicCallback(counting_callback(state, release), 5, jitter=jitter)
        pc.start()
        while state["runs"] < 1:
            await gen.sleep(0.005)
        await gen.sleep(0.05)
        release.set()
        while state["runs"] < 3:
            await gen.sleep(0.005)
        pc.stop()
        trace.append(("periodic", jitter, state["max"], pc.is_running()))

    # ---- locks -----------------------------------------------------------------------------
    lock = locks.Lock()
    entered = []

    async def critical(tag):
        async with lock:
            entered.append(tag + " in")
            await gen.sleep(0)
            entered.append(tag + " out")

    await gen.multi([critical("a"), critical("b")])
    trace.append(("lock", entered))
    try:
        lock.release()
    except RuntimeError as e:
        trace.append(("lock release", name(e)))
    await lock.acquire()
    try:
        await lock.acquire(timeout=datetime.timedelta(seconds=0.01))
    except gen.TimeoutError as e:
        trace.append(("lock timeout", name(e)))
    lock.release()

    sem = locks.Semaphore(2)
    running = []

    async def limited(tag):
        async with sem:
            running.append(tag)
            await gen.sleep(0.01)
            running.append("-" + tag)

    await gen.multi([limited("1"), limited("2"), limited("3")])
    trace.append(("semaphore", running))
    bounded = locks.BoundedSemaphore(1)
    try:
        bounded.release()
    except ValueError as e:
        trace.append(("bounded", name(e)))
    with (await bounded.acquire()):
        trace.append(("held", repr(bounded).split("[")[1]))
    trace.append(("released", repr(bounded).split("[")[1]))

    condition = locks.Condition()
    woken = []

    async def waiter_task(tag):
        woken.append((tag, await condition.wait()))

    tasks = [gen.convert_yielded(waiter_task(t)) for t in ("w1", "w2")]
    await gen.sleep(0)
    condition.notify()
    await gen.sleep(0)
    condition.notify_all()
    await gen.multi(tasks)
    trace.append(("condition", woken, await condition.wait(timeout=loop.time() + 0.01)))
    event = locks.Event()
    try:
        await event.wait(timeout=datetime.timedelta(seconds=0.01))
    except gen.TimeoutError as e:
        trace.append(("event timeout", name(e)))
    loop.call_later(0.01, event.set)
    await event.wait()
    trace.append(("event", event.is_set()))

    # ---- queues ----------------------------------------------------------------------------
    q = queues.Queue(maxsize=1)
    consumed = []

    async def consumer():
        async for item in q:
            consumed.append(item)
            await gen.sleep(0)
            q.task_done()

    async def producer():
        for i in range(4):
            await q.put(i)
            consumed.append("put %d" % i)

    consuming = gen.convert_yielded(consumer())
    await producer()
    await q.join()
    consuming.cancel()
    trace.append(("queue", consumed, q.qsize(), q.empty(), q.full(), q.maxsize))
    q.put_nowait("x")
    for attempt in (lambda: q.put_nowait("y"), lambda: q.get_nowait()):
        try:
            trace.append(("nowait", attempt()))
        except (queues.QueueFull, queues.QueueEmpty) as e:
            trace.append(("nowait", name(e)))
    empty = queues.Queue()
    try:
        await empty.get(timeout=datetime.timedelta(seconds=0.01))
    except gen.TimeoutError as e:
        trace.append(("get timeout", name(e)))
    try:
        empty.task_done()
    except ValueError as e:
        trace.append(("task_done", name(e)))
    for cls in (queues.PriorityQueue, queues.LifoQueue):
        pq = cls()
        for item in ((2, "b"), (1, "a"), (3, "c")):
            pq.put_nowait(item)
        trace.append((cls.__name__, [pq.get_nowait() for _ in range(3)]))
    return "done"


def run_tornado():
    aloop = asyncio.SelectorEventLoop()
    asyncio.set_event_loop(aloop)
    trace = []
    try:
        result = tornado.ioloop.IOLoop.current().run_sync(
            lambda: scenario(tornado.gen, tornado.locks, tornado.queues, tornado.ioloop, trace),
            timeout=30)
    finally:
        asyncio.set_event_loop(None)
        aloop.close()
    return result, trace


def run_eddy():
    loop = eddy.ioloop.IOLoop()
    trace = []
    try:
        result = loop.run_sync(
            lambda: scenario(eddy.gen, eddy.locks, eddy.queues, eddy.ioloop, trace), timeout=30)
    finally:
        loop.close()
        asyncio.set_event_loop(None)
    return result, trace


@unittest.skipIf(tornado is None, "python3-tornado is not installed")
class SameTrace(unittest.TestCase):
    maxDiff = None

    def test_scenario(self):
        expected = run_tornado()
        got = run_eddy()
        self.assertEqual(expected[0], "done")
        self.assertEqual(len(got[1]), len(expected[1]), got[1])
        for step, (mine, theirs) in enumerate(zip(got[1], expected[1])):
            with self.subTest(step=step, what=theirs[0]):
                self.assertEqual(mine, theirs)
        self.assertEqual(got[0], "done")

    def test_run_sync_timeout(self):
        loop = eddy.ioloop.IOLoop()
        try:
            with self.assertRaises(eddy.ioloop.TimeoutError):
                loop.run_sync(lambda: eddy.gen.sleep(5), timeout=0.01)
        finally:
            loop.close()
            asyncio.set_event_loop(None)


class Close(unittest.TestCase):
    """IOLoop.close() frees the eddy loop: nothing asyncio still has queued may touch it after
    (that crashed), and it must not happen inside one of eddy's own callbacks (loop.h)."""

    def test_close_from_a_coroutine_with_work_queued(self):
        """add_callback queued a pump run in asyncio, call_later armed the pump's timer and a
        read waits on eddy's fd: after close() none of them may run eddy_loop_run_once."""
        ran = []

        async def main():
            io = eddy.ioloop.IOLoop.current()
            server = eddy.tcpserver.TCPServer()
            server.handle_stream = lambda stream, address: None
            server.listen(0, "127.0.0.1")
            stream = await eddy.tcpclient.TCPClient().connect("127.0.0.1", server.port)
            read = stream.read_bytes(1)
            io.call_later(0.01, ran.append, "timer")
            io.add_callback(ran.append, "callback")
            io.close()
            with self.assertRaises(eddy.iostream.StreamClosedError):
                await read
            await asyncio.sleep(0.05)  # past the timer's deadline
            return "survived"

        self.assertEqual(asyncio.run(main()), "survived")
        self.assertEqual(ran, [])  # dropped with the loop

    def test_close_inside_an_eddy_callback_raises(self):
        """From add_callback or a synchronous handle_stream (both run inside
        eddy_loop_run_once) close() raises RuntimeError and the loop goes on; stop() there and
        close() after start() returned is the way (as in Tornado)."""
        errors = []

        def try_close():
            try:
                eddy.ioloop.IOLoop.current().close()
            except RuntimeError as e:
                errors.append(str(e))

        class Server(eddy.tcpserver.TCPServer):
            def handle_stream(self, stream, address):
                try_close()
                stream.close()

        async def main():
            io = eddy.ioloop.IOLoop.current()
            io.add_callback(try_close)
            server = Server()
            server.listen(0, "127.0.0.1")
            client = await asyncio.to_thread(socket.create_connection,
                                             ("127.0.0.1", server.port), 20)
            client.settimeout(20)
            self.assertEqual(await asyncio.to_thread(client.recv, 1), b"")  # handled after all
            client.close()
            done = asyncio.get_running_loop().create_future()
            io.add_callback(done.set_result, "still running")
            return await done

        self.assertEqual(asyncio.run(main()), "still running")
        self.assertEqual(len(errors), 2)
        self.assertTrue(all("called from a callback" in e for e in errors), errors)

        io = eddy.ioloop.IOLoop()
        try:
            io.add_callback(io.stop)
            io.start()
        finally:
            io.close()
            asyncio.set_event_loop(None)
        self.assertTrue(io._closed)


    def test_periodic_callback_outlives_its_closed_loop(self):
        """eddy_loop_free frees a periodic still open: stop() after close() must not free it
        again (a double free), and start() on a new loop makes a new one."""
        ticks = []
        old = eddy.ioloop.IOLoop()
        try:
            pc = eddy.ioloop.PeriodicCallback(lambda: ticks.append(1), 1)
            pc.start()
        finally:
            old.close()
        pc.stop()
        pc.stop()
        new = eddy.ioloop.IOLoop()
        try:
            pc.start()

            def stop_after_ticks():
                if len(ticks) >= 2:
                    new.stop()
                else:
                    new.call_later(0.005, stop_after_ticks)

            new.add_callback(stop_after_ticks)
            new.start()
            pc.stop()
        finally:
            new.close()
            asyncio.set_event_loop(None)
        self.assertGreaterEqual(len(ticks), 2)

    def test_keyboard_interrupt_in_a_periodic_callback_reaches_the_loop(self):
        def interrupt():
            raise KeyboardInterrupt

        io = eddy.ioloop.IOLoop()
        try:
            pc = eddy.ioloop.PeriodicCallback(interrupt, 1)
            pc.start()
            io.call_later(5, io.stop)  # bound: without the fix the loop just goes on
            with self.assertRaises(KeyboardInterrupt):
                io.start()
            pc.stop()
        finally:
            io.close()
            asyncio.set_event_loop(None)


class OtherThreads(unittest.TestCase):
    def test_only_add_callback_from_another_thread(self):
        # The loop is not thread-safe: call_later from a worker while the loop ran crashed the
        # process. Now it is refused; add_callback still works from any thread.
        async def main():
            io = eddy.ioloop.IOLoop.current()
            got = asyncio.get_running_loop().create_future()

            def worker():
                errors = []
                for call in (lambda: io.call_later(0.01, lambda: None),
                             lambda: io.call_at(io.time(), lambda: None),
                             lambda: io.add_handler(0, lambda fd, ev: None, io.READ)):
                    try:
                        call()
                    except RuntimeError as e:
                        errors.append("another thread" in str(e))
                io.add_callback(lambda: got.set_result(errors))

            with concurrent.futures.ThreadPoolExecutor(1) as pool:
                await asyncio.get_running_loop().run_in_executor(pool, worker)
            return await asyncio.wait_for(got, 10)

        self.assertEqual(asyncio.run(main()), [True, True, True])

    def test_close_from_another_thread_is_refused_while_the_loop_thread_lives(self):
        """close() from a worker raced the loop thread's pump (its closed check against
        eddy_loop_run_once); now it raises RuntimeError and the loop goes on. Once the loop's
        thread ended, close() from another thread works."""

        async def main():
            io = eddy.ioloop.IOLoop.current()

            def worker():
                try:
                    io.close()
                except RuntimeError as e:
                    return str(e)
                return "closed from a worker"

            with concurrent.futures.ThreadPoolExecutor(1) as pool:
                said = await asyncio.get_running_loop().run_in_executor(pool, worker)
            self.assertFalse(io._closed)
            done = asyncio.get_running_loop().create_future()
            io.add_callback(done.set_result, "still running")  # the eddy loop still works
            return said, await asyncio.wait_for(done, 10)

        said, running = asyncio.run(main())
        self.assertIn("another thread", said)
        self.assertEqual(running, "still running")

        made = []

        def make_loop():
            made.append(eddy.ioloop.IOLoop(asyncio.new_event_loop(), make_current=False))

        thread = threading.Thread(target=make_loop)
        thread.start()
        thread.join()
        made[0].close()  # its thread is gone: nothing can race
        self.assertTrue(made[0]._closed)


if __name__ == "__main__":
    unittest.main()
