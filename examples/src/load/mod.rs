//! The load harness behind `loadtest` (see `BENCHMARKS.md`).
//!
//! * [`client`]: N concurrent adk-live sessions streaming 20 ms audio chunks in real
//!   time, receiving the model's audio, answering a background tool every few seconds;
//! * [`floor`]: the same workload on the same transport with nothing on top, the
//!   baseline adk-live's CPU is compared with;
//! * [`page`]: the same workload through the agent server (pages in this process, the
//!   server and its adk-live sessions in another), to measure what the server adds;
//! * [`server`]: the emulator in its own process with a control port that reports the
//!   server-side figures (tool ack latency, its own memory and CPU);
//! * [`cli`]: the command line of `loadtest` and of `bench/peer`;
//! * [`launch`]: starting that process; [`procfs`]: memory, CPU and fd-limit helpers;
//!   [`stats`]: percentiles; [`report`]: the table and the JSON the comparison reads.

pub mod cli;
pub mod client;
pub mod floor;
pub mod launch;
pub mod page;
pub mod procfs;
pub mod report;
pub mod server;
pub mod stats;
