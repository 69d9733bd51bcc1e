//! Twilio Media Streams messages, as Twilio documents them
//! (twilio.com/docs/voice/media-streams/websocket-messages).
//!
//! Every message is a JSON **text** frame tagged by `event`. `sequenceNumber`,
//! `media.chunk` and `media.timestamp` are documented as strings; a number there is
//! accepted too. `mediaFormat.sampleRate` and `channels` are numbers. Unknown fields are
//! ignored (Twilio adds fields over time); an unknown `event` is an error.
//!
//! ```
//! use adk_live::bridge::twilio::messages::{Inbound, Outbound};
//!
//! let m: Inbound = serde_json::from_str(r#"{"event":"dtmf","streamSid":"MZ1",
//!     "sequenceNumber":"5","dtmf":{"track":"inbound_track","digit":"1"}}"#).unwrap();
//! assert!(matches!(m, Inbound::Dtmf { ref dtmf, .. } if dtmf.digit == "1"));
//! let clear = Outbound::Clear { stream_sid: "MZ1".into() };
//! assert_eq!(clear.to_json(), r#"{"event":"clear","streamSid":"MZ1"}"#);
//! ```

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};

/// A message from Twilio.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "lowercase")]
#[non_exhaustive]
pub enum Inbound {
    /// The first message: the websocket is connected.
    Connected {
        /// `"Call"`.
        protocol: String,
        /// `"1.0.0"`.
        version: String,
    },
    /// The stream's metadata; once, after `connected`.
    #[serde(rename_all = "camelCase")]
    Start {
        /// Its order in the stream.
        #[serde(deserialize_with = "string_or_number")]
        sequence_number: String,
        /// The stream's id.
        stream_sid: String,
        /// The metadata.
        start: Start,
    },
    /// Caller audio.
    #[serde(rename_all = "camelCase")]
    Media {
        /// Its order in the stream.
        #[serde(deserialize_with = "string_or_number")]
        sequence_number: String,
        /// The stream's id.
        stream_sid: String,
        /// The audio.
        media: Media,
    },
    /// A key the caller pressed (bidirectional streams only).
    #[serde(rename_all = "camelCase")]
    Dtmf {
        /// The stream's id.
        stream_sid: String,
        /// Its order in the stream.
        #[serde(deserialize_with = "string_or_number")]
        sequence_number: String,
        /// The key.
        dtmf: Dtmf,
    },
    /// A mark the server sent came back: the audio sent before it was played, or was
    /// cleared.
    #[serde(rename_all = "camelCase")]
    Mark {
        /// Its order in the stream.
        #[serde(deserialize_with = "string_or_number")]
        sequence_number: String,
        /// The stream's id.
        stream_sid: String,
        /// The mark.
        mark: MarkName,
    },
    /// The stream stopped (the call ended).
    #[serde(rename_all = "camelCase")]
    Stop {
        /// Its order in the stream.
        #[serde(deserialize_with = "string_or_number")]
        sequence_number: String,
        /// The stream's id.
        stream_sid: String,
        /// Whose.
        stop: Stop,
    },
}

/// `start`'s metadata.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Start {
    /// The account.
    pub account_sid: String,
    /// The stream.
    pub stream_sid: String,
    /// The call.
    pub call_sid: String,
    /// `inbound` and/or `outbound`.
    #[serde(default)]
    pub tracks: Vec<String>,
    /// The `<Parameter>`s of the TwiML `<Stream>` (how per-call data travels: Twilio drops
    /// query strings from the stream URL).
    #[serde(default)]
    pub custom_parameters: BTreeMap<String, String>,
    /// The audio format (always μ-law, 8 kHz, mono, per the docs).
    pub media_format: MediaFormat,
}

/// `start.mediaFormat`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MediaFormat {
    /// `audio/x-mulaw`.
    pub encoding: String,
    /// 8000.
    pub sample_rate: u32,
    /// 1.
    pub channels: u16,
}

/// `media` from Twilio.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Media {
    /// `inbound` (the caller) or `outbound`.
    pub track: String,
    /// The chunk's number.
    #[serde(deserialize_with = "string_or_number")]
    pub chunk: String,
    /// Milliseconds since the stream started.
    #[serde(deserialize_with = "string_or_number")]
    pub timestamp: String,
    /// Base64 μ-law bytes.
    pub payload: String,
}

/// `dtmf`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dtmf {
    /// `inbound_track`.
    pub track: String,
    /// The key: `0`-`9`, `*`, `#`.
    pub digit: String,
}

/// `mark` (both ways).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MarkName {
    /// The name the server gave it.
    pub name: String,
}

/// `stop`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Stop {
    /// The account.
    pub account_sid: String,
    /// The call.
    pub call_sid: String,
}

