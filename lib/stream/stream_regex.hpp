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
    // Searches `data` from offset `from` for the first non-empty match: 1 with `*end` the
    // offset just past it; 0 when there is none yet, with `*resume` the first offset at which
    // a match could still begin once more bytes follow (the next search starts there, so that
    // a stream growing by small reads is not searched from its start again and again: linear,
    // not quadratic); a negative PCRE2 error when matching gave up (its match limit, say).
    // Bytes before `from` are still seen by lookbehinds, \b and ^, so the result is the one a
    // search of the whole buffer from 0 gives — but for \G (it matches at `from`) and
    // backtracking verbs such as (*COMMIT) (their effect stays in the search that met them).
    int search(const char *data, size_t len, size_t from, size_t *end, size_t *resume) const;

private:
    StreamRegex() = default;
    std::string pattern_;
    void *code_ = nullptr;        // pcre2_code
    void *match_data_ = nullptr;  // pcre2_match_data
};

}  // namespace eddy
