//! Who may open a session: the checks on the websocket upgrade, before any Live session
//! (and any quota) is spent.
//!
//! * **Token.** When one is configured, the upgrade must carry it as `?token=` (a browser
//!   cannot set headers on a websocket) or `Authorization: Bearer`. It is compared in
//!   constant time and never logged.
//! * **Origin.** Browsers send `Origin` on every websocket upgrade and let any page open a
//!   socket to any host, including 127.0.0.1 (cross-site websocket hijacking). An origin
//!   that is neither the server's own host nor configured is refused. A request without
//!   `Origin` is not from a browser page; the token is what stops those.
//! * **Slots.** At most `max_sessions` pages at once; a slot is held until the page's
//!   connection has ended and its session is closed.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::http::{HeaderMap, StatusCode, header};
use genai_wire::Secret;

/// Why an upgrade was refused: the HTTP status and a short reason for the body and log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The status sent instead of the upgrade.
    pub status: StatusCode,
    /// What was wrong.
    pub reason: &'static str,
}

/// The upgrade checks of one server.
#[derive(Debug)]
pub struct Access {
    token: Option<Secret>,
    allowed_origins: Vec<String>,
    slots: Arc<AtomicUsize>,
    max_sessions: usize,
}

/// One page's place in the session limit, given back on drop.
#[derive(Debug)]
pub struct Slot(Arc<AtomicUsize>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Access {
    /// The checks for this token, these extra origins and this session limit.
    pub fn new(token: Option<Secret>, allowed_origins: Vec<String>, max_sessions: usize) -> Self {
        Access {
            token,
            allowed_origins,
            slots: Arc::new(AtomicUsize::new(0)),
            max_sessions,
        }
    }

    /// Pages connected now.
    pub fn active(&self) -> usize {
        self.slots.load(Ordering::Acquire)
    }

    /// Runs every check; on success the page holds a slot.
    pub fn admit(&self, headers: &HeaderMap, query_token: Option<&str>) -> Result<Slot, Refusal> {
        self.check_token(headers, query_token)?;
        self.check_origin(headers)?;
        self.slot()
    }

    fn check_token(&self, headers: &HeaderMap, query_token: Option<&str>) -> Result<(), Refusal> {
        let Some(expected) = &self.token else {
            // No token is only safe for callers on this machine; a request that came
            // through a proxy or tunnel is from elsewhere, whatever its socket says.
            if proxied(headers) {
                return Err(Refusal {
                    status: StatusCode::FORBIDDEN,
                    reason: "a proxied request needs the server to have an access token",
                });
            }
            return Ok(());
        };
        let bearer = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        match bearer.or(query_token) {
            Some(given) if constant_time_eq(given.as_bytes(), expected.expose().as_bytes()) => {
                Ok(())
            }
            Some(_) => Err(Refusal {
                status: StatusCode::UNAUTHORIZED,
                reason: "wrong access token",
            }),
            None => Err(Refusal {
                status: StatusCode::UNAUTHORIZED,
                reason: "access token required",
            }),
        }
    }

    fn check_origin(&self, headers: &HeaderMap) -> Result<(), Refusal> {
        let Some(origin) = headers.get(header::ORIGIN) else {
            return Ok(());
        };
        let refused = Refusal {
            status: StatusCode::FORBIDDEN,
            reason: "origin not allowed",
        };
        let origin = origin.to_str().map_err(|_| refused.clone())?;
        if self.allowed_origins.iter().any(|o| o == origin) {
            return Ok(());
        }
        // Same origin: the page was served by this host (the `Host` the browser dialled).
        let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
        let authority = origin
            .strip_prefix("http://")
            .or_else(|| origin.strip_prefix("https://"));
        match (authority, host) {
            (Some(a), Some(h)) if a.eq_ignore_ascii_case(h) => Ok(()),
            _ => Err(refused),
        }
    }

    /// A place in the session limit, for callers checked another way (phone streams).
    pub fn slot(&self) -> Result<Slot, Refusal> {
        let taken = self
            .slots
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.max_sessions).then_some(n + 1)
            });
        match taken {
            Ok(_) => Ok(Slot(self.slots.clone())),
            Err(_) => Err(Refusal {
                status: StatusCode::SERVICE_UNAVAILABLE,
                reason: "session limit reached",
            }),
        }
    }
}

/// True when a proxy or tunnel forwarded the request (the headers nginx, cloudflared,
/// ngrok and load balancers add).
pub fn proxied(headers: &HeaderMap) -> bool {
    [
        "forwarded",
        "x-forwarded-for",
        "x-forwarded-host",
        "x-real-ip",
        "cf-connecting-ip",
        "true-client-ip",
    ]
    .iter()
    .any(|h| headers.contains_key(*h))
}

/// Equal bytes, in time that depends only on the lengths.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn headers(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(k.clone(), HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn token_from_query_or_bearer() {
        let a = Access::new(Some("s3cret-token-0123".into()), vec![], 4);
        assert_eq!(
            a.admit(&HeaderMap::new(), None).unwrap_err().reason,
            "access token required"
        );
        assert_eq!(
            a.admit(&HeaderMap::new(), Some("nope")).unwrap_err().status,
            StatusCode::UNAUTHORIZED
        );
        assert!(
            a.admit(&HeaderMap::new(), Some("s3cret-token-0123"))
                .is_ok()
        );
        let bearer = headers(&[(header::AUTHORIZATION, "Bearer s3cret-token-0123")]);
        assert!(a.admit(&bearer, None).is_ok());
    }

    #[test]
    fn origin_must_be_own_host_or_listed() {
        let a = Access::new(None, vec!["https://kiosk.example".into()], 8);
        let own = headers(&[
            (header::HOST, "127.0.0.1:8080"),
            (header::ORIGIN, "http://127.0.0.1:8080"),
        ]);
        assert!(a.admit(&own, None).is_ok());
        let evil = headers(&[
            (header::HOST, "127.0.0.1:8080"),
            (header::ORIGIN, "https://evil.example"),
        ]);
        assert_eq!(
            a.admit(&evil, None).unwrap_err().status,
            StatusCode::FORBIDDEN
        );
        let other_port = headers(&[
            (header::HOST, "127.0.0.1:8080"),
            (header::ORIGIN, "http://127.0.0.1:9999"),
        ]);
        assert!(a.admit(&other_port, None).is_err());
        let listed = headers(&[
            (header::HOST, "127.0.0.1:8080"),
            (header::ORIGIN, "https://kiosk.example"),
        ]);
        assert!(a.admit(&listed, None).is_ok());
        assert!(
            a.admit(&HeaderMap::new(), None).is_ok(),
            "no Origin: not a browser"
        );
        let tunnelled = headers(&[(
            header::HeaderName::from_static("x-forwarded-for"),
            "203.0.113.9",
        )]);
        assert_eq!(
            a.admit(&tunnelled, None).unwrap_err().status,
            StatusCode::FORBIDDEN,
            "through a tunnel, no token is no entry"
        );
    }

    #[test]
    fn slots_are_given_back() {
        let a = Access::new(None, vec![], 2);
        let one = a.admit(&HeaderMap::new(), None).unwrap();
        let _two = a.admit(&HeaderMap::new(), None).unwrap();
        assert_eq!(
            a.admit(&HeaderMap::new(), None).unwrap_err().status,
            StatusCode::SERVICE_UNAVAILABLE
        );
        drop(one);
        assert_eq!(a.active(), 1);
        assert!(a.admit(&HeaderMap::new(), None).is_ok());
    }
}
