//! The service's own labels on an issue. GitHub's PATCH replaces the whole label set, labels
//! people added with it, so the service never sends one: it adds and removes its own labels one
//! call at a time, against the set it last applied (`findings.github_labels`), and leaves every
//! other label (and assignees, and the milestone) as people set them.
use super::driver::{Driver, SyncError};
use super::github::GitHub;
use super::lease::Lease;
use super::render::IssueContent;
use super::store::{self, Finding};
use crate::domain::RepoSlug;

/// What to add and what to take off for the issue to carry `wanted`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LabelChange {
    pub add: Vec<String>,
    pub remove: Vec<String>,
}

impl LabelChange {
    pub fn is_empty(&self) -> bool {
        self.add.is_empty() && self.remove.is_empty()
    }
}

/// `applied` is what the service last set; `None` for an issue from before labels were kept,
/// whose labels were set whole and are taken to be what it wants.
pub fn change(applied: Option<&[String]>, wanted: &[String]) -> LabelChange {
    let Some(applied) = applied else {
        return LabelChange::default();
    };
    LabelChange {
        add: wanted.iter().filter(|l| !applied.contains(l)).cloned().collect(),
        remove: applied.iter().filter(|l| !wanted.contains(l)).cloned().collect(),
    }
}

impl Driver {
    /// The service's labels to what `content` wants, then recorded as applied.
    pub(super) async fn bring_labels(
        &self,
        github: &GitHub,
        lease: &Lease,
        finding: &mut Finding,
        repo: &RepoSlug,
        content: &IssueContent,
    ) -> Result<(), SyncError> {
        let change = change(finding.github_labels.as_deref(), &content.labels);
        if change.is_empty() {
            return Ok(());
        }
        let number = finding.github_issue_number.expect("linked");
        self.apply_labels(github, repo, number, &change).await?;
        store::save_labels(&self.pool, lease, &content.labels, &content.hash()).await?;
        finding.github_labels = Some(content.labels.clone());
        finding.github_content_hash = Some(content.hash());
        Ok(())
    }

    /// Brings the service's labels on issue `number` to `wanted`: one write to add any, one per
    /// label to remove. A label a person already took off is not an error.
    pub(super) async fn apply_labels(
        &self,
        github: &GitHub,
        repo: &RepoSlug,
        number: i64,
        change: &LabelChange,
    ) -> Result<(), SyncError> {
        let key = github.budget_key(repo);
        if !change.add.is_empty() {
            self.book_write(&key).await?;
            github.add_labels(repo, number, &change.add).await?;
        }
        for label in &change.remove {
            self.book_write(&key).await?;
            github.remove_label(repo, number, label).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn only_the_difference_is_written() {
        let applied = labels(&["deepsource", "deepsource/bug_risk"]);
        let wanted = labels(&["deepsource", "deepsource/security", "analyzer/go"]);
        let c = change(Some(&applied), &wanted);
        assert_eq!(c.add, labels(&["deepsource/security", "analyzer/go"]));
        assert_eq!(c.remove, labels(&["deepsource/bug_risk"]));
        assert!(change(Some(&wanted), &wanted).is_empty());
        assert!(
            change(None, &wanted).is_empty(),
            "issues from before are taken as they are"
        );
    }
}
