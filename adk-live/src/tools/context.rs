//! What a running tool call can see and do: its id, its cancellation, its progress channel.

use std::fmt;
use std::sync::{Arc, Mutex};

use genai_wire::protocol::FunctionResponseScheduling;

use serde::Serialize;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

type ProgressFn = Arc<dyn Fn(Value) -> bool + Send + Sync>;

/// Passed to every tool call.
#[derive(Clone)]
pub struct ToolContext {
    call_id: Arc<str>,
    name: Arc<str>,
    cancel: CancellationToken,
    progress: Option<ProgressFn>,
    scheduling: Arc<Mutex<Option<FunctionResponseScheduling>>>,
}

impl ToolContext {
    /// A context for calling a tool outside a session (tests, direct use): progress goes
    /// nowhere and the call is cancelled through `cancel`.
    pub fn new(
        call_id: impl Into<Arc<str>>,
        name: impl Into<Arc<str>>,
        cancel: CancellationToken,
    ) -> Self {
        ToolContext {
            call_id: call_id.into(),
            name: name.into(),
            cancel,
            progress: None,
            scheduling: Arc::default(),
        }
    }

    /// Sends this context's progress to `sink` (it returns whether the update was taken),
    /// so a tool's progress and cancellation can be tested without a session.
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use adk_live::prelude::*;
    /// use tokio_util::sync::CancellationToken;
    ///
    /// let seen = Arc::new(Mutex::new(Vec::new()));
    /// let log = seen.clone();
    /// let cancel = CancellationToken::new();
    /// let ctx = ToolContext::new("call-1", "search", cancel.clone())
    ///     .with_progress(move |v| { log.lock().unwrap().push(v); true });
    /// assert!(ctx.progress(serde_json::json!({"percent": 50})));
    /// cancel.cancel();
    /// assert!(ctx.is_cancelled());
    /// assert_eq!(seen.lock().unwrap().len(), 1);
    /// ```
    pub fn with_progress(mut self, sink: impl Fn(Value) -> bool + Send + Sync + 'static) -> Self {
        self.progress = Some(Arc::new(sink));
        self
    }

    /// The server's id of this call.
    pub fn call_id(&self) -> &str {
        &self.call_id
    }

    /// The tool's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Triggered when the server cancels the call, the session ends or the handle drops.
    /// A tool that ignores it is aborted after the session's grace period.
    pub fn cancellation_token(&self) -> &CancellationToken {
        &self.cancel
    }

    /// True once the call is cancelled.
    pub fn is_cancelled(&self) -> bool {
        self.cancel.is_cancelled()
    }

    /// Completes when the call is cancelled.
    pub async fn cancelled(&self) {
        self.cancel.cancelled().await
    }

    /// Reports progress. For a background tool on the Developer API it is sent to the
    /// model on the call's id with `willContinue: true` (scheduling `SILENT`); on every
    /// backend the application gets a `ToolProgress` event. Returns false when the update
    /// went nowhere (call finished or cancelled, or no session).
    pub fn progress(&self, value: impl Serialize) -> bool {
        let Some(progress) = &self.progress else {
            return false;
        };
        match serde_json::to_value(value) {
            Ok(v) => progress(v),
            Err(_) => false,
        }
    }
}

impl ToolContext {
    /// How the model takes this call's result, instead of the tool's own scheduling: a
    /// background tool can decide when it knows how the call went (google-genai sets
    /// `scheduling` per response too). Ignored for standard calls and where the model
    /// accepts no scheduling.
    ///
    /// ```
    /// use adk_live::prelude::*;
    ///
    /// let book = tool_fn("book_table", "Books a table", |_: serde_json::Value, ctx: ToolContext| async move {
    ///     let booked = false; // ... the booking ...
    ///     if !booked {
    ///         // Bad news cannot wait for the model to fall silent.
    ///         ctx.schedule_result(FunctionResponseScheduling::Interrupt);
    ///         return Err(ToolError::new("no table free at 8 pm"));
    ///     }
    ///     Ok(serde_json::json!({"table": 12}))
    /// });
    /// # let _ = book;
    /// ```
    pub fn schedule_result(&self, scheduling: FunctionResponseScheduling) {
        *self.scheduling.lock().unwrap_or_else(|p| p.into_inner()) = Some(scheduling);
    }

    /// The scheduling the tool chose with [`schedule_result`](Self::schedule_result).
    pub(crate) fn chosen_scheduling(&self) -> Arc<Mutex<Option<FunctionResponseScheduling>>> {
        self.scheduling.clone()
    }
}

impl fmt::Debug for ToolContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ToolContext")
            .field("call_id", &self.call_id)
            .field("name", &self.name)
            .field("cancelled", &self.cancel.is_cancelled())
            .finish()
    }
}
