/* SWIG interface for the Lua 5.4 module `eddy.core`: the public C API of eddy (loop, HTTP
 * request getters, web layer, WebSocket, HTTP client; a request's TLS facts in request_tls.i;
 * streams in stream.i; TCP servers, clients and the process helpers in net.i; child processes
 * in subprocess.i) plus C trampolines that let Lua functions serve as callbacks.
 *
 * Ownership: every Lua function or table handed to eddy is pinned in the Lua registry
 * (luaL_ref) inside a small `lua_ref` box that becomes the C API's userdata; the C API's free
 * callback (lua_ref_free) drops the registry entry, so Lua values live exactly as long as eddy
 * holds them.
 *
 * Which lua_State runs a callback: callbacks may fire synchronously from inside a wrapped call
 * made by a coroutine (e.g. finish → on_finish), and a Lua function must only be called on the
 * running thread, so every wrapper records its caller's state in `current_L` (see %exception)
 * and the trampolines call into that state.
 */
%module(package="eddy") core

%{
#include <arpa/inet.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <eddy/eddy.h>

/* The state of the Lua thread that is running the innermost wrapped call. */
static lua_State *current_L = NULL;

typedef struct lua_ref {
    lua_State *main_L; /* only used to reach the registry, which all threads share */
    int ref;
} lua_ref;

static lua_State *main_state(lua_State *L) {
    lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_MAINTHREAD);
    lua_State *main_L = lua_tothread(L, -1);
    lua_pop(L, 1);
    return main_L;
}

/* Pins the value at `idx` and returns a box for it, or NULL when out of memory. */
static lua_ref *lua_ref_new(lua_State *L, int idx) {
    lua_ref *box = (lua_ref *)malloc(sizeof *box);
    if (!box) return NULL;
    lua_pushvalue(L, idx);
    box->ref = luaL_ref(L, LUA_REGISTRYINDEX);
    box->main_L = main_state(L);
    return box;
}

/* eddy_free_fn for every lua_ref box. */
static void lua_ref_free(void *userdata) {
    lua_ref *box = (lua_ref *)userdata;
    if (!box) return;
    /* The registry is shared; use the running thread's stack when inside a wrapped call. */
    luaL_unref(current_L ? current_L : box->main_L, LUA_REGISTRYINDEX, box->ref);
    free(box);
}

/* The string at `idx` for a C function that takes a NUL-terminated one (NULL for nil when
 * `optional`). A Lua string with a NUL inside raises an error: C would read it cut short at
 * the NUL and act on another URL, host, file or cookie attribute than the one given, silently
 * (Python refuses such strings the same way: "embedded null character"). */
static const char *nul_free_string(lua_State *L, int idx, int optional) {
    if (optional && lua_isnoneornil(L, idx)) return NULL;
    size_t len = 0;
    const char *s = luaL_checklstring(L, idx, &len);
    if (strlen(s) != len) luaL_argerror(L, idx, "string with a NUL byte inside");
    return s;
}

/* The state to call Lua in: the running thread's, or the main one outside any wrapper. */
static lua_State *callback_state(lua_ref *box) {
    return current_L ? current_L : box->main_L;
}

static int traceback_handler(lua_State *L) {
    const char *msg = lua_tostring(L, 1);
    if (!msg) msg = luaL_tolstring(L, 1, NULL);
    luaL_traceback(L, L, msg, 1);
    return 1;
}

/* Calls the function sitting below its `nargs` arguments on top of the stack under a traceback
 * handler. On error prints "eddy-lua: error: <traceback>" to stderr and returns non-zero. The
 * `nresults` results are left on the stack, or as many nils after an error, so the caller
 * always pops `nresults`. */
static int call_protected_n(lua_State *L, int nargs, int nresults) {
    int fn_idx = lua_gettop(L) - nargs;
    lua_pushcfunction(L, traceback_handler);
    lua_insert(L, fn_idx);
    int rc = lua_pcall(L, nargs, nresults, fn_idx);
    if (rc != LUA_OK) {
        fprintf(stderr, "eddy-lua: error: %s\n", lua_tostring(L, -1));
        fflush(stderr);
        lua_pop(L, 1);
        for (int i = 0; i < nresults; i++) lua_pushnil(L);
    }
    lua_remove(L, fn_idx);
    return rc != LUA_OK;
}

/* call_protected_n without results: the stack is balanced either way. */
static int call_protected(lua_State *L, int nargs) { return call_protected_n(L, nargs, 0); }

/* ---- loop trampolines: the userdata is a lua_ref to a function of no arguments ---------- */

static void call_ref_noargs(lua_ref *box) {
    lua_State *L = callback_state(box);
    lua_checkstack(L, 8);
    lua_rawgeti(L, LUA_REGISTRYINDEX, box->ref);
    call_protected(L, 0);
}

static void loop_trampoline(eddy_loop *loop, void *userdata) { call_ref_noargs((lua_ref *)userdata); }
static void periodic_trampoline(eddy_periodic *p, void *userdata) { call_ref_noargs((lua_ref *)userdata); }
static void signal_trampoline(eddy_signal *s, int signum, void *userdata) { call_ref_noargs((lua_ref *)userdata); }

/* ---- web trampolines: the route's userdata is a lua_ref to a dispatch function ----------
 * dispatch(event, handler_ptr, state, extra) where `state` is the per-request table kept in
 * the handler's userdata (created here on the first event, released with the handler). */

static swig_type_info *handler_type(void);

/* eddy_free_fn of a request's state table: marks it released (`_done = true`, so the Lua layer
 * refuses further calls on a handler kept past its life; `ws = nil`, as a WebSocket freed with
 * its application or loop gets no close callback) and drops the registry entry. */
static void request_state_free(void *userdata) {
    lua_ref *box = (lua_ref *)userdata;
    lua_State *L = current_L ? current_L : box->main_L;
    lua_checkstack(L, 4);
    lua_rawgeti(L, LUA_REGISTRYINDEX, box->ref);
    lua_pushboolean(L, 1);
    lua_setfield(L, -2, "_done");
    lua_pushnil(L);
    lua_setfield(L, -2, "ws");
    lua_pop(L, 1);
    lua_ref_free(box);
}

static void push_request_state(lua_State *L, eddy_handler *h) {
    lua_ref *box = (lua_ref *)eddy_handler_get_userdata(h);
    if (box) {
        lua_rawgeti(L, LUA_REGISTRYINDEX, box->ref);
        return;
    }
    lua_createtable(L, 0, 8);
    box = lua_ref_new(L, -1);
    if (box) eddy_handler_set_userdata(h, box, request_state_free);
}

/* Runs dispatch(event, handler, state, extra, ...) and leaves the stack balanced. For "method"
 * `extra` is the request method and the path captures follow. A Lua error answers 500 (unless
 * the response already finished, or the error page itself failed) and the loop goes on. */
static void web_dispatch(eddy_handler *h, void *route_userdata, const char *event, int has_extra,
                         lua_Integer extra_int, const char *extra_str, size_t extra_len) {
    lua_ref *box = (lua_ref *)route_userdata;
    lua_State *L = callback_state(box);
    int nargs = 4;
    lua_checkstack(L, 16);
    lua_rawgeti(L, LUA_REGISTRYINDEX, box->ref);
    lua_pushstring(L, event);
    SWIG_NewPointerObj(L, h, handler_type(), 0);
    push_request_state(L, h);
    if (has_extra == 1) {
        lua_pushinteger(L, extra_int);
    } else if (has_extra == 2) {
        lua_pushlstring(L, extra_str, extra_len);
    } else if (has_extra == 3) {
        size_t len = 0;
        const char *method = eddy_request_method(eddy_handler_request(h), &len);
        lua_pushlstring(L, method, len);
        size_t count = eddy_handler_path_arg_count(h);
        if (count > 0 && lua_checkstack(L, (int)count + 4)) {
            for (size_t i = 0; i < count; i++) {
                const char *arg = eddy_handler_path_arg(h, i, &len);
                lua_pushlstring(L, arg ? arg : "", arg ? len : 0);
            }
            nargs += (int)count;
        }
    } else {
        lua_pushnil(L);
    }
    int failed = call_protected(L, nargs);
    if (failed && strcmp(event, "on_finish") != 0 && strcmp(event, "write_error") != 0 &&
        !eddy_handler_finished(h))
        eddy_handler_send_error(h, 500);
}

