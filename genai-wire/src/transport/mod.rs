//! The websocket: tokio-tungstenite over rustls (aws-lc-rs), byte/text level.
//!
//! Why a layer of its own: dialing (TCP, TLS) is separate from the websocket session
//! ([`handshake`] runs over any `AsyncRead + AsyncWrite`, so tests use
//! `tokio::io::duplex` with paused time), and the Live API's quirks are handled once:
//!
//! * the server sends JSON in **binary** frames: [`WireFrame`] is text or binary bytes;
//! * errors arrive as **close frames**: [`WireReader::next_frame`] turns them into
//!   [`Error::Closed`] (a drop without a close frame is code 1006, retryable);
//! * pings and pongs are answered and swallowed, but count as liveness for
//!   [`Keepalive`], because the server may take 8–30 s to pong;
//! * frame and message sizes are bounded ([`Error::FrameTooLarge`]), and the TLS
//!   config is built once and shared ([`tls::default_client_config`]).
//!
//! Typed protocol messages live on top of this, elsewhere.

mod keepalive;
pub mod tls;
mod wake;

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures::stream::{SplitSink, SplitStream};
use futures::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::error::{CapacityError, ProtocolError};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{Connector, MaybeTlsStream, WebSocketStream};

pub use keepalive::{Keepalive, Liveness};
pub use tokio_tungstenite::tungstenite::Bytes;
pub use wake::{Wait, Wakes, Woken};

use crate::auth::ConnectRequest;
use crate::{CloseInfo, Error, Result};

/// Close code of a normal close (RFC 6455 §7.4.1).
pub const CLOSE_NORMAL: u16 = 1000;
/// Close code of a protocol error.
pub const CLOSE_PROTOCOL_ERROR: u16 = 1002;
/// Close code of data the endpoint cannot accept.
pub const CLOSE_UNSUPPORTED_DATA: u16 = 1003;
/// Close code for "the connection dropped without a close frame".
pub const CLOSE_ABNORMAL: u16 = 1006;
/// Close code of a payload the server refuses (the Live API: an invalid message, a
/// setup the model refuses).
pub const CLOSE_INVALID_PAYLOAD: u16 = 1007;
/// Close code of a policy violation (the Live API: a stale resumption handle, the end of
/// a goAway's `timeLeft`, a bad key).
pub const CLOSE_POLICY_VIOLATION: u16 = 1008;
/// Close code of a message too big.
pub const CLOSE_MESSAGE_TOO_BIG: u16 = 1009;
/// Close code of a missing extension.
pub const CLOSE_MANDATORY_EXTENSION: u16 = 1010;
/// Close code of a server error (the Live API: also a resume while the old connection
/// is still open).
pub const CLOSE_INTERNAL_ERROR: u16 = 1011;
/// Close code reported for a close frame that carried no status code.
pub const CLOSE_NO_STATUS: u16 = 1005;

/// Transport settings. Defaults suit the Live API; change them with the `with_*`
/// setters.
#[derive(Clone)]
#[non_exhaustive]
pub struct TransportConfig {
    /// Read buffer per connection (default 8 KiB; tungstenite's 128 KiB default costs
    /// ~120 KiB per idle session).
    pub read_buffer_size: usize,
    /// Largest incoming message (default 16 MiB); larger fails with
    /// [`Error::FrameTooLarge`]. Outgoing messages are checked against it too
    /// ([`Error::TooLargeToSend`], refused locally: nothing is written).
    pub max_message_size: usize,
    /// Largest incoming frame (default 16 MiB).
    pub max_frame_size: usize,
    /// Set `TCP_NODELAY` (default `true`: audio chunks must not wait for Nagle).
    pub disable_nagle: bool,
    /// Limit for TCP connect + TLS + websocket handshake (default 10 s).
    pub connect_timeout: Duration,
    /// Ping interval (default 20 s, like the Python `websockets` client); `None`
    /// disables pings.
    pub keepalive_interval: Option<Duration>,
    /// Fail with [`Error::KeepaliveTimeout`] after this long without receiving any
    /// frame (default 90 s: the server can take 8–30 s to pong); `None` never fails.
    pub keepalive_timeout: Option<Duration>,
    /// TLS client config for `wss://` (default `None`: the shared
    /// [`tls::default_client_config`], webpki roots on aws-lc-rs).
    pub tls: Option<Arc<rustls::ClientConfig>>,
}

