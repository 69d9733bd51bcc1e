//! Frame-level encoding and decoding: bytes in, typed messages out, and back.
//!
//! Decoding is forgiving (see the [module docs](super)); encoding is exact and, for
//! client messages, first enforces the backend's field rules
//! ([`Backend::check_client`]) so that a message the server would punish with close
//! code 1007 is refused locally with a typed error.

use crate::{Backend, Error, Result};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use super::Blob;
use super::client::{ClientMessage, RealtimeInput};
use super::server::ServerMessage;

/// Decodes one server frame (the payload of a text *or* binary websocket frame).
///
/// Accepts camelCase and snake_case keys, int64 as numbers or strings, durations as
/// strings, both base64 alphabets, and ignores unknown fields; an unknown message kind
/// becomes [`ServerPayload::Unknown`](super::ServerPayload::Unknown). Invalid UTF-8,
/// invalid JSON and wrong value types give [`Error::Decode`] and never panic.
///
/// Like every serde-derived type, a message body may also be given as a JSON array
/// (serde's positional form of a struct); the server never does this and it is not
/// worth a hand-written deserializer per struct.
///
/// Size and depth: the input is parsed in one pass straight into the typed message
/// (no intermediate `serde_json::Value` except for the raw-JSON fields such as function
/// arguments). Nesting is limited to 128 levels by serde_json's recursion limit, so a
/// hostile frame cannot overflow the stack; the frame size itself is bounded by the
/// transport's frame limit ([`Error::FrameTooLarge`]), not here.
pub fn decode_server(bytes: &[u8]) -> Result<ServerMessage> {
    serde_json::from_slice(bytes).map_err(|e| Error::decode(e.to_string(), bytes))
}

/// Decodes one client frame, as forgivingly as [`decode_server`] (the emulator uses it
/// to accept what the official SDKs send, e.g. `client_content` and URL-safe base64).
///
/// A frame with no known message kind, or with more than one, is an [`Error::Decode`].
pub fn decode_client(bytes: &[u8]) -> Result<ClientMessage> {
    serde_json::from_slice(bytes).map_err(|e| Error::decode(e.to_string(), bytes))
}

/// Encodes a client message for `backend`: checks the backend's field rules
/// ([`Backend::check_client`]), then writes canonical camelCase JSON with standard
/// base64 and int64 fields as strings.
pub fn encode_client(msg: &ClientMessage, backend: Backend) -> Result<String> {
    backend.check_client(msg)?;
    if let Some(audio) = audio_only(msg) {
        return Ok(encode_audio(audio));
    }
    serde_json::to_string(msg).map_err(|e| Error::Invalid(format!("cannot encode: {e}")))
}

/// The blob of a `realtimeInput` that carries audio and nothing else: the message a
/// voice session sends 50 times a second.
fn audio_only(msg: &ClientMessage) -> Option<&Blob> {
    match msg {
        ClientMessage::RealtimeInput(RealtimeInput {
            audio: Some(audio),
            video: None,
            text: None,
            activity_start: None,
            activity_end: None,
            audio_stream_end: None,
            media_chunks,
        }) if media_chunks.is_empty() => Some(audio),
        _ => None,
    }
}

/// The same bytes serde writes for an audio-only `realtimeInput`, with the base64
/// written straight into the frame: serde would build it in a temporary string and then
/// scan every character of it for escapes (base64 has none), a measurable share of a
/// voice session's CPU (issue 14; BENCHMARKS.md, "Where the time goes").
fn encode_audio(audio: &Blob) -> String {
    // The MIME type is the caller's: escaped like any JSON string.
    let mime = serde_json::to_string(&audio.mime_type).unwrap_or_else(|_| "\"\"".into());
    audio_frame(&[&mime], &audio.data)
}

