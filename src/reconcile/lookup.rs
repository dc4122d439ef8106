//! Occurrence lookups: after a `resolved` event, the finding's occurrences are read from
//! DeepSource (`node(id:)`, paged, on the shared request budget) and applied by a comparison's
//! rules, so the fixed lines leave the issue within seconds instead of at the next comparison.
//! Several events of one finding make one lookup (`sync/lookups.rs` keeps one row per finding).
//! A lookup that fails changes nothing and is tried again with backoff; the finding's sync, which
//! waited for the first try, then goes ahead with the count alone.
use std::time::Duration;

use sqlx::PgPool;

use crate::deepsource::{take_finding, DeepSource, DeepSourceError, RepositoryRef, SnapshotError};
use crate::queue::queue_finding;
use crate::sync::apply_looked_up;
use crate::sync::backoff;
use crate::sync::lookups;

/// Lookups claimed per pass, so a pass ends and comparisons get their turn.
const PER_PASS: i64 = 20;
/// A replica holds a lookup this long; one that dies frees it then.
const LEASE: Duration = Duration::from_secs(120);

/// What one pass did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LookupPass {
    pub looked_up: usize,
    pub failed: usize,
    /// DeepSource rejected the token: the caller pauses.
    pub unauthorized: bool,
}

/// Looks up the due findings, at most `PER_PASS` of them.
pub async fn run_due(pool: &PgPool, client: &DeepSource) -> Result<LookupPass, sqlx::Error> {
    let mut pass = LookupPass::default();
    let due = lookups::claim_due(pool, PER_PASS, LEASE).await?;
    for (i, lookup) in due.iter().enumerate() {
        let answer = take_finding(client, &lookup.finding_id).await;
        let mut tx = pool.begin().await?;
        match answer {
            Ok((listed, _requests)) => {
                let repository = RepositoryRef::from_vcs(&lookup.vcs_provider, &lookup.vcs_url);
                match (listed, repository) {
                    (Some(finding), Some(repository)) => {
                        apply_looked_up(&mut tx, &repository, &finding, lookup.began_at).await?;
                    }
                    (None, _) => tracing::warn!(
                        finding = %lookup.finding_id,
                        "DeepSource shows no such finding to this token; its occurrences are left to the next comparison"
                    ),
                    (Some(_), None) => {}
                }
                lookups::finish(&mut tx, lookup).await?;
                pass.looked_up += 1;
            }
            Err(error) => {
                pass.failed += 1;
                let wait = match &error {
                    SnapshotError::Api(DeepSourceError::RateLimited { wait })
                    | SnapshotError::Api(DeepSourceError::Budget { wait }) => *wait,
                    SnapshotError::Api(DeepSourceError::Unauthorized(_)) => {
                        pass.unauthorized = true;
                        super::service::AUTH_PAUSE
                    }
                    _ => backoff(lookup.attempts + 1),
                };
                tracing::warn!(finding = %lookup.finding_id, %error, retry_in_secs = wait.as_secs(), "a lookup of a finding's occurrences failed; nothing changed");
                lookups::fail(&mut tx, lookup, wait, &error.to_string()).await?;
            }
        }
        // Whatever came of it, the finding's sync (which waited for this) goes ahead: with
        // the lines DeepSource listed, or with the count alone.
        queue_finding(&mut tx, &lookup.finding_id).await?;
        tx.commit().await?;
        if pass.unauthorized {
            // The rest are freed for when the token is fixed.
            for rest in &due[i + 1..] {
                let mut conn = pool.acquire().await?;
                lookups::fail(
                    &mut conn,
                    rest,
                    super::service::AUTH_PAUSE,
                    "DeepSource rejected the token",
                )
                .await?;
            }
            break;
        }
    }
    Ok(pass)
}
