#include "net/send_queue.hpp"

#include <sys/ioctl.h>
#ifdef __linux__
#include <linux/sockios.h>  // SIOCOUTQ
#endif

namespace eddy {

long socket_unsent_bytes(int fd) {
#ifdef SIOCOUTQ
    // TCP: write_seq - snd_una. A Unix socket: the buffer memory still charged to the sender,
    // which the peer's reads release. A pipe or file: ENOTTY.
    int n = 0;
    if (fd < 0 || ioctl(fd, SIOCOUTQ, &n) != 0 || n < 0) return -1;
    return n;
#else
    (void)fd;
    return -1;
#endif
}

}  // namespace eddy
