// A failure's detail published for one loop while the callback reporting that failure runs
// (eddy_connect_error_detail, eddy_websocket_connect_error_detail): the callbacks have no
// handle to ask with (the connection failed, so there is none), only their loop.
//
// Kept per thread, keyed by the loop, rather than in the Loop: a loop's callbacks run on the
// thread that runs it, which is the thread that asks, and the loop need not know what failed.
// The text stays owned by whoever failed; only a pointer is published. Each kind of failure
// has its own slot, so that one API never reports another's failure.
#pragma once

#include <cstddef>
#include <string>

namespace eddy {

// One kind of failure's published detail: a thread_local of static storage per kind. Plain
// pointers (trivially destructible), so threads need no exit work.
struct DetailSlot {
    const void *loop = nullptr;
    const std::string *detail = nullptr;
};

// Publishes `detail` in `slot` for `loop` for the scope's life (the failed callback's call).
// Scopes nest: a failure reported inside another's callback (a nested run of a loop) restores
// the outer one on return.
class PublishedDetail {
public:
    PublishedDetail(DetailSlot &slot, const void *loop, const std::string &detail)
        : slot_(slot), prev_(slot) {
        slot_.loop = loop;
        slot_.detail = &detail;
    }
    ~PublishedDetail() { slot_ = prev_; }
    PublishedDetail(const PublishedDetail &) = delete;
    PublishedDetail &operator=(const PublishedDetail &) = delete;

private:
    DetailSlot &slot_;
    DetailSlot prev_;
};

// The detail `slot` holds for `loop` (NUL-terminated, its length in *len); "" (0) when the
// slot holds nothing for that loop, or `loop` is null.
inline const char *published_detail(const DetailSlot &slot, const void *loop, size_t *len) {
    bool published = loop && loop == slot.loop && slot.detail;
    *len = published ? slot.detail->size() : 0;
    return published ? slot.detail->c_str() : "";
}

}  // namespace eddy
