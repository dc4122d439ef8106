//! Occurrence lookups: after `resolved` events, the findings' occurrences are read from
//! DeepSource (`node(id:)`, up to 20 findings a request, on the shared request budget) and applied
//! by a comparison's rules, so the fixed lines leave the issue within seconds instead of at the
//! next comparison. Several events of one finding make one lookup (`findings/lookups.rs` keeps one row
//! per finding), and findings due together, of one repository or several, share a request. A
//! lookup that fails changes nothing and is tried again with backoff; the finding's sync, which
//! waited for the first try, then goes ahead with the count alone.
use std::time::Duration;

use sqlx::PgPool;

use crate::deepsource::{
    take_findings, DeepSource, DeepSourceError, Looked, RepositoryRef, SnapshotError, AUTH_PAUSE,
    MAX_FINDINGS_PER_REQUEST,
};
use crate::findings::lookups::{self, Lookup};
use crate::findings::queue::queue_finding;
use crate::findings::snapshots::apply_looked_up;
use crate::github::errors::backoff;

/// A replica holds a lookup this long; one that dies frees it then.
const LEASE: Duration = Duration::from_secs(120);

/// Looks up the due findings, one request's worth. True when DeepSource rejected the token:
/// the caller pauses.
#[tracing::instrument(skip_all)]
pub async fn run_due(pool: &PgPool, client: &DeepSource) -> Result<bool, sqlx::Error> {
    let due = lookups::claim_due(pool, MAX_FINDINGS_PER_REQUEST as i64, LEASE).await?;
    if due.is_empty() {
        return Ok(false);
    }
    let ids: Vec<String> = due.iter().map(|l| l.finding_id.clone()).collect();
    let answers = match take_findings(client, &ids).await {
        Ok(answers) => answers,
        Err(error) => vec![Err(error); due.len()],
    };
    let mut rejected = false;
    for (lookup, answer) in due.iter().zip(answers) {
        rejected |= end(pool, lookup, answer).await?;
    }
    Ok(rejected)
}

/// Applies what DeepSource said of one finding, or records why it could not, and queues the
/// finding's sync (which waited for this) either way: with the lines DeepSource listed, or with
/// the count alone. True when DeepSource rejected the token.
#[tracing::instrument(skip_all, fields(finding = %lookup.finding_id))]
async fn end(pool: &PgPool, lookup: &Lookup, answer: Looked) -> Result<bool, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let rejected = match answer {
        Ok(listed) => {
            let repository = RepositoryRef::from_vcs(&lookup.vcs_provider, &lookup.vcs_url);
            match (listed, repository) {
                (Some(finding), Some(repository)) => {
                    apply_looked_up(&mut tx, &repository, &finding, lookup.began_at).await?;
                }
                (None, _) => tracing::warn!(
                    finding = %lookup.finding_id,
                    "DeepSource shows no such finding to this token; its occurrences are left to the next comparison"
                ),
                // No repository to file it under: left as the events made it.
                (Some(_), None) => {}
            }
            lookups::finish(&mut tx, lookup).await?;
            false
        }
        Err(error) => {
            let unauthorized = matches!(error, SnapshotError::Api(DeepSourceError::Unauthorized(_)));
            let wait = match &error {
                SnapshotError::Api(DeepSourceError::RateLimited { wait })
                | SnapshotError::Api(DeepSourceError::Budget { wait }) => *wait,
                _ if unauthorized => AUTH_PAUSE,
                _ => backoff(lookup.attempts + 1),
            };
            tracing::warn!(finding = %lookup.finding_id, %error, retry_in_secs = wait.as_secs(), "a lookup of a finding's occurrences failed; nothing changed");
            lookups::fail(&mut tx, lookup, wait, &error.to_string()).await?;
            unauthorized
        }
    };
    queue_finding(&mut tx, &lookup.finding_id).await?;
    tx.commit().await?;
    Ok(rejected)
}
