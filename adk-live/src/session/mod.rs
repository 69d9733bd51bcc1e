//! A session: the task that owns the socket, the control lane, the handle.

pub(crate) mod control;
mod handle;
pub(crate) mod history;
pub(crate) mod ledger;
pub(crate) mod link;
pub(crate) mod replay;
pub(crate) mod task;

pub use handle::LiveHandle;