/// Encodes the message [`encode_client`] writes for a `realtimeInput` carrying PCM16
/// audio at `sample_rate` Hz (MIME type `audio/pcm;rate=<sample_rate>`) and nothing
/// else, straight from the samples: no [`ClientMessage`] is built, and the frame is
/// allocated once, at its exact size. Audio-only `realtimeInput` is valid on both
/// backends, so there is no backend to check.
///
/// ```
/// use genai_wire::Backend;
/// use genai_wire::protocol::{self, Blob, ClientMessage, RealtimeInput};
///
/// let pcm = [0u8, 1, 2, 3];
/// let message = ClientMessage::RealtimeInput(RealtimeInput {
///     audio: Some(Blob::new("audio/pcm;rate=16000", pcm.to_vec())),
///     ..Default::default()
/// });
/// assert_eq!(
///     protocol::encode_audio_input(&pcm, 16_000),
///     protocol::encode_client(&message, Backend::DeveloperApi)?,
/// );
/// # Ok::<(), genai_wire::Error>(())
/// ```
pub fn encode_audio_input(pcm: &[u8], sample_rate: u32) -> String {
    let mut digits = [0u8; 10];
    let mut n = sample_rate;
    let mut start = digits.len();
    loop {
        start -= 1;
        digits[start] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    // ASCII digits: always valid UTF-8.
    let rate = std::str::from_utf8(&digits[start..]).unwrap_or("0");
    audio_frame(&["\"audio/pcm;rate=", rate, "\""], pcm)
}

/// `{"realtimeInput":{"audio":{"mimeType":<mime>,"data":"<base64>"}}}`, where `mime`
/// is the JSON string of the MIME type in pieces, allocated at its exact size.
fn audio_frame(mime: &[&str], data: &[u8]) -> String {
    const HEAD: &str = r#"{"realtimeInput":{"audio":{"mimeType":"#;
    const MIDDLE: &str = r#","data":""#;
    const TAIL: &str = r#""}}}"#;
    let mime_len: usize = mime.iter().map(|p| p.len()).sum();
    let size = HEAD.len() + mime_len + MIDDLE.len() + data.len().div_ceil(3) * 4 + TAIL.len();
    let mut out = String::with_capacity(size);
    out.push_str(HEAD);
    for piece in mime {
        out.push_str(piece);
    }
    out.push_str(MIDDLE);
    STANDARD.encode_string(data, &mut out);
    out.push_str(TAIL);
    debug_assert_eq!(out.len(), size);
    out
}

/// Encodes a server message as canonical camelCase JSON (used by the emulator and in
/// tests). [`ServerPayload::Unknown`](super::ServerPayload::Unknown) keys are written
/// back as received.
pub fn encode_server(msg: &ServerMessage) -> String {
    // Serializing these types cannot fail: every map key is a string and serde_json
    // writes non-finite floats as null.
    serde_json::to_string(msg).unwrap_or_else(|e| {
        tracing::error!("cannot encode server message: {e}");
        String::from("{}")
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{ServerPayload, SetupComplete};

    #[test]
    fn audio_frames_are_the_bytes_serde_writes() {
        for (mime, len) in [("audio/pcm;rate=16000", 640), ("a\"b\\c\u{1}", 7), ("", 0)] {
            let data: Vec<u8> = (0..len).map(|i| (i * 37 % 256) as u8).collect();
            let msg = ClientMessage::RealtimeInput(RealtimeInput {
                audio: Some(Blob::new(mime, data)),
                ..Default::default()
            });
            let fast = encode_client(&msg, Backend::DeveloperApi).unwrap();
            assert_eq!(fast, serde_json::to_string(&msg).unwrap());
            assert_eq!(decode_client(fast.as_bytes()).unwrap(), msg);
        }
        // Straight from PCM: the same bytes, allocated at their exact size (a frame boxed
        // for a queue is not copied again).
        for (rate, len) in [(16_000, 640), (0, 0), (u32::MAX, 1), (8, 2), (24_000, 4801)] {
            let pcm: Vec<u8> = (0..len).map(|i| (i * 31 % 256) as u8).collect();
            let msg = ClientMessage::RealtimeInput(RealtimeInput {
                audio: Some(Blob::new(format!("audio/pcm;rate={rate}"), pcm.clone())),
                ..Default::default()
            });
            let frame = encode_audio_input(&pcm, rate);
            assert_eq!(frame, serde_json::to_string(&msg).unwrap());
            assert_eq!(frame.capacity(), frame.len());
        }
        // Anything besides audio goes the general way.
        let msg = ClientMessage::RealtimeInput(RealtimeInput {
            audio: Some(Blob::new("audio/pcm;rate=16000", vec![1, 2])),
            audio_stream_end: Some(true),
            ..Default::default()
        });
        assert!(audio_only(&msg).is_none());
    }

    #[test]
    fn text_and_binary_bytes_decode_alike() {
        let m = decode_server(b"{\"setupComplete\":{}}").unwrap();
        assert_eq!(
            m.payload,
            ServerPayload::SetupComplete(SetupComplete::default())
        );
        let m = decode_server(b" \n{\"setupComplete\":{\"sessionId\":\"abc\"}}\n").unwrap();
        assert_eq!(m.kind(), "setupComplete");
    }

    #[test]
    fn garbage_is_a_decode_error_never_a_panic() {
        let long = "[".repeat(100_000);
        let deep_obj = "{\"a\":".repeat(10_000);
        let cases: Vec<&[u8]> = vec![
            b"",
            b"null",
            b"[]",
            b"42",
            b"\"setupComplete\"",
            b"{",
            b"{\"serverContent\":",
            b"{\"serverContent\":[\"x\"]}",
            b"{\"serverContent\":{\"modelTurn\":{\"parts\":[{\"inlineData\":{\"data\":\"!!!\"}}]}}}",
            b"{\"serverContent\":{\"turnComplete\":\"yes\"}}",
            b"{\"goAway\":{\"timeLeft\":12.5e400}}",
            b"{\"sessionResumptionUpdate\":{\"lastConsumedClientMessageIndex\":\"1e99\"}}",
            b"{\"usageMetadata\":{\"totalTokenCount\":99999999999999999999}}",
            b"\xff\xfe{}",
            long.as_bytes(),
            deep_obj.as_bytes(),
        ];
        for c in cases {
            match decode_server(c) {
                Err(Error::Decode { frame, .. }) => assert!(frame.len() <= 512),
                other => panic!(
                    "{:?}: expected a decode error, got {other:?}",
                    String::from_utf8_lossy(&c[..c.len().min(40)])
                ),
            }
            assert!(decode_client(c).is_err());
        }
    }

    #[test]
    fn encode_checks_backend_first() {
        let msg = ClientMessage::audio_stream_end();
        assert_eq!(
            encode_client(&msg, Backend::DeveloperApi).unwrap(),
            r#"{"realtimeInput":{"audioStreamEnd":true}}"#
        );
        assert!(matches!(
            encode_client(&msg, Backend::VertexAi),
            Err(Error::Unsupported { .. })
        ));
    }
}
