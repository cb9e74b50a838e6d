/* The io_uring floor: multishot accept, multishot recv into a provided-buffer ring, sends
 * queued as SQEs, all submitted and reaped with one io_uring_enter per loop pass
 * (SINGLE_ISSUER + DEFER_TASKRUN; FLOOR_PLAIN=1 drops those two flags). Non-pipelined load only:
 * it answers one request per read. See README.md. */
#include "floor_common.h"
#include <errno.h>
#include <liburing.h>
#include <sys/mman.h>

enum { BUFFERS = 4096, BUFFER_SIZE = 4096, GROUP = 1 };
enum op { OP_ACCEPT = 1, OP_RECV = 2, OP_SEND = 3 };
#define TAG(op, fd) (((unsigned long long)(op) << 32) | (unsigned)(fd))

static struct io_uring ring;
static struct io_uring_buf_ring *buffer_ring;
static char *buffers;

static struct io_uring_sqe *next_sqe(void) {
    struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
    if (!sqe) {
        io_uring_submit(&ring);
        sqe = io_uring_get_sqe(&ring);
    }
    return sqe;
}

static void arm_accept(int listener) {
    struct io_uring_sqe *sqe = next_sqe();
    io_uring_prep_multishot_accept(sqe, listener, NULL, NULL, 0);
    io_uring_sqe_set_data64(sqe, TAG(OP_ACCEPT, listener));
}

static void arm_recv(int fd) {
    struct io_uring_sqe *sqe = next_sqe();
    io_uring_prep_recv_multishot(sqe, fd, NULL, 0, 0);
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = GROUP;
    io_uring_sqe_set_data64(sqe, TAG(OP_RECV, fd));
}

static void give_back(int id) {
    io_uring_buf_ring_add(buffer_ring, buffers + (size_t)id * BUFFER_SIZE, BUFFER_SIZE,
                          (unsigned short)id, io_uring_buf_ring_mask(BUFFERS), 0);
    io_uring_buf_ring_advance(buffer_ring, 1);
}

int main(int argc, char **argv) {
    int listener = floor_listen(floor_port(argc, argv), 0);
    struct io_uring_params params;
    memset(&params, 0, sizeof params);
    if (!getenv("FLOOR_PLAIN")) params.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
    int err = io_uring_queue_init_params(4096, &ring, &params);
    if (err < 0) {
        fprintf(stderr, "floor: io_uring: %s\n", strerror(-err));
        return 1;
    }
    buffer_ring = mmap(NULL, BUFFERS * sizeof(struct io_uring_buf), PROT_READ | PROT_WRITE,
                       MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
    struct io_uring_buf_reg reg = {.ring_addr = (unsigned long)buffer_ring,
                                   .ring_entries = BUFFERS, .bgid = GROUP};
    if (buffer_ring == MAP_FAILED || io_uring_register_buf_ring(&ring, &reg, 0) != 0) {
        fprintf(stderr, "floor: no provided-buffer ring (kernel older than 5.19?)\n");
        return 1;
    }
    io_uring_buf_ring_init(buffer_ring);
    buffers = malloc((size_t)BUFFERS * BUFFER_SIZE);
    for (int id = 0; id < BUFFERS; id++) give_back(id);
    arm_accept(listener);
    for (;;) {
        io_uring_submit_and_wait(&ring, 1);
        struct io_uring_cqe *cqe;
        unsigned head, seen = 0;
        io_uring_for_each_cqe(&ring, head, cqe) {
            seen++;
            enum op op = (enum op)(cqe->user_data >> 32);
            int fd = (int)(cqe->user_data & 0xffffffffu);
            int more = (cqe->flags & IORING_CQE_F_MORE) != 0;
            if (op == OP_ACCEPT) {
                if (cqe->res >= 0) {
                    floor_nodelay(cqe->res);
                    arm_recv(cqe->res);
                }
                if (!more) arm_accept(listener);
            } else if (op == OP_RECV) {
                if (cqe->res == -ENOBUFS) {
                    arm_recv(fd);
                } else if (cqe->res <= 0) {
                    close(fd);
                } else {
                    int id = (int)(cqe->flags >> IORING_CQE_BUFFER_SHIFT);
                    if (floor_heads(buffers + (size_t)id * BUFFER_SIZE, cqe->res) > 0) {
                        struct io_uring_sqe *sqe = next_sqe();
                        io_uring_prep_send(sqe, fd, FLOOR_RESPONSE, FLOOR_RESPONSE_LEN, 0);
                        sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
                        io_uring_sqe_set_data64(sqe, TAG(OP_SEND, fd));
                    }
                    give_back(id);
                    if (!more) arm_recv(fd);
                }
            }
            /* OP_SEND: only failures post a CQE; the connection's recv sees the close. */
        }
        io_uring_cq_advance(&ring, seen);
    }
}
