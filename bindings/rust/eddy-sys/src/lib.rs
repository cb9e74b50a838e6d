//! Raw declarations of eddy's C API, written by hand from `include/eddy/*.h` (common, loop,
//! stream, net, process, subprocess, http, web, websocket, tls, client: every public header).
//! Every item keeps its C name; the rules (ownership, thread, errors) are the ones documented
//! in the headers. Use the `eddy` crate for a safe API.
#![allow(non_camel_case_types)]

use std::os::raw::{c_char, c_double, c_int, c_long, c_uint, c_void};

// ---- common.h ------------------------------------------------------------------------------

pub const EDDY_OK: c_int = 0;
pub const EDDY_EINVAL: c_int = -1;
pub const EDDY_ENOMEM: c_int = -2;
pub const EDDY_EBUSY: c_int = -3;
pub const EDDY_ECLOSED: c_int = -4;
pub const EDDY_ENOENT: c_int = -5;
pub const EDDY_ETIMEDOUT: c_int = -6;
pub const EDDY_ECONNREFUSED: c_int = -7;
pub const EDDY_ECONNRESET: c_int = -8;
pub const EDDY_EADDRINUSE: c_int = -9;
pub const EDDY_EADDRNOTAVAIL: c_int = -10;
pub const EDDY_ETOOBIG: c_int = -11;
pub const EDDY_EOF: c_int = -12;
pub const EDDY_ESTATE: c_int = -13;
pub const EDDY_EMFILE: c_int = -14;
pub const EDDY_ENOTSUP: c_int = -15;
pub const EDDY_EIO: c_int = -16;
pub const EDDY_EACCES: c_int = -17;
pub const EDDY_ECANCELED: c_int = -18;
pub const EDDY_EPROTO: c_int = -19;
pub const EDDY_ETLS: c_int = -20;
pub const EDDY_ERESOLVE: c_int = -21;

pub const EDDY_LOG_DEBUG: c_int = 0;
pub const EDDY_LOG_INFO: c_int = 1;
pub const EDDY_LOG_WARNING: c_int = 2;
pub const EDDY_LOG_ERROR: c_int = 3;

/// "The string is NUL-terminated" as a length (`(size_t)-1`).
pub const EDDY_NTS: usize = usize::MAX;

pub type eddy_free_fn = Option<unsafe extern "C" fn(userdata: *mut c_void)>;
pub type eddy_log_fn =
    Option<unsafe extern "C" fn(level: c_int, msg: *const c_char, userdata: *mut c_void)>;

// ---- loop.h --------------------------------------------------------------------------------

#[repr(C)]
pub struct eddy_loop {
    _opaque: [u8; 0],
}
#[repr(C)]
pub struct eddy_watch {
    _opaque: [u8; 0],
}
#[repr(C)]
pub struct eddy_signal {
    _opaque: [u8; 0],
}
#[repr(C)]
pub struct eddy_periodic {
    _opaque: [u8; 0],
}
pub type eddy_call_id = u64;
pub type eddy_loop_fn = Option<unsafe extern "C" fn(lp: *mut eddy_loop, userdata: *mut c_void)>;
pub type eddy_watch_fn = Option<
    unsafe extern "C" fn(watch: *mut eddy_watch, fd: c_int, events: c_int, userdata: *mut c_void),
>;
pub type eddy_signal_fn =
    Option<unsafe extern "C" fn(sig: *mut eddy_signal, signum: c_int, userdata: *mut c_void)>;
pub type eddy_periodic_fn =
    Option<unsafe extern "C" fn(periodic: *mut eddy_periodic, userdata: *mut c_void)>;
pub type eddy_work_fn = Option<unsafe extern "C" fn(userdata: *mut c_void)>;
pub type eddy_work_done_fn =
    Option<unsafe extern "C" fn(lp: *mut eddy_loop, status: c_int, userdata: *mut c_void)>;

pub const EDDY_READABLE: c_int = 0x1;
pub const EDDY_WRITABLE: c_int = 0x2;

// ---- stream.h ------------------------------------------------------------------------------

#[repr(C)]
pub struct eddy_stream {
    _opaque: [u8; 0],
}
pub type eddy_stream_read_fn = Option<
    unsafe extern "C" fn(
        stream: *mut eddy_stream,
        data: *const c_char,
        len: usize,
        userdata: *mut c_void,
    ),
>;
pub type eddy_stream_write_fn =
    Option<unsafe extern "C" fn(stream: *mut eddy_stream, status: c_int, userdata: *mut c_void)>;
pub type eddy_stream_close_fn =
    Option<unsafe extern "C" fn(stream: *mut eddy_stream, error: c_int, userdata: *mut c_void)>;
pub type eddy_stream_drain_fn =
    Option<unsafe extern "C" fn(stream: *mut eddy_stream, userdata: *mut c_void)>;

extern "C" {
    pub fn eddy_stream_new(lp: *mut eddy_loop, fd: c_int) -> *mut eddy_stream;
    pub fn eddy_stream_set_userdata(
        stream: *mut eddy_stream,
        userdata: *mut c_void,
        free_userdata: eddy_free_fn,
    );
    pub fn eddy_stream_get_userdata(stream: *const eddy_stream) -> *mut c_void;
    pub fn eddy_stream_set_close_callback(
        stream: *mut eddy_stream,
        cb: eddy_stream_close_fn,
    ) -> c_int;
    pub fn eddy_stream_read_until(
        stream: *mut eddy_stream,
        delimiter: *const c_char,
        delimiter_len: usize,
        max_bytes: usize,
        cb: eddy_stream_read_fn,
    ) -> c_int;
    pub fn eddy_stream_read_until_regex(
        stream: *mut eddy_stream,
        pattern: *const c_char,
        pattern_len: usize,
        max_bytes: usize,
        cb: eddy_stream_read_fn,
    ) -> c_int;
    pub fn eddy_stream_read_bytes(
        stream: *mut eddy_stream,
        n: usize,
        partial: c_int,
        cb: eddy_stream_read_fn,
    ) -> c_int;
    pub fn eddy_stream_read_until_close(stream: *mut eddy_stream, cb: eddy_stream_read_fn)
        -> c_int;
    pub fn eddy_stream_reading(stream: *const eddy_stream) -> c_int;
    pub fn eddy_stream_write(
        stream: *mut eddy_stream,
        data: *const c_void,
        len: usize,
        cb: eddy_stream_write_fn,
    ) -> c_int;
    pub fn eddy_stream_write_buffer_size(stream: *const eddy_stream) -> usize;
    pub fn eddy_stream_set_write_mark(
        stream: *mut eddy_stream,
        mark: usize,
        cb: eddy_stream_drain_fn,
    ) -> c_int;
    pub fn eddy_stream_set_max_buffer_size(stream: *mut eddy_stream, bytes: usize) -> c_int;
    pub fn eddy_stream_set_nodelay(stream: *mut eddy_stream, on: c_int) -> c_int;
    pub fn eddy_stream_close(stream: *mut eddy_stream) -> c_int;
    pub fn eddy_stream_closed(stream: *const eddy_stream) -> c_int;
    pub fn eddy_stream_fd(stream: *const eddy_stream) -> c_int;
    pub fn eddy_stream_loop(stream: *const eddy_stream) -> *mut eddy_loop;
}

