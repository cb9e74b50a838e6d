#include "shim_tcp.h"
#include "_cgo_export.h"

void eddy_go_tcp_accept(eddy_listener *listener, eddy_stream *stream, const char *peer_ip,
                        int peer_port, void *ud) {
    goTCPAccept(stream, (char *)peer_ip, peer_port, ud);
}
void eddy_go_stream_read(eddy_stream *stream, const char *data, size_t len, void *ud) {
    goStreamRead((char *)data, len, ud);
}
void eddy_go_stream_write(eddy_stream *stream, int status, void *ud) { goStreamWrite(status, ud); }
void eddy_go_stream_close(eddy_stream *stream, int error, void *ud) { goStreamClose(error, ud); }
void eddy_go_release_stream(void *ud) { goReleaseStream(ud); }
void eddy_go_tcp_connect(eddy_loop *loop, eddy_stream *stream, int error, void *ud) {
    goTCPConnect(stream, error, ud);
}
void eddy_go_release_dial(void *ud) { goReleaseDial(ud); }
void eddy_go_handshake(eddy_stream *stream, int error, void *ud) { goHandshake(error, ud); }
void eddy_go_release_handshake(void *ud) { goReleaseHandshake(ud); }
