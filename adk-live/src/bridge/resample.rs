//! Streaming resamplers for phone audio: 8 kHz → 16 kHz in, 24 kHz → 8 kHz out.
//!
//! Phone bridges that resample each chunk on its own click and hiss at every chunk edge
//! ("crispy white noise", pipecat #2070); one that reset its state after 0.2 s of silence
//! dropped 50–100 ms mid-word whenever the model paused (pipecat #5769). These keep their
//! state for the whole call and are reset only by an interruption, which throws the
//! queued audio away anyway.
//!
//! They wrap `rubato`'s synchronous FFT resampler (an anti-aliasing low-pass with a
//! Blackman-Harris window, ~150 dB rejection) in 20 ms input chunks. Each adds a fixed
//! delay of [`StreamResampler::delay`]: 10 ms both ways at these rates (measured in the
//! tests). Input that does not fill a chunk waits for the next call;
//! [`StreamResampler::flush`] pushes it out at the end of a turn.
//!
//! ```
//! use adk_live::bridge::resample::StreamResampler;
//!
//! let mut up = StreamResampler::phone_in();
//! let mut out = Vec::new();
//! up.push(&[0i16; 160], &mut out); // 20 ms at 8 kHz
//! assert_eq!(out.len(), 320); // 20 ms at 16 kHz
//! ```

use std::time::Duration;

use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::{Fft, FixedSync, Resampler};

/// A resampler that keeps its state across chunks.
pub struct StreamResampler {
    inner: Fft<f32>,
    from: u32,
    to: u32,
    chunk: usize,
    pending: Vec<f32>,
    scratch: Vec<f32>,
}

impl std::fmt::Debug for StreamResampler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamResampler")
            .field("from", &self.from)
            .field("to", &self.to)
            .field("pending", &self.pending.len())
            .finish()
    }
}

impl StreamResampler {
    /// A resampler from `from` Hz to `to` Hz working in 20 ms input chunks.
    ///
    /// # Panics
    /// If either rate is zero, not a multiple of 50 Hz (a 20 ms chunk must be whole) or
    /// beyond 384 kHz; [`try_new`](Self::try_new) returns `None` instead.
    pub fn new(from: u32, to: u32) -> Self {
        Self::try_new(from, to).expect("rates must be non-zero multiples of 50 Hz")
    }

    /// A resampler from `from` Hz to `to` Hz, or `None` for rates it cannot take (zero,
    /// not a multiple of 50 Hz, beyond 384 kHz): for rates that come off the wire.
    pub fn try_new(from: u32, to: u32) -> Option<Self> {
        let ok = |r: u32| r > 0 && r.is_multiple_of(50) && r <= 384_000;
        if !ok(from) || !ok(to) {
            return None;
        }
        let chunk = (from / 50) as usize;
        let inner = Fft::new(from as usize, to as usize, chunk, 1, FixedSync::Input).ok()?;
        let scratch = vec![0.0; inner.output_frames_max()];
        Some(StreamResampler {
            inner,
            from,
            to,
            chunk,
            pending: Vec::with_capacity(chunk),
            scratch,
        })
    }

    /// The caller's audio: Twilio's 8 kHz to the Live API's 16 kHz.
    pub fn phone_in() -> Self {
        Self::new(8_000, 16_000)
    }

    /// The model's audio: the Live API's 24 kHz to Twilio's 8 kHz.
    pub fn phone_out() -> Self {
        Self::new(24_000, 8_000)
    }

    /// The delay this resampler adds.
    pub fn delay(&self) -> Duration {
        Duration::from_secs_f64(self.inner.output_delay() as f64 / f64::from(self.to))
    }

    /// Resamples `input`, appending every whole chunk's output to `out`; a remainder
    /// waits for the next call.
    pub fn push(&mut self, input: &[i16], out: &mut Vec<i16>) {
        for &s in input {
            self.pending.push(f32::from(s) / 32768.0);
            if self.pending.len() == self.chunk {
                self.run(self.chunk, out);
            }
        }
    }

    /// Pushes out what is waiting (the remainder, padded with silence, and the delay
    /// line's tail): the end of a turn, so the last words are not held back.
    pub fn flush(&mut self, out: &mut Vec<i16>) {
        let tail = self.inner.output_delay();
        if !self.pending.is_empty() {
            let n = self.pending.len();
            self.pending.resize(self.chunk, 0.0);
            let before = out.len();
            self.run(self.chunk, out);
            // Only the part that carried input; the padding's share is silence.
            let keep = (n * self.to as usize).div_ceil(self.from as usize) + tail;
            out.truncate((before + keep).min(out.len()));
        } else {
            self.pending.resize(self.chunk, 0.0);
            let before = out.len();
            self.run(self.chunk, out);
            out.truncate((before + tail).min(out.len()));
        }
    }

    /// Forgets everything queued and the filter's history: only on an interruption,
    /// never on silence.
    pub fn reset(&mut self) {
        self.inner.reset();
        self.pending.clear();
    }

