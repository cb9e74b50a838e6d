"""The examples run as shipped: Tornado's hello world, the long-polling chat demo and the
WebSocket chat demo (driven by eddy's own websocket_connect)."""

import asyncio
import http.client
import json
import importlib.util
import os
import subprocess
import sys
import threading
import unittest
import urllib.parse

import support

EXAMPLES = os.environ.get("EDDY_PY_EXAMPLES",
                          os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "examples"))


def load(path, name):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class HelloWorldTest(unittest.TestCase):
    def test_make_app_serves_hello_world(self):
        hello = load(os.path.join(EXAMPLES, "helloworld.py"), "helloworld")
        server = support.ServerThread(hello.make_app)
        try:
            status, _, _, body = server.request("GET", "/")
            self.assertEqual((status, body), (200, b"Hello, world"))
        finally:
            server.stop()


class WebSocketChatDemoTest(unittest.TestCase):
    def test_message_is_broadcast_to_every_socket_and_kept_in_the_page(self):
        from eddy.websocket import websocket_connect

        demo = load(os.path.join(EXAMPLES, "websocket_chat", "chatdemo.py"), "ws_chatdemo")
        server = support.ServerThread(demo.make_app)
        url = "ws://127.0.0.1:%d/chatsocket" % server.port
        try:
            async def go():
                alice = await websocket_connect(url)
                bob = await websocket_connect(url)
                alice.write_message(json.dumps({"body": "hi <b> http://example.org"}))
                got = [json.loads(await alice.read_message()), json.loads(await bob.read_message())]
                alice.close()
                bob.close()
                return got
            got = asyncio.run(asyncio.wait_for(go(), 20))
            self.assertEqual(got[0], got[1])
            self.assertEqual(got[0]["body"], "hi <b> http://example.org")
            self.assertIn('hi &lt;b&gt; <a href="http://example.org">', got[0]["html"])
            status, _, _, page = server.request("GET", "/")
            self.assertEqual(status, 200)
            self.assertIn(b"/static/chat.js?v=", page)
            self.assertIn(('id="m%s"' % got[0]["id"]).encode(), page)
        finally:
            server.stop()


class ChatDemoTest(unittest.TestCase):
    def setUp(self):
        for _ in range(5):
            self.port = support.free_port()
            self.proc = subprocess.Popen(
                [sys.executable, os.path.join(EXAMPLES, "chat", "chatdemo.py"), "--port=%d" % self.port],
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            line = self.proc.stdout.readline()
            if "listening" in line:
                return
            self.proc.kill()
            self.proc.wait()
        self.fail("chat demo did not start: %r" % line)

    def tearDown(self):
        self.proc.kill()
        self.proc.wait()
        self.proc.stdout.close()

    def request(self, method, path, body=None, headers=None):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=20)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            return resp.status, resp.msg, resp.read()
        finally:
            conn.close()

    def test_long_poll_gets_posted_message(self):
        status, headers, page = self.request("GET", "/")
        self.assertEqual(status, 200)
        self.assertIn(b"/static/chat.js?v=", page)
        cookie = headers["Set-Cookie"].split(";")[0]
        token = cookie.split("=", 1)[1]
        form = {"Cookie": cookie, "Content-Type": "application/x-www-form-urlencoded"}
        # Without the XSRF token a POST is refused.
        self.assertEqual(self.request("POST", "/a/message/new", body="body=x")[0], 403)

        polled = {}

        def poll():
            polled["result"] = self.request("POST", "/a/message/updates",
                                            body="_xsrf=" + urllib.parse.quote(token), headers=form)

        poller = threading.Thread(target=poll)
        poller.start()
        poller.join(0.2)  # the poll is normally parked by now; if not, it still sees the message
        body = urllib.parse.urlencode({"_xsrf": token, "body": "hi <there> http://example.org"})
        status, _, posted = self.request("POST", "/a/message/new", body=body, headers=form)
        self.assertEqual(status, 200)
        self.assertIn(b"&lt;there&gt;", posted)
        self.assertIn(b'<a href=\\"http://example.org\\">', posted)
        poller.join(20)
        status, _, updates = polled["result"]
        self.assertEqual(status, 200)
        self.assertIn(b"hi <there> http://example.org", updates)
        # The message is in the page now, and "next" redirects like Tornado's demo.
        self.assertIn(b"hi &lt;there&gt;", self.request("GET", "/")[2])
        body = urllib.parse.urlencode({"_xsrf": token, "body": "again", "next": "/"})
        status, headers, _ = self.request("POST", "/a/message/new", body=body, headers=form)
        self.assertEqual((status, headers["Location"]), (302, "/"))


if __name__ == "__main__":
    unittest.main()
