//! The status page: what it shows (`page.rs`) and how a browser signs in to it (`session.rs`).
//! Its routes are in `routes/status_page.rs`.
pub mod page;
pub mod session;

use crate::configuration::GitHubSettings;
pub use session::Sessions;

/// What the status page's routes share.
#[derive(Clone, Debug)]
pub struct StatusPage {
    /// `None` without `ADMIN_TOKEN`: the page is off.
    pub sessions: Option<Sessions>,
    /// For the budget it shows.
    pub github: GitHubSettings,
}
