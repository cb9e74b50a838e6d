/* fetch_tool: runs eddy HTTP client fetches and prints one JSON line per result (for
 * test_client.py).
 *
 *   fetch_tool [options] URL...
 *     --cacert F  --no-verify  --proxy HOST:PORT  --connect-to HOST:PORT  --max-clients N
 *     --unix-socket PATH (eddy_fetch_set_unix_socket)
 *     --sequential  --repeat N
 *     --connect-timeout S  --timeout S  --max-body N  --no-decompress  --expect-continue
 *     --header "Name: value"  --method M  --data TEXT  --stream-body TEXT (chunked, in 3 parts)
 *     --stream-length N (--stream-body announces N bytes instead: Content-Length, not chunked)
 *     --body-size N (a body of N bytes 'x', set in memory: a large upload)
 *     --max-redirects N  --chunks (stream the body to a chunk callback)
 *     --pause S (between sequential fetches)  --cancel-after S (cancel every fetch in flight)
 *     --pause-stdin (between sequential fetches: until a line comes on stdin; the test says)
 *     --free-client-after S (eddy_client_free with fetches in flight)
 *     --no-reuse (no idle connections kept: every fetch connects anew)
 *     --read-timeout S (eddy_fetch_set_read_timeout)
 *     --pause-after-bytes N (with --chunks: eddy_fetch_pause_body from the chunk callback once
 *       N more body bytes arrived, --pause-count times (default 1); prints {"paused": BYTES};
 *       resumed --resume-after S seconds later, or, with --resume-stdin, when a line comes on
 *       stdin; prints {"resumed": rc})
 *     --chunk-sleep S (the chunk callback sleeps S seconds each time: a slow consumer)
 *     --flow-misuse (pause/resume where they must fail: NULL, before the start, without a
 *       chunk callback, in done; the codes go in "misuse")
 *     --proxy-after S (the --proxy is given to the client S seconds after the fetches start)
 *     --no-proxy-after-start (the --proxy is removed right after the first fetches started)
 *     --max-clients-after S N (eddy_client_set_max_clients(N) S seconds after the start)
 *     --tls-switch (the first fetch runs with a context that verifies nothing; as it ends, the
 *       client gets a verifying one, with --cacert's CAs, for the fetches after it)
 *     --upload-pieces N (a streamed body of N pieces of 1 MiB, announced with Content-Length,
 *       or chunked with --upload-chunked: each written once eddy_fetch_flush_body's callback
 *       said the one before reached the kernel; piece k is its index k as 8 bytes big-endian,
 *       then the byte (k * 37 + 1) & 255. Prints {"written": BYTES, "buffered": N} after each
 *       write (N: eddy_fetch_body_buffered), {"flush_status": CODE} for a callback that got an
 *       error, and with --flow-misuse adds eddy_fetch_flush_body's misuse codes)
 *     --signal-each-fetch (raise SIGUSR1 just before each fetch is made and SIGUSR2 as it ends:
 *       first thing in its done callback, or before a start error is printed. Under
 *       tests/oom's failmalloc with FAILMALLOC_NTH_FILE this fails the chosen allocation of
 *       exactly that fetch: raise() runs the handler before it returns, so the window is exact
 *       whatever the test's timing. Without a SIGUSR1 handler it ends the process.)
 *
 * Each line: {"url", "error", "status", "reason", "headers": [[n, v]...], "body_len",
 * "body" (first 2000 bytes), "body_hash" (FNV-1a 64 of the whole body, hex), "effective_url",
 * "redirects", "reused", "chunks", "max_chunk" (the largest chunk callback's length),
 * "saw_headers", "detail" (eddy_fetch_error_detail), "chunk_crc" (CRC-32 of the chunks' bytes,
 * as Python's zlib.crc32), "paused_chunks" (chunk callbacks while paused: 0 unless pausing is
 * broken), "misuse" (--flow-misuse's codes, comma-separated)}. Exit status 0 once every fetch ended
 * (whatever their errors).
 */
