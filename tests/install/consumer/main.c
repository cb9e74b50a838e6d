/* A minimal eddy consumer, built against the installed library by check_install.sh. */
#include <eddy/eddy.h>
#include <stdio.h>

static void stop(eddy_loop *loop, void *userdata) {
    *(int *)userdata = 1;
    eddy_loop_stop(loop);
}

int main(void) {
    int fired = 0;
    eddy_loop *loop = eddy_loop_new();
    if (!loop) return 1;
    if (eddy_loop_call_later(loop, 0.01, stop, &fired, NULL) == 0) return 1;
    if (eddy_loop_run(loop) != 0 || !fired) return 1;
    eddy_loop_free(loop);
    if (eddy_version() != EDDY_VERSION_HEX) return 1;
    printf("eddy %s\n", eddy_version_string());
    return 0;
}