impl Default for TransportConfig {
    fn default() -> Self {
        TransportConfig {
            read_buffer_size: 8 * 1024,
            max_message_size: 16 << 20,
            max_frame_size: 16 << 20,
            disable_nagle: true,
            connect_timeout: Duration::from_secs(10),
            keepalive_interval: Some(Duration::from_secs(20)),
            keepalive_timeout: Some(Duration::from_secs(90)),
            tls: None,
        }
    }
}

impl fmt::Debug for TransportConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TransportConfig")
            .field("read_buffer_size", &self.read_buffer_size)
            .field("max_message_size", &self.max_message_size)
            .field("max_frame_size", &self.max_frame_size)
            .field("disable_nagle", &self.disable_nagle)
            .field("connect_timeout", &self.connect_timeout)
            .field("keepalive_interval", &self.keepalive_interval)
            .field("keepalive_timeout", &self.keepalive_timeout)
            .field("tls", &self.tls.as_ref().map(|_| "custom"))
            .finish()
    }
}

impl TransportConfig {
    /// Sets the read buffer size.
    pub fn with_read_buffer_size(mut self, bytes: usize) -> Self {
        self.read_buffer_size = bytes;
        self
    }

    /// Sets the largest message accepted (and sent).
    pub fn with_max_message_size(mut self, bytes: usize) -> Self {
        self.max_message_size = bytes;
        self
    }

    /// Sets the largest frame accepted.
    pub fn with_max_frame_size(mut self, bytes: usize) -> Self {
        self.max_frame_size = bytes;
        self
    }

    /// Sets `TCP_NODELAY`.
    pub fn with_disable_nagle(mut self, on: bool) -> Self {
        self.disable_nagle = on;
        self
    }

    /// Sets the connect (+TLS +handshake) timeout.
    pub fn with_connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Sets the ping interval and the liveness timeout (`None` disables either).
    pub fn with_keepalive(mut self, interval: Option<Duration>, timeout: Option<Duration>) -> Self {
        self.keepalive_interval = interval;
        self.keepalive_timeout = timeout;
        self
    }

    /// Uses this TLS client config (build it with [`tls`] helpers so it uses aws-lc-rs).
    pub fn with_tls_config(mut self, config: Arc<rustls::ClientConfig>) -> Self {
        self.tls = Some(config);
        self
    }

    fn ws_config(&self) -> WebSocketConfig {
        WebSocketConfig::default()
            .read_buffer_size(self.read_buffer_size)
            .max_message_size(Some(self.max_message_size))
            .max_frame_size(Some(self.max_frame_size))
    }

    fn tls_config(&self) -> Result<Arc<rustls::ClientConfig>> {
        match &self.tls {
            Some(c) => Ok(c.clone()),
            None => tls::default_client_config(),
        }
    }
}

/// Any byte stream a websocket can run over.
trait Io: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Io for T {}

type Ws = WebSocketStream<MaybeTlsStream<Box<dyn Io>>>;

