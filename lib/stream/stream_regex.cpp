#include "stream/stream_regex.hpp"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <new>

namespace eddy {

StreamRegex *StreamRegex::compile(std::string_view pattern, std::string *error) {
    int errcode = 0;
    PCRE2_SIZE erroffset = 0;
    // No UTF: stream data are bytes (as Python's re with a bytes pattern).
    pcre2_code *code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                                     0, &errcode, &erroffset, nullptr);
    if (!code) {
        if (errcode == PCRE2_ERROR_NOMEMORY || errcode == PCRE2_ERROR_HEAP_FAILED)
            throw std::bad_alloc();
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(errcode, msg, sizeof msg);
        *error =
            std::string(reinterpret_cast<char *>(msg)) + " at offset " + std::to_string(erroffset);
        return nullptr;
    }
    // The interpreter when JIT is unavailable. PARTIAL_HARD for the resume point (search).
    pcre2_jit_compile(code, PCRE2_JIT_COMPLETE | PCRE2_JIT_PARTIAL_HARD);
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(code, nullptr);
    StreamRegex *re = md ? new (std::nothrow) StreamRegex() : nullptr;
    if (!re) {
        if (md) pcre2_match_data_free(md);
        pcre2_code_free(code);
        throw std::bad_alloc();
    }
    re->code_ = code;
    re->match_data_ = md;
    try {
        re->pattern_.assign(pattern);
    } catch (...) {
        delete re;
        throw;
    }
    return re;
}

StreamRegex::~StreamRegex() {
    pcre2_match_data_free(static_cast<pcre2_match_data *>(match_data_));
    pcre2_code_free(static_cast<pcre2_code *>(code_));
}

namespace {

// pcre2_match, on the interpreter when the JIT's default stack (32 KiB) runs out: it does on
// ordinary backtracking patterns over a few KiB ("(a|b)*c"); the interpreter keeps its state on
// the heap, bounded by the match limit.
int match(pcre2_code *code, PCRE2_SPTR subject, size_t len, size_t from, uint32_t options,
          pcre2_match_data *md) {
    int rc = pcre2_match(code, subject, len, from, options, md, nullptr);
    if (rc == PCRE2_ERROR_JIT_STACKLIMIT)
        rc = pcre2_match(code, subject, len, from, options | PCRE2_NO_JIT, md, nullptr);
    return rc;
}

}  // namespace

int StreamRegex::search(const char *data, size_t len, size_t from, size_t *end,
                        size_t *resume) const {
    auto *md = static_cast<pcre2_match_data *>(match_data_);
    auto *code = static_cast<pcre2_code *>(code_);
    auto *subject = reinterpret_cast<PCRE2_SPTR>(data);
    if (from > len) from = len;
    // NOTEMPTY: an empty match would deliver nothing, and a reader that asks again would
    // never get further.
    int rc = match(code, subject, len, from, PCRE2_NOTEMPTY, md);
    if (rc >= 0) {
        *end = static_cast<size_t>(pcre2_get_ovector_pointer(md)[1]);
        return 1;
    }
    if (rc != PCRE2_ERROR_NOMATCH) return rc;
    // No match yet. A hard partial match finds the first offset where more bytes could still
    // make one (it also stops at $, \z, \b and lookaheads at the end, which later bytes may
    // change); every start before it failed without reaching the end, and fails the same way
    // however the buffer grows. No partial match at all: no start before `len` can match. If
    // this search gives up (match limit), the next one starts where this one did.
    rc = match(code, subject, len, from, PCRE2_NOTEMPTY | PCRE2_PARTIAL_HARD, md);
    if (rc == PCRE2_ERROR_PARTIAL)
        *resume = static_cast<size_t>(pcre2_get_ovector_pointer(md)[0]);
    else if (rc == PCRE2_ERROR_NOMATCH)
        *resume = len;
    else
        *resume = from;
    return 0;
}

}  // namespace eddy
