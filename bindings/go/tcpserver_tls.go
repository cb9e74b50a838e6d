package eddy

// #include "shim.h"
// #include "shim_tcp.h"
import "C"

// SetTLS makes the server speak TLS with cfg (the same ServerTLS as App.SetTLS, through
// eddy_listener_set_tls; Tornado's ssl_options): every connection it accepts is a server TLS
// stream (Stream.IsTLS) whose handshake starts at once; reads and writes
// issued before it completes wait for it, and a failed handshake closes the stream (its
// pending call returns a *StreamClosedError wrapping ErrTLS, or ErrTimedOut). The files are
// read by Start, which returns an error wrapping ErrInvalid when one is unreadable, the key
// does not match, or ClientAuth asks for certificates without a ClientCAFile. Call before
// Start.
func (srv *TCPServer) SetTLS(cfg ServerTLS) {
	srv.mustNotBeStarted("SetTLS")
	srv.tlsConfig = &cfg
}

// setTLS hands the listener its TLS context (loop thread, during Start).
func (srv *TCPServer) setTLS() error {
	if srv.tlsConfig == nil {
		return nil
	}
	ctx, err := srv.tlsConfig.context()
	if err != nil {
		return err
	}
	defer C.eddy_tls_context_free(ctx) // the listener keeps its own reference
	return check(C.eddy_listener_set_tls(srv.listener, ctx))
}
