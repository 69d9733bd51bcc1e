//! The `sound` feature against real ALSA devices: the speaker plays into ALSA's `file`
//! plugin (what it wrote is checked), the microphone records from ALSA's `null` plugin.
//! No sound card needed; CI installs the ALSA headers and runs this with
//! `cargo test -p examples --features sound --test sound`.
#![cfg(feature = "sound")]

use std::time::Duration;

use examples::sound::{Microphone, Speaker};

/// An ALSA configuration whose default PCM writes what is played to `file` (raw, as the
/// stream's format) and records silence, through the `null` plugin.
fn alsa_config(file: &std::path::Path) -> String {
    format!(
        r#"pcm.!default {{
    type asym
    playback.pcm {{
        type file
        slave.pcm {{ type null }}
        file "{}"
        format "raw"
    }}
    capture.pcm {{ type null }}
}}
"#,
        file.display()
    )
}

#[tokio::test]
async fn speaker_plays_and_microphone_records_on_alsa_devices() {
    let dir = std::env::temp_dir().join(format!("adk-live-sound-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let played = dir.join("played.raw");
    let config = dir.join("asound.conf");
    std::fs::write(&config, alsa_config(&played)).unwrap();
    // SAFETY: set before ALSA is first used, by the only test of this binary.
    unsafe { std::env::set_var("ALSA_CONFIG_PATH", &config) };

    let speaker = Speaker::open().expect("the speaker opens on the file plugin");
    // 200 ms of a loud square wave at 24 kHz (what the model sends).
    let pcm: Vec<u8> = (0..4800)
        .flat_map(|i| {
            let s: i16 = if (i / 24) % 2 == 0 { 12_000 } else { -12_000 };
            s.to_le_bytes()
        })
        .collect();
    speaker.play(&pcm, 24_000);
    speaker.drain(Duration::from_secs(10)).await;
    let wait = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let written = std::fs::read(&played).unwrap_or_default();
            if written.iter().any(|b| *b != 0) {
                return written.len();
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
    let written = wait.await.expect("the played audio reaches the device");
    assert!(written > 0);
    drop(speaker);

    let (mic, mut chunks) =
        Microphone::open(Duration::from_millis(20)).expect("the microphone opens on null");
    let chunk = tokio::time::timeout(Duration::from_secs(10), chunks.recv())
        .await
        .expect("a chunk within 10 s")
        .expect("the microphone is still open");
    assert_eq!(chunk.len(), 320, "20 ms at 16 kHz: {}", mic.name());
    mic.stop();
    let _ = std::fs::remove_dir_all(&dir);
}
