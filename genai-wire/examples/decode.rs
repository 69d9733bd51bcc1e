//! Decodes Live API transcripts (`>N {json}` / `<N {json}` logs) and prints one line per
//! frame: where it is, which way it went, what kind of message it is, and its key facts.
//!
//! ```text
//! cargo run -p genai-wire --example decode -- fixtures/wire/*.log ../shared/recordings/*.log
//! ```
//!
//! Exits 1 (after printing everything else) if any file or frame fails to decode, with
//! an `ERROR` line naming it; exits 2 on usage errors.

use std::fmt::Write as _;
use std::process::ExitCode;

use genai_wire::protocol::transcript::{Direction, parse_transcript};
use genai_wire::protocol::{
    ClientMessage, Content, ServerMessage, ServerPayload, decode_client, decode_server,
    serde_util::format_duration,
};

fn main() -> ExitCode {
    let files: Vec<String> = std::env::args().skip(1).collect();
    if files.is_empty() || files.iter().any(|f| f == "-h" || f == "--help") {
        eprintln!("usage: decode FILE...   (transcripts of `>N {{json}}` / `<N {{json}}` frames)");
        return ExitCode::from(2);
    }
    let mut failures = 0usize;
    let mut frames_total = 0usize;
    for file in &files {
        let text = match std::fs::read_to_string(file) {
            Ok(t) => t,
            Err(e) => {
                println!("{file}: ERROR cannot read: {e}");
                failures += 1;
                continue;
            }
        };
        let frames = match parse_transcript(&text) {
            Ok(f) => f,
            Err(e) => {
                println!("{file}: ERROR not a transcript: {e}");
                failures += 1;
                continue;
            }
        };
        for (i, frame) in frames.iter().enumerate() {
            frames_total += 1;
            let at = format!("{file}:{}", i + 1);
            let line = match frame.direction {
                Direction::ClientToServer => decode_client(frame.json.as_bytes())
                    .map(|m| format!("> {}", describe_client(&m))),
                Direction::ServerToClient => decode_server(frame.json.as_bytes())
                    .map(|m| format!("< {}", describe_server(&m))),
            };
            match line {
                Ok(l) => println!("{at} {l}"),
                Err(e) => {
                    failures += 1;
                    println!("{at} {} ERROR {e}", frame.direction.marker());
                }
            }
        }
    }
    if failures > 0 {
        eprintln!("{failures} of {frames_total} frames (or files) failed to decode");
        ExitCode::FAILURE
    } else {
        eprintln!("{frames_total} frames decoded from {} files", files.len());
        ExitCode::SUCCESS
    }
}

fn short(s: &str) -> String {
    const MAX: usize = 60;
    if s.chars().count() <= MAX {
        format!("{s:?}")
    } else {
        let cut: String = s.chars().take(MAX).collect();
        format!("{cut:?}…")
    }
}

fn content_facts(c: &Content, out: &mut String) {
    for p in &c.parts {
        if let Some(t) = &p.text {
            let tag = if p.is_thought() { "thought" } else { "text" };
            let _ = write!(out, " {tag}={}", short(t));
        }
        if let Some(b) = &p.inline_data {
            if b.is_audio() {
                let _ = write!(out, " audio={}B@{}Hz", b.data.len(), b.sample_rate());
            } else {
                let _ = write!(out, " inline={}B({})", b.data.len(), b.mime_type);
            }
        }
        if let Some(fc) = &p.function_call {
            let _ = write!(
                out,
                " functionCall={}({})",
                fc.name,
                fc.id.as_deref().unwrap_or("-")
            );
        }
        if let Some(fr) = &p.function_response {
            let _ = write!(
                out,
                " functionResponse={}({})",
                fr.name,
                fr.id.as_deref().unwrap_or("-")
            );
        }
        if let Some(code) = &p.executable_code {
            let _ = write!(out, " executableCode={}", short(&code.code));
        }
        if let Some(r) = &p.code_execution_result {
            let outcome = r.outcome.as_ref().map_or("-", |o| o.as_str());
            let _ = write!(out, " codeResult={outcome}");
        }
    }
}

