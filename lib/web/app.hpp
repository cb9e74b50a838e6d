// App: the routing table, settings and HTTP server of a web application (Tornado's
// Application). The object behind eddy_app.
#pragma once

#include <string>
#include <vector>

#include "eddy/web.h"
#include "loop/loop.hpp"
#include "web/route.hpp"
#include "web/static_versions.hpp"

namespace eddy::http {
class Server;
class Request;
}  // namespace eddy::http

namespace eddy::web {

class Handler;

struct StaticMount {
    std::string prefix;  // URL prefix, starts and ends with '/'
    std::string root;    // canonical directory path
};

// A loop resource only so that it knows when its loop is freed (then it makes no server).
class App : public LoopResource {
public:
    explicit App(Loop *loop) : loop_(loop) { loop->add_resource(this); }
    ~App() override;
    void on_loop_free() override { loop_ = nullptr; }  // its owner still frees it
    // eddy_app_free: deletes now, or — inside a callback of one of its requests, whose callers
    // still use it — closes its server now and deletes it when the loop next runs.
    void destroy();
    App(const App &) = delete;
    App &operator=(const App &) = delete;

    eddy_app *as_c() { return reinterpret_cast<eddy_app *>(this); }
    static App *from_c(eddy_app *a) { return reinterpret_cast<App *>(a); }

    Loop *loop() const { return loop_; }
    http::Server *server();      // the default server, created on first use
    // One more server of this app (eddy_app_add_server), set up for its routes; nullptr when
    // out of memory or after the loop was freed.
    http::Server *add_server();
    // eddy_app_remove_server: 0, or EDDY_EINVAL when `s` is not one of its servers.
    int remove_server(http::Server *s);

    Route *add_route(std::string_view host_pattern, std::string_view pattern, void *userdata,
                     eddy_free_fn free_userdata);
    bool owns(Route *route) const;
    Route *default_route = nullptr;
    Route *find_named(std::string_view name) const;
    void method_registered(std::string_view method);
    // A route started streaming its request bodies (data_received): handlers must now be made
    // when the head arrives.
    void streaming_route_added();

    std::string cookie_secret;
    bool xsrf_cookies = false;
    bool compress_response = false;
    std::vector<StaticMount> static_mounts;
    StaticVersions static_versions;  // static_url's content versions

    // Live handlers (so that freeing the app can detach them).
    void link(Handler *h);
    void unlink(Handler *h);
    void recycle_handler(void *block);  // the memory of a destroyed handler, for the next one

private:
    static void on_headers(eddy_request *req, void *arg);
    static void on_request(eddy_request *req, void *arg);
    Handler *route_request(http::Request *req);
    Handler *route_or_throw(http::Request *req);
    static void refuse_unrouted(http::Request *req);
    static void free_host_table(HostTable *t);
    Handler *route_by_pattern(http::Request *req);
    Handler *new_handler(Route *route, http::Request *req);  // nullptr when out of memory
    bool dispatching() const;  // inside a request callback of one of its servers
    static void sweep_departing(DeferredTask *task);

    Loop *loop_;
    // Memory of finished handlers, for the next ones: a list linked through the blocks' first
    // bytes (at most kMaxSpareHandlers of them).
    void *spare_handlers_ = nullptr;
    size_t spare_handler_count_ = 0;
    // Its servers, each with its own options and listeners (plain HTTP on one port, HTTPS on
    // another, say), all dispatching to the routes below. The default one (eddy_app_server,
    // eddy_app_listen) is made on first use and is not always the first in the list.
    http::Server *default_server_ = nullptr;
    std::vector<http::Server *> servers_;
    // Servers removed inside their own callbacks: their callers still use them, and this app's
    // handlers still run in them, so they count for dispatching() until sweep_departing
    // deletes them once those callbacks have returned.
    std::vector<http::Server *> departing_;
    DeferredTask sweep_task_;
    int sweeping_ = 0;  // inside sweep_departing: an eddy_app_free is deferred
    HostTable default_table_;
    std::vector<HostTable *> host_tables_;
    std::vector<Route *> routes_;  // every route, for ownership and names
    // The default table's literal routes listed before its first pattern, as compact keys: the
    // request path is compared with their length and last byte before any of their bytes.
    struct LiteralKey {
        size_t size;
        char last;
        Route *route;
    };
    std::vector<LiteralKey> literal_keys_;
    bool literal_prefix_open_ = true;  // no pattern route in the default table yet
    std::vector<std::string> custom_methods_;
    Handler *handlers_ = nullptr;
    size_t streaming_routes_ = 0;
    bool tearing_down_ = false;  // in ~App: no server is made any more
};

}  // namespace eddy::web
