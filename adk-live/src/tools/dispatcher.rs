//! The set of tools a session offers, with each tool's execution options.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use genai_wire::profile::{DeclarationSchema, ModelProfile};
use genai_wire::protocol::{Behavior, FunctionDeclaration};

use super::mode::ToolOptions;
use super::tool::Tool;
use crate::error::{Error, Result};

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

    /// Adds a tool (a standard one unless its record says otherwise). Registering a name
    /// again replaces the tool and keeps its record.
    pub fn register(&mut self, tool: impl Tool) -> &mut Self {
        self.register_arc(Arc::new(tool), ToolOptions::new())
    }

    /// Adds a tool with its settings (merged into its record, see [`ToolOptions::merge`]).
    pub fn register_with(&mut self, tool: impl Tool, options: ToolOptions) -> &mut Self {
        self.register_arc(Arc::new(tool), options)
    }

    /// Adds a shared tool with its settings (merged into its record).
    pub fn register_arc(&mut self, tool: Arc<dyn Tool>, options: ToolOptions) -> &mut Self {
        let name = tool.name().to_owned();
        match self.tools.get_mut(&name) {
            Some(r) => {
                r.tool = tool;
                r.options.merge(options);
            }
            None => {
                self.tools
                    .insert(name.clone(), Registered { tool, options });
                self.order.push(name);
            }
        }
        self
    }

    /// Builder form of [`ToolDispatcher::register`].
    pub fn with(mut self, tool: impl Tool) -> Self {
        self.register(tool);
        self
    }

    /// Builder form of [`ToolDispatcher::register_with`].
    pub fn with_options(mut self, tool: impl Tool, options: ToolOptions) -> Self {
        self.register_with(tool, options);
        self
    }

    /// Merges `options` into the record of the registered tool `name`. Fails with the
    /// registered names when there is no such tool (a misspelt name never passes
    /// silently).
    pub fn configure(&mut self, name: &str, options: ToolOptions) -> Result<()> {
        match self.tools.get_mut(name) {
            Some(r) => {
                r.options.merge(options);
                Ok(())
            }
            None => Err(Error::Config(format!(
                "no tool named `{name}` is registered (registered: {})",
                self.name_list()
            ))),
        }
    }

    fn name_list(&self) -> String {
        if self.order.is_empty() {
            return "none".into();
        }
        self.order
            .iter()
            .map(|n| format!("`{n}`"))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Refuses a record that contradicts itself (a standard tool with a formatter or a
    /// scheduling).
    pub(crate) fn validate(&self) -> Result<()> {
        for name in &self.order {
            if let Some(what) = self.tools[name].options.conflict() {
                return Err(Error::Config(format!(
                    "tool `{name}` is marked standard but has {what}, which only background \
                     tools have"
                )));
            }
        }
        Ok(())
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
                d.behavior = declared_behavior(r.options.is_background(), profile);
                Ok(d)
            })
            .collect()
    }
}

/// The `behavior` a declaration states on this model (see
/// [`ToolDispatcher::declarations`]): `None` where the model's default already fits.
pub(crate) fn declared_behavior(background: bool, profile: &ModelProfile) -> Option<Behavior> {
    let wanted = if background || !profile.accepts_blocking {
        Behavior::NonBlocking
    } else {
        Behavior::Blocking
    };
    match wanted {
        Behavior::NonBlocking if !profile.accepts_non_blocking => None,
        w if w == profile.default_behavior && !background => None,
        w => Some(w),
    }
}

impl fmt::Debug for ToolDispatcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut m = f.debug_map();
        for n in &self.order {
            m.entry(n, &self.tools[n].options);
        }
        m.finish()
    }
}
