//! Codec throughput: `cargo bench -p genai-wire --bench codec`.
//!
//! * `decode_server_audio/<kind>/<size>`: one `serverContent.modelTurn` frame with
//!   24 kHz PCM in `inlineData` (what the Live API streams back), 1 KiB to 256 KiB on the
//!   wire. `typed` is [`protocol::decode_server`] (JSON *and* base64 decoded into
//!   `Vec<u8>`); the baselines parse the same bytes into a `serde_json::Value`
//!   (`value`: JSON only, the audio stays a base64 string) and then base64-decode the
//!   audio (`value_b64`: the same work as `typed`).
//! * `encode_client_audio_20ms/<kind>`: one 20 ms, 16 kHz realtimeInput audio chunk
//!   (640 bytes of PCM). `typed_send_audio` builds the message the way
//!   `LiveHandle::send_audio` does (copy of the PCM, mime type string) and encodes it
//!   with [`protocol::encode_client`]; `typed_prebuilt` encodes a ready message;
//!   `value` is `json!` + `to_string` (the baseline); `append` writes the frame into a
//!   reused `String` by hand (the lower bound).
//!
//! Throughput is in bytes of the JSON frame (criterion `Throughput::Bytes`), so MB/s
//! compare across kinds; the time per frame is printed next to it.

use std::hint::black_box;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use genai_wire::Backend;
use genai_wire::protocol::{self, ClientMessage, ServerPayload};
use serde_json::{Value, json};

const SIZES: [usize; 5] = [1 << 10, 4 << 10, 16 << 10, 64 << 10, 256 << 10];

/// PCM16 samples of a tone (the content does not matter to the codec; a non-constant
/// signal keeps the base64 realistic).
fn pcm(bytes: usize) -> Vec<u8> {
    (0..bytes / 2)
        .flat_map(|n| {
            let s = ((n as f32 * 0.0524).sin() * 8000.0) as i16;
            s.to_le_bytes()
        })
        .collect()
}

/// A `serverContent` audio frame as the Live API sends it, close to `wire_bytes` long.
fn server_audio_frame(wire_bytes: usize) -> Vec<u8> {
    let head = r#"{"serverContent":{"modelTurn":{"parts":[{"inlineData":{"mimeType":"audio/pcm;rate=24000","data":""#;
    let tail = r#""}}]}}}"#;
    let b64_len = wire_bytes.saturating_sub(head.len() + tail.len());
    let pcm_len = (b64_len / 4 * 3) & !1;
    let mut f = String::with_capacity(wire_bytes + 8);
    f.push_str(head);
    STANDARD.encode_string(pcm(pcm_len), &mut f);
    f.push_str(tail);
    f.into_bytes()
}

fn decode(c: &mut Criterion) {
    let mut g = c.benchmark_group("decode_server_audio");
    for size in SIZES {
        let frame = server_audio_frame(size);
        // Sanity: the typed decoder sees the audio.
        let m = protocol::decode_server(&frame).expect("valid frame");
        assert!(matches!(m.payload, ServerPayload::ServerContent(_)));
        g.throughput(Throughput::Bytes(frame.len() as u64));
        g.bench_with_input(BenchmarkId::new("typed", size), &frame, |b, f| {
            b.iter(|| protocol::decode_server(black_box(f)).unwrap())
        });
        g.bench_with_input(BenchmarkId::new("value", size), &frame, |b, f| {
            b.iter(|| serde_json::from_slice::<Value>(black_box(f)).unwrap())
        });
        g.bench_with_input(BenchmarkId::new("value_b64", size), &frame, |b, f| {
            b.iter(|| {
                let v: Value = serde_json::from_slice(black_box(f)).unwrap();
                let data = v["serverContent"]["modelTurn"]["parts"][0]["inlineData"]["data"]
                    .as_str()
                    .unwrap();
                STANDARD.decode(data).unwrap()
            })
        });
    }
    g.finish();
}

fn encode(c: &mut Criterion) {
    let mut g = c.benchmark_group("encode_client_audio_20ms");
    let chunk = pcm(640); // 20 ms at 16 kHz, PCM16 mono
    let prebuilt = ClientMessage::realtime_audio(chunk.clone(), 16_000);
    let wire = protocol::encode_client(&prebuilt, Backend::DeveloperApi).unwrap();
    g.throughput(Throughput::Bytes(wire.len() as u64));
    g.bench_function("typed_send_audio", |b| {
        b.iter(|| {
            let msg = ClientMessage::realtime_audio(black_box(&chunk[..]).to_vec(), 16_000);
            protocol::encode_client(&msg, Backend::DeveloperApi).unwrap()
        })
    });
    g.bench_function("typed_prebuilt", |b| {
        b.iter(|| protocol::encode_client(black_box(&prebuilt), Backend::DeveloperApi).unwrap())
    });
    g.bench_function("value", |b| {
        b.iter(|| {
            json!({"realtimeInput": {"audio": {
                "mimeType": "audio/pcm;rate=16000",
                "data": STANDARD.encode(black_box(&chunk[..])),
            }}})
            .to_string()
        })
    });
    let mut buf = String::with_capacity(1024);
    g.bench_function("append", |b| {
        b.iter(|| {
            buf.clear();
            buf.push_str(
                r#"{"realtimeInput":{"audio":{"mimeType":"audio/pcm;rate=16000","data":""#,
            );
            STANDARD.encode_string(black_box(&chunk[..]), &mut buf);
            buf.push_str(r#""}}}"#);
            buf.len()
        })
    });
    g.finish();
}

criterion_group!(benches, decode, encode);
criterion_main!(benches);
