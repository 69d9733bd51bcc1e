//! The transcript format of recorded Live API sessions and of this repo's fixtures.
//!
//! Google's SDK test suites record websocket traffic as a sequence of frames, each
//! starting on a new line with a direction marker and a byte length:
//!
//! ```text
//! >59 {"setup":{"model":"models/gemini-live-2.5-flash-preview"}}
//! <27 {
//!   "setupComplete": {}
//! }
//! ```
//!
//! `>` is client → server, `<` server → client; the JSON may be pretty-printed over
//! several lines. The same format is used for `fixtures/wire/*.log`, for transcripts
//! the emulator writes, and by the `decode` example, so that real and synthetic
//! sessions can be replayed and diffed with the same tools.
//!
//! The parser splits on lines matching `^[<>][0-9]+ `. It accepts `N` as the length of
//! the JSON text itself (what [`write_transcript`] writes) or of the whole record
//! including its trailing newlines (what the published recordings use), and rejects
//! anything else, which catches truncated or hand-mangled files.

use std::fmt::Write as _;

use crate::{Error, Result};

/// Which way a frame went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Client → server (`>`).
    ClientToServer,
    /// Server → client (`<`).
    ServerToClient,
}

impl Direction {
    /// The transcript marker: `>` or `<`.
    pub fn marker(self) -> char {
        match self {
            Direction::ClientToServer => '>',
            Direction::ServerToClient => '<',
        }
    }
}

/// One frame of a transcript.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TranscriptFrame {
    /// Which way it went.
    pub direction: Direction,
    /// The JSON text, without the trailing newlines.
    pub json: String,
}

impl TranscriptFrame {
    /// A client → server frame.
    pub fn client(json: impl Into<String>) -> Self {
        TranscriptFrame {
            direction: Direction::ClientToServer,
            json: json.into(),
        }
    }

    /// A server → client frame.
    pub fn server(json: impl Into<String>) -> Self {
        TranscriptFrame {
            direction: Direction::ServerToClient,
            json: json.into(),
        }
    }
}

/// Parses a transcript. Blank text before the first frame is allowed; anything else
/// that is not a frame is an [`Error::Decode`] naming the line.
pub fn parse_transcript(text: &str) -> Result<Vec<TranscriptFrame>> {
    // (direction, declared length, line number, line start offset, body start offset)
    let mut heads: Vec<(Direction, usize, usize, usize, usize)> = Vec::new();
    let mut offset = 0usize;
    for (lineno, line) in text.split_inclusive('\n').enumerate() {
        if let Some((dir, n, head_len)) = frame_head(line) {
            heads.push((dir, n, lineno + 1, offset, offset + head_len));
        } else if heads.is_empty() && !line.trim().is_empty() {
            return Err(Error::decode(
                format!(
                    "transcript line {}: expected `>N {{json}}` or `<N {{json}}`",
                    lineno + 1
                ),
                line.as_bytes(),
            ));
        }
        offset += line.len();
    }
    let mut frames = Vec::with_capacity(heads.len());
    for (i, &(direction, n, lineno, _, body_start)) in heads.iter().enumerate() {
        let end = heads.get(i + 1).map_or(text.len(), |h| h.3);
        let body = &text[body_start..end];
        let json = body.trim_end();
        if n < json.len() || n > body.len() {
            return Err(Error::decode(
                format!(
                    "transcript line {lineno}: declared length {n} but the frame has {} bytes",
                    json.len()
                ),
                json.as_bytes(),
            ));
        }
        frames.push(TranscriptFrame {
            direction,
            json: json.to_owned(),
        });
    }
    Ok(frames)
}

/// Recognises `>N ` / `<N ` at the start of a line: (direction, N, header length).
fn frame_head(line: &str) -> Option<(Direction, usize, usize)> {
    let bytes = line.as_bytes();
    let direction = match bytes.first()? {
        b'>' => Direction::ClientToServer,
        b'<' => Direction::ServerToClient,
        _ => return None,
    };
    let digits = bytes[1..].iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 || bytes.get(1 + digits) != Some(&b' ') {
        return None;
    }
    let n = line[1..1 + digits].parse().ok()?;
    Some((direction, n, digits + 2))
}

/// Appends one frame: `>N json\n` (N = byte length of `json`).
pub fn write_frame(out: &mut String, frame: &TranscriptFrame) {
    let json = frame.json.trim_end();
    let _ = writeln!(out, "{}{} {}", frame.direction.marker(), json.len(), json);
}

/// Writes frames in the transcript format (see [`write_frame`]).
pub fn write_transcript<'a>(frames: impl IntoIterator<Item = &'a TranscriptFrame>) -> String {
    let mut out = String::new();
    for f in frames {
        write_frame(&mut out, f);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_recording_style_and_writer_style() {
        let rec = ">59 {\"setup\":{\"model\":\"models/gemini-live-2.5-flash-preview\"}}\n<27 {\n  \"setupComplete\": {}\n}\n\n";
        let frames = parse_transcript(rec).unwrap();
        assert_eq!(frames.len(), 2);
        assert_eq!(frames[0].direction, Direction::ClientToServer);
        assert_eq!(frames[1].json, "{\n  \"setupComplete\": {}\n}");
        let written = write_transcript(&frames);
        assert_eq!(parse_transcript(&written).unwrap(), frames);
        assert!(written.starts_with(">58 {\"setup\""));
        assert!(written.contains("\n<25 {\n  \"setupComplete\": {}\n}\n"));
    }

    #[test]
    fn rejects_garbage_and_bad_lengths() {
        assert!(parse_transcript("hello\n>2 {}\n").is_err());
        assert!(parse_transcript(">1 {}\n").is_err());
        assert!(parse_transcript(">99 {}\n").is_err());
        assert_eq!(parse_transcript("\n\n").unwrap(), vec![]);
        assert_eq!(parse_transcript("").unwrap(), vec![]);
        // Not a head: no space, or no digits.
        assert!(parse_transcript(">x {}\n").is_err());
    }
}
