//! The application's side of a session.

use std::sync::Arc;

use futures::Stream;
use genai_wire::Backend;
use genai_wire::protocol::{
    self, ActivityEnd, ActivityStart, Blob, ClientContent, ClientMessage, Content, Part,
    RealtimeInput,
};
use tokio::sync::Mutex;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::outbound::Outbound;
use crate::error::{Error, Result};
use crate::event::{CancelReason, EventQueue, LiveEvent};
use crate::metrics::{Metrics, MetricsSnapshot};
use crate::tools::lane::ToolLane;
use crate::tools::{BackgroundToolTracker, RunningTools};

/// A running live session: send input, read events, disconnect.
///
/// Dropping the handle ends the session: every running tool call is cancelled and the
/// session task closes the socket and waits for the tool tasks (bounded by the grace
/// period) in the background. [`LiveHandle::disconnect`] does the same and waits for it.
///
/// **Sharing.** Every method takes `&self` and the handle is `Send + Sync`; it is not
/// `Clone`, because its drop ends the session. To use it from several tasks (a
/// microphone task sending audio while another reads events), put it in an `Arc` and
/// drop the last clone (or call `disconnect`) to end the session. Each event is delivered
/// to exactly one reader: read events from one task.
///
/// **When it ends.** A server close, even 1000, replaces the connection and the session
/// goes on ([`LiveEvent::Reconnecting`](crate::LiveEvent::Reconnecting)); the
/// conversation is over when the application calls `disconnect` (or drops the handle),
/// or when [`LiveEvent::Closed`](crate::LiveEvent::Closed) arrives.
pub struct LiveHandle {
    pub(super) tx: super::queue::Sender,
    pub(super) events: Arc<EventQueue>,
    pub(super) shutdown: CancellationToken,
    pub(super) task: Mutex<Option<JoinHandle<()>>>,
    pub(super) tracker: BackgroundToolTracker,
    /// The tool lane, for cancellations the application asks for.
    pub(super) lane: ToolLane,
    pub(super) metrics: Arc<Metrics>,
    pub(super) backend: Backend,
    pub(super) session_id: Option<String>,
}

impl std::fmt::Debug for LiveHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveHandle")
            .field("backend", &self.backend)
            .field("session_id", &self.session_id)
            .field("active_tools", &self.tracker.active_count())
            .finish_non_exhaustive()
    }
}

impl LiveHandle {
    /// Sends any client message (checked against the backend's field rules first).
    pub async fn send(&self, message: ClientMessage) -> Result<()> {
        self.backend.check_client(&message)?;
        self.queue(message.into()).await
    }

    async fn queue(&self, item: Outbound) -> Result<()> {
        self.tx.send(item).await.map_err(|_| Error::SessionEnded)
    }

    /// Streams user audio: PCM16 little-endian mono at 16 kHz.
    pub async fn send_audio(&self, pcm: &[u8]) -> Result<()> {
        self.send_audio_at(pcm, 16_000).await
    }

    /// Streams user audio: PCM16 little-endian mono at `sample_rate` Hz.
    ///
    /// Encoded here, in the caller's task, straight from the samples (the frame
    /// [`send`](Self::send) would write for the same `realtimeInput`): the session task
    /// only writes it.
    pub async fn send_audio_at(&self, pcm: &[u8], sample_rate: u32) -> Result<()> {
        let frame = protocol::encode_audio_input(pcm, sample_rate);
        self.queue(Outbound::Audio(frame.into_boxed_str())).await
    }

    /// Sends a video frame (JPEG or PNG), about one per second.
    pub async fn send_video_frame(&self, mime_type: &str, data: Vec<u8>) -> Result<()> {
        let blob = Blob {
            mime_type: mime_type.to_owned(),
            data,
        };
        self.send(ClientMessage::RealtimeInput(RealtimeInput {
            video: Some(blob),
            ..Default::default()
        }))
        .await
    }

    /// Sends realtime text (`realtimeInput.text`), the way to type into a live session.
    pub async fn send_text(&self, text: impl Into<String>) -> Result<()> {
        self.send(ClientMessage::RealtimeInput(RealtimeInput {
            text: Some(text.into()),
            ..Default::default()
        }))
        .await
    }

    /// Appends turns to the conversation (`clientContent`); `turn_complete` starts
    /// generation.
    pub async fn send_client_content(
        &self,
        turns: Vec<Content>,
        turn_complete: bool,
    ) -> Result<()> {
        self.send(ClientMessage::ClientContent(ClientContent {
            turns,
            turn_complete: Some(turn_complete),
        }))
        .await
    }

