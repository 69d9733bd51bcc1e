//! Transport tests over `tokio::io::duplex` (timing tests run with paused time).

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use tokio::io::DuplexStream;
use tokio::time::Instant;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use super::*;
use crate::auth::{Credentials, connect_request};
use crate::endpoint::Endpoint;

type Server = WebSocketStream<DuplexStream>;

const S: fn(u64) -> Duration = Duration::from_secs;

async fn pair(config: &TransportConfig) -> (Connection, Server) {
    let (client_io, server_io) = tokio::io::duplex(1 << 20);
    let ep = Endpoint::custom("ws://emulator.local/ws", crate::Backend::DeveloperApi).unwrap();
    let req = connect_request(&ep, &Credentials::api_key("AIzaTEST"))
        .await
        .unwrap();
    let (client, server) = tokio::join!(
        handshake(client_io, &req, config),
        tokio_tungstenite::accept_async(server_io)
    );
    (client.unwrap(), server.unwrap())
}

#[tokio::test]
async fn text_and_binary_frames_come_through() {
    let (conn, mut server) = pair(&TransportConfig::default()).await;
    let (mut w, mut r) = conn.split();
    server
        .send(Message::Binary(Bytes::from_static(
            b"{\"setupComplete\":{}}",
        )))
        .await
        .unwrap();
    server
        .send(Message::Ping(Bytes::from_static(b"p")))
        .await
        .unwrap();
    server
        .send(Message::Text("{\"a\":1}".into()))
        .await
        .unwrap();
    let f = r.next_frame().await.unwrap().unwrap();
    assert!(f.is_binary());
    assert_eq!(f.as_str(), Some("{\"setupComplete\":{}}"));
    let f = r.next_frame().await.unwrap().unwrap();
    assert!(!f.is_binary());
    assert_eq!(f.data(), b"{\"a\":1}");
    // The ping was answered.
    match server.next().await.unwrap().unwrap() {
        Message::Pong(p) => assert_eq!(&p[..], b"p"),
        m => panic!("expected pong, got {m:?}"),
    }
    w.send_text("{\"setup\":{}}".into()).await.unwrap();
    match server.next().await.unwrap().unwrap() {
        Message::Text(t) => assert_eq!(t.as_str(), "{\"setup\":{}}"),
        m => panic!("{m:?}"),
    }
}

#[tokio::test]
async fn a_barrier_is_read_once_the_peer_answers_it() {
    let (conn, mut server) = pair(&TransportConfig::default()).await;
    let (mut w, mut r) = conn.split();
    w.send_text("{\"a\":1}".into()).await.unwrap();
    w.barrier(7).await.unwrap();
    assert_eq!(r.barrier(), 0);
    // The server reads the text, then the barrier (tungstenite answers it), then speaks.
    assert!(matches!(
        server.next().await.unwrap().unwrap(),
        Message::Text(_)
    ));
    assert!(matches!(
        server.next().await.unwrap().unwrap(),
        Message::Ping(_)
    ));
    // tungstenite queues its pong and writes it after the server's next message.
    server
        .send(Message::Text("{\"b\":2}".into()))
        .await
        .unwrap();
    server
        .send(Message::Text("{\"c\":3}".into()))
        .await
        .unwrap();
    r.next_frame().await.unwrap().unwrap();
    r.next_frame().await.unwrap().unwrap();
    assert_eq!(r.barrier(), 7, "the pong came before the second frame");
    // An older barrier's pong, or an empty keepalive pong, never lowers it.
    server
        .send(Message::Pong(Bytes::from_static(b"")))
        .await
        .unwrap();
    server
        .send(Message::Pong(Bytes::copy_from_slice(&3u64.to_be_bytes())))
        .await
        .unwrap();
    server
        .send(Message::Text("{\"d\":4}".into()))
        .await
        .unwrap();
    r.next_frame().await.unwrap().unwrap();
    assert_eq!(r.barrier(), 7);
}

async fn closed_with(code: u16, reason: &str) -> Error {
    let (conn, mut server) = pair(&TransportConfig::default()).await;
    let (_w, mut r) = conn.split();
    server
        .close(Some(CloseFrame {
            code: CloseCode::from(code),
            reason: reason.to_owned().into(),
        }))
        .await
        .unwrap();
    let err = r.next_frame().await.unwrap().unwrap_err();
    assert!(
        r.next_frame().await.is_none(),
        "reader is done after a close"
    );
    err
}

#[tokio::test]
async fn close_frames_map_to_closed() {
    for (code, fatal) in [(1007, true), (1008, true), (1011, false), (1000, false)] {
        let err = closed_with(code, "Request contains an invalid argument.").await;
        match &err {
            Error::Closed(c) => {
                assert_eq!(c.code, code);
                assert_eq!(c.reason, "Request contains an invalid argument.");
            }
            e => panic!("{e:?}"),
        }
        assert_eq!(err.is_fatal(), fatal, "{code}");
        assert_eq!(err.is_retryable(), !fatal, "{code}");
    }
}

#[tokio::test]
async fn drop_without_close_is_1006() {
    let (conn, server) = pair(&TransportConfig::default()).await;
    let (_w, mut r) = conn.split();
    drop(server);
    let err = r.next_frame().await.unwrap().unwrap_err();
    assert_eq!(err.close_code(), Some(1006), "{err:?}");
    assert!(err.is_retryable());
}

