#!/usr/bin/env python3
"""The loadtest workload, driven by the official Python SDK (google-genai).

Same workload as `loadtest` (examples/src/load/client.rs), same emulator process
(`loadtest emulator`, started by bench/run_all.sh), same JSON output, so
bench/compare.py can put the two side by side:

* N sessions via `client.aio.live.connect(...)` over wss:// (TLS trust via
  `http_options.async_client_args.ssl`), or over ws:// when --base-url is http://
  (see the comment at the client);
* each streams a 20 ms / 16 kHz PCM chunk every 20 ms with `send_realtime_input`
  (voiced for 400 ms per user turn, silence otherwise), catching up when late;
* reads every message with `session.receive()`;
* the background tool `search` (declared NON_BLOCKING): acked at once
  (`willContinue: true`, `SILENT`) as adk-live does, result after `--tool-ms`
  (`WHEN_IDLE`);
* turn-taking: after a user turn, wait for two turnCompletes (model turn, voiced
  result turn), pause `--gap-ms`, speak again.

Measured: connect latency, added turn latency (last voiced chunk handed to the SDK ->
first audio message yielded, minus the scripted end-of-turn silence), send lateness,
memory (VmRSS) before / idle / active, CPU (getrusage) over the streaming phase; the
tool ack latency and the emulator's own memory and CPU come from the emulator's
control port, measured exactly as for the Rust run.

Usage (run_all.sh does this):
  .venv-bench/bin/python bench/sdk_load.py --base-url https://127.0.0.1:PORT \
      --ca-file ca.pem --control 127.0.0.1:CPORT --sessions 100 --seconds 20 --json py.json
"""

import argparse
import asyncio
import json
import math
import os
import resource
import ssl
import struct
import sys
import time

from google import genai
from google.genai import types

MODEL = "gemini-live-2.5-flash-preview"
CHUNK_S = 0.020
CHUNK_SAMPLES = 320
STALL_AFTER_S = 10.0


def rss_kib(field="VmRSS:"):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field):
                return int(line.split()[1])
    return 0


def cpu_s():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def summary(samples_us):
    """Nearest-rank percentiles, same definition as examples/src/load/stats.rs."""
    s = sorted(int(x) for x in samples_us)
    n = len(s)
    if n == 0:
        return {"count": 0, "p50_us": 0, "p90_us": 0, "p99_us": 0, "p999_us": 0, "max_us": 0, "mean_us": 0}

    def pct(p):
        return s[min(max(math.ceil(p / 100.0 * n), 1), n) - 1]

    return {
        "count": n,
        "p50_us": pct(50),
        "p90_us": pct(90),
        "p99_us": pct(99),
        "p999_us": pct(99.9),
        "max_us": s[-1],
        "mean_us": sum(s) // n,
    }


def bucket_summary(buckets, max_us, width_us=100):
    """Percentiles of a 100 us bucket histogram (upper bucket bounds), as in client.rs."""
    n = sum(buckets)
    if n == 0:
        return summary([])

    def pct(p):
        rank = max(1, math.ceil(p / 100.0 * n))
        seen = 0
        for i, c in enumerate(buckets):
            seen += c
            if seen >= rank:
                return min((i + 1) * width_us, max_us)
        return max_us

    return {"count": n, "p50_us": pct(50), "p90_us": pct(90), "p99_us": pct(99),
            "p999_us": pct(99.9), "max_us": max_us, "mean_us": 0}


def fmt_ms(us):
    ms = us / 1000.0
    return f"{ms:.3f}" if ms < 10 else (f"{ms:.1f}" if ms < 100 else f"{ms:.0f}")


def sm(s):
    if not s or s["count"] == 0:
        return "n/a"
    return f"{fmt_ms(s['p50_us'])} / {fmt_ms(s['p99_us'])} / {fmt_ms(s['max_us'])} ms"


