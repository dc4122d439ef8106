//! One file per HTTP endpoint, and the pieces they share (bounded bodies, bearer tokens): they
//! parse and answer, and leave storing and syncing to `ingest/`, `github_webhooks/` and `admin/`.
pub mod api;
mod bearer;
mod bounded_body;
mod github_webhooks;
mod healthz;
mod metrics;
mod readyz;
pub mod status_page;
mod webhooks;

pub use api::AdminToken;
pub use bounded_body::BodyLimits;
pub use github_webhooks::{receive_github_webhook, GITHUB_SIGNATURE_HEADER};
pub use healthz::healthz;
pub use metrics::{metrics, MetricsToken};
pub use readyz::{readyz, ReadinessCache};
pub use webhooks::{receive_webhook, SIGNATURE_HEADER};
