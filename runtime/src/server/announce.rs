//! Telling the world where a server's servants are. The server knows nothing about registries:
//! when it has bound its adapters it hands every servant (but `AdminObj`) with its address to
//! the [`Announcer`] in its configuration, keeps the [`Announcement`] it gets back, and
//! withdraws it once it has stopped accepting and answered the requests it had.
//!
//! Self-registration with the tars-rs registry (`tars::registration::RegistrationConfig`) is
//! one announcer; anything else that publishes endpoints (a file, another naming service) can
//! be one too.

use std::net::SocketAddr;

/// Why an announcer could not announce (its own error, boxed).
pub type AnnounceError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// One servant on one bound adapter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnnouncedServant {
    /// The adapter's name.
    pub adapter: String,
    /// The servant's object name (`App.Server.Obj`).
    pub object: String,
    /// The adapter's bound address (the real port when the endpoint asked for port 0).
    pub addr: SocketAddr,
    /// The adapter endpoint's `-t` (idle timeout), in milliseconds.
    pub timeout_ms: u64,
}

/// Publishes a started server's servants; set in
/// [`ServerConfig::announcer`](super::ServerConfig::announcer).
pub trait Announcer: std::fmt::Debug + Send + Sync + 'static {
    /// Called once, when every adapter is bound and serving, with every servant but
    /// `AdminObj`. An error stops the server's start ([`ServerError::Announce`]); an announcer
    /// whose peer is merely unreachable should rather succeed and retry in the background.
    ///
    /// [`ServerError::Announce`]: super::ServerError::Announce
    fn announce(
        &self,
        servants: &[AnnouncedServant],
    ) -> Result<Box<dyn Announcement>, AnnounceError>;
}

/// A running announcement, withdrawn when the server stops.
pub trait Announcement: Send + 'static {
    /// Called once the server has stopped accepting and answered its in-flight requests;
    /// returns when the servants are withdrawn (or withdrawing failed). Dropping an
    /// announcement without calling this is up to the implementation.
    fn withdraw(self: Box<Self>);
}
