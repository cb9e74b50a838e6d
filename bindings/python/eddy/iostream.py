"""What eddy.iostream offers of tornado.iostream: the error a write on a closed connection
fails with. (eddy's streams themselves are C objects under the HTTP and WebSocket layers; for
raw TCP in Python, asyncio's streams do the job.)"""


class StreamClosedError(IOError):
    """The connection was closed (by the peer, or by us) before the operation could complete,
    e.g. the future of RequestHandler.flush() once the client has gone away. As in Tornado,
    `real_error` holds the underlying exception when there is one (None here)."""

    def __init__(self, real_error=None):
        super().__init__("Stream is closed")
        self.real_error = real_error
