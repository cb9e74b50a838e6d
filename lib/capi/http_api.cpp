// extern "C" shims for eddy/http.h.
#include <arpa/inet.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <string_view>

#include "eddy/http.h"
#include "http/connection.hpp"
#include "http/request.hpp"
#include "http/server.hpp"
#include "net/address.hpp"
#include "util/no_throw.hpp"

using eddy::no_throw;
using eddy::http::Request;
using eddy::http::Server;

namespace {

Server *Srv(eddy_server *s) { return Server::from_c(s); }
const Server *Srv(const eddy_server *s) { return Server::from_c(s); }
Request *Req(eddy_request *r) { return Request::from_c(r); }
const Request *Req(const eddy_request *r) { return Request::from_c(r); }

// (ptr, len) with EDDY_NTS meaning NUL-terminated; NULL gives an empty view.
std::string_view view(const char *p, size_t len) {
    if (!p) return {};
    return len == EDDY_NTS ? std::string_view(p) : std::string_view(p, len);
}

const char *out(const std::string &s, size_t *len) {
    if (len) *len = s.size();
    return s.c_str();
}

// A name/value pair into the C out-parameters, each of which may be NULL (a length is filled
// without its pointer).
void out_pair(const std::string &n, const std::string &v, const char **name, size_t *name_len,
              const char **value, size_t *value_len) {
    const char *np = out(n, name_len);
    const char *vp = out(v, value_len);
    if (name) *name = np;
    if (value) *value = vp;
}

// Arguments from `sources`, query first.
const eddy::http::Argument *argument_at(const Request *r, int sources, size_t index) {
    if (sources & EDDY_ARGS_QUERY) {
        const auto &q = r->query_arguments();
        if (index < q.size()) return &q[index];
        index -= q.size();
    }
    if (sources & EDDY_ARGS_BODY) {
        if (index < r->body_args.size()) return &r->body_args[index];
    }
    return nullptr;
}

}  // namespace

extern "C" {

// ---- server ----------------------------------------------------------------------------------

EDDY_API eddy_server *eddy_server_new(eddy_loop *loop, eddy_request_fn on_request, void *userdata,
                                      eddy_free_fn free_userdata) {
    return no_throw("eddy_server_new", nullptr, [&] {
        Server *s = Server::create(eddy::Loop::from_c(loop), on_request, userdata, free_userdata);
        return s ? s->as_c() : nullptr;
    });
}

EDDY_API int eddy_server_listen(eddy_server *server, const char *host, int port, int flags) {
    if (!server) return EDDY_EINVAL;
    return no_throw("eddy_server_listen", EDDY_ENOMEM,
                    [&] { return Srv(server)->listen(host, port, flags); });
}

EDDY_API int eddy_server_listen_unix(eddy_server *server, const char *path) {
    if (!server) return EDDY_EINVAL;
    return no_throw("eddy_server_listen_unix", EDDY_ENOMEM,
                    [&] { return Srv(server)->listen_unix(path); });
}

EDDY_API int eddy_server_listen_unix_mode(eddy_server *server, const char *path, int mode) {
    if (!server || mode < 0 || mode > 0777) return EDDY_EINVAL;
    return no_throw("eddy_server_listen_unix_mode", EDDY_ENOMEM,
                    [&] { return Srv(server)->listen_unix(path, mode); });
}

EDDY_API int eddy_server_add_fd(eddy_server *server, int fd) {
    if (!server) return EDDY_EINVAL;
    return no_throw("eddy_server_add_fd", EDDY_ENOMEM,
                    [&] { return Srv(server)->add_listening_fd(fd); });
}

EDDY_API int eddy_server_add_connection(eddy_server *server, int fd, const char *peer_ip,
                                        int peer_port) {
    if (!server || fd < 0) return EDDY_EINVAL;
    // A connection is a socket: an fd that is not open, or is not a socket, is the caller's
    // mistake (EDDY_EINVAL, the fd left alone), not a failure to watch it (EDDY_ENOMEM).
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISSOCK(st.st_mode)) return EDDY_EINVAL;
    return no_throw("eddy_server_add_connection", EDDY_ENOMEM, [&] {
        return Srv(server)->add_connection(fd, peer_ip ? peer_ip : "", peer_port);
    });
}

