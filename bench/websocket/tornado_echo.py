#!/usr/bin/env python3
"""Tornado's WebSocket echo server for the side-by-side benchmark: /ws echoes every message."""
import sys

import tornado.ioloop
import tornado.web
import tornado.websocket


class Echo(tornado.websocket.WebSocketHandler):
    def on_message(self, message):
        self.write_message(message, binary=isinstance(message, bytes))


def main():
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    app = tornado.web.Application([(r"/ws", Echo)])
    server = app.listen(port, "127.0.0.1")
    bound = next(iter(server._sockets.values())).getsockname()[1]
    print("listening on", bound, flush=True)
    tornado.ioloop.IOLoop.current().start()


if __name__ == "__main__":
    main()
