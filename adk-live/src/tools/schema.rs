//! JSON Schema (as schemars generates it) to the Live API's `Schema` subset.
//!
//! schemars emits draft 2020-12: `$defs`/`$ref`, `type: ["x","null"]`, `anyOf` with null
//! for `Option`, `additionalProperties`, formats such as `uint8`. The Live API's OpenAPI
//! style `Schema` rejects several of these, and an unknown key in setup closes the socket
//! with 1007, so tool parameters are rewritten to the subset it accepts: upper-case types,
//! references inlined, nullability as `nullable`, unsupported keywords dropped.

use schemars::JsonSchema;
use serde_json::{Map, Value};

/// Keywords of the Live API `Schema` that are kept (besides `type`, handled apart).
const KEPT: &[&str] = &[
    "description",
    "enum",
    "items",
    "properties",
    "required",
    "nullable",
    "anyOf",
    "minItems",
    "maxItems",
    "minimum",
    "maximum",
    "minLength",
    "maxLength",
    "pattern",
    "title",
];

/// Formats the Live API knows; any other `format` is dropped.
const FORMATS: &[&str] = &["int32", "int64", "float", "double", "enum", "date-time"];

/// The Live API parameter schema for `T`.
pub fn parameters_schema<T: JsonSchema>() -> Value {
    let schema = schemars::schema_for!(T);
    to_live_schema(schema.as_value())
}

/// Rewrites a JSON Schema into the Live API `Schema` subset.
pub fn to_live_schema(schema: &Value) -> Value {
    let defs = schema
        .get("$defs")
        .or_else(|| schema.get("definitions"))
        .cloned()
        .unwrap_or(Value::Null);
    convert(schema, &defs, 0)
}

fn resolve<'a>(reference: &str, defs: &'a Value) -> Option<&'a Value> {
    let name = reference.rsplit('/').next()?;
    defs.get(name)
}

fn live_type(t: &str) -> Option<&'static str> {
    Some(match t {
        "object" => "OBJECT",
        "string" => "STRING",
        "integer" => "INTEGER",
        "number" => "NUMBER",
        "boolean" => "BOOLEAN",
        "array" => "ARRAY",
        _ => return None,
    })
}

fn is_null_schema(v: &Value) -> bool {
    v.get("type").and_then(Value::as_str) == Some("null") || v.get("const") == Some(&Value::Null)
}