#include <eddy/eddy.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    const char *cacert, *proxy, *connect_to, *unix_socket, *method, *data, *stream_body;
    int verify, sequential, repeat, decompress, expect, max_redirects, chunks, pause_stdin;
    int signal_each, tls_switch;
    double connect_timeout, timeout, pause, cancel_after, free_after, proxy_after;
    double max_clients_after;
    int later_max_clients;
    int no_proxy_after_start;
    long long max_body, stream_length;
    double read_timeout, resume_after, chunk_sleep;
    long long pause_after_bytes;
    int pause_count, resume_stdin, flow_misuse;
    long long body_size;
    long long upload_pieces;
    int upload_chunked;
    const char *headers[16];
    int nheaders;
} options;

static options o = {.verify = 1,
                    .repeat = 1,
                    .decompress = 1,
                    .max_redirects = -1,
                    .connect_timeout = -1,
                    .timeout = -1,
                    .max_body = -1,
                    .stream_length = -1,
                    .read_timeout = -1,
                    .pause_count = 1};
static eddy_loop *g_loop;
static eddy_client *g_client;
static char **g_urls;
static int g_nurls, g_next, g_total, g_done;
static eddy_fetch *g_inflight[256];

typedef struct {
    size_t chunk_bytes, max_chunk;
    int chunks;
    int saw_headers;
    uint32_t chunk_crc; /* running, inverted */
    size_t next_pause;  /* pause once chunk_bytes reaches it (0: no more pauses) */
    int pauses, paused, paused_chunks;
    eddy_fetch *fetch;
    char misuse[256];
    struct resumer *resumer; /* a resume still to come */
    long long pieces_written; /* --upload-pieces */
    int flush_pending, flush_cb_during_call;
} job;

static void json_str(const char *s, size_t n) {
    putchar('"');
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\')
            printf("\\%c", c);
        else if (c < 0x20 || c >= 0x7f)
            printf("\\u%04x", c);
        else
            putchar(c);
    }
    putchar('"');
}

static void start_next(void);
static void one_done(void);

static unsigned long long fnv1a(const char *s, size_t n) {
    unsigned long long h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 0x100000001b3ull;
    return h;
}

/* CRC-32 (IEEE, zlib's): the test compares with zlib.crc32 over tens of MiB, which FNV-1a in
 * Python could not do in reasonable time. */
static uint32_t crc32_update(uint32_t crc, const char *data, size_t len) {
    static uint32_t table[256];
    if (!table[1])
        for (uint32_t i = 0; i < 256; i++) {
            uint32_t c = i;
            for (int k = 0; k < 8; k++) c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
            table[i] = c;
        }
    for (size_t i = 0; i < len; i++)
        crc = table[(crc ^ (unsigned char)data[i]) & 0xff] ^ (crc >> 8);
    return crc;
}

static void misuse(job *j, int rc) {
    size_t n = strlen(j->misuse);
    snprintf(j->misuse + n, sizeof j->misuse - n, "%s%s", n ? "," : "",
             rc ? eddy_err_name(rc) : "0");
}

static void on_headers(eddy_fetch *f, void *ud) {
    job *j = ud;
    j->saw_headers = 1;
    if (o.flow_misuse && !o.chunks) misuse(j, eddy_fetch_pause_body(f)); /* no chunk callback */
}

/* A resume waiting on a timer or stdin; `j` is cleared if the fetch ends first. */
typedef struct resumer {
    job *j;
} resumer;

static void resume_job(resumer *r) {
    job *j = r->j;
    free(r);
    if (!j) return;
    j->resumer = NULL;
    /* Still counted as paused during the call: resume must deliver nothing inside it. */
    int rc = eddy_fetch_resume_body(j->fetch);
    j->paused = 0;
    printf("{\"resumed\": \"%s\"}\n", eddy_err_name(rc));
    fflush(stdout);
}

static void resume_later(eddy_loop *loop, void *ud) {
    (void)loop;
    resume_job(ud);
}

static void on_resume_stdin(eddy_watch *watch, int fd, int events, void *ud) {
    (void)events;
    char buf[256];
    if (read(fd, buf, sizeof buf) < 0) perror("fetch_tool: stdin");
    eddy_watch_free(watch);
    resume_job(ud);
}

