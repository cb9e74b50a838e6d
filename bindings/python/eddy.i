/* SWIG interface of eddy's low-level Python module (eddy.lowlevel / eddy._lowlevel).
 *
 * The public C headers are wrapped as they are; what SWIG cannot guess is said here:
 *  - (pointer, length) string arguments take a Python str (UTF-8) or any bytes-like object;
 *  - `size_t *len` outputs turn the returned view into bytes (None for NULL);
 *  - a callback with its (userdata, free_userdata) pair becomes one Python callable: the
 *    callable is the userdata (a new reference), a C trampoline calls it, and eddy's free
 *    callback drops the reference exactly once (after the last call, on cancel, or when the
 *    owner is freed). When registration fails the reference is dropped at once.
 *  - a raw TCP stream's userdata is one Python object (eddy_py_stream_bind) that its reads,
 *    writes and close are delivered to; accepted / connected streams the Python side did not
 *    bind are closed by the trampoline, so none can leak;
 *  - the web layer's per-route callbacks go to the route's userdata, a callable called as
 *    `route_callable(kind, handler, instance, arg)` (EDDY_PY_HOOK_* kinds below); `instance` is
 *    the object bound to the handler with eddy_py_handler_bind() (or None).
 * Every trampoline takes the GIL itself (PyGILState_Ensure), so eddy may call it with or without
 * the GIL held; eddy_loop_run and eddy_loop_run_once release the GIL while they wait.
 * Python exceptions escaping a low-level callback are reported with PyErr_WriteUnraisable (the
 * pure-Python layer catches its own). */
%module(package="eddy") lowlevel

%{
#include "eddy/eddy.h"
#include <string.h>
%}

%include <stdint.i>

