"""Lua binding, errors: a Lua error in a handler (directly, after a coroutine sleep, in prepare,
in write_error) answers 500 and logs a traceback; the loop keeps serving; HTTPError picks the
status without a traceback."""
import os
import unittest

from luatest import HERE, LuaServer, main

class Errors(unittest.TestCase):
    def test_errors_give_500_and_a_traceback_and_the_loop_survives(self):
        server = LuaServer(os.path.join(HERE, "server.lua"))
        try:
            for path in ("/error", "/sleep_error", "/prepare_error"):
                status, _, body = server.request("GET", path)
                self.assertEqual(status, 500, path)
                self.assertIn(b"500", body)
                self.assertEqual(server.request("GET", "/")[2], b"Hello, world")
            self.assertEqual(server.request("GET", "/httperror")[0], 403)
            status, _, _ = server.request("GET", "/write_error_fails")
            self.assertIn(status, (409, 500))
            self.assertEqual(server.request("GET", "/")[2], b"Hello, world")
            # A handler object kept past its request refuses calls instead of touching freed memory.
            self.assertEqual(server.request("GET", "/stale/keep")[2], b"kept")
            self.assertEqual(server.request("GET", "/stale/use")[0], 500)
            self.assertEqual(server.request("POST", "/stop")[2], b"bye")
            server.proc.wait(10)
            self.assertEqual(server.proc.returncode, 0)
        finally:
            err = server.stop()
        # One traceback per failing handler, each naming the Lua source line.
        self.assertIn("attempt to index a nil value", err)
        self.assertIn("after sleep", err)
        self.assertIn("prepare boom", err)
        self.assertIn("write_error itself fails", err)
        self.assertIn("the handler is already finished", err)
        self.assertGreaterEqual(err.count("stack traceback"), 4, err)
        self.assertIn("server.lua:", err)
        self.assertNotIn("HTTP 403", err)

if __name__ == "__main__":
    main()
