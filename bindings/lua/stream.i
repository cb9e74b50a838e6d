/* Buffered streams (include/eddy/stream.h, Tornado's IOStream) for eddy/iostream.lua.
 * %included by eddy_core.i after its natives (it uses lua_ref, call_protected and CHECK_PTR).
 *
 * Ownership: stream_attach pins the stream's Lua object (a table) in the registry inside a
 * lua_ref box that becomes the C stream's userdata. Every event of the stream goes to that
 * object's `_event` method: obj:_event("read", data), ("write", status), ("close", error),
 * ("drain"). When eddy releases the stream (right after the close callback, or when the loop is
 * freed first, with no callback) the box's free function clears obj.handle, so that the Lua
 * object never touches a freed stream, and drops the registry entry: the object and every Lua
 * function it holds are then only as alive as Lua references keep them.
 *
 * The functions that take no callback are wrapped as they are (eddy_stream_close, _closed,
 * _reading, _write_buffer_size, _set_max_buffer_size, _set_nodelay, _fd); the Lua layer calls
 * them only while obj.handle is set. */

%ignore eddy_stream_new;
%ignore eddy_stream_set_userdata;
%ignore eddy_stream_get_userdata;
%ignore eddy_stream_set_close_callback;
%ignore eddy_stream_read_until;
%ignore eddy_stream_read_until_regex;
%ignore eddy_stream_read_bytes;
%ignore eddy_stream_read_until_close;
%ignore eddy_stream_write;
%ignore eddy_stream_set_write_mark;
%ignore eddy_stream_loop;
%include "eddy/stream.h"

/* From tls.h (not wrapped as a whole, see request_tls.i): whether a stream speaks TLS. */
int eddy_stream_is_tls(const eddy_stream *stream);

