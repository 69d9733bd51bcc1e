// Microphone capture: the context's rate (whatever the device runs at) to 16 kHz PCM16,
// posted in 32 ms chunks (512 samples; Google's browser sample sends 512 samples "per
// Gemini best practices (20-40 ms chunks)").
//
// The context runs at the device's rate because Firefox refuses to connect a microphone
// to an AudioContext of another rate (Bugzilla 1674892), so the conversion happens here:
// a windowed-sinc low-pass at 7 kHz (below the 8 kHz Nyquist of the output, so nothing
// aliases), then linear interpolation at the output instants. Both keep their state
// across the 128-sample render quanta: no clicks at chunk edges.

const OUT_RATE = 16000;
const CHUNK = 512;
const TAPS = 63;

function lowpass(cutoff, taps) {
  // cutoff as a fraction of the input rate; Blackman window; unity gain at DC.
  const h = new Float32Array(taps);
  const m = (taps - 1) / 2;
  let sum = 0;
  for (let i = 0; i < taps; i++) {
    const x = i - m;
    const sinc = x === 0 ? 2 * cutoff : Math.sin(2 * Math.PI * cutoff * x) / (Math.PI * x);
    const w = 0.42 - 0.5 * Math.cos((2 * Math.PI * i) / (taps - 1)) + 0.08 * Math.cos((4 * Math.PI * i) / (taps - 1));
    h[i] = sinc * w;
    sum += h[i];
  }
  for (let i = 0; i < taps; i++) h[i] /= sum;
  return h;
}

class Capture extends AudioWorkletProcessor {
  constructor() {
    super();
    this.step = sampleRate / OUT_RATE; // input samples per output sample
    this.h = lowpass(7000 / sampleRate, TAPS);
    this.ring = new Float32Array(TAPS);
    this.head = 0;
    this.index = -1; // index of the last filtered input sample
    this.prev = 0; // the filtered sample before it
    this.next = 0; // input index of the next output sample
    this.out = new Int16Array(CHUNK);
    this.n = 0;
    this.muted = false;
    this.port.onmessage = (e) => {
      if (typeof e.data.muted === "boolean") this.muted = e.data.muted;
    };
  }

  process(inputs, outputs) {
    const input = inputs[0] && inputs[0][0];
    if (!input) return true;
    const h = this.h;
    const ring = this.ring;
    for (let k = 0; k < input.length; k++) {
      ring[this.head] = input[k];
      this.head = (this.head + 1) % TAPS;
      let y = 0;
      for (let j = 0, p = this.head; j < TAPS; j++, p = (p + 1) % TAPS) y += h[j] * ring[p];
      this.index++;
      while (this.next <= this.index) {
        const frac = this.next - (this.index - 1);
        let s = this.prev + (y - this.prev) * frac;
        s = s > 1 ? 1 : s < -1 ? -1 : s;
        this.out[this.n++] = s < 0 ? s * 32768 : s * 32767;
        this.next += this.step;
        if (this.n === CHUNK) {
          if (!this.muted) {
            this.port.postMessage(this.out.buffer, [this.out.buffer]);
            this.out = new Int16Array(CHUNK);
          }
          this.n = 0;
        }
      }
      this.prev = y;
    }
    // Silence on the output: the node is connected (at zero gain) only so the graph pulls it.
    if (outputs[0] && outputs[0][0]) outputs[0][0].fill(0);
    return true;
  }
}

registerProcessor("capture", Capture);
