/* demo: eddy's tour — Tornado's chat demo (long polling, and a WebSocket), plus a few small routes.
 *
 *     demo [--port 8888] [--address 127.0.0.1] [--static DIR] [--templates DIR]
 *          [--cookie-secret S] [--poll-timeout 30] [--access-log | --no-access-log]
 *
 * Then open http://127.0.0.1:8888/ in two browser windows and chat. Routes:
 *
 *   GET  /                      the chat page (templates/index.html; sets the _xsrf cookie)
 *                               with the newest 50 messages, so that it reads without
 *                               JavaScript too (reload for new ones)
 *   POST /a/message/new         body=...: adds a message, wakes every waiting poll (with
 *                               next=/PATH, as the page's form sends: a 303 back to PATH)
 *   POST /a/message/updates     cursor=N: messages after N as JSON, now or when one arrives
 *   GET  /?mode=poll            the chat by long polling; by default the page uses a
 *                               WebSocket (/chatsocket): a browser's 6 connections per host
 *                               are shared by all its tabs, and each polling tab holds one
 *   GET  /chatsocket?cursor=N   WebSocket: the history after N, then every new message; send
 *                               bodies
 *   GET  /static/...            the page's CSS and JS (eddy_app_add_static); the page's
 *                               template is not there (Tornado's template_path is apart from
 *                               its static_path), so its source cannot be fetched
 *   GET  /plaintext             Hello, World! (text/plain)
 *   GET  /json                  {"message":"Hello, World!"}
 *   GET  /hello/NAME            Hello, NAME! (a named route capture, HTML-escaped)
 *   GET  /form, POST /form      a form whose answer is remembered in a signed cookie
 *   GET  /delay?seconds=0.5     answers after the delay (eddy_loop_call_later), 0..10 s
 *   GET  /stream                5 chunks, 100 ms apart (eddy_handler_flush)
 *   GET  /favicon.ico           204: no icon, and no 404 in the browser's console
 *
 * Every POST needs the XSRF token (eddy_app_set_xsrf_cookies), as in Tornado's chat demo: the
 * page's script sends the _xsrf cookie back as a form field; the chat's form and /form carry a
 * hidden field, so that they post without JavaScript too.
 *
 * Requests are logged to stderr in Common Log Format when stderr is a terminal (--access-log:
 * always, --no-access-log: never).
 *
 * Prints "demo listening on http://ADDRESS:PORT/" when ready; Ctrl-C (SIGINT) or SIGTERM stops
 * it, and everything is freed before exit.
 */
#define _GNU_SOURCE /* memmem; strndup and readlink (POSIX 2008) come with it */
#include <eddy/eddy.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "../cmdline.h"

#ifndef EDDY_DEMO_STATIC_DIR
#define EDDY_DEMO_STATIC_DIR "" /* CMake compiles in the absolute path of examples/demo/static */
#endif
#ifndef EDDY_DEMO_TEMPLATE_DIR
#define EDDY_DEMO_TEMPLATE_DIR "" /* and of examples/demo/templates */
#endif

#define HISTORY_SIZE 200     /* messages kept for clients that connect later */
/* The newest messages rendered into the chat page (for reading without JavaScript; the script
 * continues after them). Bounds the page: 50 of 1000 characters, escaped (6 bytes at most
 * each), are 300 KB at most. */
#define PAGE_MESSAGES 50
/* The limits count characters (code points), not bytes: the pages' inputs say maxlength="1000"
 * and "100", which browsers count in UTF-16 units (one or two per character), so whatever they
 * let a person type fits (600 characters of "é" are 1200 bytes). */
#define MAX_MESSAGE 1000     /* characters per chat message */
#define MAX_NAME 100         /* characters of the /form name */
#define MAX_BODY (64 * 1024) /* request bodies larger than this get 413 */
#define STREAM_CHUNKS 5
#define STREAM_INTERVAL 0.1 /* seconds between /stream chunks */
#define MAX_DELAY 10.0      /* seconds, for /delay */
/* Output queued for one chat WebSocket that does not read (a stuck or hostile tab): past this
 * its connection is closed (1013, Try Again Later), as it would otherwise keep a copy of every
 * message posted until its pings time out (40 s). Far above the largest history message (200
 * messages of 1000 escaped characters, about 1.2 MB), so a slow but live page is not cut; the
 * page reconnects and gets the history again. */
#define MAX_SOCKET_BACKLOG (4 * 1024 * 1024)

/* ---- the application's state ------------------------------------------------------------ */

typedef struct {
    long long id; /* increasing from first_id; clients send the last id they saw as cursor */
    char *body;
} message;

/* A POST /a/message/updates that found nothing new and waits (a detached handler). */
typedef struct waiter {
    struct demo *demo;
    eddy_handler *handler;
    long long cursor;
    eddy_call_id timeout; /* 0 once it fired */
    struct waiter *prev, *next;
} waiter;

/* Everything the program owns; the only mutable state, reachable from every callback through
 * the route userdata. */
typedef struct demo {
    eddy_loop *loop;
    eddy_app *app;
    char *page; /* templates/index.html, read once at start */
    size_t page_len;
    double poll_timeout;
    /* Message ids start at the clock in milliseconds, not at 1: a page still open from the demo's
     * previous run polls with a cursor from that run, and its messages must all be newer than
     * that (as in Tornado's demo, whose ids are UUIDs: an unknown cursor gets the whole cache);
     * ids from 1 again would make it drop every message up to its old cursor, its own included.
     * (A run that posted more than one message per millisecond it ran is not covered.) */
    long long first_id;
    message history[HISTORY_SIZE]; /* a ring: message `id` is history[(id-first_id) % N] */
    long long next_id;
    waiter *waiters;
    eddy_ws **sockets; /* the chat's WebSocket clients (the page's default) */
    size_t socket_count, socket_cap;
} demo;

