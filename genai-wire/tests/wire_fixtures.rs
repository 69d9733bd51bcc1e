//! Every fixture transcript in `fixtures/wire/` and every real recording in
//! `../shared/recordings/` must decode; every client frame of our own fixtures must
//! survive decode → encode for its backend unchanged (so the fixtures are canonical).

use std::path::{Path, PathBuf};

use genai_wire::Backend;
use genai_wire::protocol::transcript::{Direction, parse_transcript};
use genai_wire::protocol::{
    ServerPayload, decode_client, decode_server, encode_client, encode_server,
};
use serde_json::Value;

fn logs_in(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .collect();
    files.sort();
    files
}

fn backend_of(path: &Path) -> Backend {
    let name = path.file_name().unwrap().to_string_lossy().to_lowercase();
    if name.starts_with("vertex_") || name.contains("_vertex_") {
        Backend::VertexAi
    } else {
        Backend::DeveloperApi
    }
}

/// Decodes every server frame; checks that decode(encode(decode(x))) == decode(x).
fn check_server_frames(path: &Path) -> usize {
    let text = std::fs::read_to_string(path).unwrap();
    let frames = parse_transcript(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(!frames.is_empty(), "{}: no frames", path.display());
    let mut n = 0;
    for (i, f) in frames.iter().enumerate() {
        if f.direction != Direction::ServerToClient {
            continue;
        }
        let msg = decode_server(f.json.as_bytes())
            .unwrap_or_else(|e| panic!("{}: frame {}: {e}", path.display(), i + 1));
        let again = decode_server(encode_server(&msg).as_bytes()).unwrap();
        assert_eq!(
            again,
            msg,
            "{}: frame {} does not re-encode",
            path.display(),
            i + 1
        );
        n += 1;
    }
    n
}

#[test]
fn fixtures_decode_and_client_frames_round_trip() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/wire");
    let files = logs_in(&dir);
    assert!(
        files.len() >= 6,
        "expected fixture transcripts in {}",
        dir.display()
    );
    let mut kinds = std::collections::BTreeSet::new();
    let mut backends = std::collections::BTreeSet::new();
    for path in &files {
        let backend = backend_of(path);
        check_server_frames(path);
        let text = std::fs::read_to_string(path).unwrap();
        for (i, f) in parse_transcript(&text).unwrap().iter().enumerate() {
            let at = format!("{}: frame {}", path.display(), i + 1);
            match f.direction {
                Direction::ServerToClient => {
                    let m = decode_server(f.json.as_bytes()).unwrap();
                    if let ServerPayload::Unknown(_) = m.payload {
                        // Only the leniency fixture carries unknown kinds on purpose.
                        assert!(at.contains("lenient"), "{at}: unexpected unknown kind");
                    }
                    kinds.insert(format!("< {}", m.kind()));
                }
                Direction::ClientToServer => {
                    let msg =
                        decode_client(f.json.as_bytes()).unwrap_or_else(|e| panic!("{at}: {e}"));
                    let encoded = encode_client(&msg, backend)
                        .unwrap_or_else(|e| panic!("{at}: refused for {backend}: {e}"));
                    let original: Value = serde_json::from_str(&f.json).unwrap();
                    let reencoded: Value = serde_json::from_str(&encoded).unwrap();
                    assert_eq!(reencoded, original, "{at}: client frame is not canonical");
                    kinds.insert(format!("> {}", msg.kind()));
                    backends.insert(format!("{backend:?}"));
                }
            }
        }
    }
    for k in [
        "> setup",
        "> clientContent",
        "> realtimeInput",
        "> toolResponse",
        "> contextUpdate",
        "< setupComplete",
        "< serverContent",
        "< toolCall",
        "< toolCallCancellation",
        "< goAway",
        "< sessionResumptionUpdate",
        "< voiceActivity",
        "< voiceActivityDetectionSignal",
        "< usageMetadata",
        "< unknown",
    ] {
        assert!(kinds.contains(k), "no fixture covers {k}");
    }
    assert_eq!(backends.len(), 2, "fixtures must cover both backends");
}

#[test]
fn real_recordings_decode() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/recordings");
    if !dir.is_dir() {
        eprintln!(
            "SKIP real_recordings_decode: {} not found (reference recordings are not part of the repo)",
            dir.display()
        );
        return;
    }
    let files = logs_in(&dir);
    let mut total = 0;
    for path in &files {
        total += check_server_frames(path);
        // Client frames were sent by the JS SDK: they must decode too (the emulator
        // relies on it), though they need not be canonical for our encoder.
        let text = std::fs::read_to_string(path).unwrap();
        for (i, f) in parse_transcript(&text).unwrap().iter().enumerate() {
            if f.direction == Direction::ClientToServer {
                decode_client(f.json.as_bytes())
                    .unwrap_or_else(|e| panic!("{}: frame {}: {e}", path.display(), i + 1));
            }
        }
    }
    eprintln!(
        "decoded {total} server frames from {} recordings",
        files.len()
    );
    assert!(total > 0);
}
