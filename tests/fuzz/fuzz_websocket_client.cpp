// libFuzzer target: eddy's WebSocket client (eddy_websocket_connect) against a hostile server —
// the handshake response (status, Upgrade, Sec-WebSocket-Accept, the extension and subprotocol
// answers) and then the server's frames through a real loop and a client Session.
//
// The fuzz process listens on 127.0.0.1 (loopback_server.hpp; nothing else is ever contacted:
// the URL is fixed and numeric, so there is no DNS either); per input the client connects, the
// harness accepts, reads the request, and answers as the input says:
//   byte 0: the client's options — 0x03 compression offer (none, deflate, deflate without
//           context takeover, deflate with a 9-bit window), 0x04 offer subprotocols, 0x08 an
//           on_refused callback, 0x10 a 1 KiB message limit
//   byte 1: the answer's head — 0x01 a wrong Sec-WebSocket-Accept, 0x02 no Upgrade field,
//           0x04 status 403 instead of 101, 0x08 a Sec-WebSocket-Extensions field and 0x10 a
//           Sec-WebSocket-Protocol field (their values: the input up to the next NUL each),
//           0x20 HTTP/1.0 in the status line
//   then frame records (ws_frame_records.hpp), sent unmasked as a server does (a record can
//   ask for the violation), with write boundaries and loop turns between pieces; the op
//   markers of input_ops.hpp work too (TICK moves the fuzz build's clock: the client's close
//   and connect timeouts can fire).
// Then the harness half-closes, waits (bounded) for the client to close, and closes.
// Invariants: on_connect runs exactly once; on_close only after a successful connect, at most
// once; the userdata is released exactly once; nothing leaks (ASan's leak check). With
// EDDY_FUZZ_STRICT=1 an input whose connection is not over when the harness is done aborts.
#include <eddy/eddy.h>
#include <eddy/websocket.h>

#include <openssl/evp.h>
#include <openssl/sha.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

#include "feed_connection.hpp"
#include "fuzz_loop.hpp"
#include "loopback_server.hpp"
#include "ws_frame_records.hpp"