/// An open websocket. [`Connection::split`] it into a writer and a reader that can
/// live in different tasks.
pub struct Connection {
    ws: Ws,
    liveness: Liveness,
    max_message_size: usize,
    keepalive_interval: Option<Duration>,
    keepalive_timeout: Option<Duration>,
    url: String,
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl Connection {
    /// Splits into a writer and a reader (they share the socket through a lock; either
    /// can be used from its own task).
    pub fn split(self) -> (WireWriter, WireReader) {
        let (sink, stream) = self.ws.split();
        (
            WireWriter {
                sink,
                max_message_size: self.max_message_size,
            },
            WireReader {
                stream,
                liveness: self.liveness,
                done: false,
                barrier: 0,
            },
        )
    }

    /// A [`Keepalive`] with this connection's configured interval and timeout, fed by
    /// the reader's liveness.
    pub fn keepalive(&self) -> Keepalive {
        Keepalive::new(
            self.keepalive_interval,
            self.keepalive_timeout,
            self.liveness.clone(),
        )
    }

    /// The connection's liveness (marked on every received frame).
    pub fn liveness(&self) -> &Liveness {
        &self.liveness
    }

    /// The URL connected to.
    pub fn url(&self) -> &str {
        &self.url
    }
}

/// The payload of one data frame. The Live API server sends JSON in **binary** frames;
/// clients send text. Both come out here as bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct WireFrame {
    data: Bytes,
    binary: bool,
}

impl WireFrame {
    /// A text frame's payload (valid UTF-8).
    pub fn text(s: impl Into<String>) -> Self {
        WireFrame {
            data: Bytes::from(s.into()),
            binary: false,
        }
    }

    /// A binary frame's payload.
    pub fn binary(data: impl Into<Bytes>) -> Self {
        WireFrame {
            data: data.into(),
            binary: true,
        }
    }

    /// The payload bytes.
    pub fn data(&self) -> &[u8] {
        &self.data
    }

    /// The payload, owned (cheap: reference counted).
    pub fn into_bytes(self) -> Bytes {
        self.data
    }

    /// `true` for a binary frame, `false` for a text frame.
    pub fn is_binary(&self) -> bool {
        self.binary
    }

    /// The payload as UTF-8 (always `Some` for a text frame).
    pub fn as_str(&self) -> Option<&str> {
        std::str::from_utf8(&self.data).ok()
    }

    /// The payload length in bytes.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// `true` for an empty payload.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }
}

impl fmt::Debug for WireFrame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let head = &self.data[..self.data.len().min(64)];
        f.debug_struct("WireFrame")
            .field("binary", &self.binary)
            .field("len", &self.data.len())
            .field("head", &String::from_utf8_lossy(head))
            .finish()
    }
}

/// A text frame ready to write: encoded once, and cheap to clone (its bytes are shared),
/// so a writer can keep a copy to send again on another connection without copying it.
#[derive(Clone)]
pub struct TextFrame(tungstenite::Utf8Bytes);

impl TextFrame {
    /// The frame's length in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True for an empty frame.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The frame's text.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

impl From<String> for TextFrame {
    /// Takes the string's buffer as it is (no copy).
    fn from(text: String) -> Self {
        TextFrame(text.into())
    }
}

impl fmt::Debug for TextFrame {
    // The length only: a frame carries user audio and text.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TextFrame")
            .field("len", &self.len())
            .finish()
    }
}

/// The sending half.
pub struct WireWriter {
    sink: SplitSink<Ws, Message>,
    max_message_size: usize,
}

impl fmt::Debug for WireWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WireWriter").finish_non_exhaustive()
    }
}

impl WireWriter {
    /// Sends a text frame (the Live API's client messages are JSON text) and flushes.
    pub async fn send_text(&mut self, text: String) -> Result<()> {
        self.send_frame(TextFrame::from(text)).await
    }

    /// Sends an encoded text frame and flushes.
    pub async fn send_frame(&mut self, frame: TextFrame) -> Result<()> {
        self.check_size(frame.len())?;
        self.sink
            .send(Message::Text(frame.0))
            .await
            .map_err(map_ws_error)
    }

    /// Sends a binary frame and flushes.
    pub async fn send_binary(&mut self, data: impl Into<Bytes>) -> Result<()> {
        let data = data.into();
        self.check_size(data.len())?;
        self.sink
            .send(Message::Binary(data))
            .await
            .map_err(map_ws_error)
    }

    /// Sends a ping (empty payload).
    pub async fn ping(&mut self) -> Result<()> {
        self.sink
            .send(Message::Ping(Bytes::new()))
            .await
            .map_err(map_ws_error)
    }

