/* TCP servers and clients (include/eddy/net.h: Tornado's TCPServer and TCPClient) and the
 * process helpers (include/eddy/process.h: bind_sockets, fork_processes), for
 * eddy/tcpserver.lua, eddy/tcpclient.lua and eddy/process.lua. %included by eddy_core.i after
 * stream.i (it uses close_unattached and the TLS context builders).
 *
 * Ownership: a listener's userdata is a lua_ref to its dispatch function, released by
 * eddy_listener_free; a connect's userdata is a lua_ref to its dispatch function, released by
 * eddy after the callback ran (or when the loop is freed first). A stream handed to Lua code
 * that does not attach it (stream_attach) is closed here, so that no stream is left unowned. */

%ignore eddy_listener_new;
%ignore eddy_connect;
%ignore eddy_connect_with_options; /* tcp_connect below takes its options as a table */
%include "eddy/net.h"
%include "eddy/process.h"

%{
/* The accept callback: dispatch(stream, peer_ip, peer_port). The Lua layer wraps the stream and
 * runs handle_stream, catching its errors. */
static void listener_accept_trampoline(eddy_listener *listener, eddy_stream *stream,
                                       const char *peer_ip, int peer_port, void *ud) {
    lua_ref *box = (lua_ref *)ud;
    lua_State *L = callback_state(box);
    lua_checkstack(L, 8);
    lua_rawgeti(L, LUA_REGISTRYINDEX, box->ref);
    SWIG_NewPointerObj(L, stream, SWIGTYPE_p_eddy_stream, 0);
    lua_pushstring(L, peer_ip ? peer_ip : "");
    lua_pushinteger(L, peer_port);
    call_protected(L, 3);
    close_unattached(stream);
}

/* listener_new(loop, dispatch) -> eddy_listener or nil (free it with eddy_listener_free). */
static int l_listener_new(lua_State *L) {
    CHECK_PTR(loop, eddy_loop, 1, SWIGTYPE_p_eddy_loop);
    luaL_checktype(L, 2, LUA_TFUNCTION);
    lua_ref *box = lua_ref_new(L, 2);
    if (!box) return luaL_error(L, "out of memory");
    eddy_listener *listener = eddy_listener_new(loop, listener_accept_trampoline, box, lua_ref_free);
    if (!listener) {
        lua_ref_free(box); /* on failure the userdata stays ours */
        lua_pushnil(L);
        return 1;
    }
    SWIG_NewPointerObj(L, listener, SWIGTYPE_p_eddy_listener, 0);
    return 1;
}

/* listener_set_tls(listener, ssl_options) -> rc [, option]: every connection accepted from now
 * on speaks TLS, with Tornado's ssl_options names (server_tls_context, as HTTP servers take
 * them). */
static int l_listener_set_tls(lua_State *L) {
    CHECK_PTR(listener, eddy_listener, 1, SWIGTYPE_p_eddy_listener);
    luaL_checktype(L, 2, LUA_TTABLE);
    const char *what = NULL;
    eddy_tls_context *ctx = NULL;
    int rc = server_tls_context(L, 2, &ctx, &what);
    if (rc == 0) rc = eddy_listener_set_tls(listener, ctx);
    eddy_tls_context_free(ctx); /* the listener keeps its own reference */
    lua_pushinteger(L, rc);
    if (rc == 0 || !what) return 1;
    lua_pushstring(L, what);
    return 2;
}

/* The connect callback: dispatch(stream or nil, error). */
static void tcp_connect_trampoline(eddy_loop *loop, eddy_stream *stream, int error, void *ud) {
    lua_ref *box = (lua_ref *)ud;
    lua_State *L = callback_state(box);
    lua_checkstack(L, 8);
    lua_rawgeti(L, LUA_REGISTRYINDEX, box->ref);
    if (stream) SWIG_NewPointerObj(L, stream, SWIGTYPE_p_eddy_stream, 0);
    else lua_pushnil(L);
    lua_pushinteger(L, error);
    call_protected(L, 2);
    close_unattached(stream);
}

/* The connect options table at `idx` (nil: none) → *out, new eddy_connect_options the caller
 * frees (NULL when the table sets nothing: eddy_connect's defaults). Fields: family (an
 * EDDY_FAMILY_* integer), source_ip (a numeric address), source_port (0..65535). Returns 0 or
 * EDDY_E*, with `*what` naming the field eddy refused. */
static int tcp_connect_options(lua_State *L, int idx, eddy_connect_options **out,
                               const char **what) {
    *out = NULL;
    if (lua_isnoneornil(L, idx)) return 0;
    luaL_checktype(L, idx, LUA_TTABLE);
    int bad = 0;
    int family = opt_int(L, idx, "family", EDDY_FAMILY_ANY, &bad);
    if (bad) return *what = "af", EDDY_EINVAL;
    const char *ip = opt_string(L, idx, "source_ip", &bad);
    if (bad) return *what = "source_ip", EDDY_EINVAL;
    int port = opt_int(L, idx, "source_port", 0, &bad);
    if (bad) return *what = "source_port", EDDY_EINVAL;
    if (family == EDDY_FAMILY_ANY && !ip && port == 0) return 0;
    eddy_connect_options *o = eddy_connect_options_new();
    if (!o) return EDDY_ENOMEM;
    int rc = eddy_connect_options_set_family(o, family);
    if (rc != 0) {
        *what = "af";
    } else if ((ip || port) && (rc = eddy_connect_options_set_source(o, ip, port)) != 0) {
        /* EDDY_EINVAL: a name rather than a numeric address, or a port out of range. */
        *what = port < 0 || port > 65535 ? "source_port" : "source_ip";
    }
    if (rc != 0) {
        eddy_connect_options_free(o);
        return rc;
    }
    *out = o;
    return 0;
}

/* tcp_connect(loop, host, port, timeout, tls, dispatch [, options]) -> rc [, option]. `tls`
 * nil: plain TCP; a table: TLS with client_tls_context's names (validate_cert, ca_certs,
 * client_cert, client_key; none of them: the default context, which verifies the certificate
 * against the system's CAs and the host name) and server_name (SNI and the name checked;
 * default `host`). `options`: tcp_connect_options' table (eddy_connect_with_options). On 0,
 * dispatch runs once from the loop and is released after; on an error nothing is kept and,
 * when an option is at fault, its name comes second. */
static int l_tcp_connect(lua_State *L) {
    CHECK_PTR(loop, eddy_loop, 1, SWIGTYPE_p_eddy_loop);
    const char *host = nul_free_string(L, 2, 0);
    int port = (int)luaL_checkinteger(L, 3);
    double timeout = luaL_optnumber(L, 4, 0);
    luaL_checktype(L, 6, LUA_TFUNCTION);
    if (!lua_isnoneornil(L, 7)) luaL_checktype(L, 7, LUA_TTABLE); /* raises before any alloc */
    const char *what = NULL;
    eddy_tls_context *ctx = NULL;
    const char *server_name = NULL;
    int rc = 0;
    if (lua_istable(L, 5)) {
        int bad = 0;
        server_name = opt_string(L, 5, "server_name", &bad);
        if (bad) {
            what = "server_hostname";
            rc = EDDY_EINVAL;
        } else if ((rc = client_tls_context(L, 5, &ctx, &what)) == 0 && !ctx &&
                   !(ctx = eddy_tls_context_new_client())) {
            rc = EDDY_ENOMEM;
        }
    } else if (!lua_isnil(L, 5)) {
        return luaL_argerror(L, 5, "TLS options must be a table or nil");
    }
    eddy_connect_options *options = NULL;
    if (rc == 0) rc = tcp_connect_options(L, 7, &options, &what);
    if (rc == 0) {
        lua_ref *box = lua_ref_new(L, 6);
        if (!box) {
            rc = EDDY_ENOMEM;
        } else {
            rc = ctx ? eddy_connect_tls_with_options(loop, host, port, timeout, options, ctx,
                                                     server_name, tcp_connect_trampoline, box,
                                                     lua_ref_free)
                     : eddy_connect_with_options(loop, host, port, timeout, options,
                                                 tcp_connect_trampoline, box, lua_ref_free);
            if (rc != 0) lua_ref_free(box); /* on failure the userdata stays ours */
        }
    }
    eddy_connect_options_free(options); /* the connect copied them */
    eddy_tls_context_free(ctx);         /* the connection keeps its own reference */
    lua_pushinteger(L, rc);
    if (rc == 0 || !what) return 1;
    lua_pushstring(L, what);
    return 2;
}

#include <stddef.h>
#include <sys/socket.h>
#include <sys/un.h>

/* socket_address(fd) -> ip, port | path | nil: getsockname() of a listening socket the caller
 * does not own (eddy_listener_socket_fd / eddy_server_listening_fd: the listener's), for
 * TCPServer:local_addresses (Tornado keeps the socket objects and calls getsockname). */
static int l_socket_address(lua_State *L) {
    int fd = (int)luaL_checkinteger(L, 1);
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    memset(&ss, 0, sizeof ss);
    if (fd < 0 || getsockname(fd, (struct sockaddr *)&ss, &len) != 0) {
        lua_pushnil(L);
        return 1;
    }
    char ip[INET6_ADDRSTRLEN];
    if (ss.ss_family == AF_INET) {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        inet_ntop(AF_INET, &a->sin_addr, ip, sizeof ip);
        lua_pushstring(L, ip);
        lua_pushinteger(L, ntohs(a->sin_port));
        return 2;
    }
    if (ss.ss_family == AF_INET6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof ip);
        lua_pushstring(L, ip);
        lua_pushinteger(L, ntohs(a->sin6_port));
        return 2;
    }
    if (ss.ss_family == AF_UNIX) {
        struct sockaddr_un *a = (struct sockaddr_un *)&ss;
        size_t n = len > offsetof(struct sockaddr_un, sun_path)
                       ? len - offsetof(struct sockaddr_un, sun_path)
                       : 0;
        if (n > 0 && a->sun_path[0] == '\0') {
            a->sun_path[0] = '@'; /* an abstract name, spelt as eddy_listener_bind_unix takes it */
        } else {
            n = strnlen(a->sun_path, n);
        }
        lua_pushlstring(L, a->sun_path, n);
        return 1;
    }
    lua_pushnil(L);
    return 1;
}
%}

%native(listener_new) int l_listener_new(lua_State *L);
%native(listener_set_tls) int l_listener_set_tls(lua_State *L);
%native(tcp_connect) int l_tcp_connect(lua_State *L);
%native(socket_address) int l_socket_address(lua_State *L);
