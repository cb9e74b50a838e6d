// Server: listening sockets, options and the set of connections (Tornado's HTTPServer).
// The object behind eddy_server.
#pragma once

#include <sys/socket.h>

#include <new>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "eddy/http.h"
#include "http/access_log.hpp"
#include "http/parse_state.hpp"
#include "http/request.hpp"
#include "loop/loop.hpp"
#include "util/counted_ref.hpp"
#include "util/errors.hpp"
#include "util/memory_budget.hpp"

namespace eddy {
class Listener;
namespace tls {
class Context;
}
class Stream;
}

namespace eddy::http {

class Connection;
class ProxyHandshake;
class Request;

struct ServerOptions {
    size_t max_header_size = 64 * 1024;
    // Each field costs ~60 bytes however short: 1000 keep a head's fields within about its
    // byte limit (Apache, h2o and Envoy allow 100, Node 2000).
    size_t max_header_fields = 1000;
    size_t max_body_size = 100u * 1024u * 1024u;
    // Request-body bytes held in memory over all connections (0: no limit). Ten bodies of the
    // largest default size: beyond that, many concurrent uploads (or clients that send most of
    // a body and stall) could take the process's memory, which nginx avoids by spooling bodies
    // to disk and eddy by answering 503.
    size_t max_body_memory = 1024u * 1024u * 1024u;
    double header_timeout = 30;
    double idle_timeout = 75;
    double body_timeout = 60;
    // eddy_server_set_body_min_rate: Apache's mod_reqtimeout default (body=20,MinRate=500).
    double body_min_rate = 500;
    double body_rate_grace = 20;
    size_t max_connections = 0;
    bool no_keep_alive = false;
    bool xheaders = false;
    bool proxy_protocol = false;  // every connection starts with a PROXY v1/v2 header
    bool decompress_request = false;
    bool parse_body_arguments = true;  // eddy_server_set_body_arguments
    // eddy_server_set_protocol: every request's scheme ("http"/"https"); empty: by connection.
    std::string protocol;
    bool allow_any_method = false;
    bool send_server_header = true;
    std::string server_header = "eddy/" EDDY_VERSION_TEXT;
    std::vector<std::string> allowed_methods = {"GET",    "HEAD",  "POST",   "PUT",
                                                "DELETE", "PATCH", "OPTIONS"};
    std::unordered_set<std::string> trusted_proxies;
};

class Server : public LoopResource {
public:
    static Server *create(Loop *loop, eddy_request_fn on_request, void *userdata,
                          eddy_free_fn free_userdata);
    ~Server() override;
    void on_loop_free() override;
    // eddy_server_free: deletes now, or — inside one of this server's callbacks, whose callers
    // still use it — closes it now (retire) and deletes it when the loop next runs.
    void destroy();
    // No further callbacks from now on (userdata released; requests that still arrive get 503),
    // no new connections, open ones close after their current answer. Used by destroy() and by
    // an app freed inside its own callback.
    void retire();
    // Inside a callback of this server (a read, close or timeout of one of its connections
    // being dispatched, the access log, the shutdown callback).
    bool dispatching() const { return dispatching_ > 0; }
    // Marks a scope that may run application callbacks: a free of the server inside it waits
    // until the scope ends (destroy() defers to the loop). `server` may be null.
    class Dispatch {
    public:
        explicit Dispatch(Server *server) : server_(server) {
            if (server_) server_->dispatching_++;
        }
        ~Dispatch() {
            if (server_) server_->dispatching_--;
        }
        Dispatch(const Dispatch &) = delete;
        Dispatch &operator=(const Dispatch &) = delete;

    private:
        Server *server_;
    };

    eddy_server *as_c() { return reinterpret_cast<eddy_server *>(this); }
    static Server *from_c(eddy_server *s) { return reinterpret_cast<Server *>(s); }
    static const Server *from_c(const eddy_server *s) { return reinterpret_cast<const Server *>(s); }

    Loop *loop() const { return loop_; }
    ServerOptions options;

