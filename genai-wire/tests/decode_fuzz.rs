//! Decoding never panics: mutated real frames, random bytes, truncated JSON, wrong value
//! types at known paths, huge numbers, invalid base64, deep nesting and a 10 MB frame
//! all give `Ok` or `Err`. Frames that decode also re-encode to something that decodes
//! to the same message.

use std::sync::OnceLock;

use genai_wire::protocol::transcript::parse_transcript;
use genai_wire::protocol::{ServerPayload, decode_client, decode_server, encode_server};
use proptest::prelude::*;
use serde_json::{Value, json};

const FIXTURES: &[&str] = &[
    include_str!("../../fixtures/wire/dev_audio_session.log"),
    include_str!("../../fixtures/wire/dev_lenient_server.log"),
    include_str!("../../fixtures/wire/dev_manual_vad.log"),
    include_str!("../../fixtures/wire/dev_resumption.log"),
    include_str!("../../fixtures/wire/dev_text_session.log"),
    include_str!("../../fixtures/wire/dev_tool_background.log"),
    include_str!("../../fixtures/wire/vertex_session.log"),
    include_str!("../../fixtures/wire/vertex_tools.log"),
];

/// Every frame of every fixture (both directions): the seeds for mutation.
fn seeds() -> &'static [Vec<u8>] {
    static SEEDS: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    SEEDS.get_or_init(|| {
        FIXTURES
            .iter()
            .flat_map(|t| parse_transcript(t).unwrap())
            .map(|f| f.json.into_bytes())
            .collect()
    })
}

/// Decodes with both decoders; checks the server re-encode property when it decodes.
///
/// The re-decoded message is compared by kind only: serde_json's default float parser
/// may move a raw-JSON float by one ULP on a round trip.
fn exercise(bytes: &[u8]) {
    if let Ok(m) = decode_server(bytes) {
        let again = decode_server(encode_server(&m).as_bytes())
            .unwrap_or_else(|e| panic!("re-encoded frame does not decode: {e}\n{m:?}"));
        assert_eq!(again.kind(), m.kind());
        assert_eq!(again.usage_metadata, m.usage_metadata);
    }
    let _ = decode_client(bytes);
}

#[derive(Debug, Clone)]
enum Mutation {
    Flip(usize, u8),
    Insert(usize, u8),
    Delete(usize, usize),
    Truncate(usize),
    InsertToken(usize, &'static str),
}

fn apply(seed: &[u8], muts: &[Mutation]) -> Vec<u8> {
    let mut b = seed.to_vec();
    for m in muts {
        let len = b.len().max(1);
        match *m {
            Mutation::Flip(i, x) => {
                if !b.is_empty() {
                    let i = i % b.len();
                    b[i] ^= x | 1;
                }
            }
            Mutation::Insert(i, x) => b.insert(i % (b.len() + 1), x),
            Mutation::Delete(i, n) => {
                let i = i % len;
                let end = (i + n % 16).min(b.len());
                if i < end {
                    b.drain(i..end);
                }
            }
            Mutation::Truncate(i) => b.truncate(i % len),
            Mutation::InsertToken(i, t) => {
                let i = i % (b.len() + 1);
                b.splice(i..i, t.bytes());
            }
        }
    }
    b
}

const TOKENS: &[&str] = &[
    "null",
    "true",
    "\"",
    "{",
    "}",
    "[",
    "]",
    ",",
    ":",
    "-",
    "1e999",
    "99999999999999999999999",
    "\"\\ud800\"",
    "\"\\u0000\"",
    "\"-_==\"",
    "\"s\"",
    "{}",
    "[]",
    "0.5",
    "\"1.5s\"",
];

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(i, x)| Mutation::Flip(i, x)),
        (any::<usize>(), any::<u8>()).prop_map(|(i, x)| Mutation::Insert(i, x)),
        (any::<usize>(), any::<usize>()).prop_map(|(i, n)| Mutation::Delete(i, n)),
        any::<usize>().prop_map(Mutation::Truncate),
        (any::<usize>(), prop::sample::select(TOKENS))
            .prop_map(|(i, t)| Mutation::InsertToken(i, t)),
    ]
}

