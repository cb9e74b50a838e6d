#!/usr/bin/env python3
"""Tornado's WebSocket echo server for the side-by-side benchmarks: /ws echoes every message.

  tornado_echo.py [PORT] [--max-size BYTES] [--deflate]

--max-size raises Tornado's 10 MiB message limit (websocket_max_message_size); --deflate
accepts permessage-deflate offers (get_compression_options)."""
import argparse

import tornado.ioloop
import tornado.web
import tornado.websocket

DEFLATE = False


class Echo(tornado.websocket.WebSocketHandler):
    def on_message(self, message):
        self.write_message(message, binary=isinstance(message, bytes))

    def get_compression_options(self):
        return {} if DEFLATE else None


def main():
    global DEFLATE
    ap = argparse.ArgumentParser()
    ap.add_argument("port", nargs="?", type=int, default=0)
    ap.add_argument("--max-size", type=int, default=None)
    ap.add_argument("--deflate", action="store_true")
    args = ap.parse_args()
    DEFLATE = args.deflate
    settings = {}
    if args.max_size:
        settings["websocket_max_message_size"] = args.max_size
    app = tornado.web.Application([(r"/ws", Echo)], **settings)
    server = app.listen(args.port, "127.0.0.1")
    bound = next(iter(server._sockets.values())).getsockname()[1]
    print("listening on", bound, flush=True)
    tornado.ioloop.IOLoop.current().start()


if __name__ == "__main__":
    main()
