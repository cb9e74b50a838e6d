/* An LD_PRELOAD shim for test_tcpclient.py: getaddrinfo() answers two made-up names with
 * several loopback addresses, so that a name with a silent first address can be tried from
 * Python (eddy resolves names in C, on its worker threads, where no Python patch reaches):
 *   "v4-twice.eddy-test"       127.0.0.1, then 127.0.0.2
 *   "v6-then-v4-twice.eddy-test" ::1, then 127.0.0.1, then 127.0.0.2
 * Every other name goes to the real getaddrinfo. The answer is the real getaddrinfo's numeric
 * answers chained (glibc's freeaddrinfo frees node by node), as tests/unit/test_net.c does. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <netdb.h>
#include <stddef.h>
#include <string.h>

typedef int (*getaddrinfo_fn)(const char *, const char *, const struct addrinfo *,
                              struct addrinfo **);

int getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
                struct addrinfo **res) {
    getaddrinfo_fn real = (getaddrinfo_fn)dlsym(RTLD_NEXT, "getaddrinfo");
    static const char *const v4_twice[] = {"127.0.0.1", "127.0.0.2", NULL};
    static const char *const v6_v4_twice[] = {"::1", "127.0.0.1", "127.0.0.2", NULL};
    const char *const *list = NULL;
    if (node && strcmp(node, "v4-twice.eddy-test") == 0) list = v4_twice;
    if (node && strcmp(node, "v6-then-v4-twice.eddy-test") == 0) list = v6_v4_twice;
    if (!list) return real(node, service, hints, res);
    if (hints && (hints->ai_flags & AI_NUMERICHOST)) return EAI_NONAME;
    struct addrinfo numeric = hints ? *hints : (struct addrinfo){0};
    numeric.ai_flags |= AI_NUMERICHOST;
    int family = numeric.ai_family;
    numeric.ai_family = AF_UNSPEC;
    struct addrinfo *head = NULL, **tail = &head;
    for (; *list; list++) {
        struct addrinfo *one = NULL;
        if (real(*list, service, &numeric, &one) != 0) continue;
        if (family != AF_UNSPEC && one->ai_family != family) { /* as a lookup for `family` */
            freeaddrinfo(one);
            continue;
        }
        *tail = one;
        while (*tail) tail = &(*tail)->ai_next;
    }
    if (!head) return EAI_NONAME;
    *res = head;
    return 0;
}
