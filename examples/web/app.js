// The voice page: microphone → server, server → speaker, transcripts, tools, state.
// It speaks the page protocol v1 (adk_live::bridge::page): binary PCM both ways, JSON text
// frames for events and commands. No build step.
"use strict";

const PROTOCOL = 1;
const $ = (id) => document.getElementById(id);

// What the page did, for people (the log) and for tests (window.agent).
const agent = (window.agent = {
  state: "idle",
  echo: "-",
  framesSent: 0,
  audioChunksIn: 0,
  lateAudio: 0, // audio received between `interrupted` and the end of the cut turn
  enqueued: 0, // seconds of model audio handed to the player
  played: 0, // seconds the player has output
  queued: 0,
  underruns: 0,
  flushes: [], // {dropped, faded, played} per interruption, seconds
  interruptions: 0,
  closeReason: null,
});

let ws = null;
let ctx = null;
let capture = null;
let player = null;
let micStream = null;
let muted = false;
let fenced = false; // between `interrupted` and the cut turn's `turn_complete`
let firstFenced = 0; // when the fence first dropped audio (it opens 3 s later, as the server's)
let outRate = 24000; // the rate of binary frames from the server

function log(text) {
  const line = `${(performance.now() / 1000).toFixed(2)}s ${text}\n`;
  $("log").textContent += line;
  $("log").scrollTop = $("log").scrollHeight;
}

function setState(state, kind) {
  agent.state = state;
  $("state").textContent = state;
  $("state").dataset.kind = kind || "";
  document.body.dataset.state = state;
}

// ---- audio -------------------------------------------------------------------------

async function startAudio() {
  // The device's rate: a 16 kHz context fed by the microphone is refused by Firefox.
  ctx = new AudioContext({ latencyHint: "interactive" });
  await ctx.audioWorklet.addModule("capture-worklet.js");
  await ctx.audioWorklet.addModule("playback-worklet.js");
  const silent = ctx.createGain();
  silent.gain.value = 0;
  silent.connect(ctx.destination);

  micStream = await navigator.mediaDevices.getUserMedia({
    audio: { echoCancellation: true, noiseSuppression: true, autoGainControl: true, channelCount: 1 },
  });
  capture = new AudioWorkletNode(ctx, "capture", { numberOfOutputs: 1, outputChannelCount: [1] });
  ctx.createMediaStreamSource(micStream).connect(capture);
  capture.connect(silent);
  capture.port.onmessage = (e) => {
    if (ws && ws.readyState === WebSocket.OPEN && agent.state !== "connecting") {
      ws.send(e.data);
      agent.framesSent++;
    }
  };

  player = new AudioWorkletNode(ctx, "playback", { numberOfInputs: 0, numberOfOutputs: 1, outputChannelCount: [1] });
  player.connect(silent); // keeps the node pulled whatever the output path
  player.port.onmessage = (e) => {
    const m = e.data;
    if (m.type === "stats") {
      agent.played = m.played;
      agent.queued = m.queued;
      agent.underruns = m.underruns;
    } else if (m.type === "flushed") {
      agent.flushes.push({ dropped: m.dropped, faded: m.faded, played: m.played });
      agent.played = m.played;
      // What was dropped will never play: the transcript clock follows what will.
      agent.enqueued -= m.dropped;
      markCut(m.played);
      log(`playback flushed: ${(m.dropped * 1000).toFixed(0)} ms dropped, ${(m.faded * 1000).toFixed(0)} ms faded`);
    }
  };
  await routeOutput();
  await ctx.resume();
}

// Chrome's echo canceller only cancels audio that leaves through a media element or a
// peer connection, not Web Audio's destination (Chromium issue 687574), so on speakers
// the model would hear itself. The known workaround: send the playback through a local
// RTCPeerConnection pair into an <audio> element, which the canceller does see. If the
// loopback cannot be set up, play directly and say so: use headphones.
async function routeOutput() {
  const dest = ctx.createMediaStreamDestination();
  player.connect(dest);
  try {
    const remote = await loopback(dest.stream);
    const el = new Audio();
    el.autoplay = true;
    el.srcObject = remote;
    await el.play();
    agent.echo = "loopback";
    $("echo").textContent = "echo: cancelled (WebRTC loopback)";
    $("echo").dataset.kind = "ok";
  } catch (e) {
    player.disconnect(dest);
    player.connect(ctx.destination);
    agent.echo = "direct";
    $("echo").textContent = "echo: not cancelled, use headphones";
    $("echo").dataset.kind = "warn";
    log(`echo loopback unavailable (${e.message || e}); playing directly`);
  }
}