/// A message to Twilio (bidirectional streams).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "lowercase")]
#[non_exhaustive]
pub enum Outbound {
    /// Audio to play: base64 μ-law 8 kHz, no file header, any length; Twilio buffers it
    /// and plays in order.
    #[serde(rename_all = "camelCase")]
    Media {
        /// The stream's id.
        stream_sid: String,
        /// The audio.
        media: OutboundMedia,
    },
    /// Comes back (as [`Inbound::Mark`]) once the audio sent before it has played, or at
    /// once when nothing is buffered, or on `clear`.
    #[serde(rename_all = "camelCase")]
    Mark {
        /// The stream's id.
        stream_sid: String,
        /// The mark.
        mark: MarkName,
    },
    /// Empties Twilio's audio buffer; every pending mark comes back.
    #[serde(rename_all = "camelCase")]
    Clear {
        /// The stream's id.
        stream_sid: String,
    },
}

/// `media` to Twilio.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboundMedia {
    /// Base64 μ-law bytes.
    pub payload: String,
}

impl Outbound {
    /// The message as one JSON text frame.
    pub fn to_json(&self) -> String {
        // Strings only: serialization cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }
}

fn string_or_number<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Either {
        S(String),
        N(u64),
    }
    Ok(match Either::deserialize(d)? {
        Either::S(s) => s,
        Either::N(n) => n.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The examples of Twilio's "WebSocket messages" page, field for field.
    #[test]
    fn twilios_documented_examples_parse() {
        let connected: Inbound =
            serde_json::from_str(r#"{"event":"connected","protocol":"Call","version":"1.0.0"}"#)
                .unwrap();
        assert!(matches!(connected, Inbound::Connected { .. }));
        let start: Inbound = serde_json::from_str(
            r#"{"event":"start","sequenceNumber":"1","start":{"accountSid":"AC123","streamSid":"MZ18ad3ab5a668481ce02b83e7395059f0","callSid":"CA123","tracks":["inbound","outbound"],"customParameters":{"FirstName":"Jane","LastName":"Doe","RemoteParty":"Bob"},"mediaFormat":{"encoding":"audio/x-mulaw","sampleRate":8000,"channels":1}},"streamSid":"MZ18ad3ab5a668481ce02b83e7395059f0"}"#,
        )
        .unwrap();
        let Inbound::Start { start, .. } = start else {
            panic!()
        };
        assert_eq!(start.custom_parameters["FirstName"], "Jane");
        assert_eq!(start.media_format.sample_rate, 8000);
        let media: Inbound = serde_json::from_str(
            r#"{"event":"media","sequenceNumber":"3","media":{"track":"outbound","chunk":"1","timestamp":"5","payload":"no+JhoaJjpzSHxAKBgYJDhtEopGKh4aIjZm7JhILBwYIDRg1qZSLh4aIjJagLRUMBwYHDBUqrpaMh4aHi5SlMRcNBwYHCxMmsZiOiIaHipKfOhoOCAYHChEhuZyPiYaHiZCcQx0PCAYHCQ8evJ6QiYaGiY+aTB8QCQYHCQ4cwaCRioaGiI6ZWSIRCQYGCA0Zx6OTioaGiI2YaSYSCgYGCAwXzaeVi4aGh4yWfCkUCwYGCAwVz6qWjIaGh4uVsC0WDAcGBwsUz6yYjYeGh4qTn"},"streamSid":"MZ18ad3ab5a668481ce02b83e7395059f0"}"#,
        )
        .unwrap();
        assert!(matches!(media, Inbound::Media { ref media, .. } if media.track == "outbound"));
        let stop: Inbound = serde_json::from_str(
            r#"{"event":"stop","sequenceNumber":"5","streamSid":"MZ18ad3ab5a668481ce02b83e7395059f0","stop":{"accountSid":"AC123","callSid":"CA123"}}"#,
        )
        .unwrap();
        assert!(matches!(stop, Inbound::Stop { .. }));
        let mark: Inbound = serde_json::from_str(
            r#"{"event":"mark","sequenceNumber":"4","streamSid":"MZ18ad3ab5a668481ce02b83e7395059f0","mark":{"name":"my label"}}"#,
        )
        .unwrap();
        assert!(matches!(mark, Inbound::Mark { ref mark, .. } if mark.name == "my label"));
    }

    #[test]
    fn numbers_where_strings_are_documented_are_accepted_and_unknown_events_are_not() {
        let m: Inbound = serde_json::from_str(
            r#"{"event":"media","sequenceNumber":3,"streamSid":"MZ","media":{"track":"inbound","chunk":1,"timestamp":20,"payload":""},"extra":true}"#,
        )
        .unwrap();
        assert!(matches!(m, Inbound::Media { ref sequence_number, .. } if sequence_number == "3"));
        assert!(serde_json::from_str::<Inbound>(r#"{"event":"launch"}"#).is_err());
    }

    #[test]
    fn outbound_messages_are_exactly_the_documented_shape() {
        let media = Outbound::Media {
            stream_sid: "MZ1".into(),
            media: OutboundMedia {
                payload: "AAE=".into(),
            },
        };
        assert_eq!(
            media.to_json(),
            r#"{"event":"media","streamSid":"MZ1","media":{"payload":"AAE="}}"#
        );
        let mark = Outbound::Mark {
            stream_sid: "MZ1".into(),
            mark: MarkName {
                name: "1:200".into(),
            },
        };
        assert_eq!(
            mark.to_json(),
            r#"{"event":"mark","streamSid":"MZ1","mark":{"name":"1:200"}}"#
        );
    }
}
