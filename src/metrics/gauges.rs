//! Gauges read from Postgres: the queue, the findings by state, the age of each repository's last
//! complete snapshot. Read at most once per `GAUGES_CACHED_FOR` by one statement, whatever the
//! number of scrapers; scrapes in between (and those waiting on a read) share its answer. A scrape
//! without them says so (`deepsource_sync_database_gauges_up 0`), and that answer is kept only
//! for `FAILURE_CACHED_FOR`: never for as long as a whole one.
use std::fmt::Write;
use std::time::Duration;

use sqlx::PgPool;
use tokio::sync::Mutex;
use tokio::time::{timeout, Instant};

/// A scrape every 15 s (Prometheus' usual) reads the database at most every other time; a flood
/// of scrapes reads it no more.
pub const GAUGES_CACHED_FOR: Duration = Duration::from_secs(10);
/// A database that does not answer within this leaves the gauges out of this scrape rather than
/// hold the scrape.
const READ_DEADLINE: Duration = Duration::from_secs(2);
/// How long a failed read is the answer: the scrapes that waited on it share it (rather than
/// each wait out its own deadline in turn), and the next scrape after asks again.
const FAILURE_CACHED_FOR: Duration = Duration::from_secs(1);
const GAUGES_UP: &str = "deepsource_sync_database_gauges_up";

const JOB_STATUSES: [&str; 5] = ["pending", "running", "done", "skipped", "dead"];
const FINDING_STATES: [&str; 4] = ["open", "closed", "dismissed", "failed"];

pub struct DatabaseGauges {
    pool: PgPool,
    /// The last read's text (`None`: it failed) and when it was made. A lock, not a read-write
    /// lock: a scrape that finds the text stale reads afresh while the others wait for its answer.
    cached: Mutex<Option<(Instant, Option<String>)>>,
}

struct Row {
    metric: String,
    label: String,
    value: f64,
}

impl DatabaseGauges {
    pub fn new(pool: PgPool) -> Self {
        Self {
            pool,
            cached: Mutex::new(None),
        }
    }

    /// The gauges in Prometheus' text format, after `GAUGES_UP` saying whether they are there.
    pub async fn render(&self) -> String {
        let mut cached = self.cached.lock().await;
        if let Some((at, text)) = cached.as_ref() {
            let fresh_for = match text {
                Some(_) => GAUGES_CACHED_FOR,
                None => FAILURE_CACHED_FOR,
            };
            if at.elapsed() < fresh_for {
                return with_up(text.as_deref());
            }
        }
        let text = match self.read().await {
            Ok(rows) => Some(format(&rows)),
            Err(reason) => {
                tracing::warn!(%reason, "could not read the gauges for /metrics");
                None
            }
        };
        let rendered = with_up(text.as_deref());
        *cached = Some((Instant::now(), text));
        rendered
    }

    async fn read(&self) -> Result<Vec<Row>, String> {
        let too_late = || format!("no answer within {} ms", READ_DEADLINE.as_millis());
        let mut conn = timeout(READ_DEADLINE, self.pool.acquire())
            .await
            .map_err(|_| too_late())?
            .map_err(|e| e.to_string())?;
        match timeout(READ_DEADLINE, query(&mut conn)).await {
            Ok(rows) => rows.map_err(|e| e.to_string()),
            Err(_) => {
                // Its answer may still arrive: this connection must not serve another statement.
                conn.close_on_drop();
                Err(too_late())
            }
        }
    }
}

/// One statement: a scan of `sync_jobs`, and of `findings` with each one's newest finished job
/// (`finding_status`; see docs/operating.md, "Metrics", for what each state means).
async fn query(conn: &mut sqlx::PgConnection) -> Result<Vec<Row>, sqlx::Error> {
    sqlx::query_as!(
        Row,
        r#"WITH jobs AS (
               SELECT status, count(*) AS n, min(created_at) FILTER (WHERE status = 'pending') AS oldest
               FROM sync_jobs GROUP BY status
           )
           SELECT 'jobs' AS "metric!", status AS "label!", n::float8 AS "value!" FROM jobs
           UNION ALL
           SELECT 'oldest_pending', '',
                  coalesce(extract(epoch FROM now() - (SELECT min(oldest) FROM jobs)), 0)::float8
           UNION ALL
           SELECT 'findings', state, count(*)::float8 FROM finding_status GROUP BY state
           UNION ALL
           SELECT 'snapshot_age', repository_key, extract(epoch FROM now() - at)::float8
           FROM repository_snapshots"#
    )
    .fetch_all(conn)
    .await
}

