/* C side of the Go binding's loop timers: trampolines calling the exports of timer.go and
 * periodic.go (userdata: the cgo.Handle of the Go timer or periodic cell). */
#ifndef EDDY_GO_SHIM_TIMER_H
#define EDDY_GO_SHIM_TIMER_H

#include <eddy/eddy.h>

/* A call_later/call_at callback; its userdata is released with eddy_go_release_handle. */
void eddy_go_timer(eddy_loop *loop, void *ud);
/* A periodic callback's tick and the free callback of its userdata. */
void eddy_go_periodic(eddy_periodic *periodic, void *ud);
void eddy_go_release_periodic(void *ud);

#endif