/* ---- small helpers ----------------------------------------------------------------------- */

/* A growable string; the demo builds every dynamic body in one. */
typedef struct {
    char *data;
    size_t len, cap;
} strbuf;

static void sb_add(strbuf *b, const char *s, size_t n) {
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 256;
        while (cap < b->len + n + 1) cap *= 2;
        char *p = realloc(b->data, cap);
        if (!p) abort(); /* a demo: out of memory is fatal */
        b->data = p;
        b->cap = cap;
    }
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

static void sb_puts(strbuf *b, const char *s) { sb_add(b, s, strlen(s)); }

static void sb_printf(strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(strbuf *b, const char *fmt, ...) {
    char tmp[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n > 0) sb_add(b, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

/* Text into HTML, so that a name like "<script>" shows as text. */
static void sb_html(strbuf *b, const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) {
        switch (s[i]) {
        case '&': sb_puts(b, "&amp;"); break;
        case '<': sb_puts(b, "&lt;"); break;
        case '>': sb_puts(b, "&gt;"); break;
        case '"': sb_puts(b, "&quot;"); break;
        case '\'': sb_puts(b, "&#39;"); break;
        default: sb_add(b, s + i, 1);
        }
    }
}

/* A JSON string. The input is valid UTF-8 (checked on the way in), so only quotes, backslashes
 * and control characters need escaping; '<' is escaped too so the JSON is safe inside HTML. */
static void sb_json(strbuf *b, const char *s, size_t n) {
    sb_add(b, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            char esc[2] = {'\\', (char)c};
            sb_add(b, esc, 2);
        } else if (c < 0x20 || c == '<') {
            sb_printf(b, "\\u%04x", c);
        } else {
            sb_add(b, s + i, 1);
        }
    }
    sb_add(b, "\"", 1);
}

/* Form fields are bytes; JSON and HTML want text. The number of characters (code points) in
 * `s`, or -1 when it is not UTF-8 (overlong forms and surrogates included). */
static long utf8_chars(const char *s, size_t n) {
    long chars = 0;
    const unsigned char *p = (const unsigned char *)s, *end = p + n;
    while (p < end) {
        unsigned c = *p++;
        int more = c < 0x80 ? 0 : (c & 0xe0) == 0xc0 ? 1 : (c & 0xf0) == 0xe0 ? 2 : (c & 0xf8) == 0xf0 ? 3 : -1;
        if (more < 0 || end - p < more) return -1;
        unsigned cp = more == 0 ? c : more == 1 ? c & 0x1f : more == 2 ? c & 0x0f : c & 0x07;
        for (int i = 0; i < more; i++) {
            if ((*p & 0xc0) != 0x80) return -1;
            cp = (cp << 6) | (*p++ & 0x3f);
        }
        static const unsigned min_cp[] = {0, 0x80, 0x800, 0x10000};
        if (cp < min_cp[more] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return -1;
        chars++;
    }
    return chars;
}

/* Sends `body` with `content_type` and finishes (the handler is released after this).
 * Inline with explicit lengths: for a literal type the compiler counts them, not strlen. */
static inline void reply(eddy_handler *h, const char *content_type, const char *body, size_t len) {
    eddy_handler_set_header(h, "Content-Type", 12, content_type, strlen(content_type));
    eddy_handler_write(h, body, len);
    eddy_handler_finish(h);
}

static void reply_sb(eddy_handler *h, const char *content_type, strbuf *b) {
    reply(h, content_type, b->data ? b->data : "", b->len);
    free(b->data);
}

/* ---- chat: history ----------------------------------------------------------------------- */

static long long oldest_id(const demo *d) {
    long long count = d->next_id - d->first_id;
    return d->next_id - (count < HISTORY_SIZE ? count : HISTORY_SIZE);
}

static const message *message_by_id(const demo *d, long long id) {
    return &d->history[(size_t)(id - d->first_id) % HISTORY_SIZE];
}

/* {"messages":[{"id":1,"body":"..."},...]} with the messages after `cursor`. */
static void messages_json(const demo *d, long long cursor, strbuf *out) {
    long long first = cursor + 1 > oldest_id(d) ? cursor + 1 : oldest_id(d);
    sb_puts(out, "{\"messages\":[");
    for (long long id = first; id < d->next_id; id++) {
        const message *m = message_by_id(d, id);
        sb_printf(out, "%s{\"id\":%lld,\"body\":", id == first ? "" : ",", m->id);
        sb_json(out, m->body, strlen(m->body));
        sb_puts(out, "}");
    }
    sb_puts(out, "]}");
}

/* Appends a message, dropping the oldest once HISTORY_SIZE are kept. */
static const message *history_add(demo *d, const char *body, size_t len) {
    message *m = &d->history[(size_t)(d->next_id - d->first_id) % HISTORY_SIZE];
    free(m->body);
    m->body = strndup(body, len);
    if (!m->body) abort();
    m->id = d->next_id++;
    return m;
}

/* ---- chat: waiting polls ----------------------------------------------------------------- */

static void waiter_unlink(waiter *w) {
    demo *d = w->demo;
    if (w->prev) w->prev->next = w->next;
    else d->waiters = w->next;
    if (w->next) w->next->prev = w->prev;
    w->prev = w->next = NULL;
    if (w->timeout) eddy_loop_cancel(d->loop, w->timeout);
    w->timeout = 0;
}

/* Answers a waiting poll with what is new since its cursor (maybe nothing) and lets it go.
 * The waiter is the handler's userdata: finishing the handler frees it. */
static void waiter_answer(waiter *w) {
    strbuf json = {0};
    waiter_unlink(w);
    messages_json(w->demo, w->cursor, &json);
    reply_sb(w->handler, "application/json", &json);
}

static void waiter_timed_out(eddy_loop *loop, void *userdata) {
    (void)loop;
    waiter *w = userdata;
    w->timeout = 0; /* running now: nothing to cancel */
    waiter_answer(w); /* an empty list; the client simply polls again */
}

/* The client went away while waiting (closed the tab): forget it. Finishing a closed handler
 * writes nothing and releases it, which frees the waiter. */
static void updates_connection_close(eddy_handler *h, void *route_userdata) {
    (void)route_userdata;
    waiter *w = eddy_handler_get_userdata(h);
    if (!w) return;
    waiter_unlink(w);
    eddy_handler_finish(h);
}

/* The "cursor" argument from `sources` (EDDY_ARGS_BODY or EDDY_ARGS_QUERY): the id of the
 * last message the client has, 0 when absent or empty. A cursor past the newest message (a
 * stale or made-up one) is clamped to it (a poll then waits for the next message); that also
 * keeps cursor + 1 from overflowing. -1 when it is not a whole number >= 0. */
static int read_cursor(eddy_handler *h, int sources, const demo *d, long long *cursor) {
    size_t len = 0;
    const char *arg = eddy_handler_get_argument(h, sources, "cursor", EDDY_NTS, &len);
    char *end = NULL;
    errno = 0;
    *cursor = arg && len ? strtoll(arg, &end, 10) : 0;
    /* The whole value must be the number: a decoded %00 ends the C string, not the value. */
    if (arg && len && (end != arg + len || *cursor < 0 || errno == ERANGE)) return -1;
    if (*cursor >= d->next_id) *cursor = d->next_id - 1;
    return 0;
}

/* POST /a/message/updates, cursor=N: Tornado's MessageUpdatesHandler. */
static void updates_post(eddy_handler *h, void *route_userdata) {
    demo *d = route_userdata;
    long long cursor = 0;
    if (read_cursor(h, EDDY_ARGS_BODY, d, &cursor) != 0) {
        eddy_handler_send_error(h, 400);
        return;
    }
    if (cursor + 1 < d->next_id && d->next_id > d->first_id) { /* something new: answer now */
        strbuf json = {0};
        messages_json(d, cursor, &json);
        reply_sb(h, "application/json", &json);
        return;
    }
    waiter *w = calloc(1, sizeof *w);
    if (!w) {
        eddy_handler_send_error(h, 503);
        return;
    }
    *w = (waiter){.demo = d, .handler = h, .cursor = cursor, .next = d->waiters};
    w->timeout = eddy_loop_call_later(d->loop, d->poll_timeout, waiter_timed_out, w, NULL);
    if (d->waiters) d->waiters->prev = w;
    d->waiters = w;
    eddy_handler_set_userdata(h, w, free);
    eddy_handler_detach(h); /* keep the response open after we return */
}

static void chat_publish(demo *d, const message *m);

/* POST /a/message/new, body=...: Tornado's MessageNewHandler. Answers with the new message. */
static void message_new_post(eddy_handler *h, void *route_userdata) {
    demo *d = route_userdata;
    size_t len = 0, next_len = 0;
    const char *body = eddy_handler_require_argument(h, EDDY_ARGS_BODY, "body", EDDY_NTS, &len);
    if (!body) return; /* 400 already sent */
    long chars = utf8_chars(body, len);
    if (len == 0 || chars < 0 || chars > MAX_MESSAGE || memchr(body, '\0', len)) {
        eddy_handler_send_error(h, 400);
        return;
    }
    /* The page's form posted without JavaScript: it names the page to go back to (Tornado's
     * chat: a hidden "next" field, then a redirect). Only a path on this server, so that the
     * demo is no open redirect: "/..." but not "//host" or "/\host" (which browsers read as
     * another host), printable ASCII only. */
    const char *next = eddy_handler_get_argument(h, EDDY_ARGS_BODY, "next", EDDY_NTS, &next_len);
    if (next) {
        int local = next_len > 0 && next[0] == '/' &&
                    !(next_len > 1 && (next[1] == '/' || next[1] == '\\'));
        for (size_t i = 0; local && i < next_len; i++) local = next[i] > 0x20 && next[i] < 0x7f;
        if (!local) {
            eddy_handler_send_error(h, 400);
            return;
        }
    }
    const message *m = history_add(d, body, len);
    chat_publish(d, m); /* wakes the polls and tells the WebSocket clients */
    if (next) {
        /* 303: the browser follows with a GET, so a reload does not post again */
        eddy_handler_redirect(h, next, next_len, 303);
        return;
    }

    strbuf json = {0};
    sb_printf(&json, "{\"id\":%lld,\"body\":", m->id);
    sb_json(&json, m->body, strlen(m->body));
    sb_puts(&json, "}");
    reply_sb(h, "application/json", &json);
}

/* ---- chat: WebSocket mode (the page's default; /?mode=poll polls instead) ---------------- */

/* Sends {"messages":[...]} with the messages after `cursor` to one socket. */
static void socket_send_since(demo *d, eddy_ws *ws, long long cursor) {
    strbuf json = {0};
    messages_json(d, cursor, &json);
    eddy_ws_write_message(ws, json.data, json.len, 0, NULL);
    free(json.data);
}

/* A new message: every WebSocket client gets it at once, and every waiting poll is answered.
 * A client whose backlog is over MAX_SOCKET_BACKLOG is closed instead (its close callback,
 * which takes it off the list, comes later from the loop). */
static void chat_publish(demo *d, const message *m) {
    for (size_t i = 0; i < d->socket_count; i++) {
        eddy_ws *ws = d->sockets[i];
        if (eddy_ws_closing(ws)) continue;
        if (eddy_ws_write_buffer_size(ws) > MAX_SOCKET_BACKLOG)
            eddy_ws_close(ws, 1013, "too far behind; reconnect", EDDY_NTS);
        else
            socket_send_since(d, ws, m->id - 1);
    }
    waiter *list = d->waiters; /* answering unlinks it, so take the list first */
    while (list) {
        waiter *next = list->next;
        waiter_answer(list);
        list = next;
    }
}

/* open (/chatsocket?cursor=N): remember the socket and send the history after N, the last
 * message the page has (it comes with the newest ones rendered in; without a cursor, all of
 * it). The handshake's origin check (same origin as Host, the default) stands in for the XSRF
 * token a POST would need. */
static void socket_open(eddy_ws *ws, void *route_userdata) {
    demo *d = route_userdata;
    long long cursor = 0;
    if (read_cursor(eddy_ws_handler(ws), EDDY_ARGS_QUERY, d, &cursor) != 0) {
        eddy_ws_close(ws, 1008, "the cursor is a message id", EDDY_NTS);
        return;
    }
    if (d->socket_count == d->socket_cap) {
        size_t cap = d->socket_cap ? d->socket_cap * 2 : 16;
        eddy_ws **grown = realloc(d->sockets, cap * sizeof *grown);
        if (!grown) {
            eddy_ws_close(ws, 1011, "out of memory", EDDY_NTS);
            return;
        }
        d->sockets = grown;
        d->socket_cap = cap;
    }
    d->sockets[d->socket_count++] = ws;
    socket_send_since(d, ws, cursor);
}

/* A chat message from a socket: a text frame with the body (same rules as a POST). */
static void socket_message(eddy_ws *ws, const char *data, size_t len, int binary,
                           void *route_userdata) {
    demo *d = route_userdata;
    long chars = binary ? -1 : utf8_chars(data, len);
    if (chars <= 0 || chars > MAX_MESSAGE || memchr(data, '\0', len)) {
        eddy_ws_close(ws, 1003, "chat messages are 1..1000 characters of text", EDDY_NTS);
        return;
    }
    chat_publish(d, history_add(d, data, len));
}

static void socket_close(eddy_ws *ws, int code, const char *reason, size_t len,
                         void *route_userdata) {
    (void)code, (void)reason, (void)len;
    demo *d = route_userdata;
    for (size_t i = 0; i < d->socket_count; i++) {
        if (d->sockets[i] == ws) {
            d->sockets[i] = d->sockets[--d->socket_count];
            break;
        }
    }
}

/* The page's ETag, FNV-1a (64 bits) over what the page says: the same validator strength as
 * the automatic ETag (a 64-bit hash of the body), which the page cannot use (see below). */
#define FNV_OFFSET 0xcbf29ce484222325ULL
#define FNV_PRIME 0x100000001b3ULL

static unsigned long long fnv1a(unsigned long long hash, const void *data, size_t len) {
    const unsigned char *p = data;
    for (size_t i = 0; i < len; i++) hash = (hash ^ p[i]) * FNV_PRIME;
    return hash;
}

static int hex_value(char c) {
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

#define MAX_RAW_TOKEN 64 /* bytes; eddy's raw XSRF tokens are 16 */

/* The raw XSRF token inside a masked one, "2|MASK|MASKED|TIME" (Tornado's version 2, which
 * eddy_handler_xsrf_token hands out and sets as the _xsrf cookie): MASKED xor the 4-byte
 * MASK, repeated, into `raw`. The raw token is the one in the _xsrf cookie, the same for every
 * page that cookie's browser gets; the mask and the time change with every call. Returns its
 * length, or 0 when `token` is not of that form (or longer than MAX_RAW_TOKEN). */
static size_t raw_xsrf_token(const char *token, size_t len, unsigned char raw[MAX_RAW_TOKEN]) {
    const char *end = token + len;
    if (len < 2 || token[0] != '2' || token[1] != '|') return 0;
    const char *mask = token + 2;
    if (end - mask < 9 || mask[8] != '|') return 0;
    const char *masked = mask + 9;
    const char *bar = memchr(masked, '|', (size_t)(end - masked));
    if (!bar || (bar - masked) % 2 != 0 || (bar - masked) / 2 > MAX_RAW_TOKEN) return 0;
    size_t n = 0;
    for (; masked + 2 * n < bar; n++) {
        int hi = hex_value(masked[2 * n]), lo = hex_value(masked[2 * n + 1]);
        int mhi = hex_value(mask[2 * (n % 4)]), mlo = hex_value(mask[2 * (n % 4) + 1]);
        if (hi < 0 || lo < 0 || mhi < 0 || mlo < 0) return 0;
        raw[n] = (unsigned char)((hi << 4 | lo) ^ (mhi << 4 | mlo));
    }
    return n;
}

/* Writes part of the page and adds it to the page's hash. */
static void page_write(eddy_handler *h, unsigned long long *hash, const char *s, size_t len) {
    eddy_handler_write(h, s, len);
    *hash = fnv1a(*hash, s, len);
}

/* {% module recent_messages() %}: the newest PAGE_MESSAGES messages, as Tornado's chat renders
 * its cache into the page ({% for message in messages %}), so that the page reads without
 * JavaScript too: a person who posted with the form comes back (303) to a page that shows the
 * message. Each is <div class="message" id="mID">, the element chat.js makes, with the body
 * HTML-escaped (it is untrusted text); the script continues after the last id. They go into
 * the page's hash, so that its ETag changes when they do. */
static void page_messages(eddy_handler *h, unsigned long long *hash, const demo *d) {
    long long first = d->next_id - PAGE_MESSAGES;
    if (first < oldest_id(d)) first = oldest_id(d);
    strbuf html = {0};
    for (long long id = first; id < d->next_id; id++) {
        const message *m = message_by_id(d, id);
        sb_printf(&html, "\n    <div class=\"message\" id=\"m%lld\">", m->id);
        sb_html(&html, m->body, strlen(m->body));
        sb_puts(&html, "</div>");
    }
    if (html.len) page_write(h, hash, html.data, html.len);
    free(html.data);
}

/* GET /: the chat page, from templates/index.html with the tags Tornado's chat template uses.
 * Asking for the XSRF token sets the _xsrf cookie the script sends back.
 *  - {{ static_url("chat.css") }}: the file's URL with its content version, which browsers
 *    may cache until it changes.
 *  - {% module xsrf_form_html() %}: the form's hidden _xsrf field, so that the form posts
 *    without JavaScript too (the script sends the cookie's token itself).
 *  - {% module recent_messages() %}: the newest messages (page_messages above).
 * The token in the field is masked afresh for each page (Tornado's, against BREACH), so the
 * automatic ETag, a hash of the body, would differ every time and a reload would never get
 * 304. The page's own ETag hashes the page with the raw token in place of the masked one:
 * the same for the same cookie, template, files and messages, new when any changes. It is
 * weak (W/): two bodies under it differ in the mask, and a weak validator is enough for
 * If-None-Match (RFC 9110 sections 8.8.1 and 13.1.2).
 * A request without a valid _xsrf cookie gets a page with a token made for it, and that
 * cookie: no page it may have stored can be this one (a stored page's form carries another
 * token, which fails against the new cookie: 403). So it gets no ETag and no 304 at all, not
 * even for "If-None-Match: *": RFC 9110 section 13.1.2 has "*" match a current
 * representation, and the page this request selects did not exist before it (Tornado and
 * eddy's default would send 304, with the new cookie, and the browser would keep a page whose
 * form cannot post). */
static void chat_page_get(eddy_handler *h, void *route_userdata) {
    static const char url_open[] = "{{ static_url(\"", url_close[] = "\") }}";
    static const char xsrf_tag[] = "{% module xsrf_form_html() %}";
    static const char messages_tag[] = "{% module recent_messages() %}";
    static const char field_open[] = "<input type=\"hidden\" name=\"_xsrf\" value=\"",
                      field_close[] = "\">";
    demo *d = route_userdata;
    size_t token_len = 0, cookie_len = 0;
    const char *token = eddy_handler_xsrf_token(h, &token_len);
    if (!token) {
        eddy_handler_send_error(h, 503);
        return;
    }
    unsigned char raw[MAX_RAW_TOKEN], cookie_raw[MAX_RAW_TOKEN];
    size_t raw_len = raw_xsrf_token(token, token_len, raw);
    /* The request's cookie (the one eddy_handler_xsrf_token read): the same raw token, or the
     * token is new. A cookie of another form (Tornado's version 1, which eddy takes too): no
     * ETag either; such a browser only misses its 304s. */
    const char *cookie = eddy_handler_get_cookie(h, "_xsrf", EDDY_NTS, &cookie_len);
    size_t cookie_raw_len = cookie ? raw_xsrf_token(cookie, cookie_len, cookie_raw) : 0;
    int etag_ok = raw_len > 0 && cookie_raw_len == raw_len && memcmp(raw, cookie_raw, raw_len) == 0;
    unsigned long long hash = FNV_OFFSET;
    const char *at = d->page, *end = d->page + d->page_len;
    for (;;) {
        const char *url = memmem(at, (size_t)(end - at), url_open, sizeof url_open - 1);
        const char *xsrf = memmem(at, (size_t)(end - at), xsrf_tag, sizeof xsrf_tag - 1);
        const char *msgs = memmem(at, (size_t)(end - at), messages_tag, sizeof messages_tag - 1);
        if (msgs && (!url || msgs < url) && (!xsrf || msgs < xsrf)) {
            page_write(h, &hash, at, (size_t)(msgs - at));
            page_messages(h, &hash, d);
            at = msgs + sizeof messages_tag - 1;
            continue;
        }
        if (!url && !xsrf) break;
        if (xsrf && (!url || xsrf < url)) {
            page_write(h, &hash, at, (size_t)(xsrf - at));
            page_write(h, &hash, field_open, sizeof field_open - 1);
            eddy_handler_write(h, token, token_len); /* a token of hex digits and '|' */
            hash = fnv1a(hash, raw, raw_len);
            page_write(h, &hash, field_close, sizeof field_close - 1);
            at = xsrf + sizeof xsrf_tag - 1;
            continue;
        }
        const char *name = url + sizeof url_open - 1;
        const char *name_end = memmem(name, (size_t)(end - name), url_close, sizeof url_close - 1);
        if (!name_end) break;
        page_write(h, &hash, at, (size_t)(url - at));
        size_t url_len = 0;
        const char *link = eddy_handler_static_url(h, name, (size_t)(name_end - name), &url_len);
        if (link) page_write(h, &hash, link, url_len);
        at = name_end + sizeof url_close - 1;
    }
    page_write(h, &hash, at, (size_t)(end - at)); /* Content-Type defaults to text/html */
    char etag[32];
    int n = snprintf(etag, sizeof etag, "W/\"%016llx\"", hash);
    eddy_handler_set_etag(h, etag_ok ? etag : NULL, (size_t)n);
    /* The page is one browser's (its form carries that browser's token): no shared cache may
     * keep it (private), and the browser asks again before showing it (no-cache: the messages
     * change; the ETag makes that ask a 304 when they have not, RFC 9111 5.2.2.4, 5.2.2.7). */
    eddy_handler_set_header(h, "Cache-Control", EDDY_NTS, "private, no-cache", EDDY_NTS);
}

/* ---- hello, world ------------------------------------------------------------------------ */

/* GET /favicon.ico: the demo has no icon. Browsers ask for one with every page (the HTML ones,
 * /plaintext and /json too), and a 404 shows as an error in their console; 204 does not. */
static void favicon_get(eddy_handler *h, void *route_userdata) {
    (void)route_userdata;
    eddy_handler_set_status(h, 204, NULL, 0);
    eddy_handler_finish(h);
}

static void plaintext_get(eddy_handler *h, void *route_userdata) {
    (void)route_userdata;
    reply(h, "text/plain", "Hello, World!", 13);
}

static void json_get(eddy_handler *h, void *route_userdata) {
    (void)route_userdata;
    static const char body[] = "{\"message\":\"Hello, World!\"}";
    reply(h, "application/json", body, sizeof body - 1);
}

/* GET /hello/(?<name>[^/]+): the capture arrives percent-decoded and may hold markup. */
static void hello_get(eddy_handler *h, void *route_userdata) {
    (void)route_userdata;
    size_t len = 0;
    const char *name = eddy_handler_path_kwarg(h, "name", EDDY_NTS, &len);
    strbuf page = {0};
    sb_puts(&page, "Hello, ");
    sb_html(&page, name, len);
    sb_puts(&page, "!");
    reply_sb(h, "text/html; charset=UTF-8", &page);
}

/* ---- a form and a signed cookie ---------------------------------------------------------- */

/* GET /form: the form, with the remembered name. Signed cookies cannot be forged by the
 * client: a tampered one reads as missing. */
static void form_get(eddy_handler *h, void *route_userdata) {
    (void)route_userdata;
    size_t name_len = 0, token_len = 0;
    const char *name = eddy_handler_get_signed_cookie(h, "name", EDDY_NTS, 31, &name_len);
    const char *token = eddy_handler_xsrf_token(h, &token_len);
    strbuf page = {0};
    /* lang and a label for the input: what screen readers need (the chat page has them too) */
    sb_puts(&page,
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            "<title>eddy form</title>"
            "<link rel=\"stylesheet\" href=\"/static/chat.css\"></head><body>\n");
    if (name) {
        sb_puts(&page, "<p id=\"greeting\">Welcome back, ");
        sb_html(&page, name, name_len);
        sb_puts(&page, "!</p>\n");
    } else {
        sb_puts(&page, "<p id=\"greeting\">What is your name?</p>\n");
    }
    sb_puts(&page,
            "<form method=\"post\" action=\"/form\">\n"
            "<label for=\"name\">Your name</label>\n"
            "<input id=\"name\" name=\"name\" maxlength=\"100\" autofocus>\n"
            "<input type=\"hidden\" name=\"_xsrf\" value=\"");
    sb_html(&page, token ? token : "", token_len);
    sb_puts(&page, "\">\n<button>Remember me</button>\n</form>\n"
                   "<p><a href=\"/\">back to the chat</a></p>\n</body></html>\n");
    reply_sb(h, "text/html; charset=UTF-8", &page);
}

/* POST /form, name=...: stores the name and redirects with 303, so reloading the page does not
 * post the form again. */
static void form_post(eddy_handler *h, void *route_userdata) {
    (void)route_userdata;
    size_t len = 0;
    const char *name = eddy_handler_require_argument(h, EDDY_ARGS_BODY, "name", EDDY_NTS, &len);
    if (!name) return;
    long chars = utf8_chars(name, len);
    if (chars < 0 || chars > MAX_NAME) {
        eddy_handler_send_error(h, 400);
        return;
    }
    if (len == 0) eddy_handler_clear_cookie(h, "name", EDDY_NTS, NULL, NULL);
    else eddy_handler_set_signed_cookie(h, "name", EDDY_NTS, name, len, 30);
    eddy_handler_redirect(h, "/form", EDDY_NTS, 303);
}

/* ---- a delayed and a streamed response (detached handlers driven by timers) -------------- */

/* The state of one /delay or /stream response: the handler's userdata, freed with it. */
typedef struct {
    eddy_loop *loop;
    eddy_handler *handler;
    eddy_call_id timer; /* the pending call_later, 0 when none */
    int chunks_sent;
    double seconds;
} timed;

static timed *timed_start(eddy_handler *h, demo *d) {
    timed *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    t->loop = d->loop;
    t->handler = h;
    eddy_handler_set_userdata(h, t, free);
    eddy_handler_detach(h);
    return t;
}

/* For both: a client that leaves stops the timer and releases the handler. */
static void timed_connection_close(eddy_handler *h, void *route_userdata) {
    (void)route_userdata;
    timed *t = eddy_handler_get_userdata(h);
    if (!t) return;
    if (t->timer) eddy_loop_cancel(t->loop, t->timer);
    t->timer = 0;
    eddy_handler_finish(h); /* frees t */
}

static void delay_done(eddy_loop *loop, void *userdata) {
    (void)loop;
    timed *t = userdata;
    t->timer = 0;
    char text[64];
    int n = snprintf(text, sizeof text, "Waited %g seconds.\n", t->seconds);
    reply(t->handler, "text/plain", text, (size_t)n); /* frees t */
}

/* GET /delay?seconds=S: a slow backend stand-in; the loop serves others meanwhile. */
static void delay_get(eddy_handler *h, void *route_userdata) {
    size_t len = 0;
    const char *arg = eddy_handler_get_argument(h, EDDY_ARGS_QUERY, "seconds", EDDY_NTS, &len);
    char *end = NULL;
    double seconds = arg ? strtod(arg, &end) : 1.0;
    /* As for the cursor: "1%002" is not 1 (strtod stops at the decoded NUL). */
    if (arg && (end == arg || end != arg + len || !isfinite(seconds) || seconds < 0 ||
                seconds > MAX_DELAY)) {
        eddy_handler_send_error(h, 400);
        return;
    }
    timed *t = timed_start(h, route_userdata);
    if (!t) {
        eddy_handler_send_error(h, 503);
        return;
    }
    t->seconds = seconds;
    t->timer = eddy_loop_call_later(t->loop, seconds, delay_done, t, NULL);
}

/* One /stream step: write and flush a chunk, then come back in STREAM_INTERVAL seconds. */
static void stream_step(eddy_loop *loop, void *userdata) {
    timed *t = userdata;
    t->timer = 0;
    char line[64];
    int n = snprintf(line, sizeof line, "chunk %d of %d\n", t->chunks_sent + 1, STREAM_CHUNKS);
    eddy_handler_write(t->handler, line, (size_t)n);
    eddy_handler_flush(t->handler, NULL); /* goes out now, as one HTTP chunk */
    if (++t->chunks_sent == STREAM_CHUNKS) {
        eddy_handler_finish(t->handler); /* frees t */
        return;
    }
    t->timer = eddy_loop_call_later(loop, STREAM_INTERVAL, stream_step, t, NULL);
}

/* GET /stream: a response sent while it is produced (chunked transfer encoding). */
static void stream_get(eddy_handler *h, void *route_userdata) {
    timed *t = timed_start(h, route_userdata);
    if (!t) {
        eddy_handler_send_error(h, 503);
        return;
    }
    eddy_handler_set_header(h, "Content-Type", EDDY_NTS, "text/plain; charset=UTF-8", EDDY_NTS);
    stream_step(t->loop, t);
}

/* ---- setup ------------------------------------------------------------------------------- */

typedef struct {
    const char *address, *static_dir, *template_dir, *cookie_secret;
    int port;
    double poll_timeout;
    int access_log; /* 1 on, 0 off, -1: on when stderr is a terminal */
} options;

static const char usage[] =
    "usage: demo [--port N] [--address A] [--static DIR] [--templates DIR] "
    "[--cookie-secret S] [--poll-timeout SECONDS] [--access-log | --no-access-log]";

static int parse_options(int argc, char **argv, options *o) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--access-log") == 0 || strcmp(a, "--no-access-log") == 0) {
            o->access_log = a[2] == 'a';
            continue;
        }
        /* As the other examples (cmdline.h): "demo: unknown option --X" and the usage line;
         * "demo: --port wants a value" for a trailing option without its value. */
        if (strcmp(a, "--port") == 0)
            o->port = cmdline_port("demo", a, cmdline_value("demo", argc, argv, i));
        else if (strcmp(a, "--address") == 0)
            o->address = cmdline_value("demo", argc, argv, i);
        else if (strcmp(a, "--static") == 0)
            o->static_dir = cmdline_value("demo", argc, argv, i);
        else if (strcmp(a, "--templates") == 0)
            o->template_dir = cmdline_value("demo", argc, argv, i);
        else if (strcmp(a, "--cookie-secret") == 0)
            o->cookie_secret = cmdline_value("demo", argc, argv, i);
        else if (strcmp(a, "--poll-timeout") == 0)
            o->poll_timeout = cmdline_seconds("demo", a, cmdline_value("demo", argc, argv, i));
        else
            cmdline_unknown("demo", a, usage);
        i++; /* its value */
    }
    if (o->port < 0 || o->port > 65535 || !(o->poll_timeout > 0)) {
        fprintf(stderr, "%s\n", usage);
        return -1;
    }
    return 0;
}

