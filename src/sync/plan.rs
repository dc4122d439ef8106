//! What one sync would do to a finding's issue, decided from what is stored alone: the driver
//! carries it out, a dry run only records it. People's decisions come first (`findings/decisions.rs`).
use crate::configuration::{ReopenPolicy, SyncSettings};
use crate::findings::store::Finding;
use crate::github::content::IssueContent;
use crate::issue::labels;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    Nothing,
    Create,
    /// The title, body or the service's labels are out of date.
    Update,
    Close {
        comment: String,
    },
    Reopen {
        comment: String,
    },
    /// `REOPEN_POLICY=new`: the closed issue becomes history and a new one is made.
    Recreate,
    /// A person closed the issue as completed and DeepSource now agrees: nothing is written,
    /// but a later rise is a regression like any other.
    ForgetPersonClose,
}

impl Step {
    /// Whether it writes to an issue that exists (and so could undo what a person did there).
    pub fn writes_to_the_issue(&self) -> bool {
        matches!(
            self,
            Step::Update | Step::Close { .. } | Step::Reopen { .. } | Step::Recreate
        )
    }

    /// The action recorded for it (`sync_actions`); `None` when nothing is written.
    pub fn action(&self) -> Option<&'static str> {
        match self {
            Step::Create | Step::Recreate => Some("create"),
            Step::Update => Some("update"),
            Step::Close { .. } => Some("close"),
            Step::Reopen { .. } => Some("reopen"),
            Step::Nothing | Step::ForgetPersonClose => None,
        }
    }
}

/// Whether the finding wants an open issue: enough open occurrences (`SYNC_MIN_OCCURRENCES`).
pub fn open_wanted(finding: &Finding, sync: &SyncSettings) -> bool {
    finding.open_occurrences >= sync.min_occurrences.max(1)
}

/// Why the issue is (to be) closed, for its body when no comment says it
/// (`STATE_COMMENTS=false`). Follows from the stored state alone, so the body stays stable.
pub fn state_note(finding: &Finding, sync: &SyncSettings) -> Option<String> {
    if sync.state_comments || finding.github_issue_number.is_none() || open_wanted(finding, sync) {
        return None;
    }
    Some(close_reason(finding, sync))
}

fn close_reason(finding: &Finding, sync: &SyncSettings) -> String {
    if finding.open_occurrences <= 0 {
        "DeepSource reports every occurrence resolved. Closed by deepsource-sync.".to_owned()
    } else {
        format!(
            "DeepSource reports {} open occurrence(s), fewer than the {} this service opens issues for (SYNC_MIN_OCCURRENCES). Closed by deepsource-sync.",
            finding.open_occurrences, sync.min_occurrences
        )
    }
}

pub fn plan(finding: &Finding, content: &IssueContent, sync: &SyncSettings) -> Step {
    // Dismissed by a person: never touched again, whatever DeepSource reports.
    if finding.dismissed_reason.is_some() {
        return Step::Nothing;
    }
    let wanted = open_wanted(finding, sync);
    if finding.github_issue_number.is_none() {
        return if wanted { Step::Create } else { Step::Nothing };
    }
    let is_open = finding.github_state.as_deref() == Some("open");
    let count = finding.open_occurrences;
    match (is_open, wanted) {
        (false, true) => match finding.closed_by_person_with {
            // A person closed it as completed: only a real regression reopens it.
            Some(then) if count <= then => Step::Nothing,
            _ if sync.reopen_policy == ReopenPolicy::New => Step::Recreate,
            Some(then) => Step::Reopen {
                comment: format!(
                    "DeepSource reports {count} open occurrence(s), more than the {then} when this issue was closed. Reopened by deepsource-sync."
                ),
            },
            None => Step::Reopen {
                comment: format!(
                    "DeepSource reports this again: {count} open occurrence(s). Reopened by deepsource-sync."
                ),
            },
        },
        (true, false) => Step::Close {
            comment: close_reason(finding, sync),
        },
        (true, true) if stale(finding, content) => Step::Update,
        (true, true) => Step::Nothing,
        (false, false) if finding.closed_by_person_with.is_some() && count <= 0 => Step::ForgetPersonClose,
        (false, false) => Step::Nothing,
    }
}

