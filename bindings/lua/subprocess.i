/* Child processes (include/eddy/subprocess.h: Tornado's process.Subprocess) for
 * eddy/subprocess.lua. %included by eddy_core.i after stream.i (it reuses stream_ref_free).
 *
 * Ownership: subprocess_spawn pins the Lua Subprocess object (a table) in the registry inside a
 * lua_ref box that becomes the C handle's userdata. The exit goes to obj:_event("exit",
 * exit_status, term_signal). eddy releases the handle right after that callback returned (or,
 * the loop freed first, without calling it); the box's free function (stream_ref_free) clears
 * obj.handle then, so that the Lua object never reaches a freed handle, and drops the registry
 * entry. The pipe streams are taken at once and handed to Lua, whose IOStream objects own them
 * (so the handle never closes them behind Lua's back).
 *
 * The spawn options are built, used and freed inside the one native call, so that no Lua error
 * can leave them allocated. eddy_subprocess_pid and eddy_subprocess_kill are wrapped as they
 * are; the Lua layer calls them only while obj.handle is set. */

%ignore eddy_spawn_options_new;
%ignore eddy_spawn_options_free;
%ignore eddy_spawn_options_set_stdio;
%ignore eddy_spawn_options_set_stdio_fd;
%ignore eddy_spawn_options_set_cwd;
%ignore eddy_spawn_options_set_env;
%ignore eddy_spawn_options_set_close_fds;
%ignore eddy_spawn_options_set_new_process_group;
%ignore eddy_subprocess_spawn;
%ignore eddy_subprocess_take_stream;
%include "eddy/subprocess.h"

%{
#include <signal.h>
%}

/* The signal numbers of this platform (they differ between architectures), for
 * Subprocess:send_signal: core.SIGTERM, ... */
%constant int SIGHUP = SIGHUP;
%constant int SIGINT = SIGINT;
%constant int SIGQUIT = SIGQUIT;
%constant int SIGKILL = SIGKILL;
%constant int SIGUSR1 = SIGUSR1;
%constant int SIGUSR2 = SIGUSR2;
%constant int SIGPIPE = SIGPIPE;
%constant int SIGALRM = SIGALRM;
%constant int SIGTERM = SIGTERM;
%constant int SIGCHLD = SIGCHLD;
%constant int SIGCONT = SIGCONT;
%constant int SIGSTOP = SIGSTOP;