fn describe_client(m: &ClientMessage) -> String {
    let mut s = m.kind().to_string();
    match m {
        ClientMessage::Setup(setup) => {
            let _ = write!(s, " model={}", setup.model);
            if let Some(g) = &setup.generation_config {
                if !g.response_modalities.is_empty() {
                    let mods: Vec<&str> =
                        g.response_modalities.iter().map(|m| m.as_str()).collect();
                    let _ = write!(s, " modalities={}", mods.join(","));
                }
                if let Some(voice) = g
                    .speech_config
                    .as_ref()
                    .and_then(|sc| sc.voice_config.as_ref())
                    .and_then(|vc| vc.prebuilt_voice_config.as_ref())
                {
                    let _ = write!(s, " voice={}", voice.voice_name);
                }
            }
            let fns: Vec<String> = setup
                .tools
                .iter()
                .flat_map(|t| t.function_declarations.iter())
                .map(|f| match &f.behavior {
                    Some(b) => format!("{}[{b}]", f.name),
                    None => f.name.clone(),
                })
                .collect();
            if !fns.is_empty() {
                let _ = write!(s, " functions={}", fns.join(","));
            }
            if let Some(r) = &setup.session_resumption {
                let _ = write!(
                    s,
                    " resumption(handle={})",
                    r.handle.as_deref().unwrap_or("-")
                );
            }
            if setup
                .realtime_input_config
                .as_ref()
                .and_then(|r| r.automatic_activity_detection.as_ref())
                .and_then(|a| a.disabled)
                == Some(true)
            {
                s.push_str(" manualVad");
            }
        }
        ClientMessage::ClientContent(c) => {
            let _ = write!(s, " turns={}", c.turns.len());
            for t in &c.turns {
                let _ = write!(s, " [{}]", t.role.as_deref().unwrap_or("-"));
                content_facts(t, &mut s);
            }
            if let Some(tc) = c.turn_complete {
                let _ = write!(s, " turnComplete={tc}");
            }
        }
        ClientMessage::RealtimeInput(r) => {
            if let Some(a) = &r.audio {
                let _ = write!(s, " audio={}B@{}Hz", a.data.len(), a.sample_rate());
            }
            if let Some(v) = &r.video {
                let _ = write!(s, " video={}B({})", v.data.len(), v.mime_type);
            }
            if let Some(t) = &r.text {
                let _ = write!(s, " text={}", short(t));
            }
            if r.activity_start.is_some() {
                s.push_str(" activityStart");
            }
            if r.activity_end.is_some() {
                s.push_str(" activityEnd");
            }
            if r.audio_stream_end == Some(true) {
                s.push_str(" audioStreamEnd");
            }
            for c in &r.media_chunks {
                let _ = write!(s, " mediaChunk={}B({})", c.data.len(), c.mime_type);
            }
        }
        ClientMessage::ToolResponse(t) => {
            for r in &t.function_responses {
                let _ = write!(s, " {}({})", r.name, r.id.as_deref().unwrap_or("no id"));
                if let Some(sc) = &r.scheduling {
                    let _ = write!(s, " scheduling={sc}");
                }
                if let Some(wc) = r.will_continue {
                    let _ = write!(s, " willContinue={wc}");
                }
            }
        }
        ClientMessage::ContextUpdate(u) => {
            if u.system_instruction.is_some() {
                s.push_str(" systemInstruction");
            }
            if let Some(t) = &u.tools {
                let _ = write!(s, " tools={}", t.tools.len());
            }
        }
    }
    s
}

fn describe_server(m: &ServerMessage) -> String {
    let mut s = m.kind().to_string();
    match &m.payload {
        ServerPayload::SetupComplete(c) => {
            if let Some(id) = &c.session_id {
                let _ = write!(s, " sessionId={id}");
            }
        }
        ServerPayload::ServerContent(c) => {
            if let Some(t) = &c.model_turn {
                content_facts(t, &mut s);
            }
            for (name, t) in [
                ("input", &c.input_transcription),
                ("output", &c.output_transcription),
                ("interim", &c.interim_input_transcription),
            ] {
                if let Some(t) = t {
                    let _ = write!(
                        s,
                        " {name}Transcription={}",
                        short(t.text.as_deref().unwrap_or(""))
                    );
                    if t.finished == Some(true) {
                        s.push_str("(finished)");
                    }
                }
            }
            for (name, flag) in [
                ("generationComplete", c.generation_complete),
                ("interrupted", c.interrupted),
                ("turnComplete", c.turn_complete),
                ("waitingForInput", c.waiting_for_input),
            ] {
                if flag == Some(true) {
                    let _ = write!(s, " {name}");
                }
            }
            if let Some(r) = &c.turn_complete_reason {
                let _ = write!(s, " reason={r}");
            }
            if let Some(st) = &c.interaction_status {
                let _ = write!(s, " status={st}");
            }
            if c.grounding_metadata.is_some() {
                s.push_str(" groundingMetadata");
            }
        }
        ServerPayload::ToolCall(t) => {
            for c in &t.function_calls {
                let _ = write!(
                    s,
                    " {}({}) args={}",
                    c.name,
                    c.id.as_deref().unwrap_or("no id"),
                    c.args
                );
            }
        }
        ServerPayload::ToolCallCancellation(c) => {
            let _ = write!(s, " ids={}", c.ids.join(","));
        }
        ServerPayload::GoAway(g) => {
            let left = g.time_left.map_or("-".to_string(), format_duration);
            let _ = write!(s, " timeLeft={left}");
        }
        ServerPayload::SessionResumptionUpdate(u) => {
            let _ = write!(
                s,
                " resumable={} handle={}",
                u.resumable.unwrap_or(false),
                u.new_handle
                    .as_deref()
                    .filter(|h| !h.is_empty())
                    .unwrap_or("-")
            );
            if let Some(i) = u.last_consumed_client_message_index {
                let _ = write!(s, " lastConsumed={i}");
            }
        }
        ServerPayload::VoiceActivity(v) => {
            if let Some(t) = &v.voice_activity_type {
                let _ = write!(s, " type={t}");
            }
            if let Some(o) = v.audio_offset {
                let _ = write!(s, " offset={}", format_duration(o));
            }
        }
        ServerPayload::VoiceActivityDetectionSignal(v) => {
            if let Some(t) = &v.vad_signal_type {
                let _ = write!(s, " type={t}");
            }
        }
        ServerPayload::UsageOnly => {}
        ServerPayload::Unknown(raw) => {
            let keys: Vec<&str> = raw
                .as_object()
                .map(|o| o.keys().map(String::as_str).collect())
                .unwrap_or_default();
            let _ = write!(s, " keys={}", keys.join(","));
        }
    }
    if let Some(u) = &m.usage_metadata {
        let _ = write!(
            s,
            " usage(prompt={} response={} total={})",
            opt(u.prompt_token_count),
            opt(u.response_token_count),
            opt(u.total_token_count)
        );
    }
    s
}

fn opt(v: Option<i32>) -> String {
    v.map_or("-".into(), |n| n.to_string())
}