async function loopback(stream) {
  const a = new RTCPeerConnection();
  const b = new RTCPeerConnection();
  a.onicecandidate = (e) => e.candidate && b.addIceCandidate(e.candidate);
  b.onicecandidate = (e) => e.candidate && a.addIceCandidate(e.candidate);
  const track = new Promise((resolve) => {
    b.ontrack = (e) => resolve(e.streams[0] || new MediaStream([e.track]));
  });
  const connected = new Promise((resolve, reject) => {
    b.onconnectionstatechange = () => {
      if (b.connectionState === "connected") resolve();
      if (b.connectionState === "failed") reject(new Error("loopback failed"));
    };
  });
  stream.getTracks().forEach((t) => a.addTrack(t, stream));
  const offer = await a.createOffer();
  await a.setLocalDescription(offer);
  await b.setRemoteDescription(offer);
  const answer = await b.createAnswer();
  await b.setLocalDescription(answer);
  await a.setRemoteDescription(answer);
  const timeout = new Promise((_, reject) => setTimeout(() => reject(new Error("loopback timed out")), 4000));
  await Promise.race([connected, timeout]);
  return Promise.race([track, timeout]);
}

// ---- conversation ------------------------------------------------------------------

let userLine = null;
let modelLine = null;

function newLine(role) {
  const div = document.createElement("div");
  div.className = `line ${role}`;
  div.innerHTML = `<span class="who">${role === "user" ? "You" : "Agent"}</span><span class="text"></span>`;
  $("conversation").appendChild(div);
  $("conversation").scrollTop = $("conversation").scrollHeight;
  return div;
}

function userText(text) {
  if (!userLine) userLine = newLine("user");
  userLine.querySelector(".text").textContent += text;
}

// Each fragment of the model's transcript remembers how much audio had been handed to the
// player when it arrived: on an interruption, fragments beyond what was played are marked
// as not heard, and the cut is drawn there. (The server's transcript runs ahead of its
// audio, js-genai #824; this puts the mark where the caller stopped hearing.)
function modelText(text) {
  if (fenced) return;
  userLine = null;
  if (!modelLine) modelLine = newLine("model");
  const span = document.createElement("span");
  span.textContent = text;
  span.dataset.at = String(agent.enqueued);
  modelLine.querySelector(".text").appendChild(span);
}

function markCut(playedAt) {
  const line = $("conversation").querySelector(".line.model[data-cut-pending]");
  if (!line) return;
  delete line.dataset.cutPending;
  const spans = [...line.querySelectorAll(".text span")];
  const first = spans.findIndex((s) => Number(s.dataset.at) > playedAt + 1e-3);
  const cut = document.createElement("span");
  cut.className = "cut";
  cut.textContent = "⟂ cut";
  const text = line.querySelector(".text");
  if (first < 0) {
    text.appendChild(cut);
  } else {
    spans.slice(first).forEach((s) => s.classList.add("unheard"));
    text.insertBefore(cut, spans[first]);
  }
  line.dataset.cut = "true";
}

// ---- tools -------------------------------------------------------------------------

const RUNNING = new Set(["started", "acked", "progress"]);

function toolUpdate(u) {
  let row = $("tools").querySelector(`tr[data-call-id="${CSS.escape(u.call_id)}"]`);
  if (!row) {
    row = document.createElement("tr");
    row.dataset.callId = u.call_id;
    row.dataset.name = u.name;
    row.innerHTML = `<td><b class="name"></b> <span class="kind"></span><div class="phases"></div></td><td class="act"></td>`;
    row.querySelector(".name").textContent = u.name;
    $("tools").prepend(row);
  }
  if (u.phase === "started") row.querySelector(".kind").textContent = u.background ? "background" : "standard";
  // A result delivered as conversation or undelivered comes after `completed`: the row
  // keeps the latest phase, the history keeps them all.
  row.dataset.phase = u.phase;
  const seen = (row.dataset.phases ? row.dataset.phases.split(" ") : []);
  seen.push(u.phase);
  row.dataset.phases = seen.join(" ");
  let what = u.phase.replace("_", " ");
  if (u.phase === "progress" && u.progress) what += ` ${JSON.stringify(u.progress)}`;
  if (u.phase === "failed") what += `: ${u.error}`;
  if (u.phase === "cancelled") what += ` by ${u.reason.replace("_", " ")}`;
  const step = document.createElement("div");
  step.textContent = `${(u.elapsed_ms / 1000).toFixed(2)}s ${what}`;
  row.querySelector(".phases").appendChild(step);
  const act = row.querySelector(".act");
  act.textContent = "";
  if (RUNNING.has(u.phase)) {
    const b = document.createElement("button");
    b.textContent = "Cancel";
    b.className = "cancel";
    b.onclick = () => send({ type: "cancel_tool", call_id: u.call_id });
    act.appendChild(b);
  }
}

// ---- the socket --------------------------------------------------------------------

function send(command) {
  if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(command));
}

