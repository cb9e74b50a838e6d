// RequestPool: the memory of released requests, kept for the next ones of the same server.
//
// A request costs three allocations (the object, its request-header vector and its response
// fields' buffer), four with a body over std::string's inline 15 bytes; on a keep-alive
// connection that is three or four malloc/free pairs per request, about a tenth of the
// server's work for a small response. The pool keeps a bounded number of released blocks with
// the storage of their header vector, response fields and body buffer. A request made from it is still constructed fresh (placement new) and
// gets them empty, so nothing of one request can reach the next.
// (Keeping the request header fields' string buffers as well was measured and dropped: moving and
// reassigning the strings cost more than glibc's malloc/free of a short value.)
//
// Ownership: the server creates the pool and closes it when it goes away; requests the
// application still holds then are released to the heap, and the pool frees itself with the
// last of them. Loop thread only. Under AddressSanitizer nothing is cached (a use after free
// must still be caught).
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "http/request.hpp"

namespace eddy::http {

class RequestPool {
public:
    RequestPool() = default;
    RequestPool(const RequestPool &) = delete;
    RequestPool &operator=(const RequestPool &) = delete;

    // A new request (nullptr when out of memory). `pool` may be nullptr: plain allocation.
    static Request *make(RequestPool *pool, Connection *conn, Server *server);
    // Destroys `req` (made by make(), or by plain new) and keeps its memory when it can.
    static void release(Request *req);
    // The server is going away: frees the cached blocks; the pool itself goes with the last
    // request still out (or now, if none is).
    void close();

private:
    ~RequestPool();
    struct Spare {
        void *block;
        std::vector<HeaderField> headers;      // empty, with capacity
        ResponseFields out_fields;             // empty, with capacity
        std::string body;                      // empty; kept only when it has a heap buffer
    };
    static constexpr size_t kMaxSpares = 64;      // blocks kept (~1.7 KiB each with vectors)
    static constexpr size_t kMaxKeptFields = 32;  // a vector grown beyond this is not kept
    static constexpr size_t kMaxKeptFieldBytes = 4096;  // nor response fields beyond this
    static constexpr size_t kMaxKeptBody = 1024;  // nor a body buffer beyond this

    std::vector<Spare> spares_;
    size_t outstanding_ = 0;  // requests made and not yet released
    bool closed_ = false;
};

}  // namespace eddy::http
