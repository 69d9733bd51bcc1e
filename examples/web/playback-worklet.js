// Playback of the model's audio (PCM16 at 24 kHz, or the rate the server announces) with a
// small jitter buffer.
//
// * Chunks are converted to the context's rate on arrival (linear interpolation, state
//   kept across chunks) and queued.
// * Playing starts once 80 ms are queued (or at the end of a turn, whatever is left), and
//   re-primes after an underrun, so network jitter becomes a pause, not a crackle.
// * "flush" (the caller interrupted): the next 10 ms are faded out, everything else queued
//   is dropped at once. Messages on a port are delivered in order, so audio posted before
//   the flush is dropped by it.
// Every 50 ms the node reports what it has played and what is queued, in seconds.

const PRIME_SEC = 0.08;
const FADE_SEC = 0.01;
const REPORT_SEC = 0.05;

class Playback extends AudioWorkletProcessor {
  constructor() {
    super();
    this.srcRate = 24000;
    this.queue = [];
    this.offset = 0; // read position in queue[0]
    this.queued = 0; // samples queued
    this.playing = false;
    this.draining = false;
    this.fade = null; // Float32Array being faded out after a flush
    this.fadePos = 0;
    this.played = 0; // samples played (context rate), fades included
    this.underruns = 0;
    this.prev = 0; // resampler: last input sample
    this.pos = 0; // resampler: position of the next output sample, in input samples after prev
    this.sinceReport = 0;
    this.port.onmessage = (e) => this.onMessage(e.data);
  }

  onMessage(m) {
    if (m.type === "audio") {
      this.enqueue(new Int16Array(m.pcm));
      this.draining = false;
    } else if (m.type === "rate") {
      this.srcRate = m.rate;
    } else if (m.type === "drain") {
      this.draining = true;
    } else if (m.type === "flush") {
      this.flush();
    }
  }

  enqueue(pcm) {
    const step = this.srcRate / sampleRate;
    const n = Math.floor((pcm.length - this.pos) / step) + 1;
    const out = new Float32Array(Math.max(n, 0));
    let k = 0;
    // Output instants t (in input samples, relative to `prev` at -1... so t in [0, len)).
    let t = this.pos;
    while (t < pcm.length && k < out.length) {
      const i = Math.floor(t);
      const a = i === 0 ? this.prev : pcm[i - 1] / 32768;
      const b = pcm[i] / 32768;
      // t is measured from prev (index -1 in this chunk), so sample i sits at t = i + 1.
      out[k++] = a + (b - a) * (t - i);
      t += step;
    }
    this.pos = t - pcm.length;
    if (pcm.length) this.prev = pcm[pcm.length - 1] / 32768;
    if (k) {
      this.queue.push(k === out.length ? out : out.subarray(0, k));
      this.queued += k;
    }
  }

  flush() {
    const fadeLen = Math.round(FADE_SEC * sampleRate);
    const fade = new Float32Array(Math.min(fadeLen, this.playing ? this.queued : 0));
    for (let i = 0; i < fade.length; i++) {
      fade[i] = this.take() * (1 - i / fade.length);
    }
    const dropped = this.queued;
    this.queue = [];
    this.offset = 0;
    this.queued = 0;
    this.playing = false;
    this.draining = false;
    this.prev = 0;
    this.pos = 0;
    this.fade = fade.length ? fade : null;
    this.fadePos = 0;
    this.port.postMessage({
      type: "flushed",
      dropped: dropped / sampleRate,
      faded: fade.length / sampleRate,
      played: this.played / sampleRate,
    });
  }

  take() {
    const head = this.queue[0];
    const s = head[this.offset++];
    this.queued--;
    if (this.offset === head.length) {
      this.queue.shift();
      this.offset = 0;
    }
    return s;
  }

  process(inputs, outputs) {
    const out = outputs[0][0];
    let i = 0;
    if (this.fade) {
      while (i < out.length && this.fadePos < this.fade.length) out[i++] = this.fade[this.fadePos++];
      this.played += i;
      if (this.fadePos === this.fade.length) this.fade = null;
    }
    if (!this.playing && (this.queued >= PRIME_SEC * sampleRate || (this.draining && this.queued > 0))) {
      this.playing = true;
    }
    if (this.playing) {
      const start = i;
      while (i < out.length && this.queued > 0) out[i++] = this.take();
      this.played += i - start;
      if (this.queued === 0) {
        if (!this.draining && i < out.length) this.underruns++;
        this.playing = false;
      }
    }
    out.fill(0, i);
    for (let c = 1; c < outputs[0].length; c++) outputs[0][c].set(out);
    this.sinceReport += out.length;
    if (this.sinceReport >= REPORT_SEC * sampleRate) {
      this.sinceReport = 0;
      this.port.postMessage({
        type: "stats",
        played: this.played / sampleRate,
        queued: this.queued / sampleRate,
        underruns: this.underruns,
      });
    }
    return true;
  }
}

registerProcessor("playback", Playback);