/* ---- the trampolines ------------------------------------------------------------------- */
%{
/* Drops the reference eddy held; after interpreter shutdown there is nothing left to drop. */
static void eddy_py_decref(void *userdata) {
    if (!userdata || !Py_IsInitialized()) return;
    PyGILState_STATE gil = PyGILState_Ensure();
    Py_DECREF((PyObject *)userdata);
    PyGILState_Release(gil);
}

/* Calls `fn(*args)` (args is stolen), reporting an escaping exception. GIL must be held. */
static void eddy_py_call(PyObject *fn, PyObject *args) {
    if (!args) { PyErr_WriteUnraisable(fn); return; }
    PyObject *r = PyObject_CallObject(fn, args);
    Py_DECREF(args);
    if (!r) PyErr_WriteUnraisable(fn);
    Py_XDECREF(r);
}

static void eddy_py_loop_fn(eddy_loop *loop, void *ud) {
    PyGILState_STATE gil = PyGILState_Ensure();
    eddy_py_call((PyObject *)ud, PyTuple_New(0));
    PyGILState_Release(gil);
}
static void eddy_py_watch_fn(eddy_watch *w, int fd, int events, void *ud) {
    PyGILState_STATE gil = PyGILState_Ensure();
    eddy_py_call((PyObject *)ud, Py_BuildValue("(ii)", fd, events));
    PyGILState_Release(gil);
}
static void eddy_py_signal_fn(eddy_signal *s, int signum, void *ud) {
    PyGILState_STATE gil = PyGILState_Ensure();
    eddy_py_call((PyObject *)ud, Py_BuildValue("(i)", signum));
    PyGILState_Release(gil);
}
static void eddy_py_periodic_fn(eddy_periodic *p, void *ud) {
    PyGILState_STATE gil = PyGILState_Ensure();
    eddy_py_call((PyObject *)ud, PyTuple_New(0));
    PyGILState_Release(gil);
}
static void eddy_py_log_fn(int level, const char *msg, void *ud) {
    if (!Py_IsInitialized()) return; /* a loop on another thread logging during shutdown */
    PyGILState_STATE gil = PyGILState_Ensure();
    eddy_py_call((PyObject *)ud, Py_BuildValue("(is)", level, msg));
    PyGILState_Release(gil);
}
static void eddy_py_server_done_fn(eddy_server *server, void *ud) {
    PyGILState_STATE gil = PyGILState_Ensure();
    eddy_py_call((PyObject *)ud, PyTuple_New(0));
    PyGILState_Release(gil);
}
static void eddy_py_request_fn(eddy_request *req, void *ud) {
    PyGILState_STATE gil = PyGILState_Ensure();
    PyObject *r = SWIG_NewPointerObj(SWIG_as_voidptr(req), SWIGTYPE_p_eddy_request, 0);
    eddy_py_call((PyObject *)ud, r ? Py_BuildValue("(N)", r) : NULL);
    PyGILState_Release(gil);
}

/* Route hooks: what the route callable's first argument says. */
#define EDDY_PY_HOOK_METHOD 0
#define EDDY_PY_HOOK_PREPARE 1
#define EDDY_PY_HOOK_ON_FINISH 2
#define EDDY_PY_HOOK_CONNECTION_CLOSE 3
#define EDDY_PY_HOOK_DEFAULT_HEADERS 4
#define EDDY_PY_HOOK_WRITE_ERROR 5
#define EDDY_PY_HOOK_DATA_RECEIVED 6
#define EDDY_PY_HOOK_FLUSHED 7

/* The usual method names as interned strings, so the hot path allocates nothing for them. */
static PyObject *eddy_py_method_name(eddy_handler *h) {
    static PyObject *cache[8];
    static const char *const names[8] = {"GET", "POST", "HEAD", "PUT", "DELETE", "PATCH", "OPTIONS", NULL};
    size_t len = 0;
    const char *m = eddy_request_method(eddy_handler_request(h), &len);
    if (!m) Py_RETURN_NONE;
    for (int i = 0; names[i]; i++) {
        if (strlen(names[i]) == len && memcmp(names[i], m, len) == 0) {
            if (!cache[i]) cache[i] = PyUnicode_InternFromString(names[i]);
            Py_XINCREF(cache[i]);
            return cache[i];
        }
    }
    return PyUnicode_DecodeLatin1(m, (Py_ssize_t)len, NULL);
}

/* Calls the route callable as (kind, handler, instance or None, arg); `arg` is stolen. */
static void eddy_py_hook(eddy_handler *h, void *route_ud, int kind, PyObject *arg) {
    PyGILState_STATE gil = PyGILState_Ensure();
    PyObject *inst = (PyObject *)eddy_handler_get_userdata(h);
    PyObject *hobj = SWIG_NewPointerObj(SWIG_as_voidptr(h), SWIGTYPE_p_eddy_handler, 0);
    if (kind == EDDY_PY_HOOK_METHOD && !arg) arg = eddy_py_method_name(h);
    if (!arg) { arg = Py_None; Py_INCREF(arg); }
    if (hobj && arg) {
        eddy_py_call((PyObject *)route_ud,
                     Py_BuildValue("(iNOO)", kind, hobj, inst ? inst : Py_None, arg));
    } else {
        Py_XDECREF(hobj);
        PyErr_WriteUnraisable((PyObject *)route_ud);
    }
    Py_XDECREF(arg);
    PyGILState_Release(gil);
}
static void eddy_py_hook_method(eddy_handler *h, void *ud) { eddy_py_hook(h, ud, EDDY_PY_HOOK_METHOD, NULL); }
static void eddy_py_hook_prepare(eddy_handler *h, void *ud) { eddy_py_hook(h, ud, EDDY_PY_HOOK_PREPARE, NULL); }
static void eddy_py_hook_on_finish(eddy_handler *h, void *ud) { eddy_py_hook(h, ud, EDDY_PY_HOOK_ON_FINISH, NULL); }
static void eddy_py_hook_close(eddy_handler *h, void *ud) { eddy_py_hook(h, ud, EDDY_PY_HOOK_CONNECTION_CLOSE, NULL); }
static void eddy_py_hook_default_headers(eddy_handler *h, void *ud) { eddy_py_hook(h, ud, EDDY_PY_HOOK_DEFAULT_HEADERS, NULL); }
static void eddy_py_hook_write_error(eddy_handler *h, int status, void *ud) {
    PyGILState_STATE gil = PyGILState_Ensure();
    PyObject *arg = PyLong_FromLong(status);
    PyGILState_Release(gil);
    eddy_py_hook(h, ud, EDDY_PY_HOOK_WRITE_ERROR, arg);
}
static void eddy_py_hook_data(eddy_handler *h, const char *data, size_t len, void *ud) {
    PyGILState_STATE gil = PyGILState_Ensure();
    PyObject *arg = PyBytes_FromStringAndSize(data, (Py_ssize_t)len);
    PyGILState_Release(gil);
    eddy_py_hook(h, ud, EDDY_PY_HOOK_DATA_RECEIVED, arg);
}
static void eddy_py_hook_flushed(eddy_handler *h, int status, void *ud) {
    PyGILState_STATE gil = PyGILState_Ensure();
    PyObject *arg = PyLong_FromLong(status);
    PyGILState_Release(gil);
    eddy_py_hook(h, ud, EDDY_PY_HOOK_FLUSHED, arg);
}

static PyObject *eddy_py_latin1_s(const char *s, size_t len) {
    return PyUnicode_DecodeLatin1(s ? s : "", s ? (Py_ssize_t)len : 0, NULL);
}

/* WebSocket routes: open / message / close go to the route callable too, as
 * (kind, handler, instance or None, (ws, payload)); the instance is the object bound to the
 * handshake's handler, which stays valid until the close callback returned. */
#define EDDY_PY_HOOK_WS_OPEN 8
#define EDDY_PY_HOOK_WS_MESSAGE 9
#define EDDY_PY_HOOK_WS_CLOSE 10
static void eddy_py_ws_hook(eddy_ws *ws, void *route_ud, int kind, PyObject *payload) {
    PyGILState_STATE gil = PyGILState_Ensure();
    eddy_handler *h = eddy_ws_handler(ws);
    PyObject *inst = h ? (PyObject *)eddy_handler_get_userdata(h) : NULL;
    PyObject *hobj = SWIG_NewPointerObj(SWIG_as_voidptr(h), SWIGTYPE_p_eddy_handler, 0);
    PyObject *wsobj = SWIG_NewPointerObj(SWIG_as_voidptr(ws), SWIGTYPE_p_eddy_ws, 0);
    if (!payload) { payload = Py_None; Py_INCREF(payload); }
    if (hobj && wsobj) {
        eddy_py_call((PyObject *)route_ud, Py_BuildValue("(iNO(NN))", kind, hobj,
                                                         inst ? inst : Py_None, wsobj, payload));
    } else {
        Py_XDECREF(hobj);
        Py_XDECREF(wsobj);
        Py_DECREF(payload);
        PyErr_WriteUnraisable((PyObject *)route_ud);
    }
    PyGILState_Release(gil);
}
static void eddy_py_ws_open(eddy_ws *ws, void *ud) { eddy_py_ws_hook(ws, ud, EDDY_PY_HOOK_WS_OPEN, NULL); }
static void eddy_py_ws_message(eddy_ws *ws, const char *data, size_t len, int binary, void *ud) {
    PyGILState_STATE gil = PyGILState_Ensure();
    PyObject *payload = binary ? PyBytes_FromStringAndSize(data, (Py_ssize_t)len)
                               : PyUnicode_DecodeUTF8(data, (Py_ssize_t)len, "surrogateescape");
    PyGILState_Release(gil);
    if (payload) eddy_py_ws_hook(ws, ud, EDDY_PY_HOOK_WS_MESSAGE, payload);
}
static void eddy_py_ws_close(eddy_ws *ws, int code, const char *reason, size_t len, void *ud) {
    PyGILState_STATE gil = PyGILState_Ensure();
    PyObject *payload = Py_BuildValue("(iN)", code,
                                      PyUnicode_DecodeUTF8(reason ? reason : "", (Py_ssize_t)len,
                                                           "surrogateescape"));
    PyGILState_Release(gil);
    if (payload) eddy_py_ws_hook(ws, ud, EDDY_PY_HOOK_WS_CLOSE, payload);
}

#define EDDY_PY_HOOK_WS_PING 11
#define EDDY_PY_HOOK_WS_PONG 12
static void eddy_py_ws_control(eddy_ws *ws, const char *data, size_t len, void *ud, int kind) {
    PyGILState_STATE gil = PyGILState_Ensure();
    PyObject *payload = PyBytes_FromStringAndSize(data, (Py_ssize_t)len);
    PyGILState_Release(gil);
    if (payload) eddy_py_ws_hook(ws, ud, kind, payload);
}
static void eddy_py_ws_ping(eddy_ws *ws, const char *data, size_t len, void *ud) {
    eddy_py_ws_control(ws, data, len, ud, EDDY_PY_HOOK_WS_PING);
}
static void eddy_py_ws_pong(eddy_ws *ws, const char *data, size_t len, void *ud) {
    eddy_py_ws_control(ws, data, len, ud, EDDY_PY_HOOK_WS_PONG);
}

/* The handshake's questions: the route callable is called as (kind, handler, instance or None,
 * arg) and its result is the answer — truthy to accept the Origin (arg: the origin str), or the
 * index of the chosen subprotocol / -1 (arg: the offered names as a list of str). A failed call
 * (the Python layer catches its own exceptions) refuses the origin / chooses none. */
#define EDDY_PY_HOOK_WS_CHECK_ORIGIN 13
#define EDDY_PY_HOOK_WS_SELECT_SUBPROTOCOL 14
static PyObject *eddy_py_ask(eddy_handler *h, void *route_ud, int kind, PyObject *arg) {
    PyObject *inst = (PyObject *)eddy_handler_get_userdata(h);
    PyObject *hobj = SWIG_NewPointerObj(SWIG_as_voidptr(h), SWIGTYPE_p_eddy_handler, 0);
    PyObject *r = NULL;
    if (hobj && arg) {
        PyObject *args = Py_BuildValue("(iNOO)", kind, hobj, inst ? inst : Py_None, arg);
        hobj = NULL;
        if (args) {
            r = PyObject_CallObject((PyObject *)route_ud, args);
            Py_DECREF(args);
        }
    }
    Py_XDECREF(hobj);
    Py_XDECREF(arg);
    if (!r) PyErr_WriteUnraisable((PyObject *)route_ud);
    return r;
}
static int eddy_py_ws_check_origin(eddy_handler *h, const char *origin, size_t len, void *ud) {
    if (!origin) return 1; /* Tornado does not ask about requests without an Origin */
    PyGILState_STATE gil = PyGILState_Ensure();
    PyObject *r = eddy_py_ask(h, ud, EDDY_PY_HOOK_WS_CHECK_ORIGIN, eddy_py_latin1_s(origin, len));
    int ok = r ? PyObject_IsTrue(r) : 0;
    if (ok < 0) { PyErr_Clear(); ok = 0; }
    Py_XDECREF(r);
    PyGILState_Release(gil);
    return ok;
}
static int eddy_py_ws_select_subprotocol(eddy_handler *h, const char *const *protocols,
                                         const size_t *lens, size_t count, void *ud) {
    PyGILState_STATE gil = PyGILState_Ensure();
    PyObject *list = PyList_New((Py_ssize_t)count);
    for (size_t i = 0; list && i < count; i++) {
        PyObject *name = eddy_py_latin1_s(protocols[i], lens[i]);
        if (!name) { Py_CLEAR(list); break; }
        PyList_SET_ITEM(list, (Py_ssize_t)i, name);
    }
    PyObject *r = eddy_py_ask(h, ud, EDDY_PY_HOOK_WS_SELECT_SUBPROTOCOL, list);
    long pick = r && PyLong_Check(r) ? PyLong_AsLong(r) : -1;
    if (pick == -1 && PyErr_Occurred()) PyErr_Clear();
    Py_XDECREF(r);
    PyGILState_Release(gil);
    return pick >= 0 && (size_t)pick < count ? (int)pick : -1;
}

/* Client connections (eddy_py_websocket_connect): the connect's callable is called as
 * (event, arg): (0, (ws or None, status)) once, then (1, message str/bytes), (3, ping bytes),
 * (4, pong bytes) and finally (2, (code, reason)); (5, (http status, reason)) comes before a
 * failed (0, ...) when the server answered without a 101. */
static void eddy_py_client_event(void *ud, int event, PyObject *arg) {
    eddy_py_call((PyObject *)ud, arg ? Py_BuildValue("(iN)", event, arg) : NULL);
}
static void eddy_py_client_connected(eddy_ws *ws, int status, void *ud) {
    PyGILState_STATE gil = PyGILState_Ensure();
    PyObject *wsobj = ws ? SWIG_NewPointerObj(SWIG_as_voidptr(ws), SWIGTYPE_p_eddy_ws, 0)
                         : (Py_INCREF(Py_None), Py_None);
    eddy_py_client_event(ud, 0, wsobj ? Py_BuildValue("(Ni)", wsobj, status) : NULL);
    PyGILState_Release(gil);
}
static void eddy_py_client_message(eddy_ws *ws, const char *data, size_t len, int binary, void *ud) {
    PyGILState_STATE gil = PyGILState_Ensure();
    eddy_py_client_event(ud, 1, binary ? PyBytes_FromStringAndSize(data, (Py_ssize_t)len)
                                       : PyUnicode_DecodeUTF8(data, (Py_ssize_t)len, "surrogateescape"));
    PyGILState_Release(gil);
}
static void eddy_py_client_close(eddy_ws *ws, int code, const char *reason, size_t len, void *ud) {
    PyGILState_STATE gil = PyGILState_Ensure();
    eddy_py_client_event(ud, 2, Py_BuildValue("(iN)", code,
                                              PyUnicode_DecodeUTF8(reason ? reason : "", (Py_ssize_t)len,
                                                                   "surrogateescape")));
    PyGILState_Release(gil);
}
static void eddy_py_client_ping(eddy_ws *ws, const char *data, size_t len, void *ud) {
    PyGILState_STATE gil = PyGILState_Ensure();
    eddy_py_client_event(ud, 3, PyBytes_FromStringAndSize(data, (Py_ssize_t)len));
    PyGILState_Release(gil);
}
static void eddy_py_client_pong(eddy_ws *ws, const char *data, size_t len, void *ud) {
    PyGILState_STATE gil = PyGILState_Ensure();
    eddy_py_client_event(ud, 4, PyBytes_FromStringAndSize(data, (Py_ssize_t)len));
    PyGILState_Release(gil);
}

static void eddy_py_client_refused(int status, const char *reason, size_t len, void *ud) {
    PyGILState_STATE gil = PyGILState_Ensure();
    eddy_py_client_event(ud, 5, Py_BuildValue("(iN)", status, eddy_py_latin1_s(reason, len)));
    PyGILState_Release(gil);
}

/* Write completions of eddy_py_ws_write(..., notify=1), in write order: status 0 once the
 * message was handed to the kernel, negative when the connection closed first (always before
 * the close event). Server side: the route callable gets (EDDY_PY_HOOK_WS_WRITTEN, handler,
 * instance, (ws, status)); client side: the connect's callable gets (6, status). */
#define EDDY_PY_HOOK_WS_WRITTEN 15
static void eddy_py_ws_written(eddy_ws *ws, int status, void *ud) {
    if (eddy_ws_is_client(ws)) {
        PyGILState_STATE gil = PyGILState_Ensure();
        eddy_py_client_event(ud, 6, PyLong_FromLong(status));
        PyGILState_Release(gil);
        return;
    }
    PyGILState_STATE gil = PyGILState_Ensure();
    PyObject *payload = PyLong_FromLong(status);
    PyGILState_Release(gil);
    if (payload) eddy_py_ws_hook(ws, ud, EDDY_PY_HOOK_WS_WRITTEN, payload);
}

/* Releases the object bound to a handler: calls its `_eddy_release()` method first (when it has
 * one), so Python code that kept the object can no longer reach the released handler. */
static void eddy_py_handler_release(void *ud) {
    if (!ud || !Py_IsInitialized()) return;
    PyGILState_STATE gil = PyGILState_Ensure();
    PyObject *obj = (PyObject *)ud;
    PyObject *r = PyObject_CallMethod(obj, "_eddy_release", NULL);
    if (r)
        Py_DECREF(r);
    else
        PyErr_WriteUnraisable(obj); /* not lost: a failed release may leave futures waiting */
    Py_DECREF(obj);
    PyGILState_Release(gil);
}

static PyObject *eddy_py_str(const char *s, size_t len) {
    return PyUnicode_DecodeUTF8(s ? s : "", s ? (Py_ssize_t)len : 0, "surrogateescape");
}
static PyObject *eddy_py_latin1(const char *s, size_t len) {
    return PyUnicode_DecodeLatin1(s ? s : "", s ? (Py_ssize_t)len : 0, NULL);
}

/* The HTTP client's completion: the callable gets (error, status, reason, [(name, value)], body,
 * effective_url, redirects, reused), read while the response is still valid. */
static void eddy_py_fetch_done(eddy_fetch *f, int error, void *ud) {
    PyGILState_STATE gil = PyGILState_Ensure();
    size_t n = eddy_fetch_response_header_count(f);
    PyObject *headers = PyList_New(0);
    for (size_t i = 0; headers && i < n; i++) {
        const char *name = NULL, *value = NULL;
        size_t nl = 0, vl = 0;
        if (eddy_fetch_response_header_at(f, i, &name, &nl, &value, &vl) != 0) continue;
        PyObject *pair = Py_BuildValue("(NN)", eddy_py_latin1(name, nl), eddy_py_latin1(value, vl));
        if (!pair || PyList_Append(headers, pair) < 0) Py_CLEAR(headers);
        Py_XDECREF(pair);
    }
    size_t rl = 0, bl = 0, ul = 0, dl = 0;
    const char *reason = eddy_fetch_response_reason(f, &rl);
    const char *body = eddy_fetch_response_body(f, &bl);
    const char *url = eddy_fetch_effective_url(f, &ul);
    const char *detail = eddy_fetch_error_detail(f, &dl);
    PyObject *args = headers ? Py_BuildValue("((iiNNy#NiiN))", error, eddy_fetch_response_status(f),
                                             eddy_py_latin1(reason ? reason : "", reason ? rl : 0),
                                             headers, body ? body : "", (Py_ssize_t)(body ? bl : 0),
                                             eddy_py_str(url ? url : "", url ? ul : 0),
                                             eddy_fetch_redirect_count(f),
                                             eddy_fetch_connection_reused(f),
                                             eddy_py_latin1(detail ? detail : "", detail ? dl : 0))
                             : NULL;
    eddy_py_call((PyObject *)ud, args);
    PyGILState_Release(gil);
}

/* A fetch's response head, before its body: ("headers", status, reason, [(name, value)...]) to
 * the fetch's callable (see eddy_py_fetch_start_streaming). */
static void eddy_py_fetch_headers(eddy_fetch *f, void *ud) {
    PyGILState_STATE gil = PyGILState_Ensure();
    size_t n = eddy_fetch_response_header_count(f);
    PyObject *headers = PyList_New(0);
    for (size_t i = 0; headers && i < n; i++) {
        const char *name = NULL, *value = NULL;
        size_t nl = 0, vl = 0;
        if (eddy_fetch_response_header_at(f, i, &name, &nl, &value, &vl) != 0) continue;
        PyObject *pair = Py_BuildValue("(NN)", eddy_py_latin1(name, nl), eddy_py_latin1(value, vl));
        if (!pair || PyList_Append(headers, pair) < 0) Py_CLEAR(headers);
        Py_XDECREF(pair);
    }
    size_t rl = 0;
    const char *reason = eddy_fetch_response_reason(f, &rl);
    PyObject *args = headers ? Py_BuildValue("((siNN))", "headers", eddy_fetch_response_status(f),
                                             eddy_py_latin1(reason ? reason : "", reason ? rl : 0),
                                             headers)
                             : NULL;
    eddy_py_call((PyObject *)ud, args);
    PyGILState_Release(gil);
}

/* A piece of a fetch's body: ("chunk", bytes) to the fetch's callable. */
static void eddy_py_fetch_chunk(eddy_fetch *f, const char *data, size_t len, void *ud) {
    (void)f;
    PyGILState_STATE gil = PyGILState_Ensure();
    eddy_py_call((PyObject *)ud, Py_BuildValue("((sy#))", "chunk", data, (Py_ssize_t)len));
    PyGILState_Release(gil);
}

/* A streamed request body reached the kernel, or never will (eddy_fetch_flush_body):
 * ("flushed", status) to the fetch's callable, in the order of the flush calls. */
static void eddy_py_fetch_flushed(eddy_fetch *f, int status, void *ud) {
    (void)f;
    PyGILState_STATE gil = PyGILState_Ensure();
    eddy_py_call((PyObject *)ud, Py_BuildValue("((si))", "flushed", status));
    PyGILState_Release(gil);
}

/* Raw TCP (eddy.iostream / tcpserver / tcpclient). A stream's userdata is one Python object
 * (eddy_py_stream_bind): its read, write and close events call it as (event, arg) —
 * (0, data bytes), (1, write status), (2, close error) — and eddy's free of the userdata
 * calls its `_eddy_release()` and drops the reference (eddy_py_handler_release), once the close
 * callback returned or the loop was freed first. */
static void eddy_py_stream_read(eddy_stream *s, const char *data, size_t len, void *ud) {
    (void)s;
    PyGILState_STATE gil = PyGILState_Ensure();
    eddy_py_call((PyObject *)ud, Py_BuildValue("(iy#)", 0, data, (Py_ssize_t)len));
    PyGILState_Release(gil);
}
static void eddy_py_stream_written(eddy_stream *s, int status, void *ud) {
    (void)s;
    PyGILState_STATE gil = PyGILState_Ensure();
    eddy_py_call((PyObject *)ud, Py_BuildValue("(ii)", 1, status));
    PyGILState_Release(gil);
}
static void eddy_py_stream_closed(eddy_stream *s, int error, void *ud) {
    (void)s;
    PyGILState_STATE gil = PyGILState_Ensure();
    eddy_py_call((PyObject *)ud, Py_BuildValue("(ii)", 2, error));
    PyGILState_Release(gil);
}

/* An accepted connection: the listener's callable gets (stream, peer_ip, peer_port). A stream
 * the callable did not adopt (eddy_py_stream_bind), e.g. because it raised, is closed here so
 * that it cannot leak. */
static void eddy_py_accept_fn(eddy_listener *l, eddy_stream *stream, const char *ip, int port,
                              void *ud) {
    (void)l;
    PyGILState_STATE gil = PyGILState_Ensure();
    PyObject *sobj = SWIG_NewPointerObj(SWIG_as_voidptr(stream), SWIGTYPE_p_eddy_stream, 0);
    eddy_py_call((PyObject *)ud, sobj ? Py_BuildValue("(Nsi)", sobj, ip ? ip : "", port) : NULL);
    if (!eddy_stream_get_userdata(stream)) eddy_stream_close(stream);
    PyGILState_Release(gil);
}

/* eddy_connect / eddy_connect_tls / eddy_stream_start_tls: the callable gets (stream or None,
 * error); a stream it did not adopt is closed, as above. */
static void eddy_py_connect_fn(eddy_loop *loop, eddy_stream *stream, int error, void *ud) {
    (void)loop;
    PyGILState_STATE gil = PyGILState_Ensure();
    PyObject *sobj = stream ? SWIG_NewPointerObj(SWIG_as_voidptr(stream), SWIGTYPE_p_eddy_stream, 0)
                            : (Py_INCREF(Py_None), Py_None);
    eddy_py_call((PyObject *)ud, sobj ? Py_BuildValue("(Ni)", sobj, error) : NULL);
    if (stream && !eddy_stream_get_userdata(stream)) eddy_stream_close(stream);
    PyGILState_Release(gil);
}

/* eddy_stream_wait_for_handshake: the callable gets (error,): 0 once the handshake completed. */
static void eddy_py_handshake_fn(eddy_stream *stream, int error, void *ud) {
    (void)stream;
    PyGILState_STATE gil = PyGILState_Ensure();
    eddy_py_call((PyObject *)ud, Py_BuildValue("(i)", error));
    PyGILState_Release(gil);
}

%}

