#!/usr/bin/env python3
# Tornado's hello world on eddy: only the import lines differ from Tornado's version.
import asyncio

import eddy as tornado
import eddy.web


class MainHandler(tornado.web.RequestHandler):
    def get(self):
        self.write("Hello, world")


def make_app():
    return tornado.web.Application([
        (r"/", MainHandler),
    ])


async def main():
    app = make_app()
    app.listen(8888)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main())
