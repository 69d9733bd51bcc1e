//! What each model refuses, from its [`ModelProfile`] (`profiles/models.json`): the
//! checks the emulator applies on top of strict schema validation ([`super::validate`]).
//!
//! The facts (which behaviors, response fields and thinking forms a model takes) are
//! read from the profile; this module only decides how a refusal looks on the wire:
//! close 1007 with Google's short reason (`Request contains an invalid argument.`: the
//! real service "does not return a field-level error message", as observed)
//! and a [`Violation`](super::Violation) of kind
//! [`ModelProfile`](super::ViolationKind::ModelProfile) whose detail names the cause.
//!
//! Proto3 semantics decide what counts as "sent": a scalar or enum field at its default
//! (`willContinue: false`, `scheduling: SCHEDULING_UNSPECIFIED`, `behavior:
//! UNSPECIFIED`, `thinkingLevel: THINKING_LEVEL_UNSPECIFIED`) or `null` cannot be told
//! from an absent field by the server, so it is never refused; a message field
//! (`thinkingConfig`) and `optional` scalars (`thinkingBudget`) have presence.

use serde_json::{Map, Value};

use super::declarations::declarations;
use super::tools::Behavior;
use super::validate::get;
use crate::profile::{DeclarationSchema, ModelProfile, ThinkingForm};

/// Google's close reason for an argument the model does not take.
pub const INVALID_ARGUMENT: &str = "Request contains an invalid argument.";

/// What a setup's declarations mean for the model: refused (the detail), or accepted
/// with the functions the model will not call (declared with `parametersJsonSchema`
/// on a model that takes only `parameters`).
pub fn check_declarations(
    tools: Option<&Value>,
    profile: &ModelProfile,
) -> Result<Vec<String>, String> {
    let mut text_planned = Vec::new();
    for d in declarations(tools) {
        let name = d.name.unwrap_or("");
        match d.behavior {
            Some(Behavior::NonBlocking) if !profile.accepts_non_blocking => {
                return Err(format!(
                    "function {name:?} declared NON_BLOCKING; {} takes synchronous function calls only",
                    profile.name
                ));
            }
            Some(Behavior::Blocking) if !profile.accepts_blocking => {
                return Err(format!(
                    "function {name:?} declared BLOCKING; {} takes NON_BLOCKING functions only",
                    profile.name
                ));
            }
            _ => {}
        }
        if profile.declaration_schema == DeclarationSchema::Parameters
            && get(d.decl, "parametersJsonSchema").is_some_and(|v| !v.is_null())
        {
            text_planned.push(name.to_string());
        }
    }
    Ok(text_planned)
}

/// Checks `setup.generationConfig.thinkingConfig` against the profile's thinking form.
pub fn check_thinking(setup: &Map<String, Value>, profile: &ModelProfile) -> Result<(), String> {
    let Some(tc) = get(setup, "generationConfig")
        .and_then(Value::as_object)
        .and_then(|g| get(g, "thinkingConfig"))
        .filter(|v| !v.is_null())
    else {
        return Ok(());
    };
    let tc = tc.as_object();
    let has_budget = tc
        .and_then(|t| get(t, "thinkingBudget"))
        .is_some_and(|v| !v.is_null());
    let has_level = tc.and_then(|t| get(t, "thinkingLevel")).is_some_and(|v| {
        !(v.is_null() || v == "THINKING_LEVEL_UNSPECIFIED" || v.as_u64() == Some(0))
    });
    match profile.thinking {
        ThinkingForm::Refused => Err(format!(
            "thinkingConfig sent; {} refuses any thinking configuration",
            profile.name
        )),
        ThinkingForm::Level if has_budget => Err(format!(
            "thinkingBudget sent; {} takes thinkingLevel",
            profile.name
        )),
        ThinkingForm::Budget if has_level => Err(format!(
            "thinkingLevel sent; {} takes thinkingBudget",
            profile.name
        )),
        _ => Ok(()),
    }
}

