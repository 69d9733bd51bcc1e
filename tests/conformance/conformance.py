#!/usr/bin/env python3
"""Conformance checks against the official google-genai Python SDK.

The SDK is the oracle (live-protocol.md §9): its pydantic types forbid unknown
fields, and its live client is what real users run. This script

  run             starts the Rust emulator (`live-emulator --tls`), drives a session
                  with the SDK's live client (a NON_BLOCKING tool call, tool responses
                  with willContinue and scheduling, a barge-in with cancellation, a
                  scheduling INTERRUPT), asserts what the SDK received, then validates
                  EVERY frame of the emulator's transcript: server frames with
                  types.LiveServerMessage, client frames with types.LiveClientMessage.
                  Also runs a short Vertex session (proxy mode).
  validate-server FILE...   validates the server frames (`<N {json}`) of transcripts.
  validate-client FILE...   validates the client frames (`>N {json}`) of transcripts,
                  e.g. what our Rust client sent.
  validate FILE...          both directions.

Run it with `python -W error::UserWarning` (run.sh does): the SDK only warns about
unknown enum values, and the flag turns those warnings into failures. The script exits
non-zero on any failure.

Caveats handled (§9.2): `voiceActivity.type` and Vertex `usageMetadata` names are
converted with the SDK's own converters, after checking that they carry no unknown
keys (the converters drop unknown keys silently); `realtimeInputConfig` is popped from
`setup` and validated with types.RealtimeInputConfig, since LiveClientSetup lacks it;
the top-level oneof, which pydantic does not enforce, is checked here.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import math
import os
import re
import struct
import subprocess
import sys
import tempfile
import time
import traceback
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
MAX_FRAME = 1 << 20

SERVER_ONEOF = {
    "setupComplete", "serverContent", "toolCall", "toolCallCancellation", "goAway",
    "sessionResumptionUpdate", "voiceActivityDetectionSignal", "voiceActivity",
}
CLIENT_ONEOF = {"setup", "clientContent", "realtimeInput", "toolResponse", "contextUpdate"}
VERTEX_USAGE_KEYS = {
    "promptTokenCount", "cachedContentTokenCount", "candidatesTokenCount",
    "toolUsePromptTokenCount", "thoughtsTokenCount", "totalTokenCount",
    "promptTokensDetails", "cacheTokensDetails", "candidatesTokensDetails",
    "toolUsePromptTokensDetails", "trafficType",
}
VOICE_ACTIVITY_KEYS = {"type", "audioOffset"}


class Failure(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise Failure(msg)


def camel(key: str) -> str:
    head, *rest = key.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


# --------------------------------------------------------------------------------------
# Transcripts
# --------------------------------------------------------------------------------------

MARKER = re.compile(r"^([<>])(\d+) ")


def read_transcript(path):
    """Yields (direction, declared_len, text) for each frame of a transcript file."""
    cur = None
    with open(path, encoding="utf-8") as f:
        for line in f.read().split("\n"):
            m = MARKER.match(line)
            if m:
                if cur:
                    yield cur[0], cur[1], "\n".join(cur[2]).strip()
                cur = (m.group(1), int(m.group(2)), [line[m.end():]])
            elif cur is not None:
                cur[2].append(line)
            elif line.strip():
                raise Failure(f"{path}: text before the first frame marker: {line[:80]!r}")
    if cur:
        yield cur[0], cur[1], "\n".join(cur[2]).strip()


def _types():
    from google.genai import types
    return types


def validate_server_message(d) -> None:
    from google.genai import _live_converters as conv
    types = _types()
    check(isinstance(d, dict), "not a JSON object")
    members = [k for k in d if camel(k) in SERVER_ONEOF]
    check(len(members) == 1 or (not members and set(map(camel, d)) == {"usageMetadata"}),
          f"expected exactly one message member, got {sorted(d)}")
    d = dict(d)
    for key in list(d):
        if camel(key) == "voiceActivity" and isinstance(d[key], dict):
            extra = set(map(camel, d[key])) - VOICE_ACTIVITY_KEYS
            check(not extra, f"unknown voiceActivity fields {sorted(extra)}")
            d[key] = conv._VoiceActivity_from_mldev(
                {camel(k): v for k, v in d[key].items()})
        if camel(key) == "usageMetadata" and isinstance(d[key], dict):
            names = set(map(camel, d[key]))
            if names & {"candidatesTokenCount", "candidatesTokensDetails", "trafficType"}:
                extra = names - VERTEX_USAGE_KEYS
                check(not extra, f"unknown Vertex usageMetadata fields {sorted(extra)}")
                d[key] = conv._UsageMetadata_from_vertex(
                    {camel(k): v for k, v in d[key].items()})
    types.LiveServerMessage.model_validate(d)


def validate_client_message(d) -> None:
    types = _types()
    check(isinstance(d, dict), "not a JSON object")
    members = [k for k in d if camel(k) in CLIENT_ONEOF]
    check(len(members) == 1 and len(d) == 1,
          f"expected exactly one message member, got {sorted(d)}")
    d = json.loads(json.dumps(d))
    key = members[0]
    if camel(key) == "setup" and isinstance(d[key], dict):
        for k in list(d[key]):
            if camel(k) == "realtimeInputConfig":
                types.RealtimeInputConfig.model_validate(d[key].pop(k))
    if camel(key) == "realtimeInput" and isinstance(d[key], dict):
        # The Python SDK sends one realtimeInput field per message; the proto does not
        # require it, so more than one is allowed here.
        pass
    types.LiveClientMessage.model_validate(d)


def validate_files(paths, server=True, client=True, quiet=False) -> int:
    """Validates transcripts; returns the number of failures (and prints them)."""
    failures = 0
    counts = {"<": 0, ">": 0}
    for path in paths:
        for i, (direction, n, text) in enumerate(read_transcript(path)):
            if (direction == "<" and not server) or (direction == ">" and not client):
                continue
            counts[direction] += 1
            where = f"{path}: frame {i + 1} ({'server' if direction == '<' else 'client'})"
            try:
                check(n < MAX_FRAME and len(text.encode()) < MAX_FRAME,
                      f"frame of {max(n, len(text.encode()))} bytes (limit 1 MiB)")
                try:
                    d = json.loads(text)
                except json.JSONDecodeError as e:
                    raise Failure(f"not JSON: {e}") from None
                with warnings.catch_warnings():
                    warnings.simplefilter("error", UserWarning)
                    if direction == "<":
                        validate_server_message(d)
                    else:
                        validate_client_message(d)
            except Exception as e:  # noqa: BLE001 - report every kind of failure
                failures += 1
                msg = str(e).replace("\n", "\n    ")
                print(f"FAIL {where}: {type(e).__name__}: {msg}\n    {text[:300]}", file=sys.stderr)
    if not quiet:
        print(f"validated {counts['<']} server and {counts['>']} client frames "
              f"in {len(paths)} file(s): {failures} failure(s)")
    return failures


# --------------------------------------------------------------------------------------
# Driving the SDK against the emulator
# --------------------------------------------------------------------------------------

def tone_pcm16(ms: int, rate: int = 16000, hz: float = 220.0) -> bytes:
    n = rate * ms // 1000
    return b"".join(struct.pack("<h", int(math.sin(2 * math.pi * hz * i / rate) * 9000))
                    for i in range(n))


class Emulator:
    def __init__(self, binary, workdir, extra_args=()):
        self.cert = Path(workdir) / "ca.pem"
        self.transcript = Path(workdir) / "transcript.log"
        args = [str(binary), "--port", "0", "--tls", "--cert-out", str(self.cert),
                "--transcript-out", str(self.transcript), *extra_args]
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True)
        line = self.proc.stdout.readline()
        if not line:
            err = self.proc.stderr.read()
            raise Failure(f"emulator did not start: {err}")
        self.info = json.loads(line)
        check(self.info.get("event") == "listening", f"unexpected first line {line!r}")
        self.port = self.info["port"]
        self.base_url = self.info["base_url"]

    def wait_transcript(self, direction_marker, min_count, timeout=10.0):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.transcript.exists():
                frames = list(read_transcript(self.transcript))
                if sum(1 for d, _, t in frames if d == direction_marker) >= min_count:
                    return frames
            time.sleep(0.05)
        raise Failure(f"transcript {self.transcript} not written in time")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()


async def collect(session, until, timeout=15.0, what="message"):
    """Reads from session.receive() (restarting it after each turnComplete) until
    `until(msg)` holds; returns the messages read."""
    msgs = []

    async def run():
        while True:
            async for m in session.receive():
                msgs.append(m)
                if until(m):
                    return

    try:
        await asyncio.wait_for(run(), timeout)
    except asyncio.TimeoutError:
        raise Failure(f"timed out waiting for {what}; got {[summ(m) for m in msgs]}") from None
    return msgs


def summ(m):
    d = m.model_dump(exclude_none=True)
    if "server_content" in d and "model_turn" in d["server_content"]:
        return "server_content.model_turn"
    return ",".join(f"{k}.{','.join(v)}" if isinstance(v, dict) else k for k, v in d.items())


def turn_complete(m):
    return bool(m.server_content and m.server_content.turn_complete)


def said(msgs):
    return "".join(m.server_content.output_transcription.text or ""
                   for m in msgs
                   if m.server_content and m.server_content.output_transcription)


def audio_chunks(msgs):
    out = []
    for m in msgs:
        if m.server_content and m.server_content.model_turn:
            for p in m.server_content.model_turn.parts or []:
                if p.inline_data and p.inline_data.data:
                    out.append(p.inline_data)
    return out


async def developer_session(emu):
    from google import genai
    from google.genai import types

    client = genai.Client(api_key="conformance-key",
                          http_options={"base_url": emu.base_url, "api_version": "v1beta"})
    config = types.LiveConnectConfig(
        response_modalities=["AUDIO"],
        input_audio_transcription=types.AudioTranscriptionConfig(),
        output_audio_transcription=types.AudioTranscriptionConfig(),
        session_resumption=types.SessionResumptionConfig(),
        realtime_input_config=types.RealtimeInputConfig(
            activity_handling="START_OF_ACTIVITY_INTERRUPTS"),
        tools=[types.Tool(function_declarations=[
            types.FunctionDeclaration(
                name="search", description="Web search", behavior="NON_BLOCKING",
                parameters=types.Schema(type="OBJECT", properties={
                    "query": types.Schema(type="STRING")}, required=["query"])),
            types.FunctionDeclaration(
                name="book_table", description="Books a table", behavior="NON_BLOCKING",
                parameters=types.Schema(type="OBJECT", properties={
                    "people": types.Schema(type="INTEGER")})),
        ])],
    )
    async with client.aio.live.connect(model="gemini-live-2.5-flash-preview", config=config) as s:
        # Turn 1: text in, spoken answer and a NON_BLOCKING search call.
        await s.send_client_content(
            turns=types.Content(role="user", parts=[types.Part(text="What's the weather?")]),
            turn_complete=True)
        msgs = await collect(s, turn_complete, what="turn 1")
        calls = [fc for m in msgs if m.tool_call for fc in m.tool_call.function_calls]
        check(len(calls) == 1 and calls[0].name == "search", f"expected a search call, got {calls}")
        check(calls[0].id.startswith("function-call-"), f"call id {calls[0].id}")
        check(calls[0].args == {"query": "weather today"}, f"args {calls[0].args}")
        chunks = audio_chunks(msgs)
        check(len(chunks) >= 5, f"audio chunks: {len(chunks)}")
        check(all(c.mime_type == "audio/pcm;rate=24000" for c in chunks), "audio mime type")
        check(all(len(c.data) == 4800 for c in chunks), "100 ms chunks of 24 kHz PCM16")
        check(said(msgs) == "Let me search for that. Searching now.", f"said {said(msgs)!r}")
        search_id = calls[0].id

        # A partial result (willContinue) voiced WHEN_IDLE: a turn of its own.
        await s.send_tool_response(function_responses=[types.FunctionResponse(
            id=search_id, name="search", response={"output": {"partial": [1, 2]}},
            will_continue=True, scheduling="WHEN_IDLE")])
        msgs = await collect(s, turn_complete, what="the WHEN_IDLE result turn")
        check("search" in said(msgs), f"result turn said {said(msgs)!r}")
        check(audio_chunks(msgs), "the result turn has audio")
        check(any(m.server_content and m.server_content.generation_complete for m in msgs),
              "generationComplete before turnComplete")
        # The final result, SILENT: nothing is voiced.
        await s.send_tool_response(function_responses=[types.FunctionResponse(
            id=search_id, name="search", response={}, will_continue=False,
            scheduling="SILENT")])

        # Turn 2: the model calls book_table and keeps talking; we barge in with audio.
        await s.send_realtime_input(text="Book a table for two.")
        msgs = await collect(s, lambda m: bool(m.tool_call), what="the book_table call")
        check(not any(m.server_content and m.server_content.model_turn and m.server_content.turn_complete
                      for m in msgs), "no turn end before the call")
        book = [fc for m in msgs if m.tool_call for fc in m.tool_call.function_calls][0]
        check(book.name == "book_table", f"second call {book.name}")
        await collect(s, lambda m: bool(audio_chunks([m])), what="speech after the call")
        await s.send_realtime_input(
            audio=types.Blob(data=tone_pcm16(200), mime_type="audio/pcm;rate=16000"))
        msgs = await collect(s, turn_complete, what="the barge-in")
        order = [("cancel" if m.tool_call_cancellation else
                  "interrupted" if m.server_content and m.server_content.interrupted else
                  "turnComplete" if turn_complete(m) else None) for m in msgs]
        order = [o for o in order if o]
        check(order == ["cancel", "interrupted", "turnComplete"], f"barge-in order {order}")
        cancel = [m.tool_call_cancellation for m in msgs if m.tool_call_cancellation][0]
        check(cancel.ids == [book.id], f"cancelled {cancel.ids}, expected {[book.id]}")

        # The barge-in audio was a user turn: the model answers it (silence detection),
        # with an input transcription since the turn had audio.
        msgs = await collect(s, lambda m: bool(m.tool_call), what="the answer to the barge-in")
        check(any(m.server_content and m.server_content.input_transcription for m in msgs),
              "input transcription for an audio turn")
        search2 = [fc for m in msgs if m.tool_call for fc in m.tool_call.function_calls][0]
        # Scheduling INTERRUPT while the model speaks: cut, then the result right away.
        await s.send_tool_response(function_responses=[types.FunctionResponse(
            id=search2.id, name="search", response={"output": "sunny"},
            scheduling="INTERRUPT")])
        msgs = await collect(s, turn_complete, what="the INTERRUPT cut")
        check(any(m.server_content and m.server_content.interrupted for m in msgs),
              "INTERRUPT cut the current audio")
        check(not any(m.tool_call_cancellation for m in msgs), "no cancellation for INTERRUPT")
        msgs = await collect(s, turn_complete, what="the INTERRUPT result turn")
        check("sunny" in said(msgs), f"INTERRUPT result said {said(msgs)!r}")
        handles = [m.session_resumption_update.new_handle for m in msgs
                   if m.session_resumption_update and m.session_resumption_update.new_handle]
    print(f"developer session ok (SDK received everything expected; {len(handles)} handle(s))")


async def vertex_session(emu):
    from google import genai
    from google.genai import types

    client = genai.Client(vertexai=True, http_options={
        "base_url": f"wss://127.0.0.1:{emu.port}/conformance/vertex",
        "headers": {"Authorization": "Bearer conformance-token"}})
    config = types.LiveConnectConfig(
        response_modalities=["AUDIO"],
        output_audio_transcription=types.AudioTranscriptionConfig(),
        tools=[types.Tool(function_declarations=[types.FunctionDeclaration(
            name="search", description="Web search", behavior="NON_BLOCKING")])],
    )
    async with client.aio.live.connect(model="gemini-live-2.5-flash", config=config) as s:
        await s.send_client_content(
            turns=types.Content(role="user", parts=[types.Part(text="Hello")]), turn_complete=True)
        msgs = await collect(s, turn_complete, what="the Vertex turn")
        calls = [fc for m in msgs if m.tool_call for fc in m.tool_call.function_calls]
        check(len(calls) == 1 and len(calls[0].id) == 36, f"Vertex call ids are UUIDs: {calls}")
        check(all(c.mime_type == "audio/pcm" for c in audio_chunks(msgs)), "Vertex audio mime")
        usage = [m.usage_metadata for m in msgs if m.usage_metadata]
        check(usage and usage[-1].response_token_count, "Vertex usage metadata")
        await s.send_tool_response(function_responses=[types.FunctionResponse(
            id=calls[0].id, name="search", response={"output": "ok"}, scheduling="WHEN_IDLE")])
        msgs = await collect(s, turn_complete, what="the Vertex result turn")
        check("search" in said(msgs), f"Vertex result said {said(msgs)!r}")
    print("vertex session ok")


def cmd_run(args) -> int:
    scenario = args.scenario or str(HERE / "scenario.json")
    with tempfile.TemporaryDirectory(prefix="conformance-") as tmp:
        emu = Emulator(args.emulator, tmp, ["--scenario", scenario, "--api-key", "conformance-key",
                                            "--access-token", "conformance-token",
                                            "--vertex-proxy-path", "/conformance/vertex"])
        try:
            print(f"emulator on {emu.base_url} (cert {emu.cert})")
            os.environ["SSL_CERT_FILE"] = str(emu.cert)
            ok = True
            for name, fn in [("developer", developer_session), ("vertex", vertex_session)]:
                try:
                    asyncio.run(fn(emu))
                except Exception as e:  # noqa: BLE001
                    ok = False
                    print(f"FAIL {name} session: {type(e).__name__}: {e}", file=sys.stderr)
                    if not isinstance(e, Failure):
                        traceback.print_exc()
            frames = emu.wait_transcript(">", 2)
            # Give the last connection's transcript a moment to land.
            time.sleep(0.3)
            frames = list(read_transcript(emu.transcript))
            check(frames, "empty transcript")
            if args.keep_transcript:
                Path(args.keep_transcript).write_text(emu.transcript.read_text())
                print(f"transcript kept in {args.keep_transcript}")
            failures = validate_files([emu.transcript])
            seq = [json.loads(t) for d, _, t in frames if d == "<"]
            kinds = [next(iter(m)) for m in seq]
            check("toolCallCancellation" in kinds, "the transcript has a cancellation")
            i = kinds.index("toolCallCancellation")
            check(seq[i + 1] == {"serverContent": {"interrupted": True}},
                  "cancellation is followed by interrupted")
            return 1 if failures or not ok else 0
        finally:
            emu.stop()
            if emu.proc.returncode not in (None, 0, -15):
                print(emu.proc.stderr.read(), file=sys.stderr)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="run the SDK against the emulator and validate everything")
    r.add_argument("--emulator", required=True, help="path to the live-emulator binary")
    r.add_argument("--scenario", help="scenario file (default: tests/conformance/scenario.json)")
    r.add_argument("--keep-transcript", help="copy the emulator's transcript here")
    for name, help_ in [("validate", "validate both directions of transcripts"),
                        ("validate-server", "validate the server frames of transcripts"),
                        ("validate-client", "validate the client frames of transcripts")]:
        v = sub.add_parser(name, help=help_)
        v.add_argument("files", nargs="+")
    args = p.parse_args(argv)
    try:
        if args.cmd == "run":
            rc = cmd_run(args)
        else:
            rc = 1 if validate_files(args.files,
                                     server=args.cmd in ("validate", "validate-server"),
                                     client=args.cmd in ("validate", "validate-client")) else 0
    except Failure as e:
        print(f"FAIL: {e}", file=sys.stderr)
        rc = 1
    print("conformance: " + ("PASS" if rc == 0 else "FAIL"))
    return rc


if __name__ == "__main__":
    sys.exit(main())
