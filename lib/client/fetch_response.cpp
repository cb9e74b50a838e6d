// Fetch: parsing the response with http-parser (non-strict in Debian's build, so what matters
// is checked here too: head size, framing headers, body size), gzip decoding, keep-alive.
#include <algorithm>
#include <cstring>

#include "client/client.hpp"
#include "http/httputil.hpp"
#include "stream/stream.hpp"
#include "tls/tls_stream.hpp"
#include "util/error_detail.hpp"
#include "util/log.hpp"

namespace eddy::client {

namespace {
constexpr size_t kMaxHead = 64 * 1024;
constexpr size_t kMaxHeaderLines = 200;

Fetch *self(http_parser *p) { return static_cast<Fetch *>(p->data); }

// http-parser ends a status line or a field value at a CR and, without HTTP_PARSER_STRICT,
// takes what follows a bare CR as something else (the field lines then became body). RFC 9112
// §2.2: a bare CR makes the element invalid. `p` is just past the element, `end` the end of
// the bytes in hand (a CR that ends them is not judged here).
bool bare_cr_at(const char *p, const char *end) {
    return p + 1 < end && p[0] == '\r' && p[1] != '\n';
}

// Whether the Transfer-Encoding fields (several lines form one list) say "chunked" and nothing
// else. Our requests carry no TE field, so chunked, once, is the only transfer coding a server
// may apply (RFC 9112 §7.4, §6.1). http-parser undoes chunked when it is the last coding and
// nothing else: with "gzip, chunked" the gzip bytes would reach the application as if they
// were the body, and "chunked, gzip" would be read to the close still coded.
bool only_chunked(const std::vector<Header> &headers) {
    size_t codings = 0;
    bool chunked = true;
    for (const Header &h : headers) {
        if (!http::iequals(h.name, "Transfer-Encoding")) continue;
        for (std::string_view coding : http::split_list(h.value)) {
            codings++;
            if (!http::iequals(coding, "chunked")) chunked = false;
        }
    }
    return chunked && codings == 1;
}

// Whether the Connection fields of `headers` carry the "close" option (a list: OWS around
// members and empty members do not matter, RFC 9110 §5.6.1).
bool says_close(const std::vector<Header> &headers) {
    for (const Header &h : headers)
        if (http::iequals(h.name, "Connection") && http::list_contains(h.value, "close"))
            return true;
    return false;
}

// Checks the bytes of [p, end) that still have to be the CRLF after a chunk's data; false at
// the first that is not.
bool check_chunk_crlf(const char *p, const char *end, uint8_t &left) {
    for (; left && p < end; p++, left--)
        if (*p != "\r\n"[2 - left]) return false;
    return true;
}
}  // namespace

const http_parser_settings Fetch::kSettings = [] {
    http_parser_settings s;
    http_parser_settings_init(&s);
    s.on_status = [](http_parser *p, const char *at, size_t len) {
        return parser_step(p, [&] { return cb_status(p, at, len); });
    };
    s.on_header_field = [](http_parser *p, const char *at, size_t len) {
        return parser_step(p, [&] { return cb_header_field(p, at, len); });
    };
    s.on_header_value = [](http_parser *p, const char *at, size_t len) {
        return parser_step(p, [&] { return cb_header_value(p, at, len); });
    };
    s.on_headers_complete = [](http_parser *p) {
        return parser_step(p, [&] { return cb_headers_complete(p); });
    };
    s.on_body = [](http_parser *p, const char *at, size_t len) {
        return parser_step(p, [&] { return cb_body(p, at, len); });
    };
    s.on_message_complete = cb_message_complete;  // allocates nothing
    return s;
}();

const Header *Fetch::find_response_header(const char *name) const {
    for (const Header &h : response_headers)
        if (http::iequals(h.name, name)) return &h;
    return nullptr;
}

void Fetch::reset_response() {
    http_parser_init(&parser_, HTTP_RESPONSE);
    parser_.data = this;
    status = 0;
    reason.clear();
    response_headers.clear();
    response_body.clear();
    in_value_ = false;
    head_bytes_ = body_bytes_ = delivered_ = 0;
    got_bytes_ = message_done_ = final_response_ = skip_body_delivery_ = close_after_ = false;
    interim_responses_ = 0;
    chunk_crlf_left_ = 0;
    parse_error_ = 0;
    eof_pending_ = false;
    gunzip_.reset();
    generation_++;
}

size_t Fetch::on_stream_data(Stream *s, const char *data, size_t len, void *arg) {
    Fetch *f = static_cast<Fetch *>(arg);
    if (f->stream_ != s) return len;
    // The parser's callbacks stop their own failures; what follows a response (keep-alive,
    // a redirect's new exchange) may run out of memory too.
    size_t used = len;
    f->guarded("client: response", [&] { used = f->feed(data, len); });
    return used;
}

size_t Fetch::feed(const char *data, size_t len) {
    // Paused (or the resume not run yet): nothing is taken, the bytes stay in the stream's
    // buffer and no read is issued, so the socket is not read and TCP holds the server back.
    if (paused_ || resume_due_) return 0;
    got_bytes_ = true;
    Stream *s = stream_;
    uint64_t gen = generation_;
    if (chunk_crlf_left_ && !check_chunk_crlf(data, data + len, chunk_crlf_left_)) {
        log_bad_chunk_end();
        finish(EDDY_EPROTO);
        return len;
    }
    feed_end_ = data + len;
    size_t n;
    {
        Busy busy(this);  // on_headers / on_chunk may free the client (see Busy)
        n = http_parser_execute(&parser_, &kSettings, data, len);
    }
    if (deleted_after()) return len;
    feed_end_ = nullptr;
    if (finishing_) return len;
    if (message_done_ && gen == generation_) {
        if (n < len) close_after_ = true;  // bytes after the response: not ours to reuse
        message_complete();
        return len;
    }
    if (gen != generation_) return len;  // a redirect already moved on
    // on_chunk paused the body: the parser stopped after the piece it delivered; the rest of
    // these bytes are left to the stream (read again by continue_body).
    if (HTTP_PARSER_ERRNO(&parser_) == HPE_PAUSED) return n;
    if (HTTP_PARSER_ERRNO(&parser_) != HPE_OK) {
        int err = parse_error_ ? parse_error_ : EDDY_EPROTO;
        if (err == EDDY_EPROTO)
            log(LogLevel::info, "client: %s: malformed response: %s", url_text.c_str(),
                http_errno_description(HTTP_PARSER_ERRNO(&parser_)));
        finish(err);
        return len;
    }
    if (stream_ == s && s) {
        // The time between reads counts from here, once these bytes were handled: a slow
        // chunk callback is the consumer's time, not the server's silence (armed before it, a
        // callback taking longer than the timeout ended the fetch with the next bytes waiting).
        arm_read_timer();
        s->read_some(on_stream_data, this);
    }
    return len;
}

int Fetch::cb_status(http_parser *p, const char *at, size_t len) {
    Fetch *f = self(p);
    f->head_bytes_ += len;
    if (f->head_bytes_ > kMaxHead) {
        f->parse_error_ = EDDY_ETOOBIG;
        return 1;
    }
    if (bare_cr_at(at + len, f->feed_end_)) {
        f->parse_error_ = EDDY_EPROTO;
        return 1;
    }
    // reason-phrase = 1*( HTAB / SP / VCHAR / obs-text ) (RFC 9112 §4): http-parser takes any
    // byte but CR and LF. A control character makes the status line malformed, as it makes a
    // field value (which http-parser refuses); a NUL would also cut the reason the C API
    // hands out NUL-terminated, and a proxy passing the reason on would forward the bytes.
    // The bytes allowed are a field value's (no control but HTAB, no DEL).
    if (!http::is_safe_field_value(std::string_view(at, len))) {
        f->parse_error_ = EDDY_EPROTO;
        return 1;
    }
    f->reason.append(at, len);
    return 0;
}

int Fetch::cb_header_field(http_parser *p, const char *at, size_t len) {
    Fetch *f = self(p);
    f->head_bytes_ += len;
    if (f->head_bytes_ > kMaxHead || f->response_headers.size() > kMaxHeaderLines) {
        f->parse_error_ = EDDY_ETOOBIG;
        return 1;
    }
    // After the final response's head, fields are trailers: counted, never merged into the
    // header section (RFC 9110 §6.5.1: a Location or Set-Cookie there must not take effect).
    if (f->final_response_) return 0;
    // A field line starting with whitespace before any field (RFC 9112 §2.2: reject it).
    if (f->response_headers.empty() && len && (at[0] == ' ' || at[0] == '\t')) {
        f->parse_error_ = EDDY_EPROTO;
        return 1;
    }
    if (f->in_value_ || f->response_headers.empty()) {
        f->response_headers.push_back(Header{});
        f->in_value_ = false;
    }
    f->response_headers.back().name.append(at, len);
    return 0;
}

int Fetch::cb_header_value(http_parser *p, const char *at, size_t len) {
    Fetch *f = self(p);
    f->head_bytes_ += len;
    if (f->head_bytes_ > kMaxHead) {
        f->parse_error_ = EDDY_ETOOBIG;
        return 1;
    }
    if (bare_cr_at(at + len, f->feed_end_)) {
        f->parse_error_ = EDDY_EPROTO;
        return 1;
    }
    if (f->final_response_) return 0;  // a trailer (see cb_header_field)
    if (f->response_headers.empty()) return 1;
    f->in_value_ = true;
    f->response_headers.back().value.append(at, len);
    return 0;
}

int Fetch::cb_headers_complete(http_parser *p) {
    Fetch *f = self(p);
    f->in_value_ = false;
    f->status = p->status_code;
    // An HTTP/1.1 client talks to HTTP/1.x servers: "HTTP/2.0 200" is a confused peer.
    if (p->http_major != 1 || f->status < 100 || f->status > 599) {
        f->parse_error_ = EDDY_EPROTO;
        return -1;
    }
    if (f->status < 200) {  // interim: 100 Continue lets the body go; others are ignored
        if (f->status == 101) {
            log(LogLevel::info, "client: %s: unexpected 101 Switching Protocols",
                f->url_text.c_str());
            f->parse_error_ = EDDY_EPROTO;
            return -1;
        }
        if (f->status == 100 && f->phase_ == Phase::waiting_continue) f->send_body();
        // An interim response is no response to the request: a fetch that ends before the
        // final one has none (eddy_fetch_response_status: 0), not the 103's status.
        f->status = 0;
        f->response_headers.clear();
        f->reason.clear();
        f->head_bytes_ = 0;
        // A server may send several interim responses, not endless ones (each resets the head
        // limit, so nothing else would end them).
        if (++f->interim_responses_ > kMaxInterimResponses) {
            log(LogLevel::info, "client: %s: over %d interim responses", f->url_text.c_str(),
                kMaxInterimResponses);
            f->parse_error_ = EDDY_EPROTO;
            return -1;
        }
        return 1;  // a 1xx ends at its head, whatever its fields say (RFC 9112 §6.3)
    }
    f->final_response_ = true;
    // A final answer to "Expect: 100-continue" before any 100 (RFC 9110 §10.1.1): the server
    // decided without the content. The body must not follow it now: the one-second wait ran
    // on while the response's body came slowly, then sent ours after the server's answer, and
    // the connection went back to the pool with bytes the server may take for the next
    // request. The body stays unsent and message_complete() does not keep the connection
    // (the phase is still waiting_continue), as Tornado and curl do.
    if (f->phase_ == Phase::waiting_continue) f->loop_->timer_stop(&f->continue_timer_);
    // RFC 9112 §5.1: no whitespace between a field name and its colon (the parser keeps it in
    // the name: "Content-Length " would frame the body under a name nobody looks up), and the
    // whitespace around a value is not part of it.
    for (Header &h : f->response_headers) {
        if (h.name.find_first_of(" \t") != std::string::npos) {
            f->parse_error_ = EDDY_EPROTO;
            return -1;
        }
        size_t end = h.value.find_last_not_of(" \t");
        h.value.resize(end == std::string::npos ? 0 : end + 1);
    }
    // Framing the parser may let through: several differing Content-Length values, or both
    // Content-Length and Transfer-Encoding (request smuggling's classic).
    const Header *cl = nullptr;
    bool te = false;
    for (const Header &h : f->response_headers) {
        if (http::iequals(h.name, "Content-Length")) {
            if (cl && cl->value != h.value) {
                f->parse_error_ = EDDY_EPROTO;
                return -1;
            }
            cl = &h;
        } else if (http::iequals(h.name, "Transfer-Encoding")) {
            te = true;
        }
    }
    // Transfer-Encoding in an HTTP/1.0 message is faulty framing (RFC 9112 §6.1): a 1.0 peer
    // cannot have meant it, and a proxy on the way may have framed the body otherwise.
    if (te && (cl || (p->http_major == 1 && p->http_minor == 0))) {
        f->parse_error_ = EDDY_EPROTO;
        return -1;
    }
    bool head = f->method_ == "HEAD";
    int st = f->status;
    // A transfer coding we cannot undo (only_chunked). HEAD, 204 and 304 have no body to read:
    // their field describes another response's.
    if (te && !head && st != 204 && st != 304 && !only_chunked(f->response_headers)) {
        log(LogLevel::info, "client: %s: unsupported Transfer-Encoding", f->url_text.c_str());
        f->parse_error_ = EDDY_EPROTO;
        return -1;
    }
    // "chunked" as a list sees it ("chunked\t", "chunked,", an empty second field line) but not
    // as http-parser does: it would read the coded body to the close and hand it over as it
    // came. Such a response cannot be framed here: refused rather than misread.
    if (te && !head && st != 204 && st != 304 && !(p->flags & F_CHUNKED)) {
        log(LogLevel::info, "client: %s: a Transfer-Encoding field the parser cannot follow",
            f->url_text.c_str());
        f->parse_error_ = EDDY_EPROTO;
        return -1;
    }
    // Content-Encoding: several field lines form one list (RFC 9110 §5.3), codings in the order
    // they were applied. Only a body coded once, with gzip, is decoded; anything else ("gzip"
    // then "br", "gzip, gzip", "br") reaches the application as it came, its field intact, as
    // Tornado does — never half-decoded, never refused.
    const Header *ce = nullptr;
    size_t ce_lines = 0;
    for (const Header &h : f->response_headers)
        if (http::iequals(h.name, "Content-Encoding") && ce_lines++ == 0) ce = &h;
    bool gunzip = f->decompress && !head && ce_lines == 1 && http::is_gzip_coding(ce->value);
    // Redirects we follow: their bodies are read and dropped.
    const Header *loc = f->find_response_header("Location");
    bool redirect = (st == 301 || st == 302 || st == 303 || st == 307 || st == 308) && loc &&
                    f->redirects < f->max_redirects;
    // A streamed body is gone once sent: only a redirect that drops it can be followed (301
    // after a streamed PUT went on with an empty body).
    if (redirect && f->streamed_body && !redirect_becomes_get(st, f->method_)) redirect = false;
    if (redirect && resolve_location(f->url, loc->value, &f->next_url_)) {
        f->skip_body_delivery_ = true;
        return head ? 1 : 0;
    }
    // A decoded body is limited by its decoded size (cb_body), not by the coded one.
    if (!head && cl && p->content_length != ULLONG_MAX && p->content_length > f->max_body_size &&
        !gunzip) {
        f->parse_error_ = EDDY_ETOOBIG;
        return -1;
    }
    if (gunzip) {
        f->gunzip_.reset(new (std::nothrow) http::GzipDecoder());
        if (!f->gunzip_) {
            f->parse_error_ = EDDY_ENOMEM;
            return -1;
        }
        // The body the application gets is not gzip: as Tornado, the field is renamed so that
        // nobody decodes it twice, and says what was undone.
        for (Header &h : f->response_headers)
            if (&h == ce) h.name = "X-Consumed-Content-Encoding";
    }
    if (f->on_headers) {
        f->on_headers(f->as_c(), f->userdata_);
        if (f->finishing_) return -1;
        // Paused from on_headers: not one body byte is parsed until the resume.
        if (f->paused_) http_parser_pause(p, 1);
    }
    // 204 and 304 end at their head too (RFC 9112 §6.3): a Content-Length on a 304 describes
    // the representation (RFC 9110 §8.6), not bytes that follow.
    return head || f->status == 204 || f->status == 304 ? 1 : 0;
}

void Fetch::deliver_body(const char *data, size_t len) {
    if (len == 0) return;
    delivered_ += len;
    if (delivered_ > max_body_size) {
        parse_error_ = EDDY_ETOOBIG;
        return;
    }
    if (on_chunk) {
        on_chunk(as_c(), data, len, userdata_);
        return;
    }
    try {
        response_body.append(data, len);
    } catch (...) {
        parse_error_ = EDDY_ENOMEM;
    }
}

// RFC 9112 §7.1: chunk-data is followed by CRLF, which http-parser (non-strict) does not
// check: other bytes there would be taken as the end of the chunk and the body returned as if
// it were well framed.
void Fetch::log_bad_chunk_end() const {
    log(LogLevel::info, "client: %s: no CRLF after a chunk's data", url_text.c_str());
}

int Fetch::cb_body(http_parser *p, const char *at, size_t len) {
    Fetch *f = self(p);
    f->body_bytes_ += len;
    // A chunk's data ends here: its CRLF follows, in these bytes or the next ones (feed).
    if ((p->flags & F_CHUNKED) && p->content_length == 0) {
        f->chunk_crlf_left_ = 2;
        if (!check_chunk_crlf(at + len, f->feed_end_, f->chunk_crlf_left_)) {
            f->log_bad_chunk_end();
            f->parse_error_ = EDDY_EPROTO;
            return -1;
        }
    }
    if (f->skip_body_delivery_) {  // a redirect's body: read and dropped, up to max_body_size
        if (f->body_bytes_ <= f->max_body_size) return 0;
        f->parse_error_ = EDDY_ETOOBIG;
        return -1;
    }
    if (f->gunzip_) {
        // The decoded body goes to the application piece by piece as it is inflated (16 KiB
        // at most, as Tornado's client hands out chunk_size pieces): collected first, a
        // hundred kilobytes of gzip became one 100 MB string (the default max_body_size) even
        // with a chunk callback, whose body is not kept. The decoder counts its whole output
        // against the limit itself.
        auto r = f->gunzip_->feed(at, len, f->max_body_size, gunzip_sink, f);
        if (!f->gunzip_result(static_cast<int>(r))) return -1;
    } else {
        f->deliver_body(at, len);
    }
    if (f->parse_error_ || f->finishing_) return -1;
    // on_chunk paused the body: the parser stops after this piece (feed() sees HPE_PAUSED).
    if (f->paused_) http_parser_pause(p, 1);
    return 0;
}

bool Fetch::gunzip_sink(void *arg, const char *data, size_t n) {
    Fetch *self = static_cast<Fetch *>(arg);
    self->deliver_body(data, n);
    if (self->parse_error_ || self->finishing_) return false;
    if (self->paused_) {
        // The rest of this input is kept by the decoder (no more than this piece of the
        // body), inflated and delivered after the resume.
        self->gunzip_->hold();
        return false;
    }
    return true;
}

bool Fetch::gunzip_result(int code) {
    switch (static_cast<http::GzipDecoder::Result>(code)) {
    case http::GzipDecoder::Result::ok:
    case http::GzipDecoder::Result::paused: return true;
    case http::GzipDecoder::Result::stopped: return false;  // deliver_body said why
    case http::GzipDecoder::Result::too_big: parse_error_ = EDDY_ETOOBIG; return false;
    case http::GzipDecoder::Result::out_of_memory: parse_error_ = EDDY_ENOMEM; return false;
    case http::GzipDecoder::Result::error: break;
    }
    log(LogLevel::info, "client: %s: broken gzip body", url_text.c_str());
    parse_error_ = EDDY_EPROTO;
    return false;
}

void Fetch::continue_body() {
    // What the decoder kept when on_chunk paused goes first: it came before the bytes the
    // stream still holds.
    if (gunzip_ && gunzip_->holding()) {
        http::GzipDecoder::Result r;
        {
            Busy busy(this);  // on_chunk may free the client (see Busy)
            r = gunzip_->resume(max_body_size, gunzip_sink, this);
        }
        if (deleted_after()) return;
        bool ok = gunzip_result(static_cast<int>(r));
        if (finishing_) return;
        if (!ok || parse_error_) {
            finish(parse_error_ ? parse_error_ : EDDY_EPROTO);
            return;
        }
        if (paused_) return;  // paused again in the middle of it
    }
    if (HTTP_PARSER_ERRNO(&parser_) == HPE_PAUSED) http_parser_pause(&parser_, 0);
    if (eof_pending_) {
        eof_pending_ = false;
        handle_eof(eof_error_, eof_tls_unconfirmed_);
        return;
    }
    if (!stream_) return;
    arm_read_timer();
    // The bytes the stream kept are handed over again by this read (on a later pass: the
    // stream defers it), then the socket is read again.
    if (!stream_->reading() && stream_->read_some(on_stream_data, this) != 0) finish(EDDY_ECLOSED);
}

int Fetch::cb_message_complete(http_parser *p) {
    Fetch *f = self(p);
    if (!f->final_response_) return 0;  // an interim response: the real one follows
    f->message_done_ = true;
    return -1;  // stop here: message_complete() decides about the connection
}

void Fetch::message_complete() {
    if (gunzip_ && body_bytes_ > 0 && !gunzip_->finished() && !skip_body_delivery_) {
        // The framing ended but the gzip stream did not: the body was cut short.
        log(LogLevel::info, "client: %s: gzip body ends early", url_text.c_str());
        detach_stream(false);
        finish(EDDY_EPROTO);
        return;
    }
    // http-parser's keep-alive test misses "close" written with list whitespace or empty
    // members ("close\t", ",close"); and a request that said close ends the connection too
    // (RFC 9112 §9.6: no further requests on it, either way).
    bool keep = http_should_keep_alive(&parser_) && !says_close(response_headers) &&
                !says_close(headers) && !close_after_ && phase_ != Phase::waiting_continue &&
                (!streamed_body || body_end_sent_);
    detach_stream(keep);
    if (skip_body_delivery_) {
        follow_redirect();
        return;
    }
    finish(0);
}

void Fetch::on_stream_close(Stream *s, int error, void *arg) {
    Fetch *f = static_cast<Fetch *>(arg);
    if (f->stream_ != s) return;
    f->stream_ = nullptr;
    bool tls_unconfirmed = false;
    if (s->is_tls()) {
        auto *tls = static_cast<tls::TlsStream *>(s);
        tls_unconfirmed = !tls->close_notify_received();
        if (!tls->failure().empty()) set_error_detail(f->error_detail, {tls->failure()});
    }
    f->guarded("client: connection closed", [&] { f->handle_eof(error, tls_unconfirmed); });
}

void Fetch::handle_eof(int error, bool tls_unconfirmed) {
    if (finishing_) return;
    bool clean = error == 0 || error == EDDY_EOF;
    if (clean && (paused_ || resume_due_)) {
        // The server finished (a close-delimited body ends so) while the application had the
        // body paused: what was read before the close is delivered first, at the resume.
        eof_pending_ = true;
        eof_error_ = error;
        eof_tls_unconfirmed_ = tls_unconfirmed;
        loop_->timer_stop(&read_timer_);
        return;
    }
    if (clean) {
        // A close-delimited body ends here.
        bool done_before = message_done_;
        uint64_t gen = generation_;
        {
            Busy busy(this);  // (a close-delimited body's end calls no user callback today)
            http_parser_execute(&parser_, &kSettings, nullptr, 0);
        }
        if (deleted_after() || finishing_ || gen != generation_) return;
        if (message_done_ && !done_before && tls_unconfirmed) {
            // Over TLS such a body is complete only with the server's close_notify (RFC 9112
            // §9.8): a bare TCP close may be an attacker's truncation.
            log(LogLevel::info, "client: %s: TLS closed without close_notify: body may be cut",
                url_text.c_str());
            finish(EDDY_EOF);
            return;
        }
        if (message_done_) {
            message_complete();
            return;
        }
    }
    // A pooled connection the server closed just as we reused it: its FIN (or, when our
    // request reached the closed socket first, a reset) is all that came back. An idempotent
    // request is tried once more on a new connection; any other may have been carried out
    // already (the server may close after reading it), and is never sent twice on our own
    // (RFC 9112 §9.3.1): its error goes to the application, which knows whether to repeat it.
    if ((clean || error == EDDY_ECONNRESET) && reused && !got_bytes_ && !retried_ &&
        idempotent_method(method_) && !(streamed_body && body_sent_ > 0)) {
        retried_ = true;
        restart_connect_timer();  // stopped when the pooled connection was taken
        connect_new();
        return;
    }
    if (!clean) {
        finish(error);
        return;
    }
    log(LogLevel::info, "client: %s: connection closed before the response ended",
        url_text.c_str());
    finish(EDDY_EOF);
}

}  // namespace eddy::client
