// Tornado's static_url versions: the MD5 of a file's content as 32 hex digits (Tornado's
// get_content_version), cached per file and computed again when the file changes (its size,
// modification time, inode or status change time), so that a file replaced on a running server
// gets a new URL.
#pragma once

#include <sys/types.h>

#include <ctime>
#include <string>
#include <unordered_map>

namespace eddy::web {

class StaticVersions {
public:
    // The version of the regular file at canonical path `path`; "" when it cannot be read.
    // Reads the whole file the first time (and after a change), on the calling thread.
    std::string version(const std::string &path);

private:
    struct Entry {
        off_t size;
        // Not the modification time: a file replaced by rename, or rewritten with its size and
        // modification time kept (a reproducible build's fixed mtime, `cp -p`, `touch -r`),
        // keeps those; its inode or its status change time tells. The change time (which no
        // one can set) moves with every write and every utime(), so it covers the mtime too.
        dev_t dev;
        ino_t ino;
        struct timespec ctime;
        std::string hash;
    };
    std::unordered_map<std::string, Entry> cache_;
};

}  // namespace eddy::web