// ---- net.h ---------------------------------------------------------------------------------

#[repr(C)]
pub struct eddy_listener {
    _opaque: [u8; 0],
}
pub type eddy_accept_fn = Option<
    unsafe extern "C" fn(
        listener: *mut eddy_listener,
        stream: *mut eddy_stream,
        peer_ip: *const c_char,
        peer_port: c_int,
        userdata: *mut c_void,
    ),
>;
pub type eddy_connect_fn = Option<
    unsafe extern "C" fn(
        lp: *mut eddy_loop,
        stream: *mut eddy_stream,
        error: c_int,
        userdata: *mut c_void,
    ),
>;

pub const EDDY_LISTEN_REUSEPORT: c_int = 0x1;
pub const EDDY_LISTEN_IPV6ONLY: c_int = 0x2;
pub const EDDY_DEFAULT_BACKLOG: c_int = 128;

extern "C" {
    pub fn eddy_listener_new(
        lp: *mut eddy_loop,
        cb: eddy_accept_fn,
        userdata: *mut c_void,
        free_userdata: eddy_free_fn,
    ) -> *mut eddy_listener;
    pub fn eddy_listener_bind(
        listener: *mut eddy_listener,
        host: *const c_char,
        port: c_int,
        backlog: c_int,
        flags: c_int,
    ) -> c_int;
    pub fn eddy_listener_bind_unix(
        listener: *mut eddy_listener,
        path: *const c_char,
        backlog: c_int,
    ) -> c_int;
    pub fn eddy_listener_bind_unix_mode(
        listener: *mut eddy_listener,
        path: *const c_char,
        mode: c_int,
        backlog: c_int,
    ) -> c_int;
    pub fn eddy_listener_add_fd(listener: *mut eddy_listener, fd: c_int) -> c_int;
    pub fn eddy_listener_port(listener: *const eddy_listener) -> c_int;
    pub fn eddy_listener_socket_count(listener: *const eddy_listener) -> c_int;
    pub fn eddy_listener_socket_fd(listener: *const eddy_listener, index: c_int) -> c_int;
    pub fn eddy_listener_stop(listener: *mut eddy_listener) -> c_int;
    pub fn eddy_listener_free(listener: *mut eddy_listener);
    pub fn eddy_connect(
        lp: *mut eddy_loop,
        host: *const c_char,
        port: c_int,
        timeout: c_double,
        cb: eddy_connect_fn,
        userdata: *mut c_void,
        free_userdata: eddy_free_fn,
    ) -> c_int;
}

// ---- net.h: connect options ----------------------------------------------------------------

#[repr(C)]
pub struct eddy_connect_options {
    _opaque: [u8; 0],
}

pub const EDDY_FAMILY_ANY: c_int = 0;
pub const EDDY_FAMILY_IPV4: c_int = 4;
pub const EDDY_FAMILY_IPV6: c_int = 6;

extern "C" {
    pub fn eddy_connect_options_new() -> *mut eddy_connect_options;
    pub fn eddy_connect_options_free(options: *mut eddy_connect_options);
    pub fn eddy_connect_options_set_family(
        options: *mut eddy_connect_options,
        family: c_int,
    ) -> c_int;
    pub fn eddy_connect_options_set_source(
        options: *mut eddy_connect_options,
        ip: *const c_char,
        port: c_int,
    ) -> c_int;
    pub fn eddy_connect_with_options(
        lp: *mut eddy_loop,
        host: *const c_char,
        port: c_int,
        timeout: c_double,
        options: *const eddy_connect_options,
        cb: eddy_connect_fn,
        userdata: *mut c_void,
        free_userdata: eddy_free_fn,
    ) -> c_int;
    pub fn eddy_connect_error_detail(lp: *const eddy_loop, len: *mut usize) -> *const c_char;
}

// ---- process.h -----------------------------------------------------------------------------

extern "C" {
    pub fn eddy_bind_socket(
        host: *const c_char,
        port: c_int,
        backlog: c_int,
        flags: c_int,
    ) -> c_int;
    pub fn eddy_socket_port(fd: c_int) -> c_int;
    pub fn eddy_fork_processes(num_processes: c_int, max_restarts: c_int) -> c_int;
    pub fn eddy_task_id() -> c_int;
    pub fn eddy_cpu_count() -> c_int;
}

// ---- subprocess.h --------------------------------------------------------------------------

#[repr(C)]
pub struct eddy_subprocess {
    _opaque: [u8; 0],
}
#[repr(C)]
pub struct eddy_spawn_options {
    _opaque: [u8; 0],
}

pub const EDDY_STDIO_INHERIT: c_int = 0;
pub const EDDY_STDIO_PIPE: c_int = 1;
pub const EDDY_STDIO_DEVNULL: c_int = 2;
pub const EDDY_STDIO_STDOUT: c_int = 3;

pub type eddy_subprocess_exit_fn = Option<
    unsafe extern "C" fn(
        proc_: *mut eddy_subprocess,
        exit_status: c_int,
        term_signal: c_int,
        userdata: *mut c_void,
    ),
>;

extern "C" {
    pub fn eddy_spawn_options_new() -> *mut eddy_spawn_options;
    pub fn eddy_spawn_options_free(options: *mut eddy_spawn_options);
    pub fn eddy_spawn_options_set_stdio(
        options: *mut eddy_spawn_options,
        child_fd: c_int,
        mode: c_int,
    ) -> c_int;
    pub fn eddy_spawn_options_set_stdio_fd(
        options: *mut eddy_spawn_options,
        child_fd: c_int,
        fd: c_int,
    ) -> c_int;
    pub fn eddy_spawn_options_set_cwd(
        options: *mut eddy_spawn_options,
        dir: *const c_char,
    ) -> c_int;
    pub fn eddy_spawn_options_set_env(
        options: *mut eddy_spawn_options,
        envp: *const *const c_char,
    ) -> c_int;
    pub fn eddy_spawn_options_set_close_fds(options: *mut eddy_spawn_options, on: c_int) -> c_int;
    pub fn eddy_spawn_options_set_new_process_group(
        options: *mut eddy_spawn_options,
        on: c_int,
    ) -> c_int;

    pub fn eddy_subprocess_spawn(
        lp: *mut eddy_loop,
        argv: *const *const c_char,
        options: *const eddy_spawn_options,
        on_exit: eddy_subprocess_exit_fn,
        userdata: *mut c_void,
        free_userdata: eddy_free_fn,
        out: *mut *mut eddy_subprocess,
    ) -> c_int;
    pub fn eddy_subprocess_pid(proc_: *const eddy_subprocess) -> c_int;
    pub fn eddy_subprocess_take_stream(
        proc_: *mut eddy_subprocess,
        child_fd: c_int,
    ) -> *mut eddy_stream;
    pub fn eddy_subprocess_kill(proc_: *mut eddy_subprocess, signum: c_int) -> c_int;
}

// ---- http.h --------------------------------------------------------------------------------

#[repr(C)]
pub struct eddy_server {
    _opaque: [u8; 0],
}
#[repr(C)]
pub struct eddy_request {
    _opaque: [u8; 0],
}
pub type eddy_request_fn =
    Option<unsafe extern "C" fn(req: *mut eddy_request, userdata: *mut c_void)>;
