//! Phone calls through Twilio Media Streams: the messages, and a bridge that runs one call
//! over one Live session ([`TwilioCall`]).
//!
//! A server mounts it on two routes: one that answers Twilio's voice webhook with the
//! TwiML that connects the call ([`twiml`]), and the websocket Twilio opens, whose frames go
//! to [`TwilioCall::run`]. The agent server in `examples/src/server` does both.

mod call;
pub mod messages;

pub use call::{CallConfig, CallEnd, CallEvent, CallStart, TwilioCall, WsFrame};
use genai_wire::protocol::{AutomaticActivityDetection, RealtimeInputConfig, StartSensitivity};

use crate::LiveBuilder;

/// The model phone calls use by default: its profile accepts background tools
/// (`NON_BLOCKING` with `scheduling`); Gemini 3.1 Flash Live does not.
pub const PHONE_MODEL: &str = crate::DEFAULT_MODEL;

/// Settings for phone audio: [`PHONE_MODEL`], and a high start-of-speech sensitivity,
/// because 8 kHz narrowband speech reaches the detector quieter and duller than a
/// microphone's (tau2-bench PR #511 sends phone audio with `START_SENSITIVITY_HIGH`).
/// Call it first; later settings override it.
///
/// ```
/// use adk_live::prelude::*;
/// let builder = adk_live::bridge::twilio::phone_defaults(Live::builder())
///     .instruction("You answer the phone for a restaurant.");
/// # let _ = builder;
/// ```
pub fn phone_defaults(builder: LiveBuilder) -> LiveBuilder {
    builder.model(PHONE_MODEL).setup(|s| {
        let rc = s
            .realtime_input_config
            .get_or_insert_with(RealtimeInputConfig::default);
        let vad = rc
            .automatic_activity_detection
            .get_or_insert_with(AutomaticActivityDetection::default);
        vad.start_of_speech_sensitivity = Some(StartSensitivity::High);
    })
}

/// The TwiML that connects a call to the stream at `stream_url` (a `wss://` URL) with
/// `parameters` as `<Parameter>`s: Twilio drops query strings from the stream URL, so
/// per-call data travels this way and arrives in [`CallStart::custom_parameters`].
///
/// ```
/// let xml = adk_live::bridge::twilio::twiml("wss://example.com/twilio/stream", &[("caller", "+15550100")]);
/// assert!(xml.contains(r#"<Stream url="wss://example.com/twilio/stream">"#));
/// assert!(xml.contains(r#"<Parameter name="caller" value="+15550100"/>"#));
/// ```
pub fn twiml(stream_url: &str, parameters: &[(&str, &str)]) -> String {
    let mut xml = String::from(r#"<?xml version="1.0" encoding="UTF-8"?><Response><Connect>"#);
    xml.push_str(&format!(r#"<Stream url="{}">"#, escape(stream_url)));
    for (name, value) in parameters {
        xml.push_str(&format!(
            r#"<Parameter name="{}" value="{}"/>"#,
            escape(name),
            escape(value)
        ));
    }
    xml.push_str("</Stream></Connect></Response>");
    xml
}

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}
