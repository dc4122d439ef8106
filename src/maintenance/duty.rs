//! The one shape of every maintenance duty, and the timer that runs it.
use std::future::Future;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

/// One background duty.
pub trait Duty: Send + Sync + 'static {
    /// Names it in logs.
    const NAME: &'static str;
    /// The time between passes once a pass found less than a full batch.
    fn interval(&self) -> Duration;
    /// One bounded batch; true when it was full, so more may be due at once.
    fn pass(&self) -> impl Future<Output = Result<bool, sqlx::Error>> + Send;
}

/// Runs `duty` until `stop` turns true: first after a random part of its interval (replicas
/// started together spread out), then every interval give or take a tenth, at once again after
/// a full batch.
pub fn start<D: Duty>(duty: D, mut stop: watch::Receiver<bool>) -> JoinHandle<()> {
    tokio::spawn(async move {
        tracing::debug!(
            duty = D::NAME,
            interval_secs = duty.interval().as_secs_f64(),
            "started"
        );
        let mut wait = duty.interval().mul_f64(rand::random_range(0.0..1.0));
        loop {
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                changed = stop.changed() => if changed.is_err() || *stop.borrow() { break },
            }
            if *stop.borrow() {
                break;
            }
            wait = match duty.pass().await {
                // The stop is looked at between batches.
                Ok(true) => Duration::ZERO,
                Ok(false) => jittered(duty.interval()),
                Err(error) => {
                    tracing::warn!(duty = D::NAME, %error, "a maintenance pass failed; tried again at its next time");
                    jittered(duty.interval())
                }
            };
        }
        tracing::debug!(duty = D::NAME, "stopped");
    })
}

fn jittered(interval: Duration) -> Duration {
    interval.mul_f64(rand::random_range(0.9..1.1))
}
