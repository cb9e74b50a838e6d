// A request body held in memory: contiguous, NUL-terminated, growing without holding it twice.
//
// A std::string grows by allocating twice its size and copying into it, so a body of unknown
// length (chunked) is held about 1.5 times during its last growth, and copied once per doubling.
// Past kMapThreshold this buffer lives in its own anonymous mapping and grows with mremap(2),
// which moves the pages instead of copying them: the peak stays at the body's size whatever
// its framing, and the capacity not yet written is never resident. Below the threshold (most
// bodies) it is an ordinary heap block. Where mremap does not exist, realloc stands in.
#pragma once

#include <cstddef>
#include <string_view>

namespace eddy::http {

class BodyBuffer {
public:
    // Where the heap block gives way to a mapping: copying a body this small is cheaper than
    // two system calls, and the heap reuses such blocks.
    static constexpr size_t kMapThreshold = 256 * 1024;

    BodyBuffer() = default;
    ~BodyBuffer() {
        if (data_) release();  // most requests have no body: nothing to call
    }
    BodyBuffer(const BodyBuffer &) = delete;
    BodyBuffer &operator=(const BodyBuffer &) = delete;

    // Appends `n` bytes; false (and unchanged) when memory could not be had.
    bool append(const char *data, size_t n);
    // Makes room for `total` bytes in all; false when memory could not be had.
    bool reserve(size_t total);

    const char *data() const { return size_ ? data_ : ""; }
    // The bytes followed by a NUL (not counted in size()).
    const char *c_str() const { return data(); }
    size_t size() const { return size_; }
    size_t capacity() const { return capacity_ ? capacity_ - 1 : 0; }
    bool empty() const { return size_ == 0; }
    bool mapped() const { return mapped_; }
    std::string_view view() const { return {data(), size_}; }
    operator std::string_view() const { return view(); }

private:
    bool grow_to(size_t bytes);  // bytes includes the NUL
    void release();

    char *data_ = nullptr;
    size_t size_ = 0;
    size_t capacity_ = 0;  // bytes allocated, the NUL's included
    bool mapped_ = false;  // data_ is an mmap'd region of capacity_ bytes
};

}  // namespace eddy::http
