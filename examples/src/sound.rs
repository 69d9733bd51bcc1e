//! The default microphone and speaker, through `cpal` (cargo feature `sound`, off by
//! default).
//!
//! ```text
//! # Linux needs the ALSA headers: apt-get install libasound2-dev pkg-config
//! cargo run --release -p examples --features sound --bin voice_agent -- --mic --speaker
//! ```
//!
//! Without the feature, [`Microphone::open`] and [`Speaker::open`] fail with a message
//! that says how to enable it, so the flags that use them can always be offered.

use std::time::Duration;

pub use imp::{Microphone, Speaker, ctrl_c};

/// Why a device could not be used when the feature is off.
pub const NO_SOUND_FEATURE: &str = "--mic and --speaker need the `sound` feature: \
     cargo run -p examples --features sound --bin voice_agent -- --mic --speaker \
     (on Linux first: apt-get install libasound2-dev pkg-config)";

/// Streaming linear-interpolation resampler: converts a stream that arrives in pieces
/// without clicks or drift at the piece boundaries.
#[derive(Debug, Clone)]
pub struct Resampler {
    step: f64,
    /// Position of the next output sample, in input samples, counted from `prev`.
    pos: f64,
    /// The last input sample of the previous piece.
    prev: Option<f32>,
}

impl Resampler {
    /// A resampler from `from` Hz to `to` Hz.
    pub fn new(from: u32, to: u32) -> Self {
        Resampler {
            step: from as f64 / to as f64,
            pos: 0.0,
            prev: None,
        }
    }

    /// Appends the resampled `input` to `out`.
    pub fn process(&mut self, input: &[f32], out: &mut Vec<f32>) {
        let Some(&last) = input.last() else { return };
        let offset = usize::from(self.prev.is_some());
        let len = input.len() + offset;
        let at = |i: usize| match (i, self.prev) {
            (0, Some(p)) => p,
            _ => input[i - offset],
        };
        while self.pos + 1.0 < len as f64 {
            let i = self.pos as usize;
            let frac = (self.pos - i as f64) as f32;
            let (a, b) = (at(i), at(i + 1));
            out.push(a + (b - a) * frac);
            self.pos += self.step;
        }
        // The last sample becomes index 0 of the next piece.
        self.pos -= (len - 1) as f64;
        self.prev = Some(last);
    }
}

/// How many samples of `rate` Hz make `chunk`.
pub fn samples_per(chunk: Duration, rate: u32) -> usize {
    ((rate as u128 * chunk.as_micros()) / 1_000_000).max(1) as usize
}

