// Static files (Tornado's StaticFileHandler): sendfile, Range, ETag, Last-Modified, HEAD, a
// precompressed ".gz" twin, and a root that paths (and symlinks) cannot leave.
#pragma once

#include <string>

namespace eddy::web {

class Handler;

// Answers the handler's request from directory `root` (canonical; `rel` is the path after the
// URL prefix, still percent-encoded) and finishes it.
void serve_static(Handler *h, const std::string &root, const std::string &rel);

// The Content-Type for a file name, by extension ("application/octet-stream" if unknown).
const char *content_type_for(const std::string &path);

}  // namespace eddy::web
