// ResponseFields: the header fields an application set on a response, kept as the lines they
// will be sent as ("Name: value\r\n", in order) in one growable buffer.
//
// Why not a vector of (name, value) strings: every value longer than std::string's 15 inline
// bytes ("application/json", "text/html; charset=UTF-8") cost a malloc/free pair, every field
// two string constructions, and the head was assembled field by field. Here a field is one
// copy into the buffer, the head takes all of them with one copy, and the buffer's capacity
// survives the request (the request pool keeps it), so a steady server allocates nothing.
//
// Invariant (the callers keep it; iteration relies on it): names are tokens (no ':'), values
// hold no CR, LF or NUL. Request::set_header checks both; trusted fields are literals or checked.
// Loop thread only, like the request that owns it.
#pragma once

#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <string_view>
#include <utility>

#include "util/copy_small.hpp"

namespace eddy::http {

// One field, viewed in the buffer: valid until the fields change.
struct FieldView {
    std::string_view name;
    std::string_view value;
};

class ResponseFields {
public:
    ResponseFields() = default;
    ~ResponseFields() {
        if (data_) free(data_);
    }
    ResponseFields(ResponseFields &&other) noexcept { swap(other); }
    ResponseFields &operator=(ResponseFields &&other) noexcept {
        ResponseFields(std::move(other)).swap(*this);
        return *this;
    }
    // (Inline: the request pool hands the buffer from request to request with it.)
    void swap(ResponseFields &other) noexcept {
        std::swap(data_, other.data_);
        std::swap(size_, other.size_);
        std::swap(capacity_, other.capacity_);
        std::swap(names_server_, other.names_server_);
        std::swap(names_date_, other.names_date_);
    }
    ResponseFields(const ResponseFields &) = delete;
    ResponseFields &operator=(const ResponseFields &) = delete;

    // Appends a field. False when out of memory (nothing changed).
    bool add(std::string_view name, std::string_view value) {
        size_t line = name.size() + value.size() + 4;
        if (capacity_ - size_ < line && !reserve(size_ + line)) return false;
        char *p = data_ + size_;
        copy_small(p, name.data(), name.size());
        p += name.size();
        memcpy(p, ": ", 2);
        copy_small(p + 2, value.data(), value.size());
        memcpy(p + 2 + value.size(), "\r\n", 2);
        size_ += line;
        if (name.size() == 6 || name.size() == 4) note_name(name);
        return true;
    }
    // Gives the first field named `name` (case-insensitive) this value and removes the later
    // ones of that name. Out of memory changes nothing.
    enum class Replaced { yes, none_named, out_of_memory };
    Replaced replace(std::string_view name, std::string_view value);
    // Removes every field named `name`.
    void remove(std::string_view name);
    // Removes every field whose name is not `name` (an error page keeps only the cookies).
    void keep_only(std::string_view name);
    // Removes the Set-Cookie fields that set `cookie` (a value that starts with "cookie=").
    void remove_set_cookie(std::string_view cookie);
    bool contains(std::string_view name) const;
    // The value of the last field named `name` (empty when none; `found` says which).
    std::string_view last_value(std::string_view name, bool *found = nullptr) const;

    // Whether the application named a Server or Date field itself (the server then does not).
    bool names_server() const { return names_server_; }
    bool names_date() const { return names_date_; }

    // Every field as wire lines, in order.
    std::string_view lines() const { return std::string_view(data_, size_); }
    bool empty() const { return size_ == 0; }
    size_t capacity() const { return capacity_; }
    // Forgets the fields, keeps the buffer.
    void clear() {
        size_ = 0;
        names_server_ = names_date_ = false;
    }

    class iterator {
    public:
        explicit iterator(const char *p, const char *end) : p_(p), end_(end) { parse(); }
        const FieldView &operator*() const { return field_; }
        const FieldView *operator->() const { return &field_; }
        iterator &operator++() {
            p_ = next_;
            parse();
            return *this;
        }
        bool operator==(const iterator &o) const { return p_ == o.p_; }
        bool operator!=(const iterator &o) const { return p_ != o.p_; }

    private:
        void parse();
        const char *p_;
        const char *end_;
        const char *next_ = nullptr;
        FieldView field_;
    };
    iterator begin() const { return iterator(data_, data_ + size_); }
    iterator end() const { return iterator(data_ + size_, data_ + size_); }

private:
    bool reserve(size_t total);
    void note_name(std::string_view name);
    void recount_names();
    // Of the lines from offset `from_line` on (a line start), keeps those whose name is `name`
    // (named) or is not (!named), in order; the lines before it stay.
    void keep_where_named(std::string_view name, bool named, size_t from_line);
    // Of the lines from offset `from_line` on, keeps those `keep(field)` says, in order.
    template <class Keep>
    void keep_where(size_t from_line, Keep keep);

    char *data_ = nullptr;
    size_t size_ = 0;
    size_t capacity_ = 0;
    bool names_server_ = false;
    bool names_date_ = false;
};

inline void ResponseFields::iterator::parse() {
    if (p_ >= end_) return;
    // A name holds no ':' and a value no CR (the invariant), so both searches end in the line.
    auto find = [this](const char *from, char c) {
        return static_cast<const char *>(memchr(from, c, static_cast<size_t>(end_ - from)));
    };
    const char *colon = find(p_, ':');
    const char *cr = find(colon, '\r');
    field_.name = std::string_view(p_, static_cast<size_t>(colon - p_));
    field_.value = std::string_view(colon + 2, static_cast<size_t>(cr - colon - 2));
    next_ = cr + 2;
}

}  // namespace eddy::http
