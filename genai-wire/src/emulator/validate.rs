//! Strict validation of client messages, the way the real server's proto3 JSON parser
//! does it: an allowlist of known fields per message path.
//!
//! Why a separate schema: the client-side serde types in [`crate::protocol`] are
//! deliberately forgiving (they must accept whatever the server sends), so they cannot
//! tell a client it sent something the service would punish. The real service closes
//! the socket with 1007 for an unknown field at any depth, a field its backend does
//! not have (google-genai `_live_converters.py`), a value of the wrong JSON type, a bad enum name or
//! bad base64. This module walks a [`serde_json::Value`] against the table of known
//! fields (data: `emulator/validation.json`, loaded by `schema`) and reports the first
//! problem with a short reason in Google's words
//! (`Invalid JSON payload received. Unknown name "fooBar" at 'setup': Cannot find
//! field.`).
//!
//! Like the real parser it accepts lowerCamelCase and snake_case keys at every level
//! (so it matches the mixed casing the official Python SDK sends), int64 as numbers or
//! strings, enums by name or number, `null` for unset fields, and both base64
//! alphabets with or without padding. Validation allocates nothing unless it fails.
//!
//! A few rarely used, Vertex-only tool configurations (retrieval, RAG, external search
//! back ends) are accepted as any JSON object without checking their insides.

use std::fmt::Write as _;

use serde_json::{Map, Value};

use crate::Backend;

/// Maximum close-reason length in bytes (websocket limit: 125 minus the 2-byte code).
pub const MAX_REASON: usize = 123;

/// Why a client message was refused: the reason for the 1007 close.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    /// A short human-readable reason, already cut to fit a close frame.
    pub reason: String,
}

impl std::fmt::Display for Invalid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.reason)
    }
}

/// Cuts `s` to at most [`MAX_REASON`] bytes on a char boundary.
pub fn truncate_reason(mut s: String) -> String {
    if s.len() > MAX_REASON {
        let mut end = MAX_REASON;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
    s
}

use super::schema::Ty::*;
use super::schema::{ObjDef, Only, Schema, Shape, Ty};

// ---------------------------------------------------------------------------------------
// Walking
// ---------------------------------------------------------------------------------------

/// Does the wire key `key` name the field whose lowerCamelCase name is `camel`?
/// Accepts the exact camelCase name and its snake_case form (`mime_type`).
pub fn key_is(key: &str, camel: &str) -> bool {
    let (k, c) = (key.as_bytes(), camel.as_bytes());
    let (mut i, mut j) = (0, 0);
    while i < k.len() && j < c.len() {
        if k[i] == b'_'
            && i + 1 < k.len()
            && c[j].is_ascii_uppercase()
            && k[i + 1] == c[j].to_ascii_lowercase()
        {
            i += 2;
            j += 1;
        } else if k[i] == c[j] {
            i += 1;
            j += 1;
        } else {
            return false;
        }
    }
    i == k.len() && j == c.len()
}

/// Looks up a field of a JSON object by its camelCase name, accepting snake_case keys.
pub fn get<'a>(obj: &'a Map<String, Value>, camel: &str) -> Option<&'a Value> {
    obj.iter()
        .find(|(k, _)| key_is(k, camel))
        .map(|(_, v)| v)
        .filter(|v| !v.is_null())
}

