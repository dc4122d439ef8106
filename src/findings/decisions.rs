//! What people decided about a finding's GitHub issue. The service learns it from GitHub's
//! `issues` webhooks or, without them, by reading the issue before a write; either way the view
//! of the issue (`Seen`) goes through `record`, so both paths decide alike:
//! - closed as not planned or duplicate, or deleted: the finding is *dismissed*, and the service
//!   never writes to its issue again until a person reopens it;
//! - closed as completed while occurrences are open: left closed until the open count rises
//!   above what it was then (`closed_by_person_with`);
//! - reopened: sync resumes from the current state;
//! - transferred: the issue is followed to its new repository and number.
use chrono::{DateTime, Utc};
use sqlx::PgConnection;

/// What GitHub shows of an issue at one moment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seen {
    pub state: SeenState,
    /// Where the issue lives now, when it was transferred.
    pub moved_to: Option<(String, i64)>,
    /// Who made the change, when known (a webhook's sender, an issue's `closed_by`).
    pub by: Option<String>,
    /// The issue's `updated_at`: a view older than one already applied changes nothing.
    pub at: Option<DateTime<Utc>>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SeenState {
    Open,
    Closed { reason: Option<String> },
    Deleted,
}

impl Seen {
    /// A 410: a person deleted the issue.
    pub fn deleted() -> Self {
        Self {
            state: SeenState::Deleted,
            moved_to: None,
            by: None,
            at: None,
        }
    }
}

/// What a view of the issue changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Older than a view already applied.
    Stale,
    Dismissed,
    ClosedByPerson,
    /// A person reopened what was closed or dismissed: the finding is synced again.
    Reopened,
    /// Moved elsewhere; otherwise as known.
    Moved,
    Unchanged,
}

/// The columns a view of the issue can change.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IssueView {
    pub github_repo: Option<String>,
    pub github_issue_number: Option<i64>,
    pub github_state: Option<String>,
    pub github_state_reason: Option<String>,
    pub dismissed_at: Option<DateTime<Utc>>,
    pub dismissed_by: Option<String>,
    pub dismissed_reason: Option<String>,
    pub closed_by_person_with: Option<i64>,
    pub github_seen_at: Option<DateTime<Utc>>,
    /// The open-occurrence count the issue shows (as last written): what a person saw when
    /// they closed it.
    pub shown_occurrences: Option<i64>,
}

impl IssueView {
    fn undismiss(&mut self) {
        self.dismissed_at = None;
        self.dismissed_by = None;
        self.dismissed_reason = None;
    }
}

/// Applies `seen` to what was known; `open_occurrences` is DeepSource's count now, used when
/// what the issue shows is not known.
pub fn decide(known: &mut IssueView, open_occurrences: i64, seen: &Seen, now: DateTime<Utc>) -> Decision {
    if let (Some(at), Some(last)) = (seen.at, known.github_seen_at) {
        if at < last {
            return Decision::Stale;
        }
    }
    known.github_seen_at = seen.at.or(known.github_seen_at);
    let moved = match &seen.moved_to {
        Some((repo, number)) => {
            known.github_repo = Some(repo.clone());
            known.github_issue_number = Some(*number);
            true
        }
        None => false,
    };
    let dismiss = |known: &mut IssueView, reason: &str| {
        if known.dismissed_reason.as_deref() != Some(reason) {
            known.dismissed_at = Some(seen.at.unwrap_or(now));
            known.dismissed_by = seen.by.clone();
            known.dismissed_reason = Some(reason.to_owned());
        }
        known.closed_by_person_with = None;
    };
    let was_open = known.github_state.as_deref() == Some("open");
    let was_dismissed = known.dismissed_at.is_some();
    let decision = match &seen.state {
        SeenState::Deleted => {
            // Gone, which for every query is closed; `dismissed_reason` says it was deleted.
            known.github_state = Some("closed".into());
            dismiss(known, "deleted");
            Decision::Dismissed
        }
        SeenState::Closed { reason } => {
            known.github_state = Some("closed".into());
            known.github_state_reason = reason.clone();
            match reason.as_deref() {
                Some(r @ ("not_planned" | "duplicate")) => {
                    dismiss(known, r);
                    Decision::Dismissed
                }
                // Completed (or no reason, as on old issues). Closed while the service thought
                // it open, or after a dismissal it did not see undone: a person's close.
                _ if was_open || was_dismissed => {
                    known.undismiss();
                    let shown = known.shown_occurrences.unwrap_or(open_occurrences);
                    known.closed_by_person_with = Some(shown.max(0));
                    Decision::ClosedByPerson
                }
                _ => Decision::Unchanged,
            }
        }
        SeenState::Open => {
            known.github_state = Some("open".into());
            if !was_open {
                known.github_state_reason = Some("reopened".into());
            }
            known.undismiss();
            known.closed_by_person_with = None;
            if was_open && !was_dismissed {
                Decision::Unchanged
            } else {
                Decision::Reopened
            }
        }
    };
    match decision {
        Decision::Unchanged if moved => Decision::Moved,
        other => other,
    }
}

