#!/usr/bin/env python3
"""The side-by-side table of bench/run_all.sh: every run of every client, and the ratios.

  python3 bench/compare.py bench/out

Reads OUT/run<R>-n<N>-<client>.json (loadtest --json, peer-load --json, sdk_load.py
--json) and OUT/idle-n<N>-<client>.json. For each N: one row per figure, one column per
client, each cell the runs in order ("a / b / c"); then the ratios taken within a run
(same emulator process, minutes apart) and the goals of issue 22. A client that could
not keep real time (late chunks, stalls) is flagged: its CPU figure is then a floor
of what real time would cost, not a capacity.
"""

import glob
import json
import os
import re
import sys

CLIENTS = [("floor", "floor"), ("adk", "adk-live"), ("peer", "gemini-live 0.1.9"),
           ("python", "google-genai")]


def get(d, *keys):
    for k in keys:
        if not isinstance(d, dict):
            return None
        d = d.get(k)
    return d


def cpu_ms(d):
    """CPU per session-second, ms (1 % of a core per session = 10 ms per second)."""
    p = get(d, "client_cpu", "percent_core_per_session")
    return None if p is None else p * 10.0


def late_pct(d):
    return 100.0 * d["chunks_late"] / max(1, d["chunks_sent"])


def fmt(v, f):
    return "–" if v is None else f(v)


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    out = sys.argv[1]
    runs = {}  # n -> run -> client -> report
    for path in glob.glob(os.path.join(out, "run*-n*-*.json")):
        m = re.match(r"run(\d+)-n(\d+)-(\w+)\.json$", os.path.basename(path))
        if not m:
            continue
        with open(path) as f:
            runs.setdefault(int(m[2]), {}).setdefault(int(m[1]), {})[m[3]] = json.load(f)
    goals = []
    for n in sorted(runs):
        rs = [runs[n][r] for r in sorted(runs[n])]
        present = [(k, name) for k, name in CLIENTS if any(k in r for r in rs)]
        print()
        print(f"== N = {n}: {len(rs)} run(s), {rs[0][present[0][0]]['seconds']:.0f} s each, "
              f"ws://, one emulator process per run; cells are the runs in order ==")
        head = f"  {'figure':<34}" + "".join(f"{name:>30}" for _, name in present)
        print(head)

        def row(label, fn, f):
            cells = []
            for k, _ in present:
                vals = [fn(r[k]) if k in r else None for r in rs]
                cells.append(" / ".join(fmt(v, f) for v in vals))
            print(f"  {label:<34}" + "".join(f"{c:>30}" for c in cells))

        ms = lambda v: f"{v:.2f}"  # noqa: E731
        row("CPU ms per session-second", cpu_ms, ms)
        row("KiB per idle session", lambda d: get(d, "client_mem", "per_session_idle_kib"),
            lambda v: f"{v:.0f}")
        row("tool ack p50, ms (emulator clock)", lambda d: get(d, "ack", "p50_us"),
            lambda v: f"{v / 1000:.2f}")
        row("tool ack p99, ms (emulator clock)", lambda d: get(d, "ack", "p99_us"),
            lambda v: f"{v / 1000:.2f}")
        row("added turn latency p99, ms", lambda d: get(d, "turn", "p99_us"),
            lambda v: f"{v / 1000:.2f}")
        row("late chunks, %", late_pct, lambda v: f"{v:.2f}")
        row("stalls / failed sessions", lambda d: (d["stalls"], d["failed"]),
            lambda v: f"{v[0]}/{v[1]}")
        # The ratios, within each run.
        print()
        for k, name in present:
            if k == "floor":
                continue
            ratios = [cpu_ms(r[k]) / cpu_ms(r["floor"]) if k in r and "floor" in r else None
                      for r in rs]
            print(f"  CPU of {name} / the floor's: " + " / ".join(fmt(v, lambda x: f"{x:.2f}x") for v in ratios))
        if all("adk" in r and "peer" in r for r in rs):
            ratios = [cpu_ms(r["adk"]) / cpu_ms(r["peer"]) for r in rs]
            mem = [get(r["peer"], "client_mem", "per_session_idle_kib") /
                   get(r["adk"], "client_mem", "per_session_idle_kib") for r in rs]
            print("  CPU of adk-live / gemini-live's: " + " / ".join(f"{v:.2f}x" for v in ratios)
                  + "; idle memory, gemini-live / adk-live: " + " / ".join(f"{v:.1f}x" for v in mem))
        for k, name in present:
            bad = [i + 1 for i, r in enumerate(rs) if k in r and (late_pct(r[k]) > 0.1 or r[k]["stalls"] > 0)]
            if bad:
                print(f"  note: {name} did not keep real time in run(s) {bad}: its CPU there is not a capacity")
        if all("adk" in r and "floor" in r for r in rs):
            ratios = [cpu_ms(r["adk"]) / cpu_ms(r["floor"]) for r in rs]
            goals.append((f"adk-live CPU <= 1.10x the floor at N = {n}, every run",
                          " / ".join(f"{v:.2f}x" for v in ratios), all(v <= 1.10 for v in ratios)))
            acks = [(get(r["adk"], "ack", "p99_us"), get(r["floor"], "ack", "p99_us")) for r in rs]
            goals.append((f"adk-live tool ack p99 <= the floor's at N = {n}, every run",
                          " / ".join(f"{a / 1000:.2f} vs {f / 1000:.2f} ms" for a, f in acks),
                          all(a <= f for a, f in acks)))
    idle = {}
    for path in glob.glob(os.path.join(out, "idle-n*-*.json")):
        m = re.match(r"idle-n(\d+)-(\w+)\.json$", os.path.basename(path))
        if m:
            with open(path) as f:
                idle.setdefault(int(m[1]), {})[m[2]] = json.load(f)
    for n, by in sorted(idle.items()):
        print()
        print(f"== idle memory at N = {n} (connected, set up, nothing streaming) ==")
        for k, name in CLIENTS:
            if k in by:
                m = by[k]["client_mem"]
                print(f"  {name:<20} {m['per_session_idle_kib']:7.1f} KiB per session "
                      f"({m.get('per_session_idle_trimmed_kib') or 0:.1f} after malloc_trim), "
                      f"{by[k]['failed']} failed")
        if "adk" in by and "floor" in by:
            d = by["adk"]["client_mem"]["per_session_idle_kib"] - by["floor"]["client_mem"]["per_session_idle_kib"]
            goals.append((f"adk-live idle memory within 8 KiB of the floor at N = {n}",
                          f"{d:+.1f} KiB", d <= 8.0))
    if goals:
        print()
        print("== goals (issue 22) ==")
        for what, measured, ok in goals:
            print(f"  {'MET   ' if ok else 'MISSED'} {what}: {measured}")
    print()


if __name__ == "__main__":
    main()
