#include "shim_timer.h"
#include "_cgo_export.h"

void eddy_go_timer(eddy_loop *loop, void *ud) { goTimer(ud); }
void eddy_go_periodic(eddy_periodic *periodic, void *ud) { goPeriodic(ud); }
void eddy_go_release_periodic(void *ud) { goReleasePeriodic(ud); }