pub type eddy_request_event_fn =
    Option<unsafe extern "C" fn(req: *mut eddy_request, userdata: *mut c_void)>;
pub type eddy_request_flush_fn =
    Option<unsafe extern "C" fn(req: *mut eddy_request, status: c_int, userdata: *mut c_void)>;
pub type eddy_request_data_fn = Option<
    unsafe extern "C" fn(
        req: *mut eddy_request,
        data: *const c_char,
        len: usize,
        userdata: *mut c_void,
    ),
>;
pub type eddy_server_done_fn =
    Option<unsafe extern "C" fn(server: *mut eddy_server, userdata: *mut c_void)>;

pub const EDDY_ARGS_QUERY: c_int = 0x1;
pub const EDDY_ARGS_BODY: c_int = 0x2;
pub const EDDY_ARGS_ALL: c_int = 0x3;

// ---- web.h ---------------------------------------------------------------------------------

#[repr(C)]
pub struct eddy_app {
    _opaque: [u8; 0],
}
#[repr(C)]
pub struct eddy_route {
    _opaque: [u8; 0],
}
#[repr(C)]
pub struct eddy_handler {
    _opaque: [u8; 0],
}
pub type eddy_handler_fn =
    Option<unsafe extern "C" fn(handler: *mut eddy_handler, route_userdata: *mut c_void)>;
pub type eddy_handler_error_fn = Option<
    unsafe extern "C" fn(handler: *mut eddy_handler, status: c_int, route_userdata: *mut c_void),
>;
pub type eddy_handler_data_fn = Option<
    unsafe extern "C" fn(
        handler: *mut eddy_handler,
        data: *const c_char,
        len: usize,
        route_userdata: *mut c_void,
    ),
>;
pub type eddy_handler_flush_fn = Option<
    unsafe extern "C" fn(handler: *mut eddy_handler, status: c_int, route_userdata: *mut c_void),
>;

pub const EDDY_COOKIE_SECURE: c_int = 0x1;
pub const EDDY_COOKIE_HTTPONLY: c_int = 0x2;

