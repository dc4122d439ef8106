//! How a process hears of work: the mode its listening connection is in.
use serde::Serialize;

/// How a process hears of work.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "mode", content = "reason", rename_all = "snake_case")]
pub enum WakeMode {
    /// The first connection is being made.
    Starting,
    /// A commit that makes work due wakes the duties at once.
    Listening,
    /// Listening failed (the reason): the duties look every `SYNC_POLL_INTERVAL`.
    Polling(String),
}

impl WakeMode {
    pub fn name(&self) -> &'static str {
        match self {
            WakeMode::Starting => "starting",
            WakeMode::Listening => "listening",
            WakeMode::Polling(_) => "polling",
        }
    }
}
