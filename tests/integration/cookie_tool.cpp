// Command-line front end to lib/web/cookies for the Tornado cross-check
// (test_tornado_cookies.py). Arguments starting with "hex:" are hex-decoded first (for bytes
// argv cannot carry); byte-string results are printed as hex. Exit status 0 = success,
// 1 = the operation refused/failed (prints "INVALID"), 2 = usage error.
//
//   sign SECRET NAME VALUE TIMESTAMP                    -> signed value
//   verify SECRET NAME SIGNED MAXAGEDAYS NOW [MINVER]   -> hex(value) | INVALID
//   parse-cookie HEADER                                 -> "hex(name) hex(value)" per line
//   set-cookie NAME VALUE DOMAIN PATH EXPIRES MAXAGE SECURE HTTPONLY SAMESITE
//                                                       -> header value | INVALID
//   xsrf-new TIMESTAMP                                  -> hex(raw) NL token
//   xsrf-encode RAW TIMESTAMP                           -> token
//   xsrf-decode TOKEN                                   -> hex(raw) timestamp | INVALID
//   xsrf-check TOKEN COOKIE                             -> OK | INVALID
//   quote STRING [slash]                                -> percent-encoded
//
// `cookie_tool --batch` runs many commands in one process (under ASan each start costs most of
// a second, and the cross-check makes hundreds of calls): one command per stdin line, its
// arguments hex-encoded and separated by tabs (so any byte, and an empty argument, survives);
// after each command's output a line "\x1e" + its exit status.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "web/cookies.hpp"

using namespace eddy::web;

namespace {

int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

std::string unhex(std::string_view s) {
    std::string out;
    for (size_t i = 0; i + 1 < s.size(); i += 2) out.push_back(char(hexval(s[i]) << 4 | hexval(s[i + 1])));
    return out;
}

std::string arg(const char *a) {
    std::string_view s(a);
    if (s.substr(0, 4) != "hex:") return std::string(s);
    return unhex(s.substr(4));
}

std::string hex(std::string_view s) {
    static const char k[] = "0123456789abcdef";
    std::string out;
    for (unsigned char c : s) {
        out.push_back(k[c >> 4]);
        out.push_back(k[c & 15]);
    }
    return out;
}

int invalid() {
    std::puts("INVALID");
    return 1;
}

int usage() {
    std::fputs("usage: see the comment at the top of cookie_tool.cpp\n", stderr);
    return 2;
}

int run(int argc, char **argv) {
    if (argc < 2) return usage();
    std::string_view cmd = argv[1];
    int n = argc - 2;
    char **a = argv + 2;

    if (cmd == "sign" && n == 4) {
        std::puts(create_signed_value(arg(a[0]), arg(a[1]), arg(a[2]), std::atoll(a[3])).c_str());
        return 0;
    }
    if (cmd == "verify" && (n == 5 || n == 6)) {
        std::string out;
        int min_version = n == 6 ? std::atoi(a[5]) : 1;
        if (!decode_signed_value(arg(a[0]), arg(a[1]), arg(a[2]), std::atof(a[3]), std::atof(a[4]),
                                 out, min_version))
            return invalid();
        std::printf("%s\n", hex(out).c_str());
        return 0;
    }
    if (cmd == "parse-cookie" && n == 1) {
        CookieList list;
        parse_cookie_header(arg(a[0]), list);
        for (auto &[k, v] : list) std::printf("%s %s\n", hex(k).c_str(), hex(v).c_str());
        return 0;
    }
    if (cmd == "set-cookie" && n == 9) {
        std::string name = arg(a[0]), value = arg(a[1]), domain = arg(a[2]), path = arg(a[3]),
                    samesite = arg(a[8]);
        CookieAttributes attrs;
        attrs.domain = domain;
        attrs.path = path;
        attrs.expires = std::atof(a[4]);
        attrs.max_age = std::atol(a[5]);
        attrs.secure = std::strcmp(a[6], "1") == 0;
        attrs.httponly = std::strcmp(a[7], "1") == 0;
        attrs.samesite = samesite;
        std::string out;
        if (!format_set_cookie(name, value, attrs, out)) return invalid();
        std::puts(out.c_str());
        return 0;
    }
    if (cmd == "xsrf-new" && n == 1) {
        std::string raw, tok;
        if (!xsrf_new_raw_token(raw) || !xsrf_encode_token(raw, std::atoll(a[0]), tok))
            return invalid();
        std::printf("%s\n%s\n", hex(raw).c_str(), tok.c_str());
        return 0;
    }
    if (cmd == "xsrf-encode" && n == 2) {
        std::string tok;
        if (!xsrf_encode_token(arg(a[0]), std::atoll(a[1]), tok)) return invalid();
        std::puts(tok.c_str());
        return 0;
    }
    if (cmd == "xsrf-decode" && n == 1) {
        std::string raw;
        int64_t ts = 0;
        if (!xsrf_decode_token(arg(a[0]), raw, &ts)) return invalid();
        std::printf("%s %lld\n", hex(raw).c_str(), static_cast<long long>(ts));
        return 0;
    }
    if (cmd == "xsrf-check" && n == 2) {
        if (!check_xsrf(arg(a[0]), arg(a[1]))) return invalid();
        std::puts("OK");
        return 0;
    }
    if (cmd == "quote" && (n == 1 || n == 2)) {
        std::puts(percent_encode_path_segment(arg(a[0]), n == 2 && std::strcmp(a[1], "slash") == 0)
                      .c_str());
        return 0;
    }
    return usage();
}

// One line of --batch: tab-separated hex fields, each an argument as the command line gives it.
int run_line(const std::string &line) {
    std::vector<std::string> args{"cookie_tool"};
    size_t start = 0;
    for (;;) {
        size_t tab = line.find('\t', start);
        std::string_view field = std::string_view(line).substr(start, tab - start);
        args.push_back(unhex(field));
        if (tab == std::string::npos) break;
        start = tab + 1;
    }
    std::vector<char *> argv;
    for (std::string &a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    return run(static_cast<int>(args.size()), argv.data());
}

}  // namespace

int main(int argc, char **argv) {
    if (argc == 2 && std::strcmp(argv[1], "--batch") == 0) {
        std::string line;
        int c;
        while ((c = std::getchar()) != EOF) {
            if (c != '\n') {
                line.push_back(static_cast<char>(c));
                continue;
            }
            int rc = run_line(line);
            std::printf("\x1e%d\n", rc);
            std::fflush(stdout);
            line.clear();
        }
        return 0;
    }
    return run(argc, argv);
}
