//! A raw websocket server on 127.0.0.1:0 that misbehaves on purpose.
//!
//! The emulator is our own picture of the server; robustness is checked here against a
//! peer that does only what a test script says: answer setup and then stop reading, close
//! at the worst moment, send absurd values. Each accepted connection runs the script with
//! its 0-based index.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use futures::{SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

pub type Ws = WebSocketStream<TcpStream>;

pub struct RawServer {
    pub url: String,
    connections: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl RawServer {
    /// Serves every connection with `script(index, websocket)`.
    pub async fn start<F, Fut>(script: F) -> RawServer
    where
        F: Fn(usize, Ws) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("ws://{}/ws", listener.local_addr().unwrap());
        let connections = Arc::new(AtomicUsize::new(0));
        let count = connections.clone();
        let script = Arc::new(script);
        let task = tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let index = count.fetch_add(1, Ordering::SeqCst);
                let script = script.clone();
                tokio::spawn(async move {
                    if let Ok(ws) = tokio_tungstenite::accept_async(tcp).await {
                        script(index, ws).await;
                    }
                });
            }
        });
        RawServer {
            url,
            connections,
            task,
        }
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

impl Drop for RawServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Reads the client's setup and answers `setupComplete` (binary, as Google does).
pub async fn accept_setup(ws: &mut Ws) {
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(t))) if t.contains("setup") => break,
            Some(Ok(Message::Binary(b))) if b.starts_with(b"{\"setup") => break,
            Some(Ok(_)) => continue,
            _ => return,
        }
    }
    send_json(ws, r#"{"setupComplete":{}}"#).await;
}

/// Sends one server message as a binary frame.
pub async fn send_json(ws: &mut Ws, json: &str) {
    let _ = ws
        .send(Message::Binary(json.as_bytes().to_vec().into()))
        .await;
}

/// Closes with `code` and `reason`.
pub async fn close(ws: &mut Ws, code: u16, reason: &str) {
    let _ = ws
        .send(Message::Close(Some(CloseFrame {
            code: CloseCode::from(code),
            reason: reason.to_owned().into(),
        })))
        .await;
}

/// Holds the connection open and never reads from it again, like a half-open peer: the
/// client's writes eventually block.
pub async fn stop_reading(ws: Ws) {
    std::future::pending::<()>().await;
    drop(ws);
}
