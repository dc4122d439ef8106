//! A write to an overview that exists: its title and body (closing it when nothing is open,
//! reopening it when something is again), then the service's labels one by one, each through
//! the shared pacer.
use super::error::OverviewError;
use super::store::{self, Held};
use super::writer::Overviews;
use crate::domain::RepoSlug;
use crate::github::client::{GitHub, IssuePatch};
use crate::github::content::IssueContent;
use crate::issue::labels::change;

impl Overviews {
    pub(super) async fn write(
        &self,
        github: &GitHub,
        held: &mut Held,
        repo: &RepoSlug,
        content: &IssueContent,
        close: bool,
        reopen: bool,
    ) -> Result<(), OverviewError> {
        let number = held.number.expect("linked");
        self.book(github, repo).await?;
        if close {
            // Recorded first, so the `closed` webhook this causes is known for the service's own.
            held.closed_by_service = true;
            store::save(&self.pool, held).await?;
        }
        let patch = IssuePatch {
            content: Some(content),
            close,
            reopen,
        };
        let issue = match github.update_issue(repo, number, patch).await {
            Ok(issue) => issue,
            Err(e) => {
                if close && e.is_definite() {
                    held.closed_by_service = false;
                    store::save(&self.pool, held).await?;
                }
                return Err(e.into());
            }
        };
        let action = match (close, reopen) {
            (true, _) => "close",
            (_, true) => "reopen",
            _ => "update",
        };
        crate::metrics::overview_write(action);
        tracing::info!(github_issue = number, action, "wrote the repository's overview");
        if reopen {
            held.closed_by_service = false;
        }
        held.state = Some(issue.state);
        held.text_hash = Some(content.text_hash());
        held.etag = None;
        store::save(&self.pool, held).await?;
        store::written(&self.pool, held).await?;
        Ok(())
    }

    /// The service's labels to `wanted`, leaving people's (as findings' issues do).
    pub(super) async fn bring_labels(
        &self,
        github: &GitHub,
        held: &mut Held,
        repo: &RepoSlug,
        wanted: &[String],
    ) -> Result<(), OverviewError> {
        let change = change(held.labels.as_deref(), wanted);
        if change.is_empty() {
            return Ok(());
        }
        let number = held.number.expect("linked");
        if !change.add.is_empty() {
            self.book(github, repo).await?;
            github.add_labels(repo, number, &change.add).await?;
            crate::metrics::overview_write("labels");
        }
        for label in &change.remove {
            self.book(github, repo).await?;
            github.remove_label(repo, number, label).await?;
            crate::metrics::overview_write("labels");
        }
        held.labels = Some(wanted.to_vec());
        store::save(&self.pool, held).await
    }
}