static void on_chunk(eddy_fetch *f, const char *data, size_t len, void *ud) {
    job *j = ud;
    if (o.chunk_sleep > 0) usleep((useconds_t)(o.chunk_sleep * 1e6));
    if (j->paused) j->paused_chunks++;
    j->chunks++;
    j->chunk_bytes += len;
    j->chunk_crc = crc32_update(j->chunk_crc, data, len);
    if (len > j->max_chunk) j->max_chunk = len;
    if (j->next_pause && j->chunk_bytes >= j->next_pause && !j->paused) {
        int rc = eddy_fetch_pause_body(f);
        if (o.flow_misuse) misuse(j, eddy_fetch_pause_body(f)); /* twice: still 0 */
        j->paused = rc == 0;
        j->pauses++;
        j->next_pause =
            j->pauses < o.pause_count ? j->chunk_bytes + (size_t)o.pause_after_bytes : 0;
        printf("{\"paused\": %zu, \"rc\": \"%s\"}\n", j->chunk_bytes, eddy_err_name(rc));
        fflush(stdout);
        resumer *r = malloc(sizeof *r);
        if (!r) abort();
        r->j = j;
        j->resumer = r;
        if (o.resume_stdin) {
            if (!eddy_watch_new(g_loop, 0, EDDY_READABLE, on_resume_stdin, r, NULL)) resume_job(r);
        } else {
            eddy_loop_call_later(g_loop, o.resume_after, resume_later, r, NULL);
        }
    }
}

/* --upload-pieces: the next 1 MiB piece, then a flush whose callback writes the one after. */
static void on_body_flushed(eddy_fetch *f, int status, void *ud);

static void write_piece(eddy_fetch *f, job *j) {
    static char piece[1 << 20];
    long long k = j->pieces_written;
    for (int b = 0; b < 8; b++) piece[b] = (char)((unsigned long long)k >> (56 - 8 * b));
    memset(piece + 8, (int)((k * 37 + 1) & 255), sizeof piece - 8);
    int rc = eddy_fetch_write_body(f, piece, sizeof piece);
    if (rc != 0) {
        printf("{\"write_error\": \"%s\"}\n", eddy_err_name(rc));
        return;
    }
    j->pieces_written++;
    printf("{\"written\": %lld, \"buffered\": %zu}\n", j->pieces_written << 20,
           eddy_fetch_body_buffered(f));
    fflush(stdout);
    if (j->pieces_written == o.upload_pieces) {
        rc = eddy_fetch_end_body(f);
        if (rc != 0) printf("{\"end_error\": \"%s\"}\n", eddy_err_name(rc));
    }
    j->flush_pending = 1;
    rc = eddy_fetch_flush_body(f, on_body_flushed); /* also after the end: the last bytes */
    if (rc != 0) {
        j->flush_pending = 0;
        printf("{\"flush_error\": \"%s\"}\n", eddy_err_name(rc));
    }
    if (!j->flush_pending) j->flush_cb_during_call = 1; /* ran inside the call: a bug */
    fflush(stdout);
}

static void on_body_flushed(eddy_fetch *f, int status, void *ud) {
    job *j = ud;
    j->flush_pending = 0;
    if (status != 0) {
        printf("{\"flush_status\": \"%s\", \"buffered\": %zu}\n", eddy_err_name(status),
               eddy_fetch_body_buffered(f));
        fflush(stdout);
        return;
    }
    if (j->pieces_written < o.upload_pieces) write_piece(f, j);
}

static void start_next_cb(eddy_loop *loop, void *ud) {
    (void)loop;
    (void)ud;
    start_next();
}

/* --pause-stdin: the next fetch starts once stdin has a line (or its end). */
static void on_stdin(eddy_watch *watch, int fd, int events, void *ud) {
    (void)events;
    (void)ud;
    char buf[256];
    if (read(fd, buf, sizeof buf) < 0) perror("fetch_tool: stdin");
    eddy_watch_free(watch);
    start_next();
}

static void cancel_all(eddy_loop *loop, void *ud) {
    (void)loop;
    (void)ud;
    for (int i = 0; i < 256; i++)
        if (g_inflight[i]) eddy_fetch_cancel(g_inflight[i]);
}