#[derive(Debug)]
enum Seg {
    Field(&'static str),
    Index(usize),
    Key(String),
}

#[derive(Debug)]
enum FailKind {
    Unknown(String),
    Duplicate(&'static str),
    Oneof(&'static str),
    /// The value at the path has the wrong type or value; carries the expected type name
    /// and a short rendering of the value.
    BadValue(String, String),
    Base64(String),
    NotRepeated,
    NotObject,
    Empty,
}

struct Fail {
    kind: FailKind,
    /// Path segments, innermost first (pushed while unwinding).
    path: Vec<Seg>,
}

type R = Result<(), Fail>;

fn fail(kind: FailKind) -> Fail {
    Fail {
        kind,
        path: Vec::new(),
    }
}

fn at<T>(r: Result<T, Fail>, seg: impl FnOnce() -> Seg) -> Result<T, Fail> {
    r.map_err(|mut f| {
        f.path.push(seg());
        f
    })
}

fn snake(camel: &str, out: &mut String) {
    for ch in camel.chars() {
        if ch.is_ascii_uppercase() {
            out.push('_');
            out.push(ch.to_ascii_lowercase());
        } else {
            out.push(ch);
        }
    }
}

fn short(v: &Value) -> String {
    let mut s = v.to_string();
    if s.len() > 40 {
        let mut end = 40;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
        s.push_str("...");
    }
    s
}

struct Ctx {
    backend: Backend,
    schema: &'static Schema,
}

impl Ctx {
    fn type_prefix(&self) -> &'static str {
        match self.backend {
            Backend::DeveloperApi => "google.ai.generativelanguage.v1beta",
            Backend::VertexAi => "google.cloud.aiplatform.v1beta1",
        }
    }

    fn has(&self, only: Only) -> bool {
        match only {
            Only::Both => true,
            Only::Dev => self.backend == Backend::DeveloperApi,
            Only::Vertex => self.backend == Backend::VertexAi,
        }
    }

    fn object(&self, def: &'static ObjDef, v: &Value) -> R {
        let Value::Object(map) = v else {
            if v.is_array() {
                return Err(fail(FailKind::NotRepeated));
            }
            return Err(fail(FailKind::BadValue(
                format!("type.googleapis.com/{}.{}", self.type_prefix(), def.name),
                short(v),
            )));
        };
        let mut seen: u64 = 0;
        let mut groups: u32 = 0;
        for (key, val) in map {
            let found = def
                .fields
                .iter()
                .enumerate()
                .find(|(_, f)| key_is(key, &f.name) && self.has(f.only));
            let Some((idx, field)) = found else {
                return Err(fail(FailKind::Unknown(key.clone())));
            };
            if seen & (1 << idx) != 0 {
                return Err(fail(FailKind::Duplicate(&field.name)));
            }
            seen |= 1 << idx;
            if val.is_null() {
                continue;
            }
            if field.oneof != 0 {
                let bit = 1u32 << field.oneof;
                if groups & bit != 0 {
                    return Err(fail(FailKind::Oneof(&field.name)));
                }
                groups |= bit;
            }
            let r = match field.shape {
                Shape::One => self.value(field.ty, val),
                Shape::List => self.list(field.ty, val),
                Shape::Map => self.map(field.ty, val),
            };
            at(r, || Seg::Field(&field.name))?;
        }
        Ok(())
    }

    fn list(&self, ty: Ty, v: &Value) -> R {
        let Value::Array(items) = v else {
            return Err(fail(FailKind::BadValue(
                "repeated field, expected a list".to_string(),
                short(v),
            )));
        };
        for (i, item) in items.iter().enumerate() {
            if item.is_null() {
                return at(
                    Err(fail(FailKind::BadValue("element".into(), "null".into()))),
                    || Seg::Index(i),
                );
            }
            at(self.value(ty, item), || Seg::Index(i))?;
        }
        Ok(())
    }

    fn map(&self, ty: Ty, v: &Value) -> R {
        let Value::Object(map) = v else {
            return Err(fail(FailKind::NotObject));
        };
        for (k, item) in map {
            at(self.value(ty, item), || Seg::Key(k.clone()))?;
        }
        Ok(())
    }

    fn value(&self, ty: Ty, v: &Value) -> R {
        let bad = |name: &str| Err(fail(FailKind::BadValue(name.to_string(), short(v))));
        match ty {
            Str => match v {
                Value::String(_) => Ok(()),
                _ => bad("TYPE_STRING"),
            },
            Bool => match v {
                Value::Bool(_) => Ok(()),
                _ => bad("TYPE_BOOL"),
            },
            I32 | I64 => {
                let name = if matches!(ty, I32) {
                    "TYPE_INT32"
                } else {
                    "TYPE_INT64"
                };
                let ok = match v {
                    Value::Number(n) => {
                        n.is_i64()
                            || n.is_u64()
                            || n.as_f64()
                                .is_some_and(|f| f.fract() == 0.0 && f.abs() < 9.3e18)
                    }
                    Value::String(s) => {
                        let t = s.strip_prefix('-').unwrap_or(s);
                        !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit())
                    }
                    _ => false,
                };
                let in_range = match (ty, v) {
                    (I32, Value::Number(n)) => n.as_i64().is_some_and(|i| i32::try_from(i).is_ok()),
                    (I32, Value::String(s)) => s.parse::<i32>().is_ok(),
                    (_, Value::String(s)) => s.parse::<i64>().is_ok() || s.parse::<u64>().is_ok(),
                    _ => true,
                };
                if ok && in_range { Ok(()) } else { bad(name) }
            }
            Float => match v {
                Value::Number(_) => Ok(()),
                Value::String(s)
                    if s == "NaN"
                        || s == "Infinity"
                        || s == "-Infinity"
                        || s.parse::<f64>().is_ok() =>
                {
                    Ok(())
                }
                _ => bad("TYPE_FLOAT"),
            },
            Bytes => match v {
                Value::String(s) if is_base64(s) => Ok(()),
                Value::String(s) => {
                    let mut shown: String = s.chars().take(16).collect();
                    if s.len() > shown.len() {
                        shown.push_str("...");
                    }
                    Err(fail(FailKind::Base64(shown)))
                }
                _ => bad("TYPE_BYTES"),
            },
            Duration => match v {
                Value::String(s) if is_duration(s) => Ok(()),
                _ => bad("type.googleapis.com/google.protobuf.Duration"),
            },
            Timestamp => match v {
                Value::String(s) if is_timestamp(s) => Ok(()),
                _ => bad("type.googleapis.com/google.protobuf.Timestamp"),
            },
            Enum(id) => {
                let def = &self.schema.enums[id];
                let ok = match v {
                    Value::String(s) => def.values.iter().any(|x| x == s),
                    Value::Number(n) => n.as_u64().is_some_and(|i| (i as usize) < def.values.len()),
                    _ => false,
                };
                if ok {
                    Ok(())
                } else {
                    Err(fail(FailKind::BadValue(
                        format!("type.googleapis.com/{}.{}", self.type_prefix(), def.name),
                        short(v),
                    )))
                }
            }
            Obj(id) => self.object(&self.schema.messages[id], v),
            Struct => match v {
                Value::Object(_) => Ok(()),
                _ => bad("type.googleapis.com/google.protobuf.Struct"),
            },
            AnyJson => Ok(()),
        }
    }
}

/// Is `s` base64 in either alphabet, padded or not? (Checks only; decodes nothing.)
pub fn is_base64(s: &str) -> bool {
    let b = s.as_bytes();
    let body = b.iter().rposition(|&c| c != b'=').map_or(0, |p| p + 1);
    let pad = b.len() - body;
    if pad > 2 || (pad > 0 && !b.len().is_multiple_of(4)) || body % 4 == 1 {
        return false;
    }
    let (mut std, mut url) = (false, false);
    for &c in &b[..body] {
        match c {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' => {}
            b'+' | b'/' => std = true,
            b'-' | b'_' => url = true,
            _ => return false,
        }
    }
    !(std && url)
}

fn is_duration(s: &str) -> bool {
    let Some(num) = s.strip_suffix('s') else {
        return false;
    };
    let num = num.strip_prefix('-').unwrap_or(num);
    let mut parts = num.splitn(2, '.');
    let whole = parts.next().unwrap_or("");
    let frac = parts.next();
    !whole.is_empty()
        && whole.bytes().all(|c| c.is_ascii_digit())
        && frac
            .is_none_or(|f| !f.is_empty() && f.len() <= 9 && f.bytes().all(|c| c.is_ascii_digit()))
}

fn is_timestamp(s: &str) -> bool {
    // 2024-01-02T03:04:05[.frac](Z|+hh:mm)
    let b = s.as_bytes();
    b.len() >= 20
        && b[4] == b'-'
        && b[7] == b'-'
        && (b[10] == b'T' || b[10] == b't')
        && b[13] == b':'
        && b[16] == b':'
        && (s.ends_with('Z')
            || s.ends_with('z')
            || b[b.len() - 6] == b'+'
            || b[b.len() - 6] == b'-')
}

/// Renders a failure the way Google's JSON parser words it.
fn render(f: Fail, backend: Backend) -> String {
    let _ = backend;
    let mut path = String::new();
    for seg in f.path.iter().rev() {
        match seg {
            Seg::Field(name) => {
                if !path.is_empty() {
                    path.push('.');
                }
                snake(name, &mut path);
            }
            Seg::Index(i) => {
                let _ = write!(path, "[{i}]");
            }
            Seg::Key(k) => {
                let _ = write!(path, "[{k:?}]");
            }
        }
    }
    let s = match f.kind {
        FailKind::Unknown(name) if path.is_empty() => {
            format!("Invalid JSON payload received. Unknown name {name:?}: Cannot find field.")
        }
        FailKind::Unknown(name) => format!(
            "Invalid JSON payload received. Unknown name {name:?} at '{path}': Cannot find field."
        ),
        FailKind::Duplicate(name) => {
            let mut n = String::new();
            snake(name, &mut n);
            format!("Invalid JSON payload received. Duplicate field {n:?} at '{path}'.")
        }
        FailKind::Oneof(name) => {
            let mut n = String::new();
            snake(name, &mut n);
            format!(
                "Invalid JSON payload received. Oneof field is already set, cannot set '{n}' at '{path}'."
            )
        }
        FailKind::BadValue(ty, val) => format!("Invalid value at '{path}' ({ty}), {val}"),
        FailKind::Base64(val) => {
            format!("Invalid value at '{path}' (TYPE_BYTES), Base64 decoding failed for {val:?}")
        }
        FailKind::NotRepeated => format!(
            "Invalid JSON payload received. Proto field is not repeating, cannot start list at '{path}'."
        ),
        FailKind::NotObject => {
            format!("Invalid JSON payload received. Expected an object at '{path}'.")
        }
        FailKind::Empty => "Invalid JSON payload received. Message has no content.".to_string(),
    };
    truncate_reason(s)
}

/// Validates one client message (already parsed JSON) strictly for `backend`.
///
/// Returns the 1007 close reason on the first problem. The message must be a JSON object
/// carrying exactly one of `setup`, `clientContent`, `realtimeInput`, `toolResponse` or
/// `contextUpdate`.
pub fn validate_client(v: &Value, backend: Backend) -> Result<(), Invalid> {
    let schema = Schema::get();
    let root = schema.root();
    let ctx = Ctx { backend, schema };
    let result = match v {
        Value::Object(map)
            if map.values().all(Value::is_null)
                && map
                    .keys()
                    .all(|k| root.fields.iter().any(|f| key_is(k, &f.name))) =>
        {
            Err(fail(FailKind::Empty))
        }
        Value::Object(_) => ctx.object(root, v),
        _ => {
            return Err(Invalid {
                reason: "Invalid JSON payload received. Expected a JSON object.".to_string(),
            });
        }
    };
    result.map_err(|f| Invalid {
        reason: render(f, backend),
    })
}

/// Parses and validates a raw frame. A frame that is not UTF-8 JSON gets Google's
/// "Unexpected token" reason.
pub fn parse_and_validate(raw: &[u8], backend: Backend) -> Result<Value, Invalid> {
    let v: Value = serde_json::from_slice(raw).map_err(|e| Invalid {
        reason: truncate_reason(format!(
            "Invalid JSON payload received. Unexpected token. (line {} column {})",
            e.line(),
            e.column()
        )),
    })?;
    validate_client(&v, backend)?;
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const DEV: Backend = Backend::DeveloperApi;
    const VTX: Backend = Backend::VertexAi;

    fn ok(v: Value, b: Backend) {
        if let Err(e) = validate_client(&v, b) {
            panic!("{v} refused: {e}");
        }
    }
    fn bad(v: Value, b: Backend) -> String {
        match validate_client(&v, b) {
            Ok(()) => panic!("{v} accepted"),
            Err(e) => {
                assert!(e.reason.len() <= MAX_REASON);
                e.reason
            }
        }
    }

    #[test]
    fn field_tables_fit_the_bitmask() {
        let schema = Schema::get();
        fn check(schema: &Schema, def: &ObjDef, seen: &mut Vec<String>) {
            if seen.contains(&def.name) {
                return;
            }
            seen.push(def.name.clone());
            assert!(def.fields.len() < 64, "{}", def.name);
            for f in &def.fields {
                if let Obj(d) = f.ty {
                    check(schema, &schema.messages[d], seen);
                }
            }
        }
        check(schema, schema.root(), &mut Vec::new());
    }

    #[test]
    fn key_matching() {
        assert!(key_is("mimeType", "mimeType"));
        assert!(key_is("mime_type", "mimeType"));
        assert!(key_is(
            "automatic_activity_detection",
            "automaticActivityDetection"
        ));
        assert!(!key_is("mime_Type", "mimeType"));
        assert!(!key_is("mimetype", "mimeType"));
        assert!(!key_is("mimeTypes", "mimeType"));
        assert!(key_is("client_content", "clientContent"));
    }

    #[test]
    fn full_setup_example_is_accepted() {
        ok(
            json!({"setup": {
              "model": "models/gemini-2.5-flash-native-audio-preview-12-2025",
              "generationConfig": {
                "responseModalities": ["AUDIO"], "temperature": 0.7, "maxOutputTokens": 1024,
                "mediaResolution": "MEDIA_RESOLUTION_LOW",
                "speechConfig": {"voiceConfig": {"prebuiltVoiceConfig": {"voiceName": "Kore"}}, "languageCode": "en-US"},
                "thinkingConfig": {"thinkingBudget": 0}, "enableAffectiveDialog": true},
              "systemInstruction": {"role": "user", "parts": [{"text": "You are terse."}]},
              "tools": [{"functionDeclarations": [{
                  "name": "get_weather", "description": "Weather for a city", "behavior": "NON_BLOCKING",
                  "parameters": {"type": "OBJECT", "properties": {"city": {"type": "STRING"}}, "required": ["city"]}}]},
                {"googleSearch": {}}],
              "realtimeInputConfig": {
                "automaticActivityDetection": {"disabled": false,
                  "startOfSpeechSensitivity": "START_SENSITIVITY_LOW", "endOfSpeechSensitivity": "END_SENSITIVITY_LOW",
                  "prefixPaddingMs": 20, "silenceDurationMs": 100},
                "activityHandling": "START_OF_ACTIVITY_INTERRUPTS", "turnCoverage": "TURN_INCLUDES_ONLY_ACTIVITY"},
              "sessionResumption": {"handle": "abc"},
              "contextWindowCompression": {"triggerTokens": "25600", "slidingWindow": {"targetTokens": "12800"}},
              "inputAudioTranscription": {}, "outputAudioTranscription": {},
              "proactivity": {"proactiveAudio": true}
            }}),
            DEV,
        );
    }

    #[test]
    fn python_sdk_snake_case_islands_are_accepted() {
        ok(
            json!({"setup": {"model": "models/m",
             "generationConfig": {"responseModalities": ["AUDIO"],
               "speechConfig": {"voice_config": {"prebuilt_voice_config": {"voice_name": "Kore"}}, "language_code": "en-US"}},
             "realtimeInputConfig": {"automatic_activity_detection": {"disabled": false, "start_of_speech_sensitivity": "START_SENSITIVITY_LOW"},
                                     "activity_handling": "START_OF_ACTIVITY_INTERRUPTS", "turn_coverage": "TURN_INCLUDES_ONLY_ACTIVITY"},
             "contextWindowCompression": {"trigger_tokens": 25600, "sliding_window": {"target_tokens": 12800}},
             "proactivity": {"proactive_audio": true}}}),
            DEV,
        );
        ok(
            json!({"realtime_input": {"audio": {"data": "__79_P_-_fw=", "mime_type": "audio/pcm;rate=16000"}}}),
            DEV,
        );
        ok(
            json!({"realtime_input": {"mediaChunks": [{"data": "AAA=", "mime_type": "audio/pcm"}]}}),
            DEV,
        );
        ok(
            json!({"tool_response": {"functionResponses": [{"will_continue": true, "scheduling": "WHEN_IDLE", "id": "fc-1", "name": "f", "response": {"x": 1}}]}}),
            DEV,
        );
        ok(
            json!({"client_content": {"turns": [{"role": "user", "parts": [{"text": "hi"}]}], "turnComplete": true}}),
            DEV,
        );
    }

    #[test]
    fn unknown_fields_are_refused_at_any_depth() {
        assert_eq!(
            bad(json!({"setup": {"model": "models/m", "fooBar": 1}}), DEV),
            "Invalid JSON payload received. Unknown name \"fooBar\" at 'setup': Cannot find field."
        );
        let r = bad(
            json!({"setup": {"model": "m", "generationConfig": {"speechConfig": {"voiceConfig": {"x": 1}}}}}),
            DEV,
        );
        assert!(
            r.contains("at 'setup.generation_config.speech_config.voice_config'"),
            "{r}"
        );
        let r = bad(
            json!({"toolResponse": {"functionResponses": [{"id": "a", "oops": 1}]}}),
            DEV,
        );
        assert!(
            r.contains("at 'tool_response.function_responses[0]'"),
            "{r}"
        );
        bad(json!({"fooBar": {}}), DEV);
        bad(json!({}), DEV);
        bad(json!([]), DEV);
        bad(json!({"setup": null}), DEV);
    }

    #[test]
    fn backend_matrix() {
        let wc = json!({"toolResponse": {"functionResponses": [{"id": "a", "response": {}, "willContinue": true}]}});
        ok(wc.clone(), DEV);
        assert!(bad(wc, VTX).contains("willContinue"));
        let ase = json!({"realtimeInput": {"audioStreamEnd": true}});
        ok(ase.clone(), DEV);
        bad(ase, VTX);
        let tr = json!({"setup": {"model": "m", "sessionResumption": {"transparent": true}}});
        ok(tr.clone(), VTX);
        bad(tr, DEV);
        let vad = json!({"setup": {"model": "m", "explicitVadSignal": true}});
        ok(vad.clone(), VTX);
        bad(vad, DEV);
        let ap = json!({"setup": {"model": "m", "tools": [{"functionDeclarations": [{"name": "f", "parameters": {"type": "OBJECT", "additionalProperties": false}}]}]}});
        bad(ap.clone(), DEV);
        ok(ap, VTX);
    }

    #[test]
    fn malformed_values_are_refused() {
        let r = bad(
            json!({"realtimeInput": {"audio": {"data": "@@@@", "mimeType": "audio/pcm"}}}),
            DEV,
        );
        assert!(r.contains("Base64"), "{r}");
        bad(
            json!({"realtimeInput": {"audio": {"data": "AAA-+A==", "mimeType": "audio/pcm"}}}),
            DEV,
        );
        let r = bad(
            json!({"setup": {"model": "m", "generationConfig": {"temperature": "hot"}}}),
            DEV,
        );
        assert!(
            r.starts_with("Invalid value at 'setup.generation_config.temperature' (TYPE_FLOAT)"),
            "{r}"
        );
        let r = bad(
            json!({"setup": {"model": "m", "generationConfig": {"responseModalities": ["SMELL"]}}}),
            DEV,
        );
        assert!(r.contains("response_modalities[0]"), "{r}");
        bad(json!({"setup": {"model": 5}}), DEV);
        bad(json!({"realtimeInput": {"audioStreamEnd": "yes"}}), DEV);
        bad(
            json!({"setup": {"model": "m", "tools": {"functionDeclarations": []}}}),
            DEV,
        );
        bad(json!({"setup": {"model": ["m"]}}), DEV);
        bad(
            json!({"setup": {"model": "m", "realtimeInputConfig": {"automaticActivityDetection": {"silenceDurationMs": 1.5}}}}),
            DEV,
        );
        bad(
            json!({"toolResponse": {"functionResponses": [{"id": "a", "response": [1]}]}}),
            DEV,
        );
        bad(
            json!({"toolResponse": {"functionResponses": [{"id": "a", "scheduling": "SOON"}]}}),
            DEV,
        );
        ok(
            json!({"toolResponse": {"functionResponses": [{"id": "a", "scheduling": 3}]}}),
            DEV,
        );
    }

    #[test]
    fn duplicates_and_oneofs() {
        bad(
            json!({"realtimeInput": {"audio": {"mimeType": "a", "mime_type": "b"}}}),
            DEV,
        );
        bad(json!({"setup": {"model": "m"}, "clientContent": {}}), DEV);
        bad(
            json!({"clientContent": {"turns": [{"parts": [{"text": "a", "inlineData": {"data": "AA=="}}]}]}}),
            DEV,
        );
        ok(
            json!({"clientContent": {"turns": [{"parts": [{"text": "a", "thought": true}]}]}}),
            DEV,
        );
        ok(json!({"setup": {"model": "m"}, "clientContent": null}), DEV);
    }

    #[test]
    fn base64_checker() {
        for s in [
            "",
            "AA==",
            "AAA=",
            "AAAA",
            "AA",
            "AAA",
            "__79_P_-_fw=",
            "//79/P/+/fw=",
        ] {
            assert!(is_base64(s), "{s}");
        }
        for s in ["A", "AAAAA", "A===", "AA=A", "A A=", "-+AA", "AA=", "é"] {
            assert!(!is_base64(s), "{s}");
        }
    }

    #[test]
    fn reasons_fit_a_close_frame() {
        let long = "x".repeat(500);
        let r = bad(json!({"setup": {"model": "m", long.clone(): 1}}), DEV);
        assert!(r.len() <= MAX_REASON);
        assert!(
            parse_and_validate(b"{not json", DEV)
                .unwrap_err()
                .reason
                .starts_with("Invalid JSON payload")
        );
        assert!(parse_and_validate(&[0xff, 0xfe], DEV).is_err());
    }
}

#[cfg(test)]
mod fuzz {
    use super::*;
    use proptest::prelude::*;

    fn json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<f64>()
                .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
            "[a-zA-Z_=+/-]{0,12}".prop_map(Value::String),
        ];
        leaf.prop_recursive(6, 64, 6, |inner| {
            let key = prop_oneof![
                Just("setup".to_string()),
                Just("model".to_string()),
                Just("realtimeInput".to_string()),
                Just("audio".to_string()),
                Just("data".to_string()),
                Just("tools".to_string()),
                Just("function_declarations".to_string()),
                Just("parameters".to_string()),
                Just("properties".to_string()),
                Just("toolResponse".to_string()),
                Just("functionResponses".to_string()),
                "[a-z_]{1,8}",
            ];
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::btree_map(key, inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn never_panics_and_reasons_fit(v in json(), vertex in any::<bool>()) {
            let b = if vertex { Backend::VertexAi } else { Backend::DeveloperApi };
            if let Err(e) = validate_client(&v, b) {
                prop_assert!(e.reason.len() <= MAX_REASON);
            }
            let text = v.to_string();
            let _ = parse_and_validate(text.as_bytes(), b);
            let _ = parse_and_validate(&text.as_bytes()[..text.len() / 2], b);
        }
    }
}
