"""Tornado's TLS arguments as eddy TLS contexts (eddy/tls.h).

Clients (HTTPRequest for fetch and websocket_connect): `validate_cert` (False: neither the chain
nor the host name is checked), `ca_certs` (a PEM file trusted in addition to the system's CAs),
`client_cert` / `client_key` (mutual TLS), or `ssl_options`. Servers (HTTPServer /
Application.listen): `ssl_options`. An `ssl_options` dict may hold the keys Tornado's
ssl_options_to_context reads that eddy can honour (`certfile`, `keyfile`, `ca_certs`,
`cert_reqs`); anything else, and an ssl.SSLContext (whose certificates cannot be read back out
of it), raises instead of being dropped: a TLS setting silently ignored would be a security bug."""

import ssl

from . import lowlevel as _ll

_KNOWN_KEYS = frozenset(("certfile", "keyfile", "ca_certs", "cert_reqs"))


def _check(rc, what):
    if rc < 0:
        raise ValueError("TLS: cannot use %s (%s; eddy's log says why)"
                         % (what, _ll.eddy_strerror(rc)))


def _ssl_options_dict(ssl_options, side):
    if isinstance(ssl_options, ssl.SSLContext):
        raise TypeError(
            "eddy cannot use an ssl.SSLContext as %s ssl_options (its certificates and CAs cannot "
            "be read back out of it); pass a dict such as {'certfile': ..., 'keyfile': ..., "
            "'ca_certs': ..., 'cert_reqs': ssl.CERT_REQUIRED}%s" % (
                side, "" if side == "server" else
                " or HTTPRequest's validate_cert / ca_certs / client_cert / client_key"))
    if not isinstance(ssl_options, dict):
        raise TypeError("ssl_options must be a dict, not %s" % type(ssl_options).__name__)
    unknown = set(ssl_options) - _KNOWN_KEYS
    if unknown:
        raise ValueError("eddy does not support these ssl_options: %s (supported: %s)"
                         % (", ".join(sorted(unknown)), ", ".join(sorted(_KNOWN_KEYS))))
    return ssl_options


def _verify_mode(cert_reqs, server):
    if cert_reqs == ssl.CERT_NONE:
        return _ll.EDDY_TLS_VERIFY_NONE
    if cert_reqs == ssl.CERT_OPTIONAL:
        return _ll.EDDY_TLS_VERIFY_OPTIONAL if server else _ll.EDDY_TLS_VERIFY_REQUIRED
    if cert_reqs == ssl.CERT_REQUIRED:
        return _ll.EDDY_TLS_VERIFY_REQUIRED
    raise ValueError("ssl_options: bad cert_reqs %r" % (cert_reqs,))


def _new(ctx_factory):
    ctx = ctx_factory()
    if ctx is None:
        raise RuntimeError("eddy: cannot create a TLS context")
    return ctx


def server_context(ssl_options):
    """A server context (the caller frees it) for HTTPServer's ssl_options."""
    opts = _ssl_options_dict(ssl_options, "server")
    if "certfile" not in opts:
        raise ValueError("ssl_options needs a 'certfile' (and 'keyfile' unless the key is in it)")
    ctx = _new(_ll.eddy_tls_context_new_server)
    try:
        certfile = opts["certfile"]
        _check(_ll.eddy_tls_context_load_cert_file(ctx, certfile, opts.get("keyfile") or certfile),
               "certfile/keyfile %r/%r" % (certfile, opts.get("keyfile")))
        if opts.get("ca_certs"):
            _check(_ll.eddy_tls_context_load_ca_file(ctx, opts["ca_certs"]),
                   "ca_certs %r" % (opts["ca_certs"],))
        if opts.get("cert_reqs") is not None:
            _check(_ll.eddy_tls_context_set_verify(ctx, _verify_mode(opts["cert_reqs"], True)),
                   "cert_reqs")
    except BaseException:
        _ll.eddy_tls_context_free(ctx)
        raise
    return ctx


def _options_key(ssl_options):
    """client_key() for a client's ssl_options dict."""
    opts = _ssl_options_dict(ssl_options, "client")
    validate = opts.get("cert_reqs", ssl.CERT_REQUIRED) != ssl.CERT_NONE
    if opts.get("cert_reqs") is not None:
        _verify_mode(opts["cert_reqs"], False)  # a bad value raises here
    return (validate, opts.get("ca_certs"), opts.get("certfile"), opts.get("keyfile"))


def client_context_for_options(ssl_options):
    """A client context (the caller frees it) for a client's ssl_options (None: eddy's default,
    which verifies the chain against the system's CAs and the host name); and whether it
    verifies."""
    key = (True, None, None, None) if ssl_options is None else _options_key(ssl_options)
    if key[2] is None and key[3] is not None:
        raise ValueError("ssl_options: keyfile needs certfile")
    return client_context(key), key[0]


def client_key(request):
    """What tells apart the client contexts a request needs (None: eddy's default context)."""
    ssl_options = getattr(request, "ssl_options", None)
    if ssl_options is not None:
        key = _options_key(ssl_options)
    else:
        validate = request.validate_cert
        key = (True if validate is None else bool(validate), request.ca_certs,
               request.client_cert, request.client_key)
    if key[2] is None and key[3] is not None:
        raise ValueError("client_key needs client_cert")
    return None if key == (True, None, None, None) else key


def client_context(key):
    """A client context (the caller frees it) for a client_key() result."""
    validate, ca_certs, cert, keyfile = key
    ctx = _new(_ll.eddy_tls_context_new_client)
    try:
        if not validate:
            _check(_ll.eddy_tls_context_set_verify(ctx, _ll.EDDY_TLS_VERIFY_NONE), "validate_cert")
        if ca_certs:
            _check(_ll.eddy_tls_context_load_ca_file(ctx, ca_certs), "ca_certs %r" % (ca_certs,))
        if cert:
            _check(_ll.eddy_tls_context_load_cert_file(ctx, cert, keyfile or cert),
                   "client_cert/client_key %r/%r" % (cert, keyfile))
    except BaseException:
        _ll.eddy_tls_context_free(ctx)
        raise
    return ctx
