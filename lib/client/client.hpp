// The asynchronous HTTP client (Tornado's AsyncHTTPClient): Client owns the limits, the queue
// and the keep-alive pool; Fetch is one request with its redirects (fetch.cpp) and its
// response parsing (fetch_response.cpp).
#pragma once

#include <http_parser.h>

#include <deque>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "client/url.hpp"
#include "eddy/client.h"
#include "loop/loop.hpp"
#include "util/no_throw.hpp"

namespace eddy {
class Stream;
class Connector;
namespace http {
class GzipDecoder;
}
namespace tls {
class Context;
}
}  // namespace eddy

namespace eddy::client {

class Fetch;

// 1xx heads accepted before a final answer (a response's, or a proxy's to CONNECT): a server
// may send several, not endless ones.
constexpr int kMaxInterimResponses = 100;

class Client : public LoopResource {
public:
    static Client *create(Loop *loop);
    void destroy();  // cancels everything (done callbacks run), then deletes
    void on_loop_free() override;

    eddy_client *as_c() { return reinterpret_cast<eddy_client *>(this); }
    static Client *from_c(eddy_client *c) { return reinterpret_cast<Client *>(c); }
    static const Client *from_c(const eddy_client *c) {
        return reinterpret_cast<const Client *>(c);
    }

    Loop *loop() const { return loop_; }
    // destroy() is running: the `done` callbacks it calls may try to start fetches.
    bool destroying() const { return destroying_; }
    size_t max_clients = 10;
    size_t max_queue = 1000;
    size_t max_idle_per_host = 4;
    double idle_timeout = 60;
    std::string proxy_host;
    int proxy_port = 0;

    // Raising the limit starts queued fetches at once (they would otherwise wait for a running
    // one to end); lowering it stops none.
    void set_max_clients(size_t n);
    void set_tls(tls::Context *ctx);
    tls::Context *tls();  // the default verifying context is made on first use

    // Fetch life cycle.
    // Room in the lists for one more started fetch, taken before it starts (throws
    // std::bad_alloc): a fetch moving on (queued, running, finishing) then needs no memory,
    // so that finishing one cannot fail.
    void make_room();
    int submit(Fetch *f);     // queue or run
    void finished(Fetch *f);  // a running fetch is done: run the next queued one
    void unqueue(Fetch *f);   // a queued fetch was cancelled or timed out
    void start_queued();      // runs queued fetches while fewer than max_clients run
    // Fetches whose `done` is due on the next iteration (run at once if the client goes).
    void add_finishing(Fetch *f);
    void remove_finishing(Fetch *f);
    // The pool: an idle connection for `key`, or nullptr. Takes ownership of `s` in put().
    Stream *take_idle(const std::string &key);
    void put_idle(const std::string &key, Stream *s);
    size_t idle_count() const;

private:
    explicit Client(Loop *loop) : loop_(loop) {}
    ~Client() override;
    struct Idle {
        Client *client;
        std::string key;
        Stream *stream;
        TimerNode timer;
    };
    void drop_idle(Idle *idle, bool close_stream);
    // A TLS connection made with another context than the current one (set_tls since).
    bool made_with_other_tls(const Stream *s) const;
    static void on_idle_close(Stream *s, int error, void *arg);
    static size_t on_idle_bytes(Stream *s, const char *data, size_t len, void *arg);
    static void on_idle_timeout(TimerNode *node);

    Loop *loop_;
    tls::Context *tls_ = nullptr;
    size_t active_ = 0;
    std::vector<Fetch *> running_;
    std::deque<Fetch *> queue_;
    std::vector<Fetch *> finishing_;
    std::multimap<std::string, Idle *> idle_;
    bool destroying_ = false;
};

struct Header {
    std::string name;
    std::string value;
};

// Whether following a `status` redirect turns `method` into a GET without a body: 303 (but
// HEAD stays HEAD), and 301/302 after POST, as browsers and Tornado do. Any other redirect
// sends the same method with the same body again.
inline bool redirect_becomes_get(int status, const std::string &method) {
    return (status == 303 && method != "HEAD") ||
           ((status == 301 || status == 302) && method == "POST");
}

// Whether `method` is idempotent (RFC 9110 §9.2.2): only such a request may be sent again
// on its own after its connection failed (RFC 9112 §9.3.1).
inline bool idempotent_method(const std::string &method) {
    return method == "GET" || method == "HEAD" || method == "OPTIONS" || method == "TRACE" ||
           method == "PUT" || method == "DELETE";
}

class Fetch {
public:
    Fetch(Client *client, std::string method, std::string url_text);
    ~Fetch();
    eddy_fetch *as_c() { return reinterpret_cast<eddy_fetch *>(this); }
    static Fetch *from_c(eddy_fetch *f) { return reinterpret_cast<Fetch *>(f); }
    static const Fetch *from_c(const eddy_fetch *f) { return reinterpret_cast<const Fetch *>(f); }

