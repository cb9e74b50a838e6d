// libFuzzer target: cookie and URL decoding — Cookie headers, signed values, XSRF tokens,
// percent-decoding and form (query string) parsing. Round trips are checked: what
// percent_encode_path_segment produces decodes back to the input.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "http/httputil.hpp"
#include "web/cookies.hpp"

using namespace eddy::http;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    std::string_view in(reinterpret_cast<const char *>(data), size);

    eddy::web::CookieList cookies;
    eddy::web::parse_cookie_header(in, cookies);
    for (const auto &c : cookies)
        if (c.first.size() + c.second.size() > in.size()) abort();
    if (!cookies.empty()) eddy::web::find_cookie(cookies, cookies.front().first);

    std::string value;
    eddy::web::decode_signed_value("secret", "name", in, 31, 1.7e9, value);
    eddy::web::decode_signed_value("secret", "name", in, 31, 1.7e9, value, 2);
    std::string raw;
    int64_t ts = 0;
    eddy::web::xsrf_decode_token(in, raw, &ts);
    eddy::web::check_xsrf(in, in);

    std::string out;
    if (percent_decode(in, out, false) && out.size() > in.size()) abort();
    percent_decode(in, out, true);
    std::vector<Argument> args;
    parse_urlencoded(in, args);
    for (const auto &a : args)
        if (a.name.size() + a.value.size() > in.size()) abort();

    for (bool slash : {false, true}) {
        std::string enc = eddy::web::percent_encode_path_segment(in, slash);
        std::string back;
        if (!percent_decode(enc, back, false) || back != in) abort();
    }
    return 0;
}
