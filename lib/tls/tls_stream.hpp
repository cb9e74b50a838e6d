// TlsStream: the TLS variant of Stream (Tornado's SSLIOStream). OpenSSL works directly on the
// socket (a socket BIO): the kernel buffers ciphertext, so there is no second buffer to
// manage and no extra copy; the stream only maps OpenSSL's WANT_READ/WANT_WRITE onto its
// libevent interest. Every Stream user (HTTP server, client, WebSocket) gets TLS unchanged.
//
// Life: the handshake starts at creation (a server waits for the ClientHello, a client sends
// its hello as soon as the socket is writable) and must finish within the context's handshake
// timeout. Reads and writes issued meanwhile wait for it. A failed handshake is logged and
// closes the stream with EDDY_ETLS (EDDY_ETIMEDOUT for the timeout). A server stream makes its
// OpenSSL object only when the client's first bytes arrive (see begin_server_handshake).
#pragma once

#include <openssl/ssl.h>

#include <memory>
#include <string>

#include "stream/stream.hpp"

namespace eddy::tls {

class Context;

class TlsStream : public Stream {
public:
    // Takes ownership of `fd` on success; nullptr on failure (fd untouched). The SSL object is
    // made when the socket first becomes readable (nginx does the same): a connection that
    // sends nothing holds none. `ssl_now`: make it here instead (STARTTLS, whose caller reports
    // running out of memory at once).
    static TlsStream *create_server(Loop *loop, int fd, Context *ctx, bool ssl_now = false);
    // `server_name`: SNI and the name verified (IP literals are verified as addresses).
    // `session_key`: where resumable sessions are kept in the context ("host:port").
    static TlsStream *create_client(Loop *loop, int fd, Context *ctx,
                                    const std::string &server_name, const std::string &session_key);

