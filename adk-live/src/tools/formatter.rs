//! What the model reads about a background call at each stage of its life.
//!
//! A background call answers the model several times on one id: a "running" ack at once,
//! then the result (or error). A formatter decides what those responses say, so a voice
//! agent can phrase "still working" and "done" the way its prompt expects.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use crate::CancelReason;
use serde_json::{Value, json};

/// Builds the `response` object of each function response sent for a background call.
pub trait ResultFormatter: Send + Sync + 'static {
    /// The ack sent as soon as the call starts (Developer API: `willContinue: true`).
    fn format_running(&self, tool: &str, args: &Value) -> Value;
    /// A progress update sent on the same id (Developer API: `willContinue: true`).
    /// Defaults to `{"status":"running","tool":NAME,"progress":VALUE}`.
    fn format_progress(&self, tool: &str, progress: &Value) -> Value {
        json!({"status": "running", "tool": tool, "progress": progress})
    }
    /// The final response for a call that finished: `Ok(result)` or `Err(message)`.
    fn format_result(&self, tool: &str, result: Result<&Value, &str>) -> Value;
    /// A cancelled call. It is the `payload` of every [`LiveEvent::ToolCancelled`], and
    /// the final response the model gets when the application, the model or a replacing
    /// duplicate cancelled a background call (with the tool's cancel scheduling, `SILENT`
    /// unless [`ToolOptions::with_cancel_scheduling`] says otherwise). A call the server
    /// cancelled, or one cut by the end of the session, gets no response: the server has
    /// dropped it.
    ///
    /// [`LiveEvent::ToolCancelled`]: crate::LiveEvent::ToolCancelled
    /// [`ToolOptions::with_cancel_scheduling`]: crate::tools::ToolOptions::with_cancel_scheduling
    fn format_cancelled(&self, tool: &str, call_id: &str, reason: CancelReason) -> Value;
}

/// The formatter used when none is configured.
///
/// * running: `{"status":"running","tool":NAME}`
/// * completed: `{"status":"completed","tool":NAME,"result":RESULT}`
/// * error: `{"status":"error","tool":NAME,"error":MESSAGE}`
/// * cancelled: `{"status":"cancelled","tool":NAME,"call_id":ID,"by":WHO}` (`WHO`:
///   `server`, `application`, `model`, `replacement`, `session_end`)
#[derive(Debug, Clone, Copy, Default)]
pub struct DefaultResultFormatter;

impl ResultFormatter for DefaultResultFormatter {
    fn format_running(&self, tool: &str, _args: &Value) -> Value {
        json!({"status": "running", "tool": tool})
    }

    fn format_result(&self, tool: &str, result: Result<&Value, &str>) -> Value {
        match result {
            Ok(result) => json!({"status": "completed", "tool": tool, "result": result}),
            Err(error) => json!({"status": "error", "tool": tool, "error": error}),
        }
    }

    fn format_cancelled(&self, tool: &str, call_id: &str, reason: CancelReason) -> Value {
        let by = match reason {
            CancelReason::Server => "server",
            CancelReason::Application => "application",
            CancelReason::Model => "model",
            CancelReason::Replaced => "replacement",
            CancelReason::SessionEnded => "session_end",
        };
        json!({"status": "cancelled", "tool": tool, "call_id": call_id, "by": by})
    }
}

/// A user formatter that cannot take the session down: a panic in it is logged and the
/// [`DefaultResultFormatter`]'s response is used instead.
#[derive(Clone)]
pub(crate) struct Guarded(pub(crate) Arc<dyn ResultFormatter>);

impl Guarded {
    fn guard(&self, what: &str, f: impl Fn(&dyn ResultFormatter) -> Value) -> Value {
        match std::panic::catch_unwind(AssertUnwindSafe(|| f(self.0.as_ref()))) {
            Ok(v) => v,
            Err(_) => {
                tracing::error!(what, "result formatter panicked; using the default format");
                f(&DefaultResultFormatter)
            }
        }
    }

    pub(crate) fn running(&self, tool: &str, args: &Value) -> Value {
        self.guard("format_running", |f| f.format_running(tool, args))
    }

    pub(crate) fn progress(&self, tool: &str, progress: &Value) -> Value {
        self.guard("format_progress", |f| f.format_progress(tool, progress))
    }

    pub(crate) fn result(&self, tool: &str, result: Result<&Value, &str>) -> Value {
        self.guard("format_result", |f| f.format_result(tool, result))
    }

    pub(crate) fn cancelled(&self, tool: &str, call_id: &str, reason: CancelReason) -> Value {
        self.guard("format_cancelled", |f| {
            f.format_cancelled(tool, call_id, reason)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_shapes() {
        let f = DefaultResultFormatter;
        assert_eq!(
            f.format_running("search", &json!({})),
            json!({"status":"running","tool":"search"})
        );
        assert_eq!(
            f.format_result("search", Ok(&json!([1, 2]))),
            json!({"status":"completed","tool":"search","result":[1,2]})
        );
        assert_eq!(
            f.format_result("search", Err("boom")),
            json!({"status":"error","tool":"search","error":"boom"})
        );
        assert_eq!(
            f.format_cancelled("search", "fc-1", CancelReason::Application),
            json!({"status":"cancelled","tool":"search","call_id":"fc-1","by":"application"})
        );
    }

    struct Panics;
    impl ResultFormatter for Panics {
        fn format_running(&self, _: &str, _: &Value) -> Value {
            panic!("running")
        }
        fn format_result(&self, _: &str, _: Result<&Value, &str>) -> Value {
            panic!("result")
        }
        fn format_cancelled(&self, _: &str, _: &str, _: CancelReason) -> Value {
            panic!("cancelled")
        }
    }

    #[test]
    fn a_panicking_formatter_falls_back_to_the_default() {
        let g = Guarded(Arc::new(Panics));
        let d = DefaultResultFormatter;
        assert_eq!(
            g.running("t", &json!({})),
            d.format_running("t", &json!({}))
        );
        assert_eq!(g.result("t", Err("e")), d.format_result("t", Err("e")));
        assert_eq!(
            g.cancelled("t", "c", CancelReason::Server),
            d.format_cancelled("t", "c", CancelReason::Server)
        );
    }
}
