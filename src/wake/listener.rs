//! The listening connection and its fan-out. Notifications sent while it is down are lost, so
//! every time it is (re-)established the duties are told to look at once: what was committed
//! meanwhile is found then. One that cannot listen at all (a transaction-mode pooler in front of
//! `DATABASE_LISTEN_URL`) says so once and keeps trying, less and less often; the duties poll.
use std::time::Duration;

use sqlx::postgres::{PgListener, PgPoolOptions};
use sqlx::PgPool;
use tokio::sync::watch;

use super::mode::WakeMode;
use crate::db::notify::WORK_CHANNEL;

/// A connection that does not answer within this is counted as failed.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest wait between two tries to listen again.
const MAX_RETRY: Duration = Duration::from_secs(60);

/// A duty's handle: a wake-up to wait for, and the mode. Each clone waits on its own.
#[derive(Clone, Debug)]
pub struct Wakeups {
    heard: watch::Receiver<u64>,
    mode: watch::Receiver<WakeMode>,
}

impl Wakeups {
    /// Listens on `url` until `stop` turns true, keeping the mode in `sync_workers` through
    /// `pool` (`record.rs`).
    pub fn start(url: String, pool: &PgPool, stop: watch::Receiver<bool>) -> Self {
        let (heard, heard_rx) = watch::channel(0);
        let (mode, mode_rx) = watch::channel(WakeMode::Starting);
        tokio::spawn(super::record::follow(pool.clone(), mode_rx.clone(), stop.clone()));
        tokio::spawn(listen(url, heard, mode, stop));
        Self {
            heard: heard_rx,
            mode: mode_rx,
        }
    }

    /// Never wakes anyone: for a worker run by hand (tests, one-off runs), which looks on its
    /// own.
    pub fn none() -> Self {
        let (_, heard) = watch::channel(0);
        let (_, mode) = watch::channel(WakeMode::Polling("not listening".into()));
        Self { heard, mode }
    }

    /// Returns at the next wake-up after the last this handle returned for (or at once if one
    /// came since); never, when nothing listens.
    pub async fn wait(&mut self) {
        if self.heard.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }

    pub fn mode(&self) -> WakeMode {
        self.mode.borrow().clone()
    }

    /// Wake-ups heard so far (each notification, and each time listening began): for tests.
    pub fn heard(&self) -> watch::Receiver<u64> {
        self.heard.clone()
    }

    /// The mode as it changes: for tests.
    pub fn modes(&self) -> watch::Receiver<WakeMode> {
        self.mode.clone()
    }
}

async fn listen(
    url: String,
    heard: watch::Sender<u64>,
    mode: watch::Sender<WakeMode>,
    mut stop: watch::Receiver<bool>,
) {
    let wake = || heard.send_modify(|n| *n += 1);
    let mut failures = 0u32;
    while !*stop.borrow() {
        let connected = tokio::select! {
            connected = tokio::time::timeout(CONNECT_TIMEOUT, connect(&url)) => match connected {
                Ok(result) => result.map_err(|e| e.to_string()),
                Err(_) => Err(format!("no answer within {CONNECT_TIMEOUT:?}")),
            },
            _ = stop.changed() => break,
        };
        let mut listener = match connected {
            Ok(listener) => listener,
            Err(reason) => {
                failures += 1;
                if failures == 1 {
                    tracing::warn!(
                        %reason,
                        "cannot LISTEN on DATABASE_LISTEN_URL, so work is found by polling every SYNC_POLL_INTERVAL; behind a transaction-mode pooler, point DATABASE_LISTEN_URL at a direct connection"
                    );
                }
                mode.send_replace(WakeMode::Polling(reason));
                let retry = (Duration::from_secs(1) * 2u32.saturating_pow(failures - 1)).min(MAX_RETRY);
                tokio::select! {
                    _ = tokio::time::sleep(retry) => continue,
                    _ = stop.changed() => break,
                }
            }
        };
        if failures > 0 {
            tracing::info!("listening for work again");
        }
        failures = 0;
        mode.send_replace(WakeMode::Listening);
        // Whatever was committed while nobody listened is looked for now.
        wake();
        let lost = loop {
            tokio::select! {
                received = listener.try_recv() => match received {
                    Ok(Some(_)) => wake(),
                    Ok(None) => break "the connection closed".to_owned(),
                    Err(e) => break e.to_string(),
                },
                _ = stop.changed() => return,
            }
        };
        tracing::warn!(reason = %lost, "the listening connection was lost; reconnecting (work committed meanwhile is looked for then)");
        mode.send_replace(WakeMode::Polling(lost));
    }
}

async fn connect(url: &str) -> Result<PgListener, sqlx::Error> {
    // Named for this process, as its pool's connections are (`sync_workers` reads that).
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .max_lifetime(None)
        .idle_timeout(None)
        .connect_with(crate::db::connect_options(url)?)
        .await?;
    let mut listener = PgListener::connect_with(&pool).await?;
    // A lost connection is re-made here, not inside sqlx, so the look after it is not missed.
    listener.eager_reconnect(false);
    listener.listen(WORK_CHANNEL).await?;
    Ok(listener)
}