extern "C" {
    // common.h
    pub fn eddy_strerror(code: c_int) -> *const c_char;
    pub fn eddy_err_name(code: c_int) -> *const c_char;
    pub fn eddy_version() -> c_uint;
    pub fn eddy_version_string() -> *const c_char;
    pub fn eddy_set_log_function(
        f: eddy_log_fn,
        userdata: *mut c_void,
        free_userdata: eddy_free_fn,
    );
    pub fn eddy_set_log_level(level: c_int);

    // loop.h
    pub fn eddy_loop_new() -> *mut eddy_loop;
    pub fn eddy_loop_free(lp: *mut eddy_loop);
    pub fn eddy_loop_run(lp: *mut eddy_loop) -> c_int;
    pub fn eddy_loop_run_once(lp: *mut eddy_loop, timeout_ms: c_int) -> c_int;
    pub fn eddy_loop_reinit(lp: *mut eddy_loop) -> c_int;
    pub fn eddy_loop_stop(lp: *mut eddy_loop);
    pub fn eddy_loop_time(lp: *const eddy_loop) -> c_double;
    pub fn eddy_loop_backend_fd(lp: *const eddy_loop) -> c_int;
    pub fn eddy_loop_next_timeout(lp: *const eddy_loop) -> c_int;
    pub fn eddy_loop_call_soon(
        lp: *mut eddy_loop,
        cb: eddy_loop_fn,
        userdata: *mut c_void,
        free_userdata: eddy_free_fn,
    ) -> eddy_call_id;
    pub fn eddy_loop_call_later(
        lp: *mut eddy_loop,
        delay: c_double,
        cb: eddy_loop_fn,
        userdata: *mut c_void,
        free_userdata: eddy_free_fn,
    ) -> eddy_call_id;
    pub fn eddy_loop_call_at(
        lp: *mut eddy_loop,
        when: c_double,
        cb: eddy_loop_fn,
        userdata: *mut c_void,
        free_userdata: eddy_free_fn,
    ) -> eddy_call_id;
    pub fn eddy_loop_cancel(lp: *mut eddy_loop, id: eddy_call_id) -> c_int;
    pub fn eddy_loop_call_soon_threadsafe(
        lp: *mut eddy_loop,
        cb: eddy_loop_fn,
        userdata: *mut c_void,
        free_userdata: eddy_free_fn,
    ) -> c_int;
    pub fn eddy_loop_run_in_executor(
        lp: *mut eddy_loop,
        work: eddy_work_fn,
        done: eddy_work_done_fn,
        userdata: *mut c_void,
        free_userdata: eddy_free_fn,
    ) -> eddy_call_id;
    pub fn eddy_loop_cancel_work(lp: *mut eddy_loop, id: eddy_call_id) -> c_int;
    pub fn eddy_loop_set_executor_threads(lp: *mut eddy_loop, threads: c_int) -> c_int;
    pub fn eddy_watch_new(
        lp: *mut eddy_loop,
        fd: c_int,
        events: c_int,
        cb: eddy_watch_fn,
        userdata: *mut c_void,
        free_userdata: eddy_free_fn,
    ) -> *mut eddy_watch;
    pub fn eddy_watch_set_events(watch: *mut eddy_watch, events: c_int) -> c_int;
    pub fn eddy_watch_events(watch: *const eddy_watch) -> c_int;
    pub fn eddy_watch_free(watch: *mut eddy_watch);
    pub fn eddy_signal_new(
        lp: *mut eddy_loop,
        signum: c_int,
        cb: eddy_signal_fn,
        userdata: *mut c_void,
        free_userdata: eddy_free_fn,
    ) -> *mut eddy_signal;
    pub fn eddy_signal_free(sig: *mut eddy_signal);
    pub fn eddy_periodic_new(
        lp: *mut eddy_loop,
        interval: c_double,
        cb: eddy_periodic_fn,
        userdata: *mut c_void,
        free_userdata: eddy_free_fn,
    ) -> *mut eddy_periodic;
    pub fn eddy_periodic_start(periodic: *mut eddy_periodic) -> c_int;
    pub fn eddy_periodic_stop(periodic: *mut eddy_periodic) -> c_int;
    pub fn eddy_periodic_is_running(periodic: *const eddy_periodic) -> c_int;
    pub fn eddy_periodic_free(periodic: *mut eddy_periodic);

    // http.h: server
    pub fn eddy_server_new(
        lp: *mut eddy_loop,
        on_request: eddy_request_fn,
        userdata: *mut c_void,
        free_userdata: eddy_free_fn,
    ) -> *mut eddy_server;
    pub fn eddy_server_listen(
        server: *mut eddy_server,
        host: *const c_char,
        port: c_int,
        flags: c_int,
    ) -> c_int;
    pub fn eddy_server_listen_unix(server: *mut eddy_server, path: *const c_char) -> c_int;
    pub fn eddy_server_listen_unix_mode(
        server: *mut eddy_server,
        path: *const c_char,
        mode: c_int,
    ) -> c_int;
    pub fn eddy_server_add_fd(server: *mut eddy_server, fd: c_int) -> c_int;
    pub fn eddy_server_add_connection(
        server: *mut eddy_server,
        fd: c_int,
        peer_ip: *const c_char,
        peer_port: c_int,
    ) -> c_int;
    pub fn eddy_server_port(server: *const eddy_server) -> c_int;
    pub fn eddy_server_listening_fd(server: *const eddy_server, index: c_int) -> c_int;
    pub fn eddy_server_connection_count(server: *const eddy_server) -> usize;
    pub fn eddy_server_shutdown(
        server: *mut eddy_server,
        done: eddy_server_done_fn,
        userdata: *mut c_void,
        free_userdata: eddy_free_fn,
    ) -> c_int;
    pub fn eddy_server_free(server: *mut eddy_server);
    pub fn eddy_server_set_max_header_size(server: *mut eddy_server, bytes: usize) -> c_int;
    pub fn eddy_server_set_max_header_fields(server: *mut eddy_server, count: usize) -> c_int;
    pub fn eddy_server_set_max_body_size(server: *mut eddy_server, bytes: usize) -> c_int;
    pub fn eddy_server_set_max_body_memory(server: *mut eddy_server, bytes: usize) -> c_int;
    pub fn eddy_server_set_header_timeout(server: *mut eddy_server, seconds: c_double) -> c_int;
    pub fn eddy_server_set_idle_timeout(server: *mut eddy_server, seconds: c_double) -> c_int;
    pub fn eddy_server_set_body_timeout(server: *mut eddy_server, seconds: c_double) -> c_int;
    pub fn eddy_server_set_body_min_rate(
        server: *mut eddy_server,
        bytes_per_second: c_double,
        grace_seconds: c_double,
    ) -> c_int;
    pub fn eddy_server_set_max_connections(server: *mut eddy_server, count: usize) -> c_int;
    pub fn eddy_server_set_no_keep_alive(server: *mut eddy_server, on: c_int) -> c_int;
    pub fn eddy_server_set_xheaders(server: *mut eddy_server, on: c_int) -> c_int;
    pub fn eddy_server_add_trusted_proxy(server: *mut eddy_server, ip: *const c_char) -> c_int;
    pub fn eddy_server_set_proxy_protocol(server: *mut eddy_server, on: c_int) -> c_int;
    pub fn eddy_server_set_protocol(server: *mut eddy_server, scheme: *const c_char) -> c_int;
    pub fn eddy_server_set_decompress_request(server: *mut eddy_server, on: c_int) -> c_int;
    pub fn eddy_server_set_body_arguments(server: *mut eddy_server, on: c_int) -> c_int;
    pub fn eddy_server_set_server_header(
        server: *mut eddy_server,
        value: *const c_char,
        len: usize,
    ) -> c_int;
    pub fn eddy_server_allow_method(
        server: *mut eddy_server,
        method: *const c_char,
        len: usize,
    ) -> c_int;
    pub fn eddy_server_allow_any_method(server: *mut eddy_server, on: c_int) -> c_int;
    pub fn eddy_server_set_headers_callback(
        server: *mut eddy_server,
        on_headers: eddy_request_fn,
    ) -> c_int;
    pub fn eddy_server_set_access_log(
        server: *mut eddy_server,
        cb: eddy_request_fn,
        userdata: *mut c_void,
        free_userdata: eddy_free_fn,
    ) -> c_int;
    pub fn eddy_server_set_access_log_fd(server: *mut eddy_server, fd: c_int) -> c_int;

    // http.h: request
    pub fn eddy_request_method(req: *const eddy_request, len: *mut usize) -> *const c_char;
    pub fn eddy_request_uri(req: *const eddy_request, len: *mut usize) -> *const c_char;
    pub fn eddy_request_path(req: *const eddy_request, len: *mut usize) -> *const c_char;
    pub fn eddy_request_query(req: *const eddy_request, len: *mut usize) -> *const c_char;
    pub fn eddy_request_version(req: *const eddy_request) -> c_int;
    pub fn eddy_request_scheme(req: *const eddy_request) -> *const c_char;
    pub fn eddy_request_host(req: *const eddy_request, len: *mut usize) -> *const c_char;
    pub fn eddy_request_remote_ip(req: *const eddy_request) -> *const c_char;
    pub fn eddy_request_remote_port(req: *const eddy_request) -> c_int;
    pub fn eddy_request_header(
        req: *const eddy_request,
        name: *const c_char,
        name_len: usize,
        value_len: *mut usize,
    ) -> *const c_char;
    pub fn eddy_request_header_count(req: *const eddy_request) -> usize;
    pub fn eddy_request_header_at(
        req: *const eddy_request,
        index: usize,
        name: *mut *const c_char,
        name_len: *mut usize,
        value: *mut *const c_char,
        value_len: *mut usize,
    ) -> c_int;
    pub fn eddy_request_body(req: *const eddy_request, len: *mut usize) -> *const c_char;
    pub fn eddy_request_argument_count(req: *const eddy_request, sources: c_int) -> usize;
    pub fn eddy_request_argument_at(
        req: *const eddy_request,
        sources: c_int,
        index: usize,
        name: *mut *const c_char,
        name_len: *mut usize,
        value: *mut *const c_char,
        value_len: *mut usize,
    ) -> c_int;
    pub fn eddy_request_argument(
        req: *const eddy_request,
        sources: c_int,
        name: *const c_char,
        name_len: usize,
        value_len: *mut usize,
    ) -> *const c_char;
    pub fn eddy_request_file_count(req: *const eddy_request) -> usize;
    pub fn eddy_request_file_at(
        req: *const eddy_request,
        index: usize,
        field: *mut *const c_char,
        filename: *mut *const c_char,
        content_type: *mut *const c_char,
        body: *mut *const c_char,
        body_len: *mut usize,
    ) -> c_int;
    pub fn eddy_request_set_userdata(
        req: *mut eddy_request,
        userdata: *mut c_void,
        free_userdata: eddy_free_fn,
    );
    pub fn eddy_request_get_userdata(req: *const eddy_request) -> *mut c_void;
    pub fn eddy_request_set_close_callback(
        req: *mut eddy_request,
        cb: eddy_request_event_fn,
    ) -> c_int;
    pub fn eddy_request_connection_closed(req: *const eddy_request) -> c_int;
    pub fn eddy_request_stream_body(
        req: *mut eddy_request,
        on_data: eddy_request_data_fn,
        on_end: eddy_request_event_fn,
    ) -> c_int;
    pub fn eddy_request_pause_body(req: *mut eddy_request) -> c_int;
    pub fn eddy_request_resume_body(req: *mut eddy_request) -> c_int;
    pub fn eddy_request_set_max_body_size(req: *mut eddy_request, bytes: usize) -> c_int;
    pub fn eddy_request_set_body_timeout(req: *mut eddy_request, seconds: c_double) -> c_int;
    pub fn eddy_request_set_body_min_rate(
        req: *mut eddy_request,
        bytes_per_second: c_double,
        grace_seconds: c_double,
    ) -> c_int;
    pub fn eddy_request_set_status(
        req: *mut eddy_request,
        status: c_int,
        reason: *const c_char,
        reason_len: usize,
    ) -> c_int;
    pub fn eddy_request_set_header(
        req: *mut eddy_request,
        name: *const c_char,
        name_len: usize,
        value: *const c_char,
        value_len: usize,
    ) -> c_int;
    pub fn eddy_request_add_header(
        req: *mut eddy_request,
        name: *const c_char,
        name_len: usize,
        value: *const c_char,
        value_len: usize,
    ) -> c_int;
    pub fn eddy_request_clear_header(
        req: *mut eddy_request,
        name: *const c_char,
        name_len: usize,
    ) -> c_int;
    pub fn eddy_request_write(req: *mut eddy_request, data: *const c_void, len: usize) -> c_int;
    pub fn eddy_request_flush(req: *mut eddy_request, cb: eddy_request_flush_fn) -> c_int;
    pub fn eddy_request_finish(req: *mut eddy_request) -> c_int;
    pub fn eddy_request_abort(req: *mut eddy_request) -> c_int;
    pub fn eddy_request_finished(req: *const eddy_request) -> c_int;
    pub fn eddy_request_response_status(req: *const eddy_request) -> c_int;
    pub fn eddy_request_bytes_sent(req: *const eddy_request) -> u64;
    pub fn eddy_request_duration(req: *const eddy_request) -> c_double;

    // web.h: application
    pub fn eddy_app_new(lp: *mut eddy_loop) -> *mut eddy_app;
    pub fn eddy_app_free(app: *mut eddy_app);
    pub fn eddy_app_server(app: *mut eddy_app) -> *mut eddy_server;
    pub fn eddy_app_add_server(app: *mut eddy_app) -> *mut eddy_server;
    pub fn eddy_app_remove_server(app: *mut eddy_app, server: *mut eddy_server) -> c_int;
    pub fn eddy_app_listen(app: *mut eddy_app, host: *const c_char, port: c_int) -> c_int;
    pub fn eddy_app_add_route(
        app: *mut eddy_app,
        pattern: *const c_char,
        pattern_len: usize,
        userdata: *mut c_void,
        free_userdata: eddy_free_fn,
    ) -> *mut eddy_route;
    pub fn eddy_app_add_host_route(
        app: *mut eddy_app,
        host_pattern: *const c_char,
        host_pattern_len: usize,
        pattern: *const c_char,
        pattern_len: usize,
        userdata: *mut c_void,
        free_userdata: eddy_free_fn,
    ) -> *mut eddy_route;
    pub fn eddy_app_set_default_route(app: *mut eddy_app, route: *mut eddy_route) -> c_int;
    pub fn eddy_app_reverse_url(
        app: *mut eddy_app,
        name: *const c_char,
        name_len: usize,
        args: *const *const c_char,
        arg_lens: *const usize,
        nargs: usize,
        out: *mut c_char,
        out_size: usize,
        out_len: *mut usize,
    ) -> c_int;
    pub fn eddy_app_set_cookie_secret(
        app: *mut eddy_app,
        secret: *const c_char,
        len: usize,
    ) -> c_int;
    pub fn eddy_app_set_xsrf_cookies(app: *mut eddy_app, on: c_int) -> c_int;
    pub fn eddy_app_set_compress_response(app: *mut eddy_app, on: c_int) -> c_int;
    pub fn eddy_app_add_static(
        app: *mut eddy_app,
        url_prefix: *const c_char,
        prefix_len: usize,
        root: *const c_char,
        root_len: usize,
    ) -> c_int;

    // web.h: routes
    pub fn eddy_route_set_name(route: *mut eddy_route, name: *const c_char, len: usize) -> c_int;
    pub fn eddy_route_set_xsrf_check(route: *mut eddy_route, on: c_int) -> c_int;
    pub fn eddy_route_on(
        route: *mut eddy_route,
        method: *const c_char,
        method_len: usize,
        cb: eddy_handler_fn,
    ) -> c_int;
    pub fn eddy_route_set_prepare(route: *mut eddy_route, cb: eddy_handler_fn) -> c_int;
    pub fn eddy_route_set_on_finish(route: *mut eddy_route, cb: eddy_handler_fn) -> c_int;
    pub fn eddy_route_set_on_connection_close(route: *mut eddy_route, cb: eddy_handler_fn)
        -> c_int;
    pub fn eddy_route_set_default_headers(route: *mut eddy_route, cb: eddy_handler_fn) -> c_int;
    pub fn eddy_route_set_write_error(route: *mut eddy_route, cb: eddy_handler_error_fn) -> c_int;
    pub fn eddy_route_set_data_received(route: *mut eddy_route, cb: eddy_handler_data_fn) -> c_int;

    // web.h: handlers
    pub fn eddy_handler_request(handler: *mut eddy_handler) -> *mut eddy_request;
    pub fn eddy_handler_app(handler: *mut eddy_handler) -> *mut eddy_app;
    pub fn eddy_handler_path_arg_count(handler: *const eddy_handler) -> usize;
    pub fn eddy_handler_path_arg(
        handler: *const eddy_handler,
        index: usize,
        len: *mut usize,
    ) -> *const c_char;
    pub fn eddy_handler_path_kwarg(
        handler: *const eddy_handler,
        name: *const c_char,
        name_len: usize,
        len: *mut usize,
    ) -> *const c_char;
    pub fn eddy_handler_get_argument(
        handler: *mut eddy_handler,
        sources: c_int,
        name: *const c_char,
        name_len: usize,
        len: *mut usize,
    ) -> *const c_char;
    pub fn eddy_handler_require_argument(
        handler: *mut eddy_handler,
        sources: c_int,
        name: *const c_char,
        name_len: usize,
        len: *mut usize,
    ) -> *const c_char;
    pub fn eddy_handler_get_cookie(
        handler: *mut eddy_handler,
        name: *const c_char,
        name_len: usize,
        len: *mut usize,
    ) -> *const c_char;
    pub fn eddy_handler_get_signed_cookie(
        handler: *mut eddy_handler,
        name: *const c_char,
        name_len: usize,
        max_age_days: c_double,
        len: *mut usize,
    ) -> *const c_char;
    pub fn eddy_handler_static_url(
        handler: *mut eddy_handler,
        path: *const c_char,
        path_len: usize,
        len: *mut usize,
    ) -> *const c_char;
    pub fn eddy_handler_xsrf_token(handler: *mut eddy_handler, len: *mut usize) -> *const c_char;
    pub fn eddy_handler_set_userdata(
        handler: *mut eddy_handler,
        userdata: *mut c_void,
        free_userdata: eddy_free_fn,
    );
    pub fn eddy_handler_get_userdata(handler: *const eddy_handler) -> *mut c_void;
    pub fn eddy_handler_detach(handler: *mut eddy_handler) -> c_int;
    pub fn eddy_handler_resume(handler: *mut eddy_handler) -> c_int;
    pub fn eddy_handler_finished(handler: *const eddy_handler) -> c_int;
    pub fn eddy_handler_set_status(
        handler: *mut eddy_handler,
        status: c_int,
        reason: *const c_char,
        reason_len: usize,
    ) -> c_int;
    pub fn eddy_handler_set_header(
        handler: *mut eddy_handler,
        name: *const c_char,
        name_len: usize,
        value: *const c_char,
        value_len: usize,
    ) -> c_int;
    pub fn eddy_handler_add_header(
        handler: *mut eddy_handler,
        name: *const c_char,
        name_len: usize,
        value: *const c_char,
        value_len: usize,
    ) -> c_int;
    pub fn eddy_handler_clear_header(
        handler: *mut eddy_handler,
        name: *const c_char,
        name_len: usize,
    ) -> c_int;
    pub fn eddy_handler_write(handler: *mut eddy_handler, data: *const c_void, len: usize)
        -> c_int;
    pub fn eddy_handler_flush(handler: *mut eddy_handler, cb: eddy_handler_flush_fn) -> c_int;
    pub fn eddy_handler_finish(handler: *mut eddy_handler) -> c_int;
    pub fn eddy_handler_redirect(
        handler: *mut eddy_handler,
        url: *const c_char,
        url_len: usize,
        status: c_int,
    ) -> c_int;
    pub fn eddy_handler_clear(handler: *mut eddy_handler) -> c_int;
    pub fn eddy_handler_set_etag(
        handler: *mut eddy_handler,
        value: *const c_char,
        len: usize,
    ) -> c_int;
    pub fn eddy_handler_send_error(handler: *mut eddy_handler, status: c_int) -> c_int;
    pub fn eddy_handler_set_cookie(
        handler: *mut eddy_handler,
        name: *const c_char,
        name_len: usize,
        value: *const c_char,
        value_len: usize,
        domain: *const c_char,
        path: *const c_char,
        expires: c_double,
        max_age: c_long,
        flags: c_int,
        samesite: *const c_char,
    ) -> c_int;
    pub fn eddy_handler_clear_cookie(
        handler: *mut eddy_handler,
        name: *const c_char,
        name_len: usize,
        path: *const c_char,
        domain: *const c_char,
    ) -> c_int;
    pub fn eddy_handler_set_signed_cookie(
        handler: *mut eddy_handler,
        name: *const c_char,
        name_len: usize,
        value: *const c_char,
        value_len: usize,
        expires_days: c_double,
    ) -> c_int;
}

