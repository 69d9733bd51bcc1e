//! WAV in and out: any input becomes 16 kHz mono PCM16; replies are written at 24 kHz.

use std::path::Path;

/// The input rate the Live API expects.
pub const INPUT_RATE: u32 = 16_000;

/// Reads a WAV file (any rate, channels, 8–32-bit int or float) as 16 kHz mono PCM16.
pub fn read_wav_16k_mono(path: &Path) -> Result<Vec<i16>, String> {
    if !path.exists() {
        return Err(format!("{}: no such file", path.display()));
    }
    let file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    decode_wav_16k_mono(std::io::BufReader::new(file))
        .map_err(|e| format!("{}: {e}", path.display()))
}

/// Decodes WAV bytes from `input` as 16 kHz mono PCM16.
pub fn decode_wav_16k_mono(input: impl std::io::Read) -> Result<Vec<i16>, String> {
    let mut reader = hound::WavReader::new(input).map_err(|e| format!("not a WAV file ({e})"))?;
    let spec = reader.spec();
    if spec.channels == 0 || spec.sample_rate == 0 {
        return Err("WAV header has no channels or rate".into());
    }
    let samples: Vec<f32> = match spec.sample_format {
        hound::SampleFormat::Float => reader.samples::<f32>().collect::<Result<_, _>>(),
        hound::SampleFormat::Int => {
            let scale = 1.0 / (1u64 << (spec.bits_per_sample.clamp(1, 32) - 1)) as f32;
            reader
                .samples::<i32>()
                .map(|s| s.map(|v| v as f32 * scale))
                .collect::<Result<_, _>>()
        }
    }
    .map_err(|e| format!("bad WAV data ({e})"))?;
    let channels = spec.channels as usize;
    let mono: Vec<f32> = samples
        .chunks(channels)
        .map(|f| f.iter().sum::<f32>() / channels as f32)
        .collect();
    Ok(resample(&mono, spec.sample_rate, INPUT_RATE)
        .into_iter()
        .map(|s| (s.clamp(-1.0, 1.0) * 32767.0) as i16)
        .collect())
}

/// Linear-interpolation resampling (good enough for speech going to a speech model).
pub fn resample(input: &[f32], from: u32, to: u32) -> Vec<f32> {
    if from == to || input.is_empty() {
        return input.to_vec();
    }
    let out_len = (input.len() as u64 * to as u64 / from as u64) as usize;
    let step = from as f64 / to as f64;
    (0..out_len)
        .map(|i| {
            let pos = i as f64 * step;
            let idx = pos as usize;
            let frac = (pos - idx as f64) as f32;
            let a = input[idx.min(input.len() - 1)];
            let b = input[(idx + 1).min(input.len() - 1)];
            a + (b - a) * frac
        })
        .collect()
}

/// PCM16 samples as little-endian bytes.
pub fn to_le_bytes(samples: &[i16]) -> Vec<u8> {
    samples.iter().flat_map(|s| s.to_le_bytes()).collect()
}

/// Collects model audio and writes it as a mono PCM16 WAV.
#[derive(Debug, Default)]
pub struct ReplyWriter {
    samples: Vec<i16>,
    rate: Option<u32>,
}

impl ReplyWriter {
    /// Appends a chunk of PCM16 LE bytes at `rate`.
    pub fn push(&mut self, pcm: &[u8], rate: u32) {
        self.rate.get_or_insert(rate);
        self.samples.extend(
            pcm.chunks_exact(2)
                .map(|b| i16::from_le_bytes([b[0], b[1]])),
        );
    }

    /// Seconds of audio collected.
    pub fn seconds(&self) -> f32 {
        self.samples.len() as f32 / self.rate.unwrap_or(24_000) as f32
    }

    /// Writes the WAV file.
    pub fn write(&self, path: &Path) -> Result<(), String> {
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: self.rate.unwrap_or(24_000),
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut w =
            hound::WavWriter::create(path, spec).map_err(|e| format!("{}: {e}", path.display()))?;
        for s in &self.samples {
            w.write_sample(*s).map_err(|e| e.to_string())?;
        }
        w.finalize().map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resamples_length() {
        let x = vec![0.0f32; 48_000];
        assert_eq!(resample(&x, 48_000, 16_000).len(), 16_000);
        assert_eq!(resample(&x[..8000], 8_000, 16_000).len(), 16_000);
    }
}
