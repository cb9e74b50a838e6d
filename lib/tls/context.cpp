#include "tls/context.hpp"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <strings.h>

#include <atomic>
#include <cctype>
#include <cstdint>
#include <cstring>
#include <new>

#include "tls/tls_stream.hpp"
#include "util/log.hpp"

namespace eddy::tls {

std::string openssl_errors() noexcept {
    try {
        std::string out;
        unsigned long e;
        char buf[256];
        while ((e = ERR_get_error()) != 0) {
            ERR_error_string_n(e, buf, sizeof buf);
            if (!out.empty()) out += "; ";
            out += buf;
        }
        return out.empty() ? std::string("no OpenSSL error queued") : out;
    } catch (...) {
        ERR_clear_error();
        return std::string("out of memory");  // short enough to need no allocation
    }
}

Context *Context::create(bool server) {
    Context *c = new (std::nothrow) Context(server);
    if (!c) return nullptr;
    if (!c->init()) {
        log(LogLevel::error, "tls: cannot create a context: %s", openssl_errors().c_str());
        delete c;
        return nullptr;
    }
    return c;
}

bool Context::init() {
    ctx_ = SSL_CTX_new(server_ ? TLS_server_method() : TLS_client_method());
    if (!ctx_) return false;
    SSL_CTX_set_min_proto_version(ctx_, TLS1_2_VERSION);
    // Partial writes and a moving buffer: the stream retries from its evbuffer, whose first
    // bytes may move between attempts. Release buffers of idle connections (memory per
    // connection). A peer that closes without close_notify ends the stream like a TCP EOF
    // (HTTP framing detects truncation where it matters).
    SSL_CTX_set_mode(ctx_, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                               SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_options(ctx_, SSL_OP_IGNORE_UNEXPECTED_EOF | SSL_OP_NO_RENEGOTIATION |
                                  SSL_OP_CIPHER_SERVER_PREFERENCE);
    static const char *const kDefaultAlpn[] = {"http/1.1"};
    if (set_alpn(kDefaultAlpn, 1) != 0) return false;
    if (server_) {
        SSL_CTX_set_tlsext_servername_callback(ctx_, on_servername);
        SSL_CTX_set_tlsext_servername_arg(ctx_, this);
        SSL_CTX_set_alpn_select_cb(ctx_, on_alpn_select, this);
        SSL_CTX_set_session_cache_mode(ctx_, SSL_SESS_CACHE_SERVER);
        // One session id context per server context: a TLS 1.2 session (id or ticket) made
        // under one SNI context is then never resumed under another, whose checks (a required
        // client certificate, say) it did not pass. (TLS 1.3 resumes before the SNI callback:
        // on_servername checks the name instead.)
        static std::atomic<uint64_t> contexts_made{0};
        uint64_t serial = ++contexts_made;
        memcpy(sid_ctx_, "eddy", 4);
        memcpy(sid_ctx_ + 4, &serial, sizeof serial);
        SSL_CTX_set_session_id_context(ctx_, sid_ctx_, sizeof sid_ctx_);
    } else {
        SSL_CTX_set_session_cache_mode(ctx_,
                                       SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
        SSL_CTX_sess_set_new_cb(ctx_, on_new_session);
        if (SSL_CTX_set_default_verify_paths(ctx_) != 1) ERR_clear_error();
        set_verify(EDDY_TLS_VERIFY_REQUIRED);
    }
    return true;
}

Context::~Context() {
    for (auto &kv : sessions_) SSL_SESSION_free(kv.second);
    if (ctx_) SSL_CTX_free(ctx_);
    if (sni_free_) sni_free_(sni_userdata_);
}

void Context::unref() {
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
}

namespace {

// Reads the first certificate, then the rest of the chain, from a PEM BIO.
bool use_chain(SSL_CTX *ctx, BIO *bio) {
    X509 *leaf = PEM_read_bio_X509_AUX(bio, nullptr, nullptr, nullptr);
    if (!leaf) return false;
    bool ok = SSL_CTX_use_certificate(ctx, leaf) == 1;
    X509_free(leaf);
    if (!ok) return false;
    SSL_CTX_clear_chain_certs(ctx);
    X509 *extra;
    while ((extra = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr)) != nullptr) {
        if (SSL_CTX_add0_chain_cert(ctx, extra) != 1) {
            X509_free(extra);
            return false;
        }
    }
    ERR_clear_error();  // the end of the PEM data reads as an error
    return true;
}

size_t text_len(const char *p, size_t len) {
    return len == static_cast<size_t>(-1) ? strlen(p) : len;
}

}  // namespace

int Context::load_cert_file(const char *cert_path, const char *key_path) {
    if (!cert_path || !key_path) return EDDY_EINVAL;
    if (SSL_CTX_use_certificate_chain_file(ctx_, cert_path) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx_, key_path, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(ctx_) != 1) {
        log(LogLevel::error, "tls: cannot load %s / %s: %s", cert_path, key_path,
            openssl_errors().c_str());
        return EDDY_EINVAL;
    }
    return 0;
}

int Context::load_cert_mem(const char *cert, size_t cert_len, const char *key, size_t key_len) {
    if (!cert || !key) return EDDY_EINVAL;
    BIO *cb = BIO_new_mem_buf(cert, static_cast<int>(text_len(cert, cert_len)));
    BIO *kb = BIO_new_mem_buf(key, static_cast<int>(text_len(key, key_len)));
    bool ok = cb && kb && use_chain(ctx_, cb);
    EVP_PKEY *pkey = ok ? PEM_read_bio_PrivateKey(kb, nullptr, nullptr, nullptr) : nullptr;
    ok = ok && pkey && SSL_CTX_use_PrivateKey(ctx_, pkey) == 1 &&
         SSL_CTX_check_private_key(ctx_) == 1;
    EVP_PKEY_free(pkey);
    BIO_free(cb);
    BIO_free(kb);
    if (!ok) {
        log(LogLevel::error, "tls: cannot load the certificate/key from memory: %s",
            openssl_errors().c_str());
        return EDDY_EINVAL;
    }
    return 0;
}

int Context::load_ca_file(const char *path) {
    if (!path) return EDDY_EINVAL;
    if (SSL_CTX_load_verify_locations(ctx_, path, nullptr) != 1) {
        log(LogLevel::error, "tls: cannot load CAs from %s: %s", path, openssl_errors().c_str());
        return EDDY_EINVAL;
    }
    if (server_) {
        // Added to the names already sent in the CertificateRequest (as load_ca_mem does): a
        // second file must not hide the first one's CAs from clients choosing a certificate.
        STACK_OF(X509_NAME) *list = SSL_CTX_get_client_CA_list(ctx_);
        if (!list) {
            SSL_CTX_set_client_CA_list(ctx_, sk_X509_NAME_new_null());
            list = SSL_CTX_get_client_CA_list(ctx_);
        }
        if (!list || SSL_add_file_cert_subjects_to_stack(list, path) != 1) ERR_clear_error();
    }
    ca_loaded_ = true;
    return 0;
}

int Context::load_ca_mem(const char *pem, size_t len) {
    if (!pem) return EDDY_EINVAL;
    BIO *bio = BIO_new_mem_buf(pem, static_cast<int>(text_len(pem, len)));
    if (!bio) return EDDY_ENOMEM;
    X509_STORE *store = SSL_CTX_get_cert_store(ctx_);
    int added = 0;
    X509 *x;
    while ((x = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr)) != nullptr) {
        if (X509_STORE_add_cert(store, x) == 1) added++;
        if (server_) SSL_CTX_add_client_CA(ctx_, x);
        X509_free(x);
    }
    ERR_clear_error();
    BIO_free(bio);
    if (added == 0) {
        log(LogLevel::error, "tls: no CA certificate in the PEM text given");
        return EDDY_EINVAL;
    }
    ca_loaded_ = true;
    return 0;
}

int Context::set_verify(int mode) {
    int flags;
    switch (mode) {
    case EDDY_TLS_VERIFY_NONE: flags = SSL_VERIFY_NONE; break;
    case EDDY_TLS_VERIFY_OPTIONAL:
        if (!server_) return EDDY_EINVAL;
        flags = SSL_VERIFY_PEER;
        break;
    case EDDY_TLS_VERIFY_REQUIRED:
        flags = SSL_VERIFY_PEER | (server_ ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0);
        break;
    default: return EDDY_EINVAL;
    }
    verify_mode_ = mode;
    SSL_CTX_set_verify(ctx_, flags, nullptr);
    return 0;
}

int Context::set_alpn(const char *const *protocols, size_t count) {
    // The list's wire form has a 2-byte length: each name takes at least 2 bytes of it.
    if ((count && !protocols) || count > 32767) return EDDY_EINVAL;
    std::string wire;
    for (size_t i = 0; i < count; i++) {
        size_t n = protocols[i] ? strlen(protocols[i]) : 0;
        if (n == 0 || n > 255) return EDDY_EINVAL;
        wire += static_cast<char>(n);
        wire.append(protocols[i], n);
    }
    if (wire.size() > 65535) return EDDY_EINVAL;
    alpn_wire_ = wire;
    // A client sends the list in its hello; a server answers from on_alpn_select.
    if (!server_ &&
        SSL_CTX_set_alpn_protos(ctx_, reinterpret_cast<const unsigned char *>(alpn_wire_.data()),
                                static_cast<unsigned>(alpn_wire_.size())) != 0)
        return EDDY_ENOMEM;
    return 0;
}

int Context::set_min_version(int version) {
    if (version != EDDY_TLS_1_2 && version != EDDY_TLS_1_3) return EDDY_EINVAL;
    return SSL_CTX_set_min_proto_version(ctx_, version) == 1 ? 0 : EDDY_EINVAL;
}

int Context::set_session_tickets(bool on) {
    if (on) {
        SSL_CTX_clear_options(ctx_, SSL_OP_NO_TICKET);
    } else {
        SSL_CTX_set_options(ctx_, SSL_OP_NO_TICKET);
    }
    return 0;
}

void Context::set_sni_callback(eddy_tls_sni_fn cb, void *userdata, eddy_free_fn free_userdata) {
    if (sni_free_) sni_free_(sni_userdata_);
    sni_cb_ = cb;
    sni_userdata_ = userdata;
    sni_free_ = free_userdata;
}

Context *Context::context_for_name(const char *name) {
    if (!sni_cb_) return this;
    eddy_tls_context *picked = sni_cb_(as_c(), name, sni_userdata_);
    Context *other = picked ? from_c(picked) : nullptr;
    if (!other || !other->server_) return this;
    return other;
}

int Context::on_servername(SSL *ssl, int *alert, void *arg) {
    Context *self = static_cast<Context *>(arg);
    const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    if (!self->sni_cb_) return SSL_TLSEXT_ERR_OK;
    // OpenSSL decides on resumption before this callback, in the default context: a session
    // made for another name would carry that name's checks (no client certificate, say) into
    // this one's (nginx's CVE-2025-23419). Resume only under the name the session was made for.
    if (SSL_session_reused(ssl)) {
        const SSL_SESSION *session = SSL_get_session(ssl);
        const char *made_for = session ? SSL_SESSION_get0_hostname(session) : nullptr;
        bool same = made_for && name ? strcasecmp(made_for, name) == 0 : made_for == name;
        if (!same) {
            log(LogLevel::info, "tls: refused to resume a session of %s under %s",
                made_for ? made_for : "(no name)", name ? name : "(no name)");
            *alert = SSL_AD_ACCESS_DENIED;
            return SSL_TLSEXT_ERR_ALERT_FATAL;
        }
    }
    if (!name) return SSL_TLSEXT_ERR_OK;
    // The callback sees the name as a Host header's would reach it (lower case, no final dot:
    // RFC 6066 §3 sends none), so that "Other.Test." picks what "other.test" does — the same
    // name serves_host later asks the callback about.
    std::string normalized(name);
    if (!normalized.empty() && normalized.back() == '.') normalized.pop_back();
    for (char &c : normalized) c = static_cast<char>(tolower(static_cast<unsigned char>(c)));
    eddy_tls_context *picked = self->sni_cb_(self->as_c(), normalized.c_str(), self->sni_userdata_);
    Context *other = picked ? from_c(picked) : nullptr;
    if (!other || other == self) return SSL_TLSEXT_ERR_OK;
    if (!other->server_) {
        log(LogLevel::warning, "tls: the SNI callback returned a client context for %s", name);
        return SSL_TLSEXT_ERR_OK;
    }
    TlsStream *stream = static_cast<TlsStream *>(SSL_get_app_data(ssl));
    if (stream) stream->adopt_context(other);
    SSL_set_SSL_CTX(ssl, other->ctx_);
    // The new session (TLS 1.2) was made with the default context's id context before this
    // callback: it must name the picked one, or it could be resumed under the default's name.
    if (SSL_SESSION *session = SSL_get_session(ssl))
        SSL_SESSION_set1_id_context(session, other->sid_ctx_, sizeof other->sid_ctx_);
    // SSL_set_SSL_CTX keeps the original verify settings; take the picked context's.
    SSL_set_verify(ssl, SSL_CTX_get_verify_mode(other->ctx_), nullptr);
    return SSL_TLSEXT_ERR_OK;
}

int Context::on_alpn_select(SSL *, const unsigned char **out, unsigned char *outlen,
                            const unsigned char *in, unsigned int inlen, void *arg) {
    Context *self = static_cast<Context *>(arg);
    if (self->alpn_wire_.empty()) return SSL_TLSEXT_ERR_NOACK;
    unsigned char *selected = nullptr;
    if (SSL_select_next_proto(
            &selected, outlen, reinterpret_cast<const unsigned char *>(self->alpn_wire_.data()),
            static_cast<unsigned>(self->alpn_wire_.size()), in, inlen) != OPENSSL_NPN_NEGOTIATED)
        // Nothing in common: RFC 7301 §3.2 says the server SHALL answer with the fatal
        // no_application_protocol alert (nginx and Go do; carrying on would let a client that
        // speaks only, say, h2 send its preface to an HTTP/1.1 parser).
        return SSL_TLSEXT_ERR_ALERT_FATAL;
    *out = selected;
    return SSL_TLSEXT_ERR_OK;
}

int Context::on_new_session(SSL *ssl, SSL_SESSION *session) {
    TlsStream *stream = static_cast<TlsStream *>(SSL_get_app_data(ssl));
    if (!stream || stream->session_key().empty()) return 0;
    Context *self = stream->context();
    self->store_session(stream->session_key(), session);
    return 1;  // we keep the reference
}

SSL_SESSION *Context::take_session(const std::string &key) {
    std::lock_guard<std::mutex> lock(sessions_mutex_);
    auto it = sessions_.find(key);
    if (it == sessions_.end()) return nullptr;
    SSL_SESSION *s = it->second;
    SSL_SESSION_up_ref(s);
    return s;
}

void Context::store_session(const std::string &key, SSL_SESSION *session) {
    std::lock_guard<std::mutex> lock(sessions_mutex_);
    constexpr size_t kMaxSessions = 1024;
    auto it = sessions_.find(key);
    if (it != sessions_.end()) {
        SSL_SESSION_free(it->second);
        it->second = session;
        return;
    }
    if (sessions_.size() >= kMaxSessions) {  // drop an arbitrary one: a cache, not a record
        SSL_SESSION_free(sessions_.begin()->second);
        sessions_.erase(sessions_.begin());
    }
    try {
        sessions_.emplace(key, session);
    } catch (...) {
        SSL_SESSION_free(session);
    }
}

}  // namespace eddy::tls