async def control(addr, cmd):
    host, port = addr.rsplit(":", 1)
    r, w = await asyncio.open_connection(host, int(port))
    w.write((cmd + "\n").encode())
    await w.drain()
    line = await asyncio.wait_for(r.readline(), 60)
    w.close()
    return json.loads(line)


def pcm_chunks():
    voiced = b"".join(
        struct.pack("<h", int(math.sin(2 * math.pi * 200.0 * n / 16000.0) * 6000.0))
        for n in range(CHUNK_SAMPLES)
    )
    return voiced, bytes(CHUNK_SAMPLES * 2)


class Stats:
    def __init__(self):
        self.connect_us = []
        self.turn_us = []
        # Lateness in 100 us buckets up to 100 ms (a list of samples would itself cost
        # ~30 KiB per session over 20 s and distort the memory figures).
        self.late_buckets = [0] * 1001
        self.max_late_us = 0
        self.chunks_sent = 0
        self.chunks_late = 0
        self.audio_received = 0
        self.tool_calls = 0
        self.tool_acks = 0
        self.tool_results = 0
        self.cycles = 0
        self.stalls = 0
        self.interrupted = 0
        self.failures = []
        self.ok = 0


class Session:
    """Turn-taking state shared by a session's sender and receiver."""

    def __init__(self):
        self.phase = "gap"
        self.until = 0.0
        self.left = 0
        self.t_end = 0.0
        self.got_audio = False
        self.turns = 0


