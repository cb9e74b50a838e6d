#!/usr/bin/env bash
# Where the server's kernel time per request goes at keep-alive c100, nginx against eddy: the
# evidence behind cpu_vs_nginx.sh's finding that both spend the same ~5 us per request in the
# kernel. Interleaved rounds (nginx, eddy, nginx, eddy ...); in each, per server:
#  1. a kernel profile of core 0 without strace: `perf record -e cpu-clock -C 0 -g` for WINDOW
#     seconds in the middle of a wrk run that covers it (the software clock event: this VM has no
#     hardware counters), each part's share of the samples turned into microseconds per request
#     (share x WINDOW s / (wrk's req/s x WINDOW));
#  2. syscalls per request: `strace -c -f -p PID` (nginx: its worker) during a WINDOW-second wrk
#     run, each syscall's calls divided by wrk's request count. strace slows the server several
#     times, so calls that batch (epoll_wait) come out per request differently than without it.
# Server on core 0, wrk (one thread, -c100, no pipelining) and perf on core 1; nginx with the
# shared harness's config (../shared/bench-peers/nginx.conf: one worker, no access log). Needs
# wrk, nginx, curl; without perf or strace that part is skipped with a message.
#
#   bash bench/kernel_vs_nginx.sh                  # 2 rounds, a 3 s window per part
#   ROUNDS=4 WINDOW=5 BUILD_DIR=build bash bench/kernel_vs_nginx.sh
#   EDDY_BIN=build/bench/web_hello_server bash bench/kernel_vs_nginx.sh   # the web layer instead
#
# Prints per round the syscalls per request and the profile table (nginx us/req, eddy us/req,
# eddy/nginx), then the means over the rounds. The profile's rows are cumulative ("children"):
# a function's row includes what it calls, so handle_softirqs, net_rx_action,
# sock_def_readable and schedule are parts of the syscall rows above them (the loopback
# delivery of a response runs in softirq inside the sender's tcp_sendmsg). Kernel parts count
# samples of the server's own processes; "idle" is core 0's idle task, "other" any other task.
set -u
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ROUNDS=${ROUNDS:-2}
WINDOW=${WINDOW:-3}  # seconds: perf window and strace run
NAME=kernel_vs_nginx
# shellcheck source=bench/vs_nginx_setup.sh
source "$ROOT/bench/vs_nginx_setup.sh"
HAVE_PERF=1 HAVE_STRACE=1
command -v perf >/dev/null || { HAVE_PERF=0; echo "kernel_vs_nginx: perf missing, no kernel profile"; }
command -v strace >/dev/null || { HAVE_STRACE=0; echo "kernel_vs_nginx: strace missing, no syscall counts"; }
[ $HAVE_PERF = 1 ] || [ $HAVE_STRACE = 1 ] || { echo "kernel_vs_nginx: nothing to measure" >&2; exit 2; }
mkdir -p "$SCRATCH/nginx"

# The profile's rows: functions counted as "children" (a sample counts for every function on its
# stack), then the server's kernel and user time, core 0's idle time and other tasks.
PARTS="tcp_sendmsg __x64_sys_recvfrom __x64_sys_epoll_wait __x64_sys_timerfd_settime handle_softirqs net_rx_action sock_def_readable schedule"

SERVER_PID=
start_server() {  # name port command... -> SERVER_PID, answering and warmed up
  local name=$1 port=$2; shift 2
  taskset -c 0 "$@" >"$SCRATCH/$name.log" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.1; done
  timeout 30 taskset -c 1 wrk -t1 -c100 -d1s "http://127.0.0.1:$port/" >/dev/null 2>&1  # warm-up
}

stop_server() {
  kill "$SERVER_PID" 2>/dev/null
  wait "$SERVER_PID" 2>/dev/null
}

server_pids() {  # the server and its children (nginx's worker)
  echo "$SERVER_PID" $(pgrep -P "$SERVER_PID")
}

