/* STARTTLS (include/eddy/tls.h: eddy_stream_start_tls, eddy_stream_wait_for_handshake) for
 * IOStream:start_tls / IOStream:wait_for_handshake in eddy/iostream.lua. %included by
 * eddy_core.i after net.i (it reuses tcp_connect_trampoline and the TLS context builders).
 *
 * Ownership: each call's dispatch function is a lua_ref that eddy releases after calling it
 * (or, the loop freed first, without calling it). The upgraded stream reaches dispatch as a new
 * eddy_stream handle; one Lua code does not attach is closed by tcp_connect_trampoline. */

%{
/* stream_start_tls(stream, server_side, tls, server_hostname, dispatch) -> rc [, option].
 * Server side: `tls` is a table of Tornado's ssl_options names (server_tls_context). Client
 * side: a table of client_tls_context's names or nil (the default context: the system's CAs
 * and the host name checked). dispatch(stream or nil, error) runs once from the loop once the
 * handshake has completed or failed. On an error nothing is kept and, when an option is at
 * fault, its name comes second. */
static int l_stream_start_tls(lua_State *L) {
    CHECK_PTR(stream, eddy_stream, 1, SWIGTYPE_p_eddy_stream);
    int server_side = lua_toboolean(L, 2);
    const char *hostname = nul_free_string(L, 4, 1);
    luaL_checktype(L, 5, LUA_TFUNCTION);
    const char *what = NULL;
    eddy_tls_context *ctx = NULL;
    int rc;
    if (server_side) {
        luaL_checktype(L, 3, LUA_TTABLE);
        rc = server_tls_context(L, 3, &ctx, &what);
    } else {
        rc = lua_istable(L, 3) ? client_tls_context(L, 3, &ctx, &what) : 0;
        if (rc == 0 && !ctx && !(ctx = eddy_tls_context_new_client())) rc = EDDY_ENOMEM;
    }
    if (rc == 0) {
        lua_ref *box = lua_ref_new(L, 5);
        if (!box) {
            rc = EDDY_ENOMEM;
        } else {
            rc = eddy_stream_start_tls(stream, ctx, server_side, hostname, tcp_connect_trampoline,
                                       box, lua_ref_free);
            if (rc != 0) lua_ref_free(box); /* on failure the userdata stays ours */
        }
    }
    eddy_tls_context_free(ctx); /* the TLS stream keeps its own reference */
    lua_pushinteger(L, rc);
    if (rc == 0 || !what) return 1;
    lua_pushstring(L, what);
    return 2;
}

/* The handshake callback: dispatch(error). */
static void handshake_trampoline(eddy_stream *stream, int error, void *ud) {
    lua_ref *box = (lua_ref *)ud;
    lua_State *L = callback_state(box);
    lua_checkstack(L, 4);
    lua_rawgeti(L, LUA_REGISTRYINDEX, box->ref);
    lua_pushinteger(L, error);
    call_protected(L, 1);
}

/* stream_wait_for_handshake(stream, dispatch) -> rc: dispatch(error) runs once from the loop
 * (0: the handshake completed). */
static int l_stream_wait_for_handshake(lua_State *L) {
    CHECK_PTR(stream, eddy_stream, 1, SWIGTYPE_p_eddy_stream);
    luaL_checktype(L, 2, LUA_TFUNCTION);
    lua_ref *box = lua_ref_new(L, 2);
    if (!box) return luaL_error(L, "out of memory");
    int rc = eddy_stream_wait_for_handshake(stream, handshake_trampoline, box, lua_ref_free);
    if (rc != 0) lua_ref_free(box);
    lua_pushinteger(L, rc);
    return 1;
}
%}

%native(stream_start_tls) int l_stream_start_tls(lua_State *L);
%native(stream_wait_for_handshake) int l_stream_wait_for_handshake(lua_State *L);