async def run_session(i, client, config, args, st, connected, go, timing):
    voiced, silence = timing["pcm"]
    try:
        t0 = time.monotonic()
        async with client.aio.live.connect(model=MODEL, config=config) as session:
            st.connect_us.append((time.monotonic() - t0) * 1e6)
            connected()
            await go.wait()
            start, end = timing["start"], timing["end"]
            s = Session()
            s.until = start + ((i * 104729) % 3000) / 1000.0
            slack = args.slack_ms / 1000.0
            scripted = args.scripted_delay_ms / 1000.0
            voiced_chunks = max(1, args.voiced_ms // 20)
            tool_tasks = set()

            async def finish_tool(fc):
                await asyncio.sleep(args.tool_ms / 1000.0)
                await session.send_tool_response(function_responses=[types.FunctionResponse(
                    id=fc.id, name=fc.name,
                    response={"query": (fc.args or {}).get("query"),
                              "results": [{"flight": "TP1337", "price_eur": 89}]},
                    will_continue=False,
                    scheduling=types.FunctionResponseScheduling.WHEN_IDLE)])
                st.tool_results += 1

            async def receiver():
                while True:
                    async for msg in session.receive():
                        now = time.monotonic()
                        sc = msg.server_content
                        if sc is not None:
                            if sc.model_turn is not None:
                                for p in sc.model_turn.parts or []:
                                    if p.inline_data is not None and p.inline_data.data:
                                        st.audio_received += 1
                                        if s.phase == "waiting" and not s.got_audio:
                                            s.got_audio = True
                                            st.turn_us.append(max(0.0, now - s.t_end - scripted) * 1e6)
                            if sc.interrupted:
                                st.interrupted += 1
                            if sc.turn_complete and s.phase == "waiting":
                                s.turns += 1
                                if s.turns >= 2:
                                    st.cycles += 1
                                    s.phase = "gap"
                                    s.until = now + args.gap_ms / 1000.0
                        if msg.tool_call is not None:
                            for fc in msg.tool_call.function_calls or []:
                                st.tool_calls += 1
                                # The running ack, at once (what adk-live does).
                                await session.send_tool_response(function_responses=[types.FunctionResponse(
                                    id=fc.id, name=fc.name, response={"status": "running"},
                                    will_continue=True,
                                    scheduling=types.FunctionResponseScheduling.SILENT)])
                                st.tool_acks += 1
                                t = asyncio.create_task(finish_tool(fc))
                                tool_tasks.add(t)
                                t.add_done_callback(tool_tasks.discard)

            async def sender():
                k = 0
                tick0 = start + ((i * 7919) % 20000) / 1e6
                while True:
                    due = tick0 + k * CHUNK_S
                    k += 1
                    if due >= end:
                        return
                    now = time.monotonic()
                    if due > now:
                        await asyncio.sleep(due - now)
                        now = time.monotonic()
                    late = now - due
                    late_us = int(late * 1e6)
                    st.late_buckets[min(late_us // 100, 1000)] += 1
                    if late_us > st.max_late_us:
                        st.max_late_us = late_us
                    if late > slack:
                        st.chunks_late += 1
                    if s.phase == "gap" and now >= s.until:
                        s.phase, s.left = "talking", voiced_chunks
                    elif s.phase == "waiting" and now - s.t_end > STALL_AFTER_S:
                        st.stalls += 1
                        s.phase, s.until = "gap", now + args.gap_ms / 1000.0
                    is_voiced = False
                    if s.phase == "talking":
                        is_voiced = True
                        s.left -= 1
                        if s.left == 0:
                            s.phase, s.t_end, s.got_audio, s.turns = "waiting", now, False, 0
                    await session.send_realtime_input(audio=types.Blob(
                        data=voiced if is_voiced else silence, mime_type="audio/pcm;rate=16000"))
                    st.chunks_sent += 1

            rx = asyncio.create_task(receiver())
            tx = asyncio.create_task(sender())
            done, _ = await asyncio.wait({rx, tx}, return_when=asyncio.FIRST_COMPLETED)
            if rx in done and rx.exception() is not None:
                raise rx.exception()
            await tx
            rx.cancel()
            for t in list(tool_tasks):
                t.cancel()
            st.ok += 1
    except Exception as e:  # noqa: BLE001 - any failure of a session is reported
        connected()
        st.failures.append(f"session {i}: {type(e).__name__}: {e}")


async def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--base-url", required=True, help="https://127.0.0.1:PORT of the emulator")
    ap.add_argument("--ca-file", help="the emulator's CA certificate (PEM)")
    ap.add_argument("--control", help="the emulator's control port 127.0.0.1:PORT")
    ap.add_argument("--sessions", type=int, default=100)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--idle-seconds", type=float, default=2.0)
    ap.add_argument("--tool-ms", type=int, default=200)
    ap.add_argument("--voiced-ms", type=int, default=400)
    ap.add_argument("--gap-ms", type=int, default=600)
    ap.add_argument("--scripted-delay-ms", type=int, default=300)
    ap.add_argument("--slack-ms", type=int, default=20)
    ap.add_argument("--connect-concurrency", type=int, default=64)
    ap.add_argument("--json", help="write the results here")
    args = ap.parse_args()

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        soft = hard
    if soft < args.sessions + 64:
        sys.exit(f"sdk_load: open-file limit {soft} too low for {args.sessions} sessions")

    http_options = {"base_url": args.base_url, "api_version": "v1beta"}
    if args.ca_file:
        http_options["async_client_args"] = {"ssl": ssl.create_default_context(cafile=args.ca_file)}
    client = genai.Client(api_key="bench-key", http_options=http_options)
    if args.base_url.startswith("http://"):
        # google-genai always dials wss:// with an SSL context (3.6.1: _api_client.py,
        # `_websocket_base_url` replaces the scheme; live.py passes `_websocket_ssl_ctx`
        # to `websockets.connect`). For the ws:// comparison (the Rust peer cannot trust
        # the emulator's CA) these two are pointed at ws://; the SDK's own connect, send
        # and receive code runs unchanged.
        ws_base = "ws://" + args.base_url[len("http://"):]
        client._api_client._websocket_base_url = lambda *a, **k: ws_base
        client._api_client._websocket_ssl_ctx = {}
    config = types.LiveConnectConfig(
        response_modalities=[types.Modality.AUDIO],
        input_audio_transcription=types.AudioTranscriptionConfig(),
        output_audio_transcription=types.AudioTranscriptionConfig(),
        session_resumption=types.SessionResumptionConfig(),
        tools=[types.Tool(function_declarations=[types.FunctionDeclaration(
            name="search",
            description="Searches flights. Slow: runs in the background.",
            behavior=types.Behavior.NON_BLOCKING,
            parameters=types.Schema(type=types.Type.OBJECT,
                                    properties={"query": types.Schema(type=types.Type.STRING)},
                                    required=["query"]))])],
    )

    if args.control:
        await control(args.control, "reset")
    emu0 = await control(args.control, "stats") if args.control else None
    base_kib = rss_kib()
    load_start = " ".join(open("/proc/loadavg").read().split()[:3])

    st = Stats()
    n = args.sessions
    go = asyncio.Event()
    all_in = asyncio.Event()
    count = [0]

    def connected():
        count[0] += 1
        if count[0] >= n:
            all_in.set()

    timing = {"pcm": pcm_chunks()}
    sem = asyncio.Semaphore(args.connect_concurrency)

    async def gated(i):
        # Hold the permit only while connecting.
        await sem.acquire()
        released = [False]

        def on_connected():
            if not released[0]:
                released[0] = True
                sem.release()
                connected()

        await run_session(i, client, config, args, st, on_connected, go, timing)

    print(f"sdk_load: connecting {n} sessions to {args.base_url}", file=sys.stderr)
    t_connect = time.monotonic()
    tasks = [asyncio.create_task(gated(i)) for i in range(n)]
    try:
        await asyncio.wait_for(all_in.wait(), 120)
    except asyncio.TimeoutError:
        st.failures.append("connect phase: not all sessions connected within 120 s")
    print(f"sdk_load: {len(st.connect_us)} connected, {len(st.failures)} failed in "
          f"{time.monotonic() - t_connect:.1f} s; idle {args.idle_seconds:.0f} s", file=sys.stderr)

    await asyncio.sleep(args.idle_seconds)
    idle_kib = rss_kib()
    try:  # the same diagnostic as the Rust harness: what the allocator kept vs what is live
        import ctypes
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except OSError:
        pass
    idle_trimmed_kib = rss_kib()
    emu_idle = await control(args.control, "stats") if args.control else None

    print(f"sdk_load: streaming for {args.seconds:.0f} s", file=sys.stderr)
    start = time.monotonic() + 0.05
    timing["start"], timing["end"] = start, start + args.seconds
    c0 = cpu_s()
    emu_c0 = emu_idle["cpu_s"] if emu_idle else None
    go.set()
    await asyncio.sleep(max(0.0, timing["end"] - time.monotonic()))
    c1 = cpu_s()
    wall = time.monotonic() - start
    active_kib = rss_kib()
    emu_end = await control(args.control, "stats") if args.control else None
    try:
        await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 30)
    except asyncio.TimeoutError:
        st.failures.append("teardown: sessions still running after 30 s")
    hwm_kib = rss_kib("VmHWM:")

    def mem(b, i, a, h, t=0):
        return {"base_kib": b, "idle_kib": i, "idle_trimmed_kib": t, "active_kib": a, "hwm_kib": h,
                "per_session_idle_kib": max(0, i - b) / max(1, n),
                "per_session_idle_trimmed_kib": max(0, t - b) / max(1, n),
                "per_session_active_kib": max(0, a - b) / max(1, n)}

    def cpu(sec):
        cores = sec / max(wall, 1e-9)
        return {"cpu_s": sec, "cores": cores,
                "sessions_per_core": (n / cores) if cores > 0 else 0.0,
                "percent_core_per_session": 100.0 * cores / max(1, n)}

    lat = bucket_summary(st.late_buckets, st.max_late_us)
    rep = {
        "client": f"google-genai {genai.__version__} (Python {sys.version.split()[0]}, asyncio)",
        "sessions": n,
        "ok": st.ok,
        "failed": n - st.ok,
        "failures": st.failures[:10],
        "seconds": args.seconds,
        "tls": args.base_url.startswith("https://"),
        "connect": summary(st.connect_us),
        "ack": emu_end["ack"] if emu_end else None,
        "turn": summary(st.turn_us),
        "chunks_sent": st.chunks_sent,
        "chunks_late": st.chunks_late,
        "slack_ms": args.slack_ms,
        "lateness": lat,
        "audio_dropped": 0,
        "audio_received": st.audio_received,
        "tool_calls": st.tool_calls,
        "tool_acks": st.tool_acks,
        "tool_results": st.tool_results,
        "cycles": st.cycles,
        "stalls": st.stalls,
        "interrupted": st.interrupted,
        "client_mem": mem(base_kib, idle_kib, active_kib, hwm_kib, idle_trimmed_kib),
        "client_cpu": cpu(c1 - c0),
        "emulator_mem": mem(emu0["rss_kib"], emu_idle["rss_kib"], emu_end["rss_kib"], emu_end["hwm_kib"]) if emu_end else None,
        "emulator_cpu": cpu(emu_end["cpu_s"] - emu_c0) if emu_end else None,
        "emulator": emu_end,
        "settings": [["client", f"tool_ms {args.tool_ms}, voiced {args.voiced_ms} ms, gap {args.gap_ms} ms, "
                                f"scripted delay {args.scripted_delay_ms} ms; one asyncio loop (one core at most)"],
                     ["open files", f"{soft} (hard {hard})"],
                     ["machine load average (1/5/15 min)",
                      f"{load_start} at start, {' '.join(open('/proc/loadavg').read().split()[:3])} at end"]],
    }

    row = lambda k, v, t="": print(f"  {k:<44} {v:<40} {t}")  # noqa: E731
    print()
    print(f"== {rep['client']} — {n} sessions, {args.seconds:.0f} s streaming, {'wss' if rep['tls'] else 'ws'} ==")
    for k, v in rep["settings"]:
        print(f"  {k}: {v}")
    print()
    row("sessions ok / failed", f"{rep['ok']} / {rep['failed']}")
    row("connect+setup p50 / p99 / max", sm(rep["connect"]))
    row("tool ack latency p50 / p99 / max", (sm(rep["ack"]) + f" (n={rep['ack']['count']})") if rep["ack"] else "n/a")
    row("added turn latency p50 / p99 / max", sm(rep["turn"]) + f" (n={rep['turn']['count']})")
    row("audio chunks sent / late", f"{st.chunks_sent} / {st.chunks_late}", f"late: tick + {args.slack_ms} ms")
    row("send lateness p50 / p99 / max", sm(lat))
    row("tool calls / acks / results", f"{st.tool_calls} / {st.tool_acks} / {st.tool_results}")
    row("cycles / stalls / interrupted", f"{st.cycles} / {st.stalls} / {st.interrupted}")
    row("model audio chunks received", str(st.audio_received))
    m = rep["client_mem"]
    row("client RSS base / idle / active / peak",
        f"{m['base_kib']/1024:.1f} / {m['idle_kib']/1024:.1f} / {m['active_kib']/1024:.1f} / {m['hwm_kib']/1024:.1f} MiB")
    row("client KiB per session idle / active", f"{m['per_session_idle_kib']:.1f} / {m['per_session_active_kib']:.1f}")
    row("client KiB per session idle after malloc_trim", f"{m['per_session_idle_trimmed_kib']:.1f}")
    c = rep["client_cpu"]
    row("client CPU (cores busy, % core/session)", f"{c['cores']:.2f} cores, {c['percent_core_per_session']:.3f} %/session")
    row("client sessions per core", f"{c['sessions_per_core']:.0f}")
    if emu_end:
        row("emulator: violations / unanswered calls", f"{emu_end['violations']} / {emu_end['unanswered']}")
        for v in emu_end.get("violation_samples", []):
            print(f"    violation: {v}")
    for f in st.failures[:10]:
        print(f"    failure: {f}")
    print()
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rep, f, indent=2)
    return 0 if rep["failed"] == 0 else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