/* Reads a whole file; NULL when it cannot. */
static char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    strbuf b = {0};
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) sb_add(&b, chunk, n);
    int failed = ferror(f);
    fclose(f);
    if (failed || !b.data) {
        free(b.data);
        return NULL;
    }
    *len = b.len;
    return b.data;
}

/* The static or template directory (`name`: "static" or "templates"): the flag's, else the
 * source tree's (compiled in as `built_in`, so the binary works from any directory), else
 * `name` next to the executable (an installed copy). They are two directories, as Tornado's
 * static_path and template_path: a template inside the static one would be served as a file,
 * its source and all. */
static const char *find_dir(const char *flag, const char *built_in, const char *name, char *buf,
                            size_t size) {
    if (flag) return flag;
    if (built_in[0] && access(built_in, R_OK | X_OK) == 0) return built_in;
    ssize_t n = readlink("/proc/self/exe", buf, size - strlen(name) - 1);
    if (n <= 0) return name;
    buf[n] = '\0';
    char *slash = strrchr(buf, '/');
    strcpy(slash ? slash + 1 : buf, name);
    return buf;
}

/* Without --cookie-secret, a random secret: cookies then last until the demo restarts. */
static int random_secret(char *hex, size_t hex_size) {
    unsigned char bytes[32];
    FILE *f = fopen("/dev/urandom", "rb");
    if (!f) return -1;
    size_t n = fread(bytes, 1, sizeof bytes, f);
    fclose(f);
    if (n != sizeof bytes || hex_size < 2 * sizeof bytes + 1) return -1;
    for (size_t i = 0; i < sizeof bytes; i++) snprintf(hex + 2 * i, 3, "%02x", bytes[i]);
    return 0;
}