/* ---- child processes (eddy.process.Subprocess) ------------------------------------------ */
%{
/* A subprocess's exit: its userdata (the object eddy_py_subprocess_spawn was given) is called
 * as (exit_status, term_signal). eddy releases the handle when this returns, and with it the
 * object (eddy_py_handler_release: its `_eddy_release()`, then the reference). */
static void eddy_py_subprocess_exit(eddy_subprocess *proc, int exit_status, int term_signal,
                                    void *ud) {
    (void)proc;
    PyGILState_STATE gil = PyGILState_Ensure();
    eddy_py_call((PyObject *)ud, Py_BuildValue("(ii)", exit_status, term_signal));
    PyGILState_Release(gil);
}

/* The bytes objects of the list or tuple `fast` (PySequence_Fast) as a NULL-terminated array of
 * C strings that point into them (valid while `fast` lives; PyMem_Free the array). NULL with an
 * exception set: an item that is not bytes (TypeError) or holds a NUL byte (ValueError). */
static const char **eddy_py_cstr_array(PyObject *fast) {
    Py_ssize_t n = PySequence_Fast_GET_SIZE(fast);
    const char **array = (const char **)PyMem_Calloc((size_t)n + 1, sizeof(char *));
    if (!array) {
        PyErr_NoMemory();
        return NULL;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *item = PySequence_Fast_GET_ITEM(fast, i);
        char *s = NULL;
        if (!PyBytes_Check(item)) {
            PyErr_Format(PyExc_TypeError, "expected bytes, not %.100s", Py_TYPE(item)->tp_name);
            PyMem_Free(array);
            return NULL;
        }
        if (PyBytes_AsStringAndSize(item, &s, NULL) < 0) { /* ValueError: embedded null byte */
            PyMem_Free(array);
            return NULL;
        }
        array[i] = s;
    }
    return array;
}
%}

