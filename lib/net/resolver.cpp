#include "net/resolver.hpp"

#include <netdb.h>
#include <netinet/in.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <new>
#include <thread>

#include "eddy/common.h"
#include "util/error_detail.hpp"

namespace eddy {

// Shared by the worker thread and the owner (two references); the mutex orders the worker's
// post against the owner's cancel, so the worker never posts to a loop whose owner left.
class Resolution {
public:
    std::mutex mutex;
    Loop *loop = nullptr;
    ResolveDoneFn done = nullptr;
    void *owner = nullptr;  // nullptr once cancelled
    std::string host;
    int port = 0;
    ResolvedAddresses result;
    std::shared_ptr<Resolution> self;  // the owner's reference, dropped by cancel or delivery
    // The answer's way back, made before the worker starts: out of memory, a post that
    // allocated could fail, and the owner would wait for nothing until its timeout.
    ForeignTask delivery;
    std::shared_ptr<Resolution> posted;  // the delivery's reference, until it ran or the loop went
};

namespace {

void fill(addrinfo *res, ResolvedAddresses *out) {
    for (addrinfo *ai = res; ai; ai = ai->ai_next) {
        if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6) continue;
        sockaddr_storage ss = {};
        memcpy(&ss, ai->ai_addr, ai->ai_addrlen);
        out->addrs.push_back(ss);
        out->lens.push_back(ai->ai_addrlen);
    }
}

// Fills out->detail with "host: why" (runs on the worker thread).
void describe(const char *host, const char *why, ResolvedAddresses *out) {
    set_error_detail(out->detail, {host, ": ", why});
}

// getaddrinfo's reason for `rc`; EAI_SYSTEM's is this thread's errno (strerror_r: the worker
// threads run concurrently).
const char *gai_reason(int rc, char *buf, size_t len) {
    if (rc != EAI_SYSTEM) return gai_strerror(rc);  // static texts
    return strerror_r(errno, buf, len);             // GNU: returns the text (maybe not buf)
}

int lookup(const char *host, int port, int flags, ResolvedAddresses *out) {
    addrinfo hints = {};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV | flags;
    char service[8];
    snprintf(service, sizeof service, "%d", port);
    addrinfo *res = nullptr;
    int rc = getaddrinfo(host, service, &hints, &res);
    if (rc != 0) {
        if (rc == EAI_MEMORY) return EDDY_ENOMEM;
        // Not for numeric probes (resolve_numeric): a name there is no failure to explain.
        if (!(flags & AI_NUMERICHOST)) {
            char buf[128];
            describe(host, gai_reason(rc, buf, sizeof buf), out);
        }
        return EDDY_ERESOLVE;
    }
    try {
        fill(res, out);
    } catch (...) {
        freeaddrinfo(res);
        return EDDY_ENOMEM;
    }
    freeaddrinfo(res);
    if (!out->addrs.empty()) return 0;
    if (!(flags & AI_NUMERICHOST)) describe(host, "no IPv4 or IPv6 address", out);
    return EDDY_ERESOLVE;
}

void deliver(ForeignTask *task) {
    Resolution *r = static_cast<Resolution *>(task->owner);  // kept alive by r->posted
    ResolveDoneFn done = nullptr;
    void *owner = nullptr;
    {
        std::lock_guard<std::mutex> lock(r->mutex);
        done = r->done;
        owner = r->owner;
        r->owner = nullptr;
    }
    if (!owner) return;
    std::shared_ptr<Resolution> self = std::move(r->self);  // `posted` still keeps r alive
    done(owner, r->result);
}

void release_delivery(ForeignTask *task) {
    // Maybe the last reference: `task` goes with it.
    std::shared_ptr<Resolution> last = std::move(static_cast<Resolution *>(task->owner)->posted);
}

}  // namespace

bool resolve_numeric(const char *host, int port, ResolvedAddresses *out) {
    return lookup(host, port, AI_NUMERICHOST, out) == 0;
}

Resolution *resolve_start(Loop *loop, const std::string &host, int port, ResolveDoneFn done,
                          void *owner) {
    std::shared_ptr<Resolution> r;
    try {
        r = std::make_shared<Resolution>();
        r->host = host;
    } catch (...) {
        return nullptr;
    }
    r->loop = loop;
    r->done = done;
    r->owner = owner;
    r->port = port;
    r->delivery.run = deliver;
    r->delivery.release = release_delivery;
    r->delivery.owner = r.get();
    r->self = r;
    try {
        std::thread([r]() {
            r->result.error = lookup(r->host.c_str(), r->port, 0, &r->result);
            std::lock_guard<std::mutex> lock(r->mutex);
            if (!r->owner) return;
            r->posted = r;
            r->loop->post_threadsafe(&r->delivery);  // needs no memory: cannot fail
        }).detach();
    } catch (...) {
        r->self.reset();
        return nullptr;
    }
    return r.get();
}

void resolve_cancel(Resolution *r) {
    std::shared_ptr<Resolution> self;
    {
        std::lock_guard<std::mutex> lock(r->mutex);
        r->owner = nullptr;
        self = std::move(r->self);
    }
    // `self` may be the last reference: released here, after the mutex.
}

}  // namespace eddy
