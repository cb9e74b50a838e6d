"""Shared helpers for the Lua binding tests: start a Lua script that prints "listening <port>",
talk HTTP to it with http.client, and stop it. Paths come from argv (--lua) and the environment
that CTest sets (LUA_PATH / LUA_CPATH)."""
import argparse
import http.client
import json
import os
import subprocess
import sys
import time
import unittest

try:
    import websockets  # noqa: F401  (re-exported for the WebSocket tests)
except ImportError:  # a python3 outside Debian's (pyenv): use the Debian package
    sys.path.append("/usr/lib/python3/dist-packages")
    import websockets  # noqa: F401

HERE = os.path.dirname(os.path.abspath(__file__))
LUA_DIR = os.path.dirname(HERE)

def lua_binary():
    return os.environ.get("EDDY_TEST_LUA", "lua5.4")


def named_results(lines):
    """The JSON objects a test script printed, one per line, by their "name" field (which is
    taken out of each)."""
    results = {}
    for line in lines:
        obj = json.loads(line)
        results[obj.pop("name")] = obj
    return results


def alive(pid):
    """Whether `pid` still runs (a zombie counts as gone)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(") ", 1)[1][0] != "Z"
    except FileNotFoundError:
        return False

class LuaServer:
    """A Lua server process on a free port (it binds port 0 and prints the real one)."""

    def __init__(self, script, *args):
        self.proc = subprocess.Popen([lua_binary(), script, "--port", "0", *args],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        if not line.startswith("listening"):
            self.proc.kill()
            err = self.proc.stderr.read()
            self.proc.wait()
            raise RuntimeError(f"{script} did not start: {line!r} {err}")
        self.port = int(line.split()[1])

    def request(self, method, path, body=None, headers=None, timeout=10):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            data = resp.read()
            return resp.status, resp, data
        finally:
            conn.close()

    def get_json(self, path):
        status, _, data = self.request("GET", path)
        assert status == 200, (path, status, data)
        return json.loads(data)

    def stop(self):
        """Stops the process and returns what it wrote to stderr."""
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            _, err = self.proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _, err = self.proc.communicate()
        return err

def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--lua", default="lua5.4")
    args, rest = parser.parse_known_args()
    os.environ["EDDY_TEST_LUA"] = args.lua
    unittest.main(argv=[sys.argv[0], *rest], verbosity=2)
