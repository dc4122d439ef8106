//! The overview's create: made once, and when its answer was lost, found by its hidden marker
//! (once no call can still land) rather than made again. Its first write lets the findings'
//! creates that waited for it go.
use super::error::OverviewError;
use super::lines::Listing;
use super::store::{self, Held};
use super::writer::Overviews;
use crate::domain::RepoSlug;
use crate::github::client::{GitHub, RemoteIssue};
use crate::issue::overview::overview_marker;

impl Overviews {
    pub(super) async fn create(
        &self,
        github: &GitHub,
        held: &mut Held,
        repo: &RepoSlug,
        listing: &Listing,
    ) -> Result<(), OverviewError> {
        let content = self.content(listing);
        self.book(github, repo).await?;
        held.github_repo = Some(repo.to_string());
        held.create_started_at = Some(chrono::Utc::now());
        store::save(&self.pool, held).await?;
        let created = match github.create_issue(repo, &content, &[]).await {
            Ok(Ok(issue)) => issue,
            Ok(Err(refused)) => return Err(OverviewError::Refused(format!("{refused:?}"))),
            Err(e) => {
                if e.is_definite() {
                    held.create_started_at = None;
                    store::save(&self.pool, held).await?;
                }
                return Err(e.into());
            }
        };
        crate::metrics::overview_write("create");
        tracing::info!(
            github_issue = created.number,
            github_repo = %repo,
            findings = listing.rows.len(),
            "created the repository's overview issue: every open finding is visible in GitHub"
        );
        self.linked(held, &created, Some(content.text_hash()), Some(content.labels))
            .await
    }

    /// Links the overview issue GitHub shows, and lets the findings' creates that waited for it go.
    async fn linked(
        &self,
        held: &mut Held,
        issue: &RemoteIssue,
        text_hash: Option<String>,
        labels: Option<Vec<String>>,
    ) -> Result<(), OverviewError> {
        tracing::Span::current().record("github_issue", issue.number);
        held.number = Some(issue.number);
        held.issue_id = issue.id;
        held.state = Some(issue.state.clone());
        held.text_hash = text_hash;
        held.labels = labels;
        held.create_started_at = None;
        held.visible = true;
        held.etag = None;
        store::save(&self.pool, held).await?;
        store::written(&self.pool, held).await?;
        let mut conn = self.pool.acquire().await?;
        crate::findings::jobs::hurry_repository(&mut conn, &held.key).await?;
        Ok(())
    }

    pub(super) async fn find_interrupted_create(
        &self,
        github: &GitHub,
        held: &mut Held,
        repo: &RepoSlug,
        listing: &Listing,
    ) -> Result<(), OverviewError> {
        if let Some(wait) = held.create_unsettled {
            return Err(OverviewError::Settling(wait));
        }
        self.wait_for_reads(github, repo).await?;
        match github
            .find_by_marker(repo, &overview_marker(&held.key), &[])
            .await?
        {
            Some(issue) => {
                tracing::info!(
                    github_issue = issue.number,
                    "found the overview an interrupted create made"
                );
                let ours = self
                    .content(listing)
                    .labels
                    .into_iter()
                    .filter(|l| issue.has_label(l))
                    .collect();
                self.linked(held, &issue, Some(issue.text_hash()), Some(ours))
                    .await
            }
            None => {
                held.create_started_at = None;
                store::save(&self.pool, held).await
            }
        }
    }
}