#[cfg(feature = "sound")]
mod imp {
    use std::collections::VecDeque;
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, Instant};

    use cpal::traits::{DeviceTrait, HostTrait, StreamTrait};
    use cpal::{FromSample, Sample, SampleFormat, SizedSample, StreamConfig};
    use tokio::sync::mpsc;

    use super::{Resampler, samples_per};
    use crate::audio::INPUT_RATE;

    fn device_name(device: &cpal::Device) -> String {
        device
            .description()
            .map(|d| d.to_string())
            .or_else(|_| device.id().map(|id| id.to_string()))
            .unwrap_or_else(|_| "unnamed device".into())
    }

    fn describe(name: &str, config: &StreamConfig, format: SampleFormat) -> String {
        format!(
            "{name} ({} Hz, {} ch, {format})",
            config.sample_rate, config.channels
        )
    }

    fn stream_error(what: &'static str) -> impl FnMut(cpal::Error) + Send + 'static {
        move |e| eprintln!("{what} stream error: {e}")
    }

    /// The default input device, delivering 16 kHz mono PCM16 chunks.
    pub struct Microphone {
        _stream: cpal::Stream,
        name: String,
    }

    impl std::fmt::Debug for Microphone {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("Microphone")
                .field("name", &self.name)
                .finish()
        }
    }

    impl Microphone {
        /// Opens the default input device and starts recording. Its audio arrives on the
        /// receiver as 16 kHz mono PCM16, `chunk` at a time, until the microphone is
        /// dropped.
        pub fn open(
            chunk: Duration,
        ) -> Result<(Microphone, mpsc::UnboundedReceiver<Vec<i16>>), String> {
            let host = cpal::default_host();
            let device = host
                .default_input_device()
                .ok_or("no usable microphone: the audio system has no default input device")?;
            let name = device_name(&device);
            let supported = device
                .default_input_config()
                .map_err(|e| format!("no usable microphone ({name}): {e}"))?;
            let format = supported.sample_format();
            let config: StreamConfig = supported.into();
            let (tx, rx) = mpsc::unbounded_channel();
            let described = describe(&name, &config, format);
            let stream = match format {
                SampleFormat::I16 => build_input::<i16>(&device, &config, chunk, tx),
                SampleFormat::U16 => build_input::<u16>(&device, &config, chunk, tx),
                SampleFormat::I32 => build_input::<i32>(&device, &config, chunk, tx),
                SampleFormat::F32 => build_input::<f32>(&device, &config, chunk, tx),
                SampleFormat::F64 => build_input::<f64>(&device, &config, chunk, tx),
                other => {
                    return Err(format!(
                        "no usable microphone ({name}): unsupported sample format {other}"
                    ));
                }
            }
            .map_err(|e| format!("no usable microphone ({name}): {e}"))?;
            stream
                .play()
                .map_err(|e| format!("no usable microphone ({name}): {e}"))?;
            Ok((
                Microphone {
                    _stream: stream,
                    name: described,
                },
                rx,
            ))
        }

        /// The device's name and stream format.
        pub fn name(&self) -> &str {
            &self.name
        }

        /// Stops recording (the receiver then ends).
        pub fn stop(self) {}
    }

    fn build_input<T>(
        device: &cpal::Device,
        config: &StreamConfig,
        chunk: Duration,
        tx: mpsc::UnboundedSender<Vec<i16>>,
    ) -> Result<cpal::Stream, cpal::Error>
    where
        T: SizedSample + Send + 'static,
        f32: FromSample<T>,
    {
        let channels = usize::from(config.channels.max(1));
        let per_chunk = samples_per(chunk, INPUT_RATE);
        let mut resampler = Resampler::new(config.sample_rate, INPUT_RATE);
        let (mut mono, mut resampled) = (Vec::new(), Vec::new());
        let mut pending: Vec<i16> = Vec::with_capacity(per_chunk * 2);
        device.build_input_stream(
            *config,
            move |data: &[T], _: &cpal::InputCallbackInfo| {
                mono.clear();
                mono.extend(data.chunks(channels).map(|frame| {
                    frame.iter().map(|s| f32::from_sample(*s)).sum::<f32>() / channels as f32
                }));
                resampled.clear();
                resampler.process(&mono, &mut resampled);
                pending.extend(
                    resampled
                        .iter()
                        .map(|s| (s.clamp(-1.0, 1.0) * 32767.0) as i16),
                );
                while pending.len() >= per_chunk {
                    let rest = pending.split_off(per_chunk);
                    let _ = tx.send(std::mem::replace(&mut pending, rest));
                }
            },
            stream_error("microphone"),
            None,
        )
    }

    struct Playback {
        queue: VecDeque<f32>,
        /// The rate of the audio being resampled, and its resampler.
        resampler: Option<(u32, Resampler)>,
    }

    /// The default output device, playing model audio as it arrives.
    pub struct Speaker {
        _stream: cpal::Stream,
        name: String,
        rate: u32,
        playback: Arc<Mutex<Playback>>,
    }

    impl std::fmt::Debug for Speaker {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("Speaker")
                .field("name", &self.name)
                .field("rate", &self.rate)
                .finish()
        }
    }

    impl Speaker {
        /// Opens the default output device and starts playing (silence until audio is
        /// queued).
        pub fn open() -> Result<Speaker, String> {
            let host = cpal::default_host();
            let device = host
                .default_output_device()
                .ok_or("no usable speaker: the audio system has no default output device")?;
            let name = device_name(&device);
            let supported = device
                .default_output_config()
                .map_err(|e| format!("no usable speaker ({name}): {e}"))?;
            let format = supported.sample_format();
            let config: StreamConfig = supported.into();
            let described = describe(&name, &config, format);
            let playback = Arc::new(Mutex::new(Playback {
                queue: VecDeque::new(),
                resampler: None,
            }));
            let p = playback.clone();
            let stream = match format {
                SampleFormat::I16 => build_output::<i16>(&device, &config, p),
                SampleFormat::U16 => build_output::<u16>(&device, &config, p),
                SampleFormat::I32 => build_output::<i32>(&device, &config, p),
                SampleFormat::F32 => build_output::<f32>(&device, &config, p),
                SampleFormat::F64 => build_output::<f64>(&device, &config, p),
                other => {
                    return Err(format!(
                        "no usable speaker ({name}): unsupported sample format {other}"
                    ));
                }
            }
            .map_err(|e| format!("no usable speaker ({name}): {e}"))?;
            stream
                .play()
                .map_err(|e| format!("no usable speaker ({name}): {e}"))?;
            Ok(Speaker {
                _stream: stream,
                name: described,
                rate: config.sample_rate,
                playback,
            })
        }

        /// The device's name and stream format.
        pub fn name(&self) -> &str {
            &self.name
        }

        /// Queues PCM16 little-endian mono audio at `rate` Hz.
        pub fn play(&self, pcm: &[u8], rate: u32) {
            let input: Vec<f32> = pcm
                .chunks_exact(2)
                .map(|b| f32::from(i16::from_le_bytes([b[0], b[1]])) / 32768.0)
                .collect();
            let mut p = self.playback.lock().unwrap_or_else(|e| e.into_inner());
            if p.resampler.as_ref().is_none_or(|(from, _)| *from != rate) {
                p.resampler = Some((rate, Resampler::new(rate, self.rate)));
            }
            let mut out =
                Vec::with_capacity(input.len() * self.rate as usize / rate.max(1) as usize + 1);
            if let Some((_, r)) = p.resampler.as_mut() {
                r.process(&input, &mut out);
            }
            p.queue.extend(out);
        }

        /// Drops everything queued (the user interrupted the model).
        pub fn clear(&self) {
            let mut p = self.playback.lock().unwrap_or_else(|e| e.into_inner());
            p.queue.clear();
            p.resampler = None;
        }

        /// Waits until everything queued has been played, or `limit`.
        pub async fn drain(&self, limit: Duration) {
            let deadline = Instant::now() + limit;
            while Instant::now() < deadline {
                let left = self
                    .playback
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .queue
                    .len();
                if left == 0 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }

    fn build_output<T>(
        device: &cpal::Device,
        config: &StreamConfig,
        playback: Arc<Mutex<Playback>>,
    ) -> Result<cpal::Stream, cpal::Error>
    where
        T: SizedSample + FromSample<f32> + Send + 'static,
    {
        let channels = usize::from(config.channels.max(1));
        device.build_output_stream(
            *config,
            move |data: &mut [T], _: &cpal::OutputCallbackInfo| {
                let mut p = playback.lock().unwrap_or_else(|e| e.into_inner());
                for frame in data.chunks_mut(channels) {
                    let s = p.queue.pop_front().unwrap_or(0.0);
                    frame.fill(T::from_sample(s));
                }
            },
            stream_error("speaker"),
            None,
        )
    }

    /// Completes on Ctrl-C.
    pub async fn ctrl_c() {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

#[cfg(not(feature = "sound"))]
mod imp {
    use std::convert::Infallible;
    use std::time::Duration;

    use tokio::sync::mpsc;

    use super::NO_SOUND_FEATURE;

    /// The default input device (needs the `sound` feature).
    #[derive(Debug)]
    pub struct Microphone(Infallible);

    impl Microphone {
        /// Fails: built without the `sound` feature.
        pub fn open(
            _chunk: Duration,
        ) -> Result<(Microphone, mpsc::UnboundedReceiver<Vec<i16>>), String> {
            Err(NO_SOUND_FEATURE.into())
        }

        /// The device's name.
        pub fn name(&self) -> &str {
            match self.0 {}
        }

        /// Stops recording.
        pub fn stop(self) {
            match self.0 {}
        }
    }

    /// The default output device (needs the `sound` feature).
    #[derive(Debug)]
    pub struct Speaker(Infallible);

    impl Speaker {
        /// Fails: built without the `sound` feature.
        pub fn open() -> Result<Speaker, String> {
            Err(NO_SOUND_FEATURE.into())
        }

        /// The device's name.
        pub fn name(&self) -> &str {
            match self.0 {}
        }

        /// Queues PCM16 little-endian mono audio at `rate` Hz.
        pub fn play(&self, _pcm: &[u8], _rate: u32) {
            match self.0 {}
        }

        /// Drops everything queued.
        pub fn clear(&self) {
            match self.0 {}
        }

        /// Waits until everything queued has been played.
        pub async fn drain(&self, _limit: Duration) {
            match self.0 {}
        }
    }

    /// Completes on Ctrl-C (never, without the `sound` feature: nothing to stop).
    pub async fn ctrl_c() {
        std::future::pending::<()>().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sine(rate: u32, hz: f32, n: usize) -> Vec<f32> {
        (0..n)
            .map(|i| (i as f32 * hz * std::f32::consts::TAU / rate as f32).sin())
            .collect()
    }

    #[test]
    fn streaming_resample_matches_length_and_is_continuous_across_pieces() {
        let input = sine(48_000, 440.0, 48_000);
        let mut r = Resampler::new(48_000, 16_000);
        let mut out = Vec::new();
        for piece in input.chunks(441) {
            r.process(piece, &mut out);
        }
        assert!((out.len() as i64 - 16_000).abs() <= 1, "{}", out.len());
        let expected = sine(16_000, 440.0, out.len());
        let worst = out
            .iter()
            .zip(&expected)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(worst < 0.02, "max deviation {worst}");
    }

    #[test]
    fn upsampling_in_pieces_equals_one_piece() {
        let input = sine(24_000, 300.0, 2_400);
        let (mut whole, mut pieces) = (Vec::new(), Vec::new());
        Resampler::new(24_000, 44_100).process(&input, &mut whole);
        let mut r = Resampler::new(24_000, 44_100);
        for piece in input.chunks(97) {
            r.process(piece, &mut pieces);
        }
        assert_eq!(whole.len(), pieces.len());
        assert!(whole.iter().zip(&pieces).all(|(a, b)| (a - b).abs() < 1e-4));
    }

    #[test]
    fn without_the_feature_devices_fail_with_instructions() {
        if cfg!(feature = "sound") {
            return;
        }
        let err = Microphone::open(Duration::from_millis(32)).unwrap_err();
        assert!(err.contains("--features sound"), "{err}");
        assert!(Speaker::open().unwrap_err().contains("libasound2-dev"));
    }

    #[test]
    fn chunk_sizes() {
        assert_eq!(samples_per(Duration::from_millis(32), 16_000), 512);
        assert_eq!(samples_per(Duration::from_millis(20), 48_000), 960);
    }
}
