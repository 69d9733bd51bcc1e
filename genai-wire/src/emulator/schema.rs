//! The table [`validate`](super::validate) applies: every known field of every client
//! message, per proto message and backend.
//!
//! The table is data, `emulator/validation.json` (its `description` says how to read
//! it), compiled in and parsed once on first use into the lookup structures below. The
//! walker that applies it is `validate`. A malformed table (an unknown type name, a name
//! defined twice, too many fields for the walker's bitmask) is a programming error: it
//! panics with the problem on first use, and the unit tests load it, so a bad edit fails
//! `cargo test`.

use std::collections::HashMap;
use std::sync::OnceLock;

use serde::Deserialize;
use serde::de::IgnoredAny;

/// The table, compiled in.
const TABLE: &str = include_str!("../../emulator/validation.json");

/// Which backend has a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Only {
    Both,
    Dev,
    Vertex,
}

/// A proto enum: its name (for error messages) and value names, in proto order.
#[derive(Debug)]
pub(super) struct EnumDef {
    pub name: String,
    pub values: Vec<String>,
}

/// A proto message: its name (for error messages) and known fields.
#[derive(Debug)]
pub(super) struct ObjDef {
    pub name: String,
    pub fields: Vec<Field>,
}

/// One known field: its lowerCamelCase wire name, type, shape, backend and oneof group
/// (0 = not in a oneof).
#[derive(Debug)]
pub(super) struct Field {
    pub name: String,
    pub ty: Ty,
    pub shape: Shape,
    pub only: Only,
    pub oneof: u8,
}

/// How many values a field holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Shape {
    /// One value.
    One,
    /// `repeated`: a JSON list.
    List,
    /// `map<string, T>`: a JSON object with any keys.
    Map,
}

/// The JSON shape one value must have.
#[derive(Debug, Clone, Copy)]
pub(super) enum Ty {
    Str,
    Bool,
    I32,
    I64,
    Float,
    Bytes,
    /// google.protobuf.Duration: a string like "1.5s".
    Duration,
    /// google.protobuf.Timestamp: an RFC 3339 string.
    Timestamp,
    /// An enum of the table (index into [`Schema::enums`]).
    Enum(usize),
    /// A message of the table (index into [`Schema::messages`]).
    Obj(usize),
    /// google.protobuf.Struct: any JSON object.
    Struct,
    /// google.protobuf.Value: any JSON.
    AnyJson,
}

/// The parsed table.
#[derive(Debug)]
pub(super) struct Schema {
    pub enums: Vec<EnumDef>,
    pub messages: Vec<ObjDef>,
    /// The client message (index into `messages`).
    root: usize,
}