/* The routing table: tried in order, each pattern matched against the whole path. */
static const struct {
    const char *pattern;
    eddy_handler_fn get, post;
    eddy_handler_fn on_close; /* for handlers that wait: the client left */
} routes[] = {
    {"/", chat_page_get, NULL, NULL},
    {"/a/message/new", NULL, message_new_post, NULL},
    {"/a/message/updates", NULL, updates_post, updates_connection_close},
    {"/favicon.ico", favicon_get, NULL, NULL},
    {"/plaintext", plaintext_get, NULL, NULL},
    {"/json", json_get, NULL, NULL},
    {"/hello/(?<name>[^/]+)", hello_get, NULL, NULL},
    {"/form", form_get, form_post, NULL},
    {"/delay", delay_get, NULL, timed_connection_close},
    {"/stream", stream_get, NULL, timed_connection_close},
};

static int add_routes(demo *d, const char *static_dir) {
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        eddy_route *r = eddy_app_add_route(d->app, routes[i].pattern, EDDY_NTS, d, NULL);
        if (!r) return -1;
        if (routes[i].get) eddy_route_on(r, "GET", EDDY_NTS, routes[i].get);
        if (routes[i].post) eddy_route_on(r, "POST", EDDY_NTS, routes[i].post);
        if (routes[i].on_close) eddy_route_set_on_connection_close(r, routes[i].on_close);
    }
    eddy_route *chat_socket = eddy_app_add_route(d->app, "/chatsocket", EDDY_NTS, d, NULL);
    if (!chat_socket) return -1;
    eddy_ws_options *wo = eddy_ws_options_new();
    if (!wo) return -1;
    eddy_ws_options_set_max_message_size(wo, 4 * MAX_MESSAGE); /* UTF-8: up to 4 bytes each */
    eddy_ws_options_set_compression(wo, EDDY_WS_DEFLATE, 0);
    eddy_ws_options_set_ping(wo, 20, 20); /* notice vanished browsers */
    int rc = eddy_route_set_websocket(chat_socket, socket_open, socket_message, socket_close, wo);
    eddy_ws_options_free(wo);
    if (rc != 0) return -1;
    return eddy_app_add_static(d->app, "/static/", EDDY_NTS, static_dir, EDDY_NTS);
}

