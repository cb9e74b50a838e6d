// StreamRegex: the compiled pattern of Stream::read_until_regex (Tornado's read_until_regex),
// PCRE2 over raw bytes. Kept apart so that the stream itself does not depend on PCRE2, and
// kept by the stream between reads: a protocol that reads with the same pattern again and
// again compiles it once.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace eddy {

class StreamRegex {
public:
    // Compiles `pattern`; nullptr (with `*error` set) when PCRE2 refuses it. Throws
    // std::bad_alloc when out of memory.
    static StreamRegex *compile(std::string_view pattern, std::string *error);
    ~StreamRegex();
    StreamRegex(const StreamRegex &) = delete;
    StreamRegex &operator=(const StreamRegex &) = delete;

    bool same_pattern(std::string_view pattern) const { return pattern == pattern_; }
    // Searches `data` for the first non-empty match: 1 with `*end` the offset just past it,
    // 0 when there is none (yet), a negative PCRE2 error when matching gave up (its match
    // limit, say).
    int search(const char *data, size_t len, size_t *end) const;

private:
    StreamRegex() = default;
    std::string pattern_;
    void *code_ = nullptr;        // pcre2_code
    void *match_data_ = nullptr;  // pcre2_match_data
};

}  // namespace eddy