    // Options (before start).
    std::vector<Header> headers;
    std::string body;
    bool streamed_body = false;
    int64_t stream_length = -1;
    bool body_ended = false;
    double connect_timeout = 20;
    double request_timeout = 20;
    double read_timeout = 0;  // eddy_fetch_set_read_timeout: 0, none
    int max_redirects = 5;
    size_t max_body_size = 100u * 1024u * 1024u;
    bool decompress = true;
    bool expect_continue = false;
    // eddy_fetch_set_connect_to: where to connect for the URL's origin (empty: its own host).
    std::string connect_host;
    int connect_port = 0;  // 0: the URL's port
    // eddy_fetch_set_unix_socket: the Unix socket to connect to for the URL's origin (empty:
    // TCP). Like connect_host, the request still names the URL.
    std::string unix_socket;
    eddy_fetch_headers_fn on_headers = nullptr;
    eddy_fetch_chunk_fn on_chunk = nullptr;

    // Part of the request could not be stored (out of memory): a header, the body, a piece of
    // a streamed body, the connect_to address. The request must not go without it, even when
    // the application ignores the EDDY_ENOMEM it got: start() refuses it; a started fetch
    // (a streamed body's piece) ends with EDDY_ENOMEM. Logs `what`; returns EDDY_ENOMEM.
    [[gnu::noinline, gnu::cold]] int lose(const char *what);

    int start(eddy_fetch_done_fn done, void *userdata, eddy_free_fn free_userdata);
    int cancel();
    int write_body(const char *data, size_t len);
    int end_body();
    // eddy_fetch_flush_body / eddy_fetch_body_buffered.
    int flush_body(eddy_fetch_flush_fn cb);
    size_t body_buffered() const;
    bool started() const { return started_; }
    // eddy_fetch_pause_body / eddy_fetch_resume_body.
    int pause_body();
    int resume_body();

    // Called by the client.
    void run();             // a slot is free: get a connection
    void abort(int error);  // finish with `error` (client freed, queue full, ...)
    void loop_freed();      // the loop is going: release everything, no callbacks
    void finish_now();      // the client is going: run a due `done` at once

    // The response.
    int status = 0;
    std::string reason;
    std::string error_detail;  // what eddy knows beyond the error code (a TLS failure's reason)
    std::vector<Header> response_headers;
    std::string response_body;
    const Header *find_response_header(const char *name) const;
    Url url;
    std::string url_text;
    int redirects = 0;
    bool reused = false;

private:
    enum class Phase {
        created,
        queued,
        connecting,
        tunnel,
        sending,
        waiting_continue,
        reading,
        done
    };
    struct Waiter {  // the connect's userdata: lives until its done or release ran
        Fetch *fetch;
        Connector *connector = nullptr;  // set when the connect started
    };
    // A connect still running for a fetch that ended (finished, freed): given up, its sockets
    // closed (the connector's own timeout is none: the fetch's timer bounds the wait).
    void abandon_connect();