/// Checks one function response's `willContinue` and `scheduling`.
pub fn check_function_response(fr: &Value, profile: &ModelProfile) -> Result<(), String> {
    let Some(fr) = fr.as_object() else {
        return Ok(());
    };
    let id = get(fr, "id").and_then(Value::as_str).unwrap_or("");
    if !profile.accepts_will_continue
        && get(fr, "willContinue").and_then(Value::as_bool) == Some(true)
    {
        return Err(format!(
            "function response {id:?} with willContinue; {} does not take it",
            profile.name
        ));
    }
    if !profile.accepts_scheduling
        && get(fr, "scheduling").is_some_and(|v| {
            !(v.is_null() || v == "SCHEDULING_UNSPECIFIED" || v.as_u64() == Some(0))
        })
    {
        return Err(format!(
            "function response {id:?} with scheduling; {} does not take it",
            profile.name
        ));
    }
    Ok(())
}

/// `setup.historyConfig.initialHistoryInClientContent`.
pub fn initial_history(setup: &Map<String, Value>) -> bool {
    get(setup, "historyConfig")
        .and_then(Value::as_object)
        .and_then(|h| get(h, "initialHistoryInClientContent"))
        .and_then(Value::as_bool)
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Backend;
    use serde_json::json;

    fn p(model: &str, b: Backend) -> ModelProfile {
        ModelProfile::for_model(model, b)
    }

    #[test]
    fn declarations_follow_the_profile() {
        let dev = Backend::DeveloperApi;
        let nb = json!([{"functionDeclarations": [{"name": "f", "behavior": "NON_BLOCKING"}]}]);
        let b = json!([{"functionDeclarations": [{"name": "f", "behavior": 1}]}]);
        let unspec = json!([{"functionDeclarations": [{"name": "f", "behavior": "UNSPECIFIED"}]}]);
        let l31 = p("gemini-3.1-flash-live-preview", dev);
        let ext = p("gemini-3.8-live-extended-thinking", dev);
        assert!(check_declarations(Some(&nb), &l31).is_err());
        assert!(check_declarations(Some(&b), &l31).is_ok());
        assert!(check_declarations(Some(&b), &ext).is_err());
        assert!(check_declarations(Some(&nb), &ext).is_ok());
        assert!(check_declarations(Some(&unspec), &ext).is_ok());
        let js = json!([{"functionDeclarations": [{"name": "g", "parametersJsonSchema": {"type": "object"}}]}]);
        assert_eq!(check_declarations(Some(&js), &ext).unwrap(), vec!["g"]);
        assert!(
            check_declarations(Some(&js), &p("gemini-3.8-live", dev))
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn thinking_and_responses_follow_the_profile() {
        let dev = Backend::DeveloperApi;
        let s = |tc: Value| {
            json!({"model": "m", "generationConfig": {"thinkingConfig": tc}})
                .as_object()
                .unwrap()
                .clone()
        };
        let l38 = p("gemini-3.8-live", dev);
        let l31 = p("gemini-3.1-flash-live-preview", dev);
        let l25 = p("gemini-live-2.5-flash-preview", dev);
        assert!(check_thinking(&s(json!({})), &l38).is_err());
        assert!(check_thinking(&s(json!({"thinkingBudget": 0})), &l31).is_err());
        assert!(check_thinking(&s(json!({"thinking_level": "LOW"})), &l31).is_ok());
        assert!(check_thinking(&s(json!({"thinkingLevel": "LOW"})), &l25).is_err());
        assert!(check_thinking(&s(json!({"thinkingBudget": 0})), &l25).is_ok());
        let wc = json!({"id": "a", "willContinue": true});
        assert!(check_function_response(&wc, &l31).is_err());
        assert!(check_function_response(&wc, &l38).is_ok());
        assert!(check_function_response(&json!({"id": "a", "willContinue": false}), &l31).is_ok());
        let sch = json!({"id": "a", "scheduling": "SILENT"});
        assert!(check_function_response(&sch, &l31).is_err());
        assert!(check_function_response(&sch, &l25).is_ok());
        assert!(
            check_function_response(
                &json!({"id": "a", "scheduling": "SCHEDULING_UNSPECIFIED"}),
                &l31
            )
            .is_ok()
        );
    }
}
