/* C side of the Go binding's raw TCP layer (TCPServer, Stream, DialTCP): trampolines calling
 * the exports of tcpserver.go, stream*.go and tcpclient.go. Userdata: the cgo.Handle of the Go
 * TCPServer (listener), Stream (stream) or dial (connect). */
#ifndef EDDY_GO_SHIM_TCP_H
#define EDDY_GO_SHIM_TCP_H

#include <eddy/eddy.h>

void eddy_go_tcp_accept(eddy_listener *listener, eddy_stream *stream, const char *peer_ip,
                        int peer_port, void *ud);
void eddy_go_stream_read(eddy_stream *stream, const char *data, size_t len, void *ud);
void eddy_go_stream_write(eddy_stream *stream, int status, void *ud);
void eddy_go_stream_close(eddy_stream *stream, int error, void *ud);
/* The stream's free_userdata: runs once, when eddy releases the stream. */
void eddy_go_release_stream(void *ud);
void eddy_go_tcp_connect(eddy_loop *loop, eddy_stream *stream, int error, void *ud);
/* The connect's free_userdata: hands the outcome to the waiting DialTCP. */
void eddy_go_release_dial(void *ud);
/* eddy_stream_wait_for_handshake's callback and free_userdata (a WaitForHandshake). */
void eddy_go_handshake(eddy_stream *stream, int error, void *ud);
void eddy_go_release_handshake(void *ud);

#endif
