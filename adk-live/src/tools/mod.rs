//! The tool lane: tools, how they run, and the tracker of calls in flight.
//!
//! One `toolCall` travels: session task (decodes it) → the lane (`lane`: acks background calls at
//! once, spawns every call through the tracker) → the outbox →
//! the same session task writes it to the socket.

mod context;
pub(crate) mod dispatcher;
mod formatter;
pub(crate) mod lane;
pub(crate) mod mode;
pub(crate) mod outbox;
pub mod schema;
pub(crate) mod task_control;
mod tool;
mod tracker;

pub use context::ToolContext;
pub use dispatcher::ToolDispatcher;
pub use formatter::{DefaultResultFormatter, ResultFormatter};
pub use mode::{DEFAULT_STANDARD_TIMEOUT, DuplicatePolicy, ToolOptions};
pub use tool::{FnTool, Tool, ToolError, ToolFuture, tool_fn};
pub(crate) use tracker::BackgroundToolTracker;
pub use tracker::{DEFAULT_CANCEL_GRACE, RunningCall, RunningTools};
