// Asynchronous name lookup: getaddrinfo on a short-lived worker thread, the result posted back
// to the loop. getaddrinfo rather than libevent's evdns: it honours /etc/hosts, nsswitch and
// the system's resolver options exactly like the synchronous path did, and needs no second
// DNS configuration. Numeric addresses never start a thread.
#pragma once

#include <sys/socket.h>

#include <memory>
#include <string>
#include <vector>

#include "loop/loop.hpp"

namespace eddy {

struct ResolvedAddresses {
    int error = 0;  // 0, EDDY_ERESOLVE or EDDY_ENOMEM
    // With EDDY_ERESOLVE: the host and the resolver's reason ("example.invalid: Name or service
    // not known"), for error details (a WebSocket connect's).
    std::string detail;
    std::vector<sockaddr_storage> addrs;
    std::vector<socklen_t> lens;
};

// Fills `out` for a numeric host ("127.0.0.1", "::1"); returns false for a name.
bool resolve_numeric(const char *host, int port, ResolvedAddresses *out);

class Resolution;

// Starts a lookup; `done(owner, result)` runs later on the loop's thread, unless
// resolve_cancel() came first. Returns nullptr when out of memory or no thread could start.
using ResolveDoneFn = void (*)(void *owner, ResolvedAddresses &result);
Resolution *resolve_start(Loop *loop, const std::string &host, int port, ResolveDoneFn done,
                          void *owner);
// The owner is going away (any time before `done` ran, also during loop free): `done` is never
// called and the lookup's memory goes when the worker finishes. Loop thread only.
void resolve_cancel(Resolution *r);

}  // namespace eddy
