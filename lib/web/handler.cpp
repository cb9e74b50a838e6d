#include "web/handler.hpp"

#include <zlib.h>

#include <bit>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <new>

#include "http/connection.hpp"
#include "http/request.hpp"
#include "util/log.hpp"
#include "util/no_throw.hpp"
#include "util/sanitizer.hpp"
#include "web/app.hpp"
#include "web/cookies.hpp"
#include "web/preconditions.hpp"
#include "web/route.hpp"
#include "web/static_files.hpp"

namespace eddy::web {

namespace {

constexpr size_t kMinGzipBytes = 1024;  // Tornado's threshold

// Tornado's list of compressible types, plus every text/* type.
bool compressible(std::string_view content_type) {
    std::string_view type = content_type.substr(0, content_type.find(';'));
    while (!type.empty() && type.back() == ' ') type.remove_suffix(1);
    if (type.substr(0, 5) == "text/") return true;
    static const char *const kTypes[] = {"application/javascript", "application/x-javascript",
                                         "application/xml",        "application/atom+xml",
                                         "application/json",       "application/xhtml+xml",
                                         "image/svg+xml"};
    for (const char *t : kTypes)
        if (http::iequals(type, t)) return true;
    return false;
}

bool gzip_bytes(const unsigned char *data, size_t len, std::string &out) {
    z_stream zs = {};
    if (deflateInit2(&zs, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK) return false;
    out.resize(deflateBound(&zs, len) + 32);
    zs.next_in = const_cast<unsigned char *>(data);
    zs.avail_in = static_cast<uInt>(len);
    zs.next_out = reinterpret_cast<unsigned char *>(out.data());
    zs.avail_out = static_cast<uInt>(out.size());
    int rc = deflate(&zs, Z_FINISH);
    out.resize(zs.total_out);
    deflateEnd(&zs);
    return rc == Z_STREAM_END;
}

std::string weak_etag(std::string_view strong) {
    std::string weak("W/");
    weak.append(strong);
    return weak;
}

// The automatic ETag: a 64-bit hash of the body (plus its length). Tornado uses SHA-1; a
// validator needs no cryptographic strength (the server computes it from its own bytes), and a
// SHA-1 per response costs more than the rest of the web layer together.
constexpr uint64_t kHashK1 = 0x9e3779b97f4a7c15ull, kHashK2 = 0xff51afd7ed558ccdull;

// Final avalanche (the finaliser of MurmurHash3, a published constant pair).
inline uint64_t hash_finish(uint64_t h, uint64_t tail) {
    h = (h ^ (tail * kHashK1)) * kHashK2;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 33;
    return h;
}

// Bodies over 16 bytes: eight bytes at a time, then the word that ends the body, shifted (a
// constant-size load for the last 1..7 bytes).
[[gnu::noinline]] uint64_t body_hash_long(const unsigned char *data, size_t len) {
    uint64_t h = kHashK1 ^ (len * kHashK2);
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t w;
        memcpy(&w, data + i, 8);
        h = (h ^ (w * kHashK1)) * kHashK2;
        h ^= h >> 29;
    }
    uint64_t tail = 0;
    size_t rest = len - i;
    if (rest != 0) {
        memcpy(&tail, data + len - 8, 8);
        if constexpr (std::endian::native == std::endian::little) {
            tail >>= 8 * (8 - rest);
        } else {
            tail <<= 8 * (8 - rest);
        }
    }
    return hash_finish(h, tail);
}

inline uint64_t body_hash(const unsigned char *data, size_t len) {
    if (len > 16) return body_hash_long(data, len);
    // Short bodies (the common API answer), inline: the first and the last up to 8 bytes,
    // loaded with constant-size moves (they overlap below 16 bytes; with the length mixed in,
    // two bodies of one length still differ in one of the words).
    uint64_t head = 0, tail = 0;
    if (len >= 8) {
        memcpy(&head, data, 8);
        memcpy(&tail, data + len - 8, 8);
    } else if (len >= 4) {
        uint32_t a, b;
        memcpy(&a, data, 4);
        memcpy(&b, data + len - 4, 4);
        head = a;
        tail = b;
    } else if (len > 0) {
        head = data[0] | (uint64_t{data[len / 2]} << 8) | (uint64_t{data[len - 1]} << 16);
    }
    uint64_t h = ((kHashK1 ^ (len * kHashK2)) ^ (head * kHashK1)) * kHashK2;
    h ^= h >> 29;
    return hash_finish(h, tail);
}

// Tornado's lenient unquote: malformed escapes stay as they are.
std::string unquote_lenient(std::string_view in) {
    std::string out;
    if (http::percent_decode(in, out, false)) return out;
    out.clear();
    for (size_t i = 0; i < in.size(); i++) {
        if (in[i] == '%' && i + 2 < in.size() && isxdigit(static_cast<unsigned char>(in[i + 1])) &&
            isxdigit(static_cast<unsigned char>(in[i + 2]))) {
            std::string piece;
            http::percent_decode(in.substr(i, 3), piece, false);
            out += piece;
            i += 2;
        } else {
            out += in[i];
        }
    }
    return out;
}

}  // namespace

// ---- the handler's memory and the app's list of live handlers -----------------------------------
// (App members, defined here beside the constructor and release that use them once per
// request, so that the compiler can inline them there.)

void App::link(Handler *h) {
    h->prev = nullptr;
    h->next = handlers_;
    if (handlers_) handlers_->prev = h;
    handlers_ = h;
}

void App::unlink(Handler *h) {
    if (h->prev) {
        h->prev->next = h->next;
    } else if (handlers_ == h) {
        handlers_ = h->next;
    }
    if (h->next) h->next->prev = h->prev;
    h->prev = h->next = nullptr;
}

// A handler lives for one request; reusing the memory of finished ones saves a malloc and a free
// per request. The list is short, and skipped under ASan so that a use after free is caught.
Handler *App::new_handler(Route *route, http::Request *req) {
    void *block;
    if (spare_handlers_) {
        block = spare_handlers_;
        spare_handlers_ = *static_cast<void **>(block);
        spare_handler_count_--;
    } else if (!(block = ::operator new(sizeof(Handler), std::nothrow))) {
        return nullptr;
    }
    return new (block) Handler(this, route, req);
}

void App::recycle_handler(void *block) {
    constexpr size_t kMaxSpareHandlers = 64;
    if (EDDY_UNDER_ASAN || spare_handler_count_ >= kMaxSpareHandlers) {
        ::operator delete(block);
        return;
    }
    *static_cast<void **>(block) = spare_handlers_;  // the list runs through the blocks
    spare_handlers_ = block;
    spare_handler_count_++;
}

Handler::Handler(App *a, Route *r, http::Request *rq) : app(a), route(r), req(rq) {
    app->link(this);
    req->hold();
    req->userdata = this;
    req->close_cb = on_close;
    req->holder = this;
    req->holder_release = release_at_loop_free;
}

void Handler::release_at_loop_free(void *handler) {
    Handler *h = static_cast<Handler *>(handler);
    // Inside a callback of its own, something still points at it: left as it was (the loop is
    // being freed from a callback, which loop.h forbids).
    if (h->busy_ != 0) return;
    // Its flush completions were its request's, which dropped them uncalled just before
    // (Request::on_loop_free): none will come, so none is waited for.
    h->pending_flushes_ = 0;
    if (h->extras_) h->extras_->flush_callbacks.clear();
    // No on_finish, no on_connection_close: no callbacks while a loop is freed, as for every
    // handle (loop.h). The destructor frees its userdata and gives back its hold.
    h->finished = true;
    h->route = nullptr;
    App *owner = h->app;
    h->~Handler();
    if (owner) {
        owner->recycle_handler(h);
    } else {
        ::operator delete(h);
    }
}

void Handler::release_handed_over_at_loop_free() {
    if (busy_ != 0) return;  // inside a callback of its own: see release_at_loop_free
    // The request was left to us (Request::on_loop_free skips a request whose holder handed it
    // over): ended here, it is released when the handler gives its hold back below. It has no
    // connection any more (the session took the stream, its 101 was logged), so ending it
    // sends and logs nothing.
    req->finish();
    release_at_loop_free(this);
}

Handler::Extras *Handler::extras() {
    if (!extras_) extras_.reset(new (std::nothrow) Extras());
    return extras_.get();
}

void Handler::set_static(std::string_view root, std::string_view rel) {
    is_static = true;
    Extras *x = extras();
    if (!x) return;
    try {
        x->static_root.assign(root);
        x->static_rel.assign(rel);
    } catch (const std::bad_alloc &) {
        extras_.reset();  // a static handler without extras answers 500 (start)
    }
}

Handler::~Handler() {
    if (gz_) {
        deflateEnd(gz_);
        delete gz_;
    }
    if (app) app->unlink(this);
    if (free_userdata) free_userdata(userdata);
    req->userdata = nullptr;
    req->close_cb = nullptr;
    req->holder = nullptr;
    req->holder_release = nullptr;
    req->unhold();  // may release the request
}

bool Handler::decode_path_args(const std::vector<std::string> &raw) {
    args.clear();
    try {
        for (const std::string &a : raw) {
            std::string decoded = unquote_lenient(a);
            if (!http::is_valid_utf8(decoded)) {
                bad_path_args_ = true;
                return false;
            }
            args.push_back(std::move(decoded));
        }
    } catch (const std::bad_alloc &) {
        // Out of memory: answered 500 when it starts, by the path start() takes for a static
        // handler whose setup failed (no check added to every request's start).
        args.clear();
        is_static = true;
        extras_.reset();
        return false;
    }
    return true;
}

void Handler::leave() {
    if (--busy_ == 0) maybe_release();
}

void Handler::maybe_release() {
    if (!finished || busy_ != 0 || pending_flushes_ != 0) return;
    App *owner = app;  // nullptr once the application is gone
    this->~Handler();
    if (owner) {
        owner->recycle_handler(this);
    } else {
        ::operator delete(this);
    }
}

// ---- life cycle ------------------------------------------------------------------------------

// Runs `fn` (the web layer's own work for this request, between enter() and leave()); out of
// memory inside it, the request fails alone (fail_request) and the loop goes on.
template <class Fn>
void Handler::guarded(const char *where, Fn &&fn) {
    if (!ran_without_exception(where, fn)) fail_request();
}

// The request cannot be answered as planned (out of memory in the web layer's work for it):
// a 500 if nothing went out yet, else (or if the error page fails too) the connection is cut.
void Handler::fail_request() noexcept {
    if (finished) return;
    if (!req->headers_sent() && !in_send_error_ && answerable()) {
        send_error(500);
        if (finished) return;
    }
    abandon();
}

// Cuts the connection and finishes as for a closed one: on_finish runs, the handler is
// released once no callback of it runs.
void Handler::abandon() noexcept {
    log(LogLevel::error, "web: %s %s: out of memory; closing the connection",
        req->method.c_str(), req->path.c_str());
    cut_connection();
    if (finished) return;
    finished = true;
    req->finish();  // EDDY_ECLOSED: the connection is gone
    if (route && route->on_finish) route->on_finish(as_c(), route->userdata);
}

// The response cannot be completed: the connection closes abruptly (the client sees a cut
// answer, never a wrong one); the handler learns of it as of any closed connection.
void Handler::cut_connection() noexcept {
    closed = true;
    if (req->conn) req->conn->abort();
}

void Handler::start() {
    started_ = true;
    enter();
    guarded("web: starting a request", [this] { start_steps(); });
    leave();
}

void Handler::start_steps() {
    if (route && route->set_default_headers) route->set_default_headers(as_c(), route->userdata);
    if (is_static) {
        if (extras_) {
            serve_static(this, extras_->static_root, extras_->static_rel);
        } else {
            send_error(500);  // set_static or decode_path_args ran out of memory
        }
    } else if (bad_path_args_) {
        log(LogLevel::info, "web: %s: path arguments are not valid UTF-8", req->path.c_str());
        send_error(400);
    } else if (!route) {
        send_error(404);
    } else if (!(method_cb_ = route->callback_for(req->method))) {
        send_error(405);
    } else if (app && app->xsrf_cookies && route->xsrf_check && !safe_method() && !check_xsrf()) {
        log(LogLevel::info, "web: %s %s: XSRF check failed", req->method.c_str(), req->path.c_str());
        send_error(403);
    } else {
        if (route->prepare) {
            in_prepare_ = true;
            route->prepare(as_c(), route->userdata);
            in_prepare_ = false;
        }
        if (finished) return;
        if (route->data_received) {
            // Streaming is chosen now, in the headers callback, even when prepare went
            // asynchronous; the body is then held (not read) until eddy_handler_resume, as
            // Tornado reads no body before prepare's future is done.
            if (eddy_request_stream_body(req->as_c(), on_data, nullptr) != 0) {
                send_error(500);
            } else if (prepare_waiting_) {
                req->pause_body();  // before the first piece: read nothing yet
            }
        } else if (!prepare_waiting_) {
            run_method();
        }
    }
}

// prepare went asynchronous and the application resumed the request: what start_steps does
// after a synchronous prepare.
void Handler::after_prepare() {
    if (!route) {  // the application was freed meanwhile: there is no method to run
        finish();
        return;
    }
    if (req->streaming) {
        if (req->body_paused) {
            req->body_paused = false;
            if (req->conn) req->conn->resume_body();  // may throw std::bad_alloc (guarded)
        }
        if (body_ended_) run_method();  // no body to wait for (it ended while held)
        return;
    }
    run_method();
}

void Handler::body_done() {
    if (prepare_waiting_) {  // an empty streamed body: the method waits for resume
        body_ended_ = true;
        return;
    }
    enter();
    if (!finished) guarded("web: running a request", [this] { run_method(); });
    leave();
}

void Handler::data(const char *p, size_t n) {
    enter();
    if (!finished && route && route->data_received) route->data_received(as_c(), p, n, route->userdata);
    leave();
}

void Handler::on_data(eddy_request *, const char *data, size_t len, void *arg) {
    static_cast<Handler *>(arg)->data(data, len);
}

void Handler::run_method() {
    // Looked up once by start(); route is cleared when the application goes away meanwhile.
    eddy_handler_fn cb = route ? method_cb_ : nullptr;
    if (cb) cb(as_c(), route->userdata);
    // Tornado finishes for the handler when the method returns, unless it went asynchronous.
    if (!finished && !detached) finish();
}

int Handler::detach() {
    if (finished) return EDDY_ESTATE;
    detached = true;
    // From prepare: the request waits there (Tornado awaits a coroutine prepare before the
    // method) until resume() or a finish.
    if (in_prepare_) prepare_waiting_ = true;
    return 0;
}

int Handler::resume() {
    if (finished || !prepare_waiting_) return EDDY_ESTATE;
    prepare_waiting_ = false;
    // The detach was prepare's: the method finishes for the handler again unless it detaches.
    detached = false;
    if (in_prepare_) return 0;  // resumed before prepare returned: start_steps goes on
    enter();
    int rc = 0;
    if (closed || !req->connected()) {
        // The client left while prepare was pending: nothing can be sent and the method would
        // answer no one. The request ends here (on_finish runs, the handler is released).
        finish();
        rc = EDDY_ECLOSED;
    } else {
        guarded("web: resuming a request", [this] { after_prepare(); });
    }
    leave();  // may release the handler
    return rc;
}

void Handler::on_close(eddy_request *, void *arg) {
    Handler *h = static_cast<Handler *>(arg);
    h->closed = true;
    if (!h->started_) {
        // The client left before its body arrived: the application never saw this request
        // (Tornado creates the handler only then), so it is released quietly.
        h->finished = true;
        h->req->finish();
        h->maybe_release();
        return;
    }
    if (h->finished) return;
    h->enter();
    if (h->route && h->route->on_connection_close)
        h->route->on_connection_close(h->as_c(), h->route->userdata);
    // A handler waiting for its streamed body (prepare ran, no callback running, not detached)
    // would wait forever: its method never runs now. Finished here, it is released; a
    // detached handler stays the application's to finish.
    if (!h->finished && !h->detached && h->busy_ == 1) h->finish();
    h->leave();
}

// ---- response --------------------------------------------------------------------------------

int Handler::refusal() const {
    if (finished) {
        log(LogLevel::warning, "web: %s %s: response call after finish", req->method.c_str(),
            req->path.c_str());
        return EDDY_ESTATE;
    }
    return EDDY_ECLOSED;
}

int Handler::set_status(int status, std::string_view reason) {
    if (!answerable()) [[unlikely]] return refusal();
    int rc = req->set_status(status, reason);
    if (rc == EDDY_ESTATE) log(LogLevel::warning, "web: set_status after the headers were sent");
    return rc;
}

// A 12-byte header name not spelled "Content-Type": the application may name its own
// content type in another case (no default then either).
void Handler::note_content_type_any_case(std::string_view name) {
    if (http::iequals(name, "Content-Type")) default_type_ = false;
}

int Handler::clear_header(std::string_view name) {
    if (!answerable()) [[unlikely]] return refusal();
    if (name.size() == 12 && http::iequals(name, "Content-Type")) default_type_ = false;
    return req->clear_header(name);
}

int Handler::flush(eddy_handler_flush_fn cb) {
    if (!answerable()) [[unlikely]] return refusal();
    // The callback's place first: nothing has changed if there is no room for it.
    if (cb && !(extras() && ran_without_exception("web: flush", [&] {
                    extras_->flush_callbacks.push_back(cb);
                })))
        return EDDY_ENOMEM;
    int rc;
    if (ran_without_exception("web: flush", [this] { prepare_flush(); })) {
        rc = req->flush(cb ? on_flushed : nullptr);
    } else {
        // The body is half transformed (gzip): it cannot go out; the connection is cut.
        cut_connection();
        rc = EDDY_ENOMEM;
    }
    if (rc == 0) {
        flushed_ = true;
        if (cb) pending_flushes_++;
    } else if (cb) {
        extras_->flush_callbacks.pop_back();
    }
    return rc;
}

// The head's last fields and the body's coding before a flush (may throw std::bad_alloc).
void Handler::prepare_flush() {
    apply_default_type();
    if (!flushed_ && streaming_gzip_wanted()) start_streaming_gzip();
    deflate_pending(false);
}

void Handler::on_flushed(eddy_request *, int status, void *arg) {
    Handler *h = static_cast<Handler *>(arg);
    std::vector<eddy_handler_flush_fn> &callbacks = h->extras_->flush_callbacks;
    eddy_handler_flush_fn cb = callbacks.front();
    callbacks.erase(callbacks.begin());
    h->enter();
    cb(h->as_c(), status, h->route ? h->route->userdata : nullptr);
    h->pending_flushes_--;
    h->leave();
}

// Tornado's default Content-Type ("text/html; charset=UTF-8"), added when the head is about to
// go out unless the handler set or cleared one — deciding late saves a header set and replace
// on every response that names its own type.
void Handler::apply_default_type() {
    if (!default_type_ || req->headers_sent()) return;
    default_type_ = false;
    if (req->response_headers().contains("Content-Type")) return;
    req->add_trusted_header("Content-Type", "text/html; charset=UTF-8");
}

// compress_response for a response that starts with a flush (so its size is unknown): decided
// when the headers go out, then every flushed piece is deflated with a sync flush so the client
// can decode it as it arrives (Tornado's GZipContentEncoding does the same). Static files
// decide for themselves (they know their size) and call start_streaming_gzip() directly.
bool Handler::streaming_gzip_wanted() {
    if (!app || !app->compress_response || req->headers_sent()) return false;
    vary_on_accept_encoding();
    const http::ResponseFields &fields = req->response_headers();
    if (fields.contains("Content-Encoding")) return false;
    if (!client_takes_gzip() || !compressible(fields.last_value("Content-Type"))) return false;
    if (req->status() < 200 || req->status() == 204 || req->status() == 304) return false;
    return req->declared_length() < 0;
}

void Handler::start_streaming_gzip() {
    if (req->method == "HEAD") {
        // No body to deflate, but the same head as GET's (RFC 9110 §9.3.2).
        mark_gzip_encoded();
        return;
    }
    z_stream *zs = new (std::nothrow) z_stream();
    if (!zs) return;
    if (deflateInit2(zs, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
        delete zs;
        return;
    }
    gz_ = zs;
    mark_gzip_encoded();
}

// Deflates what was written since the last flush (Z_SYNC_FLUSH, or Z_FINISH at the end).
void Handler::deflate_pending(bool final) {
    if (!gz_) return;
    std::string_view pending = req->pending_bytes();
    size_t len = pending.size();
    unsigned char *in = reinterpret_cast<unsigned char *>(const_cast<char *>(pending.data()));
    std::string out;
    gz_->next_in = in;
    gz_->avail_in = static_cast<uInt>(len);
    int flush_mode = final ? Z_FINISH : Z_SYNC_FLUSH;
    unsigned char chunk[16384];
    for (;;) {
        gz_->next_out = chunk;
        gz_->avail_out = sizeof chunk;
        int rc = deflate(gz_, flush_mode);
        out.append(reinterpret_cast<char *>(chunk), sizeof chunk - gz_->avail_out);
        if (rc == Z_STREAM_END || (gz_->avail_out != 0 && gz_->avail_in == 0)) break;
        if (rc != Z_OK && rc != Z_BUF_ERROR) break;
    }
    replace_body(out.data(), out.size());
    if (final) {
        deflateEnd(gz_);
        delete gz_;
        gz_ = nullptr;
    }
}

// 304 for a matching If-None-Match: no body, and none of the headers that describe one
// (Tornado's _clear_representation_headers; RFC 9110 §15.4.5).
void Handler::not_modified() {
    req->set_status(304, {});
    replace_body(nullptr, 0);
    clear_representation_headers();
}

void Handler::clear_representation_headers() {
    if (req->headers_sent()) return;
    default_type_ = false;
    req->clear_header("Content-Type");
    req->clear_header("Content-Encoding");
    req->clear_header("Content-Language");
}

void Handler::finish_transforms() {
    if (flushed_ || req->headers_sent()) return;
    std::string_view pending = req->pending_bytes();
    bool gzip = app && app->compress_response && gzip_wanted(pending.size());
    if (req->status() == 200 && !req->has_etag_field() && etag_mode_ != 2 &&
        (http::equals_literal(req->method, "GET") || http::equals_literal(req->method, "HEAD"))) {
        if (etag_mode_ == 0 && !req->has_preconditions) [[likely]] {
            // The common response: the body hash, nothing to compare it with.
            req->set_automatic_etag_hash(
                body_hash(reinterpret_cast<const unsigned char *>(pending.data()), pending.size()),
                gzip);
        } else if (!etag_and_preconditions(pending, gzip)) {
            return;  // answered 304 or 412 instead
        }
    }
    if (gzip) gzip_pending(pending);
}

// compress_response: decided before the ETag so that the ETag names the representation.
// The answer depends on Accept-Encoding: say so once (a static file's answer, or the
// application, may have said it already).
void Handler::vary_on_accept_encoding() {
    for (const http::FieldView &f : req->response_headers())
        if (http::iequals(f.name, "Vary") && http::list_contains(f.value, "Accept-Encoding")) return;
    req->set_header("Vary", "Accept-Encoding", false);
}

// The answer goes out gzip-encoded. A strong ETag the handler set as a header names the
// identity bytes, and a strong validator must change with the content coding (RFC 9110
// §8.8.1): it is sent weak, as nginx's gzip filter does. If-None-Match still matches it (weak
// comparison); If-Match, which compares strongly, no longer does — rightly, since these are
// not the bytes it named.
void Handler::mark_gzip_encoded() {
    req->set_header("Content-Encoding", "gzip", true);
    bool found = false;
    std::string_view etag = req->response_headers().last_value("Etag", &found);
    if (found && !etag.starts_with("W/")) req->set_header("Etag", weak_etag(etag), true);
}

bool Handler::compresses(std::string_view type, uint64_t size) const {
    return app && app->compress_response && compressible(type) && size >= kMinGzipBytes;
}

bool Handler::client_takes_gzip() const {
    const http::HeaderField *ae = req->find_header("Accept-Encoding");
    return ae && http::accepts_coding(ae->value, "gzip");
}

bool Handler::gzip_wanted(size_t len) {
    vary_on_accept_encoding();
    const http::ResponseFields &fields = req->response_headers();
    return client_takes_gzip() && !fields.contains("Content-Encoding") &&
           compresses(fields.last_value("Content-Type"), len) && req->status() >= 200 &&
           req->status() != 204 && req->status() != 304;
}

void Handler::gzip_pending(std::string_view pending) {
    std::string compressed;
    if (gzip_bytes(reinterpret_cast<const unsigned char *>(pending.data()), pending.size(),
                   compressed)) {
        mark_gzip_encoded();
        // A Content-Length the application declared counts the uncompressed bytes: the
        // compressed body's own length is sent instead (as Tornado's GZipContentEncoding does).
        if (req->declared_length() >= 0) req->clear_header("Content-Length");
        replace_body(compressed.data(), compressed.size());
    }
}

// The ETag of a 200 answer to GET/HEAD when the handler chose it (set_etag) or the request has
// preconditions. False: the response became a 304 or 412 (nothing else to do).
bool Handler::etag_and_preconditions(std::string_view pending, bool gzip) {
    std::string_view etag;
    std::string weakened;
    if (etag_mode_ == 1) {
        etag = extras_->etag;  // the handler's own (set_etag), of any length
        if (gzip && !etag.starts_with("W/")) {
            // As mark_gzip_encoded says for an Etag header: weak on the gzip form.
            weakened = weak_etag(etag);
            etag = weakened;
        }
        req->set_automatic_etag(etag);
    } else {
        req->set_automatic_etag_hash(
            body_hash(reinterpret_cast<const unsigned char *>(pending.data()), pending.size()),
            gzip);
        etag = req->automatic_etag();
    }
    if (!req->has_preconditions) return true;
    // Preconditions in RFC 9110 §13.2.2 order: If-Match first (false: 412), then If-None-Match
    // (false: 304). Only a retrieval can be refused this late; other methods' preconditions are
    // for the handler to check before it acts.
    if (if_match_fails(req, etag)) {
        req->set_status(412, {});
        replace_body(nullptr, 0);
        // The handler's Content-Length described the body this 412 replaces.
        req->clear_header("Content-Length");
        return false;
    }
    if (if_none_match_matches(req, etag)) {
        not_modified();
        return false;
    }
    return true;
}

int Handler::finish() {
    if (finished) {
        log(LogLevel::warning, "web: %s %s: finish called twice", req->method.c_str(),
            req->path.c_str());
        return EDDY_ESTATE;
    }
    enter();
    // Out of memory in the transforms (ETag, gzip) the body is half made: the connection is
    // cut, and the request still ends here as on a closed connection.
    bool cut = !closed && !ran_without_exception("web: finishing a response",
                                                 [this] { prepare_finish(); });
    if (cut) cut_connection();
    finished = true;
    int rc = req->finish();
    if (cut) rc = EDDY_ENOMEM;
    if (route && route->on_finish) route->on_finish(as_c(), route->userdata);
    leave();
    return rc;
}

// The web layer's last touches to the response (may throw std::bad_alloc).
void Handler::prepare_finish() {
    int status = req->status();
    if (status == 204 || status == 304 || (status >= 100 && status < 200)) {
        // No body: none of the headers that would describe one (as Tornado's finish).
        clear_representation_headers();
    } else {
        apply_default_type();
    }
    finish_transforms();
    if (gz_) deflate_pending(true);
}

// A transformed body (gzip) or none (304, 412) in place of the one written; out of memory
// the body is already gone, so the response cannot go on.
void Handler::replace_body(const void *data, size_t len) {
    if (req->replace_body(data, len) != 0) throw std::bad_alloc();
}

int Handler::redirect(std::string_view url, int status) {
    if (!answerable()) [[unlikely]] return refusal();
    if (status == 0) status = 302;
    if (status != 301 && status != 302 && status != 303 && status != 307 && status != 308)
        return EDDY_EINVAL;
    if (url.empty() || !http::is_safe_field_value(url)) return EDDY_EINVAL;
    if (req->headers_sent()) return EDDY_ESTATE;
    req->set_status(status, {});
    req->set_header("Location", url, true);
    return finish();
}

void Handler::write_default_error(int status) {
    if (!req->body_allowed()) return;  // 1xx, 204, 205, 304: no content
    std::string code = std::to_string(status);
    std::string text = code + ": " + http::reason_phrase(status);
    std::string page = "<html><title>" + text + "</title><body>" + text + "</body></html>";
    req->write(page.data(), page.size());
}

int Handler::send_error(int status) {
    if (finished) return EDDY_ESTATE;
    if (status < 100 || status > 599) status = 500;
    if (req->headers_sent()) {
        log(LogLevel::error, "web: %s %s: cannot send error %d after the headers were sent",
            req->method.c_str(), req->path.c_str(), status);
        if (req->conn) req->conn->abort();
        finish();
        return EDDY_ESTATE;
    }
    // Called again from this send_error's own hooks (write_error calling require_argument, say):
    // running them again would recurse until the stack runs out. As Tornado, which logs an
    // error raised in write_error and finishes: the default page, without the hooks.
    const bool from_hooks = in_send_error_;
    if (from_hooks)
        log(LogLevel::error, "web: %s %s: error %d inside write_error or set_default_headers; "
            "sending the default page", req->method.c_str(), req->path.c_str(), status);
    enter();
    in_send_error_ = true;
    // Out of memory on the way (the page, the Allow list) the connection is cut instead.
    bool sent = ran_without_exception("web: sending an error page",
                                      [&] { error_page(status, from_hooks); });
    if (!sent) abandon();
    in_send_error_ = from_hooks;
    leave();
    return sent ? 0 : EDDY_ENOMEM;
}

void Handler::error_page(int status, bool from_hooks) {
    req->reset_response();
    default_type_ = true;
    if (!from_hooks && route && route->set_default_headers)
        route->set_default_headers(as_c(), route->userdata);
    if (req->set_status(status, {}) != 0) {  // e.g. a 1xx, which cannot be a final answer
        status = 500;
        req->set_status(status, {});
    }
    if (status == 405 && route) req->set_header("Allow", route->allowed_methods(), true);
    if (status == 405 && is_static) req->set_header("Allow", "GET, HEAD", true);
    if (!from_hooks && !finished && route && route->write_error && status != 304) {
        route->write_error(as_c(), status, route->userdata);
    } else if (!finished) {
        write_default_error(status);
    }
    if (!finished) finish();
}

int Handler::clear() {
    if (!answerable()) [[unlikely]] return refusal();
    if (req->headers_sent()) return EDDY_ESTATE;
    enter();
    req->reset_response();
    default_type_ = true;
    etag_mode_ = 0;
    if (extras_) extras_->etag.clear();
    if (route && route->set_default_headers) route->set_default_headers(as_c(), route->userdata);
    leave();
    return 0;
}

int Handler::set_etag(const char *etag, size_t len) {
    if (!answerable()) [[unlikely]] return refusal();
    if (!etag) {
        etag_mode_ = 2;
        if (extras_) extras_->etag.clear();
        return 0;
    }
    std::string_view value(etag, len);
    if (!http::is_safe_field_value(value)) return EDDY_EINVAL;
    Extras *x = extras();
    if (!x) return req->lose_response("ETag");
    try {
        x->etag.assign(value);
    } catch (const std::bad_alloc &) {
        return req->lose_response("ETag");
    }
    etag_mode_ = 1;
    return 0;
}

// ---- cookies and XSRF ------------------------------------------------------------------------

bool Handler::parse_cookies() {
    Extras *x = extras();
    if (!x) return false;
    if (cookies_parsed_) return true;
    try {
        for (const http::HeaderField &h : req->headers)
            if (http::iequals(h.name, "Cookie")) parse_cookie_header(h.value, x->cookies);
    } catch (const std::bad_alloc &) {
        x->cookies.clear();  // no half list: the next call parses again
        return false;
    }
    cookies_parsed_ = true;
    return true;
}

const char *Handler::cookie(std::string_view name, size_t *len) {
    if (!parse_cookies()) return nullptr;
    const std::string *value = find_cookie(extras_->cookies, name);
    if (!value) return nullptr;
    if (len) *len = value->size();
    return value->c_str();
}

const char *Handler::signed_cookie(std::string_view name, double max_age_days, size_t *len) {
    if (!app || app->cookie_secret.empty()) return nullptr;
    size_t raw_len = 0;
    const char *raw = cookie(name, &raw_len);
    if (!raw) return nullptr;
    if (max_age_days <= 0) max_age_days = 31;
    if (!decode_signed_value(app->cookie_secret, name, std::string_view(raw, raw_len),
                             max_age_days, static_cast<double>(time(nullptr)),
                             extras_->signed_value))  // cookie() made extras_
        return nullptr;
    if (len) *len = extras_->signed_value.size();
    return extras_->signed_value.c_str();
}

int Handler::set_cookie(std::string_view name, std::string_view value, const char *domain,
                        const char *path, double expires, long max_age, int flags,
                        const char *samesite) {
    if (!answerable()) [[unlikely]] return refusal();
    int rc = no_throw("web: set_cookie", EDDY_ENOMEM, [&] {
        return set_cookie_header(name, value, domain, path, expires, max_age, flags, samesite);
    });
    // (set_header marked it already when it could not store it; not when building it failed.)
    return rc == EDDY_ENOMEM ? req->lose_response("Set-Cookie") : rc;
}

int Handler::set_cookie_header(std::string_view name, std::string_view value, const char *domain,
                               const char *path, double expires, long max_age, int flags,
                               const char *samesite) {
    CookieAttributes attrs;
    attrs.domain = domain ? domain : "";
    attrs.path = path ? path : "/";
    attrs.expires = expires;
    attrs.max_age = max_age;
    attrs.secure = (flags & EDDY_COOKIE_SECURE) != 0;
    attrs.httponly = (flags & EDDY_COOKIE_HTTPONLY) != 0;
    attrs.samesite = samesite ? samesite : "";
    std::string header;
    if (!format_set_cookie(name, value, attrs, header)) return EDDY_EINVAL;
    // One Set-Cookie per name, the last one set (Tornado keeps its cookies in a dict by name).
    req->forget_set_cookie(name);
    return req->set_header("Set-Cookie", header, false);
}

int Handler::set_signed_cookie(std::string_view name, std::string_view value,
                               double expires_days) {
    if (!app || app->cookie_secret.empty()) return EDDY_ESTATE;
    if (!answerable()) [[unlikely]]
        return refusal();
    if (expires_days <= 0) expires_days = 30;
    double now = static_cast<double>(time(nullptr));
    std::string signed_value;
    try {
        signed_value = create_signed_value(app->cookie_secret, name, value, static_cast<int64_t>(now));
    } catch (const std::bad_alloc &) {
        return req->lose_response("Set-Cookie");
    }
    return set_cookie(name, signed_value, nullptr, nullptr, now + expires_days * 86400, -1, 0,
                      nullptr);
}

// Tornado's xsrf_token: reuse the raw token of a valid _xsrf cookie, else make one and set the
// cookie; hand out a freshly masked copy (per request) for forms and headers.
const char *Handler::xsrf_token(size_t *len) {
    Extras *x = extras();
    if (!x) return nullptr;
    if (x->xsrf_token.empty()) {
        bool made = no_throw("web: xsrf_token", false, [&] { return make_xsrf_token(x); });
        if (!made) {
            x->xsrf_token.clear();  // no half token for the next call
            return nullptr;
        }
    }
    if (len) *len = x->xsrf_token.size();
    return x->xsrf_token.c_str();
}

// The raw token (of the _xsrf cookie, or a new one, then set as that cookie), masked into
// x->xsrf_token. False when a step failed.
bool Handler::make_xsrf_token(Extras *x) {
    size_t cookie_len = 0;
    const char *existing = cookie("_xsrf", &cookie_len);
    std::string raw;
    int64_t now = static_cast<int64_t>(time(nullptr));
    if (!existing || !xsrf_decode_token(std::string_view(existing, cookie_len), raw) ||
        raw.empty()) {
        std::string cookie_value;
        if (!xsrf_new_raw_token(raw) || !xsrf_encode_token(raw, now, cookie_value)) return false;
        // A token whose cookie could not be set would fail every check it is meant for.
        if (set_cookie("_xsrf", cookie_value, nullptr, nullptr, 0, -1, 0, nullptr) != 0) return false;
    }
    return xsrf_encode_token(raw, now, x->xsrf_token);
}

const char *Handler::static_url(std::string_view path, size_t *len) {
    Extras *x = extras();
    if (!x || !app || !web::static_url(*app, path, x->static_url)) return nullptr;
    if (len) *len = x->static_url.size();
    return x->static_url.c_str();
}

// Tornado's XSRF check: a form's _xsrf argument or an X-Xsrftoken/X-Csrftoken header must match
// the _xsrf cookie, for every method but the safe ones.
bool Handler::check_xsrf() {
    if (safe_method()) return true;
    std::string submitted;
    size_t n = 0;
    // The first non-empty one, as Tornado's `argument or header or header`.
    const char *arg = eddy_request_argument(req->as_c(), EDDY_ARGS_ALL, "_xsrf", 5, &n);
    const http::HeaderField *h = nullptr;
    if (arg && n > 0) {
        submitted.assign(arg, n);
    } else if ((h = req->find_header("X-Xsrftoken")) && !h->value.empty()) {
        submitted = h->value;
    } else if ((h = req->find_header("X-Csrftoken")) && !h->value.empty()) {
        submitted = h->value;
    } else {
        return false;
    }
    size_t cookie_len = 0;
    const char *cookie_value = cookie("_xsrf", &cookie_len);
    if (!cookie_value) return false;
    return web::check_xsrf(submitted, std::string_view(cookie_value, cookie_len));
}

}  // namespace eddy::web