static void set_proxy(void) {
    char host[256];
    const char *colon = strrchr(o.proxy, ':');
    snprintf(host, sizeof host, "%.*s", (int)(colon - o.proxy), o.proxy);
    eddy_client_set_proxy(g_client, host, atoi(colon + 1));
}

static void set_proxy_cb(eddy_loop *loop, void *ud) {
    (void)loop;
    (void)ud;
    set_proxy();
}

static void free_client(eddy_loop *loop, void *ud) {
    (void)loop;
    (void)ud;
    eddy_client_free(g_client); /* every done runs before this returns */
    g_client = NULL;
}

static eddy_tls_context *verifying_context(void) {
    eddy_tls_context *tls = eddy_tls_context_new_client();
    if (o.cacert && eddy_tls_context_load_ca_file(tls, o.cacert) != 0) exit(3);
    return tls;
}

static void on_done(eddy_fetch *f, int error, void *ud) {
    if (o.signal_each) raise(SIGUSR2);
    if (o.tls_switch == 1) {
        o.tls_switch = 2;
        eddy_tls_context *tls = verifying_context();
        eddy_client_set_tls(g_client, tls);
        eddy_tls_context_free(tls);
    }
    job *j = ud;
    if (j->resumer) j->resumer->j = NULL;
    if (o.flow_misuse) {
        misuse(j, eddy_fetch_pause_body(f)); /* done: too late */
        misuse(j, eddy_fetch_resume_body(f));
        if (o.upload_pieces) {
            misuse(j, eddy_fetch_flush_body(f, on_body_flushed)); /* done: too late */
            misuse(j, (int)eddy_fetch_body_buffered(f));          /* 0 */
        }
    }
    if (o.upload_pieces && (j->flush_pending || j->flush_cb_during_call)) {
        /* A flush callback must run before `done`, and never inside eddy_fetch_flush_body. */
        printf("{\"flush_lost\": %d, \"flush_inside_call\": %d}\n", j->flush_pending,
               j->flush_cb_during_call);
    }
    for (int i = 0; i < 256; i++)
        if (g_inflight[i] == f) g_inflight[i] = NULL;
    size_t len, blen;
    const char *url = eddy_fetch_effective_url(f, &len);
    printf("{\"error\": \"%s\", \"status\": %d, \"effective_url\": ",
           error ? eddy_err_name(error) : "", eddy_fetch_response_status(f));
    json_str(url, len);
    const char *reason = eddy_fetch_response_reason(f, &len);
    printf(", \"reason\": ");
    json_str(reason, len);
    printf(", \"headers\": [");
    for (size_t i = 0; i < eddy_fetch_response_header_count(f); i++) {
        const char *n, *v;
        size_t nl, vl;
        eddy_fetch_response_header_at(f, i, &n, &nl, &v, &vl);
        printf("%s[", i ? ", " : "");
        json_str(n, nl);
        printf(", ");
        json_str(v, vl);
        printf("]");
    }
    const char *body = eddy_fetch_response_body(f, &blen);
    printf("], \"body_len\": %zu, \"body\": ", o.chunks ? j->chunk_bytes : blen);
    json_str(body, blen > 2000 ? 2000 : blen);
    printf(", \"body_hash\": \"%016llx\"", fnv1a(body, blen));
    printf(
        ", \"redirects\": %d, \"reused\": %d, \"chunks\": %d, \"max_chunk\": %zu, "
        "\"saw_headers\": %d",
        eddy_fetch_redirect_count(f), eddy_fetch_connection_reused(f), j->chunks, j->max_chunk,
        j->saw_headers);
    const char *detail = eddy_fetch_error_detail(f, &len);
    printf(", \"detail\": ");
    json_str(detail, len);
    printf(", \"chunk_crc\": %lu, \"paused_chunks\": %d, \"misuse\": \"%s\"}\n",
           (unsigned long)(j->chunk_crc ^ 0xffffffffu), j->paused_chunks, j->misuse);
    fflush(stdout);
    one_done();
}

