//! The voice page in a real headless Chromium, against the agent server and the emulator.
//!
//! The fake microphone plays the bundled spoken prompt followed by silence, looping (the
//! flag's `%noloop` is ignored); the emulator's voice detection ends the user's turn on the
//! silence. The tests wait on the page's own DOM and its `window.agent` counters, never on
//! time. A screenshot of each run is written under the target directory.
//!
//! What this does not verify: that Chrome's echo canceller actually removes the looped-back
//! playback from the microphone (the fake device has no acoustic path); it checks that the
//! loopback path the workaround needs is set up and carries the audio.

mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use examples::server::ServerConfig;
use support::agent_server::{self, VOICE_SCENARIO};
use support::browser::{Browser, chromium};
use support::scratch;

const WAIT: Duration = Duration::from_secs(60);

/// Browser tests run one at a time: each plays audio in real time, and two Chromiums on a
/// two-core machine starve each other's audio threads.
static ONE_BROWSER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The bundled prompt, then `silence`, as a 16 kHz mono WAV in `dir`.
fn mic_file(dir: &Path, silence: Duration) -> PathBuf {
    let prompt = hound::WavReader::new(std::io::Cursor::new(include_bytes!(
        "../../fixtures/audio/prompt_16k.wav"
    )))
    .expect("prompt wav");
    let spec = prompt.spec();
    assert_eq!((spec.sample_rate, spec.channels), (16_000, 1));
    let samples: Vec<i16> = prompt.into_samples().map(|s| s.expect("sample")).collect();
    let path = dir.join("mic.wav");
    let mut w = hound::WavWriter::create(&path, spec).expect("create mic.wav");
    for s in samples {
        w.write_sample(s).unwrap();
    }
    for _ in 0..(16_000 * silence.as_millis() / 1000) {
        w.write_sample(0i16).unwrap();
    }
    w.finalize().unwrap();
    path
}

/// One page in a browser, in front of the voice agent's emulator.
struct Run {
    emulator: genai_wire::emulator::EmulatorHandle,
    server: examples::server::AgentServer,
    browser: Browser,
    tab: support::browser::Tab,
}

/// The server, and the page open in a browser whose microphone plays the prompt then
/// `silence`, looping.
async fn open_page(exe: &Path, name: &str, silence: Duration) -> Run {
    let dir = scratch(name);
    let mic = mic_file(&dir, silence);
    let emulator = agent_server::emulator(VOICE_SCENARIO).await;
    let server = agent_server::start(
        ServerConfig::default(),
        &emulator,
        Duration::from_millis(400),
    )
    .await;
    let mut browser = Browser::launch(exe, &mic, &dir).await;
    let tab = browser.open(&format!("{}?autostart=1", server.url())).await;
    Run {
        emulator,
        server,
        browser,
        tab,
    }
}

fn screenshot_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("agent-server-{name}.png"))
}