    /// Sends a *barrier*: a ping carrying `seq` (8 bytes, big-endian). A websocket peer
    /// answers a ping with a pong carrying the same payload after it has read every frame
    /// sent before it (RFC 6455 §5.5.2–3; frames are read in order), so
    /// [`WireReader::barrier`] reaching `seq` proves the peer read everything written
    /// before this barrier.
    pub async fn barrier(&mut self, seq: u64) -> Result<()> {
        self.sink
            .send(Message::Ping(Bytes::copy_from_slice(&seq.to_be_bytes())))
            .await
            .map_err(map_ws_error)
    }

    /// Sends a close frame with `code` and `reason` (cut to the 123-byte limit at a
    /// character boundary). Keep reading until the reader reports the server's close.
    pub async fn close(&mut self, code: u16, reason: &str) -> Result<()> {
        let reason = cut(reason, 123);
        tracing::debug!(code, reason, "closing websocket");
        let frame = CloseFrame {
            code: CloseCode::from(code),
            reason: reason.to_owned().into(),
        };
        match self.sink.send(Message::Close(Some(frame))).await {
            Ok(()) => Ok(()),
            Err(tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed) => Ok(()),
            Err(e) => Err(map_ws_error(e)),
        }
    }

    fn check_size(&self, size: usize) -> Result<()> {
        if size > self.max_message_size {
            return Err(Error::TooLargeToSend {
                size,
                limit: self.max_message_size,
            });
        }
        Ok(())
    }
}

/// The receiving half.
pub struct WireReader {
    stream: SplitStream<Ws>,
    liveness: Liveness,
    done: bool,
    /// The highest barrier (see [`WireWriter::barrier`]) the peer answered.
    barrier: u64,
}

impl fmt::Debug for WireReader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WireReader")
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

impl WireReader {
    /// The highest barrier the peer has answered (0: none): the peer has read every frame
    /// written before that barrier. Updated as frames are read, so it is current when
    /// [`WireReader::next_frame`] returns the frame that followed the pong.
    pub fn barrier(&self) -> u64 {
        self.barrier
    }

    /// The next data frame. Pings (answered automatically) and pongs are skipped but
    /// mark liveness. A close frame becomes `Some(Err(Error::Closed(..)))` (code 1005 if
    /// it had no status), a drop without one `Error::Closed` with code 1006; after any
    /// error the reader returns `None`. Cancel-safe.
    pub async fn next_frame(&mut self) -> Option<Result<WireFrame>> {
        if self.done {
            return None;
        }
        loop {
            let item = self.stream.next().await;
            let msg = match item {
                Some(Ok(m)) => m,
                Some(Err(e)) => {
                    self.done = true;
                    let err = map_ws_error(e);
                    tracing::debug!(error = %err, "websocket read failed");
                    return Some(Err(err));
                }
                None => {
                    self.done = true;
                    tracing::debug!("websocket ended without a close frame");
                    return Some(Err(Error::Closed(abnormal(
                        "connection ended without a close frame",
                    ))));
                }
            };
            self.liveness.mark();
            match msg {
                Message::Text(t) => {
                    return Some(Ok(WireFrame {
                        data: Bytes::from(t),
                        binary: false,
                    }));
                }
                Message::Binary(b) => {
                    return Some(Ok(WireFrame {
                        data: b,
                        binary: true,
                    }));
                }
                Message::Pong(p) => {
                    if let Ok(seq) = <[u8; 8]>::try_from(&p[..]) {
                        self.barrier = self.barrier.max(u64::from_be_bytes(seq));
                    }
                }
                Message::Ping(_) | Message::Frame(_) => continue,
                Message::Close(frame) => {
                    self.done = true;
                    // tungstenite queued our close reply; one more poll flushes it (a
                    // read starts by flushing pending control frames), completing the
                    // closing handshake without waiting for the server's TCP close.
                    let _ = futures::FutureExt::now_or_never(self.stream.next());
                    let info = match frame {
                        Some(f) => CloseInfo {
                            code: u16::from(f.code),
                            reason: f.reason.as_str().to_owned(),
                        },
                        None => CloseInfo {
                            code: CLOSE_NO_STATUS,
                            reason: String::new(),
                        },
                    };
                    tracing::debug!(code = info.code, reason = %info.reason, "websocket closed by peer");
                    return Some(Err(Error::Closed(info)));
                }
            }
        }
    }