/* A fetch ended (or could not start): the next one, or the end. */
static void one_done(void) {
    g_done++;
    if (g_done == g_total) {
        eddy_loop_stop(g_loop);
    } else if (o.sequential) {
        if (o.pause_stdin) {
            if (!eddy_watch_new(g_loop, 0, EDDY_READABLE, on_stdin, NULL, NULL)) start_next();
        } else if (o.pause > 0)
            eddy_loop_call_later(g_loop, o.pause, start_next_cb, NULL, NULL);
        else
            start_next();
    }
}

static void start_next(void) {
    if (g_next >= g_total) return;
    const char *url = g_urls[g_next % g_nurls];
    g_next++;
    if (o.signal_each) raise(SIGUSR1);
    /* The setters' results are not checked, on purpose: a header or body eddy could not store
     * (out of memory) must keep the request from going without it (test_oom_client.py). A
     * header eddy refuses (EDDY_EINVAL) gets a line of its own. */
    eddy_fetch *f = eddy_fetch_new(
        g_client, o.method ? o.method : (o.data || o.stream_body || o.body_size ? "POST" : "GET"),
        url);
    for (int i = 0; i < o.nheaders; i++) {
        const char *colon = strchr(o.headers[i], ':');
        if (!colon) continue;
        const char *v = colon + 1;
        while (*v == ' ') v++;
        int hrc =
            eddy_fetch_add_header(f, o.headers[i], (size_t)(colon - o.headers[i]), v, EDDY_NTS);
        if (f && hrc == EDDY_EINVAL) printf("{\"header_error\": \"%s\"}\n", eddy_err_name(hrc));
    }
    if (o.data) eddy_fetch_set_body(f, o.data, strlen(o.data));
    if (o.body_size > 0) {
        char *big = malloc((size_t)o.body_size);
        if (big) {
            memset(big, 'x', (size_t)o.body_size);
            eddy_fetch_set_body(f, big, (size_t)o.body_size); /* copied */
            free(big);
        }
    }
    if (o.stream_body) eddy_fetch_set_body_stream(f, o.stream_length);
    if (o.upload_pieces)
        eddy_fetch_set_body_stream(f, o.upload_chunked ? -1 : o.upload_pieces << 20);
    if (o.connect_timeout >= 0) eddy_fetch_set_connect_timeout(f, o.connect_timeout);
    if (o.timeout >= 0) eddy_fetch_set_request_timeout(f, o.timeout);
    if (o.read_timeout >= 0) eddy_fetch_set_read_timeout(f, o.read_timeout);
    if (o.max_body >= 0) eddy_fetch_set_max_body_size(f, (size_t)o.max_body);
    if (o.max_redirects >= 0) eddy_fetch_set_max_redirects(f, o.max_redirects);
    eddy_fetch_set_decompress(f, o.decompress);
    eddy_fetch_set_expect_continue(f, o.expect);
    if (o.connect_to) { /* HOST:PORT, the last colon separating the port */
        char host[256];
        const char *colon = strrchr(o.connect_to, ':');
        size_t n = colon ? (size_t)(colon - o.connect_to) : 0;
        if (!colon || n >= sizeof host) {
            fprintf(stderr, "fetch_tool: --connect-to HOST:PORT\n");
            exit(2);
        }
        memcpy(host, o.connect_to, n);
        host[n] = '\0';
        int rc = eddy_fetch_set_connect_to(f, host, atoi(colon + 1));
        if (rc != 0) printf("{\"connect_to_error\": \"%s\"}\n", eddy_err_name(rc));
    }
    if (o.unix_socket && f) {
        /* Out of memory, eddy_fetch_start refuses the fetch (its "start_error" says so). */
        int rc = eddy_fetch_set_unix_socket(f, o.unix_socket);
        if (rc != 0 && rc != EDDY_ENOMEM)
            printf("{\"unix_socket_error\": \"%s\"}\n", eddy_err_name(rc));
    }
    eddy_fetch_set_callbacks(f, on_headers, o.chunks ? on_chunk : NULL);
    job *j = calloc(1, sizeof *j);
    if (j) {
        j->chunk_crc = 0xffffffffu;
        j->fetch = f;
        if (o.pause_after_bytes > 0) j->next_pause = (size_t)o.pause_after_bytes;
        if (o.flow_misuse && o.upload_pieces) {
            misuse(j, eddy_fetch_flush_body(NULL, on_body_flushed));
            misuse(j, eddy_fetch_flush_body(f, NULL));
            misuse(j, eddy_fetch_flush_body(f, on_body_flushed)); /* not started */
            misuse(j, (int)eddy_fetch_body_buffered(NULL));       /* 0 */
        }
        if (o.flow_misuse) {
            misuse(j, eddy_fetch_pause_body(NULL));
            misuse(j, eddy_fetch_pause_body(f)); /* not started */
            misuse(j, eddy_fetch_resume_body(f));
        }
    }
    /* Out of memory (test_oom_client.py), the fetch or its job may be missing: a start error. */
    int rc = f && j ? eddy_fetch_start(f, on_done, j, free) : EDDY_ENOMEM;
    if (rc != 0) {
        if (o.signal_each) raise(SIGUSR2);
        printf("{\"start_error\": \"%s\"}\n", eddy_err_name(rc));
        fflush(stdout);
        free(j);
        eddy_fetch_free(f);
        one_done();
        return;
    }
    for (int k = 0; k < 256; k++)
        if (!g_inflight[k]) {
            g_inflight[k] = f;
            break;
        }
    if (o.upload_pieces) {
        if (o.flow_misuse) { /* nothing written yet: a flush is due at once, from the loop */
            j->flush_pending = 1;
            misuse(j, eddy_fetch_flush_body(f, on_body_flushed));
            if (!j->flush_pending) j->flush_cb_during_call = 1;
        } else {
            write_piece(f, j);
        }
    }
    if (o.stream_body) { /* in three writes, the last after start */
        size_t n = strlen(o.stream_body), third = n / 3;
        eddy_fetch_write_body(f, o.stream_body, third);
        eddy_fetch_write_body(f, o.stream_body + third, third);
        eddy_fetch_write_body(f, o.stream_body + 2 * third, n - 2 * third);
        eddy_fetch_end_body(f);
    }
}

