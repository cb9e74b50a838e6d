#include "web/route.hpp"

#include <cstring>
#include <new>

#include "util/log.hpp"
#include "web/websocket_route.hpp"

namespace eddy::web {

namespace {

// A pattern made only of characters that match themselves takes the literal fast path.
bool is_literal_pattern(std::string_view p) {
    for (char c : p)
        if (strchr("\\.^$|?*+()[]{}", c)) return false;
    return true;
}

bool is_regex_meta(char c) { return strchr(".^$|?*+()[]{}", c) != nullptr; }

}  // namespace

pcre2_code *compile_anchored(std::string_view pattern, std::string &error) {
    int errcode = 0;
    PCRE2_SIZE erroffset = 0;
    // ANCHORED + ENDANCHORED: the pattern must match the whole subject, as Tornado's
    // re.match(pattern + "$") does. UTF: patterns and paths are UTF-8 text; paths are still
    // percent-encoded, so they are ASCII in practice. NO_UTF_CHECK is not used: subjects come
    // from the network.
    pcre2_code *code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                                     PCRE2_ANCHORED | PCRE2_ENDANCHORED | PCRE2_DOLLAR_ENDONLY,
                                     &errcode, &erroffset, nullptr);
    if (!code) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(errcode, msg, sizeof msg);
        error = std::string(reinterpret_cast<char *>(msg)) + " at offset " + std::to_string(erroffset);
        return nullptr;
    }
    pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);  // falls back to the interpreter if JIT is off
    return code;
}

Route *Route::create(std::string_view pattern, void *userdata, eddy_free_fn free_userdata) {
    Route *r = new (std::nothrow) Route();
    if (!r) return nullptr;
    bool compiled = false;
    try {
        r->pattern_.assign(pattern);
        compiled = r->compile();
    } catch (const std::bad_alloc &) {
    }
    if (!compiled) {
        delete r;
        return nullptr;
    }
    r->userdata = userdata;
    r->free_userdata = free_userdata;
    return r;
}

Route::~Route() {
    delete websocket;  // drops its live connections while our userdata still exists
    if (match_data_) pcre2_match_data_free(match_data_);
    if (code_) pcre2_code_free(code_);
    if (free_userdata) free_userdata(userdata);
}

bool Route::compile() {
    if (is_literal_pattern(pattern_)) {
        literal_ = true;
        reversible_ = true;
        reverse_pieces_.push_back(pattern_);
        return true;
    }
    std::string error;
    code_ = compile_anchored(pattern_, error);
    if (!code_) {
        log(LogLevel::error, "route %s: %s", pattern_.c_str(), error.c_str());
        return false;
    }
    match_data_ = pcre2_match_data_create_from_pattern(code_, nullptr);
    if (!match_data_) return false;
    pcre2_pattern_info(code_, PCRE2_INFO_CAPTURECOUNT, &group_count_);
    uint32_t name_count = 0, entry_size = 0;
    PCRE2_SPTR table = nullptr;
    pcre2_pattern_info(code_, PCRE2_INFO_NAMECOUNT, &name_count);
    pcre2_pattern_info(code_, PCRE2_INFO_NAMEENTRYSIZE, &entry_size);
    pcre2_pattern_info(code_, PCRE2_INFO_NAMETABLE, &table);
    for (uint32_t i = 0; i < name_count; i++) {
        const unsigned char *entry = table + i * entry_size;
        size_t group = (static_cast<size_t>(entry[0]) << 8) | entry[1];
        names_.emplace_back(reinterpret_cast<const char *>(entry + 2), group - 1);
    }
    build_reverse_template();
    return true;
}

bool Route::match(std::string_view path, std::vector<std::string> &args) const {
    args.clear();
    if (literal_) return path == pattern_;
    int rc = pcre2_match(code_, reinterpret_cast<PCRE2_SPTR>(path.data()), path.size(), 0, 0,
                         match_data_, nullptr);
    if (rc < 0) return false;
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(match_data_);
    args.reserve(group_count_);
    for (uint32_t g = 1; g <= group_count_; g++) {
        PCRE2_SIZE start = ov[2 * g], end = ov[2 * g + 1];
        if (static_cast<int>(g) >= rc || start == PCRE2_UNSET) {
            args.emplace_back();
        } else {
            args.emplace_back(path.substr(start, end - start));
        }
    }
    return true;
}

