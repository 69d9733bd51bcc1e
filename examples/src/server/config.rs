//! What the agent server is configured with, and the rule that keeps it from becoming an
//! open relay: a bind beyond loopback needs an access token.

use std::net::SocketAddr;
use std::time::Duration;

use genai_wire::Secret;

/// The agent server's configuration.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ServerConfig {
    /// Where to listen. Default `127.0.0.1:8080`.
    pub addr: SocketAddr,
    /// The access token a page must present on the websocket upgrade (`?token=` or
    /// `Authorization: Bearer`). Required for any bind beyond loopback.
    pub token: Option<Secret>,
    /// Origins (`scheme://host:port`) allowed besides the server's own. A browser always
    /// sends `Origin` on a websocket upgrade; one not listed here and not the page's own
    /// host is refused, so another site open in the same browser cannot spend the quota.
    pub allowed_origins: Vec<String>,
    /// Per-connection and global limits (phone calls count against `max_sessions` too).
    pub limits: Limits,
    /// Phone calls through Twilio.
    pub twilio: super::phone::TwilioConfig,
}

/// Limits that keep one page from hurting the others or the quota.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct Limits {
    /// Pages connected at once; the next upgrade gets 503. Default 32.
    pub max_sessions: usize,
    /// The largest frame a page may send, in bytes. Default 64 KiB (a 40 ms audio chunk
    /// is 1,280 bytes).
    pub max_frame_bytes: usize,
    /// Frames per second a page may send, with a burst of as many. Default 200 (audio in
    /// 20 ms chunks is 50 a second).
    pub max_frames_per_sec: u32,
    /// A page that sends no data frame for this long is closed. Default 300 s.
    pub idle_timeout: Duration,
    /// Time a page has to send its `hello`. Default 10 s.
    pub hello_timeout: Duration,
    /// A write to a page that does not read fails after this long and closes it. Default
    /// 10 s.
    pub send_timeout: Duration,
    /// Time the Live session has to open. Default 30 s.
    pub connect_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_sessions: 32,
            max_frame_bytes: 64 * 1024,
            max_frames_per_sec: 200,
            idle_timeout: Duration::from_secs(300),
            hello_timeout: Duration::from_secs(10),
            send_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(30),
        }
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            token: None,
            allowed_origins: Vec::new(),
            limits: Limits::default(),
            twilio: Default::default(),
        }
    }
}

impl ServerConfig {
    /// Checks the configuration: a bind beyond loopback without a token is refused.
    pub fn validate(&self) -> Result<(), String> {
        // A public URL means a tunnel or proxy: every request then comes from loopback,
        // and the loopback exemption would open the server to the internet.
        if self.twilio.public_url.is_some() && self.token.is_none() {
            return Err(
                "a --public-url (a tunnel or proxy in front of the server) needs an \
                        access token: set --token or AGENT_SERVER_TOKEN"
                    .into(),
            );
        }
        if !self.addr.ip().is_loopback() && self.token.is_none() {
            return Err(format!(
                "refusing to serve on {} without an access token: anyone who reaches it \
                 would spend your API quota. Set --token or AGENT_SERVER_TOKEN, or bind \
                 127.0.0.1",
                self.addr
            ));
        }
        if self.token.as_ref().is_some_and(|t| t.expose().len() < 16) {
            return Err("the access token must be at least 16 characters".into());
        }
        let l = &self.limits;
        if l.max_sessions == 0 || l.max_frame_bytes < 1024 || l.max_frames_per_sec == 0 {
            return Err(
                "limits must allow one session, 1 KiB frames and one frame a second".into(),
            );
        }
        if let Some(url) = &self.twilio.public_url
            && !(url.starts_with("https://") || url.starts_with("http://"))
        {
            return Err(format!("the public URL {url:?} must start with https://"));
        }
        for origin in &self.allowed_origins {
            if !(origin.starts_with("http://") || origin.starts_with("https://"))
                || origin.ends_with('/')
            {
                return Err(format!(
                    "allowed origin {origin:?} must look like https://host[:port], no path"
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn beyond_loopback_needs_a_token() {
        let mut c = ServerConfig::default();
        assert!(c.validate().is_ok());
        c.addr = "0.0.0.0:8080".parse().unwrap();
        assert!(
            c.validate()
                .unwrap_err()
                .contains("without an access token")
        );
        c.token = Some("short".into());
        assert!(c.validate().unwrap_err().contains("16 characters"));
        c.token = Some("a-long-enough-token".into());
        assert!(c.validate().is_ok());
        c.allowed_origins = vec!["https://example.com/".into()];
        assert!(c.validate().is_err());
    }
}
