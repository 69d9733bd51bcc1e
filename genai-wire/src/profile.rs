//! Model and backend profiles: what each Live model family accepts on the wire.
//!
//! Why a table: the models people deploy differ exactly on the tool lane (2.5 blocks by
//! default on the Developer API, 3.1 is synchronous only, 3.8 is NON_BLOCKING by
//! default, 3.8 extended thinking accepts only NON_BLOCKING and signals idleness with
//! `interactionStatus`), and on Vertex every call is non-blocking by default. Those facts
//! live in one reviewed data file, `profiles/models.json`, with a source for each; the
//! runtime and the emulator both read it, so neither scatters `model.contains(..)`
//! checks. A model no entry matches gets a conservative profile.
//!
//! ```
//! use genai_wire::Backend;
//! use genai_wire::profile::{IdleSignal, ModelProfile};
//! let p = ModelProfile::for_model("models/gemini-3.8-live-extended-thinking", Backend::DeveloperApi);
//! assert_eq!(p.idle_signal, IdleSignal::InteractionStatus);
//! assert!(!p.accepts_blocking);
//! assert!(ModelProfile::for_model("gemini-next", Backend::VertexAi).is_unknown());
//! ```

use std::sync::OnceLock;

use serde::Deserialize;

use crate::Backend;
use crate::protocol::Behavior;

/// The table, compiled in.
const TABLE: &str = include_str!("../profiles/models.json");

/// How the model says it has finished with the user's request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum IdleSignal {
    /// `turnComplete` means idle.
    #[default]
    TurnComplete,
    /// Idle only at `interactionStatus: IDLE` (sent alongside `turnComplete`); the model
    /// may speak several turns for one request while it reasons or waits on tools.
    InteractionStatus,
}

/// Which `thinkingConfig` form the model takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ThinkingForm {
    /// `thinkingBudget` (2.5).
    Budget,
    /// `thinkingLevel` (3.x).
    Level,
    /// Any `thinkingConfig` is refused.
    Refused,
    /// Unknown: nothing is refused locally.
    Any,
}

/// Which declaration schema field to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum DeclarationSchema {
    /// OpenAPI `parameters` only.
    Parameters,
    /// `parameters` or `parametersJsonSchema`.
    Either,
}

/// How a fresh session is seeded with earlier conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum HistorySeed {
    /// `clientContent` turns with `turnComplete: false`, any time (2.5).
    ClientContent,
    /// `setup.historyConfig.initialHistoryInClientContent`, then `clientContent` turns
    /// ending with `turnComplete: true` before any realtime input (3.x).
    InitialHistoryInClientContent,
    /// Not seeded.
    None,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
struct PerBackend {
    developer: bool,
    vertex: bool,
}

/// What one model family accepts, on one backend. Fields are public so a user can
/// override a profile (see `LiveBuilder::profile` in adk-live).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ModelProfile {
    /// The entry's name.
    pub name: String,
    /// What an undeclared `behavior` means.
    pub default_behavior: Behavior,
    /// `behavior: BLOCKING` is accepted.
    pub accepts_blocking: bool,
    /// `behavior: NON_BLOCKING` is accepted.
    pub accepts_non_blocking: bool,
    /// `willContinue` on function responses is accepted.
    pub accepts_will_continue: bool,
    /// `scheduling` on function responses is accepted.
    pub accepts_scheduling: bool,
    /// How idleness is signalled.
    pub idle_signal: IdleSignal,
    /// The `thinkingConfig` form.
    pub thinking: ThinkingForm,
    /// The declaration schema form to use.
    pub declaration_schema: DeclarationSchema,
    /// `clientContent` is accepted mid-session.
    pub mid_session_client_content: bool,
    /// How a fresh session is seeded.
    pub history_seed: HistorySeed,
    /// New user input during an open BLOCKING call makes the server cancel that call
    /// (`toolCallCancellation`), whether or not the input interrupts the model.
    pub cancels_blocking_on_input: bool,
    /// Where the facts come from.
    pub sources: String,
    unknown: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Entry {
    name: String,
    models: Vec<String>,
    backends: Vec<String>,
    default_behavior: Behavior,
    accepts_blocking: bool,
    accepts_non_blocking: bool,
    accepts_will_continue: PerBackend,
    accepts_scheduling: bool,
    idle_signal: IdleSignal,
    thinking: ThinkingForm,
    declaration_schema: DeclarationSchema,
    mid_session_client_content: bool,
    history_seed: HistorySeed,
    #[serde(default)]
    cancels_blocking_on_input: bool,
    sources: String,
}

