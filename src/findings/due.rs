//! Findings whose GitHub issue may not show what they want, looked at again when a worker
//! starts. Jobs are consumed once their events are applied, but an applied event is not yet a
//! synced one: a dry run, a filter or a refusal leaves the finding off GitHub, and a later worker
//! with credentials or a wider filter would otherwise never hear of it again. So each sync
//! records whether GitHub now shows the finding (`findings.unsynced_under`, with the fingerprint
//! of the settings that left it off), and a worker starting queues a reconciliation for every
//! finding that another configuration left off, or whose count and linked issue disagree.
use sha2::{Digest, Sha256};
use sqlx::PgPool;

use crate::configuration::{GitHubAuth, GitHubSettings, IssueSettings, SyncSettings};
use secrecy::ExposeSecret;

/// Findings are queued this many at a time, each batch its own short transaction.
const BATCH: i64 = 500;

/// Everything that decides whether and how a finding reaches GitHub: credentials (present, and
/// which), where issues go, the filters, the reopen policy, what every issue shows besides its
/// finding (the title template, ISSUE_LABELS), and the version (a new one may fit what an older
/// one could not). Secrets enter only hashed. Who is assigned is not in it: assignees are chosen
/// once, at the create, so another choice changes no issue.
pub fn fingerprint(github: &GitHubSettings, sync: &SyncSettings, issues: &IssueSettings) -> String {
    let hash = |text: &str| hex::encode(&Sha256::digest(text.as_bytes())[..8]);
    let credential = match &github.auth {
        GitHubAuth::DryRun => "none".to_owned(),
        GitHubAuth::Token(token) => format!("token:{}", hash(token.expose_secret())),
        GitHubAuth::App { app_id, .. } => format!("app:{app_id}"),
    };
    let sorted = |list: &[String]| {
        let mut list = list.to_vec();
        list.sort_unstable();
        list.join(",")
    };
    hash(&format!(
        "release={} credential={credential} api={} api_configured={} repo={:?} categories={} analyzers={} severities={} reopen={:?} min={} comments={} title={:?} labels={} finding_issues={}",
        env!("CARGO_PKG_VERSION"),
        github.api_url,
        github.api_url_configured,
        github.repo_override.as_ref().map(ToString::to_string),
        sorted(&sync.categories),
        sorted(&sync.analyzers),
        sorted(&sync.severities),
        sync.reopen_policy,
        sync.min_occurrences,
        sync.state_comments,
        issues.title_template.as_str(),
        sorted(&issues.extra_labels),
        issues.finding_issues.describe(),
    ))
}

/// Queues a reconciliation job for each finding that may be off GitHub under the settings with
/// `fingerprint` and has no pending job (`queue.rs`): left off under other settings (or not
/// settled by any sync), or, whatever the last sync said, open occurrences without an open
/// linked issue or an open issue with none. Walks the findings once, in id order and bounded
/// batches, so it ends however many there are. Two workers starting together may both queue one
/// finding; its jobs are claimed together, so it is still driven once. Returns how many it
/// queued.
#[tracing::instrument(skip_all, fields(fingerprint = %fingerprint))]
pub async fn enqueue_due(pool: &PgPool, fingerprint: &str, min_occurrences: i64) -> Result<u64, sqlx::Error> {
    let mut after = String::new();
    let mut queued = 0;
    loop {
        let mut tx = pool.begin().await?;
        let batch = sqlx::query_scalar!(
            r#"SELECT f.id FROM findings f
               WHERE f.id > $2
                 AND ((f.unsynced_under IS NOT NULL AND f.unsynced_under <> $1)
                      OR (f.unsynced_under IS NULL
                          -- What people decided is what the issue should show.
                          AND f.dismissed_at IS NULL
                          AND ((f.open_occurrences >= $4 AND f.github_state IS DISTINCT FROM 'open'
                                AND f.open_occurrences > COALESCE(f.closed_by_person_with, -1))
                               OR (f.open_occurrences < $4 AND f.github_state = 'open'))))
               ORDER BY f.id
               LIMIT $3"#,
            fingerprint,
            after,
            BATCH,
            min_occurrences
        )
        .fetch_all(&mut *tx)
        .await?;
        let Some(last) = batch.last().cloned() else {
            break;
        };
        let due: Vec<(String, i16)> = batch.into_iter().map(|id| (id, 0)).collect();
        queued += crate::findings::queue::queue_findings(&mut tx, &due).await?;
        tx.commit().await?;
        after = last;
    }
    if queued > 0 {
        tracing::info!(
            findings = queued,
            "queued findings this worker's settings may sync differently (a dry run, a filter, a refusal, or an issue out of step)"
        );
    }
    Ok(queued)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::configuration::Settings;

    fn settings(pairs: &[(&str, &str)]) -> Settings {
        Settings::from_lookup(|name| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string()))
            .unwrap()
    }

    fn of(pairs: &[(&str, &str)]) -> String {
        let s = settings(pairs);
        fingerprint(&s.github, &s.sync, &s.issues)
    }

    #[test]
    fn the_fingerprint_follows_what_decides_a_sync() {
        let dry = of(&[]);
        assert_eq!(dry, of(&[]), "stable");
        let token = of(&[("GITHUB_TOKEN", "ghp_a")]);
        assert_ne!(dry, token);
        assert_ne!(token, of(&[("GITHUB_TOKEN", "ghp_b")]), "another credential");
        assert!(!token.contains("ghp_a"));
        assert_ne!(dry, of(&[("SYNC_CATEGORIES", "SECURITY")]));
        assert_ne!(dry, of(&[("SYNC_SEVERITIES", "CRITICAL")]));
        assert_eq!(
            of(&[("SYNC_ANALYZERS", "go,python")]),
            of(&[("SYNC_ANALYZERS", "python,go")]),
            "order does not matter"
        );
        assert_ne!(dry, of(&[("GITHUB_REPO", "acme/tracker")]));
        assert_ne!(dry, of(&[("REOPEN_POLICY", "new")]));
        assert_ne!(dry, of(&[("SYNC_MIN_OCCURRENCES", "3")]));
        assert_ne!(dry, of(&[("STATE_COMMENTS", "false")]));
        assert_ne!(dry, of(&[("GITHUB_API_URL", "https://ghe.example.com/api/v3")]));
        assert_ne!(dry, of(&[("ISSUE_TITLE_TEMPLATE", "{shortcode}: {title}")]));
        assert_ne!(dry, of(&[("ISSUE_LABELS", "triage")]));
        let on = ("OVERVIEW_ISSUE", "true");
        assert_ne!(of(&[on]), of(&[on, ("FINDING_ISSUES", "none")]));
        assert_eq!(
            of(&[("ISSUE_LABELS", "a,b")]),
            of(&[("ISSUE_LABELS", "b,a")]),
            "GitHub shows a set"
        );
        // Settings that do not change what is synced leave it alone.
        assert_eq!(dry, of(&[("GITHUB_WRITES_PER_MINUTE", "10")]));
        assert_eq!(dry, of(&[("ASSIGN_CODEOWNERS", "true")]));
    }
}
