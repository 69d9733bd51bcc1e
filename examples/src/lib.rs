//! Shared pieces of the example programs: the demo tools, WAV input and output, the agent
//! server, and choosing where to connect (Developer API, Vertex AI, an explicit endpoint, or the
//! embedded emulator when no credentials are set).

pub mod audio;
pub mod console;
pub mod load;
pub mod server;
pub mod sound;
pub mod target;
pub mod telemetry;
pub mod tools;

/// The Rust blocks of the repository's README.md, compiled as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;

/// The Rust blocks of adk-live's ARCHITECTURE.md, compiled as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../../adk-live/ARCHITECTURE.md")]
pub struct ArchitectureDoctests;

/// The Rust blocks of the examples' README.md, compiled as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ExamplesReadmeDoctests;
