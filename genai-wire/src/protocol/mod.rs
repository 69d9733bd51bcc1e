//! Serde types for every Live API message, and the functions that turn frames into
//! them and back.
//!
//! Why it looks the way it does:
//!
//! * **Decoding is forgiving.** The server speaks proto3 JSON and keeps adding fields
//!   and enum values; the official Python SDK sends snake_case keys and URL-safe base64.
//!   So every decoder accepts camelCase *and* snake_case keys at every level, int64 as a
//!   number or a string, durations as `"1.5s"`, both base64 alphabets (padded or not),
//!   ignores unknown fields, keeps unknown enum values (`Unknown(String)`) and keeps a
//!   whole unknown message kind as raw JSON ([`ServerPayload::Unknown`]). Wrong JSON is
//!   an [`Error::Decode`](crate::Error::Decode), never a panic.
//! * **Encoding is exact.** The server closes the socket (1007) on any field it does not
//!   like, with a reason that says little. So the encoder writes canonical camelCase,
//!   standard base64, int64 as strings, omits absent fields, and
//!   [`encode_client`] refuses fields the chosen backend does not support
//!   ([`Backend::check_client`](crate::Backend::check_client)).
//! * **Structs are plain data** with public fields and `Default`, so callers build them
//!   with struct literals and `..Default::default()`. Exotic, fast-moving objects
//!   (search tools, grounding metadata, JSON schemas) are `serde_json::Value`.
//!
//! Layout: [`content`](Content) types shared by both directions, [`Setup`] and its
//! config, [`ClientMessage`], [`ServerMessage`], the string enums, [`serde_util`] (the
//! proto3 JSON helpers), and [`transcript`] (the `>N {json}` / `<N {json}` log format of
//! recorded sessions and fixtures).

mod client;
mod codec;
mod content;
mod enums;
pub mod serde_util;
mod server;
mod setup;
pub mod transcript;

pub use client::*;
pub use codec::{decode_client, decode_server, encode_audio_input, encode_client, encode_server};
pub use content::*;
pub use enums::*;
pub use server::*;
pub use setup::*;
