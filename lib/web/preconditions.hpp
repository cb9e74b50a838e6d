// Preconditions on an entity tag (RFC 9110 §13.1.1, §13.1.2), shared by handlers and static
// files. Each field may repeat, and repeated fields form one list (§5.3).
#pragma once

#include <string_view>

#include "http/request.hpp"

namespace eddy::web {

// If-Match is present and none of its members matches `etag` by strong comparison ("*" matches
// any current representation): the answer is 412.
bool if_match_fails(const http::Request *req, std::string_view etag);

// If-None-Match is present and one of its members matches `etag` by weak comparison ("*"
// matches any): a GET or HEAD is answered 304.
bool if_none_match_matches(const http::Request *req, std::string_view etag);

}  // namespace eddy::web
