"""Checks shared by the example programs' tests: a numeric option that is not wholly a number
in range (examples/cmdline.h) makes the program exit with status 2 and a message on stderr
naming itself, instead of running with whatever atoi() / atof() made of it ("abc" was port 0,
a random free port; "8080x" was 8080; "-1" as a size was SIZE_MAX)."""

import subprocess

BAD_PORTS = ("abc", "22002x", "", "-1", "65536", "99999", "99999999999999999999", " 1", "+1",
             "0x50")
BAD_SECONDS = ("abc", "1x", "", "-1", "inf", "nan", "0x10", " 1", "1e999")
BAD_SIZES = ("abc", "-1", "", "1k", "99999999999999999999999", "+5", " 5")


def assert_refused(test, prog_name, argv, option, bad_values, timeout=20):
    """Runs argv + [option, bad] for each bad value: it must exit 2, before serving, with
    "prog_name: option ..." on stderr."""
    for bad in bad_values:
        with test.subTest(option=option, value=bad):
            try:
                proc = subprocess.run(list(argv) + [option, bad], capture_output=True,
                                      timeout=timeout, stdin=subprocess.DEVNULL)
            except subprocess.TimeoutExpired as e:
                test.fail("%s %r: still running (took it as a value), printed %r"
                          % (option, bad, e.stdout))
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
            try:
                proc = subprocess.run(list(argv) + [option], capture_output=True,
                                      timeout=timeout, stdin=subprocess.DEVNULL)
            except subprocess.TimeoutExpired as e:
                test.fail("%s without a value: still running, printed %r" % (option, e.stdout))
            test.assertEqual(proc.returncode, 2, proc.stderr)
            test.assertNotIn(b"listening", proc.stdout.lower())
            test.assertEqual(proc.stderr, ("%s: %s wants a value\n" % (prog_name, option))
                             .encode())
