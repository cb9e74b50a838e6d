#include "shim_client.h"
#include "_cgo_export.h"

void eddy_go_fetch_headers(eddy_fetch *fetch, void *ud) { goFetchHeaders(fetch, ud); }
void eddy_go_fetch_chunk(eddy_fetch *fetch, const char *data, size_t len, void *ud) {
    goFetchChunk(fetch, (char *)data, len, ud);
}
void eddy_go_fetch_done(eddy_fetch *fetch, int error, void *ud) { goFetchDone(fetch, error, ud); }
void eddy_go_fetch_flushed(eddy_fetch *fetch, int status, void *ud) {
    goFetchFlushed(fetch, status, ud);
}
