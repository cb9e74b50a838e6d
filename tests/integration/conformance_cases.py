"""A battery of raw HTTP/1.1 requests (RFC 9110 / RFC 9112) with the answer eddy gives.

Shared by test_conformance_audit.py (CTest: eddy must answer exactly this) and
scripts/http_vs_nginx.py (the same bytes sent to eddy and to nginx, side by side).

Each case is one connection: the bytes are sent in one write, then the client reads
`statuses` (the final status of each response, in order) and checks what happens next:
  "close" - the server closes the connection and sends nothing more;
  "open"  - the connection carries another request (GET /fixed -> 200).
Where the RFC lets the server choose (a MAY / SHOULD), `note` says which way eddy went and why.
`echo` (optional): fields of the echo server's JSON answer to the last request to check.
"""

from collections import namedtuple

Case = namedtuple("Case", "name data statuses after rfc note echo method")


def case(name, data, statuses, after, rfc, note="", echo=None, method=None):
    if isinstance(statuses, int):
        statuses = (statuses,)
    return Case(name, data, tuple(statuses), after, rfc, note, echo, method)


H = b"Host: a\r\n"
GET = b"GET / HTTP/1.1\r\n" + H + b"\r\n"
FIXED = b"GET /fixed HTTP/1.1\r\n" + H + b"\r\n"


def post(fields, body, version=b"HTTP/1.1"):
    """A POST with the raw field lines `fields` (bytes, each ending CRLF) and raw body bytes."""
    return b"POST / " + version + b"\r\n" + H + fields + b"\r\n" + body


CHUNKED = b"Transfer-Encoding: chunked\r\n"
ABC = b"3\r\nabc\r\n0\r\n\r\n"

