/* C side of the Go binding: trampolines with the exact eddy callback signatures, each calling
 * one exported Go function (callbacks.go). Kept in C so that Go never needs a C function
 * pointer to a Go function. */
#ifndef EDDY_GO_SHIM_H
#define EDDY_GO_SHIM_H

#include <eddy/eddy.h>
#include <stdint.h>

/* Method callbacks, one per common method so the Go side knows the method without asking. */
void eddy_go_method_get(eddy_handler *h, void *ud);
void eddy_go_method_head(eddy_handler *h, void *ud);
void eddy_go_method_post(eddy_handler *h, void *ud);
void eddy_go_method_put(eddy_handler *h, void *ud);
void eddy_go_method_delete(eddy_handler *h, void *ud);
void eddy_go_method_patch(eddy_handler *h, void *ud);
void eddy_go_method_options(eddy_handler *h, void *ud);
void eddy_go_method_other(eddy_handler *h, void *ud);

void eddy_go_prepare(eddy_handler *h, void *ud);
void eddy_go_on_finish(eddy_handler *h, void *ud);
void eddy_go_on_connection_close(eddy_handler *h, void *ud);
void eddy_go_default_headers(eddy_handler *h, void *ud);
void eddy_go_write_error(eddy_handler *h, int status, void *ud);
void eddy_go_data_received(eddy_handler *h, const char *data, size_t len, void *ud);

/* Marks the calling thread as the thread of the Go eventLoop `id` (eventloop.go; 0: none), and
 * reads that mark. Thread-local, so only the loop thread ever carries its loop's id, and a
 * thread made later (even one the kernel gives the same thread id) starts unmarked. */
void eddy_go_set_thread_loop(uint64_t id);
uint64_t eddy_go_thread_loop(void);

/* Runs the App's queue of posted work on the loop thread. */
void eddy_go_drain(eddy_loop *loop, void *ud);
/* A server's graceful shutdown finished (eddy_server_shutdown's `done`; App.Shutdown). */
void eddy_go_server_done(eddy_server *server, void *ud);
/* Free callbacks: delete the cgo.Handle held in `ud`. */
void eddy_go_release_handle(void *ud);
void eddy_go_release_exchange(void *ud);

/* The raw HTTP server (App.ServeAll): the request callback and the close callback. */
void eddy_go_raw_request(eddy_request *req, void *ud);
void eddy_go_raw_close(eddy_request *req, void *ud);

/* Response calls for both kinds of exchange: a web-layer handler (h) or a raw request (r). */
static inline int eddy_go_write(eddy_handler *h, eddy_request *r, const void *p, size_t n) {
    return h ? eddy_handler_write(h, p, n) : eddy_request_write(r, p, n);
}
static inline int eddy_go_flush(eddy_handler *h, eddy_request *r) {
    return h ? eddy_handler_flush(h, NULL) : eddy_request_flush(r, NULL);
}
static inline int eddy_go_finish(eddy_handler *h, eddy_request *r) {
    return h ? eddy_handler_finish(h) : eddy_request_finish(r);
}

/* A cgo.Handle is an integer; C stores it as void*. */
static inline void *eddy_go_handle_ptr(uintptr_t h) { return (void *)h; }

#endif