fn with_up(gauges: Option<&str>) -> String {
    let mut text = String::new();
    let name = family(
        &mut text,
        GAUGES_UP,
        "1 when this scrape's database gauges were read from Postgres; 0 when it did not answer and they are missing",
    );
    let _ = writeln!(text, "{name} {}", u8::from(gauges.is_some()));
    text.push_str(gauges.unwrap_or_default());
    text
}

fn format(rows: &[Row]) -> String {
    let value = |metric: &str, label: &str| {
        rows.iter()
            .find(|r| r.metric == metric && r.label == label)
            .map_or(0.0, |r| r.value)
    };
    let mut text = String::new();
    let name = family(&mut text, "deepsource_sync_jobs", "Sync jobs by status");
    for status in JOB_STATUSES {
        let _ = writeln!(text, "{name}{{status=\"{status}\"}} {}", value("jobs", status));
    }
    let name = family(
        &mut text,
        "deepsource_sync_oldest_pending_job_age_seconds",
        "Seconds since the oldest pending sync job was queued (0 when none is pending)",
    );
    let _ = writeln!(text, "{name} {}", value("oldest_pending", ""));
    let name = family(
        &mut text,
        "deepsource_sync_findings",
        "Findings by state: open, closed, dismissed (by a person), failed (a dead job not yet followed by a sync)",
    );
    for state in FINDING_STATES {
        let _ = writeln!(text, "{name}{{state=\"{state}\"}} {}", value("findings", state));
    }
    let mut snapshots = rows.iter().filter(|r| r.metric == "snapshot_age").peekable();
    if snapshots.peek().is_some() {
        let name = family(
            &mut text,
            "deepsource_sync_snapshot_age_seconds",
            "Seconds since the last complete snapshot of each repository from DeepSource's API",
        );
        for row in snapshots {
            let _ = writeln!(
                text,
                "{name}{{repository=\"{}\"}} {}",
                escape(&row.label),
                row.value
            );
        }
    }
    text
}

fn family<'a>(text: &mut String, name: &'a str, help: &str) -> &'a str {
    let _ = writeln!(text, "# HELP {name} {help}\n# TYPE {name} gauge");
    name
}

/// A label value as the text format wants it.
fn escape(value: &str) -> String {
    value
        .replace('\\', r"\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(metric: &str, label: &str, value: f64) -> Row {
        Row {
            metric: metric.into(),
            label: label.into(),
            value,
        }
    }

    #[test]
    fn every_status_and_state_is_shown_and_absent_ones_are_zero() {
        let text = format(&[
            row("jobs", "pending", 3.0),
            row("oldest_pending", "", 12.5),
            row("findings", "dismissed", 1.0),
            row("snapshot_age", "github:a/\"b\"", 60.0),
        ]);
        assert!(
            text.contains("deepsource_sync_jobs{status=\"pending\"} 3\n"),
            "{text}"
        );
        assert!(
            text.contains("deepsource_sync_jobs{status=\"dead\"} 0\n"),
            "{text}"
        );
        assert!(text.contains("deepsource_sync_oldest_pending_job_age_seconds 12.5\n"));
        assert!(text.contains("deepsource_sync_findings{state=\"dismissed\"} 1\n"));
        assert!(text.contains("deepsource_sync_findings{state=\"open\"} 0\n"));
        assert!(text.contains("deepsource_sync_snapshot_age_seconds{repository=\"github:a/\\\"b\\\"\"} 60\n"));
        assert!(text.contains("# TYPE deepsource_sync_findings gauge\n"));
    }

    #[test]
    fn a_scrape_says_whether_its_gauges_are_there() {
        let missing = with_up(None);
        assert!(
            missing.ends_with("\ndeepsource_sync_database_gauges_up 0\n"),
            "{missing}"
        );
        let whole = with_up(Some(&format(&[])));
        assert!(
            whole.contains("\ndeepsource_sync_database_gauges_up 1\n"),
            "{whole}"
        );
        assert!(
            whole.contains("deepsource_sync_jobs{status=\"pending\"} 0\n"),
            "{whole}"
        );
    }

    #[test]
    fn no_snapshot_no_snapshot_gauge() {
        let text = format(&[]);
        assert!(!text.contains("snapshot_age"), "{text}");
        assert!(text.contains("deepsource_sync_oldest_pending_job_age_seconds 0\n"));
    }
}
