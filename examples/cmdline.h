/* Command-line options for the examples (and the test servers that share their conventions):
 * strict parsers that refuse what atoi() / atof() / atol() silently took as something
 * ("--port abc" as 0, a random free port; "--port 8080x" as 8080; "--port 99999" and "-1" as
 * whatever the listen call made of them; "--max-body-size -1" as SIZE_MAX).
 * A value that is not wholly a number in range is reported on stderr as
 * "PROG: --OPTION wants ..., not "VALUE"" and the program exits with status 2, as
 * echo_server did first; so is an option given last without its value, and an option the
 * program does not know ("PROG: unknown option --X" and its usage line; --help and -h print
 * that line on stdout and exit 0). Header-only (static
 * functions): each example is a single-file program, and a library for a few functions would
 * be more build than code. */
#ifndef EDDY_EXAMPLES_CMDLINE_H
#define EDDY_EXAMPLES_CMDLINE_H

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Decimal digits only (no sign, no space, no "0x"), at most `max`; -1 for anything else. */
static inline long long cmdline_parse_decimal(const char *s, long long max) {
    long long n = 0;
    if (!s || !*s) return -1;
    for (; *s; s++) {
        if (*s < '0' || *s > '9') return -1;
        int digit = *s - '0';
        if (n > (max - digit) / 10) return -1; /* checked before it could overflow */
        n = n * 10 + digit;
    }
    return n;
}

/* A TCP port: 0 (any free port) to 65535. */
static inline int cmdline_port(const char *prog, const char *option, const char *value) {
    long long port = cmdline_parse_decimal(value, 65535);
    if (port < 0) {
        fprintf(stderr, "%s: %s wants a number from 0 to 65535, not \"%s\"\n", prog, option,
                value ? value : "");
        exit(2);
    }
    return (int)port;
}

/* A count or a size in bytes: decimal digits, 0 to SIZE_MAX (no "-1" wrapping round). */
static inline size_t cmdline_size(const char *prog, const char *option, const char *value) {
    long long max = SIZE_MAX > (size_t)INT64_MAX ? INT64_MAX : (long long)SIZE_MAX;
    long long n = cmdline_parse_decimal(value, max);
    if (n < 0) {
        fprintf(stderr, "%s: %s wants a whole number, not \"%s\"\n", prog, option,
                value ? value : "");
        exit(2);
    }
    return (size_t)n;
}

/* A duration in seconds: a finite decimal number >= 0 ("1.5", "0.25"); no sign, no "inf"
 * or "nan", no hexadecimal float, no trailing text. Whether 0 means "none" or is refused is
 * the option's own business. */
static inline double cmdline_seconds(const char *prog, const char *option, const char *value) {
    const char *s = value ? value : "";
    int ok = (*s >= '0' && *s <= '9') || (*s == '.' && s[1] >= '0' && s[1] <= '9');
    for (const char *p = s; ok && *p; p++)
        if (!((*p >= '0' && *p <= '9') || *p == '.' || *p == 'e' || *p == 'E' || *p == '-' ||
              *p == '+'))
            ok = 0; /* strtod alone also takes " 1", "inf", "0x1p3" */
    char *end = NULL;
    errno = 0;
    double d = ok ? strtod(s, &end) : 0;
    if (!ok || *end || errno == ERANGE || !isfinite(d) || d < 0) {
        fprintf(stderr, "%s: %s wants a number of seconds (such as 1.5), not \"%s\"\n", prog,
                option, s);
        exit(2);
    }
    return d;
}

/* The value of the option at argv[i]. A trailing option with none ("tcp_echo --port") is
 * reported as "PROG: --port wants a value" and the program exits with status 2: the parsers'
 * loops stopped before it, so it was silently ignored and the default (port 8888) served. */
static inline const char *cmdline_value(const char *prog, int argc, char **argv, int i) {
    if (i + 1 >= argc) {
        fprintf(stderr, "%s: %s wants a value\n", prog, argv[i]);
        exit(2);
    }
    return argv[i + 1];
}

/* Refuses an option the program does not know: "PROG: unknown option --X" and `usage` (its
 * usage line, "usage: PROG [--port N] ...") on stderr, then exit status 2. Ignoring it served
 * the defaults ("echo_server --prot 9000" listened on 8080), a typo nobody was told of.
 * Called before the option's value is looked at, so "PROG --prot" says the same. A request
 * for help (--help, -h) is not a mistake: the usage line goes to stdout, exit status 0. */
static inline void cmdline_unknown(const char *prog, const char *option, const char *usage) {
    if (strcmp(option, "--help") == 0 || strcmp(option, "-h") == 0) {
        printf("%s\n", usage);
        exit(0);
    }
    fprintf(stderr, "%s: unknown option %s\n%s\n", prog, option, usage);
    exit(2);
}

#endif /* EDDY_EXAMPLES_CMDLINE_H */