profile() {  # name port out -> "part us_per_request" lines in out
  local name=$1 port=$2 out=$3
  local wrk_out=$SCRATCH/$name.perf.wrk data=$SCRATCH/$name.perf.data
  timeout $((WINDOW + 60)) taskset -c 1 wrk -t1 -c100 -d$((WINDOW + 2))s "http://127.0.0.1:$port/" \
      >"$wrk_out" 2>&1 &
  local wrk_pid=$!
  sleep 1
  timeout $((WINDOW + 60)) taskset -c 1 perf record -q -e cpu-clock -C 0 -g -o "$data" -- sleep "$WINDOW" \
      >/dev/null 2>&1
  wait "$wrk_pid"
  local rps
  rps=$(awk '/Requests\/sec/ {print $2}' "$wrk_out")
  timeout 120 perf script -i "$data" -F comm,pid,ip,sym,dso 2>/dev/null |
    awk -v name="$name" -v pids="$(server_pids)" -v parts="$PARTS" -v rps="${rps:-0}" '
      BEGIN {
        split(pids, p, " "); for (i in p) mine[p[i]] = 1
        np = split(parts, part, " "); for (i = 1; i <= np; i++) want[part[i]] = 1
      }
      function flush() {
        if (!insample) return
        total++
        if (pid == 0) idle++
        else if (!(pid in mine)) { other++; others[comm]++ }
        else {
          if (leafk) { kernel++; for (f in seen) if (f in want) n[f]++ } else user++
          if (!("tcp_sendmsg" in seen || "__x64_sys_recvfrom" in seen ||
                "__x64_sys_epoll_wait" in seen || "__x64_sys_timerfd_settime" in seen) && leafk)
            rest++
        }
        insample = 0; delete seen
      }
      /^[^\t ]/ { flush(); insample = 1; pid = $NF + 0; comm = $1; first = 1; next }
      /^[\t ]/ && insample {
        if (first) { leafk = ($NF == "([kernel.kallsyms])"); first = 0 }
        seen[$2] = 1; next }
      END {
        flush()
        if (total == 0 || rps <= 0) exit
        if (other > total / 20) {  # another task took core 0: say which
          list = ""
          for (c in others) if (others[c] > total / 100) list = list sprintf(" %s %.0f%%", c, others[c] * 100 / total)
          printf "kernel_vs_nginx: other tasks took %.0f%% of core 0 during %s'"'"'s profile:%s\n",
                 other * 100 / total, name, list > "/dev/stderr"
        }
        us = 1e6 / rps / total  # a share of the samples x WINDOW s / (rps x WINDOW) requests
        printf "req/s %.0f\n", rps
        for (i = 1; i <= np; i++) printf "%s %.3f\n", part[i], n[part[i]] * us
        printf "rest_of_kernel %.3f\nkernel %.3f\nuser %.3f\nserver_total %.3f\nidle %.3f\nother %.3f\n",
               rest * us, kernel * us, user * us, (kernel + user) * us, idle * us, other * us
      }' >"$out"
  rm -f "$data"
}

syscalls() {  # name port out -> "syscall calls_per_request" lines in out
  local name=$1 port=$2 out=$3 args=() p
  for p in $(server_pids); do args+=(-p "$p"); done
  timeout -s INT $((WINDOW + 60)) strace -c -f -o "$SCRATCH/$name.strace" "${args[@]}" 2>/dev/null &
  local strace_pid=$!
  sleep 1  # attached
  local wrk_out
  wrk_out=$(timeout $((WINDOW + 60)) taskset -c 1 wrk -t1 -c100 -d"$WINDOW"s "http://127.0.0.1:$port/" 2>/dev/null)
  kill -INT "$strace_pid" 2>/dev/null
  wait "$strace_pid" 2>/dev/null
  local requests
  requests=$(echo "$wrk_out" | awk '/requests in/ {print $1}')
  awk -v n="${requests:-0}" '
    /^-----/ { dashes++; next }
    dashes == 1 && n > 0 { printf "%s %.4f\n", $NF, $4 / n }
    END { if (n > 0) printf "requests %d\n", n }' "$SCRATCH/$name.strace" >"$out"
}

measure() {  # name port round command...
  local name=$1 port=$2 r=$3; shift 3
  start_server "$name" "$port" "$@"
  [ $HAVE_PERF = 1 ] && profile "$name" "$port" "$SCRATCH/r$r.$name.parts"
  [ $HAVE_STRACE = 1 ] && syscalls "$name" "$port" "$SCRATCH/r$r.$name.sys"
  stop_server
}

