// extern "C" shims for eddy/client.h.
#include <cstring>
#include <new>
#include <string_view>

#include "client/client.hpp"
#include "eddy/client.h"
#include "http/httputil.hpp"
#include "net/connect.hpp"
#include "tls/context.hpp"
#include "util/no_throw.hpp"

using eddy::client::Client;
using eddy::client::Fetch;

namespace {

Fetch *F(eddy_fetch *f) { return Fetch::from_c(f); }
const Fetch *F(const eddy_fetch *f) { return Fetch::from_c(f); }

std::string_view view(const char *p, size_t len) {
    if (!p) return {};
    return len == EDDY_NTS ? std::string_view(p) : std::string_view(p, len);
}

bool token_char(char c) {
    return isalnum(static_cast<unsigned char>(c)) || strchr("!#$%&'*+-.^_`|~", c) != nullptr;
}

const char *out(const std::string &s, size_t *len) {
    if (len) *len = s.size();
    return s.c_str();
}

}  // namespace

extern "C" {

EDDY_API eddy_client *eddy_client_new(eddy_loop *loop) {
    // (The client's queue allocates as it is constructed.)
    Client *c = eddy::no_throw("eddy_client_new", nullptr,
                               [&] { return Client::create(eddy::Loop::from_c(loop)); });
    return c ? c->as_c() : nullptr;
}

EDDY_API void eddy_client_free(eddy_client *client) {
    if (client)
        eddy::ran_without_exception("eddy_client_free", [&] { Client::from_c(client)->destroy(); });
}

EDDY_API int eddy_client_set_max_clients(eddy_client *client, size_t n) {
    if (!client || n == 0) return EDDY_EINVAL;
    // Starting queued fetches needs no memory (make_room reserved it) and each start is
    // guarded: nothing to fail here.
    Client::from_c(client)->set_max_clients(n);
    return 0;
}

EDDY_API int eddy_client_set_max_queue(eddy_client *client, size_t n) {
    if (!client) return EDDY_EINVAL;
    Client::from_c(client)->max_queue = n;
    return 0;
}

EDDY_API int eddy_client_set_max_idle_per_host(eddy_client *client, size_t n) {
    if (!client) return EDDY_EINVAL;
    Client::from_c(client)->max_idle_per_host = n;
    return 0;
}

EDDY_API int eddy_client_set_idle_timeout(eddy_client *client, double seconds) {
    if (!client || !(seconds >= 0)) return EDDY_EINVAL;
    Client::from_c(client)->idle_timeout = seconds;
    return 0;
}

EDDY_API int eddy_client_set_tls(eddy_client *client, eddy_tls_context *ctx) {
    if (!client || !ctx) return EDDY_EINVAL;
    eddy::tls::Context *c = eddy::tls::Context::from_c(ctx);
    if (c->is_server()) return EDDY_EINVAL;
    Client::from_c(client)->set_tls(c);
    return 0;
}

EDDY_API int eddy_client_set_proxy(eddy_client *client, const char *host, int port) {
    if (!client) return EDDY_EINVAL;
    Client *c = Client::from_c(client);
    if (!host) {
        c->proxy_host.clear();
        c->proxy_port = 0;
        return 0;
    }
    if (!*host || port <= 0 || port > 65535) return EDDY_EINVAL;
    try {
        c->proxy_host = host;
    } catch (...) {
        return EDDY_ENOMEM;
    }
    c->proxy_port = port;
    return 0;
}

EDDY_API size_t eddy_client_idle_count(const eddy_client *client) {
    return client ? Client::from_c(client)->idle_count() : 0;
}

EDDY_API eddy_fetch *eddy_fetch_new(eddy_client *client, const char *method, const char *url) {
    if (!client || !method || !url) return nullptr;
    try {
        Fetch *f = new Fetch(Client::from_c(client), method, url);
        return f->as_c();
    } catch (...) {
        return nullptr;
    }
}

EDDY_API void eddy_fetch_free(eddy_fetch *fetch) {
    if (fetch && !F(fetch)->started()) delete F(fetch);
}

EDDY_API int eddy_fetch_add_header(eddy_fetch *fetch, const char *name, size_t name_len,
                                   const char *value, size_t value_len) {
    if (!fetch || !name || !value) return EDDY_EINVAL;
    if (F(fetch)->started()) return EDDY_ESTATE;
    std::string_view n = view(name, name_len), v = view(value, value_len);
    if (n.empty()) return EDDY_EINVAL;
    for (char c : n)
        if (!token_char(c)) return EDDY_EINVAL;
    // RFC 9110 §5.5: visible characters, SP, HTAB and obs-text; no other control character.
    if (!eddy::http::is_safe_field_value(v)) return EDDY_EINVAL;
    try {
        F(fetch)->headers.push_back({std::string(n), std::string(v)});
    } catch (...) {
        return F(fetch)->lose("header");
    }
    return 0;
}

EDDY_API int eddy_fetch_set_body(eddy_fetch *fetch, const void *data, size_t len) {
    if (!fetch || (len && !data)) return EDDY_EINVAL;
    if (F(fetch)->started()) return EDDY_ESTATE;
    try {
        F(fetch)->body.assign(static_cast<const char *>(data), len);
    } catch (...) {
        return F(fetch)->lose("body");
    }
    F(fetch)->streamed_body = false;
    return 0;
}

EDDY_API int eddy_fetch_set_body_stream(eddy_fetch *fetch, int64_t length) {
    if (!fetch || length < -1) return EDDY_EINVAL;
    if (F(fetch)->started()) return EDDY_ESTATE;
    F(fetch)->body.clear();
    F(fetch)->streamed_body = true;
    F(fetch)->stream_length = length;
    return 0;
}

EDDY_API int eddy_fetch_write_body(eddy_fetch *fetch, const void *data, size_t len) {
    if (!fetch) return EDDY_EINVAL;
    return eddy::no_throw("eddy_fetch_write_body", EDDY_ENOMEM, [&] {
        return F(fetch)->write_body(static_cast<const char *>(data), len);
    });
}

EDDY_API int eddy_fetch_end_body(eddy_fetch *fetch) {
    if (!fetch) return EDDY_EINVAL;
    return eddy::no_throw("eddy_fetch_end_body", EDDY_ENOMEM, [&] { return F(fetch)->end_body(); });
}

EDDY_API int eddy_fetch_flush_body(eddy_fetch *fetch, eddy_fetch_flush_fn cb) {
    if (!fetch || !cb) return EDDY_EINVAL;
    return eddy::no_throw("eddy_fetch_flush_body", EDDY_ENOMEM,
                          [&] { return F(fetch)->flush_body(cb); });
}

EDDY_API size_t eddy_fetch_body_buffered(const eddy_fetch *fetch) {
    return fetch ? F(fetch)->body_buffered() : 0;
}

EDDY_API int eddy_fetch_set_connect_timeout(eddy_fetch *fetch, double seconds) {
    if (!fetch || seconds != seconds) return EDDY_EINVAL;
    F(fetch)->connect_timeout = seconds;
    return 0;
}

EDDY_API int eddy_fetch_set_request_timeout(eddy_fetch *fetch, double seconds) {
    if (!fetch || seconds != seconds) return EDDY_EINVAL;
    F(fetch)->request_timeout = seconds;
    return 0;
}

EDDY_API int eddy_fetch_set_read_timeout(eddy_fetch *fetch, double seconds) {
    if (!fetch || seconds != seconds) return EDDY_EINVAL;
    F(fetch)->read_timeout = seconds;
    return 0;
}

EDDY_API int eddy_fetch_set_max_redirects(eddy_fetch *fetch, int max) {
    if (!fetch || max < 0) return EDDY_EINVAL;
    F(fetch)->max_redirects = max;
    return 0;
}

EDDY_API int eddy_fetch_set_max_body_size(eddy_fetch *fetch, size_t bytes) {
    if (!fetch) return EDDY_EINVAL;
    F(fetch)->max_body_size = bytes;
    return 0;
}

EDDY_API int eddy_fetch_set_decompress(eddy_fetch *fetch, int on) {
    if (!fetch) return EDDY_EINVAL;
    F(fetch)->decompress = on != 0;
    return 0;
}

EDDY_API int eddy_fetch_set_expect_continue(eddy_fetch *fetch, int on) {
    if (!fetch) return EDDY_EINVAL;
    F(fetch)->expect_continue = on != 0;
    return 0;
}

EDDY_API int eddy_fetch_set_connect_to(eddy_fetch *fetch, const char *host, int port) {
    if (!fetch) return EDDY_EINVAL;
    Fetch *f = F(fetch);
    if (f->started()) return EDDY_ESTATE;
    if (!host) {
        f->connect_host.clear();
        f->connect_port = 0;
        return 0;
    }
    if (!*host || port < 0 || port > 65535) return EDDY_EINVAL;
    // A bracketed IPv6 literal is taken as the address inside the brackets.
    std::string_view h(host);
    if (h.size() >= 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
    for (char c : h)
        if (static_cast<unsigned char>(c) <= ' ' || c == '/' || c == '[' || c == ']')
            return EDDY_EINVAL;
    if (h.empty()) return EDDY_EINVAL;
    try {
        f->connect_host.assign(h);
    } catch (...) {
        return f->lose("connect_to address");  // it would connect to the URL's host instead
    }
    f->connect_port = port;
    return 0;
}

EDDY_API int eddy_fetch_set_unix_socket(eddy_fetch *fetch, const char *path) {
    if (!fetch) return EDDY_EINVAL;
    Fetch *f = F(fetch);
    if (f->started()) return EDDY_ESTATE;
    if (!path) {
        f->unix_socket.clear();
        return 0;
    }
    // Checked here, not at connect: a path sun_path cannot hold would otherwise fail only
    // when the request runs (or be cut and reach another socket).
    if (!eddy::Connector::unix_path_fits(path)) return EDDY_EINVAL;
    try {
        f->unix_socket.assign(path);
    } catch (...) {
        return f->lose("Unix socket path");  // it would connect over TCP instead
    }
    return 0;
}

EDDY_API int eddy_fetch_set_callbacks(eddy_fetch *fetch, eddy_fetch_headers_fn on_headers,
                                      eddy_fetch_chunk_fn on_chunk) {
    if (!fetch) return EDDY_EINVAL;
    if (F(fetch)->started()) return EDDY_ESTATE;
    F(fetch)->on_headers = on_headers;
    F(fetch)->on_chunk = on_chunk;
    return 0;
}

// Out of memory before the fetch started: EDDY_ENOMEM, and it is still the caller's (userdata
// too). Once started, every failure goes through `done` (Fetch::guarded).
EDDY_API int eddy_fetch_start(eddy_fetch *fetch, eddy_fetch_done_fn done, void *userdata,
                              eddy_free_fn free_userdata) {
    if (!fetch) return EDDY_EINVAL;
    return eddy::no_throw("eddy_fetch_start", EDDY_ENOMEM,
                          [&] { return F(fetch)->start(done, userdata, free_userdata); });
}

EDDY_API int eddy_fetch_cancel(eddy_fetch *fetch) {
    if (!fetch) return EDDY_EINVAL;
    return eddy::no_throw("eddy_fetch_cancel", EDDY_ENOMEM, [&] { return F(fetch)->cancel(); });
}

EDDY_API int eddy_fetch_pause_body(eddy_fetch *fetch) {
    if (!fetch) return EDDY_EINVAL;
    return F(fetch)->pause_body();
}

EDDY_API int eddy_fetch_resume_body(eddy_fetch *fetch) {
    if (!fetch) return EDDY_EINVAL;
    return F(fetch)->resume_body();
}

EDDY_API int eddy_fetch_response_status(const eddy_fetch *fetch) {
    return fetch ? F(fetch)->status : 0;
}

EDDY_API const char *eddy_fetch_response_reason(const eddy_fetch *fetch, size_t *len) {
    if (!fetch) {
        if (len) *len = 0;
        return "";
    }
    return out(F(fetch)->reason, len);
}

EDDY_API const char *eddy_fetch_response_header(const eddy_fetch *fetch, const char *name,
                                                size_t *len) {
    if (!fetch || !name) return nullptr;
    const eddy::client::Header *h = F(fetch)->find_response_header(name);
    return h ? out(h->value, len) : nullptr;
}

EDDY_API size_t eddy_fetch_response_header_count(const eddy_fetch *fetch) {
    return fetch ? F(fetch)->response_headers.size() : 0;
}

EDDY_API int eddy_fetch_response_header_at(const eddy_fetch *fetch, size_t index, const char **name,
                                           size_t *name_len, const char **value,
                                           size_t *value_len) {
    if (!fetch || index >= F(fetch)->response_headers.size()) return EDDY_ENOENT;
    const eddy::client::Header &h = F(fetch)->response_headers[index];
    const char *n = out(h.name, name_len);
    const char *v = out(h.value, value_len);
    if (name) *name = n;
    if (value) *value = v;
    return 0;
}

EDDY_API const char *eddy_fetch_response_body(const eddy_fetch *fetch, size_t *len) {
    if (!fetch) {
        if (len) *len = 0;
        return "";
    }
    return out(F(fetch)->response_body, len);
}

EDDY_API const char *eddy_fetch_error_detail(const eddy_fetch *fetch, size_t *len) {
    if (!fetch) {
        if (len) *len = 0;
        return "";
    }
    return out(F(fetch)->error_detail, len);
}

EDDY_API const char *eddy_fetch_effective_url(const eddy_fetch *fetch, size_t *len) {
    if (!fetch) {
        if (len) *len = 0;
        return "";
    }
    return out(F(fetch)->url_text, len);
}

EDDY_API int eddy_fetch_redirect_count(const eddy_fetch *fetch) {
    return fetch ? F(fetch)->redirects : 0;
}

EDDY_API int eddy_fetch_connection_reused(const eddy_fetch *fetch) {
    return fetch && F(fetch)->reused ? 1 : 0;
}

}  // extern "C"