    /// A complete user text turn through `clientContent`.
    pub async fn send_user_turn(&self, text: impl Into<String>) -> Result<()> {
        let turn = Content {
            role: Some("user".into()),
            parts: vec![Part {
                text: Some(text.into()),
                ..Default::default()
            }],
        };
        self.send_client_content(vec![turn], true).await
    }

    /// Marks the start of user activity (only with automatic activity detection off).
    pub async fn activity_start(&self) -> Result<()> {
        self.send(ClientMessage::RealtimeInput(RealtimeInput {
            activity_start: Some(ActivityStart {}),
            ..Default::default()
        }))
        .await
    }

    /// Marks the end of user activity (only with automatic activity detection off).
    pub async fn activity_end(&self) -> Result<()> {
        self.send(ClientMessage::RealtimeInput(RealtimeInput {
            activity_end: Some(ActivityEnd {}),
            ..Default::default()
        }))
        .await
    }

    /// Tells the server the microphone stopped (Developer API only).
    pub async fn audio_stream_end(&self) -> Result<()> {
        self.send(ClientMessage::RealtimeInput(RealtimeInput {
            audio_stream_end: Some(true),
            ..Default::default()
        }))
        .await
    }

    /// The next event; `None` after the final [`LiveEvent::Closed`].
    pub async fn next_event(&self) -> Option<LiveEvent> {
        self.events.recv().await
    }

    /// The next event if one is queued.
    pub fn try_next_event(&self) -> Option<LiveEvent> {
        self.events.try_recv()
    }

    /// The events as a stream (ends after [`LiveEvent::Closed`]).
    pub fn events(&self) -> impl Stream<Item = LiveEvent> + '_ {
        futures::stream::unfold(
            self,
            |h| async move { h.next_event().await.map(|e| (e, h)) },
        )
    }

    /// The session's counters.
    pub fn metrics(&self) -> MetricsSnapshot {
        self.metrics.snapshot()
    }

    /// A read-only view of the running tool calls: ids, names, ages, progress. It stays
    /// valid after the handle is dropped (to check that every tool task ended).
    ///
    /// ```no_run
    /// # async fn demo(session: adk_live::LiveHandle) {
    /// for call in session.tools().list() {
    ///     println!("{} `{}` for {:?}: {:?}", call.call_id, call.name, call.elapsed, call.progress);
    /// }
    /// # }
    /// ```
    pub fn tools(&self) -> RunningTools {
        RunningTools(self.tracker.clone())
    }

    /// Cancels one running tool call through the tool lane: its token fires (the task is
    /// aborted after the grace period), the model gets a final response for it (a
    /// background call its formatter's "cancelled", with the tool's cancel scheduling
    /// (`SILENT` unless `ToolOptions::with_cancel_scheduling` says otherwise); a standard call an error, so
    /// a blocking model does not stall), and a `ToolCancelled` event with
    /// [`CancelReason::Application`](crate::CancelReason::Application) follows. Returns
    /// false if no such call was running.
    ///
    /// ```no_run
    /// # async fn demo(session: adk_live::LiveHandle) {
    /// for call in session.tools().list() {
    ///     if call.elapsed > std::time::Duration::from_secs(60) {
    ///         session.cancel_tool(&call.call_id);
    ///     }
    /// }
    /// # }
    /// ```
    pub fn cancel_tool(&self, call_id: &str) -> bool {
        self.lane
            .cancel_answered(&[call_id.to_owned()], CancelReason::Application)
            == 1
    }

    /// Cancels every running tool call, as [`LiveHandle::cancel_tool`] does for one.
    /// Returns how many were running.
    pub fn cancel_all_tools(&self) -> usize {
        self.lane
            .cancel_answered(&self.tracker.active_ids(), CancelReason::Application)
    }

    /// The backend this session talks to.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Vertex's session id, when the server sent one.
    pub fn session_id(&self) -> Option<&str> {
        self.session_id.as_deref()
    }

    /// Ends the session and waits until it has: tool calls cancelled and their tasks
    /// ended, socket closed. Events already queued can still be read afterwards.
    pub async fn disconnect(&self) {
        self.shutdown.cancel();
        if let Some(task) = self.task.lock().await.take() {
            let _ = task.await;
        }
    }

    /// Completes when the session has ended by itself or by [`LiveHandle::disconnect`].
    pub async fn closed(&self) {
        if let Some(task) = self.task.lock().await.take() {
            let _ = task.await;
        }
    }
}

impl Drop for LiveHandle {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}
