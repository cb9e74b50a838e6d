// TlsContext: an OpenSSL SSL_CTX with eddy's defaults (TLS 1.2+, ALPN, SNI callback, session
// resumption, verification) behind eddy_tls_context. Reference counted: servers, client pools
// and streams keep it alive while they use it.
#pragma once

#include <openssl/ssl.h>

#include <atomic>
#include <map>
#include <mutex>
#include <string>

#include "eddy/tls.h"

namespace eddy::tls {

class Context {
public:
    static Context *create(bool server);
    void ref() { refs_.fetch_add(1, std::memory_order_relaxed); }
    void unref();

    eddy_tls_context *as_c() { return reinterpret_cast<eddy_tls_context *>(this); }
    static Context *from_c(eddy_tls_context *c) { return reinterpret_cast<Context *>(c); }

    SSL_CTX *ssl_ctx() const { return ctx_; }
    bool is_server() const { return server_; }
    bool verify_peer() const { return verify_mode_ != EDDY_TLS_VERIFY_NONE; }

    int load_cert_file(const char *cert_path, const char *key_path);
    int load_cert_mem(const char *cert, size_t cert_len, const char *key, size_t key_len);
    int load_ca_file(const char *path);
    int load_ca_mem(const char *pem, size_t len);
    int set_verify(int mode);
    int set_alpn(const char *const *protocols, size_t count);
    int set_min_version(int version);
    int set_session_tickets(bool on);
    void set_sni_callback(eddy_tls_sni_fn cb, void *userdata, eddy_free_fn free_userdata);
    // The server context the SNI callback picks for `name` (this one when there is no callback
    // or it keeps the default).
    Context *context_for_name(const char *name);

    double handshake_timeout = 10;

    // Client side: the last session per "host:port", offered again on the next connection.
    SSL_SESSION *take_session(const std::string &key);
    void store_session(const std::string &key, SSL_SESSION *session);  // takes the reference

private:
    explicit Context(bool server) : server_(server) {}
    ~Context();
    bool init();
    static int on_servername(SSL *ssl, int *alert, void *arg);
    static int on_alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                              const unsigned char *in, unsigned int inlen, void *arg);
    static int on_new_session(SSL *ssl, SSL_SESSION *session);

    std::atomic<int> refs_{1};
    bool server_;
    SSL_CTX *ctx_ = nullptr;
    int verify_mode_ = EDDY_TLS_VERIFY_NONE;
    bool ca_loaded_ = false;
    std::string alpn_wire_;  // length-prefixed protocol names, preference order
    unsigned char sid_ctx_[12] = {};  // this server context's session id context (see init)
    eddy_tls_sni_fn sni_cb_ = nullptr;
    void *sni_userdata_ = nullptr;
    eddy_free_fn sni_free_ = nullptr;
    std::mutex sessions_mutex_;  // client contexts may be shared by loops on several threads
    std::map<std::string, SSL_SESSION *> sessions_;
};

// Formats the OpenSSL error queue (and clears it) for a log line.
std::string openssl_errors() noexcept;

}  // namespace eddy::tls
