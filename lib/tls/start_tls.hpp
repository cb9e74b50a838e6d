// start_tls: upgrades an established plain stream to TLS in place (Tornado's
// IOStream.start_tls, for STARTTLS protocols: SMTP, IMAP, PostgreSQL's SSLRequest, ...).
//
// The socket moves from the plain stream to a new TlsStream; the plain stream is released
// without its close callback (Stream::take_fd). The TLS stream is handed over only once its
// handshake has completed, so that its owner never sees a half-made connection; until then it
// belongs to the upgrade, which learns of a failure from its close.
#pragma once

#include <string>

namespace eddy {
class Stream;
}

namespace eddy::tls {

class Context;
class TlsStream;

// `stream` is the handshaken TLS stream (the receiver's from now on) and `error` 0; or
// `stream` is nullptr and `error` why the upgrade failed (EDDY_ETLS, EDDY_ETIMEDOUT, ...; the
// socket is closed). Runs once, on the loop.
using StartTlsFn = void (*)(TlsStream *stream, int error, void *arg);

// Checks what can be checked before the socket moves. Returns 0 or: EDDY_ECLOSED (closed or
// closing), EDDY_ESTATE (already TLS, or unread input buffered), EDDY_EBUSY (a read pending,
// output not yet sent or its callbacks not yet run).
int start_tls_refusal(const Stream *stream);

// Upgrades `stream` (see start_tls_refusal; `ctx` is a context of the kind `server` asks for,
// checked by the caller). `server_name`: the client's SNI and the name verified, "" for none.
// On 0 `stream` is gone (released on a later pass; its close callback never runs) and `done`
// runs later, then `release(arg)`; the loop freed first makes only `release` run. On failure
// (EDDY_ENOMEM, or a refusal) nothing changed and the caller keeps `arg`.
int start_tls(Stream *stream, Context *ctx, bool server, const std::string &server_name,
              StartTlsFn done, void *arg, void (*release)(void *arg));

}  // namespace eddy::tls