static void method_trampoline(eddy_handler *h, void *ud) { web_dispatch(h, ud, "method", 3, 0, NULL, 0); }
static void prepare_trampoline(eddy_handler *h, void *ud) { web_dispatch(h, ud, "prepare", 0, 0, NULL, 0); }
static void on_finish_trampoline(eddy_handler *h, void *ud) { web_dispatch(h, ud, "on_finish", 0, 0, NULL, 0); }
static void on_close_trampoline(eddy_handler *h, void *ud) { web_dispatch(h, ud, "on_connection_close", 0, 0, NULL, 0); }
static void default_headers_trampoline(eddy_handler *h, void *ud) { web_dispatch(h, ud, "set_default_headers", 0, 0, NULL, 0); }
static void write_error_trampoline(eddy_handler *h, int status, void *ud) { web_dispatch(h, ud, "write_error", 1, status, NULL, 0); }
static void data_trampoline(eddy_handler *h, const char *data, size_t len, void *ud) { web_dispatch(h, ud, "data_received", 2, 0, data, len); }

/* ---- WebSocket trampolines: dispatch(event, handler, state, ws, ...) with the handshake's
 * handler and its state table, so that `self` is the same object from prepare to on_close.
 * A Lua error in open/on_message closes the connection with 1011 (internal error). */
static swig_type_info *ws_type(void);

static void ws_dispatch(eddy_ws *ws, void *route_userdata, const char *event, int kind,
                        const char *data, size_t len, int number) {
    lua_ref *box = (lua_ref *)route_userdata;
    lua_State *L = callback_state(box);
    eddy_handler *h = eddy_ws_handler(ws);
    lua_checkstack(L, 16);
    lua_rawgeti(L, LUA_REGISTRYINDEX, box->ref);
    lua_pushstring(L, event);
    SWIG_NewPointerObj(L, h, handler_type(), 0);
    push_request_state(L, h);
    SWIG_NewPointerObj(L, ws, ws_type(), 0);
    int nargs = 4;
    if (kind == 1) { /* message: data, binary */
        lua_pushlstring(L, data, len);
        lua_pushboolean(L, number);
        nargs += 2;
    } else if (kind == 2) { /* close: code, reason */
        lua_pushinteger(L, number);
        lua_pushlstring(L, data ? data : "", data ? len : 0);
        nargs += 2;
    } else if (kind == 3) { /* pong: data */
        lua_pushlstring(L, data ? data : "", data ? len : 0);
        nargs += 1;
    }
    if (call_protected(L, nargs) && kind != 2) eddy_ws_close(ws, 1011, "handler error", 13);
}

static void ws_open_trampoline(eddy_ws *ws, void *ud) { ws_dispatch(ws, ud, "ws_open", 0, NULL, 0, 0); }
static void ws_message_trampoline(eddy_ws *ws, const char *data, size_t len, int binary, void *ud) {
    ws_dispatch(ws, ud, "ws_message", 1, data, len, binary);
}
static void ws_close_trampoline(eddy_ws *ws, int code, const char *reason, size_t reason_len, void *ud) {
    ws_dispatch(ws, ud, "ws_close", 2, reason, reason_len, code);
}
static void ws_pong_trampoline(eddy_ws *ws, const char *data, size_t len, void *ud) {
    ws_dispatch(ws, ud, "ws_pong", 3, data, len, 0);
}
static void ws_drain_trampoline(eddy_ws *ws, void *ud) { ws_dispatch(ws, ud, "ws_drain", 0, NULL, 0, 0); }

/* Handshake hooks run synchronously inside the upgrade request and answer through their
 * result: dispatch(event, handler, state, arg) -> value. The Lua layer catches the handler's
 * own errors (and may answer with an HTTPError's status); an error that still reaches here
 * refuses the handshake (403 for the origin check, 500 for subprotocol selection). */
static void push_route_event(lua_State *L, lua_ref *box, const char *event, eddy_handler *h) {
    lua_rawgeti(L, LUA_REGISTRYINDEX, box->ref);
    lua_pushstring(L, event);
    SWIG_NewPointerObj(L, h, handler_type(), 0);
    push_request_state(L, h);
}

static int ws_check_origin_trampoline(eddy_handler *h, const char *origin, size_t origin_len, void *ud) {
    /* As in Tornado, a handshake without an Origin (a non-browser client) is not checked. */
    if (!origin) return 1;
    lua_ref *box = (lua_ref *)ud;
    lua_State *L = callback_state(box);
    lua_checkstack(L, 16);
    push_route_event(L, box, "ws_check_origin", h);
    lua_pushlstring(L, origin, origin_len);
    int failed = call_protected_n(L, 4, 1);
    int accept = !failed && lua_toboolean(L, -1);
    lua_pop(L, 1);
    return accept;
}

static int ws_select_subprotocol_trampoline(eddy_handler *h, const char *const *protocols,
                                            const size_t *lens, size_t count, void *ud) {
    lua_ref *box = (lua_ref *)ud;
    lua_State *L = callback_state(box);
    lua_checkstack(L, 16);
    push_route_event(L, box, "ws_select_subprotocol", h);
    lua_createtable(L, count > 64 ? 64 : (int)count, 0);
    for (size_t i = 0; i < count; i++) {
        lua_pushlstring(L, protocols[i], lens[i]);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    int failed = call_protected_n(L, 4, 1);
    int pick = -1;
    if (failed) {
        if (!eddy_handler_finished(h)) eddy_handler_send_error(h, 500);
    } else if (lua_type(L, -1) == LUA_TSTRING) {
        size_t len = 0;
        const char *chosen = lua_tolstring(L, -1, &len);
        for (size_t i = 0; i < count && pick < 0; i++)
            if (lens[i] == len && memcmp(protocols[i], chosen, len) == 0) pick = (int)i;
        if (pick < 0) {
            fprintf(stderr, "eddy-lua: select_subprotocol returned \"%s\", which the client did not offer\n", chosen);
            fflush(stderr);
        }
    }
    lua_pop(L, 1);
    return pick;
}

/* ---- WebSocket client: the userdata is a lua_ref to the connection's dispatch function,
 * dispatch(event, ws, a, b) with event "connect" (ws or nil, status), "message" (data, binary),
 * "close" (code, reason), "pong" (data) or "drain" (no argument: the write buffer dropped to the
 * write mark). The Lua layer handles its own callbacks' errors. */
static void client_dispatch(eddy_ws *ws, lua_ref *box, const char *event, int kind,
                            const char *data, size_t len, int number) {
    lua_State *L = callback_state(box);
    lua_checkstack(L, 16);
    lua_rawgeti(L, LUA_REGISTRYINDEX, box->ref);
    lua_pushstring(L, event);
    if (ws) SWIG_NewPointerObj(L, ws, ws_type(), 0);
    else lua_pushnil(L);
    int nargs = 2;
    if (kind == 0) { /* connect: status */
        lua_pushinteger(L, number);
        nargs += 1;
    } else if (kind == 1) { /* message: data, binary */
        lua_pushlstring(L, data, len);
        lua_pushboolean(L, number);
        nargs += 2;
    } else if (kind == 2) { /* close: code, reason */
        lua_pushinteger(L, number);
        lua_pushlstring(L, data ? data : "", data ? len : 0);
        nargs += 2;
    } else if (kind == 3) { /* pong: data */
        lua_pushlstring(L, data ? data : "", data ? len : 0);
        nargs += 1;
    } /* kind 4, drain: no argument */
    if (call_protected(L, nargs) && ws && kind != 2) eddy_ws_close(ws, 1011, "handler error", 13);
}

static void client_connect_trampoline(eddy_ws *ws, int status, void *ud) {
    client_dispatch(ws, (lua_ref *)ud, "connect", 0, NULL, 0, status);
}
static void client_message_trampoline(eddy_ws *ws, const char *data, size_t len, int binary, void *ud) {
    client_dispatch(ws, (lua_ref *)ud, "message", 1, data, len, binary);
}
static void client_close_trampoline(eddy_ws *ws, int code, const char *reason, size_t reason_len, void *ud) {
    client_dispatch(ws, (lua_ref *)ud, "close", 2, reason, reason_len, code);
}
static void client_pong_trampoline(eddy_ws *ws, const char *data, size_t len, void *ud) {
    client_dispatch(ws, (lua_ref *)ud, "pong", 3, data, len, 0);
}
static void client_drain_trampoline(eddy_ws *ws, void *ud) {
    client_dispatch(ws, (lua_ref *)ud, "drain", 4, NULL, 0, 0);
}
%}

