#include "http/body_buffer.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

namespace eddy::http {

namespace {

size_t page_size() {
    static const size_t size = [] {
        long n = sysconf(_SC_PAGESIZE);
        return n > 0 ? static_cast<size_t>(n) : size_t{4096};
    }();
    return size;
}

size_t round_to_pages(size_t bytes) {
    size_t page = page_size();
    return (bytes + page - 1) / page * page;
}

#ifdef MREMAP_MAYMOVE
constexpr bool kCanRemap = true;
#else
constexpr bool kCanRemap = false;
#endif

}  // namespace

bool BodyBuffer::append(const char *data, size_t n) {
    if (n == 0) return true;
    if (n > capacity() - size_) {
        if (n > static_cast<size_t>(-1) / 2 - size_) return false;
        size_t need = size_ + n + 1;
        size_t doubled = capacity_ * 2;
        if (!grow_to(need > doubled ? need : doubled)) return false;
    }
    memcpy(data_ + size_, data, n);
    size_ += n;
    data_[size_] = '\0';
    return true;
}

bool BodyBuffer::reserve(size_t total) {
    if (total >= static_cast<size_t>(-1) / 2) return false;
    return total + 1 <= capacity_ || grow_to(total + 1);
}

bool BodyBuffer::grow_to(size_t bytes) {
    if (!kCanRemap || bytes < kMapThreshold) {
        // realloc's copy is the point of the threshold: below it the copy is small.
        char *grown = static_cast<char *>(realloc(data_, bytes));
        if (!grown) return false;
        data_ = grown;
        capacity_ = bytes;
        return true;
    }
#ifdef MREMAP_MAYMOVE
    bytes = round_to_pages(bytes);
    void *region;
    if (mapped_) {
        region = mremap(data_, capacity_, bytes, MREMAP_MAYMOVE);
        if (region == MAP_FAILED) return false;
    } else {
        region = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (region == MAP_FAILED) return false;
        if (size_) memcpy(region, data_, size_);  // under kMapThreshold bytes, once
        free(data_);
        mapped_ = true;
    }
    data_ = static_cast<char *>(region);
    capacity_ = bytes;
#endif
    return true;
}

void BodyBuffer::release() {
    if (mapped_) munmap(data_, capacity_);
    else free(data_);
    data_ = nullptr;
    size_ = capacity_ = 0;
    mapped_ = false;
}

}  // namespace eddy::http
