// multipart/form-data bodies (RFC 7578 over RFC 2046 §5.1.1).
//
// The body is scanned once, front to back: each delimiter is found with memmem (glibc's
// two-way search, linear in the body whatever the boundary looks like), and part headers are
// only searched within the per-part header limit, so hostile bodies cost linear time.
//
// Tornado's behaviour is kept where it is lenient on purpose: a part that is not
// "form-data", lacks a name, or has no header/body separator is skipped (Tornado logs and
// skips it); an empty filename makes the part an ordinary field. Structural damage — no
// final boundary, too many parts, oversized part headers, a malformed header line — fails.
#include <algorithm>
#include <cstring>

#include "http/httputil.hpp"

namespace eddy::http {
namespace {

constexpr std::string_view kCrlf = "\r\n";

// What follows a candidate delimiter.
enum class Tail { none, next_part, close };

// After "--boundary": "--" closes the body; otherwise optional transport padding (LWSP) and
// CRLF begin a part. Anything else means the match was not a delimiter line after all.
Tail delimiter_tail(std::string_view body, size_t p, size_t &after) {
    if (body.substr(p, 2) == "--") {
        after = p + 2;
        return Tail::close;
    }
    while (p < body.size() && (body[p] == ' ' || body[p] == '\t')) ++p;
    if (body.substr(p, 2) != kCrlf) return Tail::none;
    after = p + 2;
    return Tail::next_part;
}

// Finds the next "\r\n--boundary" at or after `from` that is a real delimiter line. Returns
// its offset (the CR: the CRLF belongs to the delimiter, not to the part) or npos; `after` is
// where the next part starts.
size_t find_delimiter(std::string_view body, std::string_view delim, size_t from, size_t &after,
                      Tail &tail) {
    while (from <= body.size() && body.size() - from >= delim.size()) {
        const void *hit = memmem(body.data() + from, body.size() - from, delim.data(), delim.size());
        if (hit == nullptr) return std::string_view::npos;
        size_t at = static_cast<size_t>(static_cast<const char *>(hit) - body.data());
        tail = delimiter_tail(body, at + delim.size(), after);
        if (tail != Tail::none) return at;
        from = at + 1;
    }
    return std::string_view::npos;
}

std::string_view trim(std::string_view s) {
    size_t b = s.find_first_not_of(" \t");
    if (b == std::string_view::npos) return {};
    size_t e = s.find_last_not_of(" \t");
    return s.substr(b, e - b + 1);
}

struct PartHeaders {
    std::string disposition;
    std::string content_type;
    bool has_disposition = false;
    bool has_content_type = false;
};

// Parses the header block of one part (without its terminating blank line). Only the two
// headers RFC 7578 gives meaning to are kept; obs-fold continuation lines are unfolded.
bool parse_part_headers(std::string_view block, PartHeaders &h, std::string &error) {
    std::string *current = nullptr;  // the kept header a continuation line extends
    bool have_line = false;
    while (!block.empty()) {
        size_t eol = block.find(kCrlf);
        std::string_view line = block.substr(0, eol);
        block.remove_prefix(eol == std::string_view::npos ? block.size() : eol + 2);
        if (line.find_first_of(std::string_view("\r\n\0", 3)) != std::string_view::npos) {
            error = "bare CR, LF or NUL in part header";
            return false;
        }
        if (!line.empty() && (line.front() == ' ' || line.front() == '\t')) {
            if (!have_line) {
                error = "part header starts with a continuation line";
                return false;
            }
            if (current != nullptr) {
                current->push_back(' ');
                current->append(trim(line));
            }
            continue;
        }
        size_t colon = line.find(':');
        if (colon == std::string_view::npos || !is_token(line.substr(0, colon))) {
            error = "malformed part header line";
            return false;
        }
        std::string_view name = line.substr(0, colon);
        std::string_view value = line.substr(colon + 1);
        have_line = true;
        current = nullptr;
        bool *seen = nullptr;
        if (iequals(name, "Content-Disposition")) {
            current = &h.disposition;
            seen = &h.has_disposition;
        } else if (iequals(name, "Content-Type")) {
            current = &h.content_type;
            seen = &h.has_content_type;
        }
        if (current == nullptr) continue;
        // Two dispositions could name the part two ways; refuse rather than pick one.
        if (*seen) {
            error = "duplicate Content-Disposition or Content-Type in part";
            return false;
        }
        *seen = true;
        current->assign(value);
    }
    return true;
}

// Splits one part into its header block and content, parses the headers and stores the
// part. Returns false only for errors that fail the whole body.
bool handle_part(std::string_view part, std::vector<Argument> &fields,
                 std::vector<UploadedFile> &files, std::string &error,
                 const MultipartLimits &limits) {
    std::string_view head, content;
    if (part.substr(0, 2) == kCrlf) {
        content = part.substr(2);  // no headers at all
    } else {
        // Search only as far as the limit allows: a huge part must not be scanned for a
        // header end that would be refused anyway.
        size_t window = std::min(part.size(), limits.max_part_header_bytes + 4);
        size_t eoh = part.substr(0, window).find("\r\n\r\n");
        if (eoh == std::string_view::npos) {
            if (part.size() > limits.max_part_header_bytes) {
                error = "part headers too large";
                return false;
            }
            return true;  // no header/body separator: skipped, as Tornado does
        }
        head = part.substr(0, eoh);
        content = part.substr(eoh + 4);
    }

    PartHeaders h;
    if (!parse_part_headers(head, h, error)) return false;
    MediaType disp;
    if (!h.has_disposition || !parse_header_params(h.disposition, disp) || disp.type != "form-data")
        return true;  // skipped: not a form field
    const std::string *name = disp.param("name");
    if (name == nullptr || name->empty()) return true;  // skipped: nameless

    const std::string *filename = disp.param("filename");
    if (filename != nullptr && !filename->empty()) {
        UploadedFile f;
        f.field = *name;
        f.filename = *filename;
        std::string_view ctype = trim(h.content_type);
        f.content_type = ctype.empty() ? "application/octet-stream" : std::string(ctype);
        f.body = content;
        files.push_back(std::move(f));
    } else {
        fields.push_back(Argument{*name, std::string(content)});
    }
    return true;
}

}  // namespace

bool parse_multipart(std::string_view body, std::string_view boundary,
                     std::vector<Argument> &fields, std::vector<UploadedFile> &files,
                     std::string &error, const MultipartLimits &limits) {
    // Some clients quote the boundary; callers may pass the raw parameter (Tornado strips too).
    if (boundary.size() >= 2 && boundary.front() == '"' && boundary.back() == '"')
        boundary = boundary.substr(1, boundary.size() - 2);
    if (boundary.empty()) {
        error = "empty boundary";
        return false;
    }
    for (unsigned char c : boundary) {
        if (c < 0x20 || c >= 0x7f) {
            error = "invalid character in boundary";
            return false;
        }
    }
    std::string delim = "\r\n--";
    delim.append(boundary);
    std::string_view dash_delim = std::string_view(delim).substr(2);

    // The first delimiter may open the body directly (no CRLF before it); anything before a
    // later one is preamble and ignored.
    size_t pos = 0;
    Tail tail = Tail::none;
    if (body.substr(0, dash_delim.size()) == dash_delim)
        tail = delimiter_tail(body, dash_delim.size(), pos);
    if (tail == Tail::none && find_delimiter(body, delim, 0, pos, tail) == std::string_view::npos) {
        error = "no boundary found";
        return false;
    }

    size_t parts = 0;
    while (tail == Tail::next_part) {
        size_t next = 0;
        size_t end = find_delimiter(body, delim, pos, next, tail);
        if (end == std::string_view::npos) {
            error = "missing final boundary";
            return false;
        }
        if (++parts > limits.max_parts) {
            error = "too many parts";
            return false;
        }
        if (!handle_part(body.substr(pos, end - pos), fields, files, error, limits)) return false;
        pos = next;
    }
    return true;  // after the close delimiter comes the epilogue, which is ignored
}

}  // namespace eddy::http
