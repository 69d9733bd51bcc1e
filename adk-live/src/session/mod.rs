//! A session: the task that owns the socket, the control lane, the handle.
//!
//! `start` wires one together: it dials the first connection and builds the pieces that
//! share the session's life (event queue, metrics, tool tracker, outbox, tool lane), hands
//! the socket to the session task (`task::SessionTask`) and the application ends to the
//! [`LiveHandle`]. The builders only validate; nothing outside this module fills the
//! task's or the handle's fields.

use std::collections::VecDeque;
use std::sync::Arc;

use genai_wire::profile::ModelProfile;
use genai_wire::protocol::Setup;
use genai_wire::transport::Wakes;
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;

use crate::config::{ConversationForm, SessionConfig};
use crate::error::Result;
use crate::event::{EventQueue, LiveEvent};
use crate::metrics::Metrics;
use crate::tools::lane::{ToolLane, WireRules};
use crate::tools::outbox::Outbox;
use crate::tools::{BackgroundToolTracker, ToolDispatcher};
use control::ControlState;
use history::History;
use ledger::Ledger;
use link::Dialer;
use replay::Replay;
use task::SessionTask;

pub(crate) mod control;
mod handle;
pub(crate) mod history;
pub(crate) mod ledger;
pub(crate) mod link;
mod outbound;
mod queue;
pub(crate) mod replay;
pub(crate) mod task;

pub use handle::LiveHandle;

/// How many application messages may wait for the socket before `send` waits.
const APP_QUEUE: usize = 64;

/// Dials and starts a session whose configuration, tools and `setup` (model name
/// normalised, declarations added) are already validated against `profile`.
pub(crate) async fn start(
    config: SessionConfig,
    dispatcher: ToolDispatcher,
    profile: ModelProfile,
    setup: Setup,
) -> Result<LiveHandle> {
    let backend = config.endpoint.backend();
    let dialer = Dialer {
        endpoint: config.endpoint.clone(),
        credentials: config.credentials.clone(),
        transport: config.transport.clone(),
        setup: Dialer::keep(&setup)?,
        resumption: config.resumption,
        transparent: config.transparent_resumption,
        setup_timeout: config.setup_timeout,
    };
    let link = dialer.dial(None, false).await?;

    let metrics = Arc::new(Metrics::default());
    let events = Arc::new(EventQueue::new(
        config.audio_queue,
        config.event_queue,
        metrics.clone(),
    ));
    events.push(LiveEvent::Connected {
        session_id: link.session_id.clone(),
    });
    let tracker = BackgroundToolTracker::new(config.cancel_grace);
    let outbox = Arc::new(Outbox::default());
    let lane = ToolLane::new(
        Arc::new(dispatcher),
        tracker.clone(),
        WireRules::of(&profile),
        outbox.clone(),
        events.clone(),
        metrics.clone(),
        config.llm_task_control,
    );
    let app_lane = lane.clone();
    let (tx, app_rx) = queue::queue(APP_QUEUE);
    let shutdown = CancellationToken::new();
    let session_id = link.session_id.clone();
    let task = SessionTask {
        dialer,
        app_rx,
        outbox,
        shutdown: shutdown.clone(),
        lane,
        events: events.clone(),
        metrics: metrics.clone(),
        reconnect: config.reconnect.clone(),
        goaway_margin: config.goaway_margin,
        write_bound: config.write_bound(),
        state: ControlState {
            ledger: if config.resumption {
                Ledger::default()
            } else {
                Ledger::without_checkpoints()
            },
            history: History::new(config.history_limit),
            idle_signal: profile.idle_signal,
            ..Default::default()
        },
        pending: VecDeque::new(),
        replay: Replay::new(config.transparent_resumption),
        failures: 0,
        conversation: config
            .conversation_form
            .unwrap_or(if profile.mid_session_client_content {
                ConversationForm::ClientContent
            } else {
                ConversationForm::RealtimeText
            }),
        history_seed: profile.history_seed,
        conversation_out: VecDeque::new(),
        seed: None,
        resumption: config.resumption,
        wakes: Wakes::new(task::WAITS),
    }
    .spawn(link);
    Ok(LiveHandle {
        tx,
        events,
        shutdown,
        task: Mutex::new(Some(task)),
        tracker,
        lane: app_lane,
        metrics,
        backend,
        session_id,
    })
}
