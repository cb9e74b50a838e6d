// extern "C" shims for eddy/web.h.
#include <sys/stat.h>

#include <climits>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string_view>

#include "eddy/web.h"
#include "http/request.hpp"
#include "http/server.hpp"
#include "util/no_throw.hpp"
#include "web/app.hpp"
#include "web/cookies.hpp"
#include "web/handler.hpp"
#include "web/route.hpp"

using eddy::no_throw;
using eddy::web::App;
using eddy::web::Handler;
using eddy::web::Route;

namespace {

std::string_view view(const char *p, size_t len) {
    if (!p) return {};
    return len == EDDY_NTS ? std::string_view(p) : std::string_view(p, len);
}

// eddy_app_add_static's work (it may throw std::bad_alloc).
int add_static(App *app, std::string_view url_prefix, std::string_view root);

Handler *H(eddy_handler *h) { return Handler::from_c(h); }
const Handler *H(const eddy_handler *h) { return Handler::from_c(h); }

}  // namespace

extern "C" {

// ---- application -----------------------------------------------------------------------------

EDDY_API eddy_app *eddy_app_new(eddy_loop *loop) {
    if (!loop) return nullptr;
    return no_throw("eddy_app_new", nullptr, [&] {
        App *app = new (std::nothrow) App(eddy::Loop::from_c(loop));
        return app ? app->as_c() : nullptr;
    });
}

EDDY_API void eddy_app_free(eddy_app *app) {
    if (app) eddy::ran_without_exception("eddy_app_free", [&] { App::from_c(app)->destroy(); });
}

EDDY_API eddy_server *eddy_app_server(eddy_app *app) {
    if (!app) return nullptr;
    return no_throw("eddy_app_server", nullptr, [&] {
        eddy::http::Server *s = App::from_c(app)->server();  // made on first use
        return s ? s->as_c() : nullptr;
    });
}

EDDY_API eddy_server *eddy_app_add_server(eddy_app *app) {
    if (!app) return nullptr;
    return no_throw("eddy_app_add_server", nullptr, [&] {
        eddy::http::Server *s = App::from_c(app)->add_server();
        return s ? s->as_c() : nullptr;
    });
}

EDDY_API int eddy_app_remove_server(eddy_app *app, eddy_server *server) {
    if (!app || !server) return EDDY_EINVAL;
    return no_throw("eddy_app_remove_server", EDDY_ENOMEM, [&] {
        return App::from_c(app)->remove_server(eddy::http::Server::from_c(server));
    });
}

EDDY_API int eddy_app_listen(eddy_app *app, const char *host, int port) {
    eddy_server *s = eddy_app_server(app);
    if (!s) return !app ? EDDY_EINVAL : App::from_c(app)->loop() ? EDDY_ENOMEM : EDDY_ESTATE;
    return eddy_server_listen(s, host, port, 0);
}

EDDY_API eddy_route *eddy_app_add_route(eddy_app *app, const char *pattern, size_t pattern_len,
                                        void *userdata, eddy_free_fn free_userdata) {
    if (!app || !pattern) return nullptr;
    return no_throw("eddy_app_add_route", nullptr, [&] {
        Route *r = App::from_c(app)->add_route({}, view(pattern, pattern_len), userdata, free_userdata);
        return r ? r->as_c() : nullptr;
    });
}

EDDY_API eddy_route *eddy_app_add_host_route(eddy_app *app, const char *host_pattern,
                                             size_t host_pattern_len, const char *pattern,
                                             size_t pattern_len, void *userdata,
                                             eddy_free_fn free_userdata) {
    if (!app || !pattern || !host_pattern) return nullptr;
    std::string_view host = view(host_pattern, host_pattern_len);
    if (host.empty()) return nullptr;
    return no_throw("eddy_app_add_host_route", nullptr, [&] {
        Route *r = App::from_c(app)->add_route(host, view(pattern, pattern_len), userdata,
                                               free_userdata);
        return r ? r->as_c() : nullptr;
    });
}

EDDY_API int eddy_app_set_default_route(eddy_app *app, eddy_route *route) {
    if (!app) return EDDY_EINVAL;
    Route *r = route ? Route::from_c(route) : nullptr;
    if (r && !App::from_c(app)->owns(r)) return EDDY_EINVAL;
    App::from_c(app)->default_route = r;
    return 0;
}

EDDY_API int eddy_app_reverse_url(eddy_app *app, const char *name, size_t name_len,
                                  const char *const *args, const size_t *arg_lens, size_t nargs,
                                  char *out, size_t out_size, size_t *out_len) {
    if (!app || !name || (nargs && !args) || (!out && out_size)) return EDDY_EINVAL;
    Route *r = App::from_c(app)->find_named(view(name, name_len));
    if (!r) return EDDY_ENOENT;
    // Checked before `args` is read: a wrong count must not read past the caller's array.
    if (nargs != r->reverse_arity()) return EDDY_EINVAL;
    return no_throw("eddy_app_reverse_url", EDDY_ENOMEM, [&] {
        std::vector<std::string> encoded;
        for (size_t i = 0; i < nargs; i++) {
            size_t len = arg_lens ? arg_lens[i] : EDDY_NTS;
            if (!args[i]) return int{EDDY_EINVAL};
            encoded.push_back(eddy::web::percent_encode_path_segment(view(args[i], len)));
        }
        std::string url;
        if (!r->reverse(encoded, url)) return int{EDDY_EINVAL};
        if (out_len) *out_len = url.size();
        if (url.size() + 1 > out_size) return int{EDDY_ETOOBIG};
        memcpy(out, url.c_str(), url.size() + 1);
        return 0;
    });
}

EDDY_API int eddy_app_set_cookie_secret(eddy_app *app, const char *secret, size_t len) {
    if (!app || !secret) return EDDY_EINVAL;
    std::string_view s = view(secret, len);
    if (s.empty()) return EDDY_EINVAL;
    return no_throw("eddy_app_set_cookie_secret", EDDY_ENOMEM, [&] {
        App::from_c(app)->cookie_secret.assign(s);
        return 0;
    });
}

EDDY_API int eddy_app_set_xsrf_cookies(eddy_app *app, int on) {
    if (!app) return EDDY_EINVAL;
    App::from_c(app)->xsrf_cookies = on != 0;
    return 0;
}

EDDY_API int eddy_app_set_compress_response(eddy_app *app, int on) {
    if (!app) return EDDY_EINVAL;
    App::from_c(app)->compress_response = on != 0;
    return 0;
}

EDDY_API int eddy_app_add_static(eddy_app *app, const char *url_prefix, size_t prefix_len,
                                 const char *root, size_t root_len) {
    if (!app || !url_prefix || !root) return EDDY_EINVAL;
    return no_throw("eddy_app_add_static", EDDY_ENOMEM, [&] {
        return add_static(App::from_c(app), view(url_prefix, prefix_len), view(root, root_len));
    });
}

}  // extern "C"

