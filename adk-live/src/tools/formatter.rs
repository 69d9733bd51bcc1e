//! What the model reads about a background call at each stage of its life.
//!
//! A background call answers the model several times on one id: a "running" ack at once,
//! then the result (or error). A formatter decides what those responses say, so a voice
//! agent can phrase "still working" and "done" the way its prompt expects.

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
    /// What the application is told about a call the server cancelled (never sent to the
    /// server: a cancelled id gets no response).
    fn format_cancelled(&self, call_id: &str) -> Value;
}

/// The formatter used when none is configured.
///
/// * running: `{"status":"running","tool":NAME}`
/// * completed: `{"status":"completed","tool":NAME,"result":RESULT}`
/// * error: `{"status":"error","tool":NAME,"error":MESSAGE}`
/// * cancelled: `{"status":"cancelled","call_id":ID}`
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

    fn format_cancelled(&self, call_id: &str) -> Value {
        json!({"status": "cancelled", "call_id": call_id})
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
            f.format_cancelled("fc-1"),
            json!({"status":"cancelled","call_id":"fc-1"})
        );
    }
}
