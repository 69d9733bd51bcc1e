//! The emulator driven over `tokio::io::duplex` on paused time: timing-dependent
//! behaviour (speech pacing, silence detection, goAway at 9 minutes) runs instantly.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use genai_wire::emulator::{Emulator, kind};
use serde_json::{Value, json};
use tokio::io::DuplexStream;
use tokio::time::Instant;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;

type Ws = WebSocketStream<DuplexStream>;

const URL: &str =
    "ws://localhost/ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent";

async fn connect(emu: &Emulator) -> Ws {
    let (client, server) = tokio::io::duplex(1 << 16);
    let emu = emu.clone();
    tokio::spawn(async move { emu.serve_stream(server).await });
    tokio_tungstenite::client_async(URL, client)
        .await
        .unwrap()
        .0
}

async fn send(ws: &mut Ws, v: Value) {
    ws.send(Message::Text(v.to_string().into())).await.unwrap();
}

async fn recv(ws: &mut Ws) -> Option<Value> {
    loop {
        match ws.next().await? {
            Ok(Message::Binary(b)) => return Some(serde_json::from_slice(&b).unwrap()),
            Ok(Message::Close(cf)) => {
                let cf = cf.unwrap();
                return Some(json!({"close": u16::from(cf.code), "reason": cf.reason.to_string()}));
            }
            Ok(_) => continue,
            Err(_) => return None,
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_paced_turn_on_virtual_time() {
    let emu = Emulator::builder().build().unwrap();
    let mut ws = connect(&emu).await;
    send(
        &mut ws,
        json!({"setup": {"model": "models/m", "outputAudioTranscription": {}}}),
    )
    .await;
    assert_eq!(recv(&mut ws).await.unwrap(), json!({"setupComplete": {}}));
    let t0 = Instant::now();
    // 200 ms of a tone, then silence detection (500 ms) ends the turn.
    let tone: Vec<u8> = (0..3200)
        .flat_map(|i| (((i as f32 * 0.17).sin() * 6000.0) as i16).to_le_bytes())
        .collect();
    use base64::Engine as _;
    let data = base64::engine::general_purpose::STANDARD.encode(tone);
    send(
        &mut ws,
        json!({"realtimeInput": {"audio": {"mimeType": "audio/pcm;rate=16000", "data": data}}}),
    )
    .await;
    let mut audio = 0;
    loop {
        let v = recv(&mut ws).await.unwrap();
        if v["serverContent"]["modelTurn"].is_object() {
            if audio == 0 {
                let waited = t0.elapsed();
                assert!(
                    waited >= Duration::from_millis(500) && waited < Duration::from_millis(600),
                    "{waited:?}"
                );
            }
            audio += 1;
        }
        if v["serverContent"]["turnComplete"] == true {
            break;
        }
    }
    assert_eq!(audio, 12);
    let took = t0.elapsed();
    assert!(
        took >= Duration::from_millis(1600) && took < Duration::from_millis(1800),
        "{took:?}"
    );
    let s = emu.wait_for_session(Duration::from_secs(1)).await.unwrap();
    assert_eq!(s.count(kind::MODEL_TURN), 12);
}

#[tokio::test(start_paused = true)]
async fn go_away_after_nine_minutes() {
    let emu = Emulator::builder().build().unwrap();
    let mut ws = connect(&emu).await;
    send(&mut ws, json!({"setup": {"model": "models/m"}})).await;
    recv(&mut ws).await.unwrap();
    let t0 = Instant::now();
    assert_eq!(
        recv(&mut ws).await.unwrap(),
        json!({"goAway": {"timeLeft": "60s"}})
    );
    assert_eq!(t0.elapsed().as_secs(), 540);
    assert_eq!(
        recv(&mut ws).await.unwrap(),
        json!({"close": 1000, "reason": "connection lifetime reached"})
    );
    assert_eq!(t0.elapsed().as_secs(), 600);
}
