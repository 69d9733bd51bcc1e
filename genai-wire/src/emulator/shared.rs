//! The state every connection of one emulator shares: the configuration, the session
//! registry, the shutdown signal, the open-connection count, the TLS material and the
//! armed close-after-setup fault. [`Emulator`](super::Emulator) is the public handle on it.

use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex};

use tokio::sync::watch;

use super::config::{CloseAfterSetup, Config};
use super::registry::Registry;
use super::server::TlsMaterial;

pub(crate) struct Shared {
    pub cfg: Config,
    /// Armed by the builder or
    /// [`Emulator::close_after_setup`](super::Emulator::close_after_setup); taken at each
    /// setup.
    pub close_after_setup: Mutex<Option<CloseAfterSetup>>,
    pub registry: Arc<Registry>,
    pub shutdown: watch::Sender<bool>,
    pub active: AtomicUsize,
    pub tls: Option<Arc<TlsMaterial>>,
    pub transcript_lock: std::sync::Mutex<()>,
}

impl Shared {
    /// The state of a new emulator: no session yet, nothing open, not shutting down.
    pub fn new(cfg: Config, tls: Option<Arc<TlsMaterial>>) -> Shared {
        Shared {
            close_after_setup: Mutex::new(cfg.close_after_setup.clone()),
            cfg,
            registry: Arc::new(Registry::default()),
            shutdown: watch::channel(false).0,
            active: AtomicUsize::new(0),
            tls,
            transcript_lock: std::sync::Mutex::new(()),
        }
    }

    /// The close to apply to a connection that just completed setup, if one is armed
    /// (counts it down).
    pub fn take_close_after_setup(&self) -> Option<(u16, String)> {
        let mut armed = self
            .close_after_setup
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let c = armed.as_mut()?;
        let out = (c.code, c.reason.clone());
        match &mut c.remaining {
            Some(0) => {
                *armed = None;
                return None;
            }
            Some(1) => *armed = None,
            Some(n) => *n -= 1,
            None => {}
        }
        Some(out)
    }
}
