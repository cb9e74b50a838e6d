#include "client/client.hpp"

#include <algorithm>
#include <new>

#include "stream/stream.hpp"
#include "tls/context.hpp"
#include "tls/tls_stream.hpp"
#include "util/log.hpp"

namespace eddy::client {

Client *Client::create(Loop *loop) {
    if (!loop) return nullptr;
    Client *c = new (std::nothrow) Client(loop);
    if (c) loop->add_resource(c);
    return c;
}

Client::~Client() {
    if (loop_) loop_->remove_resource(this);
    if (tls_) tls_->unref();
}

void Client::destroy() {
    destroying_ = true;
    // Every fetch ends with ECANCELED; their done callbacks run now.
    while (!queue_.empty()) {
        Fetch *f = queue_.front();
        queue_.pop_front();
        f->abort(EDDY_ECANCELED);
    }
    while (!running_.empty()) running_.back()->abort(EDDY_ECANCELED);
    while (!finishing_.empty()) finishing_.back()->finish_now();
    while (!idle_.empty()) drop_idle(idle_.begin()->second, true);
    delete this;
}

void Client::on_loop_free() {
    // Streams are loop resources of their own (freed without callbacks); forget them here.
    for (auto &kv : idle_) {
        loop_->timer_stop(&kv.second->timer);
        delete kv.second;
    }
    idle_.clear();
    // Started fetches belong to eddy: release them without callbacks.
    for (Fetch *f : queue_) f->loop_freed();
    for (Fetch *f : running_) f->loop_freed();
    for (Fetch *f : finishing_) f->loop_freed();
    finishing_.clear();
    queue_.clear();
    running_.clear();
    active_ = 0;
    // The client itself stays until eddy_client_free, inert: new fetches are refused.
    loop_ = nullptr;
}

void Client::set_tls(tls::Context *ctx) {
    if (ctx) ctx->ref();
    if (tls_) tls_->unref();
    tls_ = ctx;
    // Pooled TLS connections were checked by the context they were made with: none of them
    // may serve a request made under this one (take_idle refuses them too; here they are
    // closed now rather than at their idle timeout).
    for (auto it = idle_.begin(); it != idle_.end();) {
        Idle *idle = it->second;
        ++it;
        if (made_with_other_tls(idle->stream)) drop_idle(idle, true);
    }
}

bool Client::made_with_other_tls(const Stream *s) const {
    return s->is_tls() && static_cast<const tls::TlsStream *>(s)->context() != tls_;
}

tls::Context *Client::tls() {
    if (!tls_) tls_ = tls::Context::create(false);
    return tls_;
}

namespace {
template <class T>
void grow_to(std::vector<T> &v, size_t n) {
    if (v.capacity() < n) v.reserve(std::max(n, 2 * v.capacity()));
}
}  // namespace

void Client::make_room() {
    size_t fetches = running_.size() + queue_.size() + finishing_.size() + 1;
    grow_to(running_, fetches);
    grow_to(finishing_, fetches);
}

int Client::submit(Fetch *f) {
    if (active_ < max_clients) {
        active_++;
        running_.push_back(f);
        f->run();
        return 0;
    }
    if (queue_.size() >= max_queue) return EDDY_EBUSY;
    try {
        queue_.push_back(f);
    } catch (...) {
        return EDDY_ENOMEM;
    }
    return 0;
}

void Client::finished(Fetch *f) {
    auto it = std::find(running_.begin(), running_.end(), f);
    if (it == running_.end()) return;
    running_.erase(it);
    active_--;
    start_queued();
}

void Client::start_queued() {
    if (destroying_) return;
    while (active_ < max_clients && !queue_.empty()) {
        Fetch *next = queue_.front();
        queue_.pop_front();
        active_++;
        running_.push_back(next);
        next->run();
    }
}

void Client::set_max_clients(size_t n) {
    max_clients = n;
    start_queued();
}

void Client::add_finishing(Fetch *f) { finishing_.push_back(f); }

void Client::remove_finishing(Fetch *f) {
    auto it = std::find(finishing_.begin(), finishing_.end(), f);
    if (it != finishing_.end()) finishing_.erase(it);
}

void Client::unqueue(Fetch *f) {
    auto it = std::find(queue_.begin(), queue_.end(), f);
    if (it != queue_.end()) queue_.erase(it);
}

// ---- the keep-alive pool ---------------------------------------------------------------------

Stream *Client::take_idle(const std::string &key) {
    for (;;) {
        auto it = idle_.find(key);
        if (it == idle_.end()) return nullptr;
        Idle *idle = it->second;
        Stream *s = idle->stream;
        // Bytes that arrived while idle cannot belong to a request of ours: retire it. So is
        // one the server already closed whose close callback has not run yet. And one made
        // under another TLS context than the client's (eddy_client_set_tls since): its
        // certificate was checked, or not, by rules the application has replaced. (closing():
        // its write failed and it only delivers the last input before it closes.)
        bool dirty =
            s->read_buffer_size() > 0 || s->closed() || s->closing() || made_with_other_tls(s);
        drop_idle(idle, dirty);
        if (!dirty) return s;
    }
}

void Client::put_idle(const std::string &key, Stream *s) {
    if (destroying_ || max_idle_per_host == 0 || idle_.count(key) >= max_idle_per_host) {
        s->close();
        return;
    }
    // Out of memory, the connection is not kept (the key's copy may throw, too).
    Idle *idle = nullptr;
    try {
        idle = new Idle{this, key, s, {}};
        idle_.emplace(key, idle);
    } catch (...) {
        delete idle;
        s->close();
        return;
    }
    idle->timer.fire = on_idle_timeout;
    idle->timer.owner = idle;
    if (idle_timeout > 0) loop_->timer_start(&idle->timer, Loop::now() + idle_timeout);
    s->set_close_callback(on_idle_close, idle);
    // A read, not just the close callback: a stream with bytes buffered and no read pending
    // stops watching the socket, so a server that sent anything while idle and then closed
    // left a dead connection here (its fd and a pool slot) until reuse or the idle timeout.
    if (s->read_some(on_idle_bytes, idle) != 0) drop_idle(idle, true);
}

size_t Client::on_idle_bytes(Stream *, const char *, size_t len, void *arg) {
    // Nothing may come while no request is out: whatever this is, the connection is done.
    Idle *idle = static_cast<Idle *>(arg);
    idle->client->drop_idle(idle, true);
    return len;
}

void Client::drop_idle(Idle *idle, bool close_stream) {
    auto range = idle_.equal_range(idle->key);
    for (auto it = range.first; it != range.second; ++it) {
        if (it->second == idle) {
            idle_.erase(it);
            break;
        }
    }
    loop_->timer_stop(&idle->timer);
    Stream *s = idle->stream;
    delete idle;
    s->set_close_callback(nullptr, nullptr);
    if (close_stream)
        s->close();
    else
        s->cancel_read();  // handed to a request, which reads for itself
}

size_t Client::idle_count() const { return idle_.size(); }

void Client::on_idle_close(Stream *, int, void *arg) {
    Idle *idle = static_cast<Idle *>(arg);
    idle->stream = nullptr;
    Client *c = idle->client;
    auto range = c->idle_.equal_range(idle->key);
    for (auto it = range.first; it != range.second; ++it) {
        if (it->second == idle) {
            c->idle_.erase(it);
            break;
        }
    }
    c->loop_->timer_stop(&idle->timer);
    delete idle;
}

void Client::on_idle_timeout(TimerNode *node) {
    Idle *idle = static_cast<Idle *>(node->owner);
    idle->client->drop_idle(idle, true);
}

}  // namespace eddy::client