#[tokio::test]
async fn oversized_frames_are_typed_errors() {
    let cfg = TransportConfig::default()
        .with_max_message_size(1024)
        .with_max_frame_size(1024);
    let (conn, mut server) = pair(&cfg).await;
    let (mut w, mut r) = conn.split();
    server
        .send(Message::Binary(Bytes::from(vec![b'x'; 4096])))
        .await
        .unwrap();
    let err = r.next_frame().await.unwrap().unwrap_err();
    assert!(
        matches!(err, Error::FrameTooLarge { limit: 1024, .. }),
        "{err:?}"
    );
    let err = w.send_text("y".repeat(2000)).await.unwrap_err();
    assert!(matches!(
        err,
        Error::TooLargeToSend {
            size: 2000,
            limit: 1024
        }
    ));
}

#[tokio::test]
async fn client_close_sends_code_and_reason() {
    let (conn, mut server) = pair(&TransportConfig::default()).await;
    let (mut w, mut r) = conn.split();
    w.close(1000, &"é".repeat(100)).await.unwrap();
    match server.next().await.unwrap().unwrap() {
        Message::Close(Some(f)) => {
            assert_eq!(u16::from(f.code), 1000);
            assert!(f.reason.len() <= 123);
        }
        m => panic!("{m:?}"),
    }
    // The server's queued close reply goes out on its next flush.
    server.flush().await.unwrap();
    // tungstenite replies to the close; our reader reports it.
    let err = r.next_frame().await.unwrap().unwrap_err();
    assert_eq!(err.close_code(), Some(1000));
}

/// The owner-task loop the session runtime uses: frames, keepalive, until `until`.
async fn drive(conn: Connection, until: Duration) -> (Result<()>, usize) {
    let mut keepalive = conn.keepalive();
    let (mut w, mut r) = conn.split();
    let deadline = tokio::time::sleep(until);
    tokio::pin!(deadline);
    let mut frames = 0;
    let res = loop {
        tokio::select! {
            f = r.next_frame() => match f {
                Some(Ok(_)) => frames += 1,
                Some(Err(e)) => break Err(e),
                None => break Ok(()),
            },
            due = keepalive.tick() => {
                if let Err(e) = due { break Err(e); }
                if let Err(e) = w.ping().await { break Err(e); }
            }
            _ = &mut deadline => break Ok(()),
        }
    };
    (res, frames)
}

#[tokio::test(start_paused = true)]
async fn slow_pongs_keep_the_session_alive() {
    let (conn, mut server) = pair(&TransportConfig::default()).await;
    // The server reads a ping, waits 30 s (the real server can take that long), then
    // flushes the queued pong.
    let server_task = tokio::spawn(async move {
        let mut pings = 0;
        while let Some(Ok(m)) = server.next().await {
            if let Message::Ping(_) = m {
                pings += 1;
                tokio::time::sleep(S(30)).await;
                if server.flush().await.is_err() {
                    break;
                }
            }
        }
        pings
    });
    let start = Instant::now();
    let (res, _) = drive(conn, S(600)).await;
    assert!(res.is_ok(), "{res:?}");
    assert_eq!(start.elapsed(), S(600));
    let pings = server_task.await.unwrap();
    assert!(pings >= 15, "{pings} pings in 10 minutes");
}

#[tokio::test(start_paused = true)]
async fn silent_server_hits_keepalive_timeout() {
    let (conn, server) = pair(&TransportConfig::default()).await;
    let start = Instant::now();
    let (res, _) = drive(conn, S(3600)).await;
    let err = res.unwrap_err();
    assert!(
        matches!(err, Error::KeepaliveTimeout(d) if d == S(90)),
        "{err:?}"
    );
    assert_eq!(start.elapsed(), S(90));
    assert!(err.is_retryable());
    drop(server);
}

#[tokio::test(start_paused = true)]
async fn data_frames_count_as_liveness() {
    let (conn, mut server) = pair(&TransportConfig::default()).await;
    // Never pongs (does not read), but sends data every 60 s.
    let server_task = tokio::spawn(async move {
        for _ in 0..8 {
            tokio::time::sleep(S(60)).await;
            server
                .send(Message::Binary(Bytes::from_static(b"{}")))
                .await
                .unwrap();
        }
        server
    });
    let (res, frames) = drive(conn, S(500)).await;
    assert!(res.is_ok(), "{res:?}");
    assert_eq!(frames, 8);
    drop(server_task.await.unwrap());
}

#[test]
fn config_defaults() {
    let c = TransportConfig::default();
    assert_eq!(c.read_buffer_size, 8 * 1024);
    assert_eq!(c.max_message_size, 16 * 1024 * 1024);
    assert_eq!(c.max_frame_size, 16 * 1024 * 1024);
    assert!(c.disable_nagle);
    assert_eq!(c.connect_timeout, S(10));
    assert_eq!(c.keepalive_interval, Some(S(20)));
    assert_eq!(c.keepalive_timeout, Some(S(90)));
    assert!(c.tls.is_none());
    let c = c.with_keepalive(None, None).with_connect_timeout(S(1));
    assert_eq!(c.keepalive_interval, None);
    assert!(format!("{c:?}").contains("connect_timeout"));
}

#[tokio::test]
async fn connect_rejects_non_ws_urls() {
    let req = ConnectRequest::new(url::Url::parse("http://127.0.0.1:1/").unwrap());
    let err = connect(&req, &TransportConfig::default())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Endpoint(_)));
}

#[test]
fn halves_and_credentials_can_move_between_tasks() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>() {}
    send::<Connection>();
    send::<WireWriter>();
    send::<WireReader>();
    send::<Keepalive>();
    send_sync::<Liveness>();
    send_sync::<TransportConfig>();
    send_sync::<ConnectRequest>();
    send_sync::<crate::auth::Credentials>();
    send_sync::<crate::auth::ServiceAccountTokenSource>();
    send_sync::<crate::auth::AuthorizedUserTokenSource>();
}