    int listen(const char *host, int port, int flags);
    int listen_unix(const char *path, int mode = -1);  // mode -1: the umask's
    int add_listening_fd(int fd);
    int add_connection(int fd, std::string_view peer_ip, int peer_port);
    // The stream of a new connection on `fd` (TLS when the server serves it); nullptr (the fd
    // closed, a log line) when out of memory.
    Stream *make_stream(int fd);
    // Serves HTTP on `stream` (the PROXY handshake calls it once the header was read;
    // `request_waiting`: bytes came after the header).
    int start_connection(Stream *stream, std::string_view peer_ip, int peer_port,
                         bool request_waiting = false);
    // The listening socket at `index` (for handing it to another process), or -1.
    int listening_fd(int index) const;
    int port() const;
    // HTTPS for connections accepted from now on (takes a reference; nullptr: plain HTTP).
    void set_tls(tls::Context *ctx);
    bool has_tls() const { return tls_ != nullptr; }
    size_t connection_count() const { return connection_count_; }
    int shutdown(eddy_server_done_fn done, void *userdata, eddy_free_fn free_userdata);
    bool shutting_down() const { return shutting_down_; }

    bool method_allowed(const std::string &method) const;

    // Application callbacks.
    void call_on_request(Request *req) { on_request_(req->as_c(), userdata_); }
    bool has_headers_callback() const { return on_headers_ != nullptr; }
    void call_on_headers(Request *req) { on_headers_(req->as_c(), userdata_); }
    eddy_request_fn on_headers_ = nullptr;
    void log_access(Request *req);
    // Requests the application still holds after their connection closed (the client left a
    // slow handler): they keep `server` to reach the access log at their finish, so the
    // server clears it in them when it goes first. Linked through the requests themselves.
    void adopt_orphan(Request *req);
    void drop_orphan(Request *req);
    void set_access_log(eddy_request_fn cb, void *userdata, eddy_free_fn free_userdata);
    AccessLog access_log;  // the built-in Common Log Format lines (eddy_server_set_access_log_fd)
    // Where connections get their Request objects (nullptr: plain allocation).
    RequestPool *request_pool() const { return request_pool_; }
    // Where connections get the state for reading a request (see ParseState).
    ParseStatePool *parse_state_pool() { return &parse_state_pool_; }
    // The request-body bytes held in memory (max_body_memory); nullptr when out of memory.
    MemoryBudget *body_budget() const { return body_budget_.get(); }

    // Connection bookkeeping (called by Connection).
    void connection_closed(Connection *conn);
    // Called by a ProxyHandshake when it ends either way (it counts as a connection).
    void handshake_ended(ProxyHandshake *h);

private:
    explicit Server(Loop *loop) : access_log(loop), loop_(loop) {}
    Listener *ensure_listener();
    static void on_accept(Listener *l, int fd, const sockaddr *peer, socklen_t peer_len, void *arg);
    void maybe_finish_shutdown();
    bool reclaim_idle_connection();  // closes the oldest idle connection; false when none
    // Stops listening; each connection closes once idle (shutdown and retire share this).
    void stop_accepting();
    void release_userdata();  // the callbacks' userdata and the TLS context
    static void answer_unavailable(eddy_request *req, void *userdata);  // a retired server's
    static void run_shutdown_done(TimerNode *node);
    TimerNode done_timer_;

    Loop *loop_;
    eddy_request_fn on_request_ = nullptr;
    void *userdata_ = nullptr;
    eddy_free_fn free_userdata_ = nullptr;
    Listener *listener_ = nullptr;
    tls::Context *tls_ = nullptr;
    Connection *connections_ = nullptr;
    ProxyHandshake *handshakes_ = nullptr;
    Request *orphans_ = nullptr;
    size_t connection_count_ = 0;
    RequestPool *request_pool_ = nullptr;  // closed (not deleted) by the destructor
    ParseStatePool parse_state_pool_;      // destroyed after the destructor closed the connections
    // Shared with requests that hold counted bytes, which may outlive the server.
    CountedRef<MemoryBudget> body_budget_ =
        CountedRef<MemoryBudget>::adopt(new (std::nothrow) MemoryBudget());

    eddy_request_fn access_cb_ = nullptr;
    void *access_userdata_ = nullptr;
    eddy_free_fn access_free_ = nullptr;

    bool shutting_down_ = false;
    bool shutdown_done_posted_ = false;
    bool retired_ = false;
    unsigned dispatching_ = 0;
    eddy_server_done_fn done_cb_ = nullptr;
    void *done_userdata_ = nullptr;
    eddy_free_fn done_free_ = nullptr;
};

}  // namespace eddy::http