/// Whether the issue's title, body or the service's labels differ from `content`.
pub fn stale(finding: &Finding, content: &IssueContent) -> bool {
    text_stale(finding, content)
        || !labels::change(finding.github_labels.as_deref(), &content.labels).is_empty()
}

pub fn text_stale(finding: &Finding, content: &IssueContent) -> bool {
    match &finding.github_text_hash {
        Some(hash) => *hash != content.text_hash(),
        // Issues from before: their hash covers the labels as well.
        None => finding.github_content_hash.as_deref() != Some(content.hash().as_str()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::configuration::{IssueSettings, Settings};
    use crate::issue::render::render;

    fn sync(pairs: &[(&str, &str)]) -> SyncSettings {
        Settings::from_lookup(|name| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string()))
            .unwrap()
            .sync
    }

    fn linked(open: i64, state: &str) -> Finding {
        let mut f = Finding::sample();
        f.open_occurrences = open;
        f.github_issue_number = Some(3);
        f.github_state = Some(state.into());
        let content = render(&f, &IssueSettings::default());
        f.github_text_hash = Some(content.text_hash());
        f.github_labels = Some(content.labels.clone());
        f
    }

    fn step(f: &Finding, s: &SyncSettings) -> Step {
        plan(f, &render(f, &IssueSettings::default()), s)
    }

    #[test]
    fn a_dismissed_finding_is_never_touched() {
        let s = sync(&[]);
        for (open, state) in [(5, "closed"), (0, "open"), (2, "open")] {
            let mut f = linked(open, state);
            f.dismissed_reason = Some("not_planned".into());
            f.github_text_hash = Some("old".into());
            assert_eq!(step(&f, &s), Step::Nothing);
        }
    }

    #[test]
    fn a_completed_close_by_a_person_reopens_only_on_a_rise() {
        let s = sync(&[]);
        let mut f = linked(3, "closed");
        f.closed_by_person_with = Some(3);
        assert_eq!(step(&f, &s), Step::Nothing);
        f.open_occurrences = 4;
        let Step::Reopen { comment } = step(&f, &s) else {
            panic!("a rise reopens")
        };
        assert!(comment.contains("more than the 3"), "{comment}");
        f.open_occurrences = 0;
        assert_eq!(step(&f, &s), Step::ForgetPersonClose);
    }

    #[test]
    fn fewer_than_the_minimum_get_no_issue_and_close_with_the_reason() {
        let s = sync(&[("SYNC_MIN_OCCURRENCES", "3")]);
        let mut f = linked(2, "open");
        f.github_issue_number = None;
        assert_eq!(step(&f, &s), Step::Nothing);
        f.open_occurrences = 3;
        assert_eq!(step(&f, &s), Step::Create);
        let f = linked(2, "open");
        let Step::Close { comment } = step(&f, &s) else {
            panic!("below the minimum closes")
        };
        assert!(comment.contains("SYNC_MIN_OCCURRENCES"), "{comment}");
    }

    #[test]
    fn without_state_comments_the_reason_is_in_the_body() {
        let quiet = sync(&[("STATE_COMMENTS", "false")]);
        let f = linked(0, "open");
        assert!(state_note(&f, &quiet)
            .unwrap()
            .contains("every occurrence resolved"));
        assert_eq!(state_note(&f, &sync(&[])), None);
        assert_eq!(state_note(&linked(2, "open"), &quiet), None);
    }

    #[test]
    fn only_labels_out_of_date_is_an_update() {
        let s = sync(&[]);
        let mut f = linked(2, "open");
        assert_eq!(step(&f, &s), Step::Nothing);
        f.github_labels = Some(vec!["deepsource".into()]);
        assert_eq!(step(&f, &s), Step::Update);
        assert!(!text_stale(&f, &render(&f, &IssueSettings::default())));
    }
}
