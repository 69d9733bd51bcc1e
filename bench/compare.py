#!/usr/bin/env python3
"""Side by side: two result files of the same workload (loadtest --json, sdk_load.py --json).

  python3 bench/compare.py rust.json python.json

Prints each figure for both clients and the ratio (how many times better the first is),
and flags a run whose client could not keep real time (late chunks, stalls), because then
its sessions-per-core figure is an upper bound, not a capacity.
"""

import json
import sys


def load(path):
    with open(path) as f:
        return json.load(f)


def get(d, *keys):
    for k in keys:
        if d is None:
            return None
        d = d.get(k) if isinstance(d, dict) else None
    return d


def ms(us):
    return "n/a" if us is None else f"{us / 1000.0:.3f} ms"


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    a, b = load(sys.argv[1]), load(sys.argv[2])
    print()
    print(f"== side by side, {a['sessions']} sessions x {a['seconds']:.0f} s, same emulator process ==")
    print(f"  A = {a['client']}")
    print(f"  B = {b['client']}")
    print()
    print(f"  {'figure':<42} {'A':>16} {'B':>16} {'B/A (A better by)':>20}")

    def row(name, va, vb, fmt, higher_is_better=False):
        ratio = ""
        if va is not None and vb is not None and va > 0 and vb > 0:
            r = (va / vb) if higher_is_better else (vb / va)
            ratio = f"{r:.2f}x"
        print(f"  {name:<42} {fmt(va):>16} {fmt(vb):>16} {ratio:>20}")

    num = lambda v: "n/a" if v is None else f"{v:.0f}"  # noqa: E731
    kib = lambda v: "n/a" if v is None else f"{v:.1f} KiB"  # noqa: E731
    pct = lambda v: "n/a" if v is None else f"{v:.3f} %"  # noqa: E731
    cnt = lambda v: "n/a" if v is None else str(v)  # noqa: E731

    row("sessions per core (client)", get(a, "client_cpu", "sessions_per_core"),
        get(b, "client_cpu", "sessions_per_core"), num, higher_is_better=True)
    row("CPU per session (% of a core)", get(a, "client_cpu", "percent_core_per_session"),
        get(b, "client_cpu", "percent_core_per_session"), pct)
    row("tool ack p50 (emulator clock)", get(a, "ack", "p50_us"), get(b, "ack", "p50_us"), ms)
    row("tool ack p99 (emulator clock)", get(a, "ack", "p99_us"), get(b, "ack", "p99_us"), ms)
    row("added turn latency p50", get(a, "turn", "p50_us"), get(b, "turn", "p50_us"), ms)
    row("added turn latency p99", get(a, "turn", "p99_us"), get(b, "turn", "p99_us"), ms)
    row("send lateness p99", get(a, "lateness", "p99_us"), get(b, "lateness", "p99_us"), ms)
    row("memory per idle session", get(a, "client_mem", "per_session_idle_kib"),
        get(b, "client_mem", "per_session_idle_kib"), kib)
    row("memory per idle session (after malloc_trim)", get(a, "client_mem", "per_session_idle_trimmed_kib"),
        get(b, "client_mem", "per_session_idle_trimmed_kib"), kib)
    row("memory per active session", get(a, "client_mem", "per_session_active_kib"),
        get(b, "client_mem", "per_session_active_kib"), kib)
    print(f"  {'late chunks / sent':<42} {str(a['chunks_late']) + ' / ' + str(a['chunks_sent']):>16} "
          f"{str(b['chunks_late']) + ' / ' + str(b['chunks_sent']):>16}")
    print(f"  {'cycles / stalls':<42} {str(a['cycles']) + ' / ' + str(a['stalls']):>16} "
          f"{str(b['cycles']) + ' / ' + str(b['stalls']):>16}")
    print(f"  {'sessions ok / failed':<42} {str(a['ok']) + ' / ' + str(a['failed']):>16} "
          f"{str(b['ok']) + ' / ' + str(b['failed']):>16}")
    row("emulator CPU (cores) during the run", get(a, "emulator_cpu", "cores"),
        get(b, "emulator_cpu", "cores"), lambda v: "n/a" if v is None else f"{v:.2f}")
    for r in (a, b):
        late = r["chunks_late"] / max(1, r["chunks_sent"])
        if late > 0.001 or r["stalls"] > 0:
            print(f"  note: {r['client']} did not keep real time ({late * 100:.2f} % late chunks, "
                  f"{r['stalls']} stalls): its sessions per core is an upper bound.")
    print()
    spc = get(a, "client_cpu", "sessions_per_core"), get(b, "client_cpu", "sessions_per_core")
    if all(spc) and spc[1] > 0 and a["client"].startswith("floor"):
        # Issue 14: adk-live's CPU within 25 % of the floor's.
        ratio = get(b, "client_cpu", "percent_core_per_session") / get(a, "client_cpu", "percent_core_per_session")
        print(f"  CPU: B = {ratio:.2f}x the floor (target <= 1.25x): {'MET' if ratio <= 1.25 else 'MISSED'}")
    elif all(spc) and spc[1] > 0:
        ratio = spc[0] / spc[1]
        print(f"  sessions per core: A = {ratio:.1f}x B (target >= 20x): {'MET' if ratio >= 20 else 'MISSED'}")
    print()


if __name__ == "__main__":
    main()
