// libFuzzer target: a whole WebSocket connection on the server side — the opening handshake
// through a web Application, then arbitrary frames through a real loop and Session: message
// reassembly, control frames between fragments, UTF-8 checks, close handshakes started by
// either side, permessage-deflate (context takeover or not, small windows), message size
// limits, output limits and write marks. fuzz_websocket_frames covers the frame codec's pieces
// alone; this is the state machine around them.
//
// Input: byte 0 picks the route (each with its own options) and the extension offer; bit 0x80
// says how the rest is read.
// - raw (bit clear): the rest follows the handshake as the client's bytes, as they are.
// - frames (bit set): the rest is a list of frame records (ws_frame_records.hpp: opcode and
//   flags, length, masking, deflate, write boundaries) that the harness encodes and masks, so
//   the fuzzer need not learn to mask or compress.
// Either way the bytes go through feed_connection.hpp (socketpair, writes split at the
// "\n--MARK--\n" marker, SHUT_WR, bounded pumping). What the server does with a message depends
// on its first byte (echo, close with a code, ping, a big write past the output limit, a write
// mark). Nothing may leak (ASan's leak check); every opened connection gets exactly one close
// callback (checked after each input; with EDDY_FUZZ_STRICT an input that leaves one open
// aborts).
#include <eddy/eddy.h>
#include <eddy/web.h>
#include <eddy/websocket.h>

#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <string>

#include "feed_connection.hpp"
#include "fuzz_loop.hpp"
#include "ws_frame_records.hpp"

