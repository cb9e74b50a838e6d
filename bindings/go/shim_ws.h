/* C side of the Go binding's WebSocket routes: trampolines calling the exports of
 * websocket.go. */
#ifndef EDDY_GO_SHIM_WS_H
#define EDDY_GO_SHIM_WS_H

#include <eddy/eddy.h>
#include <eddy/websocket.h>

void eddy_go_ws_open(eddy_ws *ws, void *ud);
void eddy_go_ws_message(eddy_ws *ws, const char *data, size_t len, int binary, void *ud);
void eddy_go_ws_close(eddy_ws *ws, int code, const char *reason, size_t len, void *ud);
void eddy_go_release_ws(void *ud);

#endif
