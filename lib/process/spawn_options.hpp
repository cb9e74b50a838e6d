// The settings behind the opaque eddy_spawn_options: plain data the C API's setters fill and
// Subprocess::spawn reads.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "eddy/subprocess.h"

namespace eddy {

struct SpawnOptions {
    int stdio_mode[3] = {EDDY_STDIO_INHERIT, EDDY_STDIO_INHERIT, EDDY_STDIO_INHERIT};
    // The caller's fd for a stream set with eddy_spawn_options_set_stdio_fd (mode kStdioFd).
    int stdio_fd[3] = {-1, -1, -1};
    std::optional<std::string> cwd;
    std::optional<std::vector<std::string>> env;  // "NAME=value" each
    bool close_fds = true;
    bool new_process_group = false;

    // A mode of its own for a caller's fd, outside the public EDDY_STDIO_* values.
    static constexpr int kStdioFd = 100;
};

}  // namespace eddy