/* Every wrapped call records the calling thread's state for trampolines it may trigger. */
%exception {
    lua_State *saved_L = current_L;
    current_L = L;
    $action
    current_L = saved_L;
}

/* ---- typemaps --------------------------------------------------------------------------- */

/* Strings in: one Lua string for (pointer, length); binary-safe. */
%typemap(in) (const char *name, size_t name_len), (const char *value, size_t value_len),
             (const char *pattern, size_t pattern_len), (const char *method, size_t method_len),
             (const char *url, size_t url_len), (const char *secret, size_t len),
             (const char *url_prefix, size_t prefix_len), (const char *root, size_t root_len),
             (const char *host_pattern, size_t host_pattern_len), (const void *data, size_t len),
             (const char *method, size_t len), (const char *name, size_t len),
             (const char *value, size_t len), (const char *path, size_t path_len) {
    size_t tmp_len = 0;
    $1 = ($1_ltype)luaL_checklstring(L, $input, &tmp_len);
    $2 = tmp_len;
}
/* An optional reason phrase: nil = the standard one. */
%typemap(in) (const char *reason, size_t reason_len) {
    size_t tmp_len = 0;
    $1 = ($1_ltype)luaL_optlstring(L, $input, NULL, &tmp_len);
    $2 = tmp_len;
}
/* Optional NUL-terminated strings (cookie domain/path/samesite, host): nil passes NULL, a NUL
 * inside is an error (nul_free_string). */
%typemap(in) const char *domain, const char *path, const char *samesite, const char *host {
    $1 = ($1_ltype)nul_free_string(L, $input, 1);
}
/* Every other NUL-terminated string in (eddy_fetch_new's method and URL, a Unix socket's path,
 * a proxy, a trusted address, ...): as SWIG's own typemap (nil passes NULL), but a string with
 * a NUL inside is an error instead of being cut short. */
%typemap(in, checkfn="SWIG_lua_isnilstring") const char * {
    $1 = ($1_ltype)nul_free_string(L, $input, 1);
}

/* Strings out as (pointer, *len): the wrapper returns one binary-safe Lua string (or nil). */
%typemap(in, numinputs=0) size_t *len (size_t tmp_out_len = 0), size_t *value_len (size_t tmp_out_len = 0) {
    $1 = &tmp_out_len;
}
%typemap(argout) size_t *len, size_t *value_len {
    if (result) {
        lua_pop(L, 1);
        lua_pushlstring(L, (const char *)result, *$1);
    }
}

/* ---- what is wrapped -------------------------------------------------------------------- */

/* Functions that take C callbacks are replaced by the Lua-aware natives below; the rest of
 * the headers is wrapped as is. */
%ignore eddy_set_log_function;
%ignore eddy_loop_call_soon;
%ignore eddy_loop_call_later;
%ignore eddy_loop_call_at;
%ignore eddy_loop_call_soon_threadsafe;
%ignore eddy_watch_new;
%ignore eddy_signal_new;
%ignore eddy_periodic_new;
%ignore eddy_app_add_route;
%ignore eddy_app_add_host_route;
%ignore eddy_route_on;
%ignore eddy_route_set_prepare;
%ignore eddy_route_set_on_finish;
%ignore eddy_route_set_on_connection_close;
%ignore eddy_route_set_default_headers;
%ignore eddy_route_set_write_error;
%ignore eddy_route_set_data_received;
%ignore eddy_handler_flush;
%ignore eddy_handler_set_etag;
%ignore eddy_handler_set_userdata;
%ignore eddy_handler_get_userdata;
%ignore eddy_app_reverse_url;
%ignore eddy_request_header_at;
%ignore eddy_request_argument_at;
%ignore eddy_request_file_at;
%ignore eddy_request_set_userdata;
%ignore eddy_request_get_userdata;
%ignore eddy_request_set_close_callback;
%ignore eddy_request_stream_body;
%ignore eddy_request_flush;
%ignore eddy_server_new;
%ignore eddy_server_shutdown;
%ignore eddy_server_set_headers_callback;
%ignore eddy_server_set_access_log;
%ignore eddy_server_set_tls;
%ignore eddy_route_set_websocket;
%ignore eddy_route_set_ws_check_origin;
%ignore eddy_route_set_ws_select_subprotocol;
%ignore eddy_websocket_connect;
%ignore eddy_ws_write_message;
%ignore eddy_ws_set_write_mark;
%ignore eddy_ws_set_userdata;
%ignore eddy_ws_get_userdata;
%ignore eddy_ws_options_set_on_pong;
%ignore eddy_client_set_tls;
%ignore eddy_fetch_set_callbacks;
%ignore eddy_fetch_start;
%ignore eddy_fetch_flush_body; /* fetch_flush_body instead */
%ignore eddy_fetch_response_header_at;

#define EDDY_API
%include <stdint.i>
%include "eddy/common.h"
%include "eddy/loop.h"
%include "eddy/http.h"
%include "eddy/web.h"
%include "eddy/websocket.h"
%include "eddy/client.h"

/* ---- natives: callback registrations that take Lua functions ---------------------------- */

