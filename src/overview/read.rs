//! Reading the overview before a write (and, without GitHub's webhooks, every
//! `OVERVIEW_READ_INTERVAL`): a conditional read, so an unchanged issue costs nothing; the boxes
//! ticked there are asked for, and a person's close or reopen is recorded (`people.rs`).
use super::error::OverviewError;
use super::people;
use super::store::{self, Held};
use super::writer::{Looked, Overviews};
use crate::domain::RepoSlug;
use crate::github::client::{GitHub, GitHubError, Read};

impl Overviews {
    /// A conditional read of the overview; what people did there is recorded (`people.rs`).
    pub(super) async fn read(
        &self,
        github: &GitHub,
        held: &mut Held,
        repo: &RepoSlug,
    ) -> Result<Looked, OverviewError> {
        let number = held.number.expect("linked");
        self.wait_for_reads(github, repo).await?;
        // The read first: no transaction stays open across a call to GitHub.
        let answer = github.read_issue(repo, number, held.etag.as_deref()).await;
        let mut tx = self.pool.begin().await?;
        let looked = match answer {
            Ok(Read::Unchanged) => Looked::Same,
            Ok(Read::Changed { issue, etag }) => {
                held.etag = etag;
                held.issue_id = issue.id.or(held.issue_id);
                let body = issue.body.clone().unwrap_or_default();
                let by = issue.closed_by.as_ref().map(|u| u.login.as_str());
                let off = match issue.state.as_str() {
                    "closed" if !held.closed_by_service && !held.off => {
                        let how = issue.state_reason.as_deref().unwrap_or("completed");
                        people::closed(&mut tx, &held.key, how, by).await?
                    }
                    "open" if held.off => {
                        people::reopened(&mut tx, &held.key).await?;
                        held.off = false;
                        held.closed_by_service = false;
                        false
                    }
                    // A person reopened what the service closed: left open until it changes.
                    "open" => {
                        held.closed_by_service = false;
                        false
                    }
                    _ => false,
                };
                let asked = people::ticks(&mut tx, &held.key, &body).await? > 0;
                held.state = Some(issue.state.clone());
                held.off |= off;
                match held.off {
                    true => Looked::Off,
                    false => Looked::Shows {
                        hash: issue.text_hash(),
                        asked,
                    },
                }
            }
            Err(GitHubError::Gone { .. } | GitHubError::Moved { .. }) => {
                people::closed(&mut tx, &held.key, "deleted", None).await?;
                held.off = true;
                Looked::Off
            }
            Err(e) => return Err(e.into()),
        };
        tx.commit().await?;
        store::save(&self.pool, held).await?;
        Ok(looked)
    }
}