namespace {

eddy_loop *g_loop;
fuzz_server::LoopbackServer g_server;  // the listening side (loopback_server.hpp)
std::string g_url;
std::string g_request;  // the last request head the client sent
size_t g_sink;
long g_live;  // client states not yet released


struct ClientState {
    ClientState() { g_live++; }
    ~ClientState() { g_live--; }
    int connects = 0;
    bool connected = false;
    int closes = 0;
};
void free_state(void *p) { delete static_cast<ClientState *>(p); }

void on_connect(eddy_ws *ws, int status, void *userdata) {
    ClientState *st = static_cast<ClientState *>(userdata);
    if (++st->connects != 1) abort();
    if ((status == 0) != (ws != nullptr)) abort();
    st->connected = status == 0;
    if (ws) g_sink += eddy_ws_compressed(ws) + eddy_ws_is_client(ws);
}

void on_refused(int status, const char *reason, size_t len, void *) {
    g_sink += static_cast<size_t>(status) + len + strlen(reason);
}

void on_message(eddy_ws *ws, const char *data, size_t len, int binary, void *) {
    char op = len ? data[0] : 'e';
    if (op == 'c') {
        eddy_ws_close(ws, 1000, "done", 4);
    } else if (op == 'p') {
        eddy_ws_ping(ws, data + 1, len - 1 > 125 ? 125 : len - 1);
    } else {
        eddy_ws_write_message(ws, data, len, binary, nullptr);
    }
}

void on_close(eddy_ws *ws, int code, const char *reason, size_t reason_len, void *userdata) {
    ClientState *st = static_cast<ClientState *>(userdata);
    if (!st->connected || ++st->closes != 1) abort();
    g_sink += static_cast<size_t>(code) + reason_len + (reason ? strlen(reason) : 0);
    if (eddy_ws_write_message(ws, "x", 1, 1, nullptr) != EDDY_ECLOSED) abort();
}

void on_control(eddy_ws *, const char *, size_t len, void *) { g_sink += len; }

void init() {
    g_loop = fuzz_loop::start();
    if (!g_server.listen_loopback()) abort();
    g_server.on_request([](const std::string &head) { g_request = head; });
    g_url = "ws://127.0.0.1:" + std::to_string(g_server.port()) + "/fuzz";
}

eddy_ws_options *client_options(uint8_t selector) {
    eddy_ws_options *o = eddy_ws_options_new();
    if (!o) abort();
    switch (selector & 3) {
    case 1: eddy_ws_options_set_compression(o, EDDY_WS_DEFLATE, 0); break;
    case 2:
        eddy_ws_options_set_compression(o, EDDY_WS_DEFLATE | EDDY_WS_SERVER_NO_CONTEXT_TAKEOVER |
                                               EDDY_WS_CLIENT_NO_CONTEXT_TAKEOVER, 0);
        break;
    case 3: eddy_ws_options_set_compression(o, EDDY_WS_DEFLATE, 9); break;
    default: break;
    }
    if (selector & 0x04) {
        eddy_ws_options_add_subprotocol(o, "chat", EDDY_NTS);
        eddy_ws_options_add_subprotocol(o, "superchat", EDDY_NTS);
    }
    if (selector & 0x08) eddy_ws_options_set_on_refused(o, on_refused);
    if (selector & 0x10) eddy_ws_options_set_max_message_size(o, 1024);
    eddy_ws_options_set_on_ping(o, on_control);
    eddy_ws_options_set_on_pong(o, on_control);
    // Timeouts within reach of the input's TICK ops (the fuzz build's clock moves on ticks).
    eddy_ws_options_set_close_timeout(o, 0.05);
    eddy_ws_options_set_connect_timeout(o, 2);
    return o;
}

// The value a server must answer with (RFC 6455 §4.2.2): base64(SHA-1(key + GUID)).
std::string accept_for(const std::string &key) {
    std::string in = key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    unsigned char digest[SHA_DIGEST_LENGTH];
    SHA1(reinterpret_cast<const unsigned char *>(in.data()), in.size(), digest);
    unsigned char b64[64];
    int n = EVP_EncodeBlock(b64, digest, SHA_DIGEST_LENGTH);
    return std::string(reinterpret_cast<char *>(b64), static_cast<size_t>(n));
}

std::string header_value(const std::string &head, const char *name) {
    std::string needle = std::string("\r\n") + name + ": ";
    size_t at = head.find(needle);
    if (at == std::string::npos) return {};
    at += needle.size();
    return head.substr(at, head.find("\r\n", at) - at);
}

// Up to the next NUL of the input (consumed with it), at most 200 bytes.
std::string take_value(const uint8_t *&p, const uint8_t *end) {
    std::string v;
    while (p < end && *p != 0 && v.size() < 200) v += static_cast<char>(*p++);
    if (p < end && *p == 0) p++;
    return v;
}

std::string response(const uint8_t *&p, const uint8_t *end, const std::string &request) {
    uint8_t flags = p < end ? *p++ : 0;
    std::string head = flags & 0x20 ? "HTTP/1.0 " : "HTTP/1.1 ";
    head += flags & 0x04 ? "403 Forbidden\r\n" : "101 Switching Protocols\r\n";
    if (!(flags & 0x02)) head += "Upgrade: websocket\r\n";
    head += "Connection: Upgrade\r\n";
    std::string accept = accept_for(header_value(request, "Sec-WebSocket-Key"));
    if (flags & 0x01) accept[0] = accept[0] == 'A' ? 'B' : 'A';
    head += "Sec-WebSocket-Accept: " + accept + "\r\n";
    if (flags & 0x08) head += "Sec-WebSocket-Extensions: " + take_value(p, end) + "\r\n";
    if (flags & 0x10) head += "Sec-WebSocket-Protocol: " + take_value(p, end) + "\r\n";
    head += "\r\n";
    return head;
}

// Pumps the loop until `done` or `turns` turns have passed (sleeping up to 1 ms a turn after
// the first few, for the client's own short timers).
template <typename Done>
void pump(int turns, Done done) {
    for (int i = 0; i < turns && !done(); i++) eddy_loop_run_once(g_loop, i < 20 ? 0 : 1);
}

void play(const uint8_t *data, size_t size) {
    const long live_before = g_live;  // more only when an earlier input's client outlived it
    ClientState *st = new ClientState;
    eddy_ws_options *o = client_options(data[0]);
    int rc = eddy_websocket_connect(g_loop, g_url.data(), g_url.size(), o, on_connect, on_message,
                                    on_close, st, free_state);
    eddy_ws_options_free(o);
    if (rc != 0) {
        delete st;  // stays ours on a synchronous error
        return;
    }
    g_request.clear();
    int fd = g_server.await_request(g_loop, [] { return false; });
    if (fd < 0) abort();  // a loopback connect and request that never arrive

    const uint8_t *p = data + 1, *end = data + size;
    std::string bytes = response(p, end, g_request);
    ws_records::append_frames(bytes, p, end, /*masked=*/false);

    // Each piece between op markers is its own write, with loop turns between; TICK and HOLD
    // work as for the server targets (feed_connection.hpp, input_ops.hpp).
    fuzz_feed::Client c{g_loop, fd};
    fuzz_feed::play_pieces(&c, reinterpret_cast<const uint8_t *>(bytes.data()),
                           reinterpret_cast<const uint8_t *>(bytes.data() + bytes.size()));
    shutdown(fd, SHUT_WR);
    pump(200, [&] { return fuzz_feed::drain(fd); });
    g_server.close_conn(fd);
    pump(300, [&] { return g_live <= live_before; });
    static const bool strict = getenv("EDDY_FUZZ_STRICT") != nullptr;
    if (strict && g_live != 0) abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static bool initialised = (init(), true);
    (void)initialised;
    if (size == 0) return 0;
    play(data, size);
    return 0;
}
