//! Audio for the scripted model: a voiced-like 24 kHz waveform for the model's speech,
//! and a cheap level detector for the user's 16 kHz input.
//!
//! The model's speech is generated once per scenario and pre-encoded into complete
//! server frames ([`AudioFrames`]), so a speaking session only clones reference-counted
//! [`Bytes`]: no per-chunk allocation, encoding or JSON building on the hot path.
//! The waveform is not silence and not a pure tone: a 110–190 Hz glottal-like pulse
//! train with harmonics, a syllable-rate amplitude envelope and short pauses, so
//! client-side level meters, VAD and echo paths see something that looks like speech.

use std::f32::consts::TAU;

use base64::Engine as _;
use tokio_tungstenite::tungstenite::Bytes;

/// Sample rate of the model's speech (the Live API always outputs 24 kHz PCM16 LE mono).
pub const OUTPUT_RATE: u32 = 24_000;

/// Generates `ms` milliseconds of voiced-like PCM16 LE mono audio at 24 kHz.
///
/// Deterministic: the same `ms` always gives the same samples.
pub fn voiced_pcm16(ms: u32) -> Vec<u8> {
    let n = (OUTPUT_RATE as u64 * ms as u64 / 1000) as usize;
    let mut out = Vec::with_capacity(n * 2);
    let mut phase = 0.0f32;
    let rate = OUTPUT_RATE as f32;
    for i in 0..n {
        let t = i as f32 / rate;
        // Pitch glides slowly between ~110 and ~190 Hz, like intonation.
        let f0 = 150.0 + 40.0 * (TAU * 0.7 * t).sin();
        phase += TAU * f0 / rate;
        if phase > TAU {
            phase -= TAU;
        }
        // A few harmonics with decreasing weight approximate a glottal source.
        let mut s = 0.0;
        for (k, w) in [
            (1.0f32, 1.0f32),
            (2.0, 0.5),
            (3.0, 0.33),
            (4.0, 0.2),
            (6.0, 0.1),
        ] {
            s += w * (phase * k).sin();
        }
        // Syllables: ~4 Hz envelope, with a short pause every ~0.9 s.
        let syll = (0.5 - 0.5 * (TAU * 4.0 * t).cos()).powf(0.6);
        let pause = if (t % 0.9) > 0.78 { 0.08 } else { 1.0 };
        let v = (s / 2.13) * syll * pause * 9_000.0;
        out.extend_from_slice(&(v as i16).to_le_bytes());
    }
    out
}

/// Pre-encoded server frames carrying the model's speech, cycled through while speaking.
#[derive(Debug, Clone)]
pub struct AudioFrames {
    /// Complete `serverContent.modelTurn` frames, one per chunk.
    pub frames: Vec<Bytes>,
}

impl AudioFrames {
    /// Builds `cycle_ms / chunk_ms` frames of `chunk_ms` each, labelled with `mime_type`
    /// (`audio/pcm;rate=24000` on the Developer API, bare `audio/pcm` on Vertex).
    pub fn build(chunk_ms: u32, cycle_ms: u32, mime_type: &str, with_role: bool) -> Self {
        let chunk_ms = chunk_ms.max(1);
        let count = (cycle_ms / chunk_ms).max(1);
        let pcm = voiced_pcm16(chunk_ms * count);
        let bytes_per_chunk = (OUTPUT_RATE as usize * chunk_ms as usize / 1000) * 2;
        let role = if with_role { r#""role":"model","# } else { "" };
        let frames = pcm
            .chunks(bytes_per_chunk.max(2))
            .map(|chunk| {
                let mut s = String::with_capacity(chunk.len() * 4 / 3 + 128);
                s.push_str(r#"{"serverContent":{"modelTurn":{"#);
                s.push_str(role);
                s.push_str(r#""parts":[{"inlineData":{"mimeType":""#);
                s.push_str(mime_type);
                s.push_str(r#"","data":""#);
                base64::engine::general_purpose::STANDARD.encode_string(chunk, &mut s);
                s.push_str(r#""}}]}}}"#);
                Bytes::from(s)
            })
            .collect();
        AudioFrames { frames }
    }

    /// The frame to send for chunk number `i` of an utterance.
    pub fn frame(&self, i: usize) -> Bytes {
        self.frames[i % self.frames.len()].clone()
    }
}

/// Decodes base64 (either alphabet, padding optional) into `buf`, reusing its capacity.
/// Returns false when the text is not valid base64.
pub fn decode_base64_into(data: &str, buf: &mut Vec<u8>) -> bool {
    use base64::engine::general_purpose::{STANDARD_PAD_INDIFFERENT, URL_SAFE_PAD_INDIFFERENT};
    buf.clear();
    let url_safe = data.bytes().any(|b| b == b'-' || b == b'_');
    let engine = if url_safe {
        &URL_SAFE_PAD_INDIFFERENT
    } else {
        &STANDARD_PAD_INDIFFERENT
    };
    engine.decode_vec(data, buf).is_ok()
}

/// Mean absolute amplitude of PCM16 LE samples (0..=32768).
pub fn mean_abs(pcm: &[u8]) -> u32 {
    let n = pcm.len() / 2;
    if n == 0 {
        return 0;
    }
    let sum: u64 = pcm
        .chunks_exact(2)
        .map(|c| i16::from_le_bytes([c[0], c[1]]).unsigned_abs() as u64)
        .sum();
    (sum / n as u64) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn voiced_audio_is_not_silent_and_has_pauses() {
        let pcm = voiced_pcm16(1200);
        assert_eq!(pcm.len(), 24_000 * 2 * 12 / 10);
        assert!(mean_abs(&pcm) > 1000, "level {}", mean_abs(&pcm));
    }

    #[test]
    fn frames_are_valid_json_with_base64_audio() {
        let f = AudioFrames::build(100, 1000, "audio/pcm;rate=24000", false);
        assert_eq!(f.frames.len(), 10);
        let v: serde_json::Value = serde_json::from_slice(&f.frame(3)).unwrap();
        let data = v["serverContent"]["modelTurn"]["parts"][0]["inlineData"]["data"]
            .as_str()
            .unwrap();
        let mut buf = Vec::new();
        assert!(decode_base64_into(data, &mut buf));
        assert_eq!(buf.len(), 4800);
    }

    #[test]
    fn both_alphabets_decode() {
        let mut buf = Vec::new();
        assert!(decode_base64_into("__79_P_-_fw=", &mut buf));
        assert!(decode_base64_into("//79/P/+/fw=", &mut buf));
        assert!(decode_base64_into("//79/P/+/fw", &mut buf));
        assert!(!decode_base64_into("!!!", &mut buf));
    }
}