# Rows of nginx's and eddy's files side by side (means when there are several files per server:
# the first n are nginx's); sort=1 orders the rows by their sum, largest first.
table() {  # sort format n nginx-files... eddy-files...
  local sort=$1 fmt=$2 n=$3; shift 3
  awk -v sortrows="$sort" -v fmt="$fmt" -v n="$n" '
    FNR == 1 { side = ++nfiles <= n ? 1 : 2; files[side]++ }
    { if (!($1 in v1) && !($1 in v2)) order[++nrows] = $1
      if (side == 1) v1[$1] += $2; else v2[$1] += $2 }
    END {
      for (i = 1; i <= nrows; i++) {
        k = order[i]; a = v1[k] / (files[1] ? files[1] : 1); b = v2[k] / (files[2] ? files[2] : 1)
        key[i] = k; na[i] = a; eb[i] = b
      }
      if (sortrows)  # by nginx + eddy, largest first
        for (i = 2; i <= nrows; i++)
          for (j = i; j > 1 && na[j] + eb[j] > na[j - 1] + eb[j - 1]; j--) {
            t = key[j]; key[j] = key[j - 1]; key[j - 1] = t
            t = na[j]; na[j] = na[j - 1]; na[j - 1] = t
            t = eb[j]; eb[j] = eb[j - 1]; eb[j - 1] = t
          }
      printf "  %-28s %10s %10s %8s\n", "", "nginx", "eddy", "e/n"
      for (i = 1; i <= nrows; i++) {
        if (sortrows && key[i] != "requests" && na[i] < 0.001 && eb[i] < 0.001) continue
        ratio = na[i] > 0 ? sprintf("%.2f", eb[i] / na[i]) : "-"
        if (key[i] == "requests" || key[i] == "req/s") printf "  %-28s %10.0f %10.0f %8s\n", key[i], na[i], eb[i], ratio
        else printf "  %-28s " fmt " " fmt " %8s\n", key[i], na[i], eb[i], ratio
      }
    }' "$@"
}

NGINX_CMD=(nginx -p "$SCRATCH/nginx" -c "$PEERS_DIR/nginx.conf" -g "daemon off; pid $SCRATCH/nginx/nginx.pid;")
# shellcheck disable=SC2206  # EDDY_ARGS is a list of words
EDDY_CMD=("$EDDY_BIN" --port "$EDDY_PORT" $EDDY_ARGS)
rm -f "$SCRATCH"/r*.parts "$SCRATCH"/r*.sys
for r in $(seq "$ROUNDS"); do
  measure nginx "$NGINX_PORT" "$r" "${NGINX_CMD[@]}"
  measure eddy "$EDDY_PORT" "$r" "${EDDY_CMD[@]}"
  if [ $HAVE_PERF = 1 ]; then
    echo "round $r: kernel profile of core 0 (perf cpu-clock, ${WINDOW} s), us per request:"
    table 0 "%10.3f" 1 "$SCRATCH/r$r.nginx.parts" "$SCRATCH/r$r.eddy.parts"
  fi
  if [ $HAVE_STRACE = 1 ]; then
    echo "round $r: syscalls per request under strace -c (${WINDOW} s of wrk):"
    table 1 "%10.4f" 1 "$SCRATCH/r$r.nginx.sys" "$SCRATCH/r$r.eddy.sys"
  fi
done
if [ "$ROUNDS" -gt 1 ]; then
  if [ $HAVE_PERF = 1 ]; then
    echo "mean of $ROUNDS rounds: kernel profile, us per request:"
    table 0 "%10.3f" "$ROUNDS" "$SCRATCH"/r*.nginx.parts "$SCRATCH"/r*.eddy.parts
  fi
  if [ $HAVE_STRACE = 1 ]; then
    echo "mean of $ROUNDS rounds: syscalls per request under strace:"
    table 1 "%10.4f" "$ROUNDS" "$SCRATCH"/r*.nginx.sys "$SCRATCH"/r*.eddy.sys
  fi
fi
