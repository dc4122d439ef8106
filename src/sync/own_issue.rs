//! Whether a finding without an issue gets one now. `FINDING_ISSUES` may leave it to the
//! repository's overview (unless a person ticked its box there), and with `OVERVIEW_ISSUE` a
//! finding's first issue waits until the overview has been written, so a repository new to the
//! service is visible in GitHub after one write rather than after hours of creates.
use std::time::Duration;

use super::driver::Driver;
use super::error::SyncError;
use super::plan::open_wanted;
use crate::findings::fence::Lease;
use crate::findings::jobs::JobEnd;
use crate::findings::store::Finding;

/// A create held back for the overview is retried this late at the latest; the overview's
/// first write makes it due at once (`findings/jobs.rs`, `hurry_repository`).
const OVERVIEW_FIRST: Duration = Duration::from_secs(60);

impl Driver {
    /// `Some` when the finding's create does not go now, with how its jobs end.
    pub(super) async fn own_issue_waits(
        &self,
        lease: &Lease,
        finding: &Finding,
    ) -> Result<Option<JobEnd>, SyncError> {
        let would_create = finding.github_issue_number.is_none()
            && finding.create_started_at.is_none()
            && finding.dismissed_reason.is_none()
            && open_wanted(finding, &self.sync);
        if !would_create {
            return Ok(None);
        }
        let severity = finding.severity.as_deref();
        if !finding.issue_requested && !self.issues.finding_issues.includes(severity) {
            // Listed in the overview with a box; a worker with other FINDING_ISSUES looks again.
            self.leave_off(lease).await?;
            return Ok(Some(JobEnd::Done));
        }
        let (Some(overviews), Some(key), Some(_)) = (&self.overviews, &finding.repository_key, &self.github)
        else {
            return Ok(None);
        };
        if overviews.creates_may_go(key).await? {
            return Ok(None);
        }
        Ok(Some(JobEnd::Retry {
            after: OVERVIEW_FIRST,
            error: "waiting for the repository's overview issue, which is written first".into(),
            counted: false,
        }))
    }
}
