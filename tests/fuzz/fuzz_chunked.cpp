// libFuzzer target: the chunked-body scanner (lib/http/chunk_scanner). Differential: scanning
// the input whole and in two pieces split at a byte chosen by the input must agree on the
// result, on how many bytes belong to the body, and on the data decoded.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "http/chunk_scanner.hpp"

using eddy::http::ChunkScanner;

static bool collect(void *ctx, const char *data, size_t len) {
    static_cast<std::string *>(ctx)->append(data, len);
    return true;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    size_t split = data[0] % (size);  // 0..size-1 within the body below
    const char *body = reinterpret_cast<const char *>(data + 1);
    size_t len = size - 1;
    if (split > len) split = len;

    ChunkScanner whole;
    whole.reset(1024);
    size_t used_whole = 0;
    int status_whole = 0;
    std::string data_whole, data_parts;
    ChunkScanner::Result r1 = whole.scan(body, len, &used_whole, &status_whole, collect, &data_whole);
    if (used_whole > len) abort();

    ChunkScanner parts;
    parts.reset(1024);
    size_t used_a = 0, used_b = 0;
    int status = 0;
    ChunkScanner::Result r2 = parts.scan(body, split, &used_a, &status, collect, &data_parts);
    if (used_a > split) abort();
    if (r2 == ChunkScanner::Result::need_more) {
        if (used_a != split) abort();  // need_more consumes everything
        r2 = parts.scan(body + split, len - split, &used_b, &status, collect, &data_parts);
        if (used_b > len - split) abort();
    }
    if (r1 != r2) abort();
    if (data_whole != data_parts || data_whole.size() > len) abort();
    if (r1 == ChunkScanner::Result::done && used_whole != used_a + used_b) abort();
    if (r1 == ChunkScanner::Result::error && status_whole != 400 && status_whole != 431) abort();
    return 0;
}
