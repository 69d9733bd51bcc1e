//! The protocol's string enums.
//!
//! The server adds enum values over time, and an unknown value must never make a whole
//! frame undecodable. So every enum here is read case-insensitively (the SDKs send
//! `"when_idle"` as readily as `"WHEN_IDLE"`), and almost all keep an unknown value
//! verbatim in an `Unknown(String)` variant, which is written back unchanged. The two
//! client-only enums with a fixed shape ([`Behavior`], [`FunctionResponseScheduling`])
//! fall back differently: an unknown behavior reads as [`Behavior::Unspecified`], and an
//! unknown scheduling reads as an absent one (see
//! [`FunctionResponse::scheduling`](super::FunctionResponse::scheduling)).

use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

/// Implemented by every wire enum: its canonical wire spelling and a lenient parser.
pub trait WireEnum: Sized {
    /// The canonical wire string (e.g. `"NON_BLOCKING"`).
    fn as_wire(&self) -> &str;
    /// Parses a wire string case-insensitively; `None` when the value is not known (for
    /// enums with an `Unknown` variant this never returns `None`).
    fn from_wire(text: &str) -> Option<Self>;
}

macro_rules! wire_enum {
    (@common $name:ident { $( $variant:ident => $wire:literal ),* } $unknown:expr) => {
        impl $name {
            /// The canonical wire string.
            pub fn as_str(&self) -> &str {
                WireEnum::as_wire(self)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl<'de> Visitor<'de> for V {
                    type Value = $name;
                    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                        f.write_str(concat!("a ", stringify!($name), " string"))
                    }
                    fn visit_str<E: de::Error>(self, v: &str) -> Result<$name, E> {
                        match <$name as WireEnum>::from_wire(v) {
                            Some(x) => Ok(x),
                            None => {
                                let fallback: Option<$name> = ($unknown)(v);
                                fallback.ok_or_else(|| E::unknown_variant(v, &[$($wire),*]))
                            }
                        }
                    }
                }
                d.deserialize_str(V)
            }
        }
    };

    // An enum that keeps unknown values in `Unknown(String)`.
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident => $wire:literal, )*
        }
        unknown
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )*
            /// A value this crate does not know, kept verbatim (and written back as is).
            Unknown(String),
        }

        impl WireEnum for $name {
            fn as_wire(&self) -> &str {
                match self {
                    $( $name::$variant => $wire, )*
                    $name::Unknown(s) => s,
                }
            }
            fn from_wire(text: &str) -> Option<Self> {
                $( if text.eq_ignore_ascii_case($wire) { return Some($name::$variant); } )*
                Some($name::Unknown(text.to_owned()))
            }
        }

        wire_enum!(@common $name { $( $variant => $wire ),* } |_: &str| None);
    };

    // A closed enum; unknown values go to `$fallback` (or fail when it returns None).
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident => $wire:literal, )*
        }
        fallback $fallback:expr
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )*
        }

        impl WireEnum for $name {
            fn as_wire(&self) -> &str {
                match self {
                    $( $name::$variant => $wire, )*
                }
            }
            fn from_wire(text: &str) -> Option<Self> {
                $( if text.eq_ignore_ascii_case($wire) { return Some($name::$variant); } )*
                None
            }
        }

        wire_enum!(@common $name { $( $variant => $wire ),* } $fallback);
    };
}

wire_enum! {
    /// How the model treats a function while it runs (`FunctionDeclaration.behavior`, §6).
    /// An unknown value reads as `Unspecified`.
    #[derive(Default)]
    pub enum Behavior {
        /// The model waits for the response (sequential calls).
        Blocking => "BLOCKING",
        /// The conversation continues while the function runs; the response is folded in
        /// according to its [`FunctionResponseScheduling`].
        NonBlocking => "NON_BLOCKING",
        /// The model's default.
        #[default]
        Unspecified => "UNSPECIFIED",
    }
    fallback |_: &str| Some(Behavior::Unspecified)
}

wire_enum! {
    /// When the model acts on a NON_BLOCKING function's response (§6; default `WHEN_IDLE`).
    pub enum FunctionResponseScheduling {
        /// Add the result to context only; generate nothing now.
        Silent => "SILENT",
        /// Add the result and generate once the current output finishes.
        WhenIdle => "WHEN_IDLE",
        /// Add the result, stop ongoing generation and talk about the result now.
        Interrupt => "INTERRUPT",
    }
    fallback |_: &str| None
}

