/* C side of the Go binding's WebSockets (routes and clients): trampolines calling the exports
 * of websocket.go and websocket_client.go. */
#ifndef EDDY_GO_SHIM_WS_H
#define EDDY_GO_SHIM_WS_H

#include <eddy/eddy.h>
#include <eddy/websocket.h>

void eddy_go_ws_open(eddy_ws *ws, void *ud);
void eddy_go_ws_message(eddy_ws *ws, const char *data, size_t len, int binary, void *ud);
void eddy_go_ws_close(eddy_ws *ws, int code, const char *reason, size_t len, void *ud);
void eddy_go_ws_ping(eddy_ws *ws, const char *data, size_t len, void *ud);
void eddy_go_ws_pong(eddy_ws *ws, const char *data, size_t len, void *ud);
/* Server handshake hooks (userdata: the route's handle). */
int eddy_go_ws_check_origin(eddy_handler *h, const char *origin, size_t len, void *ud);
int eddy_go_ws_select_subprotocol(eddy_handler *h, const char *const *protocols,
                                  const size_t *lens, size_t count, void *ud);
void eddy_go_release_ws(void *ud);
/* Backpressure: the write buffer dropped to the mark (userdata: the route's or the dial's). */
void eddy_go_ws_drain(eddy_ws *ws, void *ud);
/* Client: the connect outcome and a refused handshake (userdata: the dial's handle). */
void eddy_go_ws_connect(eddy_ws *ws, int status, void *ud);
void eddy_go_ws_refused(int status, const char *reason, size_t len, void *ud);

#endif
