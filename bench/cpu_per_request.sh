# shellcheck shell=bash
# Sourced by cpu_vs_nginx.sh and ab_cpu.sh: runs one server under keep-alive load and reports
# its CPU time per request, user and kernel apart (from /proc/PID/stat, the server's process
# and its children); compares two servers' figures of a round, and takes the median of the
# rounds. The server is pinned to core 0, wrk (one thread, -c100, no pipelining) to
# core 1; a 1 s warm-up precedes the measured run. Expects SCRATCH (for the server's log) and
# DURATION (the load's length, e.g. 5s). LOADGEN=h2load uses nghttp2's h2load in HTTP/1.1 mode
# (`h2load --h1 -t1`, DEPTH requests in flight per connection, default 1) instead of wrk: a
# second client, which writes and reads differently.
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
  # SCHEME (http, or https with any certificate) and CONNS (wrk's -c, default 100) from the
  # environment.
  local name=$1 port=$2; shift 2
  local url="${SCHEME:-http}://127.0.0.1:$port/" conns=${CONNS:-100}
  taskset -c 0 "$@" >"$SCRATCH/$name.log" 2>&1 &
  local pid=$!
  for _ in $(seq 50); do curl -sk -o /dev/null "$url" && break; sleep 0.1; done
  timeout 30 taskset -c 1 wrk -t1 -c"$conns" -d1s "$url" >/dev/null 2>&1  # warm-up
  local before after out requests rps
  before=$(ticks "$pid")
  if [ "${LOADGEN:-wrk}" = h2load ]; then
    out=$(timeout 120 taskset -c 1 h2load --h1 -t1 -c"$conns" -m"${DEPTH:-1}" \
        -D"${DURATION%s}" "$url" 2>/dev/null)
    after=$(ticks "$pid")
    requests=$(echo "$out" | awk '/^requests:/ {print $8}')  # "N succeeded"
    rps=$(echo "$out" | awk '/^finished in/ {print $4}')
  else
    out=$(timeout 120 taskset -c 1 wrk -t1 -c"$conns" -d"$DURATION" "$url" 2>/dev/null)
    after=$(ticks "$pid")
    requests=$(echo "$out" | awk '/requests in/ {print $1}')
    rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
  fi
  kill "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  awk -v b="$before" -v a="$after" -v n="${requests:-0}" -v rps="${rps:-0}" -v hz="$HZ" 'BEGIN {
    split(b, x, " "); split(a, y, " ")
    if (n <= 0) { print "0 0 0"; exit }
    printf "%.0f %.2f %.2f\n", rps, (y[1] - x[1]) * 1e6 / hz / n, (y[2] - x[2]) * 1e6 / hz / n }'
}

# compare_round R NAME_A "rps user kernel" NAME_B "rps user kernel": prints the round's line
# and sets round_ratio to B/A of the total CPU per request ("n/a" when either is missing).
compare_round() {
  local line
  line=$(awk -v na="$2" -v a="$3" -v nb="$4" -v b="$5" 'BEGIN {
    split(a, x, " "); split(b, y, " ")
    at = x[2] + x[3]; bt = y[2] + y[3]
    ratio = (at > 0 && bt > 0) ? sprintf("%.3f", bt / at) : "n/a"
    printf "%s %6.0f req/s %5.2f+%5.2f=%5.2f us | %s %6.0f req/s %5.2f+%5.2f=%5.2f us | %s",
           na, x[1], x[2], x[3], at, nb, y[1], y[2], y[3], bt, ratio }')
  # shellcheck disable=SC2034  # read by the caller
  round_ratio=${line##* }
  echo "round $1: $line   (req/s, user+kernel=total CPU us per request, $4/$2)"
}

# median_ratio LABEL < ratios (one per line, "n/a" skipped) -> "median LABEL CPU per request: M"
median_ratio() {
  grep -v n/a | sort -n | awk -v label="$1" '{ v[NR] = $1 } END {
    if (!NR) exit
    median = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
    printf "median %s CPU per request: %.3f (%d rounds)\n", label, median, NR }'
}