/// Applies `seen` to the finding's stored view of its issue, under a row lock, and says what it
/// changed. Not fenced by a lease: what people did is true whoever holds the finding.
pub async fn record(
    conn: &mut PgConnection,
    finding_id: &str,
    seen: &Seen,
) -> Result<Option<Decision>, sqlx::Error> {
    let Some(row) = sqlx::query!(
        r#"SELECT github_repo, github_issue_number, github_state, github_state_reason, dismissed_at,
                  dismissed_by, dismissed_reason, closed_by_person_with, github_seen_at,
                  github_shown_occurrences, open_occurrences, now() AS "now!"
           FROM findings WHERE id = $1 FOR UPDATE"#,
        finding_id
    )
    .fetch_optional(&mut *conn)
    .await?
    else {
        return Ok(None);
    };
    let mut view = IssueView {
        github_repo: row.github_repo,
        github_issue_number: row.github_issue_number,
        github_state: row.github_state,
        github_state_reason: row.github_state_reason,
        dismissed_at: row.dismissed_at,
        dismissed_by: row.dismissed_by,
        dismissed_reason: row.dismissed_reason,
        closed_by_person_with: row.closed_by_person_with,
        github_seen_at: row.github_seen_at,
        shown_occurrences: row.github_shown_occurrences,
    };
    let decision = decide(&mut view, row.open_occurrences, seen, row.now);
    if decision != Decision::Stale {
        sqlx::query!(
            r#"UPDATE findings SET github_repo = $2, github_issue_number = $3, github_state = $4,
                      github_state_reason = $5, dismissed_at = $6, dismissed_by = $7,
                      dismissed_reason = $8, closed_by_person_with = $9, github_seen_at = $10,
                      updated_at = now()
               WHERE id = $1"#,
            finding_id,
            view.github_repo,
            view.github_issue_number,
            view.github_state,
            view.github_state_reason,
            view.dismissed_at,
            view.dismissed_by,
            view.dismissed_reason,
            view.closed_by_person_with,
            view.github_seen_at
        )
        .execute(&mut *conn)
        .await?;
    }
    if matches!(decision, Decision::Reopened | Decision::Moved) {
        // Queued here, in the same transaction: a person's reopen is acted on even if no
        // DeepSource event follows.
        crate::findings::queue::queue_finding(conn, finding_id).await?;
    }
    // Only what people changed is worth a line at INFO: a read before each write sees nothing
    // new most of the time.
    match decision {
        Decision::Unchanged | Decision::Stale => {
            tracing::debug!(finding = %finding_id, decision = ?decision, "GitHub shows the issue as known")
        }
        _ => tracing::info!(finding = %finding_id, decision = ?decision, "a person changed the issue"),
    }
    Ok(Some(decision))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open_issue() -> IssueView {
        IssueView {
            github_repo: Some("acme/app".into()),
            github_issue_number: Some(7),
            github_state: Some("open".into()),
            ..IssueView::default()
        }
    }

    fn at(secs: i64) -> Option<DateTime<Utc>> {
        DateTime::from_timestamp(1_800_000_000 + secs, 0)
    }

    fn seen(state: SeenState, secs: i64) -> Seen {
        Seen {
            state,
            moved_to: None,
            by: Some("octocat".into()),
            at: at(secs),
        }
    }

    fn closed(reason: &str) -> SeenState {
        SeenState::Closed {
            reason: Some(reason.into()),
        }
    }

    #[test]
    fn not_planned_and_duplicate_dismiss_with_who_and_when() {
        for reason in ["not_planned", "duplicate"] {
            let mut view = open_issue();
            let d = decide(&mut view, 3, &seen(closed(reason), 10), Utc::now());
            assert_eq!(d, Decision::Dismissed);
            assert_eq!(view.dismissed_reason.as_deref(), Some(reason));
            assert_eq!(view.dismissed_by.as_deref(), Some("octocat"));
            assert_eq!(view.dismissed_at, at(10));
            assert_eq!(view.github_state.as_deref(), Some("closed"));
        }
    }

    #[test]
    fn a_completed_close_by_a_person_remembers_the_count() {
        let mut view = open_issue();
        let d = decide(&mut view, 4, &seen(closed("completed"), 10), Utc::now());
        assert_eq!(d, Decision::ClosedByPerson);
        assert_eq!(view.closed_by_person_with, Some(4));
        // What the issue showed is what the person closed, not what DeepSource says since.
        let mut view = IssueView {
            shown_occurrences: Some(3),
            ..open_issue()
        };
        decide(&mut view, 2, &seen(closed("completed"), 10), Utc::now());
        assert_eq!(view.closed_by_person_with, Some(3));
        assert_eq!(view.dismissed_at, None);
        // The service's own close, seen again, is not a person's.
        let mut view = IssueView {
            github_state: Some("closed".into()),
            ..open_issue()
        };
        let d = decide(&mut view, 0, &seen(closed("completed"), 10), Utc::now());
        assert_eq!(d, Decision::Unchanged);
        assert_eq!(view.closed_by_person_with, None);
    }

    #[test]
    fn a_reopen_undoes_a_dismissal_and_a_person_close() {
        let mut view = open_issue();
        decide(&mut view, 2, &seen(closed("not_planned"), 10), Utc::now());
        let d = decide(&mut view, 2, &seen(SeenState::Open, 20), Utc::now());
        assert_eq!(d, Decision::Reopened);
        assert_eq!(
            (view.dismissed_at, view.dismissed_reason.as_deref()),
            (None, None)
        );
        assert_eq!(view.github_state.as_deref(), Some("open"));
        decide(&mut view, 2, &seen(closed("completed"), 30), Utc::now());
        assert_eq!(
            decide(&mut view, 2, &seen(SeenState::Open, 40), Utc::now()),
            Decision::Reopened
        );
        assert_eq!(view.closed_by_person_with, None);
        assert_eq!(
            decide(&mut view, 2, &seen(SeenState::Open, 50), Utc::now()),
            Decision::Unchanged,
            "open seen open again"
        );
    }

    #[test]
    fn an_older_view_delivered_late_changes_nothing() {
        let mut view = open_issue();
        decide(&mut view, 2, &seen(SeenState::Open, 20), Utc::now());
        let before = view.clone();
        assert_eq!(
            decide(&mut view, 2, &seen(closed("not_planned"), 10), Utc::now()),
            Decision::Stale
        );
        assert_eq!(view, before);
    }

    #[test]
    fn deleted_dismisses_and_moved_follows() {
        let mut view = open_issue();
        assert_eq!(
            decide(&mut view, 1, &seen(SeenState::Deleted, 5), Utc::now()),
            Decision::Dismissed
        );
        assert_eq!(view.dismissed_reason.as_deref(), Some("deleted"));
        let mut view = open_issue();
        let mut moved = seen(SeenState::Open, 5);
        moved.moved_to = Some(("acme/other".into(), 31));
        assert_eq!(decide(&mut view, 1, &moved, Utc::now()), Decision::Moved);
        assert_eq!(
            (view.github_repo.as_deref(), view.github_issue_number),
            (Some("acme/other"), Some(31))
        );
    }
}