// ---- tls.h ---------------------------------------------------------------------------------

#[repr(C)]
pub struct eddy_tls_context {
    _opaque: [u8; 0],
}

pub const EDDY_TLS_VERIFY_NONE: c_int = 0;
pub const EDDY_TLS_VERIFY_OPTIONAL: c_int = 1;
pub const EDDY_TLS_VERIFY_REQUIRED: c_int = 2;
pub const EDDY_TLS_1_2: c_int = 0x0303;
pub const EDDY_TLS_1_3: c_int = 0x0304;

pub type eddy_start_tls_fn = Option<
    unsafe extern "C" fn(
        lp: *mut eddy_loop,
        tls_stream: *mut eddy_stream,
        error: c_int,
        userdata: *mut c_void,
    ),
>;
pub type eddy_handshake_fn =
    Option<unsafe extern "C" fn(stream: *mut eddy_stream, error: c_int, userdata: *mut c_void)>;
pub type eddy_tls_sni_fn = Option<
    unsafe extern "C" fn(
        ctx: *mut eddy_tls_context,
        server_name: *const c_char,
        userdata: *mut c_void,
    ) -> *mut eddy_tls_context,
>;

extern "C" {
    pub fn eddy_tls_context_new_server() -> *mut eddy_tls_context;
    pub fn eddy_tls_context_new_client() -> *mut eddy_tls_context;
    pub fn eddy_tls_context_free(ctx: *mut eddy_tls_context);
    pub fn eddy_tls_context_load_cert_file(
        ctx: *mut eddy_tls_context,
        cert_path: *const c_char,
        key_path: *const c_char,
    ) -> c_int;
    pub fn eddy_tls_context_load_cert_mem(
        ctx: *mut eddy_tls_context,
        cert_pem: *const c_char,
        cert_len: usize,
        key_pem: *const c_char,
        key_len: usize,
    ) -> c_int;
    pub fn eddy_tls_context_load_ca_file(ctx: *mut eddy_tls_context, path: *const c_char) -> c_int;
    pub fn eddy_tls_context_load_ca_mem(
        ctx: *mut eddy_tls_context,
        pem: *const c_char,
        len: usize,
    ) -> c_int;
    pub fn eddy_tls_context_set_verify(ctx: *mut eddy_tls_context, mode: c_int) -> c_int;
    pub fn eddy_tls_context_set_alpn(
        ctx: *mut eddy_tls_context,
        protocols: *const *const c_char,
        count: usize,
    ) -> c_int;
    pub fn eddy_tls_context_set_min_version(ctx: *mut eddy_tls_context, version: c_int) -> c_int;
    pub fn eddy_tls_context_set_session_tickets(
        ctx: *mut eddy_tls_context,
        enabled: c_int,
    ) -> c_int;
    pub fn eddy_tls_context_set_handshake_timeout(
        ctx: *mut eddy_tls_context,
        seconds: c_double,
    ) -> c_int;
    pub fn eddy_tls_context_set_sni_callback(
        ctx: *mut eddy_tls_context,
        cb: eddy_tls_sni_fn,
        userdata: *mut c_void,
        free_userdata: eddy_free_fn,
    ) -> c_int;
    pub fn eddy_server_set_tls(server: *mut eddy_server, ctx: *mut eddy_tls_context) -> c_int;
    pub fn eddy_listener_set_tls(listener: *mut eddy_listener, ctx: *mut eddy_tls_context)
        -> c_int;
    pub fn eddy_connect_tls(
        lp: *mut eddy_loop,
        host: *const c_char,
        port: c_int,
        timeout: c_double,
        ctx: *mut eddy_tls_context,
        server_name: *const c_char,
        cb: eddy_connect_fn,
        userdata: *mut c_void,
        free_userdata: eddy_free_fn,
    ) -> c_int;
    pub fn eddy_connect_tls_with_options(
        lp: *mut eddy_loop,
        host: *const c_char,
        port: c_int,
        timeout: c_double,
        options: *const eddy_connect_options,
        ctx: *mut eddy_tls_context,
        server_name: *const c_char,
        cb: eddy_connect_fn,
        userdata: *mut c_void,
        free_userdata: eddy_free_fn,
    ) -> c_int;
    pub fn eddy_stream_start_tls(
        stream: *mut eddy_stream,
        ctx: *mut eddy_tls_context,
        server_side: c_int,
        server_hostname: *const c_char,
        cb: eddy_start_tls_fn,
        userdata: *mut c_void,
        free_userdata: eddy_free_fn,
    ) -> c_int;
    pub fn eddy_stream_wait_for_handshake(
        stream: *mut eddy_stream,
        cb: eddy_handshake_fn,
        userdata: *mut c_void,
        free_userdata: eddy_free_fn,
    ) -> c_int;
    pub fn eddy_stream_is_tls(stream: *const eddy_stream) -> c_int;
    pub fn eddy_stream_tls_alpn(stream: *const eddy_stream) -> *const c_char;
    pub fn eddy_stream_tls_server_name(stream: *const eddy_stream) -> *const c_char;
    pub fn eddy_stream_tls_peer_certificate(
        stream: *const eddy_stream,
        buf: *mut u8,
        len: *mut usize,
    ) -> c_int;
    pub fn eddy_request_tls_server_name(req: *const eddy_request) -> *const c_char;
    pub fn eddy_request_tls_peer_certificate(
        req: *const eddy_request,
        buf: *mut u8,
        len: *mut usize,
    ) -> c_int;
}