namespace {

int add_static(App *app, std::string_view url_prefix, std::string_view root) {
    std::string prefix(url_prefix);
    if (prefix.empty() || prefix[0] != '/') return EDDY_EINVAL;
    if (prefix.back() != '/') prefix += '/';
    std::string dir(root);
    char resolved[PATH_MAX];
    struct stat st;
    if (!realpath(dir.c_str(), resolved) || stat(resolved, &st) != 0 || !S_ISDIR(st.st_mode))
        return EDDY_ENOENT;
    app->static_mounts.push_back({prefix, resolved});
    return 0;
}

}  // namespace

extern "C" {

// ---- routes ----------------------------------------------------------------------------------

EDDY_API int eddy_route_set_name(eddy_route *route, const char *name, size_t len) {
    if (!route || !name) return EDDY_EINVAL;
    std::string_view n = view(name, len);
    if (n.empty()) return EDDY_EINVAL;
    return no_throw("eddy_route_set_name", EDDY_ENOMEM, [&] {
        Route::from_c(route)->name.assign(n);
        return 0;
    });
}

EDDY_API int eddy_route_set_xsrf_check(eddy_route *route, int on) {
    if (!route) return EDDY_EINVAL;
    Route::from_c(route)->xsrf_check = on != 0;
    return 0;
}

EDDY_API int eddy_route_on(eddy_route *route, const char *method, size_t method_len,
                           eddy_handler_fn cb) {
    if (!route || !method) return EDDY_EINVAL;
    std::string_view m = view(method, method_len);
    if (!eddy::http::is_token(m)) return EDDY_EINVAL;
    Route *r = Route::from_c(route);
    return no_throw("eddy_route_on", EDDY_ENOMEM, [&] {
        if (r->app) r->app->method_registered(m);  // the app's list first: the route's may fail
        r->set_method_callback(m, cb);
        return 0;
    });
}

#define EDDY_ROUTE_SETTER(fn_name, field, type)                                                    \
    EDDY_API int fn_name(eddy_route *route, type cb) {                                             \
        if (!route) return EDDY_EINVAL;                                                            \
        Route::from_c(route)->field = cb;                                                          \
        return 0;                                                                                  \
    }
EDDY_ROUTE_SETTER(eddy_route_set_prepare, prepare, eddy_handler_fn)
EDDY_ROUTE_SETTER(eddy_route_set_on_finish, on_finish, eddy_handler_fn)
EDDY_ROUTE_SETTER(eddy_route_set_on_connection_close, on_connection_close, eddy_handler_fn)
EDDY_ROUTE_SETTER(eddy_route_set_default_headers, set_default_headers, eddy_handler_fn)
EDDY_ROUTE_SETTER(eddy_route_set_write_error, write_error, eddy_handler_error_fn)
#undef EDDY_ROUTE_SETTER

EDDY_API int eddy_route_set_data_received(eddy_route *route, eddy_handler_data_fn cb) {
    if (!route) return EDDY_EINVAL;
    Route *r = Route::from_c(route);
    if (cb && !r->data_received && r->app) r->app->streaming_route_added();
    r->data_received = cb;
    return 0;
}

// ---- handlers: request -----------------------------------------------------------------------

EDDY_API eddy_request *eddy_handler_request(eddy_handler *handler) {
    return handler ? H(handler)->req->as_c() : nullptr;
}

EDDY_API eddy_app *eddy_handler_app(eddy_handler *handler) {
    return handler && H(handler)->app ? H(handler)->app->as_c() : nullptr;
}

EDDY_API size_t eddy_handler_path_arg_count(const eddy_handler *handler) {
    return handler ? H(handler)->args.size() : 0;
}

EDDY_API const char *eddy_handler_path_arg(const eddy_handler *handler, size_t index, size_t *len) {
    if (!handler || index >= H(handler)->args.size()) return nullptr;
    const std::string &a = H(handler)->args[index];
    if (len) *len = a.size();
    return a.c_str();
}

EDDY_API const char *eddy_handler_path_kwarg(const eddy_handler *handler, const char *name,
                                             size_t name_len, size_t *len) {
    if (!handler || !name || !H(handler)->route) return nullptr;
    std::string_view wanted = view(name, name_len);
    for (const auto &entry : H(handler)->route->group_names()) {
        if (entry.first == wanted && entry.second < H(handler)->args.size()) {
            const std::string &a = H(handler)->args[entry.second];
            if (len) *len = a.size();
            return a.c_str();
        }
    }
    return nullptr;
}

EDDY_API const char *eddy_handler_get_argument(eddy_handler *handler, int sources,
                                               const char *name, size_t name_len, size_t *len) {
    if (!handler) return nullptr;
    return eddy_request_argument(H(handler)->req->as_c(), sources, name, name_len, len);
}

EDDY_API const char *eddy_handler_require_argument(eddy_handler *handler, int sources,
                                                   const char *name, size_t name_len,
                                                   size_t *len) {
    const char *v = eddy_handler_get_argument(handler, sources, name, name_len, len);
    if (!v && handler) H(handler)->send_error(400);
    return v;
}

EDDY_API const char *eddy_handler_get_cookie(eddy_handler *handler, const char *name,
                                             size_t name_len, size_t *len) {
    if (!handler || !name) return nullptr;
    return H(handler)->cookie(view(name, name_len), len);
}

EDDY_API const char *eddy_handler_get_signed_cookie(eddy_handler *handler, const char *name,
                                                    size_t name_len, double max_age_days,
                                                    size_t *len) {
    if (!handler || !name) return nullptr;
    return no_throw("eddy_handler_get_signed_cookie", nullptr, [&] {
        return H(handler)->signed_cookie(view(name, name_len), max_age_days, len);
    });
}

EDDY_API const char *eddy_handler_static_url(eddy_handler *handler, const char *path,
                                             size_t path_len, size_t *len) {
    if (!handler || !path) return nullptr;
    return H(handler)->static_url(view(path, path_len), len);
}

EDDY_API const char *eddy_handler_xsrf_token(eddy_handler *handler, size_t *len) {
    return handler ? H(handler)->xsrf_token(len) : nullptr;
}

// ---- handlers: state -------------------------------------------------------------------------

EDDY_API void eddy_handler_set_userdata(eddy_handler *handler, void *userdata,
                                        eddy_free_fn free_userdata) {
    if (!handler) return;
    Handler *h = H(handler);
    eddy_free_fn old_free = h->free_userdata;
    void *old = h->userdata;
    h->userdata = userdata;
    h->free_userdata = free_userdata;
    if (old_free && old != userdata) old_free(old);
}

EDDY_API void *eddy_handler_get_userdata(const eddy_handler *handler) {
    return handler ? H(handler)->userdata : nullptr;
}

EDDY_API int eddy_handler_detach(eddy_handler *handler) {
    return handler ? H(handler)->detach() : EDDY_EINVAL;
}

EDDY_API int eddy_handler_resume(eddy_handler *handler) {
    return handler ? H(handler)->resume() : EDDY_EINVAL;
}

EDDY_API int eddy_handler_finished(const eddy_handler *handler) {
    return handler && H(handler)->finished ? 1 : 0;
}

// ---- handlers: response ----------------------------------------------------------------------

EDDY_API int eddy_handler_set_status(eddy_handler *handler, int status, const char *reason,
                                     size_t reason_len) {
    return handler ? H(handler)->set_status(status, view(reason, reason_len)) : EDDY_EINVAL;
}

// With EDDY_NTS lengths (out of line: the common call with lengths then needs no frame).
[[gnu::noinline]] static int set_header_nts(eddy_handler *handler, const char *name,
                                            size_t name_len, const char *value, size_t value_len) {
    return H(handler)->set_header(view(name, name_len), view(value, value_len), true);
}

EDDY_API int eddy_handler_set_header(eddy_handler *handler, const char *name, size_t name_len,
                                     const char *value, size_t value_len) {
    if (!handler || !name || !value) return EDDY_EINVAL;
    if (name_len == EDDY_NTS || value_len == EDDY_NTS)
        return set_header_nts(handler, name, name_len, value, value_len);
    return H(handler)->set_header(std::string_view(name, name_len),
                                  std::string_view(value, value_len), true);
}

EDDY_API int eddy_handler_add_header(eddy_handler *handler, const char *name, size_t name_len,
                                     const char *value, size_t value_len) {
    if (!handler || !name || !value) return EDDY_EINVAL;
    return H(handler)->set_header(view(name, name_len), view(value, value_len), false);
}

EDDY_API int eddy_handler_clear_header(eddy_handler *handler, const char *name, size_t name_len) {
    if (!handler || !name) return EDDY_EINVAL;
    return H(handler)->clear_header(view(name, name_len));
}

EDDY_API int eddy_handler_write(eddy_handler *handler, const void *data, size_t len) {
    return handler ? H(handler)->write(data, len) : EDDY_EINVAL;
}

EDDY_API int eddy_handler_flush(eddy_handler *handler, eddy_handler_flush_fn cb) {
    return handler ? H(handler)->flush(cb) : EDDY_EINVAL;
}

EDDY_API int eddy_handler_finish(eddy_handler *handler) {
    return handler ? H(handler)->finish() : EDDY_EINVAL;
}

EDDY_API int eddy_handler_redirect(eddy_handler *handler, const char *url, size_t url_len,
                                   int status) {
    if (!handler || !url) return EDDY_EINVAL;
    return H(handler)->redirect(view(url, url_len), status);
}

EDDY_API int eddy_handler_send_error(eddy_handler *handler, int status) {
    if (!handler) return EDDY_EINVAL;
    // Gone (a detached handler whose client left): nothing to send, and the handler stays the
    // application's to finish, as after every other response call (finishing it here released
    // it under the application's later eddy_handler_finish).
    if (H(handler)->gone()) return EDDY_ECLOSED;
    return H(handler)->send_error(status);
}

EDDY_API int eddy_handler_clear(eddy_handler *handler) {
    return handler ? H(handler)->clear() : EDDY_EINVAL;
}

EDDY_API int eddy_handler_set_etag(eddy_handler *handler, const char *etag, size_t len) {
    if (!handler) return EDDY_EINVAL;
    if (etag && len == EDDY_NTS) len = strlen(etag);
    return H(handler)->set_etag(etag, len);
}

EDDY_API int eddy_handler_set_cookie(eddy_handler *handler, const char *name, size_t name_len,
                                     const char *value, size_t value_len, const char *domain,
                                     const char *path, double expires, long max_age, int flags,
                                     const char *samesite) {
    if (!handler || !name || !value) return EDDY_EINVAL;
    return H(handler)->set_cookie(view(name, name_len), view(value, value_len), domain, path,
                                  expires, max_age, flags, samesite);
}

EDDY_API int eddy_handler_clear_cookie(eddy_handler *handler, const char *name, size_t name_len,
                                       const char *path, const char *domain) {
    if (!handler || !name) return EDDY_EINVAL;
    // Tornado's clear_cookie: an empty value that expired a year ago, with Max-Age=0.
    return H(handler)->set_cookie(view(name, name_len), "", domain, path,
                                  static_cast<double>(time(nullptr)) - 365 * 86400, 0, 0, nullptr);
}

EDDY_API int eddy_handler_set_signed_cookie(eddy_handler *handler, const char *name,
                                            size_t name_len, const char *value, size_t value_len,
                                            double expires_days) {
    if (!handler || !name || !value) return EDDY_EINVAL;
    return H(handler)->set_signed_cookie(view(name, name_len), view(value, value_len), expires_days);
}

}  // extern "C"
