//! Keeps the sync worker running inside `serve`: a worker that panics or stops unasked is
//! restarted (with a logged error), and its state is there for `/readyz` to report, so intake
//! never runs on, green, with nothing syncing.
use std::future::Future;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;

use crate::wake::{WakeMode, Wakeups};

/// What the in-process worker is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WorkerState {
    /// This process runs no worker (`serve --no-worker`, or a separate `worker` process).
    NotHere,
    Running,
    /// It failed and is about to be started again.
    Restarting,
    Stopped,
}

/// Shared between the supervisor, the worker and the readiness check: whether the worker runs,
/// how it hears of work, and how often it has gone idle (which tests wait on).
#[derive(Clone, Debug, Default)]
pub struct WorkerLiveness(Arc<Shared>);

#[derive(Debug, Default)]
struct Shared {
    state: AtomicU8,
    wake: Mutex<Option<Wakeups>>,
    idle: watch::Sender<u64>,
}

impl WorkerLiveness {
    pub fn state(&self) -> WorkerState {
        match self.0.state.load(Ordering::Acquire) {
            1 => WorkerState::Running,
            2 => WorkerState::Restarting,
            3 => WorkerState::Stopped,
            _ => WorkerState::NotHere,
        }
    }

    fn set(&self, state: WorkerState) {
        let n = match state {
            WorkerState::NotHere => 0,
            WorkerState::Running => 1,
            WorkerState::Restarting => 2,
            WorkerState::Stopped => 3,
        };
        self.0.state.store(n, Ordering::Release);
    }

    /// How the worker hears of work; `None` where no worker runs.
    pub fn wake_mode(&self) -> Option<WakeMode> {
        self.0.wake.lock().unwrap().as_ref().map(Wakeups::mode)
    }

    /// The mode as it changes; `None` where no worker runs. For tests, which wait on it.
    pub fn wake_modes(&self) -> Option<watch::Receiver<WakeMode>> {
        self.0.wake.lock().unwrap().as_ref().map(Wakeups::modes)
    }

    /// The process's wake-ups, which the worker waits on.
    pub fn set_wakeups(&self, wakeups: Wakeups) {
        *self.0.wake.lock().unwrap() = Some(wakeups);
    }

    /// The times the worker went to sleep with nothing due, counted: a test waits for this to
    /// know the worker is idle.
    pub fn idle(&self) -> watch::Receiver<u64> {
        self.0.idle.subscribe()
    }

    pub(super) fn went_idle(&self) {
        self.0.idle.send_modify(|n| *n += 1);
    }
}

/// Runs what `start` makes until `stop` turns true, starting it again `restart_delay` after it
/// panics, fails to start, or ends while no stop was asked for.
pub async fn supervise<F, Fut>(
    liveness: WorkerLiveness,
    mut stop: watch::Receiver<bool>,
    restart_delay: Duration,
    mut start: F,
) where
    F: FnMut() -> anyhow::Result<Fut>,
    Fut: Future<Output = ()> + Send + 'static,
{
    while !*stop.borrow() {
        let ended = match start() {
            Ok(work) => {
                liveness.set(WorkerState::Running);
                match tokio::spawn(work).await {
                    Ok(()) if *stop.borrow() => break,
                    Ok(()) => "it stopped unasked".to_owned(),
                    Err(e) if e.is_panic() => format!("it panicked: {}", panic_message(e.into_panic())),
                    Err(e) => format!("it was cancelled: {e}"),
                }
            }
            Err(e) => format!("it could not start: {e:#}"),
        };
        liveness.set(WorkerState::Restarting);
        tracing::error!(
            restart_in_secs = restart_delay.as_secs_f64(),
            "the sync worker failed ({ended}); restarting it"
        );
        tokio::select! {
            _ = tokio::time::sleep(restart_delay) => {}
            changed = stop.changed() => if changed.is_err() { break },
        }
    }
    liveness.set(WorkerState::Stopped);
}

fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "no message".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    #[tokio::test]
    async fn a_worker_that_panics_is_restarted_and_its_state_is_reported() {
        let liveness = WorkerLiveness::default();
        assert_eq!(liveness.state(), WorkerState::NotHere);
        let (stop, stopped) = watch::channel(false);
        let (running, mut started) = watch::channel(0usize);
        let starts = Arc::new(AtomicUsize::new(0));
        let supervisor = tokio::spawn({
            let liveness = liveness.clone();
            let starts = starts.clone();
            let stopped = stopped.clone();
            supervise(liveness, stopped.clone(), Duration::ZERO, move || {
                let n = starts.fetch_add(1, Ordering::SeqCst) + 1;
                let running = running.clone();
                let mut stopped = stopped.clone();
                match n {
                    2 => anyhow::bail!("no database yet"),
                    _ => Ok(async move {
                        running.send_replace(n);
                        if n == 1 {
                            panic!("a header value out of range");
                        }
                        let _ = stopped.wait_for(|s| *s).await;
                    }),
                }
            })
        });
        // Start 1 panics, start 2 fails, start 3 runs.
        started.wait_for(|n| *n == 3).await.unwrap();
        assert_eq!(liveness.state(), WorkerState::Running);
        stop.send(true).unwrap();
        supervisor.await.unwrap();
        assert_eq!(starts.load(Ordering::SeqCst), 3);
        assert_eq!(liveness.state(), WorkerState::Stopped);
    }

    #[tokio::test]
    async fn a_worker_that_ends_unasked_is_restarted_and_one_asked_to_stop_is_not() {
        let liveness = WorkerLiveness::default();
        let (stop, stopped) = watch::channel(false);
        let starts = Arc::new(AtomicUsize::new(0));
        let (tell, mut told) = watch::channel(0usize);
        let supervisor = tokio::spawn({
            let starts = starts.clone();
            supervise(liveness.clone(), stopped, Duration::ZERO, move || {
                let n = starts.fetch_add(1, Ordering::SeqCst) + 1;
                let tell = tell.clone();
                Ok(async move {
                    tell.send_replace(n);
                })
            })
        });
        told.wait_for(|n| *n >= 2).await.unwrap();
        stop.send(true).unwrap();
        supervisor.await.unwrap();
        assert!(starts.load(Ordering::SeqCst) >= 2);
        assert_eq!(liveness.state(), WorkerState::Stopped);
    }
}