EDDY_API int eddy_server_port(const eddy_server *server) {
    return server ? Srv(server)->port() : EDDY_EINVAL;
}

EDDY_API size_t eddy_server_connection_count(const eddy_server *server) {
    return server ? Srv(server)->connection_count() : 0;
}

EDDY_API int eddy_server_shutdown(eddy_server *server, eddy_server_done_fn done, void *userdata,
                                  eddy_free_fn free_userdata) {
    if (!server) return EDDY_EINVAL;
    return no_throw("eddy_server_shutdown", EDDY_ENOMEM,
                    [&] { return Srv(server)->shutdown(done, userdata, free_userdata); });
}

EDDY_API void eddy_server_free(eddy_server *server) {
    if (server) eddy::ran_without_exception("eddy_server_free", [&] { Srv(server)->destroy(); });
}

EDDY_API int eddy_server_set_max_header_size(eddy_server *server, size_t bytes) {
    if (!server || bytes < 64) return EDDY_EINVAL;
    Srv(server)->options.max_header_size = bytes;
    // http-parser's own (process-wide) ceiling must not be lower than ours.
    if (bytes > 80 * 1024) http_parser_set_max_header_size(static_cast<uint32_t>(bytes > UINT32_MAX - 1 ? UINT32_MAX - 1 : bytes + 1));
    return 0;
}

EDDY_API int eddy_server_set_max_header_fields(eddy_server *server, size_t count) {
    if (!server || count == 0) return EDDY_EINVAL;
    Srv(server)->options.max_header_fields = count;
    return 0;
}

EDDY_API int eddy_server_set_protocol(eddy_server *server, const char *scheme) {
    if (!server) return EDDY_EINVAL;
    if (!scheme) {
        Srv(server)->options.protocol.clear();
        return 0;
    }
    if (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0) return EDDY_EINVAL;
    Srv(server)->options.protocol = scheme;  // short: no allocation
    return 0;
}

EDDY_API int eddy_server_set_max_body_size(eddy_server *server, size_t bytes) {
    if (!server) return EDDY_EINVAL;
    Srv(server)->options.max_body_size = bytes;
    return 0;
}

static int set_seconds(double *slot, double seconds) {
    if (!(seconds >= 0)) return EDDY_EINVAL;  // also refuses NaN
    *slot = seconds;
    return 0;
}

EDDY_API int eddy_server_set_header_timeout(eddy_server *server, double seconds) {
    return server ? set_seconds(&Srv(server)->options.header_timeout, seconds) : EDDY_EINVAL;
}

EDDY_API int eddy_server_set_idle_timeout(eddy_server *server, double seconds) {
    return server ? set_seconds(&Srv(server)->options.idle_timeout, seconds) : EDDY_EINVAL;
}

EDDY_API int eddy_server_set_body_timeout(eddy_server *server, double seconds) {
    return server ? set_seconds(&Srv(server)->options.body_timeout, seconds) : EDDY_EINVAL;
}

// A finite rate (an infinite one would make the grace a total deadline: not the setters'
// meaning) and a grace as any timeout (infinity: the rate never applies); no NaN in either.
static bool valid_body_min_rate(double bytes_per_second, double grace_seconds) {
    return bytes_per_second >= 0 && !std::isinf(bytes_per_second) && grace_seconds >= 0;
}

EDDY_API int eddy_server_set_body_min_rate(eddy_server *server, double bytes_per_second,
                                           double grace_seconds) {
    if (!server || !valid_body_min_rate(bytes_per_second, grace_seconds)) return EDDY_EINVAL;
    Srv(server)->options.body_min_rate = bytes_per_second;
    Srv(server)->options.body_rate_grace = grace_seconds;
    return 0;
}