// ---- websocket.h ---------------------------------------------------------------------------

#[repr(C)]
pub struct eddy_ws {
    _opaque: [u8; 0],
}
#[repr(C)]
pub struct eddy_ws_options {
    _opaque: [u8; 0],
}

pub const EDDY_WS_CLOSE_NORMAL: c_int = 1000;
pub const EDDY_WS_CLOSE_GOING_AWAY: c_int = 1001;
pub const EDDY_WS_CLOSE_PROTOCOL_ERROR: c_int = 1002;
pub const EDDY_WS_CLOSE_NO_STATUS: c_int = 1005;
pub const EDDY_WS_CLOSE_ABNORMAL: c_int = 1006;
pub const EDDY_WS_CLOSE_INVALID_DATA: c_int = 1007;
pub const EDDY_WS_CLOSE_TOO_BIG: c_int = 1009;
pub const EDDY_WS_DEFLATE: c_int = 0x1;
pub const EDDY_WS_SERVER_NO_CONTEXT_TAKEOVER: c_int = 0x2;
pub const EDDY_WS_CLIENT_NO_CONTEXT_TAKEOVER: c_int = 0x4;

pub type eddy_ws_open_fn = Option<unsafe extern "C" fn(ws: *mut eddy_ws, userdata: *mut c_void)>;
pub type eddy_ws_message_fn = Option<
    unsafe extern "C" fn(
        ws: *mut eddy_ws,
        data: *const c_char,
        len: usize,
        binary: c_int,
        userdata: *mut c_void,
    ),
