"""Reading what a child process has written so far to the file its stderr goes to.

A test that hands Popen a TemporaryFile as stderr shares that file's offset with the child (one
open file description): `f.seek(0); f.read()` while the child runs moves the offset the child
writes at, so a line written between the two calls lands at the start of the file, over the
log's first lines. os.pread reads at an offset of its own and leaves the shared one alone."""
import os


def read_log(f):
    """Everything in `f` (a file object a child writes to) so far, as bytes."""
    fd = f.fileno()
    return os.pread(fd, os.fstat(fd).st_size, 0)
