// libFuzzer target: the request-head scanner (lib/http/head_scanner). Differential: scanning
// the input whole and in two pieces split at a byte chosen by the input must agree on the
// result, the status, how many bytes belong to the head, and every part it hands out (the
// target, field names and values) — the word-at-a-time runs and the leading-whitespace skip
// must give what the byte loop gives wherever a read boundary falls.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "http/head_scanner.hpp"
#include "http/request.hpp"

using eddy::http::HeadScanner;
using eddy::http::HeaderField;

namespace {

struct Scan {
    HeadScanner::Result result = HeadScanner::Result::need_more;
    int status = 0;
    size_t used = 0;
    std::string target;
    std::vector<HeaderField> fields;
};

// `max` and the field limit are small enough that the inputs reach the 414/431 limits too.
constexpr size_t kMax = 512;
constexpr size_t kMaxFields = 8;

void scan_pieces(const char *p, size_t len, size_t split, Scan &out) {
    HeadScanner s;
    s.reset(kMax, 3, &out.target, &out.fields, kMaxFields);
    size_t used = 0;
    out.result = s.scan(p, split, &used, &out.status);
    if (used > split) abort();
    out.used = used;
    if (out.result == HeadScanner::Result::need_more) {
        if (used != split) abort();  // need_more consumes everything
        out.result = s.scan(p + split, len - split, &used, &out.status);
        if (used > len - split) abort();
        out.used += used;
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    const char *head = reinterpret_cast<const char *>(data + 1);
    size_t len = size - 1;
    size_t split = len ? data[0] % (len + 1) : 0;

    Scan whole, parts;
    scan_pieces(head, len, len, whole);
    scan_pieces(head, len, split, parts);
    if (whole.result != parts.result || whole.status != parts.status) abort();
    if (whole.result == HeadScanner::Result::error) {
        if (whole.status != 400 && whole.status != 414 && whole.status != 431) abort();
        return 0;  // the parts of a refused head are never used
    }
    if (whole.used != parts.used || whole.target != parts.target) abort();
    if (whole.fields.size() != parts.fields.size() || whole.fields.size() > kMaxFields) abort();
    for (size_t i = 0; i < whole.fields.size(); i++) {
        if (whole.fields[i].name != parts.fields[i].name) abort();
        if (whole.fields[i].value != parts.fields[i].value) abort();
        const std::string &v = whole.fields[i].value;
        if (!v.empty() && (v[0] == ' ' || v[0] == '\t')) abort();  // leading OWS is left out
        for (unsigned char c : v)
            if ((c < 0x20 && c != '\t') || c == 0x7f) abort();
    }
    for (unsigned char c : whole.target)
        if (c < 0x21 || c > 0x7e) abort();
    return 0;
}
