/* A growable buffer with JSON string helpers, shared by the C test servers that answer with
 * JSON (http_api_server.c, web_test_app.c). Header-only: each test program is one file. */
#ifndef EDDY_TEST_JSON_BUF_H
#define EDDY_TEST_JSON_BUF_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char *data;
    size_t len, cap;
    int failed; /* out of memory (tests/oom): bytes were dropped; the answer should be a 500 */
} buf_t;

static inline void buf_add(buf_t *b, const char *s, size_t n) {
    if (b->failed) return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 256;
        while (cap < b->len + n + 1) cap *= 2;
        char *p = realloc(b->data, cap);
        if (!p) {
            b->failed = 1;
            return;
        }
        b->data = p;
        b->cap = cap;
    }
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = 0;
}

static inline void buf_adds(buf_t *b, const char *s) { buf_add(b, s, strlen(s)); }

static inline void buf_printf(buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static inline void buf_printf(buf_t *b, const char *fmt, ...) {
    char tmp[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n > 0) buf_add(b, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

/* A JSON string whose characters are the bytes of `s` taken as Latin-1; NULL gives null. */
static inline void buf_json(buf_t *b, const char *s, size_t n) {
    static const char hex[] = "0123456789abcdef";
    if (!s) {
        buf_adds(b, "null");
        return;
    }
    buf_add(b, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            char esc[2] = {'\\', (char)c};
            buf_add(b, esc, 2);
        } else if (c >= 0x20 && c < 0x7f) {
            buf_add(b, (const char *)&c, 1);
        } else {
            char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            buf_add(b, esc, 6);
        }
    }
    buf_add(b, "\"", 1);
}

static inline void buf_jsons(buf_t *b, const char *s) { buf_json(b, s, s ? strlen(s) : 0); }

#endif /* EDDY_TEST_JSON_BUF_H */
