#include "web/preconditions.hpp"

#include "http/httputil.hpp"

namespace eddy::web {

namespace {
std::string_view strip_weak(std::string_view tag) {
    if (tag.substr(0, 2) == "W/") tag.remove_prefix(2);
    return tag;
}
}  // namespace

bool if_match_fails(const http::Request *req, std::string_view etag) {
    bool present = false;
    for (const http::HeaderField &h : req->headers) {
        if (!http::iequals(h.name, "If-Match")) continue;
        present = true;
        for (std::string_view member : http::split_list(h.value))
            if (member == "*" || (member.substr(0, 2) != "W/" && member == etag)) return false;
    }
    return present;
}

bool if_none_match_matches(const http::Request *req, std::string_view etag) {
    for (const http::HeaderField &h : req->headers) {
        if (!http::iequals(h.name, "If-None-Match")) continue;
        for (std::string_view member : http::split_list(h.value))
            if (member == "*" || strip_weak(member) == strip_weak(etag)) return true;
    }
    return false;
}

}  // namespace eddy::web