    // Connection.
    // The client's proxy when the fetch started (eddy_client_set_proxy applies to fetches
    // started after it): where it connects, how it names its target and its pool key agree.
    std::string proxy_host_;
    int proxy_port_ = 0;
    // A Unix socket is local: the proxy is not used for its origin (curl's --unix-socket
    // ignores the proxy too); a redirect elsewhere goes through it as any fetch does.
    bool proxied() const { return !proxy_host_.empty() && !via_unix(); }
    std::string pool_key() const;
    // connect_to applies to the first URL's origin only: a redirect elsewhere connects there.
    bool connects_elsewhere() const { return !connect_host.empty() && at_connect_origin(); }
    // The same for the Unix socket (the two are never set together: start() refuses it).
    bool via_unix() const { return !unix_socket.empty() && at_connect_origin(); }
    // Whether the URL (after redirects) is still the one start() had, compared without
    // allocating: these predicates run where a bad_alloc would leave a connect half made
    // (proxied() uses via_unix()).
    bool at_connect_origin() const {
        return url.port == connect_origin_.port && url.scheme == connect_origin_.scheme &&
               url.host == connect_origin_.host;
    }
    Url connect_origin_;  // scheme, host and port of the URL given (set with connect_to/unix)
    void start_timers();
    void restart_connect_timer();  // a redirect's or a retry's new connection: a new budget
    void get_connection();
    void connect_new();
    // Runs a step of the fetch from a loop callback: memory running out on the way finishes
    // the fetch with EDDY_ENOMEM through its done callback, as any other failure would.
    template <class Fn>
    void guarded(const char *where, Fn &&step) {
        if (!ran_without_exception(where, step)) finish(EDDY_ENOMEM);
    }
    // The same for http-parser's callbacks (C: nothing may unwind through it): the parser
    // stops and feed() finishes the fetch with EDDY_ENOMEM.
    template <class Fn>
    static int parser_step(http_parser *p, Fn &&step) {
        int rc = -1;
        if (!ran_without_exception("client: reading the response", [&] { rc = step(); })) {
            static_cast<Fetch *>(p->data)->parse_error_ = EDDY_ENOMEM;
            return -1;
        }
        return rc;
    }
    static void on_connected(Connector *c, Stream *stream, int error, void *arg);
    static void release_waiter(void *arg);
    void connected(Stream *stream);
    void start_tunnel();
    static void on_tunnel_head(Stream *s, const char *data, size_t len, void *arg);
    static void run_tunnel_tls(TimerNode *node);
    void start_tls(Stream *plain);
    // `connected`: the connection is ready (the connect timeout ends); false while a TLS
    // handshake or a proxy's CONNECT is still to come.
    void attach(Stream *s, bool connected = true);
    static void handshake_done(void *fetch);
    void detach_stream(bool keep);

    // Request.
    void send_request();
    void send_body();
    void flush_streamed();

    // eddy_fetch_flush_body: a callback waits until the stream has handed `target` bytes (its
    // bytes_sent()) to the kernel, `target` being where the body written before the call ends
    // in the stream's output. Until that body is queued on the stream (no connection yet, the
    // 100 Continue awaited) the target is unknown (0) and `body_end` (its end in the body)
    // decides when it is. The stream's write mark tells when bytes_sent() passed the first
    // target; the callbacks then run from flush_timer_ (never inside a write_body()).
    struct BodyFlush {
        uint64_t body_end;
        uint64_t target = 0;
        bool sent = false;  // settled: `status` is due
        int status = 0;
        eddy_fetch_flush_fn cb;
    };
    void place_flushes();  // gives the queued ones their target; re-arms the mark
    void check_flushes();  // marks those the stream sent; schedules flush_timer_ if any
    static void on_flush_drain(Stream *s, void *arg);
    static void on_flush_timer(TimerNode *node);
    void fail_flushes();  // the fetch ended: every pending callback, before `done`
    static void on_continue_timer(TimerNode *node);

    // Response (fetch_response.cpp).
    void reset_response();
    static size_t on_stream_data(Stream *s, const char *data, size_t len, void *arg);
    static void on_stream_close(Stream *s, int error, void *arg);
    size_t feed(const char *data, size_t len);
    void deliver_body(const char *data, size_t len);
    void message_complete();
    void log_bad_chunk_end() const;  // the bytes after a chunk's data are not CRLF
    void follow_redirect();
    // `tls_unconfirmed`: a TLS connection that ended without the server's close_notify.
    void handle_eof(int error, bool tls_unconfirmed = false);
    static int cb_status(http_parser *p, const char *at, size_t len);
    static int cb_header_field(http_parser *p, const char *at, size_t len);
    static int cb_header_value(http_parser *p, const char *at, size_t len);
    static int cb_headers_complete(http_parser *p);
    static int cb_body(http_parser *p, const char *at, size_t len);
    static int cb_message_complete(http_parser *p);
    static const http_parser_settings kSettings;

    void finish(int error, bool now = false);
    static void run_finish(Fetch *f);
    // The headers and chunk callbacks run while http-parser or the gzip decoder works on this
    // fetch's memory (parser_, gunzip_). One of them may free the client, which ends the fetch
    // and runs its `done` at once: the fetch is then deleted once that work returned, not under
    // it. A Busy marks such a span; deleted_after() ends it and says whether the fetch is gone.
    struct Busy {
        explicit Busy(Fetch *f) : fetch(f) { f->busy_++; }
        ~Busy() { fetch->busy_--; }
        Fetch *fetch;
    };
    // After a Busy span: true if the fetch was orphaned during it and is now deleted (the
    // caller returns without touching it).
    bool deleted_after();
    int busy_ = 0;
    bool delete_when_idle_ = false;
    static void on_finish_timer(TimerNode *node);

