#!/usr/bin/env python3
# A chat room over WebSocket, in the shape of Tornado's websocket chat demo (demos/websocket):
# a page with the recent messages, and a WebSocketHandler that keeps the open connections and
# sends every new message to all of them. Only the import lines name eddy instead of tornado.
# Run: python3 chatdemo.py --port=8888, then open http://127.0.0.1:8888/ in two browsers.
import asyncio
import logging
import os.path
import uuid

import eddy as tornado
import eddy.escape
import eddy.web
import eddy.websocket
from eddy.options import define, options, parse_command_line

define("port", default=8888, help="run on the given port", type=int)


class MainHandler(tornado.web.RequestHandler):
    def get(self):
        self.render("index.html", messages=ChatSocketHandler.cache)


class ChatSocketHandler(tornado.websocket.WebSocketHandler):
    waiters = set()
    cache = []
    cache_size = 200

    def get_compression_options(self):
        return {}  # permessage-deflate when the browser offers it

    def open(self):
        ChatSocketHandler.waiters.add(self)

    def on_close(self):
        ChatSocketHandler.waiters.discard(self)

    @classmethod
    def update_cache(cls, chat):
        cls.cache.append(chat)
        del cls.cache[:-cls.cache_size]

    @classmethod
    def send_updates(cls, chat):
        logging.info("sending message to %d waiters", len(cls.waiters))
        for waiter in list(cls.waiters):
            try:
                waiter.write_message(chat)
            except tornado.websocket.WebSocketClosedError:
                cls.waiters.discard(waiter)  # closing: on_close follows

    def on_message(self, message):
        parsed = tornado.escape.json_decode(message)
        chat = {"id": str(uuid.uuid4()), "body": parsed["body"]}
        chat["html"] = tornado.escape.to_unicode(self.render_string("message.html", message=chat))
        ChatSocketHandler.update_cache(chat)
        ChatSocketHandler.send_updates(chat)


def make_app():
    return tornado.web.Application(
        [(r"/", MainHandler), (r"/chatsocket", ChatSocketHandler)],
        cookie_secret="__TODO:_GENERATE_YOUR_OWN_RANDOM_VALUE_HERE__",
        template_path=os.path.join(os.path.dirname(__file__), "templates"),
        static_path=os.path.join(os.path.dirname(__file__), "static"),
        xsrf_cookies=True,
        websocket_ping_interval=30,
    )


async def main():
    parse_command_line()
    make_app().listen(options.port, "127.0.0.1")
    print("listening on http://127.0.0.1:%d/" % options.port, flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main())
