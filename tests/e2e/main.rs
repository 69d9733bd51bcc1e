//! End-to-end tests: adk-live against the genai-wire emulator over real websockets on
//! 127.0.0.1. One test binary (one link) for the whole suite.

mod background_tools;
mod cancellation;
mod checkpoints;
mod conformance_capture;
mod entry_points;
mod failures;
mod misbehaving;
mod profiles;
mod raw_server;
mod resilience;
mod scheduling;
mod support;
mod tool_control;
mod vertex_oauth_tls;