wire_enum! {
    /// A response or content modality (`responseModalities`, token-count details).
    pub enum Modality {
        /// Text.
        Text => "TEXT",
        /// Audio.
        Audio => "AUDIO",
        /// Image.
        Image => "IMAGE",
        /// Video.
        Video => "VIDEO",
        /// Document (e.g. PDF).
        Document => "DOCUMENT",
        /// Unspecified.
        Unspecified => "MODALITY_UNSPECIFIED",
    }
    unknown
}

wire_enum! {
    /// `generationConfig.mediaResolution`.
    pub enum MediaResolution {
        /// Unspecified.
        Unspecified => "MEDIA_RESOLUTION_UNSPECIFIED",
        /// 64 tokens per image.
        Low => "MEDIA_RESOLUTION_LOW",
        /// 256 tokens per image.
        Medium => "MEDIA_RESOLUTION_MEDIUM",
        /// Zoomed reframing with 256 tokens.
        High => "MEDIA_RESOLUTION_HIGH",
    }
    unknown
}

wire_enum! {
    /// `thinkingConfig.thinkingLevel` (3.x models).
    pub enum ThinkingLevel {
        /// Unspecified.
        Unspecified => "THINKING_LEVEL_UNSPECIFIED",
        /// Minimal thinking.
        Minimal => "MINIMAL",
        /// Low.
        Low => "LOW",
        /// Medium.
        Medium => "MEDIUM",
        /// High.
        High => "HIGH",
    }
    unknown
}

wire_enum! {
    /// `automaticActivityDetection.startOfSpeechSensitivity`.
    pub enum StartSensitivity {
        /// Unspecified (the backend's default).
        Unspecified => "START_SENSITIVITY_UNSPECIFIED",
        /// Detects the start of speech more often.
        High => "START_SENSITIVITY_HIGH",
        /// Detects the start of speech less often.
        Low => "START_SENSITIVITY_LOW",
    }
    unknown
}

wire_enum! {
    /// `automaticActivityDetection.endOfSpeechSensitivity`.
    pub enum EndSensitivity {
        /// Unspecified (the backend's default).
        Unspecified => "END_SENSITIVITY_UNSPECIFIED",
        /// Ends speech more often.
        High => "END_SENSITIVITY_HIGH",
        /// Ends speech less often.
        Low => "END_SENSITIVITY_LOW",
    }
    unknown
}

wire_enum! {
    /// `realtimeInputConfig.activityHandling`.
    pub enum ActivityHandling {
        /// Unspecified (defaults to barge-in).
        Unspecified => "ACTIVITY_HANDLING_UNSPECIFIED",
        /// User activity interrupts the model ("barge-in").
        StartOfActivityInterrupts => "START_OF_ACTIVITY_INTERRUPTS",
        /// The model is not interrupted.
        NoInterruption => "NO_INTERRUPTION",
    }
    unknown
}

wire_enum! {
    /// `realtimeInputConfig.turnCoverage`.
    pub enum TurnCoverage {
        /// Unspecified (model default).
        Unspecified => "TURN_COVERAGE_UNSPECIFIED",
        /// The turn includes only input since the last activity (2.5 default).
        TurnIncludesOnlyActivity => "TURN_INCLUDES_ONLY_ACTIVITY",
        /// The turn includes all realtime input since the last turn.
        TurnIncludesAllInput => "TURN_INCLUDES_ALL_INPUT",
        /// Audio activity plus all video (3.1 / 3.8 default).
        TurnIncludesAudioActivityAndAllVideo => "TURN_INCLUDES_AUDIO_ACTIVITY_AND_ALL_VIDEO",
    }
    unknown
}

wire_enum! {
    /// Why the model's turn completed (`serverContent.turnCompleteReason`).
    pub enum TurnCompleteReason {
        /// Unspecified.
        Unspecified => "TURN_COMPLETE_REASON_UNSPECIFIED",
        /// The model produced a malformed function call.
        MalformedFunctionCall => "MALFORMED_FUNCTION_CALL",
        /// The response was rejected.
        ResponseRejected => "RESPONSE_REJECTED",
        /// The model needs more input.
        NeedMoreInput => "NEED_MORE_INPUT",
        /// The input was blocked for prohibited content.
        ProhibitedInputContent => "PROHIBITED_INPUT_CONTENT",
        /// Generated audio was blocked by safety filters.
        GeneratedAudioSafety => "GENERATED_AUDIO_SAFETY",
        /// Generated content was blocked by safety filters.
        GeneratedContentSafety => "GENERATED_CONTENT_SAFETY",
        /// A blocklist matched.
        Blocklist => "BLOCKLIST",
        /// Regeneration limit reached.
        MaxRegenerationReached => "MAX_REGENERATION_REACHED",
    }
    unknown
}