    // "<what> <span> <seconds> s": detail, log line, EDDY_ETIMEDOUT.
    void time_out(const char *what, double seconds, const char *span = "within");
    static void on_connect_timeout(TimerNode *node);
    static void on_request_timeout(TimerNode *node);
    static void on_read_timeout(TimerNode *node);
    // The read timeout runs again from now (no-op when it is off, paused or not reading yet).
    void arm_read_timer();

    // Flow control (pause_body): the parser is paused (HPE_PAUSED) where on_chunk paused, the
    // bytes after it stay in the stream's input buffer and no read is issued; a gzip body's
    // undecoded input stays in gunzip_ (GzipDecoder::hold).
    static void on_resume_timer(TimerNode *node);
    void continue_body();  // resume's deferred half: held gzip output, parser, reading
    static bool gunzip_sink(void *arg, const char *data, size_t n);
    // Takes a GzipDecoder::Result (declared in http/httputil.hpp, not included here); false
    // (parse_error_ set, or deliver_body's reason) when the body cannot go on.
    bool gunzip_result(int code);

    Client *client_;
    Loop *loop_;  // kept apart: `done` may run after the client was freed
    std::string method_;
    std::string original_method_;
    Phase phase_ = Phase::created;
    bool started_ = false;
    bool finishing_ = false;
    bool lost_ = false;  // see lose(): this request must not go out
    int error_ = 0;
    eddy_fetch_done_fn done_ = nullptr;
    void *userdata_ = nullptr;
    eddy_free_fn free_userdata_ = nullptr;

    Waiter *waiter_ = nullptr;
    Stream *stream_ = nullptr;
    TimerNode connect_timer_;
    TimerNode request_timer_;
    TimerNode continue_timer_;
    TimerNode finish_timer_;  // `done` on the next iteration (a timer: cancellable, unlike a post)
    TimerNode tunnel_timer_;  // TLS over the proxy tunnel once the CONNECT head is consumed
    TimerNode read_timer_;    // read_timeout: no byte from the server for that long
    TimerNode resume_timer_;  // resume_body's work, on the next iteration
    uint64_t read_mark_ = 0;  // the stream's bytes_sent() when read_timer_ was armed
    bool paused_ = false;     // pause_body() and no resume_body() since
    bool resume_due_ = false;  // resume_body() called, continue_body() not run yet
    // A clean close that came while paused: handled once the body resumes (the bytes before it
    // are still to be delivered).
    bool eof_pending_ = false;
    int eof_error_ = 0;
    bool eof_tls_unconfirmed_ = false;
    size_t body_sent_ = 0;    // streamed body bytes handed to the stream
    std::deque<BodyFlush> flushes_;  // eddy_fetch_flush_body callbacks still to run, in order
    TimerNode flush_timer_;          // runs the due ones on the next iteration
    bool *alive_ = nullptr;          // cleared by ~Fetch: a flush callback freed the client
    bool retried_ = false;    // a reused connection failed before any response: retried once
    // Bytes of the CRLF that must follow a chunk's data still to be checked (http-parser,
    // non-strict in Debian's build, skips whatever two bytes come there).
    uint8_t chunk_crlf_left_ = 0;

    http_parser parser_;
    std::string field_;
    bool in_value_ = false;
    size_t head_bytes_ = 0;
    const char *feed_end_ = nullptr;  // the end of the bytes http-parser is working on
    size_t body_bytes_ = 0;
    bool got_bytes_ = false;
    bool message_done_ = false;
    bool final_response_ = false;      // not a 1xx
    bool skip_body_delivery_ = false;  // a redirect that will be followed
    int interim_responses_ = 0;         // 1xx heads before the final one
    bool close_after_ = false;
    bool body_flowing_ = false;  // the request body may go out now
    bool body_end_sent_ = false;
    int parse_error_ = 0;      // an error decided inside a parser callback
    size_t delivered_ = 0;     // decoded body bytes
    uint64_t generation_ = 0;  // bumped per response: tells a redirect's new exchange apart
    Url next_url_;             // where a redirect being followed goes
    std::unique_ptr<http::GzipDecoder> gunzip_;
};

}  // namespace eddy::client
