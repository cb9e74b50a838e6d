package eddy

// #include "shim.h"
// #include <stdlib.h>
import "C"

import "unsafe"

// ReverseURL returns the path of the route named with Route.Name, its groups filled with
// args in order (percent-encoded), as Tornado's reverse_url. ErrNotFound: no route has that
// name; ErrInvalid: the argument count does not fit, or the pattern cannot be reversed;
// ErrState: the app is not running (routes are registered by Start). Thread: any goroutine
// (off the loop thread the call runs there and is waited for).
func (a *App) ReverseURL(name string, args ...string) (string, error) {
	if !a.onLoopThread() {
		var url string
		err := a.onLoop(func() error {
			var err error
			url, err = a.ReverseURL(name, args...)
			return err
		})
		if err == ErrClosed { // the loop is not running (eddy's reverse_url has no ECLOSED)
			err = ErrState
		}
		return url, err
	}
	if a.capp == nil {
		return "", ErrState
	}
	// The arguments go to C in C memory (cgo forbids Go pointers inside passed memory).
	n := len(args)
	ptrs := (*[1 << 20]*C.char)(C.malloc(C.size_t(n+1) * C.size_t(unsafe.Sizeof((*C.char)(nil)))))
	lens := (*[1 << 20]C.size_t)(C.malloc(C.size_t(n+1) * C.size_t(unsafe.Sizeof(C.size_t(0)))))
	defer C.free(unsafe.Pointer(ptrs))
	defer C.free(unsafe.Pointer(lens))
	for i, arg := range args {
		ptrs[i] = C.CString(arg)
		lens[i] = C.size_t(len(arg))
		defer C.free(unsafe.Pointer(ptrs[i]))
	}
	cname := C.CString(name)
	defer C.free(unsafe.Pointer(cname))
	size := C.size_t(256)
	for {
		out := (*C.char)(C.malloc(size))
		var outLen C.size_t
		rc := C.eddy_app_reverse_url(a.capp, cname, C.size_t(len(name)), &ptrs[0], &lens[0],
			C.size_t(n), out, size, &outLen)
		if rc == C.EDDY_ETOOBIG && outLen+1 > size {
			C.free(unsafe.Pointer(out))
			size = outLen + 1
			continue
		}
		url := C.GoStringN(out, C.int(outLen))
		C.free(unsafe.Pointer(out))
		if err := check(rc); err != nil {
			return "", err
		}
		return url, nil
	}
}