/* ---- a certificate as ssl.SSLSocket.getpeercert() shows it ------------------------------ */
%{
#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

/* Raises ValueError("<what>: <OpenSSL's reason>") (or just `what` when OpenSSL said nothing);
 * returns NULL. */
static PyObject *eddy_cert_fail(const char *what) {
    unsigned long e = ERR_peek_last_error();
    const char *reason = e ? ERR_reason_error_string(e) : NULL;
    if (reason)
        PyErr_Format(PyExc_ValueError, "%s: %s", what, reason);
    else
        PyErr_SetString(PyExc_ValueError, what);
    return NULL;
}

/* Bytes read as UTF-8, strictly (what the ssl module does with a certificate's strings: a value
 * that is not UTF-8 raises UnicodeDecodeError). */
static PyObject *eddy_cert_utf8(const void *data, int len) {
    return PyUnicode_DecodeUTF8(len > 0 ? (const char *)data : "", len > 0 ? len : 0, "strict");
}

static PyObject *eddy_cert_asn1_string(const ASN1_STRING *s) {
    return eddy_cert_utf8(ASN1_STRING_get0_data(s), ASN1_STRING_length(s));
}

/* An object identifier as OpenSSL's OBJ_obj2txt spells it: the long name of an OID OpenSSL
 * knows ("commonName", "emailAddress", "OCSP"), else the dotted numbers. */
static PyObject *eddy_cert_oid(const ASN1_OBJECT *obj) {
    char small[256];
    int len = OBJ_obj2txt(small, (int)sizeof small, obj, 0);
    if (len < 0) return eddy_cert_fail("cannot read an object identifier");
    if (len < (int)sizeof small) return eddy_cert_utf8(small, len);
    char *big = (char *)PyMem_Malloc((size_t)len + 1);
    if (!big) return PyErr_NoMemory();
    int got = OBJ_obj2txt(big, len + 1, obj, 0);
    PyObject *s = got < 0 ? eddy_cert_fail("cannot read an object identifier")
                          : eddy_cert_utf8(big, got < len ? got : len);
    PyMem_Free(big);
    return s;
}

/* The first line of what a printer wrote into `bio` (what the ssl module reads back from
 * OpenSSL's printers: BIO_gets into a 2 KiB buffer), as bytes and length in `line`. */
static int eddy_cert_first_line(BIO *bio, char line[2048]) {
    int n = BIO_gets(bio, line, 2047);
    return n > 0 ? n : 0;
}

/* A distinguished name: a tuple of RDNs, each a tuple of (attribute name, value) pairs; the
 * entries OpenSSL marks as one set (a multi-valued RDN, "CN=a+UID=b") share a tuple. */
static PyObject *eddy_cert_name(const X509_NAME *name) {
    PyObject *dn = PyList_New(0), *rdn = NULL;
    if (!dn) return NULL;
    int count = X509_NAME_entry_count(name), set = -1;
    for (int i = 0; i < count; i++) {
        const X509_NAME_ENTRY *entry = X509_NAME_get_entry(name, i);
        int entry_set = X509_NAME_ENTRY_set(entry);
        if (rdn && entry_set != set) { /* a new RDN begins: the one so far is complete */
            PyObject *t = PyList_AsTuple(rdn);
            Py_CLEAR(rdn);
            if (!t || PyList_Append(dn, t) < 0) {
                Py_XDECREF(t);
                goto fail;
            }
            Py_DECREF(t);
        }
        set = entry_set;
        if (!rdn && !(rdn = PyList_New(0))) goto fail;

        unsigned char *utf8 = NULL;
        int len = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(entry));
        if (len < 0) {
            eddy_cert_fail("cannot convert a name's value to UTF-8");
            goto fail;
        }
        PyObject *value = eddy_cert_utf8(utf8, len);
        OPENSSL_free(utf8);
        PyObject *attr =
            value ? Py_BuildValue("(NN)", eddy_cert_oid(X509_NAME_ENTRY_get_object(entry)), value)
                  : NULL;
        if (!attr || PyList_Append(rdn, attr) < 0) {
            Py_XDECREF(attr);
            goto fail;
        }
        Py_DECREF(attr);
    }
    if (rdn) {
        PyObject *t = PyList_AsTuple(rdn);
        Py_CLEAR(rdn);
        if (!t || PyList_Append(dn, t) < 0) {
            Py_XDECREF(t);
            goto fail;
        }
        Py_DECREF(t);
    }
    PyObject *out = PyList_AsTuple(dn);
    Py_DECREF(dn);
    return out;
fail:
    Py_XDECREF(rdn);
    Py_DECREF(dn);
    return NULL;
}

/* One subjectAltName entry as a (type, value) pair. */
static PyObject *eddy_cert_general_name(const GENERAL_NAME *gn, BIO *bio) {
    switch (gn->type) {
    case GEN_DNS: return Py_BuildValue("(sN)", "DNS", eddy_cert_asn1_string(gn->d.dNSName));
    case GEN_EMAIL: return Py_BuildValue("(sN)", "email", eddy_cert_asn1_string(gn->d.rfc822Name));
    case GEN_URI:
        return Py_BuildValue("(sN)", "URI", eddy_cert_asn1_string(gn->d.uniformResourceIdentifier));
    case GEN_DIRNAME: return Py_BuildValue("(sN)", "DirName", eddy_cert_name(gn->d.directoryName));
    case GEN_RID: {
        /* The ssl module reads the OID into a 2 KiB buffer and says "<INVALID>" past it. */
        int len = OBJ_obj2txt(NULL, 0, gn->d.registeredID, 0);
        if (len >= 2048) return Py_BuildValue("(ss)", "Registered ID", "<INVALID>");
        return Py_BuildValue("(sN)", "Registered ID", eddy_cert_oid(gn->d.registeredID));
    }
    case GEN_IPADD: {
        const unsigned char *ip = ASN1_STRING_get0_data(gn->d.iPAddress);
        int len = ASN1_STRING_length(gn->d.iPAddress);
        char text[48];
        if (len == 4) {
            snprintf(text, sizeof text, "%d.%d.%d.%d", ip[0], ip[1], ip[2], ip[3]);
        } else if (len == 16) { /* eight groups, upper-case hex, none left out ("2001:DB8:0:...") */
            int at = 0;
            for (int i = 0; i < 16; i += 2)
                at += snprintf(text + at, sizeof text - (size_t)at, i ? ":%X" : "%X",
                               (unsigned)(ip[i] << 8 | ip[i + 1]));
        } else {
            snprintf(text, sizeof text, "<invalid>");
        }
        return Py_BuildValue("(ss)", "IP Address", text);
    }
    default: {
        /* otherName, x400Address, ediPartyName: OpenSSL's printing ("othername:<unsupported>",
         * "othername:UPN:user@example", "X400Name:<unsupported>", "EdiPartyName:<unsupported>")
         * split at its first colon, as the ssl module does. */
        char line[2048];
        (void)BIO_reset(bio);
        GENERAL_NAME_print(bio, (GENERAL_NAME *)gn);
        int len = eddy_cert_first_line(bio, line);
        const char *colon = memchr(line, ':', (size_t)len);
        if (!colon) {
            PyErr_Format(PyExc_ValueError, "Invalid value %.*s", len < 200 ? len : 200, line);
            return NULL;
        }
        return Py_BuildValue("(NN)", eddy_cert_utf8(line, (int)(colon - line)),
                             eddy_cert_utf8(colon + 1, len - (int)(colon - line) - 1));
    }
    }
}

/* Sets dict[key] to a list's tuple when the list has something; drops the list. 0 or -1. */
static int eddy_cert_set_nonempty(PyObject *dict, const char *key, PyObject *list) {
    int rc = 0;
    if (PyList_GET_SIZE(list) > 0) {
        PyObject *t = PyList_AsTuple(list);
        rc = t ? PyDict_SetItemString(dict, key, t) : -1;
        Py_XDECREF(t);
    }
    Py_DECREF(list);
    return rc;
}

/* subjectAltName: all its entries, in order (a certificate with the extension twice, or one
 * that does not parse, has none: X509_get_ext_d2i gives nothing then, for the ssl module too). */
static int eddy_cert_alt_names(X509 *cert, PyObject *dict, BIO *bio) {
    GENERAL_NAMES *names =
        (GENERAL_NAMES *)X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
    if (!names) return 0;
    int n = sk_GENERAL_NAME_num(names), rc = -1;
    PyObject *t = PyTuple_New(n > 0 ? n : 0);
    if (!t) goto done;
    for (int i = 0; i < n; i++) {
        PyObject *pair = eddy_cert_general_name(sk_GENERAL_NAME_value(names, i), bio);
        if (!pair) goto done;
        PyTuple_SET_ITEM(t, i, pair);
    }
    rc = PyDict_SetItemString(dict, "subjectAltName", t);
done:
    Py_XDECREF(t);
    GENERAL_NAMES_free(names);
    return rc;
}