    /// The liveness this reader marks.
    pub fn liveness(&self) -> &Liveness {
        &self.liveness
    }
}

fn abnormal(reason: impl Into<String>) -> CloseInfo {
    CloseInfo {
        code: CLOSE_ABNORMAL,
        reason: reason.into(),
    }
}

fn cut(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

fn is_drop(kind: std::io::ErrorKind) -> bool {
    use std::io::ErrorKind as K;
    matches!(
        kind,
        K::ConnectionReset | K::ConnectionAborted | K::BrokenPipe | K::UnexpectedEof
    )
}

/// Maps a tungstenite error to the crate's error.
fn map_ws_error(e: tungstenite::Error) -> Error {
    use tungstenite::Error as W;
    match e {
        W::Capacity(CapacityError::MessageTooLong { size, max_size }) => Error::FrameTooLarge {
            size,
            limit: max_size,
        },
        W::Protocol(ProtocolError::ResetWithoutClosingHandshake) => {
            Error::Closed(abnormal("connection reset without a close frame"))
        }
        W::Io(io) if is_drop(io.kind()) => {
            Error::Closed(abnormal(format!("connection dropped: {io}")))
        }
        W::Io(io) => match tls_error(&io) {
            Some(t) => Error::Tls(t),
            None => Error::Io(io),
        },
        W::Tls(t) => Error::Tls(t.to_string()),
        W::Http(resp) => {
            let status = resp.status();
            let body = resp
                .body()
                .as_ref()
                .map(|b| String::from_utf8_lossy(&b[..b.len().min(200)]).into_owned())
                .unwrap_or_default();
            let msg = format!("websocket upgrade refused with HTTP {status}: {body}");
            match status.as_u16() {
                401 | 403 => Error::Auth(msg),
                400 | 404 => Error::Endpoint(msg),
                _ => Error::WebSocket(msg),
            }
        }
        e => Error::WebSocket(e.to_string()),
    }
}

fn tls_error(io: &std::io::Error) -> Option<String> {
    let inner = io.get_ref()?;
    inner
        .downcast_ref::<rustls::Error>()
        .map(|e| format!("TLS handshake failed: {e}"))
}

fn build_request(req: &ConnectRequest) -> Result<http::Request<()>> {
    let mut request = req
        .url
        .as_str()
        .into_client_request()
        .map_err(|e| Error::Endpoint(format!("cannot build websocket request: {e}")))?;
    for (name, value) in &req.headers {
        request.headers_mut().insert(name.clone(), value.clone());
    }
    Ok(request)
}

/// The error, saying what was dialled (TLS, handshake and HTTP refusals, I/O).
fn naming(e: Error, url: &url::Url) -> Error {
    let at = |m: String| format!("{m} (dialling {})", dialled(url));
    match e {
        Error::WebSocket(m) => Error::WebSocket(at(m)),
        Error::Endpoint(m) => Error::Endpoint(at(m)),
        Error::Auth(m) => Error::Auth(at(m)),
        Error::Tls(m) => Error::Tls(at(m)),
        Error::Io(io) => Error::Io(std::io::Error::new(io.kind(), at(io.to_string()))),
        other => other,
    }
}

/// Where a request goes, for error messages: scheme, host, port and path, never the
/// query (the Developer API carries its key there) nor any header.
pub fn dialled(url: &url::Url) -> String {
    format!(
        "{}://{}:{}{}",
        url.scheme(),
        url.host_str().unwrap_or("?"),
        url.port_or_known_default().unwrap_or(0),
        url.path()
    )
}

async fn dial(req: &ConnectRequest, config: &TransportConfig) -> Result<TcpStream> {
    let url = &req.url;
    let port = url
        .port_or_known_default()
        .ok_or_else(|| Error::Endpoint("URL has no port".into()))?;
    let connected = match url.host() {
        Some(url::Host::Domain(d)) => TcpStream::connect((d, port)).await,
        Some(url::Host::Ipv4(ip)) => TcpStream::connect(SocketAddr::from((ip, port))).await,
        Some(url::Host::Ipv6(ip)) => TcpStream::connect(SocketAddr::from((ip, port))).await,
        None => return Err(Error::Endpoint("URL has no host".into())),
    };
    let stream = connected.map_err(|e| {
        Error::Io(std::io::Error::new(
            e.kind(),
            format!("cannot reach {}: {e}", dialled(url)),
        ))
    })?;
    if config.disable_nagle {
        stream.set_nodelay(true)?;
    }
    Ok(stream)
}

/// Opens a connection: TCP (nodelay), TLS for `wss://`, and the websocket handshake with
/// the request's headers, all within `config.connect_timeout`.
pub async fn connect(req: &ConnectRequest, config: &TransportConfig) -> Result<Connection> {
    let scheme = req.url.scheme();
    if scheme != "ws" && scheme != "wss" {
        return Err(Error::Endpoint(format!(
            "websocket URL scheme must be ws or wss, not `{scheme}`"
        )));
    }
    tracing::debug!(url = %req.url, "connecting");
    let started = tokio::time::Instant::now();
    let fut = async {
        let tcp = dial(req, config).await?;
        let request = build_request(req)?;
        let connector = if scheme == "wss" {
            Connector::Rustls(config.tls_config()?)
        } else {
            Connector::Plain
        };
        let io: Box<dyn Io> = Box::new(tcp);
        let (ws, resp) = tokio_tungstenite::client_async_tls_with_config(
            request,
            io,
            Some(config.ws_config()),
            Some(connector),
        )
        .await
        .map_err(|e| naming(map_ws_error(e), &req.url))?;
        Ok::<_, Error>((ws, resp.status()))
    };
    let (ws, status) = tokio::time::timeout(config.connect_timeout, fut)
        .await
        .map_err(|_| {
            Error::Timeout(format!(
                "websocket connect to {} within {:?}",
                dialled(&req.url),
                config.connect_timeout
            ))
        })??;
    tracing::debug!(
        url = %req.url,
        status = status.as_u16(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "connected"
    );
    Ok(Connection::new(ws, req, config))
}

/// Runs the websocket handshake over an already-open stream (TLS or not is the
/// stream's business; the URL's scheme is not acted upon), within
/// `config.connect_timeout`.
pub async fn handshake<S>(
    stream: S,
    req: &ConnectRequest,
    config: &TransportConfig,
) -> Result<Connection>
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let request = build_request(req)?;
    let io: Box<dyn Io> = Box::new(stream);
    let fut = tokio_tungstenite::client_async_with_config(
        request,
        MaybeTlsStream::Plain(io),
        Some(config.ws_config()),
    );
    let (ws, resp) = tokio::time::timeout(config.connect_timeout, fut)
        .await
        .map_err(|_| Error::Timeout(format!("websocket handshake with {}", dialled(&req.url))))?
        .map_err(map_ws_error)?;
    tracing::debug!(url = %req.url, status = resp.status().as_u16(), "handshake done");
    Ok(Connection::new(ws, req, config))
}

impl Connection {
    fn new(ws: Ws, req: &ConnectRequest, config: &TransportConfig) -> Self {
        Connection {
            ws,
            liveness: Liveness::new(),
            max_message_size: config.max_message_size,
            keepalive_interval: config.keepalive_interval,
            keepalive_timeout: config.keepalive_timeout,
            url: req.url.to_string(),
        }
    }
}

#[cfg(test)]
mod tests;
