package eddy

// onLoop runs fn on the loop thread and returns its error: at once on the loop thread,
// otherwise posted (after the work posted before it) while the caller waits. ErrClosed when the
// loop is not running (not started, or stopped before fn ran: then fn never runs).
func (a *App) onLoop(fn func() error) error {
	if a.onLoopThread() {
		return fn()
	}
	result := make(chan error, 1)
	if !a.post(func() { result <- fn() }) {
		return ErrClosed
	}
	select {
	case err := <-result:
		return err
	case <-a.done:
		select { // it may have run just before the loop ended
		case err := <-result:
			return err
		default:
			return ErrClosed
		}
	}
}
