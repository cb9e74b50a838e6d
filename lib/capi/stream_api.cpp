// extern "C" shims for eddy/stream.h. C callbacks travel through the C++ stream's `void *arg`
// slots (POSIX guarantees function pointers survive a round trip through void *).
#include <cstdint>
#include <cstring>

#include "eddy/stream.h"
#include "stream/stream.hpp"
#include "util/no_throw.hpp"

using eddy::Stream;

namespace {

Stream *S(eddy_stream *s) { return reinterpret_cast<Stream *>(s); }
const Stream *S(const eddy_stream *s) { return reinterpret_cast<const Stream *>(s); }
eddy_stream *C(Stream *s) { return reinterpret_cast<eddy_stream *>(s); }

template <typename Fn> void *fn_to_ptr(Fn fn) { return reinterpret_cast<void *>(fn); }
template <typename Fn> Fn ptr_to_fn(void *p) { return reinterpret_cast<Fn>(p); }

void read_trampoline(Stream *s, const char *data, size_t len, void *arg) {
    ptr_to_fn<eddy_stream_read_fn>(arg)(C(s), data, len, s->c_userdata);
}

void write_trampoline(Stream *s, int status, void *arg) {
    ptr_to_fn<eddy_stream_write_fn>(arg)(C(s), status, s->c_userdata);
}

void close_trampoline(Stream *s, int error, void *arg) {
    ptr_to_fn<eddy_stream_close_fn>(arg)(C(s), error, s->c_userdata);
}

void drain_trampoline(Stream *s, void *arg) {
    ptr_to_fn<eddy_stream_drain_fn>(arg)(C(s), s->c_userdata);
}

}  // namespace

extern "C" {

EDDY_API eddy_stream *eddy_stream_new(eddy_loop *loop, int fd) {
    return C(eddy::no_throw("eddy_stream_new", nullptr,
                            [&] { return Stream::create(eddy::Loop::from_c(loop), fd); }));
}

EDDY_API void eddy_stream_set_userdata(eddy_stream *stream, void *userdata,
                                       eddy_free_fn free_userdata) {
    if (!stream) return;
    Stream *s = S(stream);
    eddy_free_fn old_free = s->c_free_userdata;
    void *old = s->c_userdata;
    s->c_userdata = userdata;
    s->c_free_userdata = free_userdata;
    if (old_free && old != userdata) old_free(old);
}

EDDY_API void *eddy_stream_get_userdata(const eddy_stream *stream) {
    return stream ? S(stream)->c_userdata : nullptr;
}

EDDY_API int eddy_stream_set_close_callback(eddy_stream *stream, eddy_stream_close_fn cb) {
    if (!stream) return EDDY_EINVAL;
    // The C callback travels as the stream's callback argument (no field for it per stream).
    S(stream)->set_close_callback(cb ? close_trampoline : nullptr, cb ? fn_to_ptr(cb) : nullptr);
    return 0;
}

EDDY_API int eddy_stream_read_until(eddy_stream *stream, const char *delimiter,
                                    size_t delimiter_len, size_t max_bytes,
                                    eddy_stream_read_fn cb) {
    if (!stream || !cb || !delimiter) return EDDY_EINVAL;
    if (delimiter_len == EDDY_NTS) delimiter_len = strlen(delimiter);
    return eddy::no_throw("eddy_stream_read_until", EDDY_ENOMEM, [&] {
        return S(stream)->read_until(delimiter, delimiter_len, max_bytes, read_trampoline,
                                     fn_to_ptr(cb));
    });
}

EDDY_API int eddy_stream_read_until_regex(eddy_stream *stream, const char *pattern,
                                          size_t pattern_len, size_t max_bytes,
                                          eddy_stream_read_fn cb) {
    if (!stream || !pattern || !cb) return EDDY_EINVAL;
    if (pattern_len == EDDY_NTS) pattern_len = strlen(pattern);
    return eddy::no_throw("eddy_stream_read_until_regex", EDDY_ENOMEM, [&] {
        return S(stream)->read_until_regex(std::string_view(pattern, pattern_len), max_bytes,
                                           read_trampoline, fn_to_ptr(cb));
    });
}

EDDY_API int eddy_stream_read_bytes(eddy_stream *stream, size_t n, int partial,
                                    eddy_stream_read_fn cb) {
    if (!stream || !cb) return EDDY_EINVAL;
    return eddy::no_throw("eddy_stream_read_bytes", EDDY_ENOMEM, [&] {
        return S(stream)->read_bytes(n, partial != 0, read_trampoline, fn_to_ptr(cb));
    });
}

EDDY_API int eddy_stream_read_until_close(eddy_stream *stream, eddy_stream_read_fn cb) {
    if (!stream || !cb) return EDDY_EINVAL;
    return eddy::no_throw("eddy_stream_read_until_close", EDDY_ENOMEM, [&] {
        return S(stream)->read_until_close(read_trampoline, fn_to_ptr(cb));
    });
}

EDDY_API int eddy_stream_reading(const eddy_stream *stream) {
    return stream && S(stream)->reading() ? 1 : 0;
}

EDDY_API int eddy_stream_write(eddy_stream *stream, const void *data, size_t len,
                               eddy_stream_write_fn cb) {
    if (!stream) return EDDY_EINVAL;
    // Bytes, not text: a length no buffer can have (EDDY_NTS among them) is refused, as by
    // eddy_request_write, rather than tried as an allocation (EDDY_ENOMEM).
    if (len > static_cast<size_t>(PTRDIFF_MAX)) return EDDY_EINVAL;
    return eddy::no_throw("eddy_stream_write", EDDY_ENOMEM, [&] {
        if (cb) return S(stream)->write(data, len, write_trampoline, fn_to_ptr(cb));
        return S(stream)->write(data, len);
    });
}

EDDY_API size_t eddy_stream_write_buffer_size(const eddy_stream *stream) {
    return stream ? S(stream)->write_buffer_size() : 0;
}

EDDY_API int eddy_stream_set_write_mark(eddy_stream *stream, size_t mark,
                                        eddy_stream_drain_fn cb) {
    if (!stream) return EDDY_EINVAL;
    return eddy::no_throw("eddy_stream_set_write_mark", EDDY_ENOMEM, [&] {
        return S(stream)->set_write_mark(mark, cb ? drain_trampoline : nullptr,
                                         cb ? fn_to_ptr(cb) : nullptr);
    });
}

EDDY_API int eddy_stream_set_max_buffer_size(eddy_stream *stream, size_t bytes) {
    if (!stream || bytes == 0) return EDDY_EINVAL;
    S(stream)->set_max_buffer_size(bytes);
    return 0;
}

EDDY_API int eddy_stream_set_nodelay(eddy_stream *stream, int on) {
    if (!stream) return EDDY_EINVAL;
    return S(stream)->set_nodelay(on != 0);
}

EDDY_API int eddy_stream_close(eddy_stream *stream) {
    if (!stream) return EDDY_EINVAL;
    return eddy::no_throw("eddy_stream_close", EDDY_ENOMEM, [&] {
        S(stream)->close(0);
        return 0;
    });
}

EDDY_API int eddy_stream_closed(const eddy_stream *stream) {
    return !stream || S(stream)->closed() || S(stream)->write_failed() ? 1 : 0;
}

EDDY_API int eddy_stream_fd(const eddy_stream *stream) { return stream ? S(stream)->fd() : -1; }

EDDY_API eddy_loop *eddy_stream_loop(const eddy_stream *stream) {
    return stream ? S(stream)->loop()->as_c() : nullptr;
}

}  // extern "C"
