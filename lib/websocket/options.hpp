// Options: what eddy_ws_options holds, shared by server routes and clients.
#pragma once

#include <cstddef>
#include <new>
#include <string>
#include <utility>
#include <vector>

#include "eddy/websocket.h"
#include "tls/context.hpp"
#include "util/counted_ref.hpp"
#include "util/memory_budget.hpp"

namespace eddy::ws {

struct Options {
    size_t max_message_size = 10u * 1024u * 1024u;  // Tornado's default
    // Bytes of messages being received, over every session made with these options (their
    // copies share `message_budget`; without memory for one, nothing is counted); 0: no
    // limit. eddy_ws_options_set_max_message_memory.
    size_t max_message_memory = 1024u * 1024u * 1024u;
    CountedRef<MemoryBudget> message_budget =
        CountedRef<MemoryBudget>::adopt(new (std::nothrow) MemoryBudget());
    size_t max_queued_output = 4u * 1024u * 1024u;  // reading pauses above it (0: never)
    int compression_flags = 0;                      // EDDY_WS_* flags
    int max_window_bits = 15;                       // this side's compression window
    int compression_level = -1;                     // zlib's: -1 is its default, 6 (Tornado's)
    int compression_mem_level = 8;                  // zlib's memLevel (its default, Tornado's)
    double ping_interval = 0;                       // 0: no keep-alive pings
    double ping_timeout = 0;                        // 0: the interval
    double close_timeout = 5;                       // Tornado waits 5 s for the close handshake
    double connect_timeout = 20;                    // Tornado's connect_timeout default
    eddy_ws_pong_fn on_pong = nullptr;
    eddy_ws_pong_fn on_ping = nullptr;  // runs after the automatic pong was queued
    eddy_ws_refused_fn on_refused = nullptr;  // client: the server answered without a 101
    std::vector<std::string> subprotocols;                   // client offers
    std::vector<std::pair<std::string, std::string>> headers;  // client request headers
    // Client: the context for wss:// (none: a default verifying one).
    CountedRef<tls::Context> tls;
    // Client: a Unix-domain socket to connect to instead of the URL's host and port ("":
    // none). eddy_ws_options_set_unix_socket.
    std::string unix_socket;

    eddy_ws_options *as_c() { return reinterpret_cast<eddy_ws_options *>(this); }
    static Options *from_c(eddy_ws_options *o) { return reinterpret_cast<Options *>(o); }
    static const Options *from_c(const eddy_ws_options *o) {
        return reinterpret_cast<const Options *>(o);
    }
};

// What a session keeps of its Options: the limits and timeouts it reads while open. The
// handshake's fields (subprotocols, headers, TLS, compression) stay behind, as do the ping and
// pong callbacks (the session's own callbacks take them): every byte here is paid by each
// open connection.
struct SessionOptions {
    explicit SessionOptions(const Options &o)
        : max_message_size(o.max_message_size),
          max_message_memory(o.max_message_memory),
          message_budget(o.message_budget),
          max_queued_output(o.max_queued_output),
          ping_interval(o.ping_interval),
          ping_timeout(o.ping_timeout),
          close_timeout(o.close_timeout) {}

    size_t max_message_size;
    size_t max_message_memory;
    CountedRef<MemoryBudget> message_budget;
    size_t max_queued_output;
    double ping_interval;
    double ping_timeout;
    double close_timeout;
};

}  // namespace eddy::ws
