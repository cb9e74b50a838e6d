// ParseState: what a connection needs only while a request is coming in — the method token
// read so far, the head scanner (then the chunk scanner), and http-parser for a Content-Length
// body. An idle keep-alive connection holds none of it: ~140 bytes less per idle connection
// (memory per idle connection matters, as in nginx, which frees its request buffers between
// requests). A connection takes one when input arrives and gives it back at the end of that
// read once it is between requests (or handling one, whose head and body are read).
//
// ParseStatePool keeps a few given-back blocks per server, so that a keep-alive request costs
// no malloc for it. Loop thread only. Under AddressSanitizer nothing is kept (a use after the
// give-back must still be caught).
#pragma once

#include <http_parser.h>

#include <cstddef>
#include <new>
#include <string>

#include "http/chunk_scanner.hpp"
#include "http/head_scanner.hpp"
#include "util/sanitizer.hpp"

namespace eddy::http {

struct ParseState {
    // The method token while it spans reads (swapped into the request once its SP arrives).
    std::string method;
    http_parser parser;
    // The head scanner works until the head ends, the chunk scanner only after it: they share
    // storage (each is made active with placement new; both are trivially destructible).
    union {
        HeadScanner head;
        ChunkScanner chunks;
    };
    ParseState *next_spare = nullptr;  // ParseStatePool's list
    ParseState() : head() {}
};

// Taken and given once per request on a keep-alive connection: inline, a list push and pop.
class ParseStatePool {
public:
    ParseStatePool() = default;
    ~ParseStatePool();
    ParseStatePool(const ParseStatePool &) = delete;
    ParseStatePool &operator=(const ParseStatePool &) = delete;

    // A state with an empty method (scanners and parser are set up by their user); nullptr
    // when out of memory. `pool` may be nullptr (the server is gone): plain allocation.
    static ParseState *take(ParseStatePool *pool) {
        if (pool && pool->spares_) {
            ParseState *state = pool->spares_;
            pool->spares_ = state->next_spare;
            pool->spare_count_--;
            return state;
        }
        return new (std::nothrow) ParseState();
    }
    // Takes back `state` (nullptr: nothing), which must not be used any more: kept for the
    // next take, or freed. `pool` may be nullptr: freed.
    static void give(ParseStatePool *pool, ParseState *state) {
        // A connection gives it back between requests, with no method bytes; one with bytes
        // (a connection going away mid-request) is not kept, nor a method that spilled out of
        // the string's inline buffer.
        if (pool && !EDDY_UNDER_ASAN && pool->spare_count_ < kMaxSpares && state &&
            state->method.empty() && state->method.capacity() == kInlineMethod) {
            state->next_spare = pool->spares_;
            pool->spares_ = state;
            pool->spare_count_++;
            return;
        }
        delete state;
    }

private:
    static constexpr size_t kMaxSpares = 64;  // one per request in progress (~150 B each)
    // What a string holds without a heap buffer (not constexpr: clang with libstdc++ 12).
    static inline const size_t kInlineMethod = std::string().capacity();
    ParseState *spares_ = nullptr;
    size_t spare_count_ = 0;
};

}  // namespace eddy::http
