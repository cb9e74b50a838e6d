#!/usr/bin/env python3
"""Summarises bench/run.sh results: results.tsv from the peer harness and the idle log.

   summary.py RESULTS.TSV [IDLE.LOG] [REF]

Per server and test: mean req/s over the runs, mean server CPU microseconds per request
(server CPU % / req/s), and both as ratios to REF (nginx) — each ratio taken within one run and
then averaged. Then bytes of resident memory per idle keep-alive connection, and the project's
targets (pipelined req/s >= 1.5x nginx, CPU/request at c100 <= 0.8x nginx, <= 1 KiB/idle conn).
"""
import csv, os, re, statistics as st, sys

tsv = sys.argv[1]
idle_log = sys.argv[2] if len(sys.argv) > 2 else None
ref = sys.argv[3] if len(sys.argv) > 3 else "nginx"
TESTS = {"plain": "keep-alive c100", "pipe16": "pipelined x16 c100", "c1000": "keep-alive c1000"}


def cpu_us(r):
    rps = float(r["rps"])
    return float(r["srv_cpu_pct"]) / 100 / rps * 1e6 if rps > 0 else float("nan")


def mean(xs):
    xs = [x for x in xs if x == x]
    return st.mean(xs) if xs else float("nan")


rows = list(csv.DictReader(open(tsv), delimiter="\t")) if os.path.exists(tsv) else []
servers = []
for r in rows:
    if r["server"] not in servers:
        servers.append(r["server"])
base = {(r["run"], r["test"]): r for r in rows if r["server"] == ref}
agg = {}
for r in rows:
    a = agg.setdefault((r["server"], r["test"]), {"rps": [], "cpu": [], "xr": [], "xc": [], "p99": [], "errs": 0})
    a["rps"].append(float(r["rps"]))
    a["cpu"].append(cpu_us(r))
    a["p99"].append(int(r["p99_us"]) / 1000)
    a["errs"] += max(0, int(r["errs"])) + max(0, int(r["non2xx"]))
    b = base.get((r["run"], r["test"]))
    if b and float(b["rps"]) > 0 and float(r["rps"]) > 0:
        a["xr"].append(float(r["rps"]) / float(b["rps"]))
        a["xc"].append(cpu_us(r) / cpu_us(b))

runs = len({r["run"] for r in rows})
print(f"\nThroughput (mean of {runs} run(s); x = ratio to {ref} in the same run)")
print(f"| test | server | req/s | x req/s | CPU us/req | x CPU/req | p99 ms | errors |")
print(f"|---|---|---:|---:|---:|---:|---:|---:|")
for t, label in TESTS.items():
    for s in servers:
        a = agg.get((s, t))
        if not a:
            continue
        print(f"| {label} | {s} | {mean(a['rps']):.0f} | {mean(a['xr']):.2f} | {mean(a['cpu']):.2f} | "
              f"{mean(a['xc']):.2f} | {mean(a['p99']):.2f} | {a['errs']} |")

idle = {}
if idle_log and os.path.exists(idle_log):
    for line in open(idle_log):
        m = re.search(r"IDLE (\S+)\s+n=(\d+) ok=(\d+) failed=(\d+) still_open=(\d+).*per_conn=(-?\d+)B", line)
        if m:
            idle.setdefault(m.group(1), []).append((int(m.group(6)), int(m.group(3)), int(m.group(2)), int(m.group(5))))
if idle:
    print("\nMemory per idle keep-alive connection (server RSS growth / connections)")
    print("| server | bytes/conn | ok/n | still open |")
    print("|---|---:|---:|---:|")
    for s, v in idle.items():
        print(f"| {s} | {mean([x[0] for x in v]):.0f} | {min(x[1] for x in v)}/{v[0][2]} | {min(x[3] for x in v)} |")


def verdict(ok):
    return "MET" if ok else "MISSED"


print("\nTargets (eddy)")
a = agg.get(("eddy", "pipe16"))
if a:
    x = mean(a["xr"])
    print(f"- pipelined req/s >= 1.5x {ref}: {x:.2f}x -> {verdict(x >= 1.5)}")
a = agg.get(("eddy", "plain"))
if a:
    x = mean(a["xc"])
    print(f"- server CPU per request at c100 <= 0.8x {ref}: {x:.2f}x -> {verdict(x <= 0.8)}")
if "eddy" in idle:
    b = mean([x[0] for x in idle["eddy"]])
    print(f"- resident memory per idle connection <= 1024 B: {b:.0f} B -> {verdict(b <= 1024)}")
