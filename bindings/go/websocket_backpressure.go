package eddy

// #include "shim.h"
// #include "shim_ws.h"
import "C"

// WebSocket backpressure (server and client connections alike): WriteMessage never blocks and
// the connection's write buffer has no bound of its own, so a producer bounds it with a write
// mark, as in the Lua binding (set_write_mark, write_buffer_size).

// WriteBufferSize returns how many bytes are queued on the connection and not yet handed to
// the kernel (eddy_ws_write_buffer_size); 0 once eddy released the connection. Thread: any
// goroutine; off the loop thread it asks the loop and waits, so a WriteMessage posted before
// from the same goroutine is counted. 0 when the loop has stopped.
func (c *Conn) WriteBufferSize() int {
	n := 0
	c.app.onLoop(func() error {
		if !c.released.Load() {
			n = int(C.eddy_ws_write_buffer_size(c.ws))
		}
		return nil
	})
	return n
}

// SetWriteMark sets the connection's write mark (eddy_ws_set_write_mark): onDrain(c) runs on
// the loop thread each time the write buffer drops to mark bytes or fewer after it held more.
// A producer pauses while WriteBufferSize() > mark and resumes in onDrain (or in a goroutine
// that onDrain signals). A new mark replaces the previous one and its onDrain; onDrain nil
// removes the mark. A panic in onDrain closes the connection with 1011, as in the other
// callbacks. Thread: any goroutine; off the loop thread it waits for the loop.
// Errors: ErrInvalid for a negative mark, ErrClosed once the connection closed (after the
// close handshake, or the TCP connection was lost; a connection still closing accepts a mark
// while its last bytes leave) or the loop stopped, ErrNoMemory (the previous mark stays).
func (c *Conn) SetWriteMark(mark int, onDrain func(c *Conn)) error {
	if mark < 0 {
		return ErrInvalid
	}
	return c.app.onLoop(func() error {
		if c.released.Load() {
			return ErrClosed
		}
		var cb C.eddy_ws_drain_fn
		if onDrain != nil {
			cb = C.eddy_ws_drain_fn(C.eddy_go_ws_drain)
		}
		if err := check(C.eddy_ws_set_write_mark(c.ws, C.size_t(mark), cb)); err != nil {
			return err
		}
		c.onDrain = onDrain
		return nil
	})
}

//export goWSDrain
func goWSDrain(ws *C.eddy_ws) {
	c := connOf(ws)
	if c == nil || c.onDrain == nil {
		return
	}
	c.wsGuard("on_drain", func() { c.onDrain(c) })
}