#[derive(Deserialize)]
struct Table {
    profiles: Vec<Entry>,
    unknown: Entry,
}

fn table() -> &'static Table {
    static PARSED: OnceLock<Table> = OnceLock::new();
    // The file is compiled in and checked by a unit test: it cannot fail at run time.
    PARSED.get_or_init(|| serde_json::from_str(TABLE).expect("profiles/models.json parses"))
}

fn backend_key(backend: Backend) -> &'static str {
    if backend.is_vertex() {
        "vertex"
    } else {
        "developer"
    }
}

impl Entry {
    fn profile(&self, backend: Backend, unknown: bool) -> ModelProfile {
        ModelProfile {
            name: self.name.clone(),
            default_behavior: self.default_behavior,
            accepts_blocking: self.accepts_blocking,
            accepts_non_blocking: self.accepts_non_blocking,
            accepts_will_continue: if backend.is_vertex() {
                self.accepts_will_continue.vertex
            } else {
                self.accepts_will_continue.developer
            },
            accepts_scheduling: self.accepts_scheduling,
            idle_signal: self.idle_signal,
            thinking: self.thinking,
            declaration_schema: self.declaration_schema,
            mid_session_client_content: self.mid_session_client_content,
            history_seed: self.history_seed,
            cancels_blocking_on_input: self.cancels_blocking_on_input,
            sources: self.sources.clone(),
            unknown,
        }
    }
}

impl ModelProfile {
    /// The profile of `model` (with or without a `models/` or Vertex resource prefix) on
    /// `backend`; the conservative one if no entry matches.
    pub fn for_model(model: &str, backend: Backend) -> ModelProfile {
        let id = model.rsplit('/').next().unwrap_or(model);
        let key = backend_key(backend);
        let table = table();
        match table.profiles.iter().find(|e| {
            e.backends.iter().any(|b| b == key) && e.models.iter().any(|m| id.starts_with(m))
        }) {
            Some(e) => e.profile(backend, false),
            None => table.unknown.profile(backend, true),
        }
    }

    /// True when no entry matched the model (the conservative profile).
    pub fn is_unknown(&self) -> bool {
        self.unknown
    }

    /// True when the model answers only synchronously (NON_BLOCKING not accepted).
    pub fn is_sync_only(&self) -> bool {
        !self.accepts_non_blocking
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEV: Backend = Backend::DeveloperApi;
    const VTX: Backend = Backend::VertexAi;

    #[test]
    fn the_table_parses_and_matches_each_family() {
        let ext = ModelProfile::for_model("gemini-3.8-live-extended-thinking", DEV);
        assert_eq!(ext.name, "gemini-3.8-live-extended-thinking");
        assert!(ext.accepts_non_blocking && !ext.accepts_blocking);
        assert_eq!(ext.declaration_schema, DeclarationSchema::Parameters);
        let l38 = ModelProfile::for_model("models/gemini-3.8-live", DEV);
        assert_eq!(l38.default_behavior, Behavior::NonBlocking);
        assert_eq!(l38.thinking, ThinkingForm::Refused);
        assert!(l38.cancels_blocking_on_input);
        assert!(!ext.cancels_blocking_on_input);
        assert!(l38.accepts_will_continue);
        assert!(!ModelProfile::for_model("gemini-3.8-live", VTX).accepts_will_continue);
        let l31 = ModelProfile::for_model("gemini-3.1-flash-live-preview", DEV);
        assert!(l31.is_sync_only() && !l31.mid_session_client_content);
        let dev25 = ModelProfile::for_model("gemini-live-2.5-flash-preview", DEV);
        assert_eq!(dev25.default_behavior, Behavior::Blocking);
        let vtx25 = ModelProfile::for_model(
            "projects/p/locations/us-central1/publishers/google/models/gemini-live-2.5-flash",
            VTX,
        );
        assert_eq!(vtx25.default_behavior, Behavior::NonBlocking);
        let native = ModelProfile::for_model("gemini-2.5-flash-native-audio-preview-12-2025", DEV);
        assert_eq!(native.name, "gemini-2.5 (Developer API)");
        let unknown = ModelProfile::for_model("gemini-9-live", DEV);
        assert!(unknown.is_unknown());
        assert_eq!(unknown.thinking, ThinkingForm::Any);
        for e in &table().profiles {
            assert!(!e.sources.is_empty(), "{} has no source", e.name);
        }
    }
}