>;
pub type eddy_ws_close_fn = Option<
    unsafe extern "C" fn(
        ws: *mut eddy_ws,
        code: c_int,
        reason: *const c_char,
        reason_len: usize,
        userdata: *mut c_void,
    ),
>;
pub type eddy_ws_pong_fn = Option<
    unsafe extern "C" fn(ws: *mut eddy_ws, data: *const c_char, len: usize, userdata: *mut c_void),
>;
pub type eddy_ws_write_fn =
    Option<unsafe extern "C" fn(ws: *mut eddy_ws, status: c_int, userdata: *mut c_void)>;
pub type eddy_ws_drain_fn = Option<unsafe extern "C" fn(ws: *mut eddy_ws, userdata: *mut c_void)>;
pub type eddy_ws_check_origin_fn = Option<
    unsafe extern "C" fn(
        handler: *mut eddy_handler,
        origin: *const c_char,
        origin_len: usize,
        userdata: *mut c_void,
    ) -> c_int,
>;
pub type eddy_ws_select_subprotocol_fn = Option<
    unsafe extern "C" fn(
        handler: *mut eddy_handler,
        protocols: *const *const c_char,
        lens: *const usize,
        count: usize,
        userdata: *mut c_void,
    ) -> c_int,
>;
pub type eddy_ws_refused_fn = Option<
    unsafe extern "C" fn(
        status: c_int,
        reason: *const c_char,
        reason_len: usize,
        userdata: *mut c_void,
    ),
>;
pub type eddy_ws_connect_fn =
    Option<unsafe extern "C" fn(ws: *mut eddy_ws, status: c_int, userdata: *mut c_void)>;

extern "C" {
    pub fn eddy_ws_options_new() -> *mut eddy_ws_options;
    pub fn eddy_ws_options_free(options: *mut eddy_ws_options);
    pub fn eddy_ws_options_set_max_message_size(
        options: *mut eddy_ws_options,
        bytes: usize,
    ) -> c_int;
    pub fn eddy_ws_options_set_max_message_memory(
        options: *mut eddy_ws_options,
        bytes: usize,
    ) -> c_int;
    pub fn eddy_ws_options_set_max_queued_output(
        options: *mut eddy_ws_options,
        bytes: usize,
    ) -> c_int;
    pub fn eddy_ws_options_set_compression(
        options: *mut eddy_ws_options,
        flags: c_int,
        max_window_bits: c_int,
    ) -> c_int;
    pub fn eddy_ws_options_set_compression_level(
        options: *mut eddy_ws_options,
        level: c_int,
        mem_level: c_int,
    ) -> c_int;
    pub fn eddy_ws_options_set_ping(
        options: *mut eddy_ws_options,
        interval: c_double,
        timeout: c_double,
    ) -> c_int;
    pub fn eddy_ws_options_set_close_timeout(
        options: *mut eddy_ws_options,
        seconds: c_double,
    ) -> c_int;
    pub fn eddy_ws_options_set_connect_timeout(
        options: *mut eddy_ws_options,
        seconds: c_double,
    ) -> c_int;
    pub fn eddy_ws_options_set_unix_socket(
        options: *mut eddy_ws_options,
        path: *const c_char,
    ) -> c_int;
    pub fn eddy_ws_options_set_tls(
        options: *mut eddy_ws_options,
        ctx: *mut eddy_tls_context,
    ) -> c_int;
    pub fn eddy_ws_options_set_on_pong(options: *mut eddy_ws_options, cb: eddy_ws_pong_fn)
        -> c_int;
    pub fn eddy_ws_options_set_on_ping(options: *mut eddy_ws_options, cb: eddy_ws_pong_fn)
        -> c_int;
    pub fn eddy_ws_options_set_on_refused(
        options: *mut eddy_ws_options,
        cb: eddy_ws_refused_fn,
    ) -> c_int;
    pub fn eddy_ws_options_add_subprotocol(
        options: *mut eddy_ws_options,
        name: *const c_char,
        len: usize,
    ) -> c_int;
    pub fn eddy_ws_options_add_header(
        options: *mut eddy_ws_options,
        name: *const c_char,
        name_len: usize,
        value: *const c_char,
        value_len: usize,
    ) -> c_int;
    pub fn eddy_route_set_websocket(
        route: *mut eddy_route,
        open: eddy_ws_open_fn,
        on_message: eddy_ws_message_fn,
        on_close: eddy_ws_close_fn,
        options: *const eddy_ws_options,
    ) -> c_int;
    pub fn eddy_route_set_ws_check_origin(
        route: *mut eddy_route,
        cb: eddy_ws_check_origin_fn,
    ) -> c_int;
    pub fn eddy_route_set_ws_select_subprotocol(
        route: *mut eddy_route,
        cb: eddy_ws_select_subprotocol_fn,
    ) -> c_int;
    pub fn eddy_websocket_connect(
        lp: *mut eddy_loop,
        url: *const c_char,
        url_len: usize,
        options: *const eddy_ws_options,
        on_connect: eddy_ws_connect_fn,
        on_message: eddy_ws_message_fn,
        on_close: eddy_ws_close_fn,
        userdata: *mut c_void,
        free_userdata: eddy_free_fn,
    ) -> c_int;
    pub fn eddy_websocket_connect_error_detail(
        lp: *const eddy_loop,
        len: *mut usize,
    ) -> *const c_char;
    pub fn eddy_ws_write_message(
        ws: *mut eddy_ws,
        data: *const c_void,
        len: usize,
        binary: c_int,
        cb: eddy_ws_write_fn,
    ) -> c_int;
    pub fn eddy_ws_ping(ws: *mut eddy_ws, data: *const c_void, len: usize) -> c_int;
    pub fn eddy_ws_close(
        ws: *mut eddy_ws,
        code: c_int,
        reason: *const c_char,
        reason_len: usize,
    ) -> c_int;
    pub fn eddy_ws_write_buffer_size(ws: *const eddy_ws) -> usize;
    pub fn eddy_ws_set_write_mark(ws: *mut eddy_ws, mark: usize, cb: eddy_ws_drain_fn) -> c_int;
    pub fn eddy_ws_set_userdata(
        ws: *mut eddy_ws,
        userdata: *mut c_void,
        free_userdata: eddy_free_fn,
    );
    pub fn eddy_ws_get_userdata(ws: *const eddy_ws) -> *mut c_void;
    pub fn eddy_ws_handler(ws: *mut eddy_ws) -> *mut eddy_handler;
    pub fn eddy_ws_subprotocol(ws: *const eddy_ws, len: *mut usize) -> *const c_char;
    pub fn eddy_ws_compressed(ws: *const eddy_ws) -> c_int;
    pub fn eddy_ws_is_client(ws: *const eddy_ws) -> c_int;
    pub fn eddy_ws_closing(ws: *const eddy_ws) -> c_int;
}

