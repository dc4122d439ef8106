//! A worker without GitHub credentials: it says and records what it would do, and changes
//! nothing at GitHub.
use super::driver::Driver;
use super::error::SyncError;
use super::plan;
use crate::domain::RepoSlug;
use crate::findings::store::{self, Finding};
use crate::issue::render::render;

impl Driver {
    /// Without credentials: say what would be done, and record it; nothing when GitHub already
    /// shows what is wanted. The finding stays due (`leave_off`): the first run with
    /// credentials does it.
    pub(super) async fn dry_run(&self, finding: &mut Finding, repo: &RepoSlug) -> Result<(), SyncError> {
        finding.state_note = plan::state_note(finding, &self.sync);
        let content = render(finding, &self.issues);
        let Some(action) = plan::plan(finding, &content, &self.sync).action() else {
            return Ok(());
        };
        tracing::info!(
            finding = %finding.id,
            repository = %repo,
            action,
            open_occurrences = finding.open_occurrences,
            title = %content.title,
            "dry run (no GitHub credentials): would {action} the issue"
        );
        let number = finding.github_issue_number.filter(|_| action != "create");
        store::record_action(&self.pool, &finding.id, action, &repo.to_string(), number, true).await?;
        Ok(())
    }
}
