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
		type result struct {
			url string
			err error
		}
		ch := make(chan result, 1)
		if !a.Call(func() {
			url, err := a.ReverseURL(name, args...)
			ch <- result{url, err}
		}) {
			return "", ErrState
		}
		select {
		case r := <-ch:
			return r.url, r.err
		case <-a.done: // the loop stopped before it ran the call (posted work is dropped then)
			select {
			case r := <-ch:
				return r.url, r.err
			default:
				return "", ErrState
			}
		}
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