static void raise_max_clients(eddy_loop *loop, void *userdata) {
    (void)loop;
    (void)userdata;
    if (g_client && eddy_client_set_max_clients(g_client, (size_t)o.later_max_clients) != 0)
        fprintf(stderr, "eddy_client_set_max_clients(%d) failed\n", o.later_max_clients);
}

int main(int argc, char **argv) {
    int i = 1, max_clients = 0, no_reuse = 0;
    for (; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : "";
        if (!strcmp(a, "--cacert"))
            o.cacert = argv[++i];
        else if (!strcmp(a, "--no-verify"))
            o.verify = 0;
        else if (!strcmp(a, "--proxy"))
            o.proxy = argv[++i];
        else if (!strcmp(a, "--connect-to"))
            o.connect_to = argv[++i];
        else if (!strcmp(a, "--unix-socket"))
            o.unix_socket = argv[++i];
        else if (!strcmp(a, "--max-clients"))
            max_clients = atoi(argv[++i]);
        else if (!strcmp(a, "--sequential"))
            o.sequential = 1;
        else if (!strcmp(a, "--repeat"))
            o.repeat = atoi(argv[++i]);
        else if (!strcmp(a, "--connect-timeout"))
            o.connect_timeout = atof(argv[++i]);
        else if (!strcmp(a, "--timeout"))
            o.timeout = atof(argv[++i]);
        else if (!strcmp(a, "--max-body"))
            o.max_body = atoll(argv[++i]);
        else if (!strcmp(a, "--no-decompress"))
            o.decompress = 0;
        else if (!strcmp(a, "--expect-continue"))
            o.expect = 1;
        else if (!strcmp(a, "--header") && o.nheaders < 16)
            o.headers[o.nheaders++] = argv[++i];
        else if (!strcmp(a, "--method"))
            o.method = argv[++i];
        else if (!strcmp(a, "--data"))
            o.data = argv[++i];
        else if (!strcmp(a, "--body-size"))
            o.body_size = atoll(argv[++i]);
        else if (!strcmp(a, "--stream-body"))
            o.stream_body = argv[++i];
        else if (!strcmp(a, "--stream-length"))
            o.stream_length = atoll(argv[++i]);
        else if (!strcmp(a, "--max-redirects"))
            o.max_redirects = atoi(argv[++i]);
        else if (!strcmp(a, "--upload-pieces"))
            o.upload_pieces = atoll(argv[++i]);
        else if (!strcmp(a, "--upload-chunked"))
            o.upload_chunked = 1;
        else if (!strcmp(a, "--chunks"))
            o.chunks = 1;
        else if (!strcmp(a, "--signal-each-fetch"))
            o.signal_each = 1;
        else if (!strcmp(a, "--read-timeout"))
            o.read_timeout = atof(argv[++i]);
        else if (!strcmp(a, "--pause-after-bytes"))
            o.pause_after_bytes = atoll(argv[++i]);
        else if (!strcmp(a, "--pause-count"))
            o.pause_count = atoi(argv[++i]);
        else if (!strcmp(a, "--resume-after"))
            o.resume_after = atof(argv[++i]);
        else if (!strcmp(a, "--resume-stdin"))
            o.resume_stdin = 1;
        else if (!strcmp(a, "--chunk-sleep"))
            o.chunk_sleep = atof(argv[++i]);
        else if (!strcmp(a, "--flow-misuse"))
            o.flow_misuse = 1;
        else if (!strcmp(a, "--no-reuse"))
            no_reuse = 1;
        else if (!strcmp(a, "--proxy-after"))
            o.proxy_after = atof(argv[++i]);
        else if (!strcmp(a, "--max-clients-after") && i + 2 < argc) {
            o.max_clients_after = atof(argv[++i]);
            o.later_max_clients = atoi(argv[++i]);
        } else if (!strcmp(a, "--no-proxy-after-start"))
            o.no_proxy_after_start = 1;
        else if (!strcmp(a, "--tls-switch"))
            o.tls_switch = 1;
        else if (!strcmp(a, "--pause"))
            o.pause = atof(argv[++i]);
        else if (!strcmp(a, "--pause-stdin"))
            o.pause_stdin = 1;
        else if (!strcmp(a, "--cancel-after"))
            o.cancel_after = atof(argv[++i]);
        else if (!strcmp(a, "--free-client-after"))
            o.free_after = atof(argv[++i]);
        else {
            fprintf(stderr, "bad option %s %s\n", a, v);
            return 2;
        }
    }
    g_urls = argv + i;
    g_nurls = argc - i;
    if (g_nurls == 0) return 2;
    g_total = g_nurls * o.repeat;
    eddy_set_log_level(EDDY_LOG_INFO);
    g_loop = eddy_loop_new();
    g_client = eddy_client_new(g_loop);
    if (max_clients > 0) eddy_client_set_max_clients(g_client, (size_t)max_clients);
    if (no_reuse) eddy_client_set_max_idle_per_host(g_client, 0);
    eddy_tls_context *tls = verifying_context();
    if (!o.verify || o.tls_switch) eddy_tls_context_set_verify(tls, EDDY_TLS_VERIFY_NONE);
    eddy_client_set_tls(g_client, tls);
    eddy_tls_context_free(tls);
    if (o.proxy && o.proxy_after > 0)
        eddy_loop_call_later(g_loop, o.proxy_after, set_proxy_cb, NULL, NULL);
    else if (o.proxy)
        set_proxy();
    if (o.sequential) {
        start_next();
    } else {
        while (g_next < g_total) start_next();
    }
    if (o.no_proxy_after_start) eddy_client_set_proxy(g_client, NULL, 0);
    if (o.max_clients_after > 0)
        eddy_loop_call_later(g_loop, o.max_clients_after, raise_max_clients, NULL, NULL);
    if (o.cancel_after > 0) eddy_loop_call_later(g_loop, o.cancel_after, cancel_all, NULL, NULL);
    if (o.free_after > 0) eddy_loop_call_later(g_loop, o.free_after, free_client, NULL, NULL);
    if (g_done < g_total) eddy_loop_run(g_loop);
    if (g_client) eddy_client_free(g_client);
    eddy_loop_free(g_loop);
    return 0;
}
