//! The function declarations of a `setup` or a `contextUpdate`: one walk over
//! `tools[].functionDeclarations[]` that says, for each declaration, its name and the
//! `behavior` it declares. `policy` checks them against the model's profile; `engine`
//! keeps which functions exist and how each behaves.
//!
//! A `behavior` at its proto3 default (`UNSPECIFIED`, `0`) or `null` cannot be told from
//! an absent field by the server: it reads as "not declared", and the profile's default
//! applies (see the module docs of `emulator`).

use serde_json::{Map, Value};

use super::tools::Behavior;
use super::validate::get;

/// One function declaration.
#[derive(Debug, Clone, Copy)]
pub struct Declaration<'a> {
    /// Its `name`, if that is a string.
    pub name: Option<&'a str>,
    /// Its declared `behavior`, if it is not the proto default.
    pub behavior: Option<Behavior>,
    /// The declaration itself.
    pub decl: &'a Map<String, Value>,
}

/// Every function declaration in a `tools` list, in order (entries that are not objects
/// are skipped).
pub fn declarations(tools: Option<&Value>) -> impl Iterator<Item = Declaration<'_>> {
    tools
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_object)
        .flat_map(|tool| {
            get(tool, "functionDeclarations")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
        })
        .filter_map(Value::as_object)
        .map(|decl| Declaration {
            name: get(decl, "name").and_then(Value::as_str),
            behavior: declared_behavior(get(decl, "behavior")),
            decl,
        })
}

/// A declared `behavior` (by name or number), if it is not the proto default.
fn declared_behavior(v: Option<&Value>) -> Option<Behavior> {
    match v? {
        Value::String(s) if s == "BLOCKING" => Some(Behavior::Blocking),
        Value::String(s) if s == "NON_BLOCKING" => Some(Behavior::NonBlocking),
        Value::Number(n) if n.as_u64() == Some(1) => Some(Behavior::Blocking),
        Value::Number(n) if n.as_u64() == Some(2) => Some(Behavior::NonBlocking),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_declaration_with_its_behavior() {
        let tools = json!([
            {"function_declarations": [
                {"name": "a", "behavior": "NON_BLOCKING"},
                {"name": "b", "behavior": 1},
                {"name": "c", "behavior": "UNSPECIFIED"},
                {"behavior": 2},
                "not a declaration"
            ]},
            {"googleSearch": {}},
            {"functionDeclarations": [{"name": "d", "behavior": null}]}
        ]);
        let got: Vec<_> = declarations(Some(&tools))
            .map(|d| (d.name, d.behavior))
            .collect();
        assert_eq!(
            got,
            vec![
                (Some("a"), Some(Behavior::NonBlocking)),
                (Some("b"), Some(Behavior::Blocking)),
                (Some("c"), None),
                (None, Some(Behavior::NonBlocking)),
                (Some("d"), None),
            ]
        );
        assert_eq!(declarations(None).count(), 0);
    }
}