EDDY_API int eddy_server_set_max_body_memory(eddy_server *server, size_t bytes) {
    if (!server) return EDDY_EINVAL;
    Srv(server)->options.max_body_memory = bytes;
    return 0;
}

EDDY_API int eddy_server_set_max_connections(eddy_server *server, size_t count) {
    if (!server) return EDDY_EINVAL;
    Srv(server)->options.max_connections = count;
    return 0;
}

EDDY_API int eddy_server_set_no_keep_alive(eddy_server *server, int on) {
    if (!server) return EDDY_EINVAL;
    Srv(server)->options.no_keep_alive = on != 0;
    return 0;
}

EDDY_API int eddy_server_set_xheaders(eddy_server *server, int on) {
    if (!server) return EDDY_EINVAL;
    Srv(server)->options.xheaders = on != 0;
    return 0;
}

EDDY_API int eddy_server_add_trusted_proxy(eddy_server *server, const char *ip) {
    if (!server || !ip) return EDDY_EINVAL;
    return no_throw("eddy_server_add_trusted_proxy", EDDY_ENOMEM, [&]() -> int {
        // Kept as the listener writes a peer's address ("::FFFF:10.0.0.1" as "10.0.0.1"): it is
        // compared as text with the peer and with X-Forwarded-For's members (also made so).
        std::string canonical;
        // "unix:" (nginx's set_real_ip_from unix:): a proxy in front on a Unix socket, whose
        // peers have no address: the listener writes theirs as "", which no IP canonicalizes
        // to, so X-Forwarded-For's members never match it.
        if (strcmp(ip, "unix:") != 0 && !eddy::canonical_ip(ip, &canonical)) return EDDY_EINVAL;
        Srv(server)->options.trusted_proxies.insert(std::move(canonical));
        return 0;
    });
}

EDDY_API int eddy_server_set_decompress_request(eddy_server *server, int on) {
    if (!server) return EDDY_EINVAL;
    Srv(server)->options.decompress_request = on != 0;
    return 0;
}

EDDY_API int eddy_server_set_body_arguments(eddy_server *server, int on) {
    if (!server) return EDDY_EINVAL;
    Srv(server)->options.parse_body_arguments = on != 0;
    return 0;
}

EDDY_API int eddy_server_set_server_header(eddy_server *server, const char *value, size_t len) {
    if (!server) return EDDY_EINVAL;
    if (!value) {
        Srv(server)->options.send_server_header = false;
        return 0;
    }
    std::string_view v = view(value, len);
    if (!eddy::http::is_safe_field_value(v)) return EDDY_EINVAL;
    return no_throw("eddy_server_set_server_header", EDDY_ENOMEM, [&] {
        Srv(server)->options.server_header.assign(v);
        Srv(server)->options.send_server_header = true;
        return 0;
    });
}

EDDY_API int eddy_server_allow_method(eddy_server *server, const char *method, size_t len) {
    if (!server || !method) return EDDY_EINVAL;
    std::string_view m = view(method, len);
    if (!eddy::http::is_token(m)) return EDDY_EINVAL;
    if (m == "CONNECT") return EDDY_EINVAL;  // eddy is no tunnel: CONNECT always gets 501
    return no_throw("eddy_server_allow_method", EDDY_ENOMEM, [&] {
        Srv(server)->options.allowed_methods.emplace_back(m);
        return 0;
    });
}

EDDY_API int eddy_server_allow_any_method(eddy_server *server, int on) {
    if (!server) return EDDY_EINVAL;
    Srv(server)->options.allow_any_method = on != 0;
    return 0;
}

EDDY_API int eddy_server_set_headers_callback(eddy_server *server, eddy_request_fn on_headers) {
    if (!server) return EDDY_EINVAL;
    Srv(server)->on_headers_ = on_headers;
    return 0;
}