static void on_signal(eddy_signal *sig, int signum, void *userdata) {
    (void)sig;
    (void)signum;
    eddy_loop_stop(userdata);
}

/* Frees what the demo owns. Freeing the app closes its connections, which runs the
 * on_connection_close callbacks of waiting handlers: they finish and free their state. */
static void demo_free(demo *d) {
    eddy_app_free(d->app);
    eddy_loop_free(d->loop);
    free(d->sockets);
    for (size_t i = 0; i < HISTORY_SIZE; i++) free(d->history[i].body);
    free(d->page);
}

int main(int argc, char **argv) {
    options o = {.address = "127.0.0.1", .port = 8888, .poll_timeout = 30, .access_log = -1};
    if (parse_options(argc, argv, &o) != 0) return 2;

    char static_buf[PATH_MAX], template_buf[PATH_MAX], secret[65], page_path[PATH_MAX + 16];
    const char *static_dir =
        find_dir(o.static_dir, EDDY_DEMO_STATIC_DIR, "static", static_buf, sizeof static_buf);
    const char *template_dir = find_dir(o.template_dir, EDDY_DEMO_TEMPLATE_DIR, "templates",
                                        template_buf, sizeof template_buf);
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    long long first_id = (long long)now.tv_sec * 1000 + now.tv_nsec / 1000000;
    demo d = {.first_id = first_id, .next_id = first_id, .poll_timeout = o.poll_timeout};
    snprintf(page_path, sizeof page_path, "%s/index.html", template_dir);
    d.page = read_file(page_path, &d.page_len);
    if (!d.page) {
        fprintf(stderr, "demo: cannot read %s (use --templates DIR)\n", page_path);
        return 1;
    }
    if (!o.cookie_secret && random_secret(secret, sizeof secret) == 0) o.cookie_secret = secret;
    if (!o.cookie_secret) {
        fprintf(stderr, "demo: no cookie secret (/dev/urandom unreadable; use --cookie-secret)\n");
        free(d.page);
        return 1;
    }

    d.loop = eddy_loop_new();
    d.app = d.loop ? eddy_app_new(d.loop) : NULL;
    eddy_server *server = d.app ? eddy_app_server(d.app) : NULL;
    if (!server || add_routes(&d, static_dir) != 0 ||
        eddy_app_set_cookie_secret(d.app, o.cookie_secret, EDDY_NTS) != 0) {
        fprintf(stderr, "demo: setup failed (static dir %s)\n", static_dir);
        demo_free(&d);
        return 1;
    }
    eddy_app_set_xsrf_cookies(d.app, 1);
    eddy_server_set_max_body_size(server, MAX_BODY);
    /* One line per request on stderr for a person watching; a run under a process manager or a
     * benchmark harness (stderr a file or pipe) skips the formatting unless --access-log. */
    if (o.access_log == 1 || (o.access_log == -1 && isatty(2)))
        eddy_server_set_access_log_fd(server, 2);

    int rc = eddy_app_listen(d.app, o.address, o.port);
    if (rc != 0) {
        fprintf(stderr, "demo: cannot listen on %s:%d: %s\n", o.address, o.port, eddy_strerror(rc));
        demo_free(&d);
        return 1;
    }
    eddy_signal *sigint = eddy_signal_new(d.loop, SIGINT, on_signal, d.loop, NULL);
    eddy_signal *sigterm = eddy_signal_new(d.loop, SIGTERM, on_signal, d.loop, NULL);
    printf("demo listening on http://%s:%d/ (static files from %s)\n", o.address,
           eddy_server_port(server), static_dir);
    fflush(stdout);

    eddy_loop_run(d.loop);

    eddy_signal_free(sigint);
    eddy_signal_free(sigterm);
    demo_free(&d);
    printf("demo stopped\n");
    return 0;
}
