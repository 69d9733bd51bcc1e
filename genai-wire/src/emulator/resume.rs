//! Session resumption handles.
//!
//! A handle names the logical session it belongs to and carries a sequence number and
//! a tag derived from a per-session secret, all base64url-encoded (opaque to clients,
//! like the real `CiQ…` handles). Because the session id is inside the handle, issuing
//! a handle touches no shared table (nothing global on the hot path), and checking one
//! is a lookup of its session plus three comparisons.
//!
//! Semantics (documented simplification of the real service): any handle a session
//! issued resumes that session's *latest* conversation state, including outstanding
//! function calls, for `handle_ttl` after the session was last connected. Handles are
//! stale once expired, once invalidated through the control handle, or when they are
//! unknown. Resuming while the session still has an open connection closes the new one
//! with 1011.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// A decoded handle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handle {
    /// The session it belongs to.
    pub session: String,
    /// Its sequence number within the session (1, 2, ...).
    pub seq: u64,
    /// Authenticity tag.
    pub tag: u64,
}

/// Derives a handle's tag from the session secret and the sequence number.
pub fn tag(secret: u64, seq: u64) -> u64 {
    let mut z = secret ^ seq.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Encodes a handle.
pub fn encode(session: &str, seq: u64, secret: u64) -> String {
    let text = format!("{session}|{seq}|{:016x}", tag(secret, seq));
    URL_SAFE_NO_PAD.encode(text)
}

/// Decodes a handle (None if it is not one of ours).
pub fn decode(handle: &str) -> Option<Handle> {
    let bytes = URL_SAFE_NO_PAD.decode(handle.trim_end_matches('=')).ok()?;
    let text = std::str::from_utf8(&bytes).ok()?;
    let mut parts = text.split('|');
    let session = parts.next()?.to_string();
    let seq = parts.next()?.parse().ok()?;
    let tag = u64::from_str_radix(parts.next()?, 16).ok()?;
    if parts.next().is_some() || session.is_empty() {
        return None;
    }
    Some(Handle { session, seq, tag })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let h = encode("9f5a799e-f8b3-4ba4-978b-714a89f1fd02", 3, 42);
        let d = decode(&h).unwrap();
        assert_eq!(d.session, "9f5a799e-f8b3-4ba4-978b-714a89f1fd02");
        assert_eq!(d.seq, 3);
        assert_eq!(d.tag, tag(42, 3));
        assert_ne!(d.tag, tag(43, 3));
        assert!(decode("not a handle").is_none());
        assert!(decode("").is_none());
        assert!(decode(&URL_SAFE_NO_PAD.encode("a|b|c")).is_none());
    }
}