%{
/* The exit callback: obj:_event("exit", exit_status, term_signal). The Lua layer handles its
 * users' errors; one that still reaches here is logged. */
static void subprocess_exit_trampoline(eddy_subprocess *proc, int exit_status, int term_signal,
                                       void *ud) {
    lua_ref *box = (lua_ref *)ud;
    lua_State *L = callback_state(box);
    lua_checkstack(L, 8);
    lua_rawgeti(L, LUA_REGISTRYINDEX, box->ref);
    lua_getfield(L, -1, "_event");
    lua_insert(L, -2); /* _event, obj */
    lua_pushstring(L, "exit");
    lua_pushinteger(L, exit_status);
    lua_pushinteger(L, term_signal);
    call_protected(L, 4);
}

/* The length of the list spec[field] (-1 when the field is nil). Raises a Lua error unless it
 * is a list of strings without NUL bytes (C strings would cut them short). Called before
 * anything is allocated. */
static lua_Integer spec_list_check(lua_State *L, int spec, const char *field) {
    lua_getfield(L, spec, field);
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        return -1;
    }
    if (!lua_istable(L, -1))
        return luaL_error(L, "eddy: subprocess_spawn: spec.%s must be a list of strings", field);
    lua_Integer n = luaL_len(L, -1);
    for (lua_Integer i = 1; i <= n; i++) {
        size_t len = 0;
        lua_rawgeti(L, -1, i);
        const char *s = lua_type(L, -1) == LUA_TSTRING ? lua_tolstring(L, -1, &len) : NULL;
        if (!s || strlen(s) != len)
            return luaL_error(L, "eddy: subprocess_spawn: spec.%s[%d] must be a string without "
                                 "NUL bytes", field, (int)i);
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    return n;
}

/* Fills `list` (n + 1 entries) with spec[field]'s strings, checked by spec_list_check, and a
 * NULL. The pointers stay valid while the spec table lives (it is an argument of the call). */
static void spec_list_fill(lua_State *L, int spec, const char *field, const char **list,
                           lua_Integer n) {
    lua_getfield(L, spec, field);
    for (lua_Integer i = 1; i <= n; i++) {
        lua_rawgeti(L, -1, i);
        list[i - 1] = lua_tostring(L, -1);
        lua_pop(L, 1);
    }
    list[n] = NULL;
    lua_pop(L, 1);
}

/* What subprocess_spawn reads from its spec, checked before anything is allocated. */
typedef struct spawn_spec {
    lua_Integer argc, envc; /* envc -1: no env (the parent's) */
    int modes[3], fds[3];   /* modes[i] -1: the caller's fd fds[i]; else an EDDY_STDIO_* mode */
    const char *cwd;        /* NULL: the parent's */
    int close_fds, new_process_group;
} spawn_spec;

static void spec_read(lua_State *L, int spec, spawn_spec *out) {
    out->argc = spec_list_check(L, spec, "argv");
    if (out->argc < 1) luaL_error(L, "eddy: subprocess_spawn: spec.argv needs a program");
    out->envc = spec_list_check(L, spec, "env");
    lua_getfield(L, spec, "modes");
    luaL_checktype(L, -1, LUA_TTABLE);
    lua_getfield(L, spec, "fds");
    luaL_checktype(L, -1, LUA_TTABLE);
    for (int i = 0; i < 3; i++) {
        lua_rawgeti(L, -2, i + 1);
        out->modes[i] = (int)luaL_checkinteger(L, -1);
        lua_rawgeti(L, -2, i + 1);
        out->fds[i] = (int)luaL_optinteger(L, -1, -1);
        lua_pop(L, 2);
    }
    lua_pop(L, 2);
    lua_getfield(L, spec, "cwd");
    out->cwd = lua_isnil(L, -1) ? NULL : luaL_checkstring(L, -1); /* the spec keeps it alive */
    lua_pop(L, 1);
    lua_getfield(L, spec, "close_fds");
    out->close_fds = lua_isnil(L, -1) || lua_toboolean(L, -1);
    lua_getfield(L, spec, "new_process_group");
    out->new_process_group = lua_toboolean(L, -1);
    lua_pop(L, 2);
}

/* Builds the options and spawns; returns 0 or EDDY_E*. Raises no Lua error. */
static int spawn_with(eddy_loop *loop, const spawn_spec *sp, const char **argv,
                      const char **envp, lua_ref *box, eddy_subprocess **out) {
    eddy_spawn_options *o = eddy_spawn_options_new();
    if (!o) return EDDY_ENOMEM;
    int rc = 0;
    for (int i = 0; i < 3 && rc == 0; i++)
        rc = sp->modes[i] < 0 ? eddy_spawn_options_set_stdio_fd(o, i, sp->fds[i])
                              : eddy_spawn_options_set_stdio(o, i, sp->modes[i]);
    if (rc == 0 && sp->cwd) rc = eddy_spawn_options_set_cwd(o, sp->cwd);
    if (rc == 0 && envp) rc = eddy_spawn_options_set_env(o, envp);
    if (rc == 0) rc = eddy_spawn_options_set_close_fds(o, sp->close_fds);
    if (rc == 0) rc = eddy_spawn_options_set_new_process_group(o, sp->new_process_group);
    if (rc == 0)
        rc = eddy_subprocess_spawn(loop, argv, o, subprocess_exit_trampoline, box, stream_ref_free,
                                   out);
    eddy_spawn_options_free(o); /* eddy_subprocess_spawn keeps nothing of it */
    return rc;
}

/* subprocess_spawn(loop, obj, spec) -> rc [, proc, pid, stdin, stdout, stderr].
 * spec: argv (a list of strings, argv[1] the program), modes / fds (3 entries each: mode -1
 * means the caller's fd fds[i], else EDDY_STDIO_*), cwd (string or nil), env (a list of
 * "NAME=value" strings, or nil: the parent's), close_fds (nil: true), new_process_group. On 0
 * the child runs, obj (a table with an _event method) gets its exit, and every pipe's parent
 * end comes back as an eddy_stream handle (nil where there is no pipe) for the Lua layer to
 * wrap. On an error nothing started and nothing is kept. A malformed spec raises. */
static int l_subprocess_spawn(lua_State *L) {
    CHECK_PTR(loop, eddy_loop, 1, SWIGTYPE_p_eddy_loop);
    luaL_checktype(L, 2, LUA_TTABLE);
    luaL_checktype(L, 3, LUA_TTABLE);
    lua_checkstack(L, 16);
    spawn_spec sp;
    spec_read(L, 3, &sp); /* every Lua error comes before the first allocation */
    const char **argv = (const char **)calloc((size_t)sp.argc + 1, sizeof *argv);
    const char **envp = sp.envc >= 0 ? (const char **)calloc((size_t)sp.envc + 1, sizeof *envp)
                                     : NULL;
    lua_ref *box = lua_ref_new(L, 2);
    eddy_subprocess *proc = NULL;
    int rc = EDDY_ENOMEM;
    if (argv && box && (sp.envc < 0 || envp)) {
        spec_list_fill(L, 3, "argv", argv, sp.argc);
        if (envp) spec_list_fill(L, 3, "env", envp, sp.envc);
        rc = spawn_with(loop, &sp, argv, envp, box, &proc);
    }
    free(argv);
    free(envp);
    if (rc != 0) {
        if (box) lua_ref_free(box); /* on failure the userdata stays ours */
        lua_pushinteger(L, rc);
        return 1;
    }
    lua_pushinteger(L, 0);
    SWIG_NewPointerObj(L, proc, SWIGTYPE_p_eddy_subprocess, 0);
    lua_pushinteger(L, eddy_subprocess_pid(proc));
    /* Taken now, every pipe is Lua's: the handle's release (after the exit callback) would
     * close one left behind, under a reader that may still want the last output. */
    for (int i = 0; i < 3; i++) {
        eddy_stream *s = eddy_subprocess_take_stream(proc, i);
        if (s) SWIG_NewPointerObj(L, s, SWIGTYPE_p_eddy_stream, 0);
        else lua_pushnil(L);
    }
    return 6;
}
%}

%native(subprocess_spawn) int l_subprocess_spawn(lua_State *L);
