mod bounded_body;
mod healthz;
mod readyz;
mod webhooks;

pub use bounded_body::BodyLimits;
pub use healthz::healthz;
pub use readyz::{readyz, ReadinessCache};
pub use webhooks::{receive_webhook, SIGNATURE_HEADER};
