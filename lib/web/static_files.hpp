// Static files (Tornado's StaticFileHandler): sendfile, Range, ETag, Last-Modified, HEAD, a
// precompressed ".gz" twin, and a root that paths (and symlinks) cannot leave.
#pragma once

#include <string>
#include <string_view>

namespace eddy::web {

class App;
class Handler;

// Tornado's static_url: `path` (relative to a static directory) under the first mount that has
// the file, percent-encoded where a URL needs it, with "?v=" and the file's content version;
// a file in no mount gets the first mount's URL without a version. False when the application
// has no static directory (or out of memory).
bool static_url(App &app, std::string_view path, std::string &out);

// Versioned URLs (a "v" query argument) are cached this long: Tornado's CACHE_MAX_AGE.
constexpr long kVersionedMaxAge = 86400L * 365 * 10;

// Answers the handler's request from directory `root` (canonical; `rel` is the path after the
// URL prefix, still percent-encoded) and finishes it.
void serve_static(Handler *h, const std::string &root, const std::string &rel);

// The Content-Type for a file name, by extension ("application/octet-stream" if unknown).
const char *content_type_for(const std::string &path);

}  // namespace eddy::web
