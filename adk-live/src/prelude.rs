//! Everything a voice agent usually needs, in one `use`.

pub use crate::config::{ConversationForm, ReconnectPolicy, SessionConfig};
pub use crate::event::{CancelReason, LiveEvent};
pub use crate::live::{IntoTokenSource, Live, LiveBuilder};
pub use crate::metrics::MetricsSnapshot;
pub use crate::session::LiveHandle;
pub use crate::tools::{
    DefaultResultFormatter, DuplicatePolicy, ResultFormatter, RunningCall, RunningTools, Tool,
    ToolContext, ToolDispatcher, ToolError, ToolOptions, tool_fn,
};
pub use crate::{Error, LiveSessionBuilder, Result};
pub use genai_wire::auth::Credentials;
pub use genai_wire::endpoint::{ApiVersion, Endpoint};
pub use genai_wire::protocol::{FunctionResponseScheduling, Setup};
pub use genai_wire::transport::TransportConfig;
pub use genai_wire::{Backend, Secret};