fn convert(schema: &Value, defs: &Value, depth: usize) -> Value {
    // Recursive types cannot be inlined forever; past this depth, an untyped object.
    if depth > 16 {
        return serde_json::json!({"type": "OBJECT"});
    }
    let Some(obj) = schema.as_object() else {
        // `true` (any value): the closest the subset has is an untyped object.
        return serde_json::json!({"type": "OBJECT"});
    };
    if let Some(target) = obj
        .get("$ref")
        .and_then(Value::as_str)
        .and_then(|r| resolve(r, defs))
    {
        let mut inlined = convert(target, defs, depth + 1);
        if let (Some(desc), Some(out)) = (obj.get("description"), inlined.as_object_mut()) {
            out.insert("description".into(), desc.clone());
        }
        return inlined;
    }
    let mut out = Map::new();
    let mut nullable = false;

    match obj.get("type") {
        Some(Value::String(t)) => {
            if let Some(t) = live_type(t) {
                out.insert("type".into(), t.into());
            }
        }
        Some(Value::Array(types)) => {
            for t in types.iter().filter_map(Value::as_str) {
                if t == "null" {
                    nullable = true;
                } else if let Some(t) = live_type(t) {
                    out.entry("type").or_insert_with(|| t.into());
                }
            }
        }
        _ => {}
    }

    for (key, value) in obj {
        match key.as_str() {
            "properties" => {
                let props = value
                    .as_object()
                    .map(|p| {
                        p.iter()
                            .map(|(k, v)| (k.clone(), convert(v, defs, depth + 1)))
                            .collect::<Map<_, _>>()
                    })
                    .unwrap_or_default();
                out.insert("properties".into(), Value::Object(props));
            }
            "items" => {
                out.insert("items".into(), convert(value, defs, depth + 1));
            }
            "anyOf" | "oneOf" => {
                let variants: Vec<&Value> = value
                    .as_array()
                    .map(|a| a.iter().collect())
                    .unwrap_or_default();
                let (nulls, rest): (Vec<&Value>, Vec<&Value>) =
                    variants.into_iter().partition(|v| is_null_schema(v));
                nullable |= !nulls.is_empty();
                if rest.len() == 1 {
                    // `Option<T>`: T itself, nullable.
                    if let Value::Object(inner) = convert(rest[0], defs, depth + 1) {
                        for (k, v) in inner {
                            out.entry(k).or_insert(v);
                        }
                    }
                } else if !rest.is_empty() {
                    let all_consts = rest
                        .iter()
                        .all(|v| v.get("const").is_some_and(Value::is_string));
                    if all_consts {
                        // A Rust enum of unit variants with docs: a string enum.
                        out.insert("type".into(), "STRING".into());
                        out.insert(
                            "enum".into(),
                            Value::Array(
                                rest.iter()
                                    .filter_map(|v| v.get("const").cloned())
                                    .collect(),
                            ),
                        );
                    } else {
                        out.insert(
                            "anyOf".into(),
                            Value::Array(
                                rest.iter().map(|v| convert(v, defs, depth + 1)).collect(),
                            ),
                        );
                    }
                }
            }
            "const" if !value.is_null() => {
                out.insert("enum".into(), Value::Array(vec![value.clone()]));
                if value.is_string() {
                    out.entry("type").or_insert_with(|| "STRING".into());
                }
            }
            "enum" => {
                let values: Vec<Value> = value
                    .as_array()
                    .map(|a| a.iter().filter(|v| !v.is_null()).cloned().collect())
                    .unwrap_or_default();
                nullable |= value
                    .as_array()
                    .is_some_and(|a| a.iter().any(Value::is_null));
                out.insert("enum".into(), Value::Array(values));
            }
            "format" => {
                if let Some(f) = value.as_str().filter(|f| FORMATS.contains(f)) {
                    out.insert("format".into(), f.into());
                }
            }
            // schemars bounds unsigned integers with `minimum: 0`; keep real numbers only.
            "minimum" | "maximum" if value.is_number() => {
                out.insert(key.clone(), value.clone());
            }
            "minimum" | "maximum" => {}
            "title" => {}
            k if KEPT.contains(&k) && k != "anyOf" => {
                out.insert(key.clone(), value.clone());
            }
            _ => {}
        }
    }
    // `enum` only applies to strings in the subset.
    if out.contains_key("enum") && !out.contains_key("type") {
        out.insert("type".into(), "STRING".into());
    }
    if out.contains_key("properties") && !out.contains_key("type") {
        out.insert("type".into(), "OBJECT".into());
    }
    if nullable {
        out.insert("nullable".into(), true.into());
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use serde_json::json;

    /// Arguments of a search.
    #[derive(Deserialize, JsonSchema)]
    #[allow(dead_code)]
    struct SearchArgs {
        /// What to look for.
        query: String,
        /// How many results.
        limit: Option<u8>,
        filters: Vec<Filter>,
        sort: Sort,
    }

    #[derive(Deserialize, JsonSchema)]
    #[allow(dead_code)]
    struct Filter {
        field: String,
        value: f64,
    }

    #[derive(Deserialize, JsonSchema)]
    #[allow(dead_code)]
    enum Sort {
        /// Most relevant first.
        Relevance,
        /// Newest first.
        Date,
    }

    fn walk(v: &Value, f: &mut impl FnMut(&str, &Value)) {
        match v {
            Value::Object(m) => {
                for (k, v) in m {
                    f(k, v);
                    walk(v, f);
                }
            }
            Value::Array(a) => a.iter().for_each(|v| walk(v, f)),
            _ => {}
        }
    }

    #[test]
    fn rewrites_to_the_live_subset() {
        let s = parameters_schema::<SearchArgs>();
        assert_eq!(s["type"], "OBJECT");
        assert_eq!(
            s["properties"]["query"],
            json!({"type": "STRING", "description": "What to look for."})
        );
        assert_eq!(s["properties"]["limit"]["type"], "INTEGER");
        assert_eq!(s["properties"]["limit"]["nullable"], true);
        assert_eq!(s["properties"]["filters"]["type"], "ARRAY");
        assert_eq!(
            s["properties"]["filters"]["items"]["properties"]["value"]["type"],
            "NUMBER"
        );
        assert_eq!(s["properties"]["sort"]["type"], "STRING");
        assert_eq!(
            s["properties"]["sort"]["enum"],
            json!(["Relevance", "Date"])
        );
        let mut required: Vec<&str> = s["required"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        required.sort();
        assert_eq!(required, ["filters", "query", "sort"]);
        walk(&s, &mut |k, v| {
            assert!(!k.starts_with('$'), "{k} left in {s}");
            assert_ne!(k, "additionalProperties");
            if k == "format" {
                assert!(FORMATS.contains(&v.as_str().unwrap()), "format {v}");
            }
            if k == "type" {
                assert!(
                    v.as_str()
                        .is_some_and(|t| t.chars().all(|c| c.is_ascii_uppercase())),
                    "type {v}"
                );
            }
        });
    }

    #[test]
    fn recursive_types_terminate() {
        #[derive(Deserialize, JsonSchema)]
        #[allow(dead_code)]
        struct Node {
            children: Vec<Node>,
        }
        let s = parameters_schema::<Node>();
        assert_eq!(s["type"], "OBJECT");
    }
}
