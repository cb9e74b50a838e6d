// libFuzzer target: multipart/form-data parsing (lib/http/httputil_multipart) and the media
// type parser that finds the boundary. Input: the Content-Type value, a newline, the body.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "http/httputil.hpp"

using namespace eddy::http;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    std::string_view in(reinterpret_cast<const char *>(data), size);
    size_t nl = in.find('\n');
    std::string_view ctype = nl == std::string_view::npos ? std::string_view("multipart/form-data; boundary=b") : in.substr(0, nl);
    std::string_view body = nl == std::string_view::npos ? in : in.substr(nl + 1);
    MediaType mt;
    std::string boundary = "b";
    if (parse_media_type(ctype, mt)) {
        for (const auto &p : mt.params)
            if (p.first == "boundary" && !p.second.empty()) boundary = p.second;
    }
    std::vector<Argument> fields;
    std::vector<UploadedFile> files;
    std::string error;
    MultipartLimits limits;
    bool ok = parse_multipart(body, boundary, fields, files, error, limits);
    if (fields.size() + files.size() > limits.max_parts) abort();
    size_t total = 0;
    for (const auto &f : files) total += f.body.size();
    for (const auto &a : fields) total += a.value.size();
    if (ok && total > body.size()) abort();  // parts are slices of the body
    if (!ok && error.empty()) abort();       // every failure says why
    return 0;
}