/* authorityInfoAccess: the URIs of its OCSP and caIssuers entries ("OCSP", "caIssuers"). */
static int eddy_cert_info_access(X509 *cert, PyObject *dict) {
    AUTHORITY_INFO_ACCESS *info =
        (AUTHORITY_INFO_ACCESS *)X509_get_ext_d2i(cert, NID_info_access, NULL, NULL);
    if (!info) return 0;
    PyObject *ocsp = PyList_New(0), *issuers = PyList_New(0);
    int rc = -1;
    if (!ocsp || !issuers) goto done;
    for (int i = 0; i < sk_ACCESS_DESCRIPTION_num(info); i++) {
        const ACCESS_DESCRIPTION *ad = sk_ACCESS_DESCRIPTION_value(info, i);
        int nid = OBJ_obj2nid(ad->method);
        PyObject *into = nid == NID_ad_OCSP ? ocsp : nid == NID_ad_ca_issuers ? issuers : NULL;
        if (!into || ad->location->type != GEN_URI) continue;
        PyObject *uri = eddy_cert_asn1_string(ad->location->d.uniformResourceIdentifier);
        if (!uri || PyList_Append(into, uri) < 0) {
            Py_XDECREF(uri);
            goto done;
        }
        Py_DECREF(uri);
    }
    rc = eddy_cert_set_nonempty(dict, "OCSP", ocsp);
    ocsp = NULL;
    if (rc == 0) {
        rc = eddy_cert_set_nonempty(dict, "caIssuers", issuers);
        issuers = NULL;
    }
done:
    Py_XDECREF(ocsp);
    Py_XDECREF(issuers);
    AUTHORITY_INFO_ACCESS_free(info);
    return rc;
}

/* crlDistributionPoints: the URIs of the points' full names, in order. */
static int eddy_cert_crl_points(X509 *cert, PyObject *dict) {
    STACK_OF(DIST_POINT) *points =
        (STACK_OF(DIST_POINT) *)X509_get_ext_d2i(cert, NID_crl_distribution_points, NULL, NULL);
    if (!points) return 0;
    PyObject *uris = PyList_New(0);
    int rc = -1;
    if (!uris) goto done;
    for (int i = 0; i < sk_DIST_POINT_num(points); i++) {
        const DIST_POINT *dp = sk_DIST_POINT_value(points, i);
        /* No name, or a name relative to the CRL issuer (a list of name entries, no URI:
         * the ssl module reads it as if it were a list of general names; not here). */
        if (!dp->distpoint || dp->distpoint->type != 0) continue;
        const GENERAL_NAMES *full = dp->distpoint->name.fullname;
        for (int j = 0; j < sk_GENERAL_NAME_num(full); j++) {
            const GENERAL_NAME *gn = sk_GENERAL_NAME_value(full, j);
            if (gn->type != GEN_URI) continue;
            PyObject *uri = eddy_cert_asn1_string(gn->d.uniformResourceIdentifier);
            if (!uri || PyList_Append(uris, uri) < 0) {
                Py_XDECREF(uri);
                goto done;
            }
            Py_DECREF(uri);
        }
    }
    rc = eddy_cert_set_nonempty(dict, "crlDistributionPoints", uris);
    uris = NULL;
done:
    Py_XDECREF(uris);
    CRL_DIST_POINTS_free(points);
    return rc;
}

/* dict[key] = the first line OpenSSL's printer wrote into `bio` (reset first). 0 or -1. */
static int eddy_cert_set_printed(PyObject *dict, const char *key, BIO *bio) {
    char line[2048];
    PyObject *s = eddy_cert_utf8(line, eddy_cert_first_line(bio, line));
    int rc = s ? PyDict_SetItemString(dict, key, s) : -1;
    Py_XDECREF(s);
    return rc;
}

static PyObject *eddy_cert_decode(X509 *cert) {
    PyObject *dict = PyDict_New(), *v = NULL;
    BIO *bio = NULL;
    if (!dict) return NULL;
    if (!(v = eddy_cert_name(X509_get_subject_name(cert))) ||
        PyDict_SetItemString(dict, "subject", v) < 0)
        goto fail;
    Py_CLEAR(v);
    if (!(v = eddy_cert_name(X509_get_issuer_name(cert))) ||
        PyDict_SetItemString(dict, "issuer", v) < 0)
        goto fail;
    Py_CLEAR(v);
    if (!(v = PyLong_FromLong(X509_get_version(cert) + 1)) ||
        PyDict_SetItemString(dict, "version", v) < 0)
        goto fail;
    Py_CLEAR(v);
    if (!(bio = BIO_new(BIO_s_mem()))) {
        eddy_cert_fail("cannot make a memory BIO");
        goto fail;
    }
    /* Upper-case hex, two digits a byte, "-" before a negative one (i2a_ASN1_INTEGER). */
    i2a_ASN1_INTEGER(bio, X509_get0_serialNumber(cert));
    if (eddy_cert_set_printed(dict, "serialNumber", bio) < 0) goto fail;
    (void)BIO_reset(bio);
    /* "Nov 30 12:00:00 2026 GMT" (ASN1_TIME_print) */
    ASN1_TIME_print(bio, X509_get0_notBefore(cert));
    if (eddy_cert_set_printed(dict, "notBefore", bio) < 0) goto fail;
    (void)BIO_reset(bio);
    ASN1_TIME_print(bio, X509_get0_notAfter(cert));
    if (eddy_cert_set_printed(dict, "notAfter", bio) < 0) goto fail;
    if (eddy_cert_alt_names(cert, dict, bio) < 0 || eddy_cert_info_access(cert, dict) < 0 ||
        eddy_cert_crl_points(cert, dict) < 0)
        goto fail;
    BIO_free(bio);
    return dict;
fail:
    Py_XDECREF(v);
    BIO_free(bio);
    Py_DECREF(dict);
    return NULL;
}
%}

%constant int EDDY_PY_HOOK_METHOD = 0;
%constant int EDDY_PY_HOOK_PREPARE = 1;
%constant int EDDY_PY_HOOK_ON_FINISH = 2;
%constant int EDDY_PY_HOOK_CONNECTION_CLOSE = 3;
%constant int EDDY_PY_HOOK_DEFAULT_HEADERS = 4;
%constant int EDDY_PY_HOOK_WRITE_ERROR = 5;
%constant int EDDY_PY_HOOK_DATA_RECEIVED = 6;
%constant int EDDY_PY_HOOK_FLUSHED = 7;
%constant int EDDY_PY_HOOK_WS_OPEN = 8;
%constant int EDDY_PY_HOOK_WS_MESSAGE = 9;
%constant int EDDY_PY_HOOK_WS_CLOSE = 10;
%constant int EDDY_PY_HOOK_WS_PING = 11;
%constant int EDDY_PY_HOOK_WS_PONG = 12;
%constant int EDDY_PY_HOOK_WS_CHECK_ORIGIN = 13;
%constant int EDDY_PY_HOOK_WS_SELECT_SUBPROTOCOL = 14;
%constant int EDDY_PY_HOOK_WS_WRITTEN = 15;

/* ---- strings in ------------------------------------------------------------------------ */
%typemap(in) (const char *STR, size_t LEN) (Py_buffer view, int got_view = 0) {
    if ($input == Py_None) {
        $1 = NULL; $2 = 0;
    } else if (PyUnicode_Check($input)) {
        Py_ssize_t n = 0;
        $1 = ($1_ltype)PyUnicode_AsUTF8AndSize($input, &n);
        if (!$1) SWIG_fail;
        $2 = (size_t)n;
    } else {
        if (PyObject_GetBuffer($input, &view, PyBUF_SIMPLE) < 0) SWIG_fail;
        got_view = 1;
        $1 = ($1_ltype)view.buf; $2 = (size_t)view.len;
    }
}
%typemap(freearg) (const char *STR, size_t LEN) {
    if (got_view$argnum) PyBuffer_Release(&view$argnum);
}
%typemap(typecheck, precedence=SWIG_TYPECHECK_STRING) (const char *STR, size_t LEN) {
    $1 = ($input == Py_None || PyUnicode_Check($input) || PyObject_CheckBuffer($input)) ? 1 : 0;
}
%apply (const char *STR, size_t LEN) {
    (const char *name, size_t name_len), (const char *value, size_t value_len),
    (const char *value, size_t len), (const char *name, size_t len), (const char *method, size_t len),
    (const char *pattern, size_t pattern_len), (const char *host_pattern, size_t host_pattern_len),
    (const char *url, size_t url_len), (const char *url_prefix, size_t prefix_len),
    (const char *root, size_t root_len), (const char *secret, size_t len),
    (const char *reason, size_t reason_len), (const void *data, size_t len),
    (const char *cert_pem, size_t cert_len), (const char *key_pem, size_t key_len),
    (const char *pem, size_t len), (const char *delimiter, size_t delimiter_len)
};

/* ---- strings out: views with a length become bytes ------------------------------------ */
%typemap(in, numinputs=0) size_t *len (size_t tmp = 0), size_t *value_len (size_t tmp = 0) {
    $1 = &tmp;
}
%typemap(argout) size_t *len, size_t *value_len {
    Py_XDECREF($result);
    if (result) {
        $result = PyBytes_FromStringAndSize((const char *)result, (Py_ssize_t)tmp$argnum);
    } else {
        Py_INCREF(Py_None);
        $result = Py_None;
    }
}

/* ---- callables as callbacks ----------------------------------------------------------- */
/* Registers `$input` as userdata with the free trampoline; FAIL says when registration failed
 * (eddy then did not take the reference). */
%define EDDY_PY_CALLBACK(CBTYPE, CBNAME, TRAMPOLINE, FAIL)
%typemap(in) (CBTYPE CBNAME, void *userdata, eddy_free_fn free_userdata) {
    if (!PyCallable_Check($input)) {
        PyErr_SetString(PyExc_TypeError, "a callable is required");
        SWIG_fail;
    }
    $1 = TRAMPOLINE;
    Py_INCREF($input);
    $2 = (void *)$input;
    $3 = eddy_py_decref;
}
%typemap(argout) (CBTYPE CBNAME, void *userdata, eddy_free_fn free_userdata) {
    if (FAIL) Py_DECREF($input);
}
%enddef

