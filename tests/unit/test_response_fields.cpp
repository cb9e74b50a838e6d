// Unit tests for lib/http/response_fields: the response's header fields kept as wire lines.
// Every operation is checked against a plain model (a vector of name/value pairs) over long
// random sequences, so that the in-place splicing of replace/remove is exercised at every
// position, through the buffer's growth, and with names differing only in case.
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "http/httputil.hpp"
#include "http/response_fields.hpp"

extern "C" {
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
}

using eddy::http::FieldView;
using eddy::http::iequals;
using eddy::http::ResponseFields;

namespace {

using Model = std::vector<std::pair<std::string, std::string>>;

std::string wire(const Model &m) {
    std::string out;
    for (const auto &[name, value] : m) out += name + ": " + value + "\r\n";
    return out;
}

void expect_same(const ResponseFields &f, const Model &m) {
    assert_true(f.lines() == wire(m));
    assert_int_equal(f.empty(), m.empty());
    size_t i = 0;
    for (const FieldView &v : f) {
        assert_true(i < m.size());
        assert_true(v.name == m[i].first);
        assert_true(v.value == m[i].second);
        i++;
    }
    assert_int_equal(i, m.size());
    bool server = false, date = false;
    for (const auto &[name, value] : m) {
        server |= iequals(name, "Server");
        date |= iequals(name, "Date");
    }
    assert_int_equal(f.names_server(), server);
    assert_int_equal(f.names_date(), date);
}

void test_basic_lines(void **) {
    ResponseFields f;
    expect_same(f, {});
    assert_false(f.contains("Content-Type"));
    assert_true(f.add("Content-Type", "application/json"));
    assert_true(f.add("X-Empty", ""));
    assert_true(f.add("Set-Cookie", "a=1"));
    assert_true(f.add("set-cookie", "b=2"));
    expect_same(f, {{"Content-Type", "application/json"}, {"X-Empty", ""},
                    {"Set-Cookie", "a=1"}, {"set-cookie", "b=2"}});
    assert_true(f.contains("content-type"));
    bool found = false;
    assert_true(f.last_value("SET-COOKIE", &found) == "b=2");
    assert_true(found);
    assert_true(f.last_value("Missing", &found).empty());
    assert_false(found);
    // replace: the first of the name takes the value, later ones go, others stay in order.
    assert_true(f.replace("Set-Cookie", "c=a much longer value than before, to move the rest") ==
                ResponseFields::Replaced::yes);
    expect_same(f, {{"Content-Type", "application/json"}, {"X-Empty", ""},
                    {"Set-Cookie", "c=a much longer value than before, to move the rest"}});
    assert_true(f.replace("Location", "/x") == ResponseFields::Replaced::none_named);
    f.keep_only("Set-Cookie");
    expect_same(f, {{"Set-Cookie", "c=a much longer value than before, to move the rest"}});
    f.remove("set-cookie");
    expect_same(f, {});
    // Server and Date are noticed whatever their case, and forgotten when removed.
    assert_true(f.add("SERVER", "x"));
    assert_true(f.add("date", "y"));
    expect_same(f, {{"SERVER", "x"}, {"date", "y"}});
    f.remove("Server");
    expect_same(f, {{"date", "y"}});
    f.clear();
    expect_same(f, {});
}

void test_move_keeps_the_buffer(void **) {
    ResponseFields a;
    assert_true(a.add("Content-Type", "text/html; charset=UTF-8"));
    size_t capacity = a.capacity();
    const char *lines = a.lines().data();
    ResponseFields b = std::move(a);
    assert_true(a.empty());
    assert_int_equal(a.capacity(), 0);
    assert_true(b.lines().data() == lines);
    assert_int_equal(b.capacity(), capacity);
    b.clear();
    assert_int_equal(b.capacity(), capacity);  // what the request pool relies on
    ResponseFields c;
    assert_true(c.add("Date", "d"));
    c = std::move(b);
    expect_same(c, {});
    assert_int_equal(c.capacity(), capacity);
}

void test_random_against_model(void **) {
    std::mt19937 rng(20261128);
    const char *const names[] = {"Content-Type", "content-type", "Set-Cookie", "Server", "DATE",
                                 "X-A", "x-a", "Location", "Vary", "Date"};
    auto pick = [&](size_t n) { return static_cast<size_t>(rng() % n); };
    auto value = [&]() {
        std::string v(pick(70), 'v');
        for (char &c : v) c = static_cast<char>(' ' + pick(95));  // any printable, ':' too
        return v;
    };
    for (int round = 0; round < 200; round++) {
        ResponseFields f;
        Model m;
        for (int op = 0; op < 60; op++) {
            std::string name = names[pick(std::size(names))];
            switch (pick(6)) {
            case 0:
            case 1: {
                std::string v = value();
                assert_true(f.add(name, v));
                m.emplace_back(name, v);
                break;
            }
            case 2: {
                std::string v = value();
                size_t first = m.size();
                for (size_t i = 0; i < m.size(); i++)
                    if (iequals(m[i].first, name)) {
                        first = i;
                        break;
                    }
                bool replaced = f.replace(name, v) == ResponseFields::Replaced::yes;
                assert_int_equal(replaced, first < m.size());
                if (first < m.size()) {
                    m[first].second = v;
                    Model kept;
                    for (size_t i = 0; i < m.size(); i++)
                        if (i <= first || !iequals(m[i].first, name)) kept.push_back(m[i]);
                    m = kept;
                }
                break;
            }
            case 3: {
                f.remove(name);
                std::erase_if(m, [&](const auto &p) { return iequals(p.first, name); });
                break;
            }
            case 4: {
                if (pick(4) != 0) break;  // rarer: it empties most of the list
                f.keep_only(name);
                std::erase_if(m, [&](const auto &p) { return !iequals(p.first, name); });
                break;
            }
            default: {
                bool found = false;
                std::string_view got = f.last_value(name, &found);
                const std::string *want = nullptr;
                for (const auto &p : m)
                    if (iequals(p.first, name)) want = &p.second;
                assert_int_equal(found, want != nullptr);
                assert_int_equal(f.contains(name), want != nullptr);
                if (want) assert_true(got == *want);
                break;
            }
            }
            expect_same(f, m);
        }
    }
}

}  // namespace

int main() {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_basic_lines),
        cmocka_unit_test(test_move_keeps_the_buffer),
        cmocka_unit_test(test_random_against_model),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