    fn run(&mut self, frames: usize, out: &mut Vec<i16>) {
        let input = InterleavedSlice::new(&self.pending[..], 1, frames).expect("sized input");
        let max = self.scratch.len();
        let mut output =
            InterleavedSlice::new_mut(&mut self.scratch[..], 1, max).expect("sized output");
        let written = match self.inner.process_into_buffer(&input, &mut output, None) {
            Ok((_, written)) => written,
            // Sizes are fixed at construction: this cannot fail. Losing a chunk is
            // better than a panic in a call.
            Err(_) => 0,
        };
        out.extend(
            self.scratch[..written]
                .iter()
                .map(|&s| (s * 32768.0).clamp(-32768.0, 32767.0) as i16),
        );
        self.pending.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(freq: f64, rate: u32, samples: usize, amp: f64) -> Vec<i16> {
        (0..samples)
            .map(|n| {
                (amp * (2.0 * std::f64::consts::PI * freq * n as f64 / f64::from(rate)).sin())
                    as i16
            })
            .collect()
    }

    fn rms(x: &[i16]) -> f64 {
        (x.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>() / x.len() as f64).sqrt()
    }

    /// What a streaming resampler must not do: depend on how the stream was cut.
    #[test]
    fn the_output_does_not_depend_on_the_chunking() {
        let input = tone(440.0, 8_000, 8_000, 8_000.0);
        let mut whole = Vec::new();
        StreamResampler::phone_in().push(&input, &mut whole);
        let mut pieces = Vec::new();
        let mut r = StreamResampler::phone_in();
        for piece in input.chunks(37) {
            r.push(piece, &mut pieces);
        }
        assert_eq!(whole, pieces);
        assert_eq!(whole.len(), 16_000);
    }

    #[test]
    fn a_tone_passes_and_an_alias_is_rejected_on_the_way_out() {
        // 1 kHz at 24 kHz passes to 8 kHz at the same level.
        let mut out = Vec::new();
        let mut r = StreamResampler::phone_out();
        r.push(&tone(1_000.0, 24_000, 24_000, 10_000.0), &mut out);
        let settled = &out[800..];
        let level = rms(settled) / (10_000.0 / 2f64.sqrt());
        assert!((0.98..1.02).contains(&level), "passband level {level}");
        // 6 kHz is above the 4 kHz Nyquist of 8 kHz: it must not fold back as 2 kHz.
        let mut out = Vec::new();
        let mut r = StreamResampler::phone_out();
        r.push(&tone(6_000.0, 24_000, 24_000, 10_000.0), &mut out);
        let rejection_db = 20.0 * (rms(&out[800..]) / (10_000.0 / 2f64.sqrt())).log10();
        assert!(rejection_db < -60.0, "alias at {rejection_db:.1} dB");
    }

    #[test]
    fn the_delay_is_stated_and_measured() {
        let mut r = StreamResampler::phone_in();
        assert_eq!(r.delay(), Duration::from_millis(10));
        // An impulse comes out `delay` later.
        let mut input = vec![0i16; 800];
        input[0] = 20_000;
        let mut out = Vec::new();
        r.push(&input, &mut out);
        let peak = out
            .iter()
            .enumerate()
            .max_by_key(|(_, s)| s.unsigned_abs())
            .unwrap()
            .0;
        assert_eq!(peak, 160, "10 ms at 16 kHz");
        assert_eq!(
            StreamResampler::phone_out().delay(),
            Duration::from_millis(10)
        );
    }

    /// A pause of the model's is never a reset: a tone, silence, the tone again gives the
    /// same samples as one continuous stream with the silence in it.
    #[test]
    fn silence_is_not_a_reset() {
        let mut stream = tone(500.0, 24_000, 4_800, 9_000.0);
        stream.extend(vec![0; 9_600]);
        stream.extend(tone(500.0, 24_000, 4_800, 9_000.0));
        let mut continuous = Vec::new();
        StreamResampler::phone_out().push(&stream, &mut continuous);
        let mut r = StreamResampler::phone_out();
        let mut pieces = Vec::new();
        for chunk in stream.chunks(2_400) {
            r.push(chunk, &mut pieces);
        }
        assert_eq!(continuous, pieces);
    }

    #[test]
    fn rates_off_the_wire_are_checked_not_trusted() {
        for (from, to) in [
            (0, 8_000),
            (11_025, 8_000),
            (24_000, 0),
            (4_000_000_000, 8_000),
        ] {
            assert!(
                StreamResampler::try_new(from, to).is_none(),
                "{from} -> {to}"
            );
        }
        assert!(StreamResampler::try_new(16_000, 8_000).is_some());
    }

    #[test]
    fn flush_pushes_out_the_remainder_and_the_tail() {
        let mut r = StreamResampler::phone_out();
        let mut out = Vec::new();
        r.push(&tone(1_000.0, 24_000, 600, 9_000.0), &mut out); // 25 ms: one chunk + 5 ms
        assert_eq!(out.len(), 160);
        r.flush(&mut out);
        // 5 ms more of input, plus the 10 ms delay line.
        assert_eq!(out.len(), 160 + 40 + 80);
        let tail = &out[160..];
        assert!(rms(tail) > 1_000.0, "the held-back audio came out");
    }
}