/* The same, but released through eddy_py_handler_release: the callable's `_eddy_release()` (when
 * it has one) runs before the reference is dropped, so a callable that eddy releases without
 * calling it (its loop was freed first) can still settle what waited for it. */
%define EDDY_PY_CALLBACK_RELEASED(CBTYPE, CBNAME, TRAMPOLINE, FAIL)
%typemap(in) (CBTYPE CBNAME, void *userdata, eddy_free_fn free_userdata) {
    if (!PyCallable_Check($input)) {
        PyErr_SetString(PyExc_TypeError, "a callable is required");
        SWIG_fail;
    }
    $1 = TRAMPOLINE;
    Py_INCREF($input);
    $2 = (void *)$input;
    $3 = eddy_py_handler_release;
}
%typemap(argout) (CBTYPE CBNAME, void *userdata, eddy_free_fn free_userdata) {
    if (FAIL) Py_DECREF($input);
}
%enddef

EDDY_PY_CALLBACK(eddy_loop_fn, cb, eddy_py_loop_fn, result == 0)
EDDY_PY_CALLBACK(eddy_watch_fn, cb, eddy_py_watch_fn, result == NULL)
EDDY_PY_CALLBACK(eddy_signal_fn, cb, eddy_py_signal_fn, result == NULL)
EDDY_PY_CALLBACK(eddy_periodic_fn, cb, eddy_py_periodic_fn, result == NULL)
EDDY_PY_CALLBACK(eddy_request_fn, on_request, eddy_py_request_fn, result == NULL)
EDDY_PY_CALLBACK(eddy_request_fn, cb, eddy_py_request_fn, result < 0)
EDDY_PY_CALLBACK(eddy_server_done_fn, done, eddy_py_server_done_fn, result < 0)
EDDY_PY_CALLBACK(eddy_accept_fn, cb, eddy_py_accept_fn, result == NULL)
EDDY_PY_CALLBACK_RELEASED(eddy_connect_fn, cb, eddy_py_connect_fn, result < 0)
EDDY_PY_CALLBACK_RELEASED(eddy_start_tls_fn, cb, eddy_py_connect_fn, result < 0)
EDDY_PY_CALLBACK_RELEASED(eddy_handshake_fn, cb, eddy_py_handshake_fn, result < 0)

/* The log sink: None restores the default. */
%typemap(in) (eddy_log_fn fn, void *userdata, eddy_free_fn free_userdata) {
    if ($input == Py_None) {
        $1 = NULL; $2 = NULL; $3 = NULL;
    } else if (!PyCallable_Check($input)) {
        PyErr_SetString(PyExc_TypeError, "a callable or None is required");
        SWIG_fail;
    } else {
        Py_INCREF($input);
        $1 = eddy_py_log_fn; $2 = (void *)$input; $3 = eddy_py_decref;
    }
}
%typemap(argout) (eddy_log_fn fn, void *userdata, eddy_free_fn free_userdata) "";

/* Routes keep any Python object (normally the callable of the web layer) as userdata. */
%typemap(in) (void *userdata, eddy_free_fn free_userdata) {
    Py_INCREF($input);
    $1 = (void *)$input;
    $2 = eddy_py_decref;
}
%typemap(argout) (void *userdata, eddy_free_fn free_userdata) {
    if (result == NULL) Py_DECREF($input);
}

/* Flush completions go to the route callable (EDDY_PY_HOOK_FLUSHED). */
%typemap(in, numinputs=0) eddy_handler_flush_fn cb { $1 = eddy_py_hook_flushed; }
/* The raw server's eddy_request_flush(req), without a completion callback (NULL is allowed):
 * without it a raw response could not be sent in pieces, and eddy_request_abort could only
 * ever close before the head. */
%typemap(in, numinputs=0) eddy_request_flush_fn cb { $1 = NULL; }

/* The loop waits without the GIL. */
%exception eddy_loop_run {
    Py_BEGIN_ALLOW_THREADS
    $action
    Py_END_ALLOW_THREADS
}
%exception eddy_loop_run_once {
    Py_BEGIN_ALLOW_THREADS
    $action
    Py_END_ALLOW_THREADS
}

/* Replaced by the helpers below (their C forms need out-arrays or per-call function pointers). */
%ignore eddy_loop_call_soon_threadsafe;
%ignore eddy_request_header_at;
%ignore eddy_request_argument_at;
%ignore eddy_request_file_at;
%ignore eddy_request_set_userdata;
%ignore eddy_request_get_userdata;
%ignore eddy_request_set_close_callback;
%ignore eddy_request_stream_body;
%ignore eddy_server_set_headers_callback;
%ignore eddy_app_reverse_url;
%ignore eddy_route_on;
%ignore eddy_route_set_prepare;
%ignore eddy_route_set_on_finish;
%ignore eddy_route_set_on_connection_close;
%ignore eddy_route_set_default_headers;
%ignore eddy_route_set_write_error;
%ignore eddy_route_set_data_received;
%ignore eddy_handler_set_userdata;
%ignore eddy_handler_get_userdata;
%ignore eddy_route_set_websocket;
%ignore eddy_route_set_ws_check_origin;
%ignore eddy_route_set_ws_select_subprotocol;
%ignore eddy_websocket_connect;
%ignore eddy_ws_write_message;
%ignore eddy_ws_set_write_mark;
%ignore eddy_ws_set_userdata;
%ignore eddy_ws_get_userdata;
%ignore eddy_ws_options_set_on_pong;
%ignore eddy_ws_options_set_on_ping;
%ignore eddy_ws_options_set_on_refused;
/* tls.h: contexts and their file / PEM setters are wrapped, eddy_connect_tls /
 * eddy_stream_is_tls for eddy.tcpclient, eddy_stream_start_tls /
 * eddy_stream_wait_for_handshake for eddy.iostream; SNI callbacks, ALPN lists and the other TLS stream
 * queries are not (the Python layer needs none of them). */
%ignore eddy_tls_context_set_sni_callback;
%ignore eddy_tls_context_set_alpn;
%ignore eddy_stream_tls_alpn;
%ignore eddy_stream_tls_server_name;
%ignore eddy_stream_tls_peer_certificate; /* eddy_py_stream_tls_peer_certificate instead */
%ignore eddy_request_tls_peer_certificate; /* eddy_py_request_tls_peer_certificate instead */
%ignore eddy_fetch_set_callbacks;
%ignore eddy_fetch_flush_body;
%ignore eddy_fetch_start;
%ignore eddy_fetch_response_header_at;

/* stream.h: the read / write / userdata / close-callback calls take per-call C function
 * pointers; the eddy_py_stream_* helpers below replace them. */
%ignore eddy_stream_set_userdata;
%ignore eddy_stream_get_userdata;
%ignore eddy_stream_set_close_callback;
%ignore eddy_stream_read_until;
%ignore eddy_stream_read_bytes;
%ignore eddy_stream_read_until_close;
%ignore eddy_stream_write;
%ignore eddy_stream_set_write_mark;

/* subprocess.h: argv / envp arrays and the exit callback; eddy_py_subprocess_spawn and
 * eddy_py_spawn_options_set_env below replace them. */
%ignore eddy_subprocess_spawn;
%ignore eddy_spawn_options_set_env;

/* A working directory: str (encoded as os.fsencode does), bytes, an os.PathLike or None. */
%typemap(in) const char *dir (PyObject *encoded = NULL) {
    if ($input == Py_None) {
        $1 = NULL;
    } else {
        if (!PyUnicode_FSConverter($input, &encoded)) SWIG_fail;
        $1 = PyBytes_AS_STRING(encoded);
    }
}
%typemap(freearg) const char *dir { Py_XDECREF(encoded$argnum); }
#define EDDY_API
%include "eddy/common.h"
%include "eddy/loop.h"
%include "eddy/stream.h"
%include "eddy/net.h"
%include "eddy/http.h"
%include "eddy/tls.h"
%include "eddy/web.h"
%include "eddy/websocket.h"
%include "eddy/client.h"
%include "eddy/process.h"
%include "eddy/subprocess.h"

/* ---- helpers for the Python layer ------------------------------------------------------ */
%typemap(in) PyObject *callable {
    if (!PyCallable_Check($input)) {
        PyErr_SetString(PyExc_TypeError, "a callable is required");
        SWIG_fail;
    }
    $1 = $input;
}

