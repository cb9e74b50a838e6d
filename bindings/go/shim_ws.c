#include "shim_ws.h"
#include "_cgo_export.h"

void eddy_go_ws_open(eddy_ws *ws, void *ud) { goWSOpen(ws, ud); }
void eddy_go_ws_message(eddy_ws *ws, const char *data, size_t len, int binary, void *ud) {
    goWSMessage(ws, (char *)data, len, binary, ud);
}
void eddy_go_ws_close(eddy_ws *ws, int code, const char *reason, size_t len, void *ud) {
    goWSClose(ws, code, (char *)reason, len, ud);
}
void eddy_go_ws_ping(eddy_ws *ws, const char *data, size_t len, void *ud) {
    goWSPing(ws, (char *)data, len, ud);
}
void eddy_go_ws_pong(eddy_ws *ws, const char *data, size_t len, void *ud) {
    goWSPong(ws, (char *)data, len, ud);
}
int eddy_go_ws_check_origin(eddy_handler *h, const char *origin, size_t len, void *ud) {
    return goWSCheckOrigin(h, (char *)origin, len, ud);
}
int eddy_go_ws_select_subprotocol(eddy_handler *h, const char *const *protocols,
                                  const size_t *lens, size_t count, void *ud) {
    return goWSSelectSubprotocol(h, (char **)protocols, (size_t *)lens, count, ud);
}
void eddy_go_release_ws(void *ud) { goReleaseWS(ud); }
void eddy_go_ws_drain(eddy_ws *ws, void *ud) { goWSDrain(ws); }
void eddy_go_ws_connect(eddy_ws *ws, int status, void *ud) { goWSConnect(ws, status, ud); }
void eddy_go_ws_refused(int status, const char *reason, size_t len, void *ud) {
    goWSRefused(status, (char *)reason, len, ud);
}
