// Route: a path pattern (PCRE2, JIT-compiled, anchored at both ends) or a literal path, and the
// callbacks that make up its handler. The object behind eddy_route.
#pragma once

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "eddy/web.h"
#include "http/httputil.hpp"

namespace eddy::web {

class App;
struct WsEndpoint;

class Route {
public:
    // Compiles `pattern`; returns nullptr (and logs why) when it does not compile.
    static Route *create(std::string_view pattern, void *userdata, eddy_free_fn free_userdata);
    ~Route();
    Route(const Route &) = delete;
    Route &operator=(const Route &) = delete;

    eddy_route *as_c() { return reinterpret_cast<eddy_route *>(this); }
    static Route *from_c(eddy_route *r) { return reinterpret_cast<Route *>(r); }

    // Matches the whole `path`. On a match, `args` gets every capture group (raw, still
    // percent-encoded; "" for a group that did not take part) and `names` the named groups as
    // (name, index into args).
    bool match(std::string_view path, std::vector<std::string> &args) const;
    // A pattern without regular-expression syntax matches only itself: compared in place.
    // (The last bytes first: routes of the same length usually differ at the end.)
    bool matches_literally(std::string_view path) const {
        return literal_ && path.size() == pattern_.size() &&
               (path.empty() || path.back() == pattern_.back()) &&
               http::same_bytes(path.data(), pattern_.data(), path.size());
    }
    bool is_literal() const { return literal_; }
    const std::vector<std::pair<std::string, size_t>> &group_names() const { return names_; }

    // reverse_url: fills the pattern's groups with `args` (already encoded).
    bool reverse(const std::vector<std::string> &args, std::string &out) const;
    // How many arguments reverse() takes (0 for a pattern that cannot be reversed).
    size_t reverse_arity() const { return reversible_ ? reverse_pieces_.size() - 1 : 0; }

    eddy_handler_fn method_callback(std::string_view method) const;
    // The callback that answers `method`: its own, or GET's for HEAD. nullptr: 405.
    eddy_handler_fn callback_for(std::string_view method) const;
    void set_method_callback(std::string_view method, eddy_handler_fn cb);
    // The methods that have callbacks (for Allow), HEAD included when GET is there.
    std::string allowed_methods() const;

    std::string name;
    eddy_handler_fn prepare = nullptr;
    eddy_handler_fn on_finish = nullptr;
    eddy_handler_fn on_connection_close = nullptr;
    eddy_handler_fn set_default_headers = nullptr;
    eddy_handler_error_fn write_error = nullptr;
    eddy_handler_data_fn data_received = nullptr;
    void *userdata = nullptr;
    eddy_free_fn free_userdata = nullptr;
    WsEndpoint *websocket = nullptr;  // set when the route is a WebSocket endpoint
    bool xsrf_check = true;  // false: the host checks XSRF itself (eddy_route_set_xsrf_check)
    App *app = nullptr;  // the owner (custom methods are announced to its server)
    const std::string &pattern() const { return pattern_; }

private:
    Route() = default;
    bool compile();
    void build_reverse_template();

    std::string pattern_;
    bool literal_ = false;
    pcre2_code *code_ = nullptr;
    pcre2_match_data *match_data_ = nullptr;
    uint32_t group_count_ = 0;
    std::vector<std::pair<std::string, size_t>> names_;
    std::vector<std::pair<std::string, eddy_handler_fn>> methods_;
    eddy_handler_fn get_cb_ = nullptr;   // methods_' entries for GET and HEAD, for callback_for
    eddy_handler_fn head_cb_ = nullptr;
    // reverse_url: literal pieces between groups; empty when the pattern is not reversible.
    std::vector<std::string> reverse_pieces_;
    bool reversible_ = false;
};

// A host pattern with its routes (Tornado's add_handlers(host_pattern, ...)).
struct HostTable {
    std::string host_pattern;  // empty: the default table (matches any host)
    pcre2_code *code = nullptr;
    pcre2_match_data *match_data = nullptr;
    std::vector<Route *> routes;
    bool matches(std::string_view host) const;
};

// Compiles an anchored (both ends) PCRE2 pattern with JIT; returns nullptr and fills `error`.
pcre2_code *compile_anchored(std::string_view pattern, std::string &error);

}  // namespace eddy::web