CASES = [
    # ---- request-line forms (RFC 9112 3.2) -------------------------------------------------
    case("origin-form", b"GET /p?q=1 HTTP/1.1\r\n" + H + b"\r\n", 200, "open", "9112 3.2.1",
         echo={"path": "/p", "host": "a"}),
    case("absolute-form, its authority overrides Host",
         b"GET http://h.example:8080/p?q HTTP/1.1\r\nHost: other\r\n\r\n", 200, "open", "9112 3.2.2",
         echo={"path": "/p", "host": "h.example:8080"}),
    case("absolute-form still needs Host on 1.1", b"GET http://h.example/ HTTP/1.1\r\n\r\n",
         400, "close", "9112 3.2"),
    case("absolute-form, non-http scheme", b"GET ftp://h.example/ HTTP/1.1\r\n" + H + b"\r\n",
         400, "close", "9112 3.2.2"),
    case("absolute-form with an empty host", b"GET http:///p HTTP/1.1\r\n" + H + b"\r\n", 400,
         "close", "9110 4.2.1: MUST reject an http URI with an empty host"),
    case("absolute-form with an IPv6 literal", b"GET http://[::1]:8080/p HTTP/1.1\r\n" + H + b"\r\n",
         200, "open", "9112 3.2.2", echo={"host": "[::1]:8080", "path": "/p"}),
    case("absolute-form with an empty port", b"GET http://EXAMPLE.com:/%7esmith/home.html HTTP/1.1\r\n"
         + H + b"\r\n", 200, "open", "9110 4.2.3: its own example of an equivalent URI",
         echo={"host": "EXAMPLE.com:", "path": "/%7esmith/home.html"}),
    case("absolute-form, IPv6 literal with an empty port", b"GET http://[::1]:/p HTTP/1.1\r\n" + H
         + b"\r\n", 200, "open", "9110 4.2.3", echo={"host": "[::1]:", "path": "/p"}),
    case("absolute-form, reg-name with ~ and a pct-encoded octet",
         b"GET http://a~b%41.example/ HTTP/1.1\r\n" + H + b"\r\n", 200, "open", "3986 3.2.2",
         "the same host rules as the Host field", echo={"host": "a~b%41.example", "path": "/"}),
    case("absolute-form without a path", b"GET http://h.example?q HTTP/1.1\r\n" + H + b"\r\n",
         200, "open", "9112 3.2.1: an empty path is /", echo={"host": "h.example", "path": "/"}),
    case("absolute-form with a port but no host", b"GET http://:80/p HTTP/1.1\r\n" + H + b"\r\n",
         400, "close", "9110 4.2.1: MUST reject an http URI with an empty host"),
    case("absolute-form with userinfo", b"GET http://u:p@h.example/ HTTP/1.1\r\n" + H + b"\r\n",
         400, "close", "9110 4.2.4: userinfo is deprecated; a recipient SHOULD treat it as an error"),
    case("authority-form with GET", b"GET h.example:80 HTTP/1.1\r\n" + H + b"\r\n",
         400, "close", "9112 3.2.3: authority-form is only for CONNECT"),
    case("authority-form with CONNECT", b"CONNECT h.example:443 HTTP/1.1\r\nHost: h.example:443\r\n\r\n",
         501, "close", "9110 9.3.6", "an origin server, not a tunnel: 501"),
    case("asterisk-form with OPTIONS", b"OPTIONS * HTTP/1.1\r\n" + H + b"\r\n", 200, "open",
         "9112 3.2.4", echo={"path": "*"}),
    case("asterisk-form with GET", b"GET * HTTP/1.1\r\n" + H + b"\r\n", 400, "close", "9112 3.2.4"),
    case("asterisk-form with a query", b"OPTIONS *?a HTTP/1.1\r\n" + H + b"\r\n", 400, "close",
         "9112 3.2.4"),
    case("target not starting with /", b"GET p HTTP/1.1\r\n" + H + b"\r\n", 400, "close", "9112 3.2"),
    case("fragment in target", b"GET /p#f HTTP/1.1\r\n" + H + b"\r\n", 400, "close", "9112 3.2"),

    # ---- request-line whitespace and blank lines (RFC 9112 2.2, 3) ----------------------------
    case("one leading CRLF ignored", b"\r\n" + GET, 200, "open", "9112 2.2"),
    case("leading bare LF and CRLFs ignored", b"\n\r\n\r\n" + GET, 200, "open", "9112 2.2"),
    case("leading bare CR", b"\r" + GET, 400, "close", "9112 2.2: bare CR is invalid"),
    case("leading CR CR LF", b"\r\r\n" + GET, 400, "close", "9112 2.2: bare CR is invalid"),
    case("leading SP", b" " + GET, 400, "close", "9112 3"),
    case("leading HTAB", b"\t" + GET, 400, "close", "9112 3"),
    case("two SP after method", b"GET  / HTTP/1.1\r\n" + H + b"\r\n", 400, "close", "9112 3"),
    case("HTAB as separator", b"GET\t/ HTTP/1.1\r\n" + H + b"\r\n", 400, "close", "9112 3"),
    case("SP before CRLF", b"GET / HTTP/1.1 \r\n" + H + b"\r\n", 400, "close", "9112 3"),
    case("HTTP/0.9 simple request", b"GET /\r\n\r\n", 400, "close", "9112 2.3 / App. C.1",
         "no HTTP/0.9: nginx answers it headerless, eddy with a 400"),
    case("version HTTP/0.9", b"GET / HTTP/0.9\r\n" + H + b"\r\n", 505, "close", "9110 15.6.6"),
    case("version HTTP/2.0", b"GET / HTTP/2.0\r\n" + H + b"\r\n", 505, "close", "9110 15.6.6"),
    case("version HTTP/1.10", b"GET / HTTP/1.10\r\n" + H + b"\r\n", 400, "close", "9112 2.3"),
    case("version HTTP/1", b"GET / HTTP/1\r\n" + H + b"\r\n", 400, "close", "9112 2.3"),
    case("version lowercase", b"GET / http/1.1\r\n" + H + b"\r\n", 400, "close", "9112 2.3"),
    case("version HTTP/1.9 is 1.1", b"GET / HTTP/1.9\r\n" + H + b"\r\n", 200, "open", "9110 6.2"),

    # ---- methods (RFC 9110 9.1) -----------------------------------------------------------
    case("method case-sensitive: get", b"get / HTTP/1.1\r\n" + H + b"\r\n", 501, "open", "9110 9.1",
         "a well-formed unknown method: 501, framing intact"),
    case("method case-sensitive: Get", b"Get / HTTP/1.1\r\n" + H + b"\r\n", 501, "open", "9110 9.1"),
    case("method with a non-tchar", b"GE(T / HTTP/1.1\r\n" + H + b"\r\n", 400, "close", "9110 5.6.2"),
    case("method with NUL", b"GE\x00T / HTTP/1.1\r\n" + H + b"\r\n", 400, "close", "9110 5.6.2"),
    case("method with obs-text", b"G\xc9T / HTTP/1.1\r\n" + H + b"\r\n", 400, "close", "9110 5.6.2"),

    # ---- field lines (RFC 9112 5, RFC 9110 5.5) ---------------------------------------------
    case("field name with SP inside", b"GET / HTTP/1.1\r\n" + H + b"X Y: 1\r\n\r\n", 400, "close",
         "9110 5.1"),
    case("field name with a separator", b"GET / HTTP/1.1\r\n" + H + b"X(Y): 1\r\n\r\n", 400,
         "close", "9110 5.1"),
    case("field name with obs-text", b"GET / HTTP/1.1\r\n" + H + b"X\xe9: 1\r\n\r\n", 400, "close",
         "9110 5.1"),
    case("field name with NUL", b"GET / HTTP/1.1\r\n" + H + b"X\x00Y: 1\r\n\r\n", 400, "close",
         "9110 5.1"),
    case("empty field name", b"GET / HTTP/1.1\r\n" + H + b": 1\r\n\r\n", 400, "close", "9112 5"),
    case("SP before colon", b"GET / HTTP/1.1\r\n" + H + b"X-A : 1\r\n\r\n", 400, "close",
         "9112 5.1: MUST 400"),
    case("HTAB before colon", b"GET / HTTP/1.1\r\n" + H + b"X-A\t: 1\r\n\r\n", 400, "close",
         "9112 5.1: MUST 400"),
    case("obs-fold", b"GET / HTTP/1.1\r\n" + H + b"X-A: 1\r\n 2\r\n\r\n", 400, "close",
         "9112 5.2: reject (or replace by SP)"),
    case("field line before the first field starts with SP", b"GET / HTTP/1.1\r\n X: 1\r\n" + H +
         b"\r\n", 400, "close", "9112 2.2"),
    case("line without colon", b"GET / HTTP/1.1\r\n" + H + b"X-A\r\n\r\n", 400, "close", "9112 5"),
    case("obs-text in value", b"GET / HTTP/1.1\r\n" + H + b"X-A: caf\xe9 \x80\xff\r\n\r\n", 200,
         "open", "9110 5.5: obs-text allowed"),
    case("HTAB inside value", b"GET / HTTP/1.1\r\n" + H + b"X-A: a\tb\r\n\r\n", 200, "open", "9110 5.5"),
    case("NUL in value", b"GET / HTTP/1.1\r\n" + H + b"X-A: a\x00b\r\n\r\n", 400, "close",
         "9110 5.5: reject (or replace by SP)"),
    case("CTL 0x01 in value", b"GET / HTTP/1.1\r\n" + H + b"X-A: a\x01b\r\n\r\n", 400, "close", "9110 5.5"),
    case("DEL in value", b"GET / HTTP/1.1\r\n" + H + b"X-A: a\x7fb\r\n\r\n", 400, "close", "9110 5.5"),
    case("bare CR in value", b"GET / HTTP/1.1\r\n" + H + b"X-A: a\rb\r\n\r\n", 400, "close", "9112 2.2"),
    case("bare LF line endings", b"GET / HTTP/1.1\nHost: a\nX-A: 1\n\n", 400, "close",
         "9112 2.2: MAY accept a bare LF; refused, as a proxy in front may not (smuggling)"),
    case("CR CR LF line ending", b"GET / HTTP/1.1\r\r\n" + H + b"\r\n", 400, "close", "9112 2.2"),

    # ---- Host (RFC 9112 3.2, RFC 9110 7.2) --------------------------------------------------
    case("no Host on 1.1", b"GET / HTTP/1.1\r\n\r\n", 400, "close", "9112 3.2: MUST 400"),
    case("no Host on 1.0", b"GET / HTTP/1.0\r\n\r\n", 200, "close", "9112 3.2"),
    case("two Host fields", b"GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", 400, "close",
         "9112 3.2: MUST 400"),
    case("Host list", b"GET / HTTP/1.1\r\nHost: a, b\r\n\r\n", 400, "close", "9112 3.2"),
    case("Host with userinfo", b"GET / HTTP/1.1\r\nHost: u@a\r\n\r\n", 400, "close", "9110 4.2.4 / 7.2"),
    case("Host with a path", b"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400, "close", "9110 7.2"),
    case("Host with SP", b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400, "close", "9110 7.2"),
    case("Host with a bad port", b"GET / HTTP/1.1\r\nHost: a:b\r\n\r\n", 400, "close", "9110 7.2"),
    case("Host IPv6 literal unclosed", b"GET / HTTP/1.1\r\nHost: [::1\r\n\r\n", 400, "close", "9110 7.2"),
    case("Host IPv6 literal and port", b"GET / HTTP/1.1\r\nHost: [::1]:80\r\n\r\n", 200, "open",
         "9110 7.2", echo={"host": "[::1]:80"}),
    case("Host empty", b"GET / HTTP/1.1\r\nHost:\r\n\r\n", 400, "close",
         "9110 4.2.1: an http URI with an empty host MUST be rejected as invalid"),

    # ---- Content-Length (RFC 9112 6.2, 6.3; RFC 9110 8.6) ------------------------------------
    case("Content-Length with OWS", post(b"Content-Length:  3 \r\n", b"abc"), 200, "open", "9110 5.5",
         echo={"body": "abc"}),
    case("Content-Length leading zeros", post(b"Content-Length: 0003\r\n", b"abc"), 200, "open",
         "9110 8.6: 1*DIGIT", echo={"body": "abc"}),
    case("Content-Length many leading zeros", post(b"Content-Length: 0000000000000000000000003\r\n",
         b"abc"), 200, "open", "9110 8.6: 1*DIGIT", echo={"body": "abc"}),
    case("Content-Length +3", post(b"Content-Length: +3\r\n", b"abc"), 400, "close", "9112 6.3 (5)"),
    case("Content-Length -1", post(b"Content-Length: -1\r\n", b"abc"), 400, "close", "9112 6.3 (5)"),
    case("Content-Length 3 3", post(b"Content-Length: 3 3\r\n", b"abc"), 400, "close", "9112 6.3 (5)"),
    case("Content-Length list 3,3", post(b"Content-Length: 3,3\r\n", b"abc"), 400, "close",
         "9110 8.6", "MAY accept identical values; eddy (and nginx) refuse the list"),
    case("Content-Length twice, same value", post(b"Content-Length: 3\r\nContent-Length: 3\r\n", b"abc"),
         400, "close", "9110 8.6", "MAY accept; eddy refuses (nginx too: duplicate header)"),
    case("Content-Length twice, differing", post(b"Content-Length: 3\r\nContent-Length: 4\r\n", b"abcd"),
         400, "close", "9112 6.3 (5)"),
    case("Content-Length over 2^64", post(b"Content-Length: 18446744073709551617\r\n", b"abc"), 400,
         "close", "9112 6.3 (5)", "unrepresentable: invalid"),
    case("Content-Length 2^64", post(b"Content-Length: 18446744073709551616\r\n", b"abc"), 400,
         "close", "9112 6.3 (5)", "unrepresentable: invalid"),
    case("Content-Length 2^64 - 1", post(b"Content-Length: 18446744073709551615\r\n", b"abc"), 413,
         "close", "9110 8.6, 15.5.14", "a valid length, too large"),
    case("Content-Length of 19 digits", post(b"Content-Length: 1000000000000000000\r\n", b"abc"),
         413, "close", "9110 8.6, 15.5.14", "a valid length, too large"),
    case("Content-Length over the body limit", post(b"Content-Length: 1000000000000\r\n", b"abc"), 413,
         "close", "9110 15.5.14"),
    case("Content-Length hex", post(b"Content-Length: 0x3\r\n", b"abc"), 400, "close", "9112 6.3 (5)"),
    case("Content-Length empty", post(b"Content-Length:\r\n", b"abc"), 400, "close", "9112 6.3 (5)"),
    case("Content-Length on GET frames a body", b"GET / HTTP/1.1\r\n" + H + b"Content-Length: 3\r\n\r\nabc",
         200, "open", "9112 6.3", echo={"body": "abc"}),

    # ---- Transfer-Encoding (RFC 9112 6.1, 6.3, 7) -------------------------------------------
    case("chunked", post(CHUNKED, ABC), 200, "open", "9112 7.1", echo={"body": "abc"}),
    case("CHUNKED uppercase", post(b"Transfer-Encoding: CHUNKED\r\n", ABC), 200, "open",
         "9112 7: coding names are case-insensitive", echo={"body": "abc"}),
    case("Transfer-Encoding:HTAB chunked", post(b"Transfer-Encoding:\tchunked\r\n", ABC), 200, "open",
         "9110 5.5: HTAB is OWS", echo={"body": "abc"}),
    case("TE list with an empty element", post(b"Transfer-Encoding: , chunked,\r\n", ABC), 200, "open",
         "9110 5.6.1: empty list elements MUST be accepted", echo={"body": "abc"}),
    case("chunked with a parameter", post(b"Transfer-Encoding: chunked;a=b\r\n", ABC), 400, "close",
         "9112 7: parameters on chunked SHOULD be an error"),
    case("chunked, chunked", post(b"Transfer-Encoding: chunked, chunked\r\n", ABC), 400, "close",
         "9112 6.1: MUST NOT apply chunked twice"),
    case("two Transfer-Encoding fields", post(CHUNKED + CHUNKED, ABC), 400, "close", "9112 6.1"),
    case("chunked, then identity in a 2nd field", post(CHUNKED + b"Transfer-Encoding: identity\r\n", ABC),
         400, "close", "9112 6.3 (4): chunked not final"),
    case("gzip only", post(b"Transfer-Encoding: gzip\r\n", ABC), 400, "close", "9112 6.3 (4)"),
    case("gzip, chunked", post(b"Transfer-Encoding: gzip, chunked\r\n", ABC), 501, "close",
         "9112 6.1: unknown coding SHOULD 501"),
    case("identity", post(b"Transfer-Encoding: identity\r\n", ABC), 400, "close", "9112 6.3 (4)"),
    case("TE on HTTP/1.0", post(CHUNKED, ABC, b"HTTP/1.0"), 400, "close",
         "9112 6.1: faulty framing, MUST close"),
    case("TE with VT before chunked", post(b"Transfer-Encoding: \x0bchunked\r\n", ABC), 400, "close",
         "9110 5.5"),
    case("TE with a space before the colon", post(b"Transfer-Encoding : chunked\r\n", ABC), 400,
         "close", "9112 5.1"),
    case("TE obs-folded", post(b"Transfer-Encoding:\r\n chunked\r\n", ABC), 400, "close", "9112 5.2"),
    case("TE xchunked", post(b"Transfer-Encoding: xchunked\r\n", ABC), 400, "close", "9112 6.3 (4)"),
    case("TE quoted", post(b"Transfer-Encoding: \"chunked\"\r\n", ABC), 400, "close", "9112 6.3 (4)"),

    # ---- request smuggling classics (RFC 9112 6.1, 6.3, 11.2) -------------------------------
    case("CL.TE", post(b"Content-Length: 6\r\n" + CHUNKED, b"0\r\n\r\nG" + FIXED), 400, "close",
         "9112 6.1: MAY reject; MUST close either way"),
    case("TE.CL", post(CHUNKED + b"Content-Length: 3\r\n", b"8\r\nSMUGGLED\r\n0\r\n\r\n" + FIXED), 400,
         "close", "9112 6.1"),
    case("TE.TE, one obfuscated", post(CHUNKED + b"Transfer-encoding: cow\r\n", ABC + FIXED), 400,
         "close", "9112 6.1"),
    case("CL with obfuscated TE", post(b"Content-Length: 3\r\nTransfer-Encoding: xchunked\r\n",
         b"abc" + FIXED), 400, "close", "9112 6.1"),
    case("CL with TE after SP before colon", post(b"Content-Length: 3\r\nTransfer-Encoding : chunked\r\n",
         ABC), 400, "close", "9112 5.1"),
    case("CL with TE behind a bare CR", post(b"Content-Length: 3\r\nX: a\rTransfer-Encoding: chunked\r\n",
         ABC), 400, "close", "9112 2.2"),
    case("Transfer_Encoding (underscore) is just a field", post(b"Content-Length: 3\r\n"
         b"Transfer_Encoding: chunked\r\n", b"abc"), 200, "open", "9110 5.1", echo={"body": "abc"}),

    # ---- chunked bodies (RFC 9112 7.1) --------------------------------------------------------
    case("chunk size with leading zeros", post(CHUNKED, b"0003\r\nabc\r\n0\r\n\r\n"), 200, "open",
         "9112 7.1", echo={"body": "abc"}),
    case("chunk size followed by SP", post(CHUNKED, b"3 \r\nabc\r\n0\r\n\r\n"), 400, "close",
         "9112 7.1: BWS only before a chunk-ext"),
    case("chunk size with 20 leading zeros", post(CHUNKED, b"00000000000000000003\r\nabc\r\n0\r\n\r\n"),
         200, "open", "9112 7.1: 1*HEXDIG", echo={"body": "abc"}),
    case("chunk size overflow", post(CHUNKED, b"10000000000000003\r\nabc\r\n0\r\n\r\n"), 400, "close",
         "9112 7.1: anticipate overflow"),
    case("chunk size 0x prefix", post(CHUNKED, b"0x3\r\nabc\r\n0\r\n\r\n"), 400, "close", "9112 7.1"),
    case("chunk size with sign", post(CHUNKED, b"+3\r\nabc\r\n0\r\n\r\n"), 400, "close", "9112 7.1"),
    case("chunk extension, quoted string", post(CHUNKED, b"3;a=\"b;c\\\"d\"\r\nabc\r\n0;e\r\n\r\n"), 200,
         "open", "9112 7.1.1", echo={"body": "abc"}),
    case("chunk extension with BWS", post(CHUNKED, b"3 ; a = b\r\nabc\r\n0\r\n\r\n"), 200, "open",
         "9112 7.1.1", echo={"body": "abc"}),
    case("chunk extension after HTAB", post(CHUNKED, b"3\t;a\r\nabc\r\n0\t;b\r\n\r\n"), 200, "open",
         "9112 7.1.1: BWS is SP or HTAB", echo={"body": "abc"}),
    case("chunk extension over 64 KiB", post(CHUNKED, b"3;" + b"a" * 70000 + b"\r\nabc\r\n0\r\n\r\n"),
         400, "close", "9112 7.1.1: a server MAY limit extensions (appropriate 4xx)",
         "bounded like a header section (max_header_size)"),
    case("chunk extension, quote left open", post(CHUNKED, b"3;a=\"b\r\nabc\r\n0\r\n\r\n"), 400, "close",
         "9112 7.1.1"),
    case("chunk extension, bare LF in it", post(CHUNKED, b"3;a\nabc\r\n0\r\n\r\n"), 400, "close",
         "9112 7.1 (CRLF ends the size line)"),
    case("chunk data not followed by CRLF", post(CHUNKED, b"3\r\nabcXY0\r\n\r\n"), 400, "close", "9112 7.1"),
    case("chunk data followed by bare LF", post(CHUNKED, b"3\r\nabc\n0\r\n\r\n"), 400, "close",
         "9112 7.1", "the bare-LF MAY of 2.2 is for the head; chunk framing needs CRLF"),
    case("chunk size line ended by bare LF", post(CHUNKED, b"3\nabc\r\n0\r\n\r\n"), 400, "close", "9112 7.1"),
    case("last chunk without final CRLF, then a request", post(CHUNKED, b"3\r\nabc\r\n0\r\n" + FIXED),
         400, "close", "9112 7.1.2: a trailer field line must be name: value"),
    case("trailer Content-Length is not merged", post(CHUNKED, b"3\r\nabc\r\n0\r\nContent-Length: 9\r\n\r\n"),
         200, "open", "9110 6.5.1: MUST NOT merge/act on trailers it does not know",
         echo={"body": "abc"}),
    case("trailer Content-Length that is no number", post(CHUNKED, b"3\r\nabc\r\n0\r\n"
         b"Content-Length: abc\r\n\r\n"), 200, "open", "9110 6.5.1: not acted on, so not checked",
         echo={"body": "abc"}),
    case("two trailer Content-Length fields", post(CHUNKED, b"3\r\nabc\r\n0\r\nContent-Length: 3\r\n"
         b"Content-Length: 3\r\n\r\n"), 200, "open", "9110 6.5.1", echo={"body": "abc"}),
    case("trailer Host is not merged", post(CHUNKED, b"3\r\nabc\r\n0\r\nHost: evil\r\n\r\n"), 200,
         "open", "9110 6.5.1", echo={"host": "a"}),
    case("trailer with SP before colon", post(CHUNKED, b"3\r\nabc\r\n0\r\nX : 1\r\n\r\n"), 400, "close",
         "9112 5.1"),
    case("trailer with CTL", post(CHUNKED, b"3\r\nabc\r\n0\r\nX: \x01\r\n\r\n"), 400, "close", "9110 5.5"),

    # ---- pipelining and errors (RFC 9112 9.3.2, 9.6) ------------------------------------------
    case("pipelined, then a bad request, then a good one", FIXED + b"GET / HTTP/1.1\r\n\r\n" + FIXED,
         (200, 400), "close", "9112 9.3.2", "nothing after the error is processed"),
    case("pipelined after a malformed head", b"GET / HTTP/1.1\r\nX : y\r\n\r\n" + FIXED, 400, "close",
         "9112 9.6"),
    case("pipelined with bodies", post(b"Content-Length: 3\r\n", b"abc") + post(CHUNKED, ABC) + FIXED,
         (200, 200, 200), "open", "9112 9.3.2"),

    # ---- Expect (RFC 9110 10.1.1) -------------------------------------------------------------
    case("Expect: 100-continue", post(b"Expect: 100-continue\r\nContent-Length: 3\r\n", b"abc"), 200,
         "open", "9110 10.1.1", echo={"body": "abc"}),
    case("Expect: 100-continue without a body", b"GET / HTTP/1.1\r\n" + H + b"Expect: 100-continue\r\n\r\n",
         200, "open", "9110 10.1.1"),
    case("Expect: unknown", post(b"Expect: foo\r\nContent-Length: 3\r\n", b"abc"), 417, "close",
         "9110 10.1.1: MAY 417"),
    case("Expect: 100-continue and an unknown one",
         post(b"Expect: 100-continue, foo\r\nContent-Length: 3\r\n", b"abc"), 417, "close", "9110 10.1.1"),
    case("Expect: unknown in a 2nd field", post(b"Expect: foo\r\nExpect: 100-continue\r\n"
         b"Content-Length: 3\r\n", b"abc"), 417, "close", "9110 10.1.1 / 5.3: fields combine"),
    case("Expect: unknown on HTTP/1.0 ignored", post(b"Expect: foo\r\nContent-Length: 3\r\n", b"abc",
         b"HTTP/1.0"), 200, "close", "9110 10.1.1"),

    # ---- persistence (RFC 9112 9.3) -----------------------------------------------------------
    case("HTTP/1.0 closes by default", b"GET / HTTP/1.0\r\n\r\n" + FIXED, 200, "close", "9112 9.3"),
    case("HTTP/1.0 keep-alive", b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", 200, "open",
         "9112 C.2.2"),
    case("Connection: close honoured", b"GET / HTTP/1.1\r\n" + H + b"Connection: close\r\n\r\n" + FIXED,
         200, "close", "9112 9.6"),
    case("Connection: keep-alive, close", b"GET / HTTP/1.1\r\n" + H + b"Connection: keep-alive, Close\r\n\r\n",
         200, "close", "9112 9.3"),

    case("Upgrade: h2c is ignored", b"GET / HTTP/1.1\r\n" + H + b"Connection: Upgrade, HTTP2-Settings\r\n"
         b"Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAoAAAAAIAAAAA\r\n\r\n", 200, "open",
         "9110 7.8: a server MAY ignore Upgrade"),

    # ---- HEAD and limits ----------------------------------------------------------------------
    case("HEAD has no body", b"HEAD /fixed HTTP/1.1\r\n" + H + b"\r\n", 200, "open", "9110 9.3.2",
         method="HEAD"),
    case("8000-octet target", b"GET /" + b"a" * 7999 + b" HTTP/1.1\r\n" + H + b"\r\n", 200, "open",
         "9112 3: SHOULD support 8000"),
    case("70000-octet target", b"GET /" + b"a" * 70000 + b" HTTP/1.1\r\n" + H + b"\r\n", 414, "close",
         "9112 3 / 9110 15.5.15", "the limit is the 64 KiB head limit; nginx's is 8 KiB"),
    case("70000-octet field", b"GET / HTTP/1.1\r\n" + H + b"X: " + b"a" * 70000 + b"\r\n\r\n", 431,
         "close", "RFC 6585 5"),
    case("1000 field lines", b"GET / HTTP/1.1\r\n" + H + b"a:\r\n" * 999 + b"\r\n", 200, "open",
         "RFC 6585 5", "the default limit of field lines"),
    case("1001 field lines", b"GET / HTTP/1.1\r\n" + H + b"a:\r\n" * 1000 + b"\r\n", 431, "close",
         "RFC 6585 5", "each field costs ~60 bytes however short: the count is bounded too"),
]