    bool handshake_done() const { return hs_done_; }
    // For an HTTP server's streams: when a plain HTTP request arrives where the handshake was
    // due (a user who typed http:// for an https:// port), it is answered with a plain-text 400
    // before the close, as nginx does, instead of an empty reply. Any method, in any case, and
    // any other text (a first record whose header is printable ASCII, which no TLS record's
    // is) gets it; binary bytes that are not TLS are closed without a word. After the 400 the
    // close lingers, as the plain server's after its own 400s (linger_after_refusal): the
    // close callback then comes up to the linger time later, with 0.
    void answer_plain_http(bool on) { answer_plain_http_ = on; }
    // A client stream: whether the peer sent close_notify (a server's clean end of a response
    // that is delimited by the close).
    bool close_notify_received() const { return close_notify_received_; }
    // Why the handshake or a later TLS read failed ("certificate verification: certificate has
    // expired", an alert), "" when it did not: the HTTP client reports it with the error.
    const std::string &failure() const { return failure_; }
    // Calls `fn(arg)` once when the handshake completes (nullptr: no longer). The HTTP client's
    // connect timeout lasts until then.
    void on_handshake_done(void (*fn)(void *arg), void *arg) {
        hs_done_fn_ = fn;
        hs_done_arg_ = arg;
    }
    // Tornado's wait_for_handshake: `fn(this, error, arg)` runs once, on the loop, with 0 when
    // the handshake has completed (at the end of this loop pass when it already had), else
    // with the error the stream closed with (EDDY_ETLS, EDDY_ETIMEDOUT, EDDY_ECLOSED for a
    // close without one) just before the close callback. `release(arg)` (may be null) runs
    // after it, or alone when the stream goes without callbacks (its loop freed). Returns 0,
    // EDDY_EBUSY (a wait is already registered), EDDY_ECLOSED, EDDY_ENOMEM; on failure the
    // caller keeps `arg`.
    using HandshakeWaitFn = void (*)(TlsStream *s, int error, void *arg);
    int wait_for_handshake(HandshakeWaitFn fn, void *arg, void (*release)(void *arg));
    const char *alpn() const { return alpn_.c_str(); }
    bool session_reused() const { return hs_done_ && SSL_session_reused(ssl_); }
    // The SNI callback picked another context: keep it alive as long as the connection.
    void adopt_context(Context *ctx);
    Context *context() const { return ctx_; }
    // The server name the client sent (SNI), nullptr when none.
    const char *server_name() const;
    // The peer's certificate (borrowed, valid while the stream lives), nullptr when none.
    X509 *peer_certificate() const;
    bool serves_host(std::string_view host) const override;
    const std::string &session_key() const { return session_key_; }
    // The socket's bytes are records, never fewer than the data they carry: an upper bound,
    // unless OpenSSL holds input of its own (SIZE_MAX then).
    size_t input_in_transport() const override;

protected:
    ~TlsStream() override;
    ssize_t transport_read(evbuffer *in, size_t hint) override;
    ssize_t transport_recv(char *buf, size_t len) override;
    ssize_t transport_write(evbuffer *out, size_t limit) override;
    ssize_t transport_sendfile(int file_fd, off_t *offset, size_t len) override;
    void on_io(short what) override;
    short transport_interest(short want) override;
    void transport_closing() override;

private:
    TlsStream(Loop *loop, int fd, Context *ctx);
    bool make_server_ssl();
    bool begin_server_handshake();  // the socket is readable and there is no SSL object yet
    void start_handshake_timer();
    void handshake();
    void fail_handshake(int ssl_error);
    void end_failed_handshake(std::string why, bool server);  // log, failure(), close
    // The 400 of answer_plain_http(), best effort: true when it was all handed to the socket.
    bool send_plain_http_refusal();
    void linger_after_refusal(std::string why);  // log, failure(), then a lingering close
    void push_ack();  // acknowledge at once the input just read (see tls_stream.cpp)
    // Maps a failed SSL_read/SSL_write to errno and -1 (0 for a clean EOF on reads).
    ssize_t map_error(int ret, bool reading);
    void drain_pending();
    bool has_buffered_input() const;  // input OpenSSL holds that a read can make progress on
    static void on_handshake_timeout(TimerNode *node);
    static void note_alert(const SSL *ssl, int where, int value);
    static void note_message(int write_p, int version, int content_type, const void *buf,
                             size_t len, SSL *ssl, void *arg);
    void count_post_handshake_message();
    static void run_pending(DeferredTask *task);
    void before_close_callback(int error) override;
    void notify_handshake_waiter(int error);
    static void run_handshake_waiter(DeferredTask *task);
    // Who waits for the handshake (wait_for_handshake): apart, as few streams have one.
    struct HandshakeWaiter {
        HandshakeWaitFn fn;
        void *arg;
        void (*release)(void *arg);
        DeferredTask task;  // tells a waiter that came after the handshake
    };
    std::unique_ptr<HandshakeWaiter> hs_waiter_;

    Context *ctx_;
    Context *sni_ctx_ = nullptr;
    SSL *ssl_ = nullptr;
    TimerNode hs_timer_;
    DeferredTask pending_task_;  // decrypted bytes held by OpenSSL wait for a reader
    std::string alpn_;
    std::string session_key_;
    std::string failure_;
    void (*hs_done_fn_)(void *arg) = nullptr;
    void *hs_done_arg_ = nullptr;
    // Post-handshake handshake messages the peer may still send (KeyUpdate, NewSessionTicket,
    // a renegotiation attempt): a bucket of kPostHandshakeBurst, refilled over time.
    double post_hs_budget_ = 0;
    double post_hs_time_ = 0;
    short hs_want_ = EV_READ;
    bool hs_done_ = false;
    bool close_notify_received_ = false;
    bool eof_pending_ = false;  // a close_notify came with the last data read (see transport_recv)
    int error_pending_ = 0;     // the errno of a failure that came with the last data read
    bool failed_ = false;
    bool answer_plain_http_ = false;  // see answer_plain_http()
    bool first_record_seen_ = false;
    bool first_record_text_ = false;  // the first record's header was printable ASCII
    bool flooded_ = false;  // over the post-handshake budget: the socket was shut down
    bool refused_plain_http_ = false;  // the 400 went out: lingering (linger_after_refusal)
    bool shutdown_sent_ = false;
    bool read_wants_write_ = false;
    bool write_wants_read_ = false;
    bool need_socket_ = false;  // the last SSL_read wanted more bytes from the socket
};

}  // namespace eddy::tls
