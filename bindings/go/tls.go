package eddy

// #include <stdlib.h>
// #include <eddy/tls.h>
// #include <eddy/websocket.h>
import "C"

import (
	"fmt"
	"unsafe"
)

// ClientAuth says whether an HTTPS server asks for client certificates (the names of
// crypto/tls.ClientAuthType).
type ClientAuth int

const (
	NoClientCert               ClientAuth = iota // do not ask (the default)
	VerifyClientCertIfGiven                      // ask; check a certificate when one is sent
	RequireAndVerifyClientCert                   // ask; fail the handshake without a good one
)

// ServerTLS configures HTTPS (and wss://) serving, for SetTLS (of an App or a Server).
type ServerTLS struct {
	CertFile string // PEM certificate chain, leaf first
	KeyFile  string // PEM private key of the certificate
	// ClientCAFile: PEM CA certificates client certificates must be signed by (needed when
	// ClientAuth asks for certificates).
	ClientCAFile string
	ClientAuth   ClientAuth
}

// ClientTLS configures the TLS of client connections: wss:// for a WebSocketClient, https://
// for an HTTPClient. The zero value is eddy's default: the system's CAs, certificate and host
// name verified.
type ClientTLS struct {
	// InsecureSkipVerify accepts any certificate and host name (Tornado's validate_cert=False).
	InsecureSkipVerify bool
	CAFile             string // PEM CA certificates trusted besides the system's (ca_certs)
	CertFile, KeyFile  string // a client certificate and its key (client_cert, client_key)
}

// SetTLS makes the server (the App's, or a Server of App.AddServer) serve HTTPS (and wss://)
// with cfg: every connection speaks TLS and requests report the scheme "https". The files are
// read by Start, which returns an error (wrapping ErrInvalid; eddy's log line says why) when
// one is unreadable, the key does not match, or ClientAuth asks for certificates without a
// ClientCAFile.
func (c *serverConfig) SetTLS(cfg ServerTLS) {
	c.app.mustNotBeStarted("SetTLS")
	c.options = append(c.options, func(s *C.eddy_server) error {
		ctx, err := cfg.context()
		if err != nil {
			return err
		}
		defer C.eddy_tls_context_free(ctx) // the server keeps its own reference
		return check(C.eddy_server_set_tls(s, ctx))
	})
}

// context makes the server context cfg describes (loading its files); the caller releases it
// with eddy_tls_context_free once it handed it over.
func (cfg *ServerTLS) context() (*C.eddy_tls_context, error) {
	ctx := C.eddy_tls_context_new_server()
	if ctx == nil {
		return nil, ErrNoMemory
	}
	if err := cfg.configure(ctx); err != nil {
		C.eddy_tls_context_free(ctx)
		return nil, err
	}
	return ctx, nil
}

func (cfg *ServerTLS) configure(ctx *C.eddy_tls_context) error {
	if err := loadCert(ctx, cfg.CertFile, cfg.KeyFile); err != nil {
		return err
	}
	if cfg.ClientAuth == NoClientCert {
		return nil
	}
	if cfg.ClientCAFile == "" {
		return fmt.Errorf("eddy: TLS ClientAuth without a ClientCAFile: %w", ErrInvalid)
	}
	if err := loadCA(ctx, cfg.ClientCAFile); err != nil {
		return err
	}
	mode := C.int(C.EDDY_TLS_VERIFY_OPTIONAL)
	if cfg.ClientAuth == RequireAndVerifyClientCert {
		mode = C.EDDY_TLS_VERIFY_REQUIRED
	}
	return check(C.eddy_tls_context_set_verify(ctx, mode))
}

func loadCert(ctx *C.eddy_tls_context, certFile, keyFile string) error {
	cc, ck := C.CString(certFile), C.CString(keyFile)
	defer C.free(unsafe.Pointer(cc))
	defer C.free(unsafe.Pointer(ck))
	if err := check(C.eddy_tls_context_load_cert_file(ctx, cc, ck)); err != nil {
		return fmt.Errorf("eddy: TLS certificate %s / key %s: %w", certFile, keyFile, err)
	}
	return nil
}

func loadCA(ctx *C.eddy_tls_context, caFile string) error {
	cp := C.CString(caFile)
	defer C.free(unsafe.Pointer(cp))
	if err := check(C.eddy_tls_context_load_ca_file(ctx, cp)); err != nil {
		return fmt.Errorf("eddy: TLS CA file %s: %w", caFile, err)
	}
	return nil
}

// apply sets the client context cfg asks for on opts (nothing for the zero value).
func (cfg *ClientTLS) apply(opts *C.eddy_ws_options) error {
	ctx, err := cfg.context()
	if ctx == nil || err != nil {
		return err
	}
	defer C.eddy_tls_context_free(ctx) // the options keep their own reference
	return check(C.eddy_ws_options_set_tls(opts, ctx))
}

// context makes the client context cfg asks for: nil (and no error) for the zero value, else a
// context the caller releases with eddy_tls_context_free once it handed it over.
func (cfg *ClientTLS) context() (*C.eddy_tls_context, error) {
	if *cfg == (ClientTLS{}) {
		return nil, nil
	}
	return cfg.newContext()
}

// newContext makes a client context for cfg, also for the zero value (eddy's defaults).
func (cfg *ClientTLS) newContext() (*C.eddy_tls_context, error) {
	ctx := C.eddy_tls_context_new_client()
	if ctx == nil {
		return nil, ErrNoMemory
	}
	err := cfg.configure(ctx)
	if err != nil {
		C.eddy_tls_context_free(ctx)
		return nil, err
	}
	return ctx, nil
}

func (cfg *ClientTLS) configure(ctx *C.eddy_tls_context) error {
	if cfg.InsecureSkipVerify {
		if err := check(C.eddy_tls_context_set_verify(ctx, C.EDDY_TLS_VERIFY_NONE)); err != nil {
			return err
		}
	}
	if cfg.CAFile != "" {
		if err := loadCA(ctx, cfg.CAFile); err != nil {
			return err
		}
	}
	if cfg.CertFile != "" || cfg.KeyFile != "" {
		return loadCert(ctx, cfg.CertFile, cfg.KeyFile)
	}
	return nil
}
