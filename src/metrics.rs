//! What `GET /metrics` shows, in Prometheus' text format. The names are a contract: dashboards
//! and alerts depend on them (docs/operating.md, "Metrics").
//!
//! Three sources, rendered one after the other (their metric names never overlap):
//! - the intake's counters and histogram, kept per `Application` in a recorder of its own
//!   (`IntakeMetrics`): a process runs one, and tests, which start many in one process, can
//!   count exactly what their own app received;
//! - the sync worker's and the reconciler's calls to GitHub and DeepSource, through the `metrics`
//!   crate's global recorder, installed once per process (`process_handle`): they run in tasks
//!   of their own, outside any request;
//! - gauges read from Postgres, cached (`gauges.rs`).
mod gauges;

use std::sync::OnceLock;
use std::time::Duration;

use metrics::{counter, histogram, with_local_recorder, Unit};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle, PrometheusRecorder};

pub use gauges::{DatabaseGauges, GAUGES_CACHED_FOR};

pub const WEBHOOK_REQUESTS: &str = "deepsource_sync_webhook_requests_total";
pub const GITHUB_WEBHOOK_REQUESTS: &str = "deepsource_sync_github_webhook_requests_total";
pub const INGEST_SECONDS: &str = "deepsource_sync_webhook_ingest_seconds";
pub const GITHUB_REQUESTS: &str = "deepsource_sync_github_requests_total";
pub const BUDGET_WAIT_SECONDS: &str = "deepsource_sync_github_budget_wait_seconds";
pub const DEEPSOURCE_REQUESTS: &str = "deepsource_sync_deepsource_requests_total";
pub const OVERVIEW_WRITES: &str = "deepsource_sync_overview_writes_total";

/// Every outcome `POST /webhooks` can have, so each series exists (at 0) from the start and a
/// `rate()` over it never begins with a gap.
pub const WEBHOOK_OUTCOMES: [&str; 7] = [
    "stored",
    "duplicate",
    "conflict",
    "bad_signature",
    "bad_request",
    "too_large",
    "unavailable",
];

/// Storing a delivery takes milliseconds; the top buckets catch the outage deadlines (2 s to get
/// a connection, 5 s for the write).
const INGEST_BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 2.5, 5.0,
];
/// A write slot is mostly free at once; waits go up to the 20 s a worker sleeps through.
const BUDGET_BUCKETS: [f64; 10] = [0.001, 0.01, 0.1, 0.5, 1.0, 2.0, 5.0, 10.0, 15.0, 20.0];

fn builder() -> PrometheusBuilder {
    PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Full(INGEST_SECONDS.into()), &INGEST_BUCKETS)
        .and_then(|b| b.set_buckets_for_metric(Matcher::Full(BUDGET_WAIT_SECONDS.into()), &BUDGET_BUCKETS))
        .expect("the bucket lists are not empty")
}

/// The global recorder, installed by the first caller; every later call (another app in the same
/// test process) gets the same handle.
pub fn process_handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let recorder = builder().build_recorder();
        let handle = recorder.handle();
        if metrics::set_global_recorder(recorder).is_err() {
            // Someone else's recorder got there first (an embedding program): ours then shows
            // no calls, which the metrics themselves make plain.
            tracing::warn!("a metrics recorder was already installed; GitHub and DeepSource call counts are not exported");
        }
        metrics::describe_counter!(
            GITHUB_REQUESTS,
            "Calls to GitHub's API by operation and what the answer meant"
        );
        metrics::describe_histogram!(
            BUDGET_WAIT_SECONDS,
            Unit::Seconds,
            "How long each GitHub write waited for its slot in the shared write budget"
        );
        metrics::describe_counter!(
            DEEPSOURCE_REQUESTS,
            "Requests to DeepSource's GraphQL API by what the answer meant"
        );
        metrics::describe_counter!(
            OVERVIEW_WRITES,
            "Writes to repositories' overview issues by action (create, update, close, reopen, labels)"
        );
        handle
    })
}

/// One call to GitHub: `operation` and `outcome` are from short fixed lists (never an id).
pub fn github_request(operation: &'static str, outcome: &'static str) {
    counter!(GITHUB_REQUESTS, "operation" => operation, "outcome" => outcome).increment(1);
}

/// A GitHub write slept `wait` for its slot.
pub fn budget_wait(wait: Duration) {
    histogram!(BUDGET_WAIT_SECONDS).record(wait.as_secs_f64());
}

/// One write to an overview issue: `action` from a short fixed list.
pub fn overview_write(action: &'static str) {
    counter!(OVERVIEW_WRITES, "action" => action).increment(1);
}

pub fn deepsource_request(outcome: &'static str) {
    counter!(DEEPSOURCE_REQUESTS, "outcome" => outcome).increment(1);
}

/// The intake's own counters and histogram (one `Application`'s).
pub struct IntakeMetrics {
    recorder: PrometheusRecorder,
}

impl Default for IntakeMetrics {
    fn default() -> Self {
        let intake = Self {
            recorder: builder().build_recorder(),
        };
        intake.record(|| {
            metrics::describe_counter!(
                WEBHOOK_REQUESTS,
                "Deliveries to POST /webhooks (DeepSource) by outcome"
            );
            metrics::describe_counter!(
                GITHUB_WEBHOOK_REQUESTS,
                "Deliveries to POST /github/webhooks by outcome"
            );
            metrics::describe_histogram!(
                INGEST_SECONDS,
                Unit::Seconds,
                "Time to store one DeepSource delivery (until its batch committed, or failed)"
            );
            for outcome in WEBHOOK_OUTCOMES {
                counter!(WEBHOOK_REQUESTS, "outcome" => outcome).increment(0);
            }
        });
        intake
    }
}

impl IntakeMetrics {
    fn record(&self, f: impl FnOnce()) {
        with_local_recorder(&self.recorder, f);
    }

    pub fn webhook(&self, outcome: &'static str) {
        self.record(|| counter!(WEBHOOK_REQUESTS, "outcome" => outcome).increment(1));
    }

    pub fn github_webhook(&self, outcome: &'static str) {
        self.record(|| counter!(GITHUB_WEBHOOK_REQUESTS, "outcome" => outcome).increment(1));
    }

    pub fn ingest_took(&self, took: Duration) {
        self.record(|| histogram!(INGEST_SECONDS).record(took.as_secs_f64()));
    }

    /// This app's part of the exposition. Histogram samples are folded in first (the exporter
    /// without its HTTP listener runs no upkeep task of its own).
    pub fn render(&self) -> String {
        let handle = self.recorder.handle();
        handle.run_upkeep();
        handle.render()
    }
}

/// The whole exposition: the intake's, the process's and the database's.
pub fn render_all(intake: &IntakeMetrics, gauges: &str) -> String {
    let process = process_handle();
    process.run_upkeep();
    let mut text = intake.render();
    text.push_str(&process.render());
    text.push_str(gauges);
    text
}