%inline %{
/* eddy_loop_call_soon_threadsafe with a callable; returns 0 or a negative EDDY_E* code.
 * Thread: any (the GIL is taken for the reference count only). */
int eddy_py_call_soon_threadsafe(eddy_loop *loop, PyObject *callable) {
    Py_INCREF(callable);
    int rc = eddy_loop_call_soon_threadsafe(loop, eddy_py_loop_fn, callable, eddy_py_decref);
    if (rc < 0) Py_DECREF(callable);
    return rc;
}

/* Binds `obj` to the handler (a new reference, released with the handler after its
 * `_eddy_release()` method, if it has one, ran). Route hooks receive it as their `instance` argument. */
void eddy_py_handler_bind(eddy_handler *handler, PyObject *obj) {
    Py_INCREF(obj);
    eddy_handler_set_userdata(handler, obj, eddy_py_handler_release);
}

/* Routes `hook` of `route` to the route callable: an HTTP method name ("GET", ...), or one of
 * "prepare", "on_finish", "on_connection_close", "set_default_headers", "write_error",
 * "data_received". Returns 0 or EDDY_EINVAL. */
int eddy_py_route_enable(eddy_route *route, const char *hook) {
    if (!route || !hook) return EDDY_EINVAL;
    if (!strcmp(hook, "prepare")) return eddy_route_set_prepare(route, eddy_py_hook_prepare);
    if (!strcmp(hook, "on_finish")) return eddy_route_set_on_finish(route, eddy_py_hook_on_finish);
    if (!strcmp(hook, "on_connection_close"))
        return eddy_route_set_on_connection_close(route, eddy_py_hook_close);
    if (!strcmp(hook, "set_default_headers"))
        return eddy_route_set_default_headers(route, eddy_py_hook_default_headers);
    if (!strcmp(hook, "write_error")) return eddy_route_set_write_error(route, eddy_py_hook_write_error);
    if (!strcmp(hook, "data_received"))
        return eddy_route_set_data_received(route, eddy_py_hook_data);
    return eddy_route_on(route, hook, EDDY_NTS, eddy_py_hook_method);
}

/* (method, uri, path, query, version, remote_ip, host, scheme) of a request, as str. */
PyObject *eddy_py_request_info(eddy_request *req) {
    size_t ml = 0, ul = 0, pl = 0, ql = 0, hl = 0;
    const char *m = eddy_request_method(req, &ml), *u = eddy_request_uri(req, &ul);
    const char *p = eddy_request_path(req, &pl), *q = eddy_request_query(req, &ql);
    const char *h = eddy_request_host(req, &hl), *ip = eddy_request_remote_ip(req);
    const char *scheme = eddy_request_scheme(req);
    if (!m) { PyErr_SetString(PyExc_ValueError, "no request"); return NULL; }
    return Py_BuildValue("(NNNNisNs)", eddy_py_latin1(m, ml), eddy_py_str(u, ul), eddy_py_str(p, pl),
                         eddy_py_str(q, ql), eddy_request_version(req), ip ? ip : "",
                         eddy_py_latin1(h, hl), scheme ? scheme : "http");
}

/* The request's header fields as a list of (name, value) str pairs (Latin-1, as HTTP has it). */
PyObject *eddy_py_request_headers(eddy_request *req) {
    size_t n = eddy_request_header_count(req);
    PyObject *list = PyList_New((Py_ssize_t)n);
    if (!list) return NULL;
    for (size_t i = 0; i < n; i++) {
        const char *name = NULL, *value = NULL;
        size_t nl = 0, vl = 0;
        eddy_request_header_at(req, i, &name, &nl, &value, &vl);
        PyObject *pair = Py_BuildValue("(NN)", eddy_py_latin1(name, nl), eddy_py_latin1(value, vl));
        if (!pair) { Py_DECREF(list); return NULL; }
        PyList_SET_ITEM(list, (Py_ssize_t)i, pair);
    }
    return list;
}

/* The request body as bytes. */
PyObject *eddy_py_request_body(eddy_request *req) {
    size_t len = 0;
    const char *body = eddy_request_body(req, &len);
    return PyBytes_FromStringAndSize(body ? body : "", body ? (Py_ssize_t)len : 0);
}

/* The certificate the request's client presented (DER bytes), or None: none presented, not
 * TLS, or the connection is gone. */
PyObject *eddy_py_request_tls_peer_certificate(eddy_request *req) {
    size_t need = 0;
    if (eddy_request_tls_peer_certificate(req, NULL, &need) != EDDY_ETOOBIG) Py_RETURN_NONE;
    PyObject *der = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)need);
    if (!der) return NULL;
    size_t len = need;
    if (eddy_request_tls_peer_certificate(req, (unsigned char *)PyBytes_AS_STRING(der), &len) != 0) {
        Py_DECREF(der);
        Py_RETURN_NONE;
    }
    return der;
}

/* A DER certificate (any bytes-like object) as the dict ssl.SSLSocket.getpeercert() gives:
 * subject, issuer, version, serialNumber, notBefore, notAfter, and when the certificate has
 * them subjectAltName, OCSP, caIssuers, crlDistributionPoints; strings read as UTF-8. Raises
 * ValueError when the bytes are not one DER certificate (nothing before or after it) or a
 * name's value cannot be converted (the ssl module raises ssl.SSLError there), and
 * UnicodeDecodeError (a ValueError) for a string that is not UTF-8. OpenSSL's error queue is
 * left as it was found. */
PyObject *eddy_py_decode_certificate(PyObject *der) {
    Py_buffer view;
    if (PyObject_GetBuffer(der, &view, PyBUF_SIMPLE) < 0) return NULL;
    PyObject *out = NULL;
    ERR_set_mark();
    const unsigned char *p = (const unsigned char *)view.buf;
    X509 *cert = view.len > 0 ? d2i_X509(NULL, &p, (long)view.len) : NULL;
    if (view.len == 0)
        PyErr_SetString(PyExc_ValueError, "not a DER certificate: no bytes");
    else if (!cert)
        eddy_cert_fail("not a DER certificate");
    else if (p != (const unsigned char *)view.buf + view.len)
        PyErr_SetString(PyExc_ValueError, "not a DER certificate: bytes after its end");
    else
        out = eddy_cert_decode(cert);
    X509_free(cert);
    ERR_pop_to_mark();
    PyBuffer_Release(&view);
    return out;
}

/* Decoded arguments from `sources` (EDDY_ARGS_*) as a list of (name str, value bytes). */
PyObject *eddy_py_request_arguments(eddy_request *req, int sources) {
    size_t n = eddy_request_argument_count(req, sources);
    PyObject *list = PyList_New((Py_ssize_t)n);
    if (!list) return NULL;
    for (size_t i = 0; i < n; i++) {
        const char *name = NULL, *value = NULL;
        size_t nl = 0, vl = 0;
        eddy_request_argument_at(req, sources, i, &name, &nl, &value, &vl);
        PyObject *pair = Py_BuildValue("(Ny#)", eddy_py_str(name, nl), value ? value : "",
                                       (Py_ssize_t)(value ? vl : 0));
        if (!pair) { Py_DECREF(list); return NULL; }
        PyList_SET_ITEM(list, (Py_ssize_t)i, pair);
    }
    return list;
}

/* Uploaded files as a list of (field, filename, content_type, body bytes). */
PyObject *eddy_py_request_files(eddy_request *req) {
    size_t n = eddy_request_file_count(req);
    PyObject *list = PyList_New((Py_ssize_t)n);
    if (!list) return NULL;
    for (size_t i = 0; i < n; i++) {
        const char *field = NULL, *filename = NULL, *ctype = NULL, *body = NULL;
        size_t bl = 0;
        eddy_request_file_at(req, i, &field, &filename, &ctype, &body, &bl);
        PyObject *t = Py_BuildValue("(NNNy#)", eddy_py_str(field, field ? strlen(field) : 0),
                                    eddy_py_str(filename, filename ? strlen(filename) : 0),
                                    eddy_py_latin1(ctype, ctype ? strlen(ctype) : 0),
                                    body ? body : "", (Py_ssize_t)(body ? bl : 0));
        if (!t) { Py_DECREF(list); return NULL; }
        PyList_SET_ITEM(list, (Py_ssize_t)i, t);
    }
    return list;
}

/* The handler's positional path arguments as a list of str. */
PyObject *eddy_py_handler_path_args(eddy_handler *handler) {
    size_t n = eddy_handler_path_arg_count(handler);
    PyObject *list = PyList_New((Py_ssize_t)n);
    if (!list) return NULL;
    for (size_t i = 0; i < n; i++) {
        size_t len = 0;
        const char *a = eddy_handler_path_arg(handler, i, &len);
        PyObject *s = eddy_py_str(a, len);
        if (!s) { Py_DECREF(list); return NULL; }
        PyList_SET_ITEM(list, (Py_ssize_t)i, s);
    }
    return list;
}

/* eddy_app_reverse_url with a sequence of str arguments: the path, or raises KeyError (no such
 * name) / ValueError (wrong argument count). */
PyObject *eddy_py_app_reverse_url(eddy_app *app, const char *name, PyObject *args) {
    PyObject *seq = PySequence_Fast(args, "reverse_url arguments must be a sequence");
    if (!seq) return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    const char **ptrs = (const char **)calloc((size_t)n + 1, sizeof(char *));
    size_t *lens = (size_t *)calloc((size_t)n + 1, sizeof(size_t));
    PyObject *result = NULL;
    if (!ptrs || !lens) { PyErr_NoMemory(); goto done; }
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_ssize_t len = 0;
        ptrs[i] = PyUnicode_AsUTF8AndSize(PySequence_Fast_GET_ITEM(seq, i), &len);
        if (!ptrs[i]) goto done;
        lens[i] = (size_t)len;
    }
    for (size_t cap = 256;; cap *= 2) {
        char *out = (char *)malloc(cap);
        size_t out_len = 0;
        if (!out) { PyErr_NoMemory(); goto done; }
        int rc = eddy_app_reverse_url(app, name, strlen(name), ptrs, lens, (size_t)n, out, cap, &out_len);
        if (rc == 0) result = PyUnicode_DecodeUTF8(out, (Py_ssize_t)out_len, "surrogateescape");
        free(out);
        if (rc == EDDY_ETOOBIG && cap < (1u << 24)) continue;
        if (rc == EDDY_ENOENT) PyErr_Format(PyExc_KeyError, "%s not found in named urls", name);
        else if (rc < 0) PyErr_Format(PyExc_ValueError, "reverse_url(%s): %s", name, eddy_strerror(rc));
        break;
    }
done:
    free(ptrs);
    free(lens);
    Py_DECREF(seq);
    return result;
}

/* Makes `route` a WebSocket endpoint whose open / message / close go to the route callable
 * (EDDY_PY_HOOK_WS_*). `options` may be None. Returns 0 or a negative EDDY_E* code. */
int eddy_py_route_websocket(eddy_route *route, const eddy_ws_options *options) {
    return eddy_route_set_websocket(route, eddy_py_ws_open, eddy_py_ws_message, eddy_py_ws_close,
                                    options);
}

