//! The set of tools a session offers, with each tool's execution options.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use genai_wire::profile::{DeclarationSchema, ModelProfile};
use genai_wire::protocol::{Behavior, FunctionDeclaration};

use super::mode::{ToolExecutionMode, ToolOptions};
use super::tool::Tool;

#[derive(Clone)]
pub(crate) struct Registered {
    pub(crate) tool: Arc<dyn Tool>,
    pub(crate) options: ToolOptions,
}

/// Holds the tools by name and how each runs.
#[derive(Clone, Default)]
pub struct ToolDispatcher {
    tools: HashMap<String, Registered>,
    order: Vec<String>,
}

impl ToolDispatcher {
    /// An empty dispatcher.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) a standard tool.
    pub fn register(&mut self, tool: impl Tool) -> &mut Self {
        self.register_arc(Arc::new(tool), ToolOptions::default())
    }

    /// Adds (or replaces) a tool with options.
    pub fn register_with(&mut self, tool: impl Tool, options: ToolOptions) -> &mut Self {
        self.register_arc(Arc::new(tool), options)
    }

    /// Adds (or replaces) a shared tool with options.
    pub fn register_arc(&mut self, tool: Arc<dyn Tool>, options: ToolOptions) -> &mut Self {
        let name = tool.name().to_owned();
        if self
            .tools
            .insert(name.clone(), Registered { tool, options })
            .is_none()
        {
            self.order.push(name);
        }
        self
    }

    /// Builder form of [`ToolDispatcher::register`].
    pub fn with(mut self, tool: impl Tool) -> Self {
        self.register(tool);
        self
    }

    /// Sets a registered tool's execution mode. Returns false if no such tool.
    pub fn set_mode(&mut self, name: &str, mode: ToolExecutionMode) -> bool {
        match self.tools.get_mut(name) {
            Some(r) => {
                r.options.mode = mode;
                true
            }
            None => false,
        }
    }

    /// Sets a registered tool's options. Returns false if no such tool.
    pub fn set_options(&mut self, name: &str, options: ToolOptions) -> bool {
        match self.tools.get_mut(name) {
            Some(r) => {
                r.options = options;
                true
            }
            None => false,
        }
    }

    /// A tool's options.
    pub fn options(&self, name: &str) -> Option<&ToolOptions> {
        self.tools.get(name).map(|r| &r.options)
    }

    pub(crate) fn get(&self, name: &str) -> Option<&Registered> {
        self.tools.get(name)
    }

    /// The tool names, in registration order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.order.iter().map(String::as_str)
    }

    /// True when no tool is registered.
    pub fn is_empty(&self) -> bool {
        self.tools.is_empty()
    }

    /// The declarations for setup, each stating its `behavior` wherever the model's
    /// default differs from what the tool needs:
    /// * a background tool is `NON_BLOCKING` where the model accepts it; on a
    ///   synchronous-only model (3.1) it is declared without one and runs deferred (an
    ///   immediate final "running" response, the result later as conversation);
    /// * a standard tool is `BLOCKING` where the default is non-blocking (3.8, Vertex);
    ///   where `BLOCKING` is refused (3.8 extended thinking) it is declared `NON_BLOCKING`
    ///   and its result is delivered like a background tool's.
    ///
    /// Fails (refused locally) when a declaration uses a schema form the model takes
    /// badly (`parametersJsonSchema` on 3.8 extended thinking).
    pub fn declarations(&self, profile: &ModelProfile) -> Result<Vec<FunctionDeclaration>, String> {
        self.order
            .iter()
            .filter_map(|n| self.tools.get(n))
            .map(|r| {
                let mut d = r.tool.declaration();
                if profile.declaration_schema == DeclarationSchema::Parameters
                    && d.parameters.is_none()
                    && d.parameters_json_schema.is_some()
                {
                    return Err(format!(
                        "tool `{}` declares `parametersJsonSchema`, which {} plans as text \
                         instead of calling (declare `parameters`)",
                        d.name, profile.name
                    ));
                }
                let wanted = if r.options.mode.is_background() || !profile.accepts_blocking {
                    Behavior::NonBlocking
                } else {
                    Behavior::Blocking
                };
                d.behavior = match wanted {
                    Behavior::NonBlocking if !profile.accepts_non_blocking => None,
                    w if w == profile.default_behavior && !r.options.mode.is_background() => None,
                    w => Some(w),
                };
                Ok(d)
            })
            .collect()
    }
}

impl fmt::Debug for ToolDispatcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut m = f.debug_map();
        for n in &self.order {
            m.entry(n, &self.tools[n].options.mode);
        }
        m.finish()
    }
}