/// The user speaks, the model answers, `search` runs in the background (acked, progress,
/// completed) and its result is voiced; the page shows the transcript, the tool's
/// lifecycle, and plays the reply.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_talks_runs_a_background_tool_and_plays_the_reply() {
    let Some(exe) = chromium() else { return };
    let _one = ONE_BROWSER.lock().await;
    // Long silence after the prompt: the test mutes before the prompt loops.
    let Run {
        emulator,
        server,
        mut browser,
        tab,
    } = open_page(&exe, "browser-conversation", Duration::from_secs(4)).await;

    browser
        .wait_for(
            &tab,
            "the session",
            "window.agent && window.agent.state === 'connected'",
            WAIT,
        )
        .await;
    browser
        .wait_for(
            &tab,
            "the user transcript",
            "[...document.querySelectorAll('.line.user')].some(l => l.textContent.includes('Zurich to Lisbon'))",
            WAIT,
        )
        .await;
    // The prompt loops after the silence; mute so that the rest is the model's.
    browser
        .eval(&tab, "document.getElementById('mute').click()")
        .await;
    let phases = browser
        .wait_for(
            &tab,
            "search completed",
            "(r => r && r.dataset.phases.includes('completed') && r.dataset.phases)(document.querySelector('tr[data-name=search]'))",
            WAIT,
        )
        .await;
    let phases = phases.as_str().unwrap().to_owned();
    let order: Vec<&str> = phases.split(' ').collect();
    let at = |p: &str| {
        order
            .iter()
            .position(|x| *x == p)
            .unwrap_or_else(|| panic!("{p} in {order:?}"))
    };
    assert!(
        at("started") < at("acked")
            && at("acked") < at("progress")
            && at("progress") < at("completed"),
        "{order:?}"
    );
    // The result was voiced: the emulator spoke about it, and the page played it.
    browser
        .wait_for(
            &tab,
            "the voiced result",
            "[...document.querySelectorAll('.line.model')].some(l => l.textContent.includes('the search came back'))",
            WAIT,
        )
        .await;
    browser
        .wait_for(
            &tab,
            "the reply played out",
            "window.agent.played >= 3.0 && window.agent.queued === 0",
            WAIT,
        )
        .await;
    let echo = browser.eval(&tab, "window.agent.echo").await;
    assert_eq!(echo, "loopback", "the echo workaround's path is set up");
    let weather = browser
        .eval(
            &tab,
            "document.querySelector('tr[data-name=get_weather]').dataset.phase",
        )
        .await;
    assert_eq!(weather, "completed");
    let session = emulator.sessions().pop().expect("one session");
    assert!(
        session
            .accepted_function_responses()
            .iter()
            .any(|r| r.name == "search"),
        "the model received the search result"
    );
    browser
        .screenshot(&tab, &screenshot_path("conversation"))
        .await;
    assert!(
        browser.errors.is_empty(),
        "page errors: {:?}",
        browser.errors
    );
    drop(browser);
    server.shutdown().await;
}

/// The prompt loops after a short silence, so the user speaks again while the model does:
/// the page flushes its playback at once (at most a short fade), marks where the model
/// was cut, and no audio of the cut turn is played.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn barging_in_flushes_playback_and_marks_the_cut() {
    let Some(exe) = chromium() else { return };
    let _one = ONE_BROWSER.lock().await;
    let Run {
        emulator: _emulator,
        server,
        mut browser,
        tab,
    } = open_page(&exe, "browser-barge-in", Duration::from_millis(1500)).await;

    let flush = browser
        .wait_for(
            &tab,
            "a flush",
            "window.agent && window.agent.flushes[0]",
            WAIT,
        )
        .await;
    let faded = flush["faded"].as_f64().unwrap();
    assert!(faded <= 0.1, "the fade is at most 100 ms: {flush}");
    let played_at_flush = flush["played"].as_f64().unwrap();
    // The cut is marked on the model's line.
    browser
        .wait_for(
            &tab,
            "the cut mark",
            "document.querySelector('.line.model[data-cut] .cut')",
            WAIT,
        )
        .await;
    // The interrupted turn's audio stops: once the cut turn is over (the next user
    // transcript shows the caller's new turn), nothing of it was played beyond the fade.
    browser
        .wait_for(
            &tab,
            "the turn after the cut",
            "document.querySelectorAll('.line.user').length >= 2",
            WAIT,
        )
        .await;
    let agent = browser.eval(&tab, "window.agent").await;
    assert_eq!(
        agent["lateAudio"], 0,
        "the server fenced late audio: {agent}"
    );
    assert!(agent["interruptions"].as_u64().unwrap() >= 1);
    let played_after: f64 = browser
        .eval(&tab, "window.agent.flushes.length > 1 ? window.agent.flushes[1].played : window.agent.played")
        .await
        .as_f64()
        .unwrap();
    assert!(played_after >= played_at_flush);
    browser.screenshot(&tab, &screenshot_path("barge-in")).await;
    assert!(
        browser.errors.is_empty(),
        "page errors: {:?}",
        browser.errors
    );
    drop(browser);
    server.shutdown().await;
}
