// Handler: one request's RequestHandler (Tornado's RequestHandler instance). The object behind
// eddy_handler. It runs the life cycle (set_default_headers → prepare → method → finish →
// on_finish) and adds the web layer's response work (ETag/304, gzip, cookies, error pages).
//
// Lifetime: created when a request is routed; released once it is finished, no callback of its
// is running and no flush callback is pending. It keeps its http::Request alive (hold) until
// then, so getters work in on_finish and after the connection closed.
#pragma once

#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <new>
#include <string>
#include <utility>
#include <vector>

#include "eddy/web.h"
#include "http/connection.hpp"  // Request::connected(), inline: guard() runs on every call
#include "http/request.hpp"

struct z_stream_s;  // zlib's

namespace eddy::web {

class App;
class Route;

class Handler {
public:
    Handler(App *app, Route *route, http::Request *req);
    ~Handler();
    Handler(const Handler &) = delete;
    Handler &operator=(const Handler &) = delete;
    // One handler per request: App::new_handler() makes it, maybe_release() ends it and hands
    // its memory back to the application for the next request.

    eddy_handler *as_c() { return reinterpret_cast<eddy_handler *>(this); }
    static Handler *from_c(eddy_handler *h) { return reinterpret_cast<Handler *>(h); }
    static const Handler *from_c(const eddy_handler *h) {
        return reinterpret_cast<const Handler *>(h);
    }

    // Life cycle steps, driven by the App.
    bool decode_path_args(const std::vector<std::string> &raw);
    void start();      // set_default_headers, checks, prepare (and for buffered bodies, method)
    void body_done();  // the whole body arrived: run the method (streaming routes)
    void data(const char *p, size_t n);

    // Response API.
    int set_status(int status, std::string_view reason);
    int set_header(std::string_view name, std::string_view value, bool replace);
    int clear_header(std::string_view name);
    int write(const void *data, size_t len);
    int flush(eddy_handler_flush_fn cb);
    int finish();
    int redirect(std::string_view url, int status);
    int send_error(int status);
    int detach();
    int resume();  // eddy_handler_resume: the method runs after a prepare that went async
    int clear();
    int set_etag(const char *etag, size_t len);

    // Another owner now finishes this handler (the WebSocket session its handshake started),
    // and releases it when the loop is freed (release_handed_over_at_loop_free): the request
    // no longer releases it at loop free, and is released with it instead.
    void handed_over() {
        req->holder_release = nullptr;
        req->holder = nullptr;
    }
    // The loop is being freed under the owner this handler was handed over to: released as a
    // detached one is (release_at_loop_free: its userdata through its free function, no
    // on_finish or on_connection_close, no callback at all), and its request with it.
    void release_handed_over_at_loop_free();

    // Request helpers.
    const char *cookie(std::string_view name, size_t *len);
    const char *signed_cookie(std::string_view name, double max_age_days, size_t *len);
    const char *xsrf_token(size_t *len);
    // Tornado's static_url (web/static_files.hpp); valid until the next call or the finish.
    const char *static_url(std::string_view path, size_t *len);
    int set_cookie(std::string_view name, std::string_view value, const char *domain,
                   const char *path, double expires, long max_age, int flags, const char *samesite);
    int set_signed_cookie(std::string_view name, std::string_view value, double expires_days);

    // The response body is being produced outside the buffered path (static files): no ETag
    // or gzip transforms at finish.
    void mark_flushed() { flushed_ = true; }
    // Serve this request from a static mount (set by the app when the path is under one):
    // `root` is the canonical directory, `rel` the path below the mount's prefix, still
    // percent-encoded. Out of memory, the request is answered with 500 when it starts.
    void set_static(std::string_view root, std::string_view rel);
    // compress_response for a static file (static_files.cpp): whether an answer of `size`
    // bytes of `type` is one to gzip for clients that take it.
    bool compresses(std::string_view type, uint64_t size) const;
    // Sends the open file `fd` (the handler's from here) through the streaming gzip, a piece
    // per flush, then finishes (static_files.cpp). The caller decided to gzip it (compresses()
    // and the client takes gzip); the flushes do not decide again.
    void stream_file(int fd);

