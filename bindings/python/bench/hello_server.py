#!/usr/bin/env python3
"""Hello-world server for the bindings benchmark: `python3 hello_server.py --port N` prints
"listening" once it accepts connections. `--impl tornado` serves the same handler with Debian's
python3-tornado, for the side-by-side table (the handler code is identical)."""

import argparse
import asyncio
import sys


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--impl", choices=("eddy", "tornado"), default="eddy")
    opts = parser.parse_args()
    if opts.impl == "eddy":
        import eddy.web as web
    else:
        import tornado.web as web

    class MainHandler(web.RequestHandler):
        def get(self):
            self.write("Hello, World!")

    async def serve():
        app = web.Application([(r"/", MainHandler)])
        app.listen(opts.port, "127.0.0.1")
        print("listening", flush=True)
        await asyncio.Event().wait()

    try:
        asyncio.run(serve())
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