EDDY_API int eddy_server_set_access_log(eddy_server *server, eddy_request_fn cb, void *userdata,
                                        eddy_free_fn free_userdata) {
    if (!server) return EDDY_EINVAL;
    Srv(server)->set_access_log(cb, userdata, free_userdata);
    return 0;
}

EDDY_API int eddy_server_set_access_log_fd(eddy_server *server, int fd) {
    if (!server || fd < -1) return EDDY_EINVAL;
    if (!Srv(server)->loop()) return EDDY_ESTATE;  // the log is written from the loop
    return no_throw("eddy_server_set_access_log_fd", EDDY_ENOMEM, [&] {
        Srv(server)->access_log.set_fd(fd);
        return 0;
    });
}

// ---- request: what arrived -------------------------------------------------------------------

EDDY_API const char *eddy_request_method(const eddy_request *req, size_t *len) {
    return req ? out(Req(req)->method, len) : nullptr;
}
EDDY_API const char *eddy_request_uri(const eddy_request *req, size_t *len) {
    return req ? out(Req(req)->uri, len) : nullptr;
}
EDDY_API const char *eddy_request_path(const eddy_request *req, size_t *len) {
    return req ? out(Req(req)->path, len) : nullptr;
}
EDDY_API const char *eddy_request_query(const eddy_request *req, size_t *len) {
    return req ? out(Req(req)->query, len) : nullptr;
}
EDDY_API int eddy_request_version(const eddy_request *req) {
    return req ? 10 + Req(req)->version_minor : EDDY_EINVAL;
}
EDDY_API const char *eddy_request_scheme(const eddy_request *req) {
    return req ? Req(req)->scheme.c_str() : nullptr;
}
EDDY_API const char *eddy_request_host(const eddy_request *req, size_t *len) {
    return req ? out(Req(req)->host, len) : nullptr;
}
EDDY_API const char *eddy_request_remote_ip(const eddy_request *req) {
    return req ? Req(req)->remote_ip.c_str() : nullptr;
}
EDDY_API int eddy_request_remote_port(const eddy_request *req) {
    return req ? Req(req)->remote_port : 0;
}

EDDY_API const char *eddy_request_header(const eddy_request *req, const char *name,
                                         size_t name_len, size_t *value_len) {
    if (!req || !name) return nullptr;
    const eddy::http::HeaderField *h = Req(req)->find_header(view(name, name_len));
    return h ? out(h->value, value_len) : nullptr;
}

EDDY_API size_t eddy_request_header_count(const eddy_request *req) {
    return req ? Req(req)->headers.size() : 0;
}

EDDY_API int eddy_request_header_at(const eddy_request *req, size_t index, const char **name,
                                    size_t *name_len, const char **value, size_t *value_len) {
    if (!req) return EDDY_EINVAL;
    const auto &headers = Req(req)->headers;
    if (index >= headers.size()) return EDDY_ENOENT;
    out_pair(headers[index].name, headers[index].value, name, name_len, value, value_len);
    return 0;
}

EDDY_API const char *eddy_request_body(const eddy_request *req, size_t *len) {
    if (!req) return nullptr;
    if (len) *len = Req(req)->body.size();
    return Req(req)->body.c_str();
}

// The query arguments are parsed on first use, which may run out of memory.
EDDY_API size_t eddy_request_argument_count(const eddy_request *req, int sources) {
    if (!req) return 0;
    return no_throw("eddy_request_argument_count", size_t{0}, [&] {
        size_t n = 0;
        if (sources & EDDY_ARGS_QUERY) n += Req(req)->query_arguments().size();
        if (sources & EDDY_ARGS_BODY) n += Req(req)->body_args.size();
        return n;
    });
}

