"""Lua binding, STARTTLS (IOStream:start_tls, IOStream:wait_for_handshake) with eddy on both
ends of one connection (tests/starttls.lua), certificates from tests/integration/tls_certs.py:
the upgrade on both sides and a line over TLS, the refusals (unsent output, a verifying client
without a host name, a second upgrade), the spent plain stream, the close callback moved to the
TLS stream, and an untrusted certificate failing the upgrade (then the close callback runs)."""
import json
import os
import subprocess
import sys
import tempfile
import unittest

from luatest import HERE, lua_binary, main

sys.path.insert(0, os.path.join(HERE, "..", "..", "..", "tests", "integration"))
import tls_certs  # noqa: E402

EBUSY, ESTATE, EINVAL, ETLS = -3, -13, -1, -20


class StartTls(unittest.TestCase):
    def test_starttls_both_ends(self):
        with tempfile.TemporaryDirectory() as d:
            tls_certs.make_certs(d)
            proc = subprocess.run([lua_binary(), os.path.join(HERE, "starttls.lua"), "--certs", d],
                                  capture_output=True, text=True, timeout=45,
                                  cwd=os.path.dirname(HERE))
        self.assertEqual(proc.returncode, 0, (proc.stdout, proc.stderr))
        r = {}
        for line in proc.stdout.splitlines():
            obj = json.loads(line)
            r.setdefault(obj.pop("name"), []).append(obj)
        # Two connections: the first upgrades, the second's handshake fails.
        self.assertEqual(r["server_busy"], [{"code": EBUSY}, {"code": EBUSY}])
        self.assertEqual(r["server_upgrade"][0], {"ok": True, "spent": True})
        self.assertFalse(r["server_upgrade"][1]["ok"])
        self.assertEqual(r["server_upgrade"][1]["code"], ETLS)
        c = r["client"][0]
        self.assertEqual(c, {"answer": "220 go ahead\r\n", "no_name": EINVAL, "ok": True,
                             "spent": True, "waited": True, "again": ESTATE,
                             "reply": "250 tls hello\r\n", "close_code": 0})
        u = r["untrusted"][0]
        self.assertEqual((u["ok"], u["code"], u["spent"], u["close_code"]),
                         (False, ETLS, True, ETLS))


if __name__ == "__main__":
    main()
