#!/usr/bin/env bash
# Server CPU time per request at keep-alive c100 (issue 3's criterion: <= 0.8x nginx), measured
# in interleaved rounds — nginx, eddy, nginx, eddy ... — so that both see the same moments of a
# noisy host, with user and kernel time apart (from /proc/PID/stat) to show where each spends it.
# Server on core 0, wrk (one thread, -c100, no pipelining) on core 1; nginx with the shared
# harness's config (../shared/bench-peers/nginx.conf: one worker, no access log).
#
#   bash bench/cpu_vs_nginx.sh                     # 6 rounds of 5 s each per server
#   ROUNDS=10 DURATION=5s BUILD_DIR=build bash bench/cpu_vs_nginx.sh
#   EDDY_BIN=build/bench/web_hello_server bash bench/cpu_vs_nginx.sh   # the web layer instead
#
# Prints per round each server's req/s and user/kernel/total microseconds of CPU per request,
# the eddy/nginx ratio of the total, then the median ratio.
set -u
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ROUNDS=${ROUNDS:-6}
DURATION=${DURATION:-5s}
NAME=cpu_vs_nginx
# shellcheck source=bench/vs_nginx_setup.sh
source "$ROOT/bench/vs_nginx_setup.sh"
mkdir -p "$SCRATCH/nginx"
HZ=$(getconf CLK_TCK)

ticks() {  # pid -> "utime stime" summed over the pid and its children (nginx's worker)
  local u=0 s=0 p fields
  for p in $1 $(pgrep -P "$1"); do
    fields=$(sed 's/^.*) //' "/proc/$p/stat" 2>/dev/null | awk '{print $12, $13}')
    [ -n "$fields" ] || continue
    u=$((u + ${fields% *})); s=$((s + ${fields#* }))
  done
  echo "$u $s"
}

run_one() {  # name port command... -> "req/s user_us kernel_us" per request
  local name=$1 port=$2; shift 2
  taskset -c 0 "$@" >"$SCRATCH/$name.log" 2>&1 &
  local pid=$!
  for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.1; done
  timeout 30 taskset -c 1 wrk -t1 -c100 -d1s "http://127.0.0.1:$port/" >/dev/null 2>&1  # warm-up
  local before after out
  before=$(ticks "$pid")
  out=$(timeout 120 taskset -c 1 wrk -t1 -c100 -d"$DURATION" "http://127.0.0.1:$port/" 2>/dev/null)
  after=$(ticks "$pid")
  kill "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  local requests
  requests=$(echo "$out" | awk '/requests in/ {print $1}')
  local rps
  rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
  awk -v b="$before" -v a="$after" -v n="${requests:-0}" -v rps="${rps:-0}" -v hz="$HZ" 'BEGIN {
    split(b, x, " "); split(a, y, " ")
    if (n <= 0) { print "0 0 0"; exit }
    printf "%.0f %.2f %.2f\n", rps, (y[1] - x[1]) * 1e6 / hz / n, (y[2] - x[2]) * 1e6 / hz / n }'
}

ratios=()
for r in $(seq "$ROUNDS"); do
  read -r n_rps n_user n_sys < <(run_one nginx "$NGINX_PORT" nginx -p "$SCRATCH/nginx" \
      -c "$PEERS_DIR/nginx.conf" -g "daemon off; pid $SCRATCH/nginx/nginx.pid;")
  # shellcheck disable=SC2086  # EDDY_ARGS is a list of words
  read -r e_rps e_user e_sys < <(run_one eddy "$EDDY_PORT" "$EDDY_BIN" --port "$EDDY_PORT" $EDDY_ARGS)
  line=$(awk -v nr="$n_rps" -v nu="$n_user" -v ns="$n_sys" -v er="$e_rps" -v eu="$e_user" -v es="$e_sys" 'BEGIN {
    nt = nu + ns; et = eu + es
    ratio = (nt > 0 && et > 0) ? sprintf("%.2f", et / nt) : "n/a"
    printf "nginx %6.0f req/s %5.2f+%5.2f=%5.2f us | eddy %6.0f req/s %5.2f+%5.2f=%5.2f us | %s",
           nr, nu, ns, nt, er, eu, es, et, ratio }')
  echo "round $r: $line   (req/s, user+kernel=total CPU us per request, eddy/nginx)"
  ratios+=("${line##* }")
done
printf '%s\n' "${ratios[@]}" | grep -v n/a | sort -n |
  awk '{ v[NR] = $1 } END {
    if (!NR) exit
    median = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
    printf "median eddy/nginx CPU per request: %.2f (%d rounds)\n", median, NR }'
