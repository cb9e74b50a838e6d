#include "shim.h"
#include "_cgo_export.h"

enum { M_GET, M_HEAD, M_POST, M_PUT, M_DELETE, M_PATCH, M_OPTIONS, M_OTHER };

#define EDDY_GO_METHOD(name, index)                                                                \
    void eddy_go_method_##name(eddy_handler *h, void *ud) { goMethod(h, ud, index); }
EDDY_GO_METHOD(get, M_GET)
EDDY_GO_METHOD(head, M_HEAD)
EDDY_GO_METHOD(post, M_POST)
EDDY_GO_METHOD(put, M_PUT)
EDDY_GO_METHOD(delete, M_DELETE)
EDDY_GO_METHOD(patch, M_PATCH)
EDDY_GO_METHOD(options, M_OPTIONS)
EDDY_GO_METHOD(other, M_OTHER)

enum { HOOK_PREPARE, HOOK_ON_FINISH, HOOK_CONNECTION_CLOSE, HOOK_DEFAULT_HEADERS };

void eddy_go_prepare(eddy_handler *h, void *ud) { goHook(h, ud, HOOK_PREPARE); }
void eddy_go_on_finish(eddy_handler *h, void *ud) { goHook(h, ud, HOOK_ON_FINISH); }
void eddy_go_on_connection_close(eddy_handler *h, void *ud) {
    goHook(h, ud, HOOK_CONNECTION_CLOSE);
}
void eddy_go_default_headers(eddy_handler *h, void *ud) { goHook(h, ud, HOOK_DEFAULT_HEADERS); }
void eddy_go_write_error(eddy_handler *h, int status, void *ud) { goWriteError(h, status, ud); }
void eddy_go_data_received(eddy_handler *h, const char *data, size_t len, void *ud) {
    goDataReceived(h, (char *)data, len, ud);
}
/* Here, not in shim.h: a static thread-local in a header would be one per cgo file. */
static _Thread_local uint64_t thread_loop;
void eddy_go_set_thread_loop(uint64_t id) { thread_loop = id; }
uint64_t eddy_go_thread_loop(void) { return thread_loop; }

void eddy_go_drain(eddy_loop *loop, void *ud) { goDrain(ud); }
void eddy_go_server_done(eddy_server *server, void *ud) { goServerDone(ud); }
void eddy_go_release_handle(void *ud) { goReleaseHandle(ud); }
void eddy_go_release_exchange(void *ud) { goReleaseExchange(ud); }
void eddy_go_raw_request(eddy_request *req, void *ud) { goRawRequest(req, ud); }
void eddy_go_raw_close(eddy_request *req, void *ud) { goRawClose(req, ud); }