function onEvent(e) {
  switch (e.type) {
    case "ready":
      setState("connected", "ok");
      fenced = false;
      agent.enqueued = 0;
      outRate = e.output_rate;
      player.port.postMessage({ type: "rate", rate: outRate });
      for (const id of ["mute", "hangup", "text", "send"]) $(id).disabled = false;
      log(`session ready (${e.backend}, protocol ${e.protocol})`);
      break;
    case "connection": {
      const kinds = { connected: "ok", go_away: "warn", reconnecting: "warn", resumed: "ok", fresh: "warn" };
      // A new connection: the cut turn is over whether or not its end arrived.
      if (e.state === "resumed" || e.state === "fresh") fenced = false;
      setState(e.state.replace("_", " "), kinds[e.state]);
      log(`connection: ${e.state}${e.detail ? ` (${e.detail})` : ""}${e.time_left_ms != null ? ` in ${e.time_left_ms} ms` : ""}`);
      break;
    }
    case "audio_format":
      outRate = e.sample_rate;
      player.port.postMessage({ type: "rate", rate: outRate });
      break;
    case "transcript":
      if (e.role === "user") userText(e.text);
      else modelText(e.text);
      break;
    case "text":
      modelText(e.text);
      break;
    case "interrupted":
      agent.interruptions++;
      fenced = true;
      firstFenced = 0;
      if (modelLine) modelLine.dataset.cutPending = "true";
      player.port.postMessage({ type: "flush" });
      log("interrupted: playback flushed");
      break;
    case "generation_complete":
      player.port.postMessage({ type: "drain" });
      break;
    case "turn_complete":
      player.port.postMessage({ type: "drain" });
      fenced = false;
      modelLine = null;
      break;
    case "voice_activity":
      break;
    case "tool":
      toolUpdate(e);
      break;
    case "draining":
      setState(`server restarting: ends within ${Math.round(e.deadline_ms / 1000)} s`, "warn");
      log(`the server is draining; this call ends within ${e.deadline_ms} ms`);
      break;
    case "error":
      log(`error: ${e.message}`);
      break;
    case "closed":
      agent.closeReason = e.reason;
      log(`session closed: ${e.reason}`);
      break;
    default:
      log(`unknown event ${e.type}`);
  }
}

function onAudio(buffer) {
  agent.audioChunksIn++;
  if (fenced) {
    const now = performance.now();
    if (!firstFenced) firstFenced = now;
    if (now - firstFenced < 3000) {
      agent.lateAudio++;
      return;
    }
    fenced = false; // no turn_complete came: the server's fence has opened too
  }
  userLine = null;
  agent.enqueued += buffer.byteLength / 2 / outRate;
  player.port.postMessage({ type: "audio", pcm: buffer }, [buffer]);
}

function connect() {
  const token = new URLSearchParams(location.hash.slice(1)).get("token");
  const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws${token ? `?token=${encodeURIComponent(token)}` : ""}`;
  setState("connecting", "warn");
  ws = new WebSocket(url);
  ws.binaryType = "arraybuffer";
  ws.onopen = () => send({ type: "hello", protocol: PROTOCOL });
  ws.onmessage = (m) => {
    if (typeof m.data === "string") onEvent(JSON.parse(m.data));
    else onAudio(m.data);
  };
  ws.onclose = (c) => {
    agent.closeReason = agent.closeReason || c.reason || `code ${c.code}`;
    setState(`closed (${c.code}${c.reason ? `: ${c.reason}` : ""})`, c.code === 1000 ? "" : "bad");
    for (const id of ["mute", "hangup", "text", "send"]) $(id).disabled = true;
    $("start").disabled = false;
    if (micStream) micStream.getTracks().forEach((t) => t.stop());
    if (ctx) ctx.close();
    ctx = null;
  };
}

async function start() {
  $("start").disabled = true;
  try {
    await startAudio();
    connect();
  } catch (e) {
    setState("failed", "bad");
    log(`cannot start: ${e.message || e}`);
    $("start").disabled = false;
  }
}

$("start").onclick = start;
$("hangup").onclick = () => ws && ws.close(1000, "hung up");
// While muted the page sends no audio; a mute command every 20 s keeps the server's
// idle limit (which closes abandoned pages) from closing a muted one.
setInterval(() => {
  if (muted) send({ type: "mute", muted: true });
}, 20000);

$("mute").onclick = () => {
  muted = !muted;
  $("mute").setAttribute("aria-pressed", String(muted));
  $("mute").textContent = muted ? "Unmute" : "Mute";
  capture.port.postMessage({ muted });
  send({ type: "mute", muted });
};
$("typed").onsubmit = (e) => {
  e.preventDefault();
  const text = $("text").value.trim();
  if (!text) return;
  send({ type: "text", text });
  userLine = null;
  userText(text);
  userLine = null;
  $("text").value = "";
};
if (new URLSearchParams(location.search).get("autostart") === "1") start();
