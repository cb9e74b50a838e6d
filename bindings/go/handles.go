package eddy

import (
	"runtime/cgo"
	"sync/atomic"
)

// Every Go value handed to C is a cgo.Handle made here and deleted by the free callback eddy
// calls when it drops the userdata; liveHandles counts them so tests can check nothing leaks.
var liveHandles atomic.Int64

func newHandle(v interface{}) cgo.Handle {
	liveHandles.Add(1)
	return cgo.NewHandle(v)
}

func deleteHandle(h cgo.Handle) {
	h.Delete()
	liveHandles.Add(-1)
}