EDDY_API int eddy_request_argument_at(const eddy_request *req, int sources, size_t index,
                                      const char **name, size_t *name_len, const char **value,
                                      size_t *value_len) {
    if (!req) return EDDY_EINVAL;
    return no_throw("eddy_request_argument_at", EDDY_ENOMEM, [&] {
        const eddy::http::Argument *a = argument_at(Req(req), sources, index);
        if (!a) return int{EDDY_ENOENT};
        out_pair(a->name, a->value, name, name_len, value, value_len);
        return 0;
    });
}

EDDY_API const char *eddy_request_argument(const eddy_request *req, int sources, const char *name,
                                           size_t name_len, size_t *value_len) {
    if (!req || !name) return nullptr;
    std::string_view wanted = view(name, name_len);
    return no_throw("eddy_request_argument", nullptr, [&]() -> const char * {
        for (size_t i = 0;; i++) {
            const eddy::http::Argument *a = argument_at(Req(req), sources, i);
            if (!a) return nullptr;
            if (a->name == wanted) return out(a->value, value_len);
        }
    });
}

EDDY_API size_t eddy_request_file_count(const eddy_request *req) {
    return req ? Req(req)->files.size() : 0;
}

EDDY_API int eddy_request_file_at(const eddy_request *req, size_t index, const char **field,
                                  const char **filename, const char **content_type,
                                  const char **body, size_t *body_len) {
    if (!req) return EDDY_EINVAL;
    const auto &files = Req(req)->files;
    if (index >= files.size()) return EDDY_ENOENT;
    const eddy::http::UploadedFile &f = files[index];
    if (field) *field = f.field.c_str();
    if (filename) *filename = f.filename.c_str();
    if (content_type) *content_type = f.content_type.c_str();
    if (body) *body = f.body.data();
    if (body_len) *body_len = f.body.size();
    return 0;
}

// ---- request: state and callbacks ------------------------------------------------------------

EDDY_API void eddy_request_set_userdata(eddy_request *req, void *userdata,
                                        eddy_free_fn free_userdata) {
    if (!req) return;
    Request *r = Req(req);
    eddy_free_fn old_free = r->free_userdata;
    void *old = r->userdata;
    r->userdata = userdata;
    r->free_userdata = free_userdata;
    if (old_free && old != userdata) old_free(old);
}

EDDY_API void *eddy_request_get_userdata(const eddy_request *req) {
    return req ? Req(req)->userdata : nullptr;
}

EDDY_API int eddy_request_set_close_callback(eddy_request *req, eddy_request_event_fn cb) {
    if (!req) return EDDY_EINVAL;
    Req(req)->close_cb = cb;
    return 0;
}

EDDY_API int eddy_request_connection_closed(const eddy_request *req) {
    return !req || !Req(req)->connected() ? 1 : 0;
}

EDDY_API int eddy_request_stream_body(eddy_request *req, eddy_request_data_fn on_data,
                                      eddy_request_event_fn on_end) {
    if (!req || !on_data) return EDDY_EINVAL;
    Request *r = Req(req);
    if (r->message_complete || r->finished() || r->body_received > 0) return EDDY_ESTATE;
    r->streaming = true;
    r->on_data = on_data;
    r->on_end = on_end;
    return 0;
}

EDDY_API int eddy_request_pause_body(eddy_request *req) {
    if (!req) return EDDY_EINVAL;
    Request *r = Req(req);
    if (!r->streaming || r->message_complete) return EDDY_ESTATE;
    r->pause_body();
    return 0;
}

EDDY_API int eddy_request_resume_body(eddy_request *req) {
    if (!req) return EDDY_EINVAL;
    Request *r = Req(req);
    if (!r->streaming) return EDDY_ESTATE;
    if (!r->body_paused) return 0;
    r->body_paused = false;
    // Reading again takes the stream's resources.
    return no_throw("eddy_request_resume_body", EDDY_ENOMEM, [&] {
        if (r->conn) r->conn->resume_body();
        return 0;
    });
}