wire_enum! {
    /// `serverContent.interactionStatus` (newest servers; sent with `turnComplete`).
    pub enum InteractionStatus {
        /// Unspecified.
        Unspecified => "INTERACTION_STATUS_UNSPECIFIED",
        /// The interaction is still going.
        InProgress => "IN_PROGRESS",
        /// The model is idle and waits for input.
        Idle => "IDLE",
        /// Deprecated: the client must act.
        RequiresAction => "REQUIRES_ACTION",
    }
    unknown
}

wire_enum! {
    /// `voiceActivity.type`.
    pub enum VoiceActivityType {
        /// Unspecified.
        Unspecified => "TYPE_UNSPECIFIED",
        /// The user started speaking.
        ActivityStart => "ACTIVITY_START",
        /// The user stopped speaking.
        ActivityEnd => "ACTIVITY_END",
    }
    unknown
}

wire_enum! {
    /// `voiceActivityDetectionSignal.vadSignalType`.
    pub enum VadSignalType {
        /// Unspecified.
        Unspecified => "VAD_SIGNAL_TYPE_UNSPECIFIED",
        /// Start of speech.
        Sos => "VAD_SIGNAL_TYPE_SOS",
        /// End of speech.
        Eos => "VAD_SIGNAL_TYPE_EOS",
    }
    unknown
}

wire_enum! {
    /// Vertex `usageMetadata.trafficType`.
    pub enum TrafficType {
        /// Unspecified.
        Unspecified => "TRAFFIC_TYPE_UNSPECIFIED",
        /// Pay-as-you-go.
        OnDemand => "ON_DEMAND",
        /// Provisioned throughput.
        ProvisionedThroughput => "PROVISIONED_THROUGHPUT",
    }
    unknown
}

wire_enum! {
    /// `executableCode.language`.
    pub enum Language {
        /// Unspecified.
        Unspecified => "LANGUAGE_UNSPECIFIED",
        /// Python.
        Python => "PYTHON",
    }
    unknown
}

wire_enum! {
    /// `codeExecutionResult.outcome`.
    pub enum Outcome {
        /// Unspecified.
        Unspecified => "OUTCOME_UNSPECIFIED",
        /// The code ran successfully.
        Ok => "OUTCOME_OK",
        /// The code failed.
        Failed => "OUTCOME_FAILED",
        /// The code ran too long.
        DeadlineExceeded => "OUTCOME_DEADLINE_EXCEEDED",
    }
    unknown
}

/// `Option<T>` for a closed [`WireEnum`]: an unknown value reads as `None` instead of
/// failing the frame. Use with `#[serde(default, with = "lenient_enum")]`.
pub(crate) mod lenient_enum {
    use super::WireEnum;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<T: WireEnum, S: Serializer>(v: &Option<T>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(x) => s.serialize_str(x.as_wire()),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, T: WireEnum, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<T>, D::Error> {
        let s: Option<std::borrow::Cow<'de, str>> = Option::deserialize(d)?;
        Ok(s.and_then(|s| T::from_wire(&s)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enums_read_leniently_and_write_canonically() {
        let s: FunctionResponseScheduling = serde_json::from_str(r#""when_idle""#).unwrap();
        assert_eq!(s, FunctionResponseScheduling::WhenIdle);
        assert_eq!(serde_json::to_string(&s).unwrap(), r#""WHEN_IDLE""#);
        assert!(serde_json::from_str::<FunctionResponseScheduling>(r#""LATER""#).is_err());
        let b: Behavior = serde_json::from_str(r#""non_blocking""#).unwrap();
        assert_eq!(b, Behavior::NonBlocking);
        let b: Behavior = serde_json::from_str(r#""SOMETIMES""#).unwrap();
        assert_eq!(b, Behavior::Unspecified);
        let m: Modality = serde_json::from_str(r#""SMELL""#).unwrap();
        assert_eq!(m, Modality::Unknown("SMELL".into()));
        assert_eq!(serde_json::to_string(&m).unwrap(), r#""SMELL""#);
        assert_eq!(
            serde_json::from_str::<Modality>(r#""audio""#).unwrap(),
            Modality::Audio
        );
        assert!(serde_json::from_str::<Modality>("3").is_err());
    }
}
