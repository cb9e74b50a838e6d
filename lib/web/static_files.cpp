#include "web/static_files.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>

#include "http/httputil.hpp"
#include "http/request.hpp"
#include "util/log.hpp"
#include "web/app.hpp"
#include "web/cookies.hpp"
#include "web/handler.hpp"
#include "web/preconditions.hpp"

namespace eddy::web {

namespace {

struct TypeEntry {
    const char *ext;
    const char *type;
};

// With audio, video, fonts and the rest a web page links (the types browsers expect, as Python's
// mimetypes, and so Tornado, gives them but wav's audio/x-wav): as octet-stream a WebVTT <track>
// does not load (HTML wants text/vtt), and media and fonts rely on sniffing.
const TypeEntry kTypes[] = {
    {"html", "text/html; charset=UTF-8"},
    {"htm", "text/html; charset=UTF-8"},
    {"css", "text/css; charset=UTF-8"},
    {"js", "text/javascript; charset=UTF-8"},
    {"mjs", "text/javascript; charset=UTF-8"},
    {"json", "application/json"},
    {"txt", "text/plain; charset=UTF-8"},
    {"md", "text/markdown; charset=UTF-8"},
    {"xml", "application/xml"},
    {"svg", "image/svg+xml"},
    {"png", "image/png"},
    {"jpg", "image/jpeg"},
    {"jpeg", "image/jpeg"},
    {"gif", "image/gif"},
    {"webp", "image/webp"},
    {"ico", "image/vnd.microsoft.icon"},
    {"wasm", "application/wasm"},
    {"pdf", "application/pdf"},
    {"woff", "font/woff"},
    {"woff2", "font/woff2"},
    {"mp4", "video/mp4"},
    {"webm", "video/webm"},
    {"map", "application/json"},
    {"csv", "text/csv; charset=UTF-8"},
    {"gz", "application/gzip"},
    {"zip", "application/zip"},
    {"mp3", "audio/mpeg"},
    {"m4a", "audio/mp4"},
    {"aac", "audio/aac"},
    {"ogg", "audio/ogg"},
    {"oga", "audio/ogg"},
    {"opus", "audio/ogg"},
    {"flac", "audio/flac"},
    {"wav", "audio/wav"},
    {"weba", "audio/webm"},
    {"ogv", "video/ogg"},
    {"m4v", "video/mp4"},
    {"mov", "video/quicktime"},
    {"mpeg", "video/mpeg"},
    {"mpg", "video/mpeg"},
    {"ttf", "font/ttf"},
    {"otf", "font/otf"},
    {"avif", "image/avif"},
    {"apng", "image/apng"},
    {"bmp", "image/bmp"},
    {"tif", "image/tiff"},
    {"tiff", "image/tiff"},
    {"vtt", "text/vtt; charset=UTF-8"},
    {"xhtml", "application/xhtml+xml"},
    {"jsonld", "application/ld+json"},
    {"atom", "application/atom+xml"},
    {"rss", "application/rss+xml"},
    {"ics", "text/calendar; charset=UTF-8"},
    {"webmanifest", "application/manifest+json"},
};

// A strong validator from the file's identity and version (nginx's approach): no need to read
// the file, and it changes whenever the file does. The status change time, not the modification
// time: a strong ETag must change with the content (RFC 9110 §8.8.1), and a file rewritten in
// place with its size and modification time put back (rsync --inplace --times, touch -r) keeps
// both, while every write and every utime() moves the change time, which cannot be set back.
std::string make_etag(const struct stat &st, bool gz) {
    char buf[96];
    snprintf(buf, sizeof buf, "\"%llx-%llx-%llx%s\"",
             static_cast<unsigned long long>(st.st_ctim.tv_sec) * 1000000000ull +
                 static_cast<unsigned long long>(st.st_ctim.tv_nsec),
             static_cast<unsigned long long>(st.st_size),
             static_cast<unsigned long long>(st.st_ino), gz ? "-gz" : "");
    return buf;
}

// Parses a single byte range (RFC 9110 §14.1.2). Returns 1 with [start, end] inclusive,
// 0 when the header is to be ignored (not bytes, several ranges, malformed), -1 when
// unsatisfiable.
int parse_range(std::string_view value, uint64_t size, uint64_t &start, uint64_t &end) {
    if (!http::iequals(value.substr(0, 6), "bytes=")) return 0;  // units are case-insensitive
    value.remove_prefix(6);
    if (value.find(',') != std::string_view::npos) return 0;
    size_t dash = value.find('-');
    if (dash == std::string_view::npos) return 0;
    std::string_view a = value.substr(0, dash), b = value.substr(dash + 1);
    // 1*DIGIT has no length limit: a number past what a file can hold (leading zeros or not)
    // saturates, so that "bytes=<huge>-" is unsatisfiable (416) and "bytes=0-<huge>" or
    // "bytes=-<huge>" names the whole file, as the grammar says, instead of being ignored.
    auto parse = [](std::string_view s, uint64_t &out) {
        if (s.empty()) return false;
        constexpr uint64_t kHuge = 1000000000000000000ull;  // 10^18: beyond any file size
        out = 0;
        for (char c : s) {
            if (c < '0' || c > '9') return false;
            if (out < kHuge) out = out * 10 + static_cast<uint64_t>(c - '0');
        }
        return true;
    };
    uint64_t x = 0, y = 0;
    if (a.empty()) {  // suffix: the last y bytes
        if (!parse(b, y)) return 0;
        if (y == 0) return -1;
        // An empty file: "-N" is satisfiable (§14.1.2), but names no byte a 206 could send, so
        // the Range is ignored (§14.2: a server MAY): 200, with the empty content.
        if (size == 0) return 0;
        start = y >= size ? 0 : size - y;
        end = size - 1;
        return 1;
    }
    if (!parse(a, x)) return 0;
    if (b.empty()) {
        y = size ? size - 1 : 0;
    } else if (!parse(b, y) || y < x) {
        return 0;
    }
    if (x >= size) return -1;
    start = x;
    end = y >= size ? size - 1 : y;
    return 1;
}

// The HTTP-date in field `name`: false when the field is absent or no valid date.
bool header_date(const http::Request *req, std::string_view name, time_t *out) {
    const http::HeaderField *f = req->find_header(name);
    return f && http::parse_http_date(f->value, *out);
}

// Whether a decoded relative path climbs above its start by its ".." segments (lexically,
// without asking the file system).
bool climbs_out(std::string_view rel) {
    long depth = 0;
    while (!rel.empty()) {
        size_t slash = rel.find('/');
        std::string_view segment = rel.substr(0, slash);
        rel = slash == std::string_view::npos ? std::string_view() : rel.substr(slash + 1);
        if (segment == "..") {
            if (--depth < 0) return true;
        } else if (!segment.empty() && segment != ".") {
            depth++;
        }
    }
    return false;
}

bool inside(const std::string &root, const char *resolved) {
    if (root == "/") return resolved[0] == '/';  // everything is under "/" (its name ends in '/')
    size_t n = root.size();
    return strncmp(resolved, root.c_str(), n) == 0 && (resolved[n] == '/' || resolved[n] == '\0');
}

// Whether the query has a "v" argument (Tornado: the URL names one version of the file).
bool versioned(const http::Request *req) {
    for (const http::Argument &a : req->query_arguments())
        if (a.name == "v") return true;
    return false;
}

}  // namespace

bool static_url(App &app, std::string_view path, std::string &out) {
    if (app.static_mounts.empty()) return false;
    while (!path.empty() && path.front() == '/') path.remove_prefix(1);
    // A NUL would end the file name early: no file is named so.
    const bool nameable = path.find('\0') == std::string_view::npos;
    try {
        for (const StaticMount &m : app.static_mounts) {
            if (!nameable) break;
            std::string full = m.root + "/" + std::string(path);
            char resolved[PATH_MAX];
            if (!realpath(full.c_str(), resolved) || !inside(m.root, resolved)) continue;
            std::string version = app.static_versions.version(resolved);
            if (version.empty()) continue;  // not a readable regular file
            out = m.prefix;
            out += percent_encode_path_segment(path);
            out += "?v=";
            out += version;
            return true;
        }
        log(LogLevel::warning, "static_url: no static directory has %.*s",
            static_cast<int>(path.size()), path.data());
        out = app.static_mounts.front().prefix;
        out += percent_encode_path_segment(path);
        return true;
    } catch (...) {
        return false;
    }
}

const char *content_type_for(const std::string &path) {
    size_t dot = path.rfind('.');
    size_t slash = path.rfind('/');
    if (dot == std::string::npos || (slash != std::string::npos && dot < slash))
        return "application/octet-stream";
    std::string ext = path.substr(dot + 1);
    for (char &c : ext) c = static_cast<char>(tolower(static_cast<unsigned char>(c)));
    for (const TypeEntry &t : kTypes)
        if (ext == t.ext) return t.type;
    return "application/octet-stream";
}

void serve_static(Handler *h, const std::string &root, const std::string &rel_encoded) {
    http::Request *req = h->req;
    if (req->method != "GET" && req->method != "HEAD") {
        h->send_error(405);  // with Allow: GET, HEAD
        return;
    }
    std::string rel;
    if (!http::percent_decode(rel_encoded, rel, false) || rel.find('\0') != std::string::npos) {
        h->send_error(400);
        return;
    }
    // A path that climbs out of the root is refused before the file system is asked: 403
    // whether or not the file it names exists, so that answers do not map the files outside
    // (Tornado, too, checks the normalized path before it looks for the file).
    if (climbs_out(rel)) {
        log(LogLevel::info, "static: %s leaves the root", req->path.c_str());
        h->send_error(403);
        return;
    }
    std::string full = root + "/" + rel;
    char resolved[PATH_MAX];
    if (!realpath(full.c_str(), resolved)) {
        // A name too long for the file system names no file either.
        h->send_error(errno == ENOENT || errno == ENOTDIR || errno == ENAMETOOLONG ? 404 : 403);
        return;
    }
    // ".." and symlinks are resolved by realpath: what is left must still be under the root.
    if (!inside(root, resolved)) {
        log(LogLevel::info, "static: %s leaves the root", req->path.c_str());
        h->send_error(403);
        return;
    }
    struct stat st;
    if (stat(resolved, &st) != 0) {  // gone since realpath
        h->send_error(404);
        return;
    }
    if (!S_ISREG(st.st_mode)) {
        h->send_error(S_ISDIR(st.st_mode) ? 403 : 404);
        return;
    }
    std::string path = resolved;
    const char *type = content_type_for(path);

    // A precompressed twin is served when the client takes gzip. Its existence alone makes the
    // answer vary with Accept-Encoding (RFC 9110 §12.5.5), whatever this request sent.
    bool gz = false;
    bool has_twin = false;
    const http::HeaderField *ae = req->find_header("Accept-Encoding");
    const bool takes_gzip = ae && http::accepts_coding(ae->value, "gzip");
    {
        std::string gz_path = path + ".gz";
        char gz_resolved[PATH_MAX];
        struct stat gz_st;
        if (realpath(gz_path.c_str(), gz_resolved) && inside(root, gz_resolved) &&
            stat(gz_resolved, &gz_st) == 0 && S_ISREG(gz_st.st_mode)) {
            has_twin = true;
            if (takes_gzip) {
                path = gz_resolved;
                st = gz_st;
                gz = true;
            }
        }
    }
    // O_NONBLOCK and O_NOCTTY: should the name stand for a pipe or a device by now, opening it
    // must neither wait on the loop thread nor take a terminal.
    int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0) {
        h->send_error(errno == EACCES ? 403 : 404);
        return;
    }
    // Size, ETag and Last-Modified come from the file opened, not from the stat above: a file
    // replaced since (a deploy's atomic rename) used to be answered with the old file's length
    // and validator around the new file's first bytes, or cut short.
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        ::close(fd);
        h->send_error(404);
        return;
    }
    uint64_t size = static_cast<uint64_t>(st.st_size);
    // compress_response without a twin: a compressible file is gzipped as it is read, for a
    // client that takes gzip (as Tornado's transform and nginx's gzip filter do). Its size is
    // then unknown until the end (chunked), so Range is not offered on that form, and its
    // validator is weak (the bytes are zlib's, not the file's).
    bool compressible = !has_twin && h->compresses(type, size);
    bool gzip_now = compressible && takes_gzip;
    std::string etag = gzip_now ? "W/" + make_etag(st, true) : make_etag(st, gz);
    // A modification time in the future is sent as now (RFC 9110 §8.8.2.1: Last-Modified MUST
    // NOT be later than Date), and If-Modified-Since is compared with the same value.
    time_t now = time(nullptr);
    time_t modified = st.st_mtim.tv_sec < now ? st.st_mtim.tv_sec : now;
    char last_modified[32];
    http::format_http_date(modified, last_modified);

    req->set_header("Content-Type", type, true);
    req->set_header("Etag", etag, true);
    req->set_header("Last-Modified", last_modified, true);
    if (!gzip_now) req->set_header("Accept-Ranges", "bytes", true);
    if (ae || has_twin || compressible) req->set_header("Vary", "Accept-Encoding", true);
    if (gz) req->set_header("Content-Encoding", "gzip", true);
    if (versioned(req)) {
        // static_url's "?v=<content version>" names these bytes for good (Tornado's answer).
        char expires[32];
        http::format_http_date(now + kVersionedMaxAge, expires);
        req->set_header("Expires", expires, true);
        req->set_header("Cache-Control", "max-age=" + std::to_string(kVersionedMaxAge), true);
    }

    // Conditional requests (RFC 9110 §13.2.2): If-Match first (false: 412), then If-None-Match,
    // which wins over If-Modified-Since.
    // If-Unmodified-Since counts only without If-Match (§13.1.4).
    time_t since;
    bool precondition_failed =
        if_match_fails(req, etag) || (!req->find_header("If-Match") &&
                                      header_date(req, "If-Unmodified-Since", &since) &&
                                      modified > since);
    if (precondition_failed) {
        ::close(fd);
        // The versioned URL's ten-year freshness belongs to the file, not to this refusal: a
        // cache must not keep an empty 412 for it (304 keeps them: RFC 9110 §15.4.5).
        req->clear_header("Cache-Control");
        req->clear_header("Expires");
        req->set_status(412, {});
        h->finish();
        return;
    }
    bool not_modified = req->find_header("If-None-Match")
                            ? if_none_match_matches(req, etag)
                            : header_date(req, "If-Modified-Since", &since) && modified <= since;
    if (not_modified) {
        ::close(fd);
        req->set_status(304, {});
        h->finish();
        return;
    }

    if (gzip_now) {
        h->stream_file(fd);  // Range ignored (RFC 9110 §14.2: a server MAY), 200 in full
        return;
    }
    uint64_t start = 0, end = size ? size - 1 : 0;
    bool partial = false;
    const http::HeaderField *range = req->find_header("Range");
    const http::HeaderField *if_range = req->find_header("If-Range");
    // If-Range (§13.1.5): the strong ETag, or exactly the Last-Modified date when that date is
    // a strong validator (at least a second before now).
    time_t if_range_date;
    bool range_current = !if_range || if_range->value == etag ||
                         (http::parse_http_date(if_range->value, if_range_date) &&
                          if_range_date == modified && modified < now);
    // Range is defined for GET only: on any other method (HEAD too) it MUST be ignored
    // (RFC 9110 §14.2), so a HEAD answers 200 with the whole length.
    if (range && range_current && req->method == "GET") {
        int r = parse_range(range->value, size, start, end);
        if (r < 0) {
            ::close(fd);
            char content_range[64];
            snprintf(content_range, sizeof content_range, "bytes */%llu",
                     static_cast<unsigned long long>(size));
            req->reset_response();
            req->set_header("Content-Range", content_range, true);
            req->set_status(416, {});
            h->finish();
            return;
        }
        partial = r == 1;
    }
    uint64_t length = size ? end - start + 1 : 0;
    if (partial) {
        char content_range[96];
        snprintf(content_range, sizeof content_range, "bytes %llu-%llu/%llu",
                 static_cast<unsigned long long>(start), static_cast<unsigned long long>(end),
                 static_cast<unsigned long long>(size));
        req->set_status(206, {});
        req->set_header("Content-Range", content_range, true);
    }
    req->set_header("Content-Length", std::to_string(length), true);
    h->mark_flushed();
    req->send_file(fd, static_cast<off_t>(start), static_cast<size_t>(length));
    h->finish();
}

