//! # genai-wire
//!
//! The Gemini Live API (`BidiGenerateContent`) wire protocol, for both backends
//! (the Gemini Developer API and Vertex AI):
//!
//! * [`protocol`]: serde types for every client and server message. Decoding is
//!   forgiving (text or binary frames, camelCase or snake_case, int64 as number or
//!   string, both base64 alphabets, unknown message kinds kept as raw JSON); encoding is
//!   exact (canonical camelCase, standard base64).
//! * [`backend`]: the Developer-API-only and Vertex-only field rules, in one place, so a
//!   field the server would punish with close code 1007 is refused locally with a typed
//!   error instead.
//! * [`endpoint`] and [`auth`]: URLs, headers and credentials (API key, ephemeral
//!   token, Vertex OAuth through yup-oauth2, or any [`auth::TokenSource`]).
//! * [`transport`]: the websocket (tokio-tungstenite over rustls with the aws-lc-rs
//!   provider), split into a writer and a reader, with keepalive and typed close errors.
//! * `emulator` (feature `emulator`, on by default): a local Live API server that
//!   behaves like the real one, for tests, examples and benchmarks.
//!
//! # Features
//! * `emulator` (default): the local Live API server and the `live-emulator` binary.
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod auth;
pub mod backend;
pub mod endpoint;
mod error;
pub mod profile;
pub mod protocol;
pub mod secret;
pub mod transport;

#[cfg(feature = "emulator")]
#[cfg_attr(docsrs, doc(cfg(feature = "emulator")))]
pub mod emulator;

pub use backend::Backend;
pub use error::{CloseInfo, Error, Result};
pub use secret::Secret;