/// Arbitrary JSON values (small), including the awkward ones.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<u64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|f| json!(f)),
        ".{0,12}".prop_map(Value::String),
        "[A-Za-z0-9+/=_-]{0,12}".prop_map(Value::String),
        "[0-9]{1,40}".prop_map(Value::String),
        "-?[0-9]{0,4}(\\.[0-9]{0,12})?s?".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-zA-Z_]{1,10}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Paths into a message where the decoder expects specific types.
const PATHS: &[&[&str]] = &[
    &["setupComplete"],
    &["setupComplete", "sessionId"],
    &["serverContent"],
    &["serverContent", "modelTurn"],
    &["serverContent", "modelTurn", "parts"],
    &[
        "serverContent",
        "modelTurn",
        "parts",
        "0",
        "inlineData",
        "data",
    ],
    &[
        "serverContent",
        "modelTurn",
        "parts",
        "0",
        "inlineData",
        "mimeType",
    ],
    &["serverContent", "modelTurn", "parts", "0", "text"],
    &[
        "serverContent",
        "modelTurn",
        "parts",
        "0",
        "thoughtSignature",
    ],
    &["serverContent", "turnComplete"],
    &["serverContent", "turnCompleteReason"],
    &["serverContent", "inputTranscription", "startOffset"],
    &["serverContent", "outputTranscription", "text"],
    &["toolCall", "functionCalls"],
    &["toolCall", "functionCalls", "0", "args"],
    &["toolCall", "functionCalls", "0", "id"],
    &["toolCallCancellation", "ids"],
    &["goAway", "timeLeft"],
    &["sessionResumptionUpdate", "lastConsumedClientMessageIndex"],
    &["sessionResumptionUpdate", "resumable"],
    &["voiceActivity", "type"],
    &["voiceActivity", "audioOffset"],
    &["usageMetadata"],
    &["usageMetadata", "totalTokenCount"],
    &[
        "usageMetadata",
        "candidatesTokensDetails",
        "0",
        "tokenCount",
    ],
    &["setup", "model"],
    &["setup", "contextWindowCompression", "triggerTokens"],
    &["setup", "generationConfig", "temperature"],
    &[
        "setup",
        "tools",
        "0",
        "functionDeclarations",
        "0",
        "behavior",
    ],
    &["realtimeInput", "audio", "data"],
    &["realtimeInput", "mediaChunks"],
    &["realtimeInput", "activityStart"],
    &["toolResponse", "functionResponses", "0", "scheduling"],
    &["toolResponse", "functionResponses", "0", "response"],
    &["client_content", "turns", "0", "parts"],
];