// ---- compress_response for files ------------------------------------------------------------

void Handler::stream_file(int fd) {
    Extras *x = extras();
    if (!x) {
        ::close(fd);
        send_error(500);
        return;
    }
    x->file_fd = fd;
    start_streaming_gzip();  // before the first flush, which then sees Content-Encoding
    if (req->method == "HEAD") {
        // GET's head as far as it is known without reading the file (Content-Encoding, the
        // weak ETag; no length): the flush sends it, then the answer ends without a body.
        flush(nullptr);
        ::close(x->file_fd);
        x->file_fd = -1;
        finish();
        return;
    }
    stream_next_piece();
}

// One piece per flush: the next is read when the last reached the kernel, so a slow client
// holds one piece of the file in memory, not all of it.
void Handler::stream_next_piece() {
    Extras *x = extras_.get();
    char piece[32768];
    ssize_t n;
    do {
        n = ::read(x->file_fd, piece, sizeof piece);
    } while (n < 0 && errno == EINTR);
    if (n > 0) {
        if (write(piece, static_cast<size_t>(n)) == 0 && flush(on_piece_flushed) == 0) return;
        // The connection went: nothing more to send (finish below releases the handler).
    }
    int read_errno = errno;
    ::close(x->file_fd);
    x->file_fd = -1;
    if (n < 0) {
        log(LogLevel::error, "static: reading %s: %s", req->path.c_str(), strerror(read_errno));
        send_error(500);  // the answer began: the connection is cut, the body not ended
        return;
    }
    finish();
}

void Handler::on_piece_flushed(eddy_handler *c, int status, void *) {
    Handler *h = from_c(c);
    if (status != 0 || h->closed) {
        ::close(h->extras_->file_fd);
        h->extras_->file_fd = -1;
        h->finish();  // EDDY_ECLOSED; releases the handler
        return;
    }
    h->stream_next_piece();
}

}  // namespace eddy::web
