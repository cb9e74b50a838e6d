#include "http/response_fields.hpp"

#include "http/httputil.hpp"

namespace eddy::http {

bool ResponseFields::reserve(size_t total) {
    if (total <= capacity_) return true;
    // A typical response's fields fit the first 256 bytes; beyond, grow geometrically.
    size_t want = capacity_ ? capacity_ * 2 : 256;
    if (want < total) want = total;
    char *grown = static_cast<char *>(realloc(data_, want));
    if (!grown) return false;
    data_ = grown;
    capacity_ = want;
    return true;
}

void ResponseFields::note_name(std::string_view name) {
    if (name.size() == 6 && iequals(name, "Server")) names_server_ = true;
    if (name.size() == 4 && iequals(name, "Date")) names_date_ = true;
}

void ResponseFields::recount_names() {
    names_server_ = names_date_ = false;
    for (const FieldView &f : *this) note_name(f.name);
}

ResponseFields::Replaced ResponseFields::replace(std::string_view name, std::string_view value) {
    for (iterator it = begin(); it != end(); ++it) {
        if (!iequals(it->name, name)) continue;
        // Offsets, not pointers: reserve() may move the buffer.
        size_t value_at = static_cast<size_t>(it->value.data() - data_);
        size_t old_len = it->value.size();
        if (value.size() > old_len && !reserve(size_ + value.size() - old_len))
            return Replaced::out_of_memory;
        char *at = data_ + value_at;
        memmove(at + value.size(), at + old_len, size_ - value_at - old_len);
        memcpy(at, value.data(), value.size());
        size_ = size_ - old_len + value.size();
        // Later fields of the same name go: the first one now says it all.
        keep_where_named(name, false, value_at + value.size() + 2);
        return Replaced::yes;
    }
    return Replaced::none_named;
}

void ResponseFields::remove(std::string_view name) { keep_where_named(name, false, 0); }

void ResponseFields::keep_only(std::string_view name) { keep_where_named(name, true, 0); }

template <class Keep>
void ResponseFields::keep_where(size_t from_line, Keep keep) {
    // Compacts in place: every kept line moves down over the removed ones.
    size_t kept = from_line;
    for (iterator it(data_ + from_line, data_ + size_), stop = end(); it != stop; ++it) {
        const FieldView &f = *it;
        size_t from = static_cast<size_t>(f.name.data() - data_);
        size_t len = static_cast<size_t>(f.value.data() - f.name.data()) + f.value.size() + 2;
        if (!keep(f)) continue;
        memmove(data_ + kept, data_ + from, len);
        kept += len;
    }
    size_ = kept;
    recount_names();
}

void ResponseFields::keep_where_named(std::string_view name, bool named, size_t from_line) {
    keep_where(from_line, [&](const FieldView &f) { return iequals(f.name, name) == named; });
}

void ResponseFields::remove_set_cookie(std::string_view cookie) {
    keep_where(0, [&](const FieldView &f) {
        bool sets_it = iequals(f.name, "Set-Cookie") && f.value.size() > cookie.size() &&
                       f.value.compare(0, cookie.size(), cookie) == 0 &&
                       f.value[cookie.size()] == '=';
        return !sets_it;
    });
}

bool ResponseFields::contains(std::string_view name) const {
    for (const FieldView &f : *this)
        if (iequals(f.name, name)) return true;
    return false;
}

std::string_view ResponseFields::last_value(std::string_view name, bool *found) const {
    std::string_view value;
    bool any = false;
    for (const FieldView &f : *this) {
        if (!iequals(f.name, name)) continue;
        value = f.value;
        any = true;
    }
    if (found) *found = any;
    return value;
}

}  // namespace eddy::http