namespace {

eddy_loop *g_loop;
eddy_app *g_app;
eddy_server *g_server;
size_t g_sink;
long g_open;    // connections opened and not yet closed
long g_states;  // per-connection userdata alive


struct ConnState {
    ConnState() { g_states++; }
    ~ConnState() { g_states--; }
    bool closed = false;
    size_t messages = 0;
};
void free_state(void *p) { delete static_cast<ConnState *>(p); }

void on_drain(eddy_ws *ws, void *) { g_sink += eddy_ws_write_buffer_size(ws); }
void on_written(eddy_ws *ws, int status, void *) { g_sink += static_cast<size_t>(-status) + (ws ? 1 : 0); }
void on_control(eddy_ws *ws, const char *data, size_t len, void *) {
    g_sink += len + (len ? static_cast<unsigned char>(data[0]) : 0) + eddy_ws_closing(ws);
}

void on_open(eddy_ws *ws, void *route) {
    g_open++;
    eddy_ws_set_userdata(ws, new ConnState, free_state);
    size_t len = 0;
    g_sink += strlen(eddy_ws_subprotocol(ws, &len)) + static_cast<size_t>(eddy_ws_compressed(ws));
    eddy_handler *h = eddy_ws_handler(ws);
    if (h) g_sink += eddy_request_header_count(eddy_handler_request(h));
    // The "closer" route closes from open, before any frame was read.
    if (route && strcmp(static_cast<const char *>(route), "closer") == 0)
        eddy_ws_close(ws, 4000, "bye", 3);
}

// The message's first byte says what the server does with it.
void on_message(eddy_ws *ws, const char *data, size_t len, int binary, void *) {
    ConnState *st = static_cast<ConnState *>(eddy_ws_get_userdata(ws));
    if (st) st->messages++;
    char op = len ? data[0] : 'e';
    switch (op) {
    case 'c': {  // close with the code in bytes 1-2 (invalid ones are refused with EINVAL)
        int code = len >= 3 ? (static_cast<unsigned char>(data[1]) << 8) | static_cast<unsigned char>(data[2]) : 1000;
        if (eddy_ws_close(ws, code, len > 3 ? data + 3 : nullptr, len > 3 ? len - 3 : 0) != 0)
            eddy_ws_close(ws, 1000, nullptr, 0);
        break;
    }
    case 'p':  // ping with the rest (more than 125 bytes is refused)
        eddy_ws_ping(ws, data + 1, len - 1);
        break;
    case 'b': {  // a write past the output limit, in pieces
        std::string big(48 * 1024, 'x');
        for (int i = 0; i < 3; i++) eddy_ws_write_message(ws, big.data(), big.size(), 1, on_written);
        break;
    }
    case 'm':  // a write mark, then the echo
        eddy_ws_set_write_mark(ws, len, on_drain);
        eddy_ws_write_message(ws, data, len, binary, on_written);
        break;
    case 'u':  // replace the userdata mid-connection (the old one is released)
        eddy_ws_set_userdata(ws, new ConnState, free_state);
        break;
    default:
        eddy_ws_write_message(ws, data, len, binary, len & 1 ? on_written : nullptr);
    }
}

void on_close(eddy_ws *ws, int code, const char *reason, size_t reason_len, void *) {
    ConnState *st = static_cast<ConnState *>(eddy_ws_get_userdata(ws));
    if (st) {
        if (st->closed) abort();  // a second close callback
        st->closed = true;
    }
    g_open--;
    g_sink += static_cast<size_t>(code) + reason_len + (reason ? strlen(reason) : 0);
    // Sending after the close callback began is refused, not queued.
    if (eddy_ws_write_message(ws, "x", 1, 1, nullptr) != EDDY_ECLOSED) abort();
}

// Routes: path, userdata, compression flags and window bits (-1: no compression), max message
// size, max queued output, max message memory (0: eddy's default; under the message size, a
// long message meets the 1013 of that bound instead of the 1009).
struct RouteSpec {
    const char *path;
    int compression;
    int window_bits;
    size_t max_message;
    size_t max_output;
    size_t max_message_memory;
};
const RouteSpec kRoutes[] = {
    {"/echo", EDDY_WS_DEFLATE, 0, 64 * 1024, 16 * 1024, 8 * 1024},
    {"/plain", -1, 0, 1024, 0, 0},
    {"/small", EDDY_WS_DEFLATE | EDDY_WS_SERVER_NO_CONTEXT_TAKEOVER | EDDY_WS_CLIENT_NO_CONTEXT_TAKEOVER,
     9, 4096, 4096, 0},  // also: compression level 1, memLevel 1
    {"/closer", EDDY_WS_DEFLATE, 0, 1024, 0, 0},
};

void init() {
    g_loop = fuzz_loop::start();
    g_app = eddy_app_new(g_loop);
    if (!g_app) abort();
    g_server = eddy_app_server(g_app);
    if (!g_server) abort();
    eddy_server_set_max_header_size(g_server, 4096);
    for (const RouteSpec &spec : kRoutes) {
        eddy_route *r = eddy_app_add_route(g_app, spec.path, EDDY_NTS,
                                           const_cast<char *>(spec.path + 1), nullptr);
        eddy_ws_options *o = eddy_ws_options_new();
        if (!r || !o) abort();
        if (spec.compression >= 0) eddy_ws_options_set_compression(o, spec.compression, spec.window_bits);
        if (strcmp(spec.path, "/small") == 0 && eddy_ws_options_set_compression_level(o, 1, 1) != 0)
            abort();
        eddy_ws_options_set_max_message_size(o, spec.max_message);
        eddy_ws_options_set_max_queued_output(o, spec.max_output);
        if (spec.max_message_memory)
            eddy_ws_options_set_max_message_memory(o, spec.max_message_memory);
        eddy_ws_options_set_on_ping(o, on_control);
        eddy_ws_options_set_on_pong(o, on_control);
        if (eddy_route_set_websocket(r, on_open, on_message, on_close, o) != 0) abort();
        eddy_ws_options_free(o);
    }
}

// ---- the client's bytes --------------------------------------------------------------------------

const char *const kOffers[] = {
    "",
    "Sec-WebSocket-Extensions: permessage-deflate\r\n",
    "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits=9; "
    "server_no_context_takeover\r\n",
    "Sec-WebSocket-Extensions: permessage-deflate; client_no_context_takeover, x-unknown\r\n",
};

std::string handshake(uint8_t selector) {
    const RouteSpec &route = kRoutes[selector & 3];
    std::string req = "GET ";
    req += route.path;
    req += " HTTP/1.1\r\nHost: fuzz\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n";
    req += kOffers[(selector >> 2) & 3];
    req += "\r\n";
    return req;
}

std::string client_bytes(const uint8_t *data, size_t size) {
    std::string out = handshake(data[0]);
    const uint8_t *p = data + 1, *end = data + size;
    if (!(data[0] & 0x80)) {
        out.append(reinterpret_cast<const char *>(p), static_cast<size_t>(end - p));
        return out;
    }
    ws_records::append_frames(out, p, end, /*masked=*/true);
    return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static bool initialised = (init(), true);
    (void)initialised;
    if (size == 0) return 0;
    std::string bytes = client_bytes(data, size);
    fuzz_feed::feed_connection(g_loop, g_server, reinterpret_cast<const uint8_t *>(bytes.data()),
                               bytes.size());
    // The connection is gone: its close callback ran, once (on_close aborts on a second).
    for (int i = 0; i < 50 && g_open > 0; i++) eddy_loop_run_once(g_loop, i < 10 ? 0 : 1);
    static const bool strict = getenv("EDDY_FUZZ_STRICT") != nullptr;
    if (strict && (g_open != 0 || g_states != 0)) abort();
    return 0;
}