/* Sends the route's pings / pongs (EDDY_PY_HOOK_WS_PING / _PONG) to the route callable, per
 * flag, on options later given to eddy_py_route_websocket. Returns 0 or EDDY_EINVAL. */
int eddy_py_ws_options_route_hooks(eddy_ws_options *options, int on_ping, int on_pong) {
    int rc = eddy_ws_options_set_on_ping(options, on_ping ? eddy_py_ws_ping : NULL);
    return rc ? rc : eddy_ws_options_set_on_pong(options, on_pong ? eddy_py_ws_pong : NULL);
}

/* Asks the route callable about the Origin (EDDY_PY_HOOK_WS_CHECK_ORIGIN) and / or the
 * subprotocol (EDDY_PY_HOOK_WS_SELECT_SUBPROTOCOL), per flag; otherwise eddy's defaults apply
 * (same-host origin rule, no subprotocol). Returns 0 or EDDY_EINVAL. */
int eddy_py_route_ws_questions(eddy_route *route, int check_origin, int select_subprotocol) {
    int rc = eddy_route_set_ws_check_origin(route, check_origin ? eddy_py_ws_check_origin : NULL);
    return rc ? rc : eddy_route_set_ws_select_subprotocol(
                         route, select_subprotocol ? eddy_py_ws_select_subprotocol : NULL);
}

/* eddy_websocket_connect with a callable that gets the connection's events (see
 * eddy_py_client_connected). `options` may be None; its ping / pong hooks are replaced. The
 * callable's reference is dropped after the close event or a failed connect (or when the loop
 * is freed first). Returns 0 or a negative EDDY_E* code (then nothing will be called). */
int eddy_py_websocket_connect(eddy_loop *loop, const char *url, size_t url_len,
                              eddy_ws_options *options, PyObject *callable) {
    if (options) {
        eddy_ws_options_set_on_ping(options, eddy_py_client_ping);
        eddy_ws_options_set_on_pong(options, eddy_py_client_pong);
        eddy_ws_options_set_on_refused(options, eddy_py_client_refused);
    }
    Py_INCREF(callable);
    int rc = eddy_websocket_connect(loop, url, url_len, options, eddy_py_client_connected,
                                    eddy_py_client_message, eddy_py_client_close, callable,
                                    eddy_py_decref);
    if (rc < 0) Py_DECREF(callable);
    return rc;
}

/* eddy_ws_write_message (text must be valid UTF-8); with `notify` non-zero its completion is
 * reported to the connection's callable (see eddy_py_ws_written): exactly once when this
 * returns 0, never when it fails. */
int eddy_py_ws_write(eddy_ws *ws, const void *data, size_t len, int binary, int notify) {
    return eddy_ws_write_message(ws, data, len, binary, notify ? eddy_py_ws_written : NULL);
}

/* eddy_fetch_start with a callable that gets the outcome (see eddy_py_fetch_done). Returns 0 or
 * a negative EDDY_E* code (then the fetch is still the caller's). */
int eddy_py_fetch_start(eddy_fetch *fetch, PyObject *callable) {
    Py_INCREF(callable);
    int rc = eddy_fetch_start(fetch, eddy_py_fetch_done, callable, eddy_py_decref);
    if (rc < 0) Py_DECREF(callable);
    return rc;
}

/* eddy_py_fetch_start that also sends the callable the response head (("headers", ...), see
 * eddy_py_fetch_headers) and / or the body's pieces (("chunk", bytes)), per flag, before the
 * outcome. With chunks on, the outcome's body is empty: the pieces went to the callable. */
int eddy_py_fetch_start_streaming(eddy_fetch *fetch, int headers, int chunks,
                                  PyObject *callable) {
    int rc = eddy_fetch_set_callbacks(fetch, headers ? eddy_py_fetch_headers : NULL,
                                      chunks ? eddy_py_fetch_chunk : NULL);
    return rc ? rc : eddy_py_fetch_start(fetch, callable);
}

/* eddy_fetch_flush_body with the fetch's callable as the completion (see
 * eddy_py_fetch_flushed): a body_producer's write() resolves once its bytes reached the kernel.
 * Returns as eddy_fetch_flush_body. */
int eddy_py_fetch_flush_body(eddy_fetch *fetch) {
    return eddy_fetch_flush_body(fetch, eddy_py_fetch_flushed);
}

/* ---- raw TCP streams (eddy.iostream) ----------------------------------------------------- */
/* Makes `obj` the stream's userdata (a new reference) and turns its close callback on: `obj` is
 * called as (event, arg) for the stream's reads, writes and close (see eddy_py_stream_read),
 * and its `_eddy_release()` runs when eddy releases the stream (after the close callback
 * returned, or when the loop is freed first). Call once per stream. Returns 0 or EDDY_EINVAL. */
int eddy_py_stream_bind(eddy_stream *stream, PyObject *obj) {
    if (!stream || eddy_stream_get_userdata(stream)) return EDDY_EINVAL;
    Py_INCREF(obj);
    eddy_stream_set_userdata(stream, obj, eddy_py_handler_release);
    return eddy_stream_set_close_callback(stream, eddy_py_stream_closed);
}

/* The reads of stream.h, delivered to the bound object as (0, bytes). Return as the C calls. */
int eddy_py_stream_read_until(eddy_stream *stream, const char *delimiter, size_t delimiter_len,
                              size_t max_bytes) {
    if (!delimiter || delimiter_len == 0) return EDDY_EINVAL;
    return eddy_stream_read_until(stream, delimiter, delimiter_len, max_bytes, eddy_py_stream_read);
}
int eddy_py_stream_read_until_regex(eddy_stream *stream, const char *pattern, size_t pattern_len,
                                    size_t max_bytes) {
    if (!pattern) return EDDY_EINVAL;
    return eddy_stream_read_until_regex(stream, pattern, pattern_len, max_bytes,
                                        eddy_py_stream_read);
}
int eddy_py_stream_read_bytes(eddy_stream *stream, size_t n, int partial) {
    return eddy_stream_read_bytes(stream, n, partial, eddy_py_stream_read);
}
int eddy_py_stream_read_until_close(eddy_stream *stream) {
    return eddy_stream_read_until_close(stream, eddy_py_stream_read);
}

/* eddy_stream_write whose completion goes to the bound object as (1, status): exactly once when
 * this returns 0 (in write order), never when it fails. */
int eddy_py_stream_write(eddy_stream *stream, const void *data, size_t len) {
    return eddy_stream_write(stream, data ? data : "", len, eddy_py_stream_written);
}

/* The TLS peer's certificate on `stream` (DER bytes), or None: none presented, not TLS. */
PyObject *eddy_py_stream_tls_peer_certificate(eddy_stream *stream) {
    size_t need = 0;
    if (eddy_stream_tls_peer_certificate(stream, NULL, &need) != EDDY_ETOOBIG) Py_RETURN_NONE;
    PyObject *der = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)need);
    if (!der) return NULL;
    size_t len = need;
    if (eddy_stream_tls_peer_certificate(stream, (unsigned char *)PyBytes_AS_STRING(der), &len) != 0) {
        Py_DECREF(der);
        Py_RETURN_NONE;
    }
    return der;
}

/* ---- child processes (eddy.process.Subprocess) ------------------------------------------- */
/* eddy_subprocess_spawn with `argv` a list or tuple of bytes (at least one) and `obj` as the
 * handle's userdata: `obj` is called as (exit_status, term_signal) once the child exited (see
 * eddy_subprocess_exit_fn), and its `_eddy_release()` runs when eddy releases the handle (right
 * after that call, or first when the loop is freed; then the handle must not be used again).
 * Returns (0, handle), or (negative EDDY_E* code, None) when nothing started (then `obj` is not
 * kept). Raises TypeError / ValueError (nothing started) for an argv that is not a sequence of
 * bytes or holds a NUL byte. Thread: the loop's. */
PyObject *eddy_py_subprocess_spawn(eddy_loop *loop, PyObject *argv,
                                   const eddy_spawn_options *options, PyObject *callable) {
    PyObject *fast = PySequence_Fast(argv, "argv must be a list or tuple of bytes");
    if (!fast) return NULL;
    const char **array = eddy_py_cstr_array(fast);
    if (!array) {
        Py_DECREF(fast);
        return NULL;
    }
    eddy_subprocess *proc = NULL;
    Py_INCREF(callable);
    int rc = eddy_subprocess_spawn(loop, array, options, eddy_py_subprocess_exit, callable,
                                   eddy_py_handler_release, &proc);
    PyMem_Free(array);
    Py_DECREF(fast);
    if (rc < 0) {
        Py_DECREF(callable); /* eddy did not take it */
        return Py_BuildValue("(iO)", rc, Py_None);
    }
    return Py_BuildValue("(iN)", rc,
                         SWIG_NewPointerObj(SWIG_as_voidptr(proc), SWIGTYPE_p_eddy_subprocess, 0));
}

/* eddy_spawn_options_set_env with `envp` a list or tuple of b"NAME=value" (copied), or None for
 * the parent's environment. Returns 0 or a negative EDDY_E* code; raises TypeError / ValueError
 * as eddy_py_subprocess_spawn does for its argv. */
PyObject *eddy_py_spawn_options_set_env(eddy_spawn_options *options, PyObject *envp) {
    if (envp == Py_None) return PyLong_FromLong(eddy_spawn_options_set_env(options, NULL));
    PyObject *fast = PySequence_Fast(envp, "env must be a list or tuple of bytes");
    if (!fast) return NULL;
    const char **array = eddy_py_cstr_array(fast);
    int rc = array ? eddy_spawn_options_set_env(options, array) : 0;
    PyMem_Free(array);
    Py_DECREF(fast);
    return array ? PyLong_FromLong(rc) : NULL;
}
%}
