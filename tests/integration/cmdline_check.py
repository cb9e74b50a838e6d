"""Checks shared by the example programs' tests: a numeric option that is not wholly a number
in range (examples/cmdline.h) makes the program exit with status 2 and a message on stderr
naming itself, instead of running with whatever atoi() / atof() made of it ("abc" was port 0,
a random free port; "8080x" was 8080; "-1" as a size was SIZE_MAX)."""

import subprocess

BAD_PORTS = ("abc", "22002x", "", "-1", "65536", "99999", "99999999999999999999", " 1", "+1",
             "0x50")
BAD_SECONDS = ("abc", "1x", "", "-1", "inf", "nan", "0x10", " 1", "1e999")
BAD_SIZES = ("abc", "-1", "", "1k", "99999999999999999999999", "+5", " 5")


def run_refusing(test, args, timeout, what):
    """Runs args to its end and returns the CompletedProcess; a program still running after
    `timeout` took what it was given as something to serve with: the test fails, "what: ...",
    with what it printed."""
    try:
        return subprocess.run(list(args), capture_output=True, timeout=timeout,
                              stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as e:
        test.fail("%s: still running, printed %r" % (what, e.stdout))


def assert_refused(test, prog_name, argv, option, bad_values, timeout=20):
    """Runs argv + [option, bad] for each bad value: it must exit 2, before serving, with
    "prog_name: option ..." on stderr."""
    for bad in bad_values:
        with test.subTest(option=option, value=bad):
            proc = run_refusing(test, list(argv) + [option, bad], timeout,
                                "%s %r (taken as a value)" % (option, bad))
            test.assertEqual(proc.returncode, 2, proc.stderr)
            test.assertNotIn(b"listening", proc.stdout.lower())
            test.assertTrue(proc.stderr.startswith(("%s: %s wants " % (prog_name, option))
                                                   .encode()), proc.stderr)


def assert_needs_value(test, prog_name, argv, options, timeout=20):
    """Runs argv + [option] for each option, given last without its value: it must exit 2,
    before serving, with "prog_name: option wants a value" on stderr (the parsers' loops used to
    stop before it, so it was ignored and the default served)."""
    for option in options:
        with test.subTest(option=option, value=None):
            proc = run_refusing(test, list(argv) + [option], timeout,
                                "%s without a value" % option)
            test.assertEqual(proc.returncode, 2, proc.stderr)
            test.assertNotIn(b"listening", proc.stdout.lower())
            test.assertEqual(proc.stderr, ("%s: %s wants a value\n" % (prog_name, option))
                             .encode())


def assert_unknown_refused(test, prog_name, argv, options=("--prot", "--bogus-option"),
                           timeout=20, trailing=True, help_option=True):
    """Runs argv + [option, "8080"] (and argv + [option] when `trailing`) for each unknown
    option: it must exit 2, before serving, with "prog_name: unknown option OPTION" and then the
    usage line on stderr (it used to be ignored: "echo_server --prot 9000" served on the default
    port). Then, with `help_option`, --help and -h: the usage line on stdout and exit 0."""
    for option in options:
        for extra in (["8080"], []) if trailing else (["8080"],):
            with test.subTest(option=option, value=extra):
                proc = run_refusing(test, list(argv) + [option] + extra, timeout,
                                    "%s (ignored)" % option)
                test.assertEqual(proc.returncode, 2, proc.stderr)
                test.assertNotIn(b"listening", proc.stdout.lower())
                lines = proc.stderr.decode("utf-8", "replace").splitlines()
                test.assertEqual(len(lines), 2, proc.stderr)
                test.assertEqual(lines[0], "%s: unknown option %s" % (prog_name, option))
                test.assertTrue(lines[1].startswith("usage: %s " % prog_name), proc.stderr)
    # Asking for help is not a mistake: the usage line on stdout, exit 0, nothing served.
    for option in ("--help", "-h") if help_option else ():
        with test.subTest(option=option):
            proc = run_refusing(test, list(argv) + [option], timeout, "%s (ignored)" % option)
            test.assertEqual(proc.returncode, 0, proc.stderr)
            test.assertEqual(proc.stderr, b"")
            lines = proc.stdout.decode("utf-8", "replace").splitlines()
            test.assertEqual(len(lines), 1, proc.stdout)
            test.assertTrue(lines[0].startswith("usage: %s " % prog_name), proc.stdout)
