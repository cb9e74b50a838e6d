// The client actions a server fuzz input spells out between its bytes (feed_connection.hpp).
// Each op marker ends the piece before it (a separate write, loop turns follow) and is not sent:
//   "\n--MARK--\n"        a write boundary only (h2o's marker)
//   "\n--TICK--\n"        advance the loop's virtual clock (loop/fuzz_clock.hpp) by 1000 ms,
//   "\n--TICK<ms>--\n"    or by <ms> (up to 7 digits), so timeouts fire when the input says
//   "\n--HOLD--\n"        stop reading the answers for 50 loop turns (or <turns>, at most 200),
//   "\n--HOLD<turns>--\n" so the server's output queue fills; an input holding anywhere also
//                         gets small socket buffers (see feed_connection.hpp)
// Anything else that starts with "\n--" is plain data. Header-only, no state.
#pragma once

#include <string.h>

#include <cstddef>
#include <cstdint>

namespace fuzz_feed {

enum class OpKind { mark, tick, hold };

struct Op {
    OpKind kind = OpKind::mark;
    const uint8_t *at = nullptr;  // where the marker starts
    size_t len = 0;               // marker length (skipped, not sent)
    unsigned value = 0;           // tick: milliseconds; hold: loop turns
};

constexpr unsigned kDefaultTickMs = 1000;
constexpr unsigned kDefaultHoldTurns = 50;
constexpr unsigned kMaxHoldTurns = 200;

// Parses the marker at `q` (which starts with "\n--"); false when it is not one.
inline bool parse_op(const uint8_t *q, const uint8_t *end, Op *op) {
    const uint8_t *r = q + 3;
    if (end - r < 4) return false;
    if (memcmp(r, "MARK", 4) == 0) {
        op->kind = OpKind::mark;
    } else if (memcmp(r, "TICK", 4) == 0) {
        op->kind = OpKind::tick;
    } else if (memcmp(r, "HOLD", 4) == 0) {
        op->kind = OpKind::hold;
    } else {
        return false;
    }
    r += 4;
    unsigned value = 0;
    int digits = 0;
    while (r < end && *r >= '0' && *r <= '9' && digits < 7) {
        value = value * 10 + static_cast<unsigned>(*r - '0');
        ++r;
        ++digits;
    }
    if (end - r < 3 || memcmp(r, "--\n", 3) != 0) return false;
    if (op->kind == OpKind::mark && digits > 0) return false;  // h2o's marker has no number
    if (op->kind == OpKind::tick) op->value = digits ? value : kDefaultTickMs;
    if (op->kind == OpKind::hold)
        op->value = !digits ? kDefaultHoldTurns : value > kMaxHoldTurns ? kMaxHoldTurns : value;
    op->at = q;
    op->len = static_cast<size_t>(r + 3 - q);
    return true;
}

// The first op marker in [p, end), if any.
inline bool next_op(const uint8_t *p, const uint8_t *end, Op *op) {
    while (p < end) {
        const uint8_t *q =
            static_cast<const uint8_t *>(memmem(p, static_cast<size_t>(end - p), "\n--", 3));
        if (!q) return false;
        if (parse_op(q, end, op)) return true;
        p = q + 1;
    }
    return false;
}

// True when the input holds the answers somewhere (then it gets small socket buffers).
inline bool has_hold(const uint8_t *p, const uint8_t *end) {
    Op op;
    while (next_op(p, end, &op)) {
        if (op.kind == OpKind::hold) return true;
        p = op.at + op.len;
    }
    return false;
}

}  // namespace fuzz_feed