fn place(path: &[&str], value: Value) -> Value {
    match path.split_first() {
        None => value,
        Some((head, rest)) => {
            if let Ok(i) = head.parse::<usize>() {
                let mut arr = vec![json!({}); i];
                arr.push(place(rest, value));
                Value::Array(arr)
            } else {
                let mut m = serde_json::Map::new();
                m.insert((*head).to_string(), place(rest, value));
                Value::Object(m)
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 10_000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn mutated_real_frames_never_panic(
        pick in any::<prop::sample::Index>(),
        muts in prop::collection::vec(mutation(), 0..6),
    ) {
        let seeds = seeds();
        let seed = &seeds[pick.index(seeds.len())];
        exercise(&apply(seed, &muts));
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2_000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        exercise(&bytes);
    }

    #[test]
    fn wrong_types_at_known_paths_never_panic(
        path in prop::sample::select(PATHS),
        value in json_value(),
    ) {
        let text = serde_json::to_vec(&place(path, value)).unwrap();
        exercise(&text);
    }

    #[test]
    fn truncated_frames_are_errors(pick in any::<prop::sample::Index>(), cut in any::<prop::sample::Index>()) {
        let seeds = seeds();
        let seed = &seeds[pick.index(seeds.len())];
        // Cutting anywhere before the closing brace leaves invalid JSON.
        let end = seed.iter().rposition(|&b| b == b'}').unwrap();
        let cut = cut.index(end.max(1));
        prop_assert!(decode_server(&seed[..cut]).is_err());
        prop_assert!(decode_client(&seed[..cut]).is_err());
    }
}

#[test]
fn deep_nesting_is_an_error() {
    for text in [
        "[".repeat(100_000),
        "{\"a\":".repeat(100_000),
        format!(
            "{{\"toolCall\":{{\"functionCalls\":[{{\"args\":{}}}]}}}}",
            "[".repeat(100_000)
        ),
        format!("{{\"unknownKind\":{}}}", "[".repeat(100_000)),
        format!(
            "{{\"unknownKind\":{}1{}}}",
            "[".repeat(200),
            "]".repeat(200)
        ),
    ] {
        assert!(decode_server(text.as_bytes()).is_err());
        assert!(decode_client(text.as_bytes()).is_err());
    }
    // Within the limit, nesting is fine.
    let ok = format!(
        "{{\"unknownKind\":{}1{}}}",
        "[".repeat(100),
        "]".repeat(100)
    );
    assert!(matches!(
        decode_server(ok.as_bytes()).unwrap().payload,
        ServerPayload::Unknown(_)
    ));
}

#[test]
fn huge_numbers_and_invalid_base64() {
    for text in [
        r#"{"sessionResumptionUpdate":{"lastConsumedClientMessageIndex":99999999999999999999999999}}"#,
        r#"{"sessionResumptionUpdate":{"lastConsumedClientMessageIndex":"99999999999999999999999999"}}"#,
        r#"{"usageMetadata":{"totalTokenCount":1e999}}"#,
        r#"{"usageMetadata":{"totalTokenCount":4294967296}}"#,
        r#"{"goAway":{"timeLeft":"99999999999999999999999s"}}"#,
        r#"{"serverContent":{"modelTurn":{"parts":[{"inlineData":{"mimeType":"audio/pcm","data":"A"}}]}}}"#,
        r#"{"serverContent":{"modelTurn":{"parts":[{"inlineData":{"mimeType":"audio/pcm","data":"%%%%"}}]}}}"#,
        r#"{"serverContent":{"modelTurn":{"parts":[{"inlineData":{"mimeType":"audio/pcm","data":"AA+_"}}]}}}"#,
    ] {
        assert!(decode_server(text.as_bytes()).is_err(), "{text}");
    }
    // Big but in range, and a large goAway, decode.
    let m = decode_server(
        br#"{"sessionResumptionUpdate":{"lastConsumedClientMessageIndex":"9223372036854775807"}}"#,
    )
    .unwrap();
    assert_eq!(m.kind(), "sessionResumptionUpdate");
    assert!(decode_server(br#"{"goAway":{"timeLeft":"18446744073709551615s"}}"#).is_ok());
}

#[test]
fn ten_megabyte_frames() {
    use base64::Engine as _;
    // A valid 10 MB audio frame decodes...
    let pcm = vec![0x5au8; 7_500_000];
    let b64 = base64::engine::general_purpose::STANDARD.encode(&pcm);
    let frame = format!(
        r#"{{"serverContent":{{"modelTurn":{{"parts":[{{"inlineData":{{"mimeType":"audio/pcm;rate=24000","data":"{b64}"}}}}]}}}}}}"#
    );
    assert!(frame.len() >= 10_000_000);
    let m = decode_server(frame.as_bytes()).unwrap();
    let chunks: Vec<_> = m.server_content().unwrap().audio_chunks().collect();
    assert_eq!(chunks[0].data.len(), pcm.len());
    // ...and 10 MB of garbage or of an unterminated string is an error.
    let garbage: Vec<u8> = (0..10_000_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    assert!(decode_server(&garbage).is_err());
    let mut unterminated = frame.into_bytes();
    unterminated.truncate(10_000_000);
    assert!(decode_server(&unterminated).is_err());
    assert!(decode_client(&unterminated).is_err());
}
