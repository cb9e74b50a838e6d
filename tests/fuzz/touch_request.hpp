// Reads everything an application might read of a request — line, target parts, peer,
// headers, body, arguments and multipart files — so that the lazy parsers (arguments,
// multipart) run under the fuzzer. Shared by fuzz_http_connection and fuzz_web_app; returns a
// sum of what it read, for the caller to keep so that nothing is optimised away.
#pragma once

#include <eddy/eddy.h>
#include <string.h>

#include <cstddef>

inline size_t touch_request(eddy_request *req) {
    size_t sum = 0, len = 0;
    sum += strlen(eddy_request_method(req, &len)) + len;
    sum += strlen(eddy_request_path(req, &len)) + len;
    sum += strlen(eddy_request_query(req, &len)) + len;
    sum += strlen(eddy_request_host(req, &len)) + len;
    sum += strlen(eddy_request_scheme(req)) + strlen(eddy_request_remote_ip(req));
    sum += static_cast<size_t>(eddy_request_version(req) + eddy_request_remote_port(req));
    size_t n = eddy_request_header_count(req);
    for (size_t i = 0; i < n; i++) {
        const char *name, *value;
        size_t nl, vl;
        if (eddy_request_header_at(req, i, &name, &nl, &value, &vl) == 0) sum += nl + vl;
    }
    const char *v = eddy_request_header(req, "content-type", EDDY_NTS, &len);
    if (v) sum += len;
    sum += strlen(eddy_request_body(req, &len)) + len;
    n = eddy_request_argument_count(req, EDDY_ARGS_ALL);
    for (size_t i = 0; i < n; i++) {
        const char *name, *value;
        size_t nl, vl;
        if (eddy_request_argument_at(req, EDDY_ARGS_ALL, i, &name, &nl, &value, &vl) == 0) sum += nl + vl;
    }
    v = eddy_request_argument(req, EDDY_ARGS_QUERY, "a", 1, &len);
    if (v) sum += len;
    n = eddy_request_file_count(req);
    for (size_t i = 0; i < n; i++) {
        const char *field, *filename, *ctype, *body;
        size_t bl;
        if (eddy_request_file_at(req, i, &field, &filename, &ctype, &body, &bl) == 0) {
            sum += strlen(field) + strlen(filename) + strlen(ctype) + bl;
            // Every byte read (ASan checks them): the body is a view into the request's.
            sum += memchr(body, '\n', bl) != nullptr;
        }
    }
    return sum;
}