%{
static swig_type_info *handler_type(void) { return SWIGTYPE_p_eddy_handler; }
static swig_type_info *ws_type(void) { return SWIGTYPE_p_eddy_ws; }

#define CHECK_PTR(var, type, idx, tinfo)                                                          \
    type *var = NULL;                                                                             \
    if (!SWIG_IsOK(SWIG_ConvertPtr(L, idx, (void **)&var, tinfo, 0)) || !var)                     \
        return luaL_argerror(L, idx, "expected " #type);

/* call_later(loop, delay, fn) -> id (0 on failure). delay < 0 → call_soon. */
static int l_call_later(lua_State *L) {
    CHECK_PTR(loop, eddy_loop, 1, SWIGTYPE_p_eddy_loop);
    double delay = luaL_checknumber(L, 2);
    luaL_checktype(L, 3, LUA_TFUNCTION);
    lua_ref *box = lua_ref_new(L, 3);
    if (!box) return luaL_error(L, "out of memory");
    eddy_call_id id = delay < 0 ? eddy_loop_call_soon(loop, loop_trampoline, box, lua_ref_free)
                                : eddy_loop_call_later(loop, delay, loop_trampoline, box, lua_ref_free);
    if (id == 0) lua_ref_free(box);
    lua_pushinteger(L, (lua_Integer)id);
    return 1;
}

/* periodic_new(loop, interval, fn) -> eddy_periodic or nil */
static int l_periodic_new(lua_State *L) {
    CHECK_PTR(loop, eddy_loop, 1, SWIGTYPE_p_eddy_loop);
    double interval = luaL_checknumber(L, 2);
    luaL_checktype(L, 3, LUA_TFUNCTION);
    lua_ref *box = lua_ref_new(L, 3);
    if (!box) return luaL_error(L, "out of memory");
    eddy_periodic *p = eddy_periodic_new(loop, interval, periodic_trampoline, box, lua_ref_free);
    if (!p) {
        lua_ref_free(box);
        lua_pushnil(L);
        return 1;
    }
    SWIG_NewPointerObj(L, p, SWIGTYPE_p_eddy_periodic, 0);
    return 1;
}

/* signal_new(loop, signum, fn) -> eddy_signal or nil */
static int l_signal_new(lua_State *L) {
    CHECK_PTR(loop, eddy_loop, 1, SWIGTYPE_p_eddy_loop);
    int signum = (int)luaL_checkinteger(L, 2);
    luaL_checktype(L, 3, LUA_TFUNCTION);
    lua_ref *box = lua_ref_new(L, 3);
    if (!box) return luaL_error(L, "out of memory");
    eddy_signal *s = eddy_signal_new(loop, signum, signal_trampoline, box, lua_ref_free);
    if (!s) {
        lua_ref_free(box);
        lua_pushnil(L);
        return 1;
    }
    SWIG_NewPointerObj(L, s, SWIGTYPE_p_eddy_signal, 0);
    return 1;
}

/* add_route(app, pattern, dispatch [, host_pattern]) -> eddy_route or nil */
static int l_add_route(lua_State *L) {
    CHECK_PTR(app, eddy_app, 1, SWIGTYPE_p_eddy_app);
    size_t plen = 0, hlen = 0;
    const char *pattern = luaL_checklstring(L, 2, &plen);
    luaL_checktype(L, 3, LUA_TFUNCTION);
    const char *host = luaL_optlstring(L, 4, NULL, &hlen);
    lua_ref *box = lua_ref_new(L, 3);
    if (!box) return luaL_error(L, "out of memory");
    eddy_route *route = host ? eddy_app_add_host_route(app, host, hlen, pattern, plen, box, lua_ref_free)
                             : eddy_app_add_route(app, pattern, plen, box, lua_ref_free);
    if (!route) {
        lua_ref_free(box);
        lua_pushnil(L);
        return 1;
    }
    SWIG_NewPointerObj(L, route, SWIGTYPE_p_eddy_route, 0);
    return 1;
}

/* route_on(route, method): the method's callback becomes dispatch("method", ...). */
static int l_route_on(lua_State *L) {
    CHECK_PTR(route, eddy_route, 1, SWIGTYPE_p_eddy_route);
    size_t len = 0;
    const char *method = luaL_checklstring(L, 2, &len);
    lua_pushinteger(L, eddy_route_on(route, method, len, method_trampoline));
    return 1;
}

/* route_hook(route, name): name is one of prepare, on_finish, on_connection_close,
 * set_default_headers, write_error, data_received; or, on a WebSocket route (after
 * route_websocket), check_origin and select_subprotocol. */
static int l_route_hook(lua_State *L) {
    CHECK_PTR(route, eddy_route, 1, SWIGTYPE_p_eddy_route);
    const char *name = luaL_checkstring(L, 2);
    int rc;
    if (!strcmp(name, "prepare")) rc = eddy_route_set_prepare(route, prepare_trampoline);
    else if (!strcmp(name, "on_finish")) rc = eddy_route_set_on_finish(route, on_finish_trampoline);
    else if (!strcmp(name, "on_connection_close")) rc = eddy_route_set_on_connection_close(route, on_close_trampoline);
    else if (!strcmp(name, "set_default_headers")) rc = eddy_route_set_default_headers(route, default_headers_trampoline);
    else if (!strcmp(name, "write_error")) rc = eddy_route_set_write_error(route, write_error_trampoline);
    else if (!strcmp(name, "data_received")) rc = eddy_route_set_data_received(route, data_trampoline);
    else if (!strcmp(name, "check_origin")) rc = eddy_route_set_ws_check_origin(route, ws_check_origin_trampoline);
    else if (!strcmp(name, "select_subprotocol")) rc = eddy_route_set_ws_select_subprotocol(route, ws_select_subprotocol_trampoline);
    else return luaL_argerror(L, 2, "unknown hook");
    lua_pushinteger(L, rc);
    return 1;
}

/* handler_flush(handler) -> rc (no completion callback from Lua). */
static int l_handler_flush(lua_State *L) {
    CHECK_PTR(h, eddy_handler, 1, SWIGTYPE_p_eddy_handler);
    lua_pushinteger(L, eddy_handler_flush(h, NULL));
    return 1;
}

/* request_flush(req) -> rc: the raw server's eddy_request_flush, without a completion callback
 * (NULL, as the header allows). Without it a raw response could not go out in pieces, and
 * eddy_request_abort could only ever close before the head. */
static int l_request_flush(lua_State *L) {
    CHECK_PTR(req, eddy_request, 1, SWIGTYPE_p_eddy_request);
    lua_pushinteger(L, eddy_request_flush(req, NULL));
    return 1;
}

/* handler_set_etag(handler, value or nil) -> rc. nil passes NULL: no ETag and no 304. */
static int l_handler_set_etag(lua_State *L) {
    CHECK_PTR(h, eddy_handler, 1, SWIGTYPE_p_eddy_handler);
    size_t len = 0;
    const char *value = luaL_optlstring(L, 2, NULL, &len);
    lua_pushinteger(L, eddy_handler_set_etag(h, value, len));
    return 1;
}

/* handler_key(handler) -> a light userdata identifying the handler (for tables). */
static int l_handler_key(lua_State *L) {
    CHECK_PTR(h, eddy_handler, 1, SWIGTYPE_p_eddy_handler);
    lua_pushlightuserdata(L, h);
    return 1;
}

/* Pushes a table { {name, value}, ... } built by `count` and `at`. */
static int l_request_headers(lua_State *L) {
    CHECK_PTR(req, eddy_request, 1, SWIGTYPE_p_eddy_request);
    size_t n = eddy_request_header_count(req);
    lua_createtable(L, (int)n, 0);
    for (size_t i = 0; i < n; i++) {
        const char *name, *value;
        size_t nlen, vlen;
        if (eddy_request_header_at(req, i, &name, &nlen, &value, &vlen) != 0) break;
        lua_createtable(L, 2, 0);
        lua_pushlstring(L, name, nlen);
        lua_rawseti(L, -2, 1);
        lua_pushlstring(L, value, vlen);
        lua_rawseti(L, -2, 2);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    return 1;
}

/* request_arguments(req, sources) -> { {name, value}, ... } */
static int l_request_arguments(lua_State *L) {
    CHECK_PTR(req, eddy_request, 1, SWIGTYPE_p_eddy_request);
    int sources = (int)luaL_optinteger(L, 2, EDDY_ARGS_ALL);
    size_t n = eddy_request_argument_count(req, sources);
    lua_createtable(L, (int)n, 0);
    for (size_t i = 0; i < n; i++) {
        const char *name, *value;
        size_t nlen, vlen;
        if (eddy_request_argument_at(req, sources, i, &name, &nlen, &value, &vlen) != 0) break;
        lua_createtable(L, 2, 0);
        lua_pushlstring(L, name, nlen);
        lua_rawseti(L, -2, 1);
        lua_pushlstring(L, value, vlen);
        lua_rawseti(L, -2, 2);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    return 1;
}

/* request_files(req) -> { [field] = { {filename=, content_type=, body=}, ... } }: the uploaded
 * files of a multipart/form-data body (Tornado's request.files), each field's files in arrival
 * order. Bodies are binary (pushed with their length); the strings are NUL-terminated. */
static int l_request_files(lua_State *L) {
    CHECK_PTR(req, eddy_request, 1, SWIGTYPE_p_eddy_request);
    size_t n = eddy_request_file_count(req);
    lua_createtable(L, 0, 0);
    for (size_t i = 0; i < n; i++) {
        const char *field = NULL, *filename = NULL, *ctype = NULL, *body = NULL;
        size_t blen = 0;
        if (eddy_request_file_at(req, i, &field, &filename, &ctype, &body, &blen) != 0) break;
        lua_pushstring(L, field ? field : "");
        if (lua_rawget(L, -2) == LUA_TNIL) {  /* the field's list, made on its first file */
            lua_pop(L, 1);
            lua_createtable(L, 1, 0);
            lua_pushstring(L, field ? field : "");
            lua_pushvalue(L, -2);
            lua_rawset(L, -4);
        }
        lua_createtable(L, 0, 3);
        lua_pushstring(L, filename ? filename : "");
        lua_setfield(L, -2, "filename");
        lua_pushstring(L, ctype ? ctype : "");
        lua_setfield(L, -2, "content_type");
        lua_pushlstring(L, body ? body : "", body ? blen : 0);
        lua_setfield(L, -2, "body");
        lua_rawseti(L, -2, (lua_Integer)lua_rawlen(L, -2) + 1);
        lua_pop(L, 1);
    }
    return 1;
}

/* reverse_url(app, name, ...) -> path or nil, err */
static int l_reverse_url(lua_State *L) {
    CHECK_PTR(app, eddy_app, 1, SWIGTYPE_p_eddy_app);
    size_t name_len = 0;
    const char *name = luaL_checklstring(L, 2, &name_len);
    int nargs = lua_gettop(L) - 2;
    if (nargs > 32) return luaL_error(L, "too many arguments");
    luaL_checkstack(L, nargs + 4, "reverse_url arguments");
    const char *args[32];
    size_t lens[32];
    for (int i = 0; i < nargs; i++) args[i] = luaL_tolstring(L, 3 + i, &lens[i]);
    char out[4096];
    size_t out_len = 0;
    int rc = eddy_app_reverse_url(app, name, name_len, args, lens, (size_t)nargs, out, sizeof out, &out_len);
    if (rc != 0) {
        lua_pushnil(L);
        lua_pushinteger(L, rc);
        return 2;
    }
    lua_pushlstring(L, out, out_len);
    return 1;
}

static double opt_number(lua_State *L, int idx, const char *field, double fallback) {
    lua_getfield(L, idx, field);
    double v = lua_isnumber(L, -1) ? lua_tonumber(L, -1) : fallback;
    lua_pop(L, 1);
    return v;
}

static int opt_flag(lua_State *L, int idx, const char *field) {
    lua_getfield(L, idx, field);
    int v = lua_toboolean(L, -1);
    lua_pop(L, 1);
    return v;
}

/* An integer field of the table at `idx`: `fallback` when absent (nil); `*bad` set when it is
 * something else than an integer in int's range. */
static int opt_int(lua_State *L, int idx, const char *field, int fallback, int *bad) {
    lua_getfield(L, idx, field);
    int v = fallback;
    if (!lua_isnil(L, -1)) {
        int isint = 0;
        lua_Integer n = lua_tointegerx(L, -1, &isint);
        if (!isint || n < INT_MIN || n > INT_MAX) *bad = 1;
        else v = (int)n;
    }
    lua_pop(L, 1);
    return v;
}

/* compression = true, or a table { server_no_context_takeover, client_no_context_takeover,
 * max_window_bits, compression_level, mem_level } (permessage-deflate with those preferences;
 * the last two, Tornado's compression_options keys, are how this side compresses: zlib's level
 * 0..9 or -1 (default: 6), and memLevel 1..9 or 0 (default: 8); other values are EDDY_EINVAL);
 * false/nil = off. */
static int set_compression(lua_State *L, int idx, eddy_ws_options *options) {
    lua_getfield(L, idx, "compression");
    int rc = 0;
    if (lua_istable(L, -1)) {
        int t = lua_gettop(L);
        int flags = EDDY_WS_DEFLATE, bad = 0;
        if (opt_flag(L, t, "server_no_context_takeover")) flags |= EDDY_WS_SERVER_NO_CONTEXT_TAKEOVER;
        if (opt_flag(L, t, "client_no_context_takeover")) flags |= EDDY_WS_CLIENT_NO_CONTEXT_TAKEOVER;
        rc = eddy_ws_options_set_compression(options, flags, (int)opt_number(L, t, "max_window_bits", 0));
        int level = opt_int(L, t, "compression_level", -1, &bad);
        int mem_level = opt_int(L, t, "mem_level", 0, &bad);
        if (rc == 0 && bad) rc = EDDY_EINVAL;
        if (rc == 0) rc = eddy_ws_options_set_compression_level(options, level, mem_level);
    } else if (lua_toboolean(L, -1)) {
        rc = eddy_ws_options_set_compression(options, EDDY_WS_DEFLATE, 0);
    }
    lua_pop(L, 1);
    return rc;
}

/* Client only: subprotocols = { "a", "b" } in order of preference; headers = { Name = "value" }
 * or a list of { name, value } pairs; timeout (alias connect_timeout) in seconds. */
static int set_client_options(lua_State *L, int idx, eddy_ws_options *options) {
    int rc = 0;
    double timeout = opt_number(L, idx, "timeout", opt_number(L, idx, "connect_timeout", -1));
    if (timeout >= 0) rc = eddy_ws_options_set_connect_timeout(options, timeout);
    lua_getfield(L, idx, "subprotocols");
    if (rc == 0 && lua_istable(L, -1)) {
        lua_Integer n = (lua_Integer)lua_rawlen(L, -1);
        for (lua_Integer i = 1; rc == 0 && i <= n; i++) {
            lua_rawgeti(L, -1, i);
            size_t len = 0;
            const char *name = lua_tolstring(L, -1, &len);
            rc = name ? eddy_ws_options_add_subprotocol(options, name, len) : EDDY_EINVAL;
            lua_pop(L, 1);
        }
    }
    lua_pop(L, 1);
    lua_getfield(L, idx, "headers");
    if (rc == 0 && lua_istable(L, -1)) {
        int t = lua_gettop(L);
        lua_pushnil(L);
        while (rc == 0 && lua_next(L, t)) {
            size_t nlen = 0, vlen = 0;
            const char *name, *value;
            if (lua_istable(L, -1)) { /* { name, value } */
                lua_rawgeti(L, -1, 1);
                lua_rawgeti(L, -2, 2);
                name = lua_tolstring(L, -2, &nlen);
                value = lua_tolstring(L, -1, &vlen);
                rc = name && value ? eddy_ws_options_add_header(options, name, nlen, value, vlen) : EDDY_EINVAL;
                lua_pop(L, 2);
            } else if (lua_type(L, -2) == LUA_TSTRING && lua_isstring(L, -1)) {
                name = lua_tolstring(L, -2, &nlen);
                value = lua_tolstring(L, -1, &vlen); /* numbers become strings: only the value */
                rc = eddy_ws_options_add_header(options, name, nlen, value, vlen);
            } else {
                rc = EDDY_EINVAL;
            }
            lua_pop(L, 1);
        }
        if (rc != 0) lua_settop(L, t); /* leave lua_next early: drop the key */
    }
    lua_pop(L, 1);
    return rc;
}

/* Fills `options` from the table at `idx` (nil = defaults): max_message_size,
 * max_message_memory (bytes of messages being received over every connection made with these
 * options; 0: no limit, negative: EDDY_EINVAL), compression, ping_interval, ping_timeout,
 * close_timeout. Returns 0 or the first setter's error. */
/* A field of the table at `idx` that is a byte count or seconds: `fallback` when absent (nil);
 * `*bad` set when it is negative or NaN (refused rather than ignored: the default would apply
 * without a word). */
static double opt_non_negative(lua_State *L, int idx, const char *field, double fallback, int *bad) {
    lua_getfield(L, idx, field);
    double v = fallback;
    if (!lua_isnil(L, -1)) {
        v = lua_isnumber(L, -1) ? lua_tonumber(L, -1) : -1;
        if (!(v >= 0)) {
            *bad = 1;
            v = fallback;
        }
    }
    lua_pop(L, 1);
    return v;
}

static int set_ws_options(lua_State *L, int idx, eddy_ws_options *options) {
    if (!lua_istable(L, idx)) return 0;
    int rc = 0, bad = 0;
    double max = opt_non_negative(L, idx, "max_message_size", 0, &bad);
    double interval = opt_non_negative(L, idx, "ping_interval", 0, &bad);
    double ping_timeout = opt_non_negative(L, idx, "ping_timeout", 0, &bad);
    double close_timeout = opt_non_negative(L, idx, "close_timeout", -1, &bad);
    if (bad) return EDDY_EINVAL;
    if (max > 0) /* (size_t) of a double past SIZE_MAX is undefined: those mean no limit */
        rc = eddy_ws_options_set_max_message_size(options, max < 0x1p64 ? (size_t)max : SIZE_MAX);
    lua_getfield(L, idx, "max_message_memory");
    if (rc == 0 && lua_isnumber(L, -1)) {
        double memory = lua_tonumber(L, -1);
        if (!(memory >= 0)) rc = EDDY_EINVAL; /* negative or NaN */
        else rc = eddy_ws_options_set_max_message_memory(
                 options, memory < 0x1p64 ? (size_t)memory : SIZE_MAX);
    }
    lua_pop(L, 1);
    if (rc == 0) rc = set_compression(L, idx, options);
    if (rc == 0 && interval > 0) rc = eddy_ws_options_set_ping(options, interval, ping_timeout);
    if (rc == 0 && close_timeout >= 0) rc = eddy_ws_options_set_close_timeout(options, close_timeout);
    return rc;
}

/* route_websocket(route [, opts [, with_pong]]) -> rc: the route becomes a WebSocket endpoint
 * whose events go to its dispatch function (plus "ws_pong" when with_pong is true). */
static int l_route_websocket(lua_State *L) {
    CHECK_PTR(route, eddy_route, 1, SWIGTYPE_p_eddy_route);
    eddy_ws_options *options = eddy_ws_options_new();
    if (!options) return luaL_error(L, "out of memory");
    int rc = set_ws_options(L, 2, options);
    if (rc == 0 && lua_toboolean(L, 3)) rc = eddy_ws_options_set_on_pong(options, ws_pong_trampoline);
    if (rc == 0)
        rc = eddy_route_set_websocket(route, ws_open_trampoline, ws_message_trampoline,
                                      ws_close_trampoline, options);
    eddy_ws_options_free(options);
    lua_pushinteger(L, rc);
    return 1;
}

/* A string field of the table at `idx`: NULL when absent; `*bad` set when it is not a string.
 * The pointer stays valid while the table holds the value. */
static const char *opt_string(lua_State *L, int idx, const char *field, int *bad) {
    lua_getfield(L, idx, field);
    size_t len = 0;
    const char *v = lua_type(L, -1) == LUA_TSTRING ? lua_tolstring(L, -1, &len) : NULL;
    if (v && strlen(v) != len) v = NULL; /* a NUL inside: C would read another file name */
    if (!v && !lua_isnil(L, -1)) *bad = 1;
    lua_pop(L, 1);
    return v;
}

/* Client TLS with Tornado's names (wss:// and the HTTP client): validate_cert (default true:
 * the certificate chain and the URL's host are checked), ca_certs (PEM file of CAs trusted in
 * addition to the system's), client_cert / client_key (PEM files: the certificate to show a
 * server that asks for one; the key defaults to client_cert's file). Sets *ctx to a new client
 * context (the caller frees its reference), or leaves it NULL when none of the options is
 * given (the C default context applies). On an error `*what` names the option at fault.
 * Returns 0 or EDDY_E*. */
static int client_tls_context(lua_State *L, int idx, eddy_tls_context **ctx, const char **what) {
    int bad = 0;
    *ctx = NULL;
    lua_getfield(L, idx, "validate_cert");
    int has_validate = !lua_isnil(L, -1), validate = !has_validate || lua_toboolean(L, -1);
    lua_pop(L, 1);
    const char *ca = opt_string(L, idx, "ca_certs", &bad);
    if (bad) return *what = "ca_certs", EDDY_EINVAL;
    const char *cert = opt_string(L, idx, "client_cert", &bad);
    if (bad) return *what = "client_cert", EDDY_EINVAL;
    const char *key = opt_string(L, idx, "client_key", &bad);
    if (bad || (key && !cert)) return *what = "client_key", EDDY_EINVAL;
    if (!has_validate && !ca && !cert) return 0;
    eddy_tls_context *c = eddy_tls_context_new_client();
    if (!c) return EDDY_ENOMEM;
    int rc = 0;
    if (!validate && (rc = eddy_tls_context_set_verify(c, EDDY_TLS_VERIFY_NONE)) != 0) *what = "validate_cert";
    if (rc == 0 && ca && (rc = eddy_tls_context_load_ca_file(c, ca)) != 0) *what = "ca_certs";
    if (rc == 0 && cert && (rc = eddy_tls_context_load_cert_file(c, cert, key ? key : cert)) != 0)
        *what = "client_cert";
    if (rc != 0) {
        eddy_tls_context_free(c);
        return rc;
    }
    *ctx = c;
    return 0;
}

/* The WebSocket client's TLS options (client_tls_context) into `options`. */
static int set_client_tls(lua_State *L, int idx, eddy_ws_options *options, const char **what) {
    eddy_tls_context *ctx = NULL;
    int rc = client_tls_context(L, idx, &ctx, what);
    if (rc != 0 || !ctx) return rc;
    rc = eddy_ws_options_set_tls(options, ctx);
    eddy_tls_context_free(ctx); /* the options keep their own reference */
    return rc;
}

/* websocket_connect(loop, url, opts, dispatch) -> rc [, option]. opts: the route options plus
 * the client ones (set_client_options, set_client_tls) and `on_pong` (true: deliver "pong"
 * events). On 0 the connect callback follows from the loop and dispatch is released after the
 * close (or failed connect); on an error nothing is kept and, when an option is at fault, its
 * name comes second. */
static int l_websocket_connect(lua_State *L) {
    CHECK_PTR(loop, eddy_loop, 1, SWIGTYPE_p_eddy_loop);
    size_t url_len = 0;
    const char *url = luaL_checklstring(L, 2, &url_len);
    luaL_checktype(L, 4, LUA_TFUNCTION);
    eddy_ws_options *options = eddy_ws_options_new();
    if (!options) return luaL_error(L, "out of memory");
    const char *what = NULL;
    int rc = set_ws_options(L, 3, options);
    if (rc == 0 && lua_istable(L, 3)) rc = set_client_options(L, 3, options);
    if (rc == 0 && lua_istable(L, 3)) rc = set_client_tls(L, 3, options, &what);
    if (rc == 0 && lua_istable(L, 3)) {
        /* eddy_ws_options_set_unix_socket: a path sun_path cannot hold is EDDY_EINVAL. */
        int bad = 0;
        const char *sock = opt_string(L, 3, "unix_socket", &bad);
        if (bad) rc = EDDY_EINVAL;
        else if (sock) rc = eddy_ws_options_set_unix_socket(options, sock);
        if (rc != 0) what = "unix_socket";
    }
    if (rc == 0 && lua_istable(L, 3) && opt_flag(L, 3, "on_pong"))
        rc = eddy_ws_options_set_on_pong(options, client_pong_trampoline);
    if (rc == 0) {
        lua_ref *box = lua_ref_new(L, 4);
        if (!box) {
            rc = EDDY_ENOMEM;
        } else {
            rc = eddy_websocket_connect(loop, url, url_len, options, client_connect_trampoline,
                                        client_message_trampoline, client_close_trampoline, box,
                                        lua_ref_free);
            if (rc != 0) lua_ref_free(box); /* on failure the userdata stays ours */
        }
    }
    eddy_ws_options_free(options);
    lua_pushinteger(L, rc);
    if (rc == 0 || !what) return 1;
    lua_pushstring(L, what);
    return 2;
}

/* ws_set_write_mark(ws, mark, enabled) -> rc: with `enabled`, each time the write buffer drops
 * to `mark` bytes after it held more, the connection's dispatch gets "ws_drain" (server) or
 * "drain" (client); without, the mark is removed. */
static int l_ws_set_write_mark(lua_State *L) {
    CHECK_PTR(ws, eddy_ws, 1, SWIGTYPE_p_eddy_ws);
    lua_Integer mark = luaL_checkinteger(L, 2);
    luaL_argcheck(L, mark >= 0, 2, "the mark is a byte count >= 0");
    eddy_ws_drain_fn cb = NULL;
    if (lua_toboolean(L, 3)) cb = eddy_ws_is_client(ws) ? client_drain_trampoline : ws_drain_trampoline;
    lua_pushinteger(L, eddy_ws_set_write_mark(ws, (size_t)mark, cb));
    return 1;
}

/* server_set_server_header(server, value) -> rc: the Server header of every response; nil
 * sends none (the wrapped eddy_server_set_server_header takes a string only). */
static int l_server_set_server_header(lua_State *L) {
    CHECK_PTR(server, eddy_server, 1, SWIGTYPE_p_eddy_server);
    size_t len = 0;
    const char *value = luaL_optlstring(L, 2, NULL, &len);
    lua_pushinteger(L, eddy_server_set_server_header(server, value, len));
    return 1;
}

/* is_ip_address(s) -> boolean: whether eddy_server_add_trusted_proxy would take `s` (a numeric
 * IPv4 or IPv6 address, as inet_pton reads it), so that listen can check trusted_downstream
 * before it changes anything. A NUL inside is refused: C would read the address up to it. */
static int l_is_ip_address(lua_State *L) {
    size_t len = 0;
    const char *s = luaL_checklstring(L, 1, &len);
    unsigned char buf[16];
    int ok = strlen(s) == len &&
             (inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1);
    lua_pushboolean(L, ok);
    return 1;
}

/* A server context from Tornado's ssl_options names: certfile, keyfile (default: certfile's
 * file), ca_certs (CAs for client certificates) and cert_reqs ("none", "optional", "required";
 * default "required" when ca_certs is given, else "none"). Sets *ctx to a new server context
 * (the caller frees its reference) or returns EDDY_E* with `*what` naming the field at fault
 * (NULL when out of memory). Shared by HTTP servers (server_set_tls) and TCP servers
 * (listener_set_tls). */
static int server_tls_context(lua_State *L, int idx, eddy_tls_context **ctx, const char **what) {
    int bad = 0;
    *ctx = NULL;
    *what = NULL;
    const char *cert = opt_string(L, idx, "certfile", &bad);
    if (bad || !cert) *what = "certfile (a PEM file name) is required";
    const char *key = opt_string(L, idx, "keyfile", &bad);
    if (bad && !*what) *what = "keyfile";
    const char *ca = opt_string(L, idx, "ca_certs", &bad);
    if (bad && !*what) *what = "ca_certs";
    const char *reqs = opt_string(L, idx, "cert_reqs", &bad);
    int mode = ca ? EDDY_TLS_VERIFY_REQUIRED : EDDY_TLS_VERIFY_NONE;
    if (reqs && !strcmp(reqs, "none")) mode = EDDY_TLS_VERIFY_NONE;
    else if (reqs && !strcmp(reqs, "optional")) mode = EDDY_TLS_VERIFY_OPTIONAL;
    else if (reqs && !strcmp(reqs, "required")) mode = EDDY_TLS_VERIFY_REQUIRED;
    else if ((reqs || bad) && !*what) *what = "cert_reqs (\"none\", \"optional\" or \"required\")";
    if (*what) return EDDY_EINVAL;
    eddy_tls_context *c = eddy_tls_context_new_server();
    if (!c) return EDDY_ENOMEM;
    int rc;
    if ((rc = eddy_tls_context_load_cert_file(c, cert, key ? key : cert)) != 0)
        *what = "certfile/keyfile";
    else if (ca && (rc = eddy_tls_context_load_ca_file(c, ca)) != 0)
        *what = "ca_certs";
    else if ((rc = eddy_tls_context_set_verify(c, mode)) != 0)
        *what = "cert_reqs";
    if (rc != 0) {
        eddy_tls_context_free(c);
        return rc;
    }
    *ctx = c;
    return 0;
}

/* server_set_tls(server, ssl_options) -> rc [, option]: serves HTTPS / wss:// with Tornado's
 * ssl_options names (server_tls_context). */
static int l_server_set_tls(lua_State *L) {
    CHECK_PTR(server, eddy_server, 1, SWIGTYPE_p_eddy_server);
    luaL_checktype(L, 2, LUA_TTABLE);
    const char *what = NULL;
    eddy_tls_context *ctx = NULL;
    int rc = server_tls_context(L, 2, &ctx, &what);
    if (rc == 0) rc = eddy_server_set_tls(server, ctx);
    eddy_tls_context_free(ctx); /* the server keeps its own reference */
    lua_pushinteger(L, rc);
    if (rc == 0 || !what) return 1;
    lua_pushstring(L, what);
    return 2;
}

/* ws_write(ws, data [, binary]) -> rc */
static int l_ws_write(lua_State *L) {
    CHECK_PTR(ws, eddy_ws, 1, SWIGTYPE_p_eddy_ws);
    size_t len = 0;
    const char *data = luaL_checklstring(L, 2, &len);
    lua_pushinteger(L, eddy_ws_write_message(ws, data, len, lua_toboolean(L, 3), NULL));
    return 1;
}

/* Raw HTTP server (no web layer), for the leanest path: the server's userdata is a lua_ref to
 * fn(req). The request is finished here after fn returns, unless fn returned true (then the
 * Lua code finishes it later with eddy_request_finish). A Lua error → 500 when the headers
 * were not sent yet, and the request is finished. */
static void raw_request_trampoline(eddy_request *req, void *userdata) {
    lua_ref *box = (lua_ref *)userdata;
    lua_State *L = callback_state(box);
    lua_checkstack(L, 8);
    lua_pushcfunction(L, traceback_handler);
    int handler_idx = lua_gettop(L);
    lua_rawgeti(L, LUA_REGISTRYINDEX, box->ref);
    SWIG_NewPointerObj(L, req, SWIGTYPE_p_eddy_request, 0);
    int keep = 0;
    if (lua_pcall(L, 1, 1, handler_idx) != LUA_OK) {
        fprintf(stderr, "eddy-lua: error: %s\n", lua_tostring(L, -1));
        fflush(stderr);
        if (eddy_request_set_status(req, 500, NULL, 0) == 0) {
            static const char page[] = "500: Internal Server Error";
            eddy_request_write(req, page, sizeof page - 1);
        }
    } else {
        keep = lua_toboolean(L, -1);
    }
    lua_settop(L, handler_idx - 1);
    if (!keep) eddy_request_finish(req);
}

/* server_new(loop, fn) -> eddy_server or nil (free it with eddy_server_free). */
static int l_server_new(lua_State *L) {
    CHECK_PTR(loop, eddy_loop, 1, SWIGTYPE_p_eddy_loop);
    luaL_checktype(L, 2, LUA_TFUNCTION);
    lua_ref *box = lua_ref_new(L, 2);
    if (!box) return luaL_error(L, "out of memory");
    eddy_server *server = eddy_server_new(loop, raw_request_trampoline, box, lua_ref_free);
    if (!server) {
        lua_ref_free(box);
        lua_pushnil(L);
        return 1;
    }
    SWIG_NewPointerObj(L, server, SWIGTYPE_p_eddy_server, 0);
    return 1;
}

/* ---- HTTP client: a started fetch's userdata is a lua_ref to its dispatch function, called
 * as dispatch("headers", status, reason, headers), dispatch("chunk", data) and, exactly once,
 * dispatch("done", error, status, reason, headers, body, effective_url, redirects, reused,
 * detail) — and dispatch("flushed", status) for each fetch_flush_body, in call order, before
 * "done" — `headers` being a list of { name, value }, `detail` eddy_fetch_error_detail ("" when
 * eddy knows nothing beyond the error code). Everything is copied into Lua values: the eddy_fetch
 * is freed by eddy right after "done", and the box with it (lua_ref_free). The Lua layer
 * catches its own callbacks' errors. */
static void push_fetch_head(lua_State *L, eddy_fetch *f) {
    size_t len = 0;
    lua_pushinteger(L, eddy_fetch_response_status(f));
    const char *reason = eddy_fetch_response_reason(f, &len);
    lua_pushlstring(L, reason ? reason : "", reason ? len : 0);
    size_t n = eddy_fetch_response_header_count(f);
    lua_createtable(L, n > 256 ? 256 : (int)n, 0);
    for (size_t i = 0; i < n; i++) {
        const char *name, *value;
        size_t nlen, vlen;
        if (eddy_fetch_response_header_at(f, i, &name, &nlen, &value, &vlen) != 0) break;
        lua_createtable(L, 2, 0);
        lua_pushlstring(L, name, nlen);
        lua_rawseti(L, -2, 1);
        lua_pushlstring(L, value, vlen);
        lua_rawseti(L, -2, 2);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
}

static void fetch_headers_trampoline(eddy_fetch *f, void *ud) {
    lua_ref *box = (lua_ref *)ud;
    lua_State *L = callback_state(box);
    lua_checkstack(L, 16);
    lua_rawgeti(L, LUA_REGISTRYINDEX, box->ref);
    lua_pushliteral(L, "headers");
    push_fetch_head(L, f);
    call_protected(L, 4);
}

static void fetch_chunk_trampoline(eddy_fetch *f, const char *data, size_t len, void *ud) {
    lua_ref *box = (lua_ref *)ud;
    lua_State *L = callback_state(box);
    lua_checkstack(L, 8);
    lua_rawgeti(L, LUA_REGISTRYINDEX, box->ref);
    lua_pushliteral(L, "chunk");
    lua_pushlstring(L, data, len);
    call_protected(L, 2);
}

static void fetch_done_trampoline(eddy_fetch *f, int error, void *ud) {
    lua_ref *box = (lua_ref *)ud;
    lua_State *L = callback_state(box);
    size_t len = 0;
    lua_checkstack(L, 16);
    lua_rawgeti(L, LUA_REGISTRYINDEX, box->ref);
    lua_pushliteral(L, "done");
    lua_pushinteger(L, error);
    push_fetch_head(L, f);
    const char *body = eddy_fetch_response_body(f, &len);
    lua_pushlstring(L, body ? body : "", body ? len : 0);
    const char *url = eddy_fetch_effective_url(f, &len);
    lua_pushlstring(L, url ? url : "", url ? len : 0);
    lua_pushinteger(L, eddy_fetch_redirect_count(f));
    lua_pushboolean(L, eddy_fetch_connection_reused(f));
    const char *detail = eddy_fetch_error_detail(f, &len);
    lua_pushlstring(L, detail ? detail : "", detail ? len : 0);
    call_protected(L, 10);
}

static void fetch_flushed_trampoline(eddy_fetch *f, int status, void *ud) {
    (void)f;
    lua_ref *box = (lua_ref *)ud;
    lua_State *L = callback_state(box);
    lua_checkstack(L, 8);
    lua_rawgeti(L, LUA_REGISTRYINDEX, box->ref);
    lua_pushliteral(L, "flushed");
    lua_pushinteger(L, status);
    call_protected(L, 2);
}

/* fetch_flush_body(fetch) -> rc: eddy_fetch_flush_body with the fetch's dispatch told
 * ("flushed", status) once the streamed body written so far reached the kernel (status 0) or
 * the fetch ended first (its error, or EDDY_ECLOSED). Returns eddy_fetch_flush_body's code:
 * on an error no "flushed" follows. */
static int l_fetch_flush_body(lua_State *L) {
    CHECK_PTR(fetch, eddy_fetch, 1, SWIGTYPE_p_eddy_fetch);
    lua_pushinteger(L, eddy_fetch_flush_body(fetch, fetch_flushed_trampoline));
    return 1;
}

/* fetch_start(fetch, dispatch, with_headers, with_chunks) -> rc: starts a configured fetch
 * whose events go to dispatch ("headers" only with_headers; with_chunks: "chunk" events and the
 * body is not kept). On 0 eddy owns the fetch and dispatch is released after "done"; on an
 * error nothing is kept and the fetch is still the caller's (eddy_fetch_free it). */
static int l_fetch_start(lua_State *L) {
    CHECK_PTR(fetch, eddy_fetch, 1, SWIGTYPE_p_eddy_fetch);
    luaL_checktype(L, 2, LUA_TFUNCTION);
    int rc = eddy_fetch_set_callbacks(fetch, lua_toboolean(L, 3) ? fetch_headers_trampoline : NULL,
                                      lua_toboolean(L, 4) ? fetch_chunk_trampoline : NULL);
    if (rc == 0) {
        lua_ref *box = lua_ref_new(L, 2);
        if (!box) {
            rc = EDDY_ENOMEM;
        } else {
            rc = eddy_fetch_start(fetch, fetch_done_trampoline, box, lua_ref_free);
            if (rc != 0) lua_ref_free(box); /* on failure the userdata stays ours */
        }
    }
    lua_pushinteger(L, rc);
    return 1;
}

/* client_set_tls(client, opts) -> rc [, option]: the client's https context from Tornado's
 * validate_cert / ca_certs / client_cert / client_key in `opts` (client_tls_context); without
 * any of them the client keeps the default (verifying) context. */
static int l_client_set_tls(lua_State *L) {
    CHECK_PTR(client, eddy_client, 1, SWIGTYPE_p_eddy_client);
    luaL_checktype(L, 2, LUA_TTABLE);
    const char *what = NULL;
    eddy_tls_context *ctx = NULL;
    int rc = client_tls_context(L, 2, &ctx, &what);
    if (rc == 0 && ctx) rc = eddy_client_set_tls(client, ctx);
    eddy_tls_context_free(ctx); /* the client keeps its own reference */
    lua_pushinteger(L, rc);
    if (rc == 0 || !what) return 1;
    lua_pushstring(L, what);
    return 2;
}

/* registry_size() -> number of live entries in the registry (for leak checks). Slots freed by
 * luaL_unref hold integers (the free list), so only non-number values count. */
static int l_registry_size(lua_State *L) {
    lua_Integer n = 0;
    lua_pushnil(L);
    while (lua_next(L, LUA_REGISTRYINDEX)) {
        if (lua_type(L, -1) != LUA_TNUMBER) n++;
        lua_pop(L, 1);
    }
    lua_pushinteger(L, n);
    return 1;
}
%}

%native(call_later) int l_call_later(lua_State *L);
%native(periodic_new) int l_periodic_new(lua_State *L);
%native(signal_new) int l_signal_new(lua_State *L);
%native(add_route) int l_add_route(lua_State *L);
%native(route_on) int l_route_on(lua_State *L);
%native(route_hook) int l_route_hook(lua_State *L);
%native(handler_flush) int l_handler_flush(lua_State *L);
%native(request_flush) int l_request_flush(lua_State *L);
%native(handler_set_etag) int l_handler_set_etag(lua_State *L);
%native(handler_key) int l_handler_key(lua_State *L);
%native(request_headers) int l_request_headers(lua_State *L);
%native(request_arguments) int l_request_arguments(lua_State *L);
%native(request_files) int l_request_files(lua_State *L);
%native(reverse_url) int l_reverse_url(lua_State *L);
%native(route_websocket) int l_route_websocket(lua_State *L);
%native(ws_write) int l_ws_write(lua_State *L);
%native(websocket_connect) int l_websocket_connect(lua_State *L);
%native(ws_set_write_mark) int l_ws_set_write_mark(lua_State *L);
%native(server_set_tls) int l_server_set_tls(lua_State *L);
%native(server_set_server_header) int l_server_set_server_header(lua_State *L);
%native(is_ip_address) int l_is_ip_address(lua_State *L);
%native(server_new) int l_server_new(lua_State *L);
%native(fetch_start) int l_fetch_start(lua_State *L);
%native(fetch_flush_body) int l_fetch_flush_body(lua_State *L);
%native(client_set_tls) int l_client_set_tls(lua_State *L);
%native(registry_size) int l_registry_size(lua_State *L);

%include "request_tls.i"
%include "stream.i"
%include "net.i"
%include "start_tls.i"
%include "subprocess.i"

/* require("eddy.core") looks for luaopen_eddy_core; SWIG names its entry after the module. */
%wrapper %{
SWIGEXPORT int luaopen_core(lua_State *L);
SWIGEXPORT int luaopen_eddy_core(lua_State *L) { return luaopen_core(L); }
%}