// Splits the pattern into literal pieces around its capture groups, the way Tornado's
// reverse_url works: only flat patterns whose literal parts are plain (escaped) characters can
// be reversed.
void Route::build_reverse_template() {
    std::string p = pattern_;
    if (!p.empty() && p.front() == '^') p.erase(0, 1);
    if (!p.empty() && p.back() == '$' && (p.size() < 2 || p[p.size() - 2] != '\\')) p.pop_back();
    std::vector<std::string> pieces(1);
    for (size_t i = 0; i < p.size(); i++) {
        char c = p[i];
        if (c == '\\') {
            if (i + 1 >= p.size() || isalnum(static_cast<unsigned char>(p[i + 1]))) return;
            pieces.back() += p[++i];
            continue;
        }
        if (c == '(') {
            if (i + 1 < p.size() && p[i + 1] == '?') {
                // Only named groups are groups for reversing.
                if (!(p.compare(i, 4, "(?P<") == 0 || p.compare(i, 3, "(?<") == 0)) return;
            }
            int depth = 1;
            size_t j = i + 1;
            for (; j < p.size() && depth > 0; j++) {
                if (p[j] == '\\') {
                    j++;
                } else if (p[j] == '(') {
                    return;  // nested groups: too complex, as in Tornado
                } else if (p[j] == ')') {
                    depth--;
                }
            }
            if (depth != 0) return;
            i = j - 1;
            pieces.emplace_back();
            continue;
        }
        if (is_regex_meta(c)) return;
        pieces.back() += c;
    }
    if (pieces.size() - 1 != group_count_) return;
    reverse_pieces_ = std::move(pieces);
    reversible_ = true;
}

bool Route::reverse(const std::vector<std::string> &args, std::string &out) const {
    if (!reversible_ || args.size() + 1 != reverse_pieces_.size()) return false;
    out = reverse_pieces_[0];
    for (size_t i = 0; i < args.size(); i++) {
        out += args[i];
        out += reverse_pieces_[i + 1];
    }
    return true;
}

eddy_handler_fn Route::method_callback(std::string_view method) const {
    for (const auto &m : methods_)
        if (m.first == method) return m.second;
    return nullptr;
}

eddy_handler_fn Route::callback_for(std::string_view method) const {
    // GET and HEAD, nearly every request, without walking the list.
    if (method.size() == 3 && memcmp(method.data(), "GET", 3) == 0) return get_cb_;
    if (method.size() == 4 && memcmp(method.data(), "HEAD", 4) == 0)
        return head_cb_ ? head_cb_ : get_cb_;  // HEAD falls back to GET
    return method_callback(method);
}

void Route::set_method_callback(std::string_view method, eddy_handler_fn cb) {
    // The list first: out of memory (it throws) the route stays as it was.
    bool listed = false;
    for (auto &m : methods_) {
        if (m.first == method) {
            m.second = cb;
            listed = true;
            break;
        }
    }
    if (!listed) methods_.emplace_back(std::string(method), cb);
    if (method == "GET") get_cb_ = cb;
    if (method == "HEAD") head_cb_ = cb;
}

std::string Route::allowed_methods() const {
    std::string allow;
    bool has_get = false, has_head = false;
    for (const auto &m : methods_) {
        if (!m.second) continue;
        if (!allow.empty()) allow += ", ";
        allow += m.first;
        if (m.first == "GET") has_get = true;
        if (m.first == "HEAD") has_head = true;
    }
    // GET callbacks answer HEAD too (a WebSocket endpoint answers HEAD as it answers a GET
    // that is no handshake: 400).
    if (has_get && !has_head) allow += ", HEAD";
    return allow;
}

bool HostTable::matches(std::string_view host) const {
    if (!code) return true;
    return pcre2_match(code, reinterpret_cast<PCRE2_SPTR>(host.data()), host.size(), 0, 0,
                       match_data, nullptr) >= 0;
}

}  // namespace eddy::web
