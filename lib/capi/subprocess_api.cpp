// extern "C" shims for eddy/subprocess.h.
#include <new>

#include "eddy/subprocess.h"
#include "process/spawn_options.hpp"
#include "process/subprocess.hpp"
#include "stream/stream.hpp"
#include "util/no_throw.hpp"

using eddy::SpawnOptions;
using eddy::Subprocess;

namespace {

SpawnOptions *O(eddy_spawn_options *o) { return reinterpret_cast<SpawnOptions *>(o); }
const SpawnOptions *O(const eddy_spawn_options *o) {
    return reinterpret_cast<const SpawnOptions *>(o);
}

bool valid_child_fd(int child_fd) { return child_fd >= 0 && child_fd <= 2; }

}  // namespace

extern "C" {

EDDY_API eddy_spawn_options *eddy_spawn_options_new(void) {
    return reinterpret_cast<eddy_spawn_options *>(new (std::nothrow) SpawnOptions());
}

EDDY_API void eddy_spawn_options_free(eddy_spawn_options *options) { delete O(options); }

EDDY_API int eddy_spawn_options_set_stdio(eddy_spawn_options *options, int child_fd, int mode) {
    if (!options || !valid_child_fd(child_fd)) return EDDY_EINVAL;
    switch (mode) {
    case EDDY_STDIO_INHERIT:
    case EDDY_STDIO_PIPE:
    case EDDY_STDIO_DEVNULL: break;
    case EDDY_STDIO_STDOUT:
        if (child_fd != 2) return EDDY_EINVAL;
        break;
    default: return EDDY_EINVAL;
    }
    O(options)->stdio_mode[child_fd] = mode;
    O(options)->stdio_fd[child_fd] = -1;
    return 0;
}

EDDY_API int eddy_spawn_options_set_stdio_fd(eddy_spawn_options *options, int child_fd, int fd) {
    if (!options || !valid_child_fd(child_fd) || fd < 0) return EDDY_EINVAL;
    O(options)->stdio_mode[child_fd] = SpawnOptions::kStdioFd;
    O(options)->stdio_fd[child_fd] = fd;
    return 0;
}

EDDY_API int eddy_spawn_options_set_cwd(eddy_spawn_options *options, const char *dir) {
    if (!options || (dir && !*dir)) return EDDY_EINVAL;
    return eddy::no_throw("eddy_spawn_options_set_cwd", EDDY_ENOMEM, [&] {
        if (dir)
            O(options)->cwd = dir;
        else
            O(options)->cwd.reset();
        return 0;
    });
}

EDDY_API int eddy_spawn_options_set_env(eddy_spawn_options *options, const char *const *envp) {
    if (!options) return EDDY_EINVAL;
    return eddy::no_throw("eddy_spawn_options_set_env", EDDY_ENOMEM, [&] {
        if (!envp) {
            O(options)->env.reset();
            return 0;
        }
        std::vector<std::string> copy;
        for (const char *const *e = envp; *e; e++) copy.emplace_back(*e);
        O(options)->env = std::move(copy);
        return 0;
    });
}

EDDY_API int eddy_spawn_options_set_close_fds(eddy_spawn_options *options, int on) {
    if (!options) return EDDY_EINVAL;
    O(options)->close_fds = on != 0;
    return 0;
}

EDDY_API int eddy_spawn_options_set_new_process_group(eddy_spawn_options *options, int on) {
    if (!options) return EDDY_EINVAL;
    O(options)->new_process_group = on != 0;
    return 0;
}

EDDY_API int eddy_subprocess_spawn(eddy_loop *loop, const char *const *argv,
                                   const eddy_spawn_options *options,
                                   eddy_subprocess_exit_fn on_exit, void *userdata,
                                   eddy_free_fn free_userdata, eddy_subprocess **out) {
    if (out) *out = nullptr;
    if (!loop || !argv || !argv[0] || !*argv[0] || !out) return EDDY_EINVAL;
    return eddy::no_throw("eddy_subprocess_spawn", EDDY_ENOMEM, [&] {
        static const SpawnOptions defaults;
        Subprocess *p = nullptr;
        int rc = Subprocess::spawn(eddy::Loop::from_c(loop), argv, options ? *O(options) : defaults,
                                   on_exit, userdata, free_userdata, &p);
        if (rc == 0) *out = p->as_c();
        return rc;
    });
}

EDDY_API int eddy_subprocess_pid(const eddy_subprocess *proc) {
    return proc ? static_cast<int>(Subprocess::from_c(proc)->pid()) : EDDY_EINVAL;
}

EDDY_API eddy_stream *eddy_subprocess_take_stream(eddy_subprocess *proc, int child_fd) {
    if (!proc) return nullptr;
    return reinterpret_cast<eddy_stream *>(Subprocess::from_c(proc)->take_stream(child_fd));
}

EDDY_API int eddy_subprocess_kill(eddy_subprocess *proc, int signum) {
    if (!proc) return EDDY_EINVAL;
    return Subprocess::from_c(proc)->kill(signum);
}

}  // extern "C"