EDDY_API int eddy_request_set_max_body_size(eddy_request *req, size_t bytes) {
    if (!req) return EDDY_EINVAL;
    Request *r = Req(req);
    if (r->message_complete || r->body_received > 0) return EDDY_ESTATE;
    r->max_body = bytes;
    return 0;
}

EDDY_API int eddy_request_set_body_timeout(eddy_request *req, double seconds) {
    if (!req || !(seconds >= 0)) return EDDY_EINVAL;
    Request *r = Req(req);
    if (r->message_complete) return EDDY_ESTATE;
    r->body_timeout = seconds;
    if (r->conn) r->conn->body_limits_changed(r, false);  // mid-body: applies at once
    return 0;
}

EDDY_API int eddy_request_set_body_min_rate(eddy_request *req, double bytes_per_second,
                                            double grace_seconds) {
    if (!req || !valid_body_min_rate(bytes_per_second, grace_seconds)) return EDDY_EINVAL;
    Request *r = Req(req);
    if (r->message_complete) return EDDY_ESTATE;
    r->body_min_rate = bytes_per_second;
    r->body_rate_grace = grace_seconds;
    if (r->conn) r->conn->body_limits_changed(r, true);  // mid-body: a new clock from now
    return 0;
}

// ---- request: response -----------------------------------------------------------------------

EDDY_API int eddy_request_set_status(eddy_request *req, int status, const char *reason,
                                     size_t reason_len) {
    if (!req) return EDDY_EINVAL;
    return Req(req)->set_status(status, view(reason, reason_len));
}

// With EDDY_NTS lengths (out of line: the common call with lengths then needs no frame).
[[gnu::noinline]] static int set_header_nts(eddy_request *req, const char *name, size_t name_len,
                                            const char *value, size_t value_len) {
    return Req(req)->set_header(view(name, name_len), view(value, value_len), true);
}

EDDY_API int eddy_request_set_header(eddy_request *req, const char *name, size_t name_len,
                                     const char *value, size_t value_len) {
    if (!req || !name || !value) return EDDY_EINVAL;
    if (name_len == EDDY_NTS || value_len == EDDY_NTS)
        return set_header_nts(req, name, name_len, value, value_len);
    return Req(req)->set_header(std::string_view(name, name_len),
                                std::string_view(value, value_len), true);
}

EDDY_API int eddy_request_add_header(eddy_request *req, const char *name, size_t name_len,
                                     const char *value, size_t value_len) {
    if (!req || !name || !value) return EDDY_EINVAL;
    return Req(req)->set_header(view(name, name_len), view(value, value_len), false);
}

EDDY_API int eddy_request_clear_header(eddy_request *req, const char *name, size_t name_len) {
    if (!req || !name) return EDDY_EINVAL;
    return Req(req)->clear_header(view(name, name_len));
}

EDDY_API int eddy_request_write(eddy_request *req, const void *data, size_t len) {
    if (!req) return EDDY_EINVAL;
    return Req(req)->write(data, len);
}

EDDY_API int eddy_request_flush(eddy_request *req, eddy_request_flush_fn cb) {
    if (!req) return EDDY_EINVAL;
    return Req(req)->flush(cb);
}

EDDY_API int eddy_request_finish(eddy_request *req) {
    if (!req) return EDDY_EINVAL;
    return Req(req)->finish();
}

EDDY_API int eddy_request_abort(eddy_request *req) {
    if (!req) return EDDY_EINVAL;
    return Req(req)->abort();
}

EDDY_API int eddy_request_finished(const eddy_request *req) {
    return req && Req(req)->finished() ? 1 : 0;
}

EDDY_API int eddy_request_response_status(const eddy_request *req) {
    return req ? Req(req)->sent_status() : 0;
}

EDDY_API uint64_t eddy_request_bytes_sent(const eddy_request *req) {
    return req ? Req(req)->bytes_sent() : 0;
}

EDDY_API double eddy_request_duration(const eddy_request *req) {
    return req ? eddy::Loop::now() - Req(req)->start_time : 0;
}

}  // extern "C"
