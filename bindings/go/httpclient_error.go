package eddy

// #include <eddy/eddy.h>
import "C"

// FetchError is the error of a failed fetch when eddy knows more than its code
// (eddy_fetch_error_detail): why a TLS handshake or certificate check failed, e.g.
// "certificate verification: hostname mismatch", or which address a connect failed on and why
// ("connect to 127.0.0.1:9: Connection refused"). It wraps the code, so errors.Is(err, ErrTLS)
// holds as for a bare Error; errors.As(err, &fe) reaches the detail. A failure with nothing
// beyond its code stays a bare Error, so comparisons with == keep working for those.
type FetchError struct {
	Code   Error  // the EDDY_E* code (ErrTLS, ...)
	Detail string // what eddy knows beyond it, never ""
}

// Error returns the code's description followed by the detail:
// "eddy: TLS handshake or certificate verification failed: certificate verification: hostname
// mismatch".
func (e *FetchError) Error() string { return e.Code.Error() + ": " + e.Detail }

// Unwrap gives the code, for errors.Is.
func (e *FetchError) Unwrap() error { return e.Code }

// fetchError is the error for code of the fetch cf (valid during its done callback only): a
// *FetchError when eddy has a detail, else the bare code.
func fetchError(cf *C.eddy_fetch, code C.int) error {
	var n C.size_t
	if detail := C.eddy_fetch_error_detail(cf, &n); detail != nil && n > 0 {
		return &FetchError{Code: Error(code), Detail: C.GoStringN(detail, C.int(n))}
	}
	return Error(code)
}
