//! Wake-ups: one connection per process `LISTEN`s on the work channel (`db/notify.rs`) and tells
//! the duties of the process that wait for work (the sync worker, the reconciler) to look now;
//! it says whether the process is listening or, listening having failed, polling. A wake-up is
//! a hint, never the record of work: it knows nothing of jobs or findings, and the duties still
//! look at their fallback interval. Each process's mode is kept in `sync_workers` for the
//! status page.
mod listener;
mod mode;
mod record;

pub use listener::Wakeups;
pub use mode::WakeMode;
pub use record::{workers, WorkerRow};
