#include "http/request_pool.hpp"

#include <new>
#include <utility>

#include "util/sanitizer.hpp"

namespace eddy::http {

namespace {
const size_t kInlineBytes = std::string().capacity();  // what a string holds without malloc
}

Request *RequestPool::make(RequestPool *pool, Connection *conn, Server *server) {
    Request *req;
    if (pool && !pool->spares_.empty()) {
        Spare &spare = pool->spares_.back();
        req = new (spare.block) Request(conn, server);
        req->headers.swap(spare.headers);
        req->out_headers_.swap(spare.out_fields);
        // (Moves, not swap: a string's swap takes a generic path for inline contents.)
        if (spare.body.capacity() > kInlineBytes) req->small_body_ = std::move(spare.body);
        pool->spares_.pop_back();
    } else {
        req = new (std::nothrow) Request(conn, server);
        if (!req) return nullptr;
    }
    if (pool && !EDDY_UNDER_ASAN) {
        req->pool_ = pool;
        pool->outstanding_++;
    }
    return req;
}

void RequestPool::release(Request *req) {
    RequestPool *pool = req->pool_;
    if (!pool) {
        delete req;
        return;
    }
    bool keep = !pool->closed_ && pool->spares_.size() < kMaxSpares &&
                req->headers.capacity() <= kMaxKeptFields &&
                req->out_headers_.capacity() <= kMaxKeptFieldBytes;
    if (keep && pool->spares_.capacity() == 0) {
        try {
            pool->spares_.reserve(kMaxSpares);  // once: emplace_back below never allocates
        } catch (...) {
            keep = false;
        }
    }
    if (keep) {
        Spare &spare = pool->spares_.emplace_back();  // capacity reserved: no allocation
        spare.block = req;
        spare.headers.swap(req->headers);
        spare.headers.clear();
        spare.out_fields.swap(req->out_headers_);
        spare.out_fields.clear();
        size_t body_capacity = req->small_body_.capacity();
        if (body_capacity > kInlineBytes && body_capacity <= kMaxKeptBody) {
            spare.body = std::move(req->small_body_);
            spare.body.clear();
        }
        req->~Request();
    } else {
        delete req;
    }
    if (--pool->outstanding_ == 0 && pool->closed_) delete pool;
}

void RequestPool::close() {
    closed_ = true;
    if (outstanding_ == 0) delete this;
}

RequestPool::~RequestPool() {
    // The blocks came from operator new (via new Request).
    for (Spare &spare : spares_) ::operator delete(spare.block);
}

}  // namespace eddy::http
