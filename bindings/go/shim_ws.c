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
void eddy_go_release_ws(void *ud) { goReleaseWS(ud); }
void eddy_go_ws_connect(eddy_ws *ws, int status, void *ud) { goWSConnect(ws, status, ud); }
void eddy_go_ws_refused(int status, const char *reason, size_t len, void *ud) {
    goWSRefused(status, (char *)reason, len, ud);
}
