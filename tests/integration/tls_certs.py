"""Test certificates made with the openssl command line in a temporary directory: a CA, a
server certificate for localhost/127.0.0.1/::1 signed by it, one for another name (SNI), a
client certificate and a self-signed certificate nobody trusts. ECDSA P-256 keeps it fast."""
import os
import subprocess


def _run(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, timeout=30)


def _key(name, cwd):
    _run("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-out", f"{name}.key", cwd=cwd)


def _signed(name, cn, san, cwd, client=False):
    _key(name, cwd)
    _run("req", "-new", "-key", f"{name}.key", "-subj", f"/CN={cn}", "-out", f"{name}.csr",
         cwd=cwd)
    ext = os.path.join(cwd, f"{name}.ext")
    with open(ext, "w") as f:
        f.write(f"subjectAltName={san}\n")
        f.write("extendedKeyUsage=%s\n" % ("clientAuth" if client else "serverAuth"))
    _run("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
         "-CAcreateserial", "-days", "2", "-extfile", ext, "-out", f"{name}.crt", cwd=cwd)


def make_certs(d):
    """Creates the files in `d`; returns a dict of their paths."""
    _key("ca", d)
    _run("req", "-x509", "-new", "-key", "ca.key", "-subj", "/CN=eddy test CA", "-days", "2",
         "-out", "ca.crt", cwd=d)
    _signed("server", "localhost", "DNS:localhost,IP:127.0.0.1,IP:::1", d)
    _signed("other", "other.test", "DNS:other.test", d)
    _signed("client", "eddy test client", "DNS:client.test", d, client=True)
    _key("self", d)
    _run("req", "-x509", "-new", "-key", "self.key", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-days", "2",
         "-out", "self.crt", cwd=d)
    return {n: os.path.join(d, n) for n in os.listdir(d)}
