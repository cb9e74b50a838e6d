#include "web/app.hpp"

#include <algorithm>
#include <new>

#include "http/httputil.hpp"
#include "http/request.hpp"
#include "http/server.hpp"
#include "util/log.hpp"
#include "util/no_throw.hpp"
#include "util/sanitizer.hpp"
#include "web/handler.hpp"

namespace eddy::web {

App::~App() {
    if (loop_) loop_->remove_resource(this);
    // The servers first: closing their connections runs on_connection_close of live handlers
    // while their routes still exist. Such a callback may ask for a server: it gets none.
    tearing_down_ = true;
    default_server_ = nullptr;
    if (loop_) loop_->undefer(&sweep_task_);
    std::vector<http::Server *> servers;
    servers.swap(servers_);
    for (http::Server *s : servers) delete s;
    for (http::Server *s : departing_) delete s;  // (only after the loop was freed, or inside
    departing_.clear();                           // a callback of theirs: see destroy())
    for (Handler *h = handlers_; h;) {
        Handler *next = h->next;
        h->route = nullptr;
        h->app = nullptr;
        h->prev = h->next = nullptr;
        h = next;
    }
    handlers_ = nullptr;
    while (void *block = spare_handlers_) {
        spare_handlers_ = *static_cast<void **>(block);
        ::operator delete(block);
    }
    for (Route *r : routes_) delete r;
    for (HostTable *t : host_tables_) free_host_table(t);
}

void App::free_host_table(HostTable *t) {
    if (t->match_data) pcre2_match_data_free(t->match_data);
    if (t->code) pcre2_code_free(t->code);
    delete t;
}

bool App::dispatching() const {
    if (sweeping_) return true;
    for (const http::Server *s : servers_)
        if (s->dispatching()) return true;
    for (const http::Server *s : departing_)
        if (s->dispatching()) return true;
    return false;
}

void App::destroy() {
    if (!dispatching() || !loop_) {
        delete this;
        return;
    }
    // Every server stops: one that is not dispatching could still start a request of this app
    // before the deferred delete.
    for (http::Server *s : servers_) s->retire();
    if (!loop_->delete_soon(this))
        log(LogLevel::error, "web: out of memory: an app freed inside its callback is leaked");
}

http::Server *App::add_server() {
    if (!loop_ || tearing_down_) return nullptr;
    http::Server *s = http::Server::create(loop_, on_request, this, nullptr);
    if (!s) return nullptr;
    // The headers hop is only needed when some route streams its request bodies; without one,
    // handlers are made when the request is complete (as Tornado does), one callback less.
    if (streaming_routes_) s->on_headers_ = on_headers;
    try {
        for (const std::string &m : custom_methods_) s->options.allowed_methods.push_back(m);
        servers_.push_back(s);
    } catch (const std::bad_alloc &) {
        // Out of memory: no server rather than one that refuses the app's own methods.
        delete s;
        return nullptr;
    }
    return s;
}

int App::remove_server(http::Server *s) {
    auto it = std::find(servers_.begin(), servers_.end(), s);
    if (it == servers_.end()) return EDDY_EINVAL;
    if (s->dispatching() && loop_) {
        departing_.reserve(departing_.size() + 1);  // bad_alloc: nothing changed yet
        servers_.erase(it);
        if (default_server_ == s) default_server_ = nullptr;
        departing_.push_back(s);  // counted by dispatching() from here on
        sweep_task_.run = sweep_departing;
        sweep_task_.owner = this;
        loop_->defer(&sweep_task_);
        // Last, touching nothing after: releasing its userdata runs a free function, which may
        // free this app (deferred: `s` is dispatching and listed).
        s->retire();  // stops listening; its connections close after their current answer
        return 0;
    }
    // Out of the lists first: closing its connections runs handlers' on_connection_close,
    // which may add or remove servers, or free this app.
    servers_.erase(it);
    if (default_server_ == s) default_server_ = nullptr;
    delete s;
    return 0;
}

void App::sweep_departing(DeferredTask *task) {
    App *app = static_cast<App *>(task->owner);
    // Deleting a server closes its connections: an on_connection_close may free this app, which
    // is then deferred (see dispatching()) so that this loop can go on.
    app->sweeping_++;
    std::vector<http::Server *> &departing = app->departing_;
    for (size_t i = 0; i < departing.size();) {
        if (departing[i]->dispatching()) {
            i++;
            continue;
        }
        http::Server *s = departing[i];
        departing.erase(departing.begin() + static_cast<std::ptrdiff_t>(i));
        delete s;
    }
    app->sweeping_--;
    if (!departing.empty() && app->loop_) app->loop_->defer(&app->sweep_task_);
}

http::Server *App::server() {
    if (!default_server_) default_server_ = add_server();
    return default_server_;
}

void App::method_registered(std::string_view method) {
    static const char *const standard[] = {"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"};
    for (const char *m : standard)
        if (method == m) return;
    for (const std::string &m : custom_methods_)
        if (m == method) return;
    // Every list or none (out of memory it throws; the caller says EDDY_ENOMEM).
    custom_methods_.emplace_back(method);
    size_t added = 0;
    try {
        for (http::Server *s : servers_) {
            s->options.allowed_methods.emplace_back(method);
            added++;
        }
    } catch (const std::bad_alloc &) {
        for (size_t i = 0; i < added; i++) servers_[i]->options.allowed_methods.pop_back();
        custom_methods_.pop_back();
        throw;
    }
}

Route *App::add_route(std::string_view host_pattern, std::string_view pattern, void *userdata,
                      eddy_free_fn free_userdata) {
    HostTable *table = &default_table_;
    if (!host_pattern.empty()) {
        table = nullptr;
        for (HostTable *t : host_tables_)
            if (t->host_pattern == host_pattern) table = t;
        if (!table) {
            std::string error;
            pcre2_code *code = compile_anchored(host_pattern, error);
            if (!code) {
                log(LogLevel::error, "host pattern %.*s: %s", static_cast<int>(host_pattern.size()),
                    host_pattern.data(), error.c_str());
                return nullptr;
            }
            table = new (std::nothrow) HostTable();
            if (!table) {
                pcre2_code_free(code);
                return nullptr;
            }
            table->code = code;
            table->match_data = pcre2_match_data_create_from_pattern(code, nullptr);
            try {
                table->host_pattern.assign(host_pattern);
                host_tables_.push_back(table);
            } catch (const std::bad_alloc &) {
                free_host_table(table);
                return nullptr;
            }
        }
    }
    Route *route = Route::create(pattern, nullptr, nullptr);
    if (!route) return nullptr;
    // Room in both lists before the route joins either: out of memory the app is unchanged
    // (an empty host table made above stays; it matches no request to a route).
    try {
        table->routes.reserve(table->routes.size() + 1);
        routes_.reserve(routes_.size() + 1);
    } catch (const std::bad_alloc &) {
        delete route;
        return nullptr;
    }
    route->app = this;
    route->userdata = userdata;  // only now: on failure the caller keeps its userdata
    route->free_userdata = free_userdata;
    table->routes.push_back(route);
    routes_.push_back(route);
    if (table == &default_table_ && literal_prefix_open_) {
        if (route->is_literal()) {
            const std::string &p = route->pattern();
            try {
                literal_keys_.push_back({p.size(), p.empty() ? '\0' : p.back(), route});
            } catch (...) {
                literal_prefix_open_ = false;  // the general walk finds it (and the rest)
            }
        } else {
            literal_prefix_open_ = false;
        }
    }
    return route;
}

bool App::owns(Route *route) const {
    for (Route *r : routes_)
        if (r == route) return true;
    return false;
}

Route *App::find_named(std::string_view name) const {
    for (Route *r : routes_)
        if (!r->name.empty() && r->name == name) return r;
    return nullptr;
}

// (Inlined into route_request: one call per request, as before the guard.)
[[gnu::always_inline]] inline Handler *App::route_or_throw(http::Request *req) {
    for (const StaticMount &m : static_mounts) {
        // The prefix ends with '/': checking that byte first turns most other paths away
        // without a memcmp call.
        const std::string &path = req->path;
        size_t n = m.prefix.size();
        if (path.size() < n || path[n - 1] != '/' || path.compare(0, n, m.prefix) != 0) continue;
        Handler *h = new_handler(nullptr, req);
        if (!h) return nullptr;
        h->set_static(m.root, std::string_view(path).substr(m.prefix.size()));
        return h;
    }
    // Nearly every application: no host tables, and the request matches one of the literal
    // routes listed before the first pattern. No host name, no captures to collect.
    if (host_tables_.empty()) {
        const std::string &path = req->path;
        char last = path.empty() ? '\0' : path.back();
        for (const LiteralKey &k : literal_keys_) {
            // Length and last byte first; then the bytes (every key is a literal route).
            if (k.size == path.size() && k.last == last &&
                http::same_bytes(path.data(), k.route->pattern().data(), k.size))
                return new_handler(k.route, req);
        }
    }
    return route_by_pattern(req);
}

// Finds the route (static mounts, then host tables, then the default table, then the default
// route) and makes the request's handler; nullptr when out of memory (the walk's strings, or
// the handler). Once the handler is made nothing throws.
Handler *App::route_request(http::Request *req) {
    return no_throw("web: routing a request", nullptr, [&] { return route_or_throw(req); });
}

// The request could not be routed (out of memory): answered 500 without a handler.
void App::refuse_unrouted(http::Request *req) {
    req->set_status(500, {});
    req->finish();
}

// The general walk: host tables (matched on the host name without its port), then the default
// table (patterns with captures), then the default route.
Handler *App::route_by_pattern(http::Request *req) {
    std::string host;  // lower-cased, without the port (only host tables need it)
    if (!host_tables_.empty()) {
        host = http::host_without_port(req->host);
        for (char &c : host) c = static_cast<char>(tolower(static_cast<unsigned char>(c)));
    }
    std::vector<std::string> raw;
    Route *found = nullptr;
    for (HostTable *t : host_tables_) {
        if (!t->matches(host)) continue;
        for (Route *r : t->routes) {
            if (r->match(req->path, raw)) {
                found = r;
                break;
            }
        }
        if (found) break;
    }
    if (!found) {
        for (Route *r : default_table_.routes) {
            if (r->is_literal() ? r->matches_literally(req->path) : r->match(req->path, raw)) {
                found = r;
                break;
            }
        }
    }
    if (!found && default_route) {
        found = default_route;
        raw.clear();
    }
    Handler *h = new_handler(found, req);
    if (!h) return nullptr;
    if (!raw.empty() && !h->decode_path_args(raw)) h->args.clear();
    return h;
}

void App::on_headers(eddy_request *creq, void *arg) {
    App *app = static_cast<App *>(arg);
    http::Request *req = http::Request::from_c(creq);
    Handler *h = app->route_request(req);
    if (!h) return refuse_unrouted(req);
    if (h->route && h->route->data_received) {
        h->start();  // prepare runs now; the body then streams to data_received
    }
}

void App::streaming_route_added() {
    streaming_routes_++;
    for (http::Server *s : servers_) s->on_headers_ = on_headers;
}

void App::on_request(eddy_request *creq, void *arg) {
    App *app = static_cast<App *>(arg);
    http::Request *req = http::Request::from_c(creq);
    Handler *h = static_cast<Handler *>(req->userdata);
    if (!h) {  // no headers hop (no streaming routes): route now
        h = app->route_request(req);
        if (!h) return refuse_unrouted(req);
    }
    if (h->route && h->route->data_received) {
        h->body_done();
    } else {
        h->start();
    }
}

}  // namespace eddy::web