    App *app;
    Route *route;  // nullptr: the built-in 404 handler, or the app was freed
    http::Request *req;
    std::vector<std::string> args;
    void *userdata = nullptr;
    eddy_free_fn free_userdata = nullptr;
    Handler *prev = nullptr;  // the app's list of live handlers
    Handler *next = nullptr;
    // Not finished, but its connection is gone (nothing can be sent any more).
    bool gone() const { return !finished && !answerable(); }

private:
    // Out of memory (the web layer's own work for a request; see handler.cpp).
    template <class Fn>
    void guarded(const char *where, Fn &&fn);
    void fail_request() noexcept;
    void abandon() noexcept;
    void cut_connection() noexcept;
    // The steps that may throw std::bad_alloc, run under those guards.
    void start_steps();
    void prepare_flush();
    void prepare_finish();
    void error_page(int status, bool from_hooks);
    void replace_body(const void *data, size_t len);
    int set_cookie_header(std::string_view name, std::string_view value, const char *domain,
                          const char *path, double expires, long max_age, int flags,
                          const char *samesite);
    void run_method();
    void after_prepare();  // what follows prepare: the method, or the streamed body
    bool safe_method() const;
    bool check_xsrf();
    void write_default_error(int status);
    void finish_transforms();
    [[gnu::noinline]] bool gzip_wanted(size_t len);
    bool client_takes_gzip() const;  // the request's Accept-Encoding takes gzip
    void vary_on_accept_encoding();
    void mark_gzip_encoded();
    [[gnu::noinline]] void gzip_pending(std::string_view pending);
    [[gnu::noinline]] bool etag_and_preconditions(std::string_view pending, bool gzip);
    void not_modified();
    void clear_representation_headers();
    void apply_default_type();
    bool streaming_gzip_wanted();  // compress_response's rule for a response of unknown length
    void start_streaming_gzip();
    void deflate_pending(bool final);
    // The common check before a response call: the request is neither finished nor closed.
    // A plain bool (the error code comes from refusal()), so that the calls that pass it can
    // end in a tail call into the request.
    bool answerable() const;
    [[gnu::noinline, gnu::cold]] int refusal() const;  // the error code (and log line) otherwise
    void note_content_type(std::string_view name);
    [[gnu::noinline]] void note_content_type_any_case(std::string_view name);
    void enter() { busy_++; }
    void leave();
    void maybe_release();
    bool parse_cookies();  // false when out of memory
    static void on_close(eddy_request *req, void *arg);
    // The loop is being freed with this handler detached and unfinished (Request's
    // holder_release): released without callbacks, its userdata included.
    static void release_at_loop_free(void *handler);
    static void on_flushed(eddy_request *req, int status, void *arg);
    static void on_data(eddy_request *req, const char *data, size_t len, void *arg);
    void stream_next_piece();
    static void on_piece_flushed(eddy_handler *h, int status, void *route_userdata);

    ::z_stream_s *gz_ = nullptr;  // streaming gzip (compress_response + flush)
    eddy_handler_fn method_cb_ = nullptr;  // the route's callback for this method (start())
    int busy_ = 0;
    int pending_flushes_ = 0;

    // The flags, side by side (public and private), so that a new handler sets them with one
    // or two stores.
public:
    bool is_static = false;
    bool finished = false;
    bool detached = false;
    bool closed = false;  // the connection went away

private:
    bool started_ = false;      // the life cycle began (prepare may have run)
    bool default_type_ = true;  // add Tornado's default Content-Type when the head goes out
    bool flushed_ = false;
    bool cookies_parsed_ = false;
    bool bad_path_args_ = false;
    bool in_send_error_ = false;  // its hooks run: a send_error from them must not recurse
    bool in_prepare_ = false;     // the route's prepare callback is running
    // prepare detached: the method (a WebSocket route's handshake) or the streamed body waits
    // for eddy_handler_resume.
    bool prepare_waiting_ = false;
    bool body_ended_ = false;  // a streamed body ended while prepare was waiting (body_done)
    // compute_etag overridden by the host: etag_mode_ 1 = use Extras::etag instead of the body hash,
    // 2 = no automatic ETag at all (0 = the body hash).
    unsigned char etag_mode_ = 0;
    // What only some requests need lives apart, allocated on first use, so that the common
    // request constructs and destroys none of it.
    struct Extras {
        std::string static_root;
        std::string static_rel;
        std::string etag;  // set_etag's value (etag_mode_ 1)
        std::vector<eddy_handler_flush_fn> flush_callbacks;  // in flush order
        std::vector<std::pair<std::string, std::string>> cookies;
        std::string signed_value;
        std::string xsrf_token;
        std::string static_url;
        int file_fd = -1;  // stream_file's file, until it is sent (or the handler goes)
        Extras() = default;
        Extras(const Extras &) = delete;
        Extras &operator=(const Extras &) = delete;
        ~Extras() {
            if (file_fd >= 0) ::close(file_fd);
        }
    };
    Extras *extras();  // nullptr when out of memory
    bool make_xsrf_token(Extras *x);
    std::unique_ptr<Extras> extras_;
};

// GET, HEAD and OPTIONS: the methods the XSRF check lets through (Tornado's list). Inline:
// an application with xsrf_cookies asks this on every request.
inline bool Handler::safe_method() const {
    const std::string &m = req->method;
    return http::equals_literal(m, "GET") || http::equals_literal(m, "HEAD") ||
           http::equals_literal(m, "OPTIONS");
}

// The calls every response makes, inline so that the C API's wrappers reach the request
// directly.
inline bool Handler::answerable() const { return !finished && !closed && req->connected(); }

// A 12-byte header name: the application names its own Content-Type (no default then). The
// usual spelling is compared inline (two loads), any other case out of line.
inline void Handler::note_content_type(std::string_view name) {
    if (memcmp(name.data(), "Content-Type", 12) == 0) {
        default_type_ = false;
    } else {
        note_content_type_any_case(name);
    }
}

inline int Handler::set_header(std::string_view name, std::string_view value, bool replace) {
    if (!answerable()) [[unlikely]] return refusal();
    if (default_type_ && name.size() == 12) note_content_type(name);
    // (A header after the first flush: Request::set_header logs it and says EDDY_ESTATE.)
    return req->set_header(name, value, replace);
}

inline int Handler::write(const void *data, size_t len) {
    if (!answerable()) [[unlikely]] return refusal();
    return req->write(data, len);
}

}  // namespace eddy::web