impl Schema {
    /// The table, parsed on first use.
    pub fn get() -> &'static Schema {
        static SCHEMA: OnceLock<Schema> = OnceLock::new();
        SCHEMA.get_or_init(|| {
            Schema::parse(TABLE).unwrap_or_else(|e| panic!("emulator/validation.json: {e}"))
        })
    }

    /// `BidiGenerateContentClientMessage`.
    pub fn root(&self) -> &ObjDef {
        &self.messages[self.root]
    }

    fn parse(text: &str) -> Result<Schema, String> {
        let raw: RawTable = serde_json::from_str(text).map_err(|e| e.to_string())?;
        let mut enum_ids = HashMap::new();
        for (i, e) in raw.enums.iter().enumerate() {
            if enum_ids.insert(e.name.as_str(), i).is_some() {
                return Err(format!("enum {:?} defined twice", e.name));
            }
        }
        let mut message_ids = HashMap::new();
        for (i, m) in raw.messages.iter().enumerate() {
            if enum_ids.contains_key(m.name.as_str()) {
                return Err(format!("{:?} is both an enum and a message", m.name));
            }
            if message_ids.insert(m.name.as_str(), i).is_some() {
                return Err(format!("message {:?} defined twice", m.name));
            }
        }
        let type_of = |s: &str| -> Result<(Shape, Ty), String> {
            let (shape, name) = if let Some(t) = s.strip_prefix("repeated ") {
                (Shape::List, t)
            } else if let Some(t) = s
                .strip_prefix("map<string, ")
                .and_then(|t| t.strip_suffix('>'))
            {
                (Shape::Map, t)
            } else {
                (Shape::One, s)
            };
            let ty = match name {
                "string" => Ty::Str,
                "bool" => Ty::Bool,
                "int32" => Ty::I32,
                "int64" => Ty::I64,
                "float" => Ty::Float,
                "bytes" => Ty::Bytes,
                "google.protobuf.Duration" => Ty::Duration,
                "google.protobuf.Timestamp" => Ty::Timestamp,
                "google.protobuf.Struct" => Ty::Struct,
                "google.protobuf.Value" => Ty::AnyJson,
                _ => match (enum_ids.get(name), message_ids.get(name)) {
                    (Some(&i), _) => Ty::Enum(i),
                    (_, Some(&i)) => Ty::Obj(i),
                    _ => return Err(format!("unknown type {s:?}")),
                },
            };
            Ok((shape, ty))
        };
        let mut messages = Vec::with_capacity(raw.messages.len());
        for m in &raw.messages {
            // The walker tracks seen fields in a u64 and oneof groups in a u32.
            if m.fields.len() >= 64 {
                return Err(format!("message {:?} has 64 fields or more", m.name));
            }
            let mut oneofs: Vec<&str> = Vec::new();
            let mut fields: Vec<Field> = Vec::with_capacity(m.fields.len());
            for f in &m.fields {
                if fields.iter().any(|g| g.name == f.name) {
                    return Err(format!("field {:?} of {:?} listed twice", f.name, m.name));
                }
                let (shape, ty) =
                    type_of(&f.ty).map_err(|e| format!("{}.{}: {e}", m.name, f.name))?;
                let only = match f.backends.as_deref() {
                    None => Only::Both,
                    Some(b) => match (
                        b.contains(&RawBackend::Developer),
                        b.contains(&RawBackend::Vertex),
                    ) {
                        (true, true) => Only::Both,
                        (true, false) => Only::Dev,
                        (false, true) => Only::Vertex,
                        (false, false) => {
                            return Err(format!("{}.{}: no backend has it", m.name, f.name));
                        }
                    },
                };
                let oneof = match &f.oneof {
                    None => 0,
                    Some(label) => {
                        let group = match oneofs.iter().position(|o| o == label) {
                            Some(p) => p + 1,
                            None => {
                                oneofs.push(label);
                                oneofs.len()
                            }
                        };
                        if group >= 32 {
                            return Err(format!("message {:?} has 32 oneofs or more", m.name));
                        }
                        group as u8
                    }
                };
                fields.push(Field {
                    name: f.name.clone(),
                    ty,
                    shape,
                    only,
                    oneof,
                });
            }
            messages.push(ObjDef {
                name: m.name.clone(),
                fields,
            });
        }
        let root = *message_ids
            .get(raw.root.as_str())
            .ok_or_else(|| format!("root {:?} is not a message", raw.root))?;
        let enums = raw
            .enums
            .into_iter()
            .map(|e| EnumDef {
                name: e.name,
                values: e.values,
            })
            .collect();
        Ok(Schema {
            enums,
            messages,
            root,
        })
    }
}

// The file's format (see its `description`).

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTable {
    #[serde(rename = "description")]
    _description: IgnoredAny,
    root: String,
    enums: Vec<RawEnum>,
    messages: Vec<RawMessage>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEnum {
    name: String,
    values: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMessage {
    name: String,
    /// Why the list is what it is (sources, what Live rejects); not read.
    #[serde(default, rename = "note")]
    _note: Option<IgnoredAny>,
    fields: Vec<RawField>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawField {
    name: String,
    #[serde(rename = "type")]
    ty: String,
    #[serde(default)]
    backends: Option<Vec<RawBackend>>,
    #[serde(default)]
    oneof: Option<String>,
}

#[derive(Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
enum RawBackend {
    Developer,
    Vertex,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_loads() {
        let s = Schema::get();
        assert_eq!(s.root().name, "BidiGenerateContentClientMessage");
        assert!(s.messages.iter().all(|m| m.fields.len() < 64));
    }

    #[test]
    fn malformed_tables_are_refused() {
        let table = |fields: &str| {
            format!(
                r#"{{"description": "", "root": "M", "enums": [{{"name": "E", "values": ["A"]}}],
                    "messages": [{{"name": "M", "fields": [{fields}]}}]}}"#
            )
        };
        assert!(Schema::parse(&table(r#"{"name": "a", "type": "repeated E"}"#)).is_ok());
        assert!(Schema::parse(&table(r#"{"name": "a", "type": "map<string, M>"}"#)).is_ok());
        for bad in [
            r#"{"name": "a", "type": "Nope"}"#,
            r#"{"name": "a", "type": "string"}, {"name": "a", "type": "bool"}"#,
            r#"{"name": "a", "type": "string", "backends": []}"#,
            r#"{"name": "a", "type": "string", "backends": ["mars"]}"#,
            r#"{"name": "a", "type": "string", "typo": 1}"#,
        ] {
            assert!(Schema::parse(&table(bad)).is_err(), "{bad}");
        }
    }
}
