/* C side of the Go binding's HTTP client: trampolines calling the exports of
 * httpclient_callbacks.go (userdata: the cgo.Handle of the Go Fetch). */
#ifndef EDDY_GO_SHIM_CLIENT_H
#define EDDY_GO_SHIM_CLIENT_H

#include <eddy/eddy.h>

void eddy_go_fetch_headers(eddy_fetch *fetch, void *ud);
void eddy_go_fetch_chunk(eddy_fetch *fetch, const char *data, size_t len, void *ud);
void eddy_go_fetch_done(eddy_fetch *fetch, int error, void *ud);
/* eddy_fetch_flush_body's completion: to goFetchFlushed. */
void eddy_go_fetch_flushed(eddy_fetch *fetch, int status, void *ud);

#endif