%{
/* Calls obj:_event(event [, data | number]) for the stream whose userdata is `ud`. The Lua
 * layer handles its users' errors; one that still reaches here is logged. */
static void stream_event(void *ud, const char *event, int kind, const char *data, size_t len,
                         int number) {
    lua_ref *box = (lua_ref *)ud;
    if (!box) return;
    lua_State *L = callback_state(box);
    lua_checkstack(L, 8);
    lua_rawgeti(L, LUA_REGISTRYINDEX, box->ref);
    lua_getfield(L, -1, "_event");
    lua_insert(L, -2); /* _event, obj */
    lua_pushstring(L, event);
    int nargs = 2;
    if (kind == 1) { /* read: the bytes, copied (valid during the call only) */
        lua_pushlstring(L, data, len);
        nargs++;
    } else if (kind == 2) { /* write: status; close: error */
        lua_pushinteger(L, number);
        nargs++;
    }
    call_protected(L, nargs);
}

static void stream_read_trampoline(eddy_stream *s, const char *data, size_t len, void *ud) {
    stream_event(ud, "read", 1, data, len, 0);
}
static void stream_write_trampoline(eddy_stream *s, int status, void *ud) {
    stream_event(ud, "write", 2, NULL, 0, status);
}
static void stream_close_trampoline(eddy_stream *s, int error, void *ud) {
    stream_event(ud, "close", 2, NULL, 0, error);
}
static void stream_drain_trampoline(eddy_stream *s, void *ud) {
    stream_event(ud, "drain", 0, NULL, 0, 0);
}

/* The stream's free_userdata: obj.handle = nil, then the registry entry goes. */
static void stream_ref_free(void *ud) {
    lua_ref *box = (lua_ref *)ud;
    lua_State *L = current_L ? current_L : box->main_L;
    lua_checkstack(L, 4);
    lua_rawgeti(L, LUA_REGISTRYINDEX, box->ref);
    lua_pushnil(L);
    lua_setfield(L, -2, "handle");
    lua_pop(L, 1);
    lua_ref_free(box);
}

/* stream_attach(stream, obj) -> rc: obj (a table with an _event method) receives the stream's
 * events from now on, and the close callback is set (always: the Lua layer must learn of every
 * close to answer pending reads and run the user's close callback; an idle stream then notices
 * a peer's close). A stream is attached once, right after accept or connect. */
static int l_stream_attach(lua_State *L) {
    CHECK_PTR(stream, eddy_stream, 1, SWIGTYPE_p_eddy_stream);
    luaL_checktype(L, 2, LUA_TTABLE);
    if (eddy_stream_get_userdata(stream)) return luaL_error(L, "eddy: the stream is already attached");
    lua_ref *box = lua_ref_new(L, 2);
    if (!box) return luaL_error(L, "out of memory");
    eddy_stream_set_userdata(stream, box, stream_ref_free);
    lua_pushinteger(L, eddy_stream_set_close_callback(stream, stream_close_trampoline));
    return 1;
}

/* stream_read_until(stream, delimiter, max_bytes) -> rc (max_bytes 0: no limit). */
static int l_stream_read_until(lua_State *L) {
    CHECK_PTR(stream, eddy_stream, 1, SWIGTYPE_p_eddy_stream);
    size_t len = 0;
    const char *delim = luaL_checklstring(L, 2, &len);
    lua_Integer max_bytes = luaL_optinteger(L, 3, 0);
    luaL_argcheck(L, max_bytes >= 0, 3, "max_bytes is a byte count >= 0");
    lua_pushinteger(L, eddy_stream_read_until(stream, delim, len, (size_t)max_bytes,
                                              stream_read_trampoline));
    return 1;
}

/* stream_read_until_regex(stream, pattern, max_bytes) -> rc: the PCRE2 pattern's bytes as
 * they are (EDDY_EINVAL: PCRE2 refuses it, eddy logs why); max_bytes as stream_read_until's. */
static int l_stream_read_until_regex(lua_State *L) {
    CHECK_PTR(stream, eddy_stream, 1, SWIGTYPE_p_eddy_stream);
    size_t len = 0;
    const char *pattern = luaL_checklstring(L, 2, &len);
    lua_Integer max_bytes = luaL_optinteger(L, 3, 0);
    luaL_argcheck(L, max_bytes >= 0, 3, "max_bytes is a byte count >= 0");
    lua_pushinteger(L, eddy_stream_read_until_regex(stream, pattern, len, (size_t)max_bytes,
                                                    stream_read_trampoline));
    return 1;
}

/* stream_read_bytes(stream, n, partial) -> rc */
static int l_stream_read_bytes(lua_State *L) {
    CHECK_PTR(stream, eddy_stream, 1, SWIGTYPE_p_eddy_stream);
    lua_Integer n = luaL_checkinteger(L, 2);
    luaL_argcheck(L, n > 0, 2, "n is a byte count > 0");
    lua_pushinteger(L, eddy_stream_read_bytes(stream, (size_t)n, lua_toboolean(L, 3),
                                              stream_read_trampoline));
    return 1;
}

/* stream_read_until_close(stream) -> rc */
static int l_stream_read_until_close(lua_State *L) {
    CHECK_PTR(stream, eddy_stream, 1, SWIGTYPE_p_eddy_stream);
    lua_pushinteger(L, eddy_stream_read_until_close(stream, stream_read_trampoline));
    return 1;
}

/* stream_write(stream, data, with_callback) -> rc. With with_callback, obj:_event("write",
 * status) follows once the bytes are handed to the kernel (0) or dropped by a close
 * (EDDY_ECLOSED), in write order: the Lua layer keeps the callbacks in a queue. */
static int l_stream_write(lua_State *L) {
    CHECK_PTR(stream, eddy_stream, 1, SWIGTYPE_p_eddy_stream);
    size_t len = 0;
    const char *data = luaL_checklstring(L, 2, &len);
    lua_pushinteger(L, eddy_stream_write(stream, data, len,
                                         lua_toboolean(L, 3) ? stream_write_trampoline : NULL));
    return 1;
}

/* stream_set_write_mark(stream, mark, enabled) -> rc: with `enabled`, obj:_event("drain") each
 * time the write buffer drops to `mark` bytes after it held more; without, the mark goes. */
static int l_stream_set_write_mark(lua_State *L) {
    CHECK_PTR(stream, eddy_stream, 1, SWIGTYPE_p_eddy_stream);
    lua_Integer mark = luaL_checkinteger(L, 2);
    luaL_argcheck(L, mark >= 0, 2, "the mark is a byte count >= 0");
    lua_pushinteger(L, eddy_stream_set_write_mark(stream, (size_t)mark,
                                                  lua_toboolean(L, 3) ? stream_drain_trampoline : NULL));
    return 1;
}

/* After Lua code got a new stream (accept, connect): a stream it did not attach (the code
 * failed before) would never be closed nor freed; close it. */
static void close_unattached(eddy_stream *stream) {
    if (stream && !eddy_stream_get_userdata(stream)) eddy_stream_close(stream);
}
%}

%native(stream_attach) int l_stream_attach(lua_State *L);
%native(stream_read_until) int l_stream_read_until(lua_State *L);
%native(stream_read_until_regex) int l_stream_read_until_regex(lua_State *L);
%native(stream_read_bytes) int l_stream_read_bytes(lua_State *L);
%native(stream_read_until_close) int l_stream_read_until_close(lua_State *L);
%native(stream_write) int l_stream_write(lua_State *L);
%native(stream_set_write_mark) int l_stream_set_write_mark(lua_State *L);
