//! The `Tool` trait, and typed tools built from an async function whose arguments are a
//! serde type: the declaration's schema is generated from that type.

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;

use futures::future::BoxFuture;
use genai_wire::protocol::FunctionDeclaration;
use schemars::JsonSchema;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::context::ToolContext;
use super::schema::parameters_schema;

/// A tool's failure, sent to the model as `{"error": message}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolError(pub String);

impl ToolError {
    /// A failure with this message.
    pub fn new(message: impl fmt::Display) -> Self {
        ToolError(message.to_string())
    }
}

impl fmt::Display for ToolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ToolError {}

/// `?` on I/O inside a tool: the model hears the error's message.
impl From<std::io::Error> for ToolError {
    fn from(e: std::io::Error) -> Self {
        ToolError(e.to_string())
    }
}

/// `?` on JSON inside a tool.
impl From<serde_json::Error> for ToolError {
    fn from(e: serde_json::Error) -> Self {
        ToolError(e.to_string())
    }
}

impl From<String> for ToolError {
    fn from(s: String) -> Self {
        ToolError(s)
    }
}

impl From<&str> for ToolError {
    fn from(s: &str) -> Self {
        ToolError(s.to_owned())
    }
}

/// The future a tool call returns.
pub type ToolFuture = BoxFuture<'static, Result<Value, ToolError>>;

/// A function the model can call.
pub trait Tool: Send + Sync + 'static {
    /// The tool's name, as declared.
    fn name(&self) -> &str;
    /// The declaration sent in setup (name, description, parameters). `behavior` is set by
    /// the session from the tool's execution mode.
    fn declaration(&self) -> FunctionDeclaration;
    /// Runs one call.
    fn call(&self, args: Value, ctx: ToolContext) -> ToolFuture;
    /// Checks the arguments before the call is acked or run: an `Err` answers the model
    /// with that error at once (no "running" ack first). [`tool_fn`] tools check that
    /// the arguments parse into their type; the default accepts anything.
    fn check_args(&self, args: &Value) -> Result<(), String> {
        let _ = args;
        Ok(())
    }
}

/// A typed tool: an async function of `(A, ToolContext)` whose `A` is deserialised from
/// the call's arguments and whose parameter schema is generated from `A`.
pub struct FnTool<A, F> {
    name: String,
    description: String,
    parameters: Option<Value>,
    f: F,
    _args: PhantomData<fn(A)>,
}

/// Builds a typed tool.
///
/// ```
/// use adk_live::prelude::*;
/// use serde::Deserialize;
///
/// #[derive(Deserialize, schemars::JsonSchema)]
/// struct SearchArgs {
///     /// What to search for.
///     query: String,
/// }
///
/// let search = tool_fn("search", "Searches the catalogue", |args: SearchArgs, ctx: ToolContext| async move {
///     ctx.progress(serde_json::json!({"stage": "querying"}));
///     Ok::<_, ToolError>(serde_json::json!({"hits": [format!("{} (1)", args.query)]}))
/// });
/// assert_eq!(search.name(), "search");
/// assert_eq!(search.declaration().parameters.unwrap()["properties"]["query"]["type"], "STRING");
/// ```
pub fn tool_fn<A, R, E, Fut, F>(
    name: impl Into<String>,
    description: impl Into<String>,
    f: F,
) -> FnTool<A, F>
where
    A: DeserializeOwned + JsonSchema + Send + 'static,
    R: Serialize + Send + 'static,
    E: fmt::Display + Send + 'static,
    Fut: Future<Output = Result<R, E>> + Send + 'static,
    F: Fn(A, ToolContext) -> Fut + Send + Sync + 'static,
{
    let schema = parameters_schema::<A>();
    // A unit or empty argument type declares no parameters.
    let parameters = match schema.get("properties").and_then(Value::as_object) {
        Some(p) if !p.is_empty() => Some(schema),
        _ => None,
    };
    FnTool {
        name: name.into(),
        description: description.into(),
        parameters,
        f,
        _args: PhantomData,
    }
}

impl<A, R, E, Fut, F> Tool for FnTool<A, F>
where
    A: DeserializeOwned + JsonSchema + Send + 'static,
    R: Serialize + Send + 'static,
    E: fmt::Display + Send + 'static,
    Fut: Future<Output = Result<R, E>> + Send + 'static,
    F: Fn(A, ToolContext) -> Fut + Send + Sync + 'static,
{
    fn name(&self) -> &str {
        &self.name
    }

    fn declaration(&self) -> FunctionDeclaration {
        FunctionDeclaration {
            name: self.name.clone(),
            description: Some(self.description.clone()),
            parameters: self.parameters.clone(),
            ..Default::default()
        }
    }

    fn check_args(&self, args: &Value) -> Result<(), String> {
        parse_args::<A>(args)
            .map(drop)
            .map_err(|e| format!("invalid arguments for {}: {e}", self.name))
    }

    fn call(&self, args: Value, ctx: ToolContext) -> ToolFuture {
        match parse_args::<A>(&args) {
            Ok(a) => {
                let fut = (self.f)(a, ctx);
                Box::pin(async move {
                    let out = fut.await.map_err(ToolError::new)?;
                    serde_json::to_value(out)
                        .map_err(|e| ToolError::new(format!("result is not JSON: {e}")))
                })
            }
            Err(e) => {
                let name = self.name.clone();
                Box::pin(async move {
                    Err(ToolError::new(format!("invalid arguments for {name}: {e}")))
                })
            }
        }
    }
}

/// The arguments as `A`; `{}` also reads as `A` from null (a tool without parameters).
fn parse_args<A: DeserializeOwned>(args: &Value) -> Result<A, serde_json::Error> {
    serde_json::from_value::<A>(args.clone()).or_else(|e| {
        if args.as_object().is_some_and(|m| m.is_empty()) {
            serde_json::from_value::<A>(Value::Null).map_err(|_| e)
        } else {
            Err(e)
        }
    })
}

impl<A, F> fmt::Debug for FnTool<A, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FnTool")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}