// ---- client.h ------------------------------------------------------------------------------

#[repr(C)]
pub struct eddy_client {
    _opaque: [u8; 0],
}
#[repr(C)]
pub struct eddy_fetch {
    _opaque: [u8; 0],
}

pub type eddy_fetch_headers_fn =
    Option<unsafe extern "C" fn(fetch: *mut eddy_fetch, userdata: *mut c_void)>;
pub type eddy_fetch_chunk_fn = Option<
    unsafe extern "C" fn(
        fetch: *mut eddy_fetch,
        data: *const c_char,
        len: usize,
        userdata: *mut c_void,
    ),
>;
pub type eddy_fetch_flush_fn =
    Option<unsafe extern "C" fn(fetch: *mut eddy_fetch, status: c_int, userdata: *mut c_void)>;
pub type eddy_fetch_done_fn =
    Option<unsafe extern "C" fn(fetch: *mut eddy_fetch, error: c_int, userdata: *mut c_void)>;

extern "C" {
    pub fn eddy_client_new(lp: *mut eddy_loop) -> *mut eddy_client;
    pub fn eddy_client_free(client: *mut eddy_client);
    pub fn eddy_client_set_max_clients(client: *mut eddy_client, n: usize) -> c_int;
    pub fn eddy_client_set_max_queue(client: *mut eddy_client, n: usize) -> c_int;
    pub fn eddy_client_set_max_idle_per_host(client: *mut eddy_client, n: usize) -> c_int;
    pub fn eddy_client_set_idle_timeout(client: *mut eddy_client, seconds: c_double) -> c_int;
    pub fn eddy_client_set_tls(client: *mut eddy_client, ctx: *mut eddy_tls_context) -> c_int;
    pub fn eddy_client_set_proxy(
        client: *mut eddy_client,
        host: *const c_char,
        port: c_int,
    ) -> c_int;
    pub fn eddy_client_idle_count(client: *const eddy_client) -> usize;

    pub fn eddy_fetch_new(
        client: *mut eddy_client,
        method: *const c_char,
        url: *const c_char,
    ) -> *mut eddy_fetch;
    pub fn eddy_fetch_free(fetch: *mut eddy_fetch);
    pub fn eddy_fetch_add_header(
        fetch: *mut eddy_fetch,
        name: *const c_char,
        name_len: usize,
        value: *const c_char,
        value_len: usize,
    ) -> c_int;
    pub fn eddy_fetch_set_body(fetch: *mut eddy_fetch, data: *const c_void, len: usize) -> c_int;
    pub fn eddy_fetch_set_body_stream(fetch: *mut eddy_fetch, length: i64) -> c_int;
    pub fn eddy_fetch_write_body(fetch: *mut eddy_fetch, data: *const c_void, len: usize) -> c_int;
    pub fn eddy_fetch_end_body(fetch: *mut eddy_fetch) -> c_int;
    pub fn eddy_fetch_set_connect_timeout(fetch: *mut eddy_fetch, seconds: c_double) -> c_int;
    pub fn eddy_fetch_set_request_timeout(fetch: *mut eddy_fetch, seconds: c_double) -> c_int;
    pub fn eddy_fetch_set_read_timeout(fetch: *mut eddy_fetch, seconds: c_double) -> c_int;
    pub fn eddy_fetch_flush_body(fetch: *mut eddy_fetch, cb: eddy_fetch_flush_fn) -> c_int;
    pub fn eddy_fetch_body_buffered(fetch: *const eddy_fetch) -> usize;
    pub fn eddy_fetch_pause_body(fetch: *mut eddy_fetch) -> c_int;
    pub fn eddy_fetch_resume_body(fetch: *mut eddy_fetch) -> c_int;
    pub fn eddy_fetch_set_max_redirects(fetch: *mut eddy_fetch, max: c_int) -> c_int;
    pub fn eddy_fetch_set_max_body_size(fetch: *mut eddy_fetch, bytes: usize) -> c_int;
    pub fn eddy_fetch_set_decompress(fetch: *mut eddy_fetch, on: c_int) -> c_int;
    pub fn eddy_fetch_set_expect_continue(fetch: *mut eddy_fetch, on: c_int) -> c_int;
    pub fn eddy_fetch_set_connect_to(
        fetch: *mut eddy_fetch,
        host: *const c_char,
        port: c_int,
    ) -> c_int;
    pub fn eddy_fetch_set_unix_socket(fetch: *mut eddy_fetch, path: *const c_char) -> c_int;
    pub fn eddy_fetch_set_callbacks(
        fetch: *mut eddy_fetch,
        on_headers: eddy_fetch_headers_fn,
        on_chunk: eddy_fetch_chunk_fn,
    ) -> c_int;
    pub fn eddy_fetch_start(
        fetch: *mut eddy_fetch,
        done: eddy_fetch_done_fn,
        userdata: *mut c_void,
        free_userdata: eddy_free_fn,
    ) -> c_int;
    pub fn eddy_fetch_cancel(fetch: *mut eddy_fetch) -> c_int;

    pub fn eddy_fetch_response_status(fetch: *const eddy_fetch) -> c_int;
    pub fn eddy_fetch_response_reason(fetch: *const eddy_fetch, len: *mut usize) -> *const c_char;
    pub fn eddy_fetch_response_header(
        fetch: *const eddy_fetch,
        name: *const c_char,
        len: *mut usize,
    ) -> *const c_char;
    pub fn eddy_fetch_response_header_count(fetch: *const eddy_fetch) -> usize;
    pub fn eddy_fetch_response_header_at(
        fetch: *const eddy_fetch,
        index: usize,
        name: *mut *const c_char,
        name_len: *mut usize,
        value: *mut *const c_char,
        value_len: *mut usize,
    ) -> c_int;
    pub fn eddy_fetch_response_body(fetch: *const eddy_fetch, len: *mut usize) -> *const c_char;
    pub fn eddy_fetch_error_detail(fetch: *const eddy_fetch, len: *mut usize) -> *const c_char;
    pub fn eddy_fetch_effective_url(fetch: *const eddy_fetch, len: *mut usize) -> *const c_char;
    pub fn eddy_fetch_redirect_count(fetch: *const eddy_fetch) -> c_int;
    pub fn eddy_fetch_connection_reused(fetch: *const eddy_fetch) -> c_int;
}
